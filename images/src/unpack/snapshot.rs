//! Snapshots: one read-only root filesystem per chain id, under `snapshots/<chain-hex>/rootfs`.
//! A snapshot is built from its parent's (copied) plus one layer, in a temp dir renamed into place
//! once complete, so a present snapshot is always whole. Images sharing bottom layers share those
//! snapshots; containers put a writable layer (overlay upper dir, or a copy) on top of one.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use super::apply::apply_layer;
use super::copy::copy_tree;
use crate::blobs::BlobStore;
use crate::digest::{chain_ids, Digest};
use crate::error::{ImageError, Result};
use crate::manifest::Compression;

/// One layer to stack: its blob, how it is compressed and the diff id the config promises.
#[derive(Clone, Debug)]
pub struct LayerSource {
    pub blob: Digest,
    pub compression: Compression,
    pub diff_id: Digest,
}

/// A finished, shared root filesystem.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Snapshot {
    pub chain_id: Digest,
    pub rootfs: PathBuf,
}

/// All snapshots of the node.
pub struct SnapshotStore {
    root: PathBuf,
    in_flight: Mutex<HashMap<Digest, Arc<tokio::sync::Mutex<()>>>>,
}

const TEMP_PREFIX: &str = "tmp-";

impl SnapshotStore {
    /// Opens (creating) the store, removing half-built snapshots of an interrupted run.
    pub fn open(root: impl Into<PathBuf>) -> Result<Self> {
        let root = root.into();
        std::fs::create_dir_all(&root).map_err(ImageError::io(&root))?;
        for entry in std::fs::read_dir(&root).map_err(ImageError::io(&root))? {
            let entry = entry.map_err(ImageError::io(&root))?;
            if entry.file_name().to_string_lossy().starts_with(TEMP_PREFIX) {
                std::fs::remove_dir_all(entry.path()).map_err(ImageError::io(entry.path()))?;
            }
        }
        Ok(Self { root, in_flight: Mutex::default() })
    }

    /// The root filesystem directory of `chain_id`.
    pub fn rootfs(&self, chain_id: &Digest) -> PathBuf {
        self.root.join(chain_id.hex()).join("rootfs")
    }

    /// Whether the snapshot is present (present ones are complete).
    pub fn contains(&self, chain_id: &Digest) -> bool {
        self.rootfs(chain_id).is_dir()
    }

    /// Every present snapshot.
    pub fn list(&self) -> Result<Vec<Digest>> {
        let mut out = Vec::new();
        for entry in std::fs::read_dir(&self.root).map_err(ImageError::io(&self.root))? {
            let entry = entry.map_err(ImageError::io(&self.root))?;
            if let Some(d) = entry.file_name().to_str().and_then(|n| format!("sha256:{n}").parse().ok()) {
                out.push(d);
            }
        }
        Ok(out)
    }

    /// Removes a snapshot; a missing one is not an error.
    pub fn remove(&self, chain_id: &Digest) -> Result<()> {
        let dir = self.root.join(chain_id.hex());
        match std::fs::remove_dir_all(&dir) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(ImageError::io(dir)(e)),
            _ => Ok(()),
        }
    }

    /// Returns the snapshot of all `layers`, building the missing ones from the deepest present
    /// ancestor. Every layer's diff id is checked while it is applied; a mismatch discards the
    /// half-built snapshot.
    pub async fn prepare(&self, blobs: &BlobStore, layers: &[LayerSource]) -> Result<Snapshot> {
        let diff_ids: Vec<Digest> = layers.iter().map(|l| l.diff_id.clone()).collect();
        let chains = chain_ids(&diff_ids);
        let Some(top) = chains.last().cloned() else {
            return Err(ImageError::malformed("image", "a root filesystem image needs at least one layer"));
        };
        for (depth, (layer, chain)) in layers.iter().zip(&chains).enumerate() {
            let _guard = self.lock(chain).await;
            if self.contains(chain) {
                continue;
            }
            let parent = depth.checked_sub(1).map(|i| self.rootfs(&chains[i]));
            self.build(blobs.path(&layer.blob), layer.clone(), parent, chain.clone()).await?;
        }
        Ok(Snapshot { rootfs: self.rootfs(&top), chain_id: top })
    }

    async fn build(&self, blob: PathBuf, layer: LayerSource, parent: Option<PathBuf>, chain: Digest) -> Result<()> {
        static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let temp = self.root.join(format!("{TEMP_PREFIX}{}-{}-{n}", chain.hex(), std::process::id()));
        let final_dir = self.root.join(chain.hex());
        let work = temp.clone();
        let built = tokio::task::spawn_blocking(move || build_blocking(&work, &blob, &layer, parent.as_deref()))
            .await
            .map_err(|e| ImageError::io(&temp)(std::io::Error::other(e)))
            .and_then(|r| r);
        let result = built.and_then(|()| std::fs::rename(&temp, &final_dir).map_err(ImageError::io(&final_dir)));
        if result.is_err() {
            let _ = std::fs::remove_dir_all(&temp);
        }
        result
    }

    async fn lock(&self, chain: &Digest) -> tokio::sync::OwnedMutexGuard<()> {
        let lock = {
            let mut map = self.in_flight.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            map.entry(chain.clone()).or_default().clone()
        };
        lock.lock_owned().await
    }
}

