//! Persistent storage: the PV controller (claim binder and volume reclaimer)
//! and the `local-path` provisioner.
//!
//! Decision: provisioned volumes live on the machine of the API server, under
//! `<server data dir>/storage/pvc-<claim uid>`, exposed as `hostPath`
//! PersistentVolumes. That is exact for the single-machine cluster (server
//! and embedded agent share one disk), which is wasmkube's default; a remote
//! agent would see an empty directory of its own. Node-local provisioning for
//! remote agents (a provisioner on each node plus `nodeAffinity` on the
//! volume, as rancher's local-path-provisioner does) is left for later.
//!
//! The default StorageClass `local-path` is created at server start
//! (`server::bootstrap`); on admission, claims that name no class get the
//! default one, and every claim gets the [`protection`] finalizer.

pub mod binder;
pub mod class;
pub mod matching;
pub mod protection;
pub mod provision;
pub mod reclaim;

use super::Context;

/// Runs the claim binder, the volume reclaimer and claim protection until dropped.
pub async fn run(ctx: Context) {
    tokio::join!(binder::run(ctx.clone()), reclaim::run(ctx.clone()), protection::run(ctx));
}
