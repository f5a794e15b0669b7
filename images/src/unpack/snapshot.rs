//! Snapshots: the read-only root filesystem of every chain id, shared by all containers using the
//! same layers. Two backends, chosen once per store by probing the kernel:
//!
//! * overlay: each layer is unpacked once into `snapshots/<chain-hex>/diff` with overlay
//!   whiteouts, and a snapshot is the stack of its layers' directories (overlay lowerdirs);
//! * copy: each chain is a full tree in `snapshots/<chain-hex>/rootfs`, a copy of its parent's
//!   with one more layer applied (whiteouts delete).
//!
//! Either is built in a temp dir renamed into place once complete, so a present one is whole. The
//! two live side by side, so a data dir moved between machines is never misread.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use super::apply::{apply_layer, LayerTarget};
use super::copy::copy_tree;
use super::overlay;
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

/// How a store keeps its snapshots.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SnapshotBackend {
    /// One directory per layer, stacked by an overlay mount per container.
    Overlay,
    /// One full tree per chain, copied per container.
    Copy,
}

impl SnapshotBackend {
    /// Overlay if a test mount in `scratch` works, else copy (and the log says why).
    pub fn detect(scratch: &Path) -> Self {
        match overlay::probe(scratch) {
            Ok(()) => Self::Overlay,
            Err(error) => {
                tracing::warn!(%error, "overlayfs unusable here; snapshots will be full copies");
                Self::Copy
            }
        }
    }

    fn dir_name(self) -> &'static str {
        match self {
            Self::Overlay => "diff",
            Self::Copy => "rootfs",
        }
    }
}

/// A finished, shared root filesystem.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Snapshot {
    pub chain_id: Digest,
    pub layout: SnapshotLayout,
    /// A directory for consumers written before layouts: the whole tree in copy mode, but only
    /// the top layer in overlay mode.
    #[deprecated(note = "only the top layer under overlay; use `layout` and `unpack::mount_rootfs`")]
    pub rootfs: PathBuf,
}

/// Where a snapshot's files are.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SnapshotLayout {
    /// Layer directories, top first, as overlay's `lowerdir` lists them.
    Overlay { lower_dirs: Vec<PathBuf> },
    /// One directory holding the whole tree.
    Merged { path: PathBuf },
}

impl Snapshot {
    fn new(chain_id: Digest, layout: SnapshotLayout) -> Self {
        let rootfs = match &layout {
            SnapshotLayout::Overlay { lower_dirs } => lower_dirs.first().cloned().unwrap_or_default(),
            SnapshotLayout::Merged { path } => path.clone(),
        };
        #[allow(deprecated)]
        Self { chain_id, layout, rootfs }
    }
}

/// All snapshots of the node.
pub struct SnapshotStore {
    root: PathBuf,
    backend: SnapshotBackend,
    in_flight: Mutex<HashMap<Digest, Arc<tokio::sync::Mutex<()>>>>,
}

const TEMP_PREFIX: &str = "tmp-";
const PROBE_PREFIX: &str = "tmp-probe-";

impl SnapshotStore {
    /// Opens (creating) the store, removing half-built snapshots of an interrupted run, and
    /// probes whether overlay works on its filesystem.
    pub fn open(root: impl Into<PathBuf>) -> Result<Self> {
        let root = root.into();
        Self::clean(&root)?;
        let backend = SnapshotBackend::detect(&root.join(format!("{PROBE_PREFIX}{}", std::process::id())));
        Ok(Self { root, backend, in_flight: Mutex::default() })
    }

    /// Opens (creating) the store with a given backend, without probing.
    pub fn open_with(root: impl Into<PathBuf>, backend: SnapshotBackend) -> Result<Self> {
        let root = root.into();
        Self::clean(&root)?;
        Ok(Self { root, backend, in_flight: Mutex::default() })
    }

    /// Removes the temp dirs of processes that are gone. Those of live ones (another command
    /// using the same data dir) are still being built.
    fn clean(root: &Path) -> Result<()> {
        std::fs::create_dir_all(root).map_err(ImageError::io(root))?;
        for entry in std::fs::read_dir(root).map_err(ImageError::io(root))? {
            let entry = entry.map_err(ImageError::io(root))?;
            let name = entry.file_name();
            let name = name.to_string_lossy();
            if !name.starts_with(TEMP_PREFIX) || owner_alive(&name) {
                continue;
            }
            if name.starts_with(PROBE_PREFIX) {
                // A probe killed mid-way may have left its overlay mounted: never delete through it.
                if let Err(error) = overlay::unmount(&entry.path().join("merged")) {
                    tracing::warn!(%error, dir = %entry.path().display(), "leaving a stale overlay probe in place");
                    continue;
                }
            }
            std::fs::remove_dir_all(entry.path()).map_err(ImageError::io(entry.path()))?;
        }
        Ok(())
    }

