//! Test support: layers built from file lists, the snapshot backends this machine can test, and
//! containers mounted over a snapshot for as long as the test holds them. Overlay mounts,
//! whiteout devices and `trusted.*` xattrs need root.

use std::path::{Path, PathBuf};

use super::overlay::probe;
use super::rootfs::{mount_rootfs, unmount_rootfs};
use super::snapshot::{LayerSource, Snapshot, SnapshotBackend};
use crate::blobs::BlobStore;
use crate::digest::Digest;
use crate::manifest::Compression;

/// Whether the test may use root-only features. Outside CI a non-root run skips the test with
/// the reason printed; on CI (which runs as root) a missing privilege fails it.
pub fn privileged_or_skip(what: &str) -> bool {
    if nix::unistd::geteuid().is_root() {
        return true;
    }
    let reason = format!("{what} need root");
    assert!(!std::env::var("CI").is_ok_and(|v| v == "true"), "{reason}");
    eprintln!("SKIP: {reason}");
    false
}

/// Copy always; overlay too when this machine can mount it (on CI it must).
pub fn backends(scratch: &Path) -> Vec<SnapshotBackend> {
    let mut out = vec![SnapshotBackend::Copy];
    if privileged_or_skip("overlay mounts") {
        probe(scratch).expect("overlay works for root here");
        out.push(SnapshotBackend::Overlay);
    }
    out
}

/// A stored, uncompressed layer holding regular files (`.wh.` names included, as whiteouts).
pub fn layer(blobs: &BlobStore, files: &[(&str, &[u8])]) -> LayerSource {
    let mut b = tar::Builder::new(Vec::new());
    for (name, data) in files {
        let mut h = tar::Header::new_gnu();
        h.set_mode(0o644);
        h.set_size(data.len() as u64);
        b.append_data(&mut h, name, *data).expect("tar entry");
    }
    let tar = b.into_inner().expect("tar");
    let blob = blobs.write_bytes(None, &tar).expect("store layer");
    LayerSource { blob, compression: Compression::None, diff_id: Digest::of(&tar) }
}

/// A container's root filesystem over a snapshot, undone on drop.
pub struct Container {
    snapshot: Snapshot,
    pub upper: PathBuf,
    pub rootfs: PathBuf,
}

impl Container {
    pub fn mount(snapshot: &Snapshot, dir: &Path) -> Self {
        let (upper, rootfs) = (dir.join("upper"), dir.join("rootfs"));
        mount_rootfs(snapshot, &upper, &dir.join("work"), &rootfs).expect("mount the container rootfs");
        Self { snapshot: snapshot.clone(), upper, rootfs }
    }

    pub fn read(&self, path: &str) -> Option<String> {
        std::fs::read_to_string(self.rootfs.join(path)).ok()
    }
}

impl Drop for Container {
    fn drop(&mut self) {
        let _ = unmount_rootfs(&self.snapshot, &self.rootfs);
    }
}
