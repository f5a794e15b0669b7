//! A container's root filesystem over a shared snapshot: the image stays read-only and the
//! container writes to a layer of its own. With overlay that layer is the mount's upper dir; with
//! copies it is a private copy of the snapshot.

use std::io;
use std::path::Path;

use super::copy::copy_tree;
use super::fsutil::remove_any;
use super::overlay::{mount_overlay, unmount};
use super::snapshot::{Snapshot, SnapshotLayout};
use crate::error::{ImageError, Result};

/// Makes `target` show `snapshot` with the container's writable layer on top. Overlay: mounts
/// the snapshot's layers under `upper` (the writes) and `work` (overlay's scratch, on `upper`'s
/// filesystem). Copy: copies the snapshot into `target`, and `upper` / `work` are not used.
/// Missing directories are created; `target` must be empty if it exists.
pub fn mount_rootfs(snapshot: &Snapshot, upper: &Path, work: &Path, target: &Path) -> Result<()> {
    let mount_err = |source| ImageError::Mount { target: target.to_path_buf(), source };
    std::fs::create_dir_all(target).map_err(mount_err)?;
    if std::fs::read_dir(target).map_err(mount_err)?.next().is_some() {
        return Err(mount_err(io::Error::new(io::ErrorKind::DirectoryNotEmpty, "the target is not empty")));
    }
    match &snapshot.layout {
        SnapshotLayout::Overlay { lower_dirs } => {
            for dir in [upper, work] {
                std::fs::create_dir_all(dir).map_err(ImageError::io(dir))?;
            }
            mount_overlay(lower_dirs, upper, work, target).map_err(mount_err)
        }
        SnapshotLayout::Merged { path } => copy_contents(path, target).map_err(mount_err),
    }
}