    /// The backend this store uses.
    pub fn backend(&self) -> SnapshotBackend {
        self.backend
    }

    /// The directory of `chain_id`'s snapshot under this store's backend: its layer (overlay) or
    /// its whole tree (copy).
    pub fn dir(&self, chain_id: &Digest) -> PathBuf {
        self.root.join(chain_id.hex()).join(self.backend.dir_name())
    }

    /// Whether the snapshot is present (present ones are complete).
    pub fn contains(&self, chain_id: &Digest) -> bool {
        self.dir(chain_id).is_dir()
    }

    /// Every chain id with a snapshot directory, under either backend.
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

    /// Returns the snapshot of all `layers`, building the missing ones bottom up (each needs the
    /// ones below it: as the tree to copy, or as the lowers its parent directories come from).
    /// Every layer's diff id is checked while it is applied; a mismatch discards the half-built
    /// layer.
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
            let below: Vec<PathBuf> = chains[..depth].iter().rev().map(|c| self.dir(c)).collect();
            self.build(blobs.path(&layer.blob), layer.clone(), below, chain.clone()).await?;
        }
        let layout = match self.backend {
            SnapshotBackend::Overlay => SnapshotLayout::Overlay { lower_dirs: chains.iter().rev().map(|c| self.dir(c)).collect() },
            SnapshotBackend::Copy => SnapshotLayout::Merged { path: self.dir(&top) },
        };
        Ok(Snapshot::new(top, layout))
    }

    async fn build(&self, blob: PathBuf, layer: LayerSource, below: Vec<PathBuf>, chain: Digest) -> Result<()> {
        static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let temp = self.root.join(format!("{TEMP_PREFIX}{}-{}-{n}", chain.hex(), std::process::id()));
        let name = self.backend.dir_name();
        let (built, backend) = (temp.join(name), self.backend);
        let target = built.clone();
        let result = tokio::task::spawn_blocking(move || build_blocking(&target, &blob, &layer, backend, &below))
            .await
            .map_err(|e| ImageError::io(&temp)(std::io::Error::other(e)))
            .and_then(|r| r)
            .and_then(|()| {
                let chain_dir = self.root.join(chain.hex());
                std::fs::create_dir_all(&chain_dir).map_err(ImageError::io(&chain_dir))?;
                std::fs::rename(&built, chain_dir.join(name)).map_err(ImageError::io(&chain_dir))
            });
        let _ = std::fs::remove_dir_all(&temp);
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

/// Whether the process that made the temp dir `name` (`tmp-<chain>-<pid>-<n>` or
/// `tmp-probe-<pid>`) still runs. Names that do not parse belong to nobody.
fn owner_alive(name: &str) -> bool {
    name.split('-').nth(2).and_then(|pid| pid.parse::<u32>().ok()).is_some_and(|pid| Path::new("/proc").join(pid.to_string()).exists())
}

/// Unpacks `layer` into the new directory `dir`, above the snapshot directories `below` (top
/// first).
fn build_blocking(dir: &Path, blob: &Path, layer: &LayerSource, backend: SnapshotBackend, below: &[PathBuf]) -> Result<()> {
    let parent = dir.parent().unwrap_or(dir);
    std::fs::create_dir_all(parent).map_err(ImageError::io(parent))?;
    let target = match (backend, below.first()) {
        (SnapshotBackend::Copy, Some(parent)) => {
            copy_tree(parent, dir).map_err(ImageError::io(parent))?;
            LayerTarget::Merged
        }
        (SnapshotBackend::Copy, None) => {
            std::fs::create_dir(dir).map_err(ImageError::io(dir))?;
            LayerTarget::Merged
        }
        (SnapshotBackend::Overlay, _) => {
            std::fs::create_dir(dir).map_err(ImageError::io(dir))?;
            LayerTarget::OverlayDiff { lowers: below }
        }
    };
    let file = std::fs::File::open(blob).map_err(ImageError::io(blob))?;
    let reader = std::io::BufReader::with_capacity(256 * 1024, file);
    let actual = apply_layer(dir, reader, layer.compression, &layer.blob, target)?;
    if actual != layer.diff_id {
        return Err(ImageError::DigestMismatch { expected: layer.diff_id.clone(), actual });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::unpack::testing::{backends, layer, Container};

    #[tokio::test]
    async fn snapshots_stack_and_share_the_base() {
        let dir = tempfile::tempdir().unwrap();
        for backend in backends(&dir.path().join("probe")) {
            let dir = dir.path().join(format!("{backend:?}"));
            let blobs = BlobStore::open(dir.join("blobs")).unwrap();
            let snaps = SnapshotStore::open_with(dir.join("snapshots"), backend).unwrap();
            let base = layer(&blobs, &[("base", b"b")]);
            let one = layer(&blobs, &[("one", b"1")]);
            let two = layer(&blobs, &[("two", b"2")]);
            let a = snaps.prepare(&blobs, &[base.clone(), one]).await.unwrap();
            let b = snaps.prepare(&blobs, &[base.clone(), two]).await.unwrap();
            let (ca, cb) = (Container::mount(&a, &dir.join("a")), Container::mount(&b, &dir.join("b")));
            assert!(ca.read("base").is_some() && ca.read("one").is_some(), "{backend:?}");
            assert!(cb.read("two").is_some() && cb.read("one").is_none(), "{backend:?}");
            // base, base+one, base+two: the base snapshot is built once and shared.
            assert_eq!(snaps.list().unwrap().len(), 3);
            assert!(snaps.contains(&base.diff_id));
        }
    }

    #[tokio::test]
    async fn overlay_snapshots_are_their_layers_directories_top_first() {
        let dir = tempfile::tempdir().unwrap();
        let blobs = BlobStore::open(dir.path().join("blobs")).unwrap();
        let snaps = SnapshotStore::open_with(dir.path().join("snapshots"), SnapshotBackend::Overlay).unwrap();
        if !backends(&dir.path().join("probe")).contains(&SnapshotBackend::Overlay) {
            return;
        }
        let (base, top) = (layer(&blobs, &[("base", b"b")]), layer(&blobs, &[("top", b"t")]));
        let snapshot = snaps.prepare(&blobs, &[base.clone(), top.clone()]).await.unwrap();
        let chains = chain_ids(&[base.diff_id, top.diff_id]);
        let expected = SnapshotLayout::Overlay { lower_dirs: vec![snaps.dir(&chains[1]), snaps.dir(&chains[0])] };
        assert_eq!(snapshot.layout, expected);
        // Each layer directory holds only its own layer: nothing is copied up.
        assert!(snaps.dir(&chains[1]).join("top").is_file());
        assert!(!snaps.dir(&chains[1]).join("base").exists());
    }

    #[test]
    fn opening_removes_temp_dirs_of_dead_processes_only() {
        let dir = tempfile::tempdir().unwrap();
        let ours = dir.path().join(format!("tmp-{}-{}-0", "a".repeat(64), std::process::id()));
        let dead = dir.path().join(format!("tmp-{}-{}-0", "b".repeat(64), u32::MAX));
        let dead_probe = dir.path().join(format!("tmp-probe-{}", u32::MAX));
        for d in [&ours, &dead, &dead_probe] {
            std::fs::create_dir_all(d.join("diff")).unwrap();
        }
        SnapshotStore::open_with(dir.path(), SnapshotBackend::Copy).unwrap();
        assert!(ours.exists(), "a live process is still building it");
        assert!(!dead.exists() && !dead_probe.exists());
    }

    #[tokio::test]
    async fn diff_id_mismatch_leaves_no_snapshot() {
        let dir = tempfile::tempdir().unwrap();
        for backend in backends(&dir.path().join("probe")) {
            let dir = dir.path().join(format!("{backend:?}"));
            let blobs = BlobStore::open(dir.join("blobs")).unwrap();
            let snaps = SnapshotStore::open_with(dir.join("snapshots"), backend).unwrap();
            let mut bad = layer(&blobs, &[("f", b"x")]);
            bad.diff_id = Digest::of(b"something else");
            let err = snaps.prepare(&blobs, &[bad]).await.unwrap_err();
            assert!(matches!(err, ImageError::DigestMismatch { .. }), "{err}");
            assert_eq!(std::fs::read_dir(dir.join("snapshots")).unwrap().count(), 0);
        }
    }
}
