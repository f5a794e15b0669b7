//! Turning layers into root filesystems: safe layer application (`apply`, `paths`) and
//! snapshots keyed by chain id (`snapshot`), shared by every container using the same layers.

mod apply;
mod copy;
mod paths;
mod snapshot;

pub use apply::apply_layer;
pub use paths::entry_components;
pub use snapshot::{LayerSource, Snapshot, SnapshotStore};