/// Undoes [`mount_rootfs`]: unmounts the overlay, or removes the copy. `target` stays, empty;
/// the upper and work directories are the caller's to keep or delete. Undoing twice is fine.
pub fn unmount_rootfs(snapshot: &Snapshot, target: &Path) -> Result<()> {
    let mount_err = |source| ImageError::Mount { target: target.to_path_buf(), source };
    match &snapshot.layout {
        SnapshotLayout::Overlay { .. } => unmount(target).map_err(mount_err),
        SnapshotLayout::Merged { .. } => match std::fs::read_dir(target) {
            Ok(entries) => {
                for entry in entries {
                    remove_any(&entry.map_err(mount_err)?.path()).map_err(mount_err)?;
                }
                Ok(())
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(mount_err(e)),
        },
    }
}

/// Copies what is in `from` into the existing directory `to`, and `from`'s mode and owner to it.
fn copy_contents(from: &Path, to: &Path) -> io::Result<()> {
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        copy_tree(&entry.path(), &to.join(entry.file_name()))?;
    }
    let meta = std::fs::metadata(from)?;
    std::os::unix::fs::lchown(to, Some(std::os::unix::fs::MetadataExt::uid(&meta)), Some(std::os::unix::fs::MetadataExt::gid(&meta)))?;
    std::fs::set_permissions(to, meta.permissions())
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::path::PathBuf;

    use super::*;
    use crate::blobs::BlobStore;
    use crate::unpack::snapshot::{SnapshotBackend, SnapshotStore};
    use crate::unpack::testing::{backends, layer, Container};

    /// base, then a layer that changes a file, deletes two entries and empties `etc`.
    async fn layered(dir: &Path, backend: SnapshotBackend) -> Snapshot {
        let blobs = BlobStore::open(dir.join("blobs")).unwrap();
        let snaps = SnapshotStore::open_with(dir.join("snapshots"), backend).unwrap();
        let base = layer(&blobs, &[("data/a.txt", b"v1"), ("data/b.txt", b"b"), ("bin/vi", b"vi"), ("etc/sub/x", b"x")]);
        let top = layer(
            &blobs,
            &[("data/a.txt", b"v2"), ("data/.wh.b.txt", b""), ("bin/.wh.vi", b""), ("etc/.wh..wh..opq", b""), ("etc/new", b"n"), ("data/c.txt", b"c")],
        );
        snaps.prepare(&blobs, &[base, top]).await.unwrap()
    }

    /// Every file under `root` with its contents (directories as empty strings).
    fn tree(root: &Path) -> BTreeMap<PathBuf, String> {
        let mut out = BTreeMap::new();
        let mut pending = vec![root.to_path_buf()];
        while let Some(dir) = pending.pop() {
            for entry in std::fs::read_dir(&dir).unwrap() {
                let path = entry.unwrap().path();
                let relative = path.strip_prefix(root).unwrap().to_path_buf();
                if path.is_dir() {
                    pending.push(path);
                    out.insert(relative, String::new());
                } else {
                    out.insert(relative, std::fs::read_to_string(&path).unwrap());
                }
            }
        }
        out
    }

    fn expected_tree() -> BTreeMap<PathBuf, String> {
        [("bin", ""), ("data", ""), ("data/a.txt", "v2"), ("data/c.txt", "c"), ("etc", ""), ("etc/new", "n")]
            .into_iter()
            .map(|(p, c)| (PathBuf::from(p), c.to_owned()))
            .collect()
    }

    #[tokio::test]
    async fn every_backend_shows_the_final_tree() {
        let dir = tempfile::tempdir().unwrap();
        for backend in backends(&dir.path().join("probe")) {
            let dir = dir.path().join(format!("{backend:?}"));
            let snapshot = layered(&dir, backend).await;
            let container = Container::mount(&snapshot, &dir.join("c"));
            assert_eq!(tree(&container.rootfs), expected_tree(), "{backend:?}");
        }
    }

    #[tokio::test]
    async fn containers_write_to_their_own_layer_only() {
        let dir = tempfile::tempdir().unwrap();
        for backend in backends(&dir.path().join("probe")) {
            let dir = dir.path().join(format!("{backend:?}"));
            let snapshot = layered(&dir, backend).await;
            let (one, two) = (Container::mount(&snapshot, &dir.join("one")), Container::mount(&snapshot, &dir.join("two")));
            std::fs::write(one.rootfs.join("data/a.txt"), b"changed by one").unwrap();
            std::fs::write(one.rootfs.join("mine"), b"1").unwrap();
            std::fs::remove_file(one.rootfs.join("etc/new")).unwrap();
            assert_eq!(two.read("data/a.txt").as_deref(), Some("v2"), "{backend:?}");
            assert_eq!(two.read("mine"), None);
            assert_eq!(two.read("etc/new").as_deref(), Some("n"));
            if backend == SnapshotBackend::Overlay {
                assert_eq!(std::fs::read_to_string(one.upper.join("mine")).unwrap(), "1", "writes land in the upper dir");
                assert_eq!(std::fs::read_to_string(one.upper.join("data/a.txt")).unwrap(), "changed by one");
            }
            // The shared snapshot is untouched: a third container sees the image as built.
            let three = Container::mount(&snapshot, &dir.join("three"));
            assert_eq!(tree(&three.rootfs), expected_tree(), "{backend:?}");
        }
    }

    #[tokio::test]
    async fn unmounting_leaves_an_empty_target_and_may_repeat() {
        let dir = tempfile::tempdir().unwrap();
        for backend in backends(&dir.path().join("probe")) {
            let dir = dir.path().join(format!("{backend:?}"));
            let snapshot = layered(&dir, backend).await;
            let target = dir.join("c/rootfs");
            mount_rootfs(&snapshot, &dir.join("c/upper"), &dir.join("c/work"), &target).unwrap();
            let err = mount_rootfs(&snapshot, &dir.join("d/upper"), &dir.join("d/work"), &target).unwrap_err();
            assert!(matches!(err, ImageError::Mount { .. }), "a busy target is refused: {err}");
            unmount_rootfs(&snapshot, &target).unwrap();
            assert_eq!(std::fs::read_dir(&target).unwrap().count(), 0, "{backend:?}");
            unmount_rootfs(&snapshot, &target).unwrap();
            let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
            assert!(!mounts.contains(target.to_str().unwrap()), "{backend:?}: still mounted");
        }
    }
}
