//! The controller manager: Kubernetes' controllers, each an API client running
//! a reconcile loop (observe → diff → act → record status) that is idempotent
//! and safe to restart at any point. They act only while this server holds
//! the `kube-controller-manager` Lease, so several servers sharing one store
//! never fight over the same objects.
//!
//! Each controller lives in its own module with one entry point,
//! `pub async fn run(ctx: Context)`, that runs until it is dropped.

use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use kube::Client;
use tokio::task::JoinSet;

use crate::events::Recorder;
use crate::leader::{self, Election};

pub mod endpoints;
pub mod endpointslice;
pub mod deployment;
pub mod error;
pub mod nodelifecycle;
pub mod nodeipam;
pub mod job;
pub mod cronjob;
pub mod daemonset;
pub mod replicaset;
pub mod gc;
pub mod namespace;
pub mod quota;
pub mod servicelb;
pub mod statefulset;
pub mod storage;

pub use error::ControllerError;

/// Settings shared by the controllers.
#[derive(Clone, Debug)]
pub struct ControllerOptions {
    /// The server's data directory: the local-path provisioner keeps volumes under it.
    pub data_dir: PathBuf,
    /// This server's name in leader election; stable across its restarts.
    pub identity: String,
    /// A node whose Lease has not been renewed for this long is NotReady/Unknown.
    pub node_monitor_grace: Duration,
    /// Toleration of the not-ready/unreachable taints given to pods that state none.
    pub default_eviction_toleration: Duration,
    /// The pod network of the whole cluster; each node gets a range of it (`node_cidr_mask_size`).
    pub cluster_cidr: String,
    /// The prefix length of each node's range of it (upstream's `--node-cidr-mask-size`).
    pub node_cidr_mask_size: u8,
}

impl ControllerOptions {
    pub fn new(data_dir: PathBuf, identity: String) -> Self {
        ControllerOptions {
            data_dir,
            identity,
            node_monitor_grace: Duration::from_secs(40),
            default_eviction_toleration: Duration::from_secs(300),
            cluster_cidr: "10.42.0.0/16".into(),
            node_cidr_mask_size: nodeipam::NODE_MASK,
        }
    }
}

/// What every controller gets: an API client, an Event recorder and the settings.
#[derive(Clone)]
pub struct Context {
    pub client: Client,
    pub options: Arc<ControllerOptions>,
    recorder: Recorder,
}

impl Context {
    pub fn new(client: Client, options: ControllerOptions) -> Self {
        let recorder = Recorder::new(client.clone(), "controller-manager");
        Context { client, options: Arc::new(options), recorder }
    }

    /// An Event recorder speaking as `component` (e.g. `replicaset-controller`).
    pub fn recorder(&self, component: &str) -> Recorder {
        self.recorder.for_component(component)
    }
}

/// Runs every controller while this server leads, until `shutdown`.
pub async fn run(client: Client, options: ControllerOptions, shutdown: impl Future<Output = ()>) {
    let election = Election::new("kube-controller-manager", &options.identity);
    let ctx = Context::new(client.clone(), options);
    leader::run_while_leader(client, election, shutdown, || run_all(ctx.clone())).await;
}

/// Spawns every controller; dropping this future (leadership lost) aborts them all.
async fn run_all(ctx: Context) {
    let mut controllers: JoinSet<()> = JoinSet::new();
    let _ = &ctx;
    // One line per controller, in no particular order: they meet only through the API.
    controllers.spawn(job::run(ctx.clone()));
    controllers.spawn(cronjob::run(ctx.clone()));
    controllers.spawn(daemonset::run(ctx.clone()));
    controllers.spawn(replicaset::run(ctx.clone()));
    controllers.spawn(deployment::run(ctx.clone()));
    controllers.spawn(endpoints::run(ctx.clone()));
    controllers.spawn(endpointslice::run(ctx.clone()));
    controllers.spawn(nodelifecycle::run(ctx.clone()));
    controllers.spawn(nodeipam::run(ctx.clone()));
    controllers.spawn(storage::run(ctx.clone()));
    controllers.spawn(statefulset::run(ctx.clone()));
    controllers.spawn(servicelb::run(ctx.clone()));
    controllers.spawn(gc::run(ctx.clone()));
    controllers.spawn(namespace::run(ctx.clone()));
    controllers.spawn(quota::run(ctx.clone()));
    while let Some(ended) = controllers.join_next().await {
        if let Err(err) = ended {
            tracing::error!(error = %err, "a controller stopped");
        }
    }
}
