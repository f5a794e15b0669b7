//! The scheduler: places every pod that names no node (and whose
//! `schedulerName` is `default-scheduler`) on a node that can run it, by
//! posting a `Binding`, as kube-scheduler does. Like every control loop it
//! is an API client only, and acts only while this server holds the
//! `kube-scheduler` Lease.
//!
//! Decisions are made on an in-memory cache fed by watches (no API call per
//! decision); the chosen node is assumed at once so the next pod already
//! sees it taken, and bindings run concurrently.

pub mod bind;
pub mod cache;
pub mod cycle;
pub mod filters;
mod informers;
pub mod node_info;
pub mod node_selector;
pub mod pod_affinity;
pub mod pod_info;
pub mod queue;
pub mod resources;
pub mod schedule;
mod scheduling_loop;
pub mod scores;
mod state;
pub mod taints;
pub mod unschedulable;

#[cfg(test)]
mod testing;

use std::future::Future;

use kube::Client;
use tokio::task::JoinSet;

use crate::events::Recorder;
use crate::leader::{self, Election};

/// The component name in Events and `schedulerName`.
pub use pod_info::SCHEDULER_NAME;

/// Schedules pods while this server (`identity`) holds the `kube-scheduler`
/// Lease, until `shutdown`.
pub async fn run(client: Client, identity: &str, shutdown: impl Future<Output = ()>) {
    let election = Election::new("kube-scheduler", identity);
    leader::run_while_leader(client.clone(), election, shutdown, || schedule_all(client.clone())).await;
}

/// Watches and schedules from a fresh cache; dropping it (leadership lost)
/// stops everything.
pub async fn schedule_all(client: Client) {
    let shared = state::Shared::default();
    let mut watches = JoinSet::new();
    watches.spawn(informers::watch_nodes(client.clone(), shared.clone()));
    watches.spawn(informers::watch_pods(client.clone(), shared.clone()));
    watches.spawn(informers::watch_runtime_classes(client.clone(), shared.clone()));
    let recorder = Recorder::new(client.clone(), SCHEDULER_NAME);
    scheduling_loop::run(client, shared, recorder).await;
}
