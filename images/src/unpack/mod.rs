//! Turning layers into root filesystems: safe layer application (`apply`, `paths`, `parents`),
//! overlay whiteouts and mounts (`whiteout`, `overlay`), snapshots keyed by chain id shared by
//! every container using the same layers (`snapshot`), and a container's writable root filesystem
//! over one (`rootfs`).

mod apply;
mod copy;
mod fsutil;
mod overlay;
mod parents;
mod paths;
mod rootfs;
mod snapshot;
mod whiteout;

#[cfg(test)]
mod testing;

pub use apply::{apply_layer, LayerTarget};
pub use paths::entry_components;
pub use rootfs::{mount_rootfs, unmount_rootfs};
pub use snapshot::{LayerSource, Snapshot, SnapshotBackend, SnapshotLayout, SnapshotStore};
