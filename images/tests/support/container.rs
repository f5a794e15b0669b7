//! A container root filesystem mounted over a snapshot for as long as the test holds it, the way
//! a runtime uses one: the image read-only below, the container's own writable layer on top.

use std::path::{Path, PathBuf};

use images::{mount_rootfs, unmount_rootfs, Snapshot};

pub struct Container {
    snapshot: Snapshot,
    #[allow(dead_code)] // read by the pull tests, not by the import ones
    pub upper: PathBuf,
    pub rootfs: PathBuf,
}

impl Container {
    pub fn mount(snapshot: &Snapshot, dir: &Path) -> Self {
        let (upper, rootfs) = (dir.join("upper"), dir.join("rootfs"));
        mount_rootfs(snapshot, &upper, &dir.join("work"), &rootfs).expect("mount the container rootfs");
        Self { snapshot: snapshot.clone(), upper, rootfs }
    }

    pub fn path(&self, path: &str) -> PathBuf {
        self.rootfs.join(path)
    }
}

impl Drop for Container {
    fn drop(&mut self) {
        let _ = unmount_rootfs(&self.snapshot, &self.rootfs);
    }
}