fn build_blocking(temp: &Path, blob: &Path, layer: &LayerSource, parent: Option<&Path>) -> Result<()> {
    std::fs::create_dir_all(temp).map_err(ImageError::io(temp))?;
    let rootfs = temp.join("rootfs");
    match parent {
        Some(parent) => copy_tree(parent, &rootfs).map_err(ImageError::io(parent))?,
        None => std::fs::create_dir(&rootfs).map_err(ImageError::io(&rootfs))?,
    }
    let file = std::fs::File::open(blob).map_err(ImageError::io(blob))?;
    let reader = std::io::BufReader::with_capacity(256 * 1024, file);
    let actual = apply_layer(&rootfs, reader, layer.compression, &layer.blob)?;
    if actual != layer.diff_id {
        return Err(ImageError::DigestMismatch { expected: layer.diff_id.clone(), actual });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layer(blobs: &BlobStore, files: &[(&str, &[u8])]) -> LayerSource {
        let mut b = tar::Builder::new(Vec::new());
        for (name, data) in files {
            let mut h = tar::Header::new_gnu();
            h.set_mode(0o644);
            h.set_size(data.len() as u64);
            b.append_data(&mut h, name, *data).unwrap();
        }
        let tar = b.into_inner().unwrap();
        let blob = blobs.write_bytes(None, &tar).unwrap();
        LayerSource { blob, compression: Compression::None, diff_id: Digest::of(&tar) }
    }

    #[tokio::test]
    async fn snapshots_stack_and_share_the_base() {
        let dir = tempfile::tempdir().unwrap();
        let blobs = BlobStore::open(dir.path().join("blobs")).unwrap();
        let snaps = SnapshotStore::open(dir.path().join("snapshots")).unwrap();
        let base = layer(&blobs, &[("base", b"b")]);
        let one = layer(&blobs, &[("one", b"1")]);
        let two = layer(&blobs, &[("two", b"2")]);
        let a = snaps.prepare(&blobs, &[base.clone(), one]).await.unwrap();
        let b = snaps.prepare(&blobs, &[base.clone(), two]).await.unwrap();
        assert!(a.rootfs.join("base").exists() && a.rootfs.join("one").exists());
        assert!(b.rootfs.join("two").exists() && !b.rootfs.join("one").exists());
        // base, base+one, base+two: the base snapshot is built once and shared.
        assert_eq!(snaps.list().unwrap().len(), 3);
        assert!(snaps.contains(&base.diff_id));
    }

    #[tokio::test]
    async fn diff_id_mismatch_leaves_no_snapshot() {
        let dir = tempfile::tempdir().unwrap();
        let blobs = BlobStore::open(dir.path().join("blobs")).unwrap();
        let snaps = SnapshotStore::open(dir.path().join("snapshots")).unwrap();
        let mut bad = layer(&blobs, &[("f", b"x")]);
        bad.diff_id = Digest::of(b"something else");
        let err = snaps.prepare(&blobs, &[bad]).await.unwrap_err();
        assert!(matches!(err, ImageError::DigestMismatch { .. }), "{err}");
        assert_eq!(std::fs::read_dir(dir.path().join("snapshots")).unwrap().count(), 0);
    }
}
