//! The node lifecycle controller: notices nodes whose agent went silent
//! (no Lease renewal or status heartbeat for `--node-monitor-grace-period`),
//! marks them and their pods not ready, taints nodes by readiness
//! (`node.kubernetes.io/unreachable` / `not-ready`, NoSchedule + NoExecute),
//! evicts the pods those NoExecute taints no longer allow, and forces out
//! evicted pods whose node will never confirm they stopped. A node that
//! comes back loses the taints.
//!
//! Unlike the per-object controllers it runs on a clock: a dead node sends
//! no events, its silence is what must be noticed.

pub mod default_toleration;
mod eviction;
mod health;
mod monitor;
mod taints;

use std::time::Duration;

use futures::{future, Stream, StreamExt};
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{Node, Pod};
use kube::runtime::reflector::{self, Store};
use kube::runtime::watcher::{self, watcher};
use kube::runtime::WatchStreamExt;
use kube::{Api, Resource};
use serde::de::DeserializeOwned;

use self::monitor::{Monitor, LEASE_NAMESPACE};
use super::Context;

/// How often every node is checked (Kubernetes' `--node-monitor-period` is 5 s;
/// a shorter one keeps evictions close to their due time).
const MONITOR_PERIOD: Duration = Duration::from_secs(1);

/// Runs the node lifecycle controller until dropped.
pub async fn run(ctx: Context) {
    let (nodes, node_cache) = cache(Api::<Node>::all(ctx.client.clone()));
    let (leases, lease_cache) = cache(Api::<Lease>::namespaced(ctx.client.clone(), LEASE_NAMESPACE));
    let (pods, pod_cache) = cache(Api::<Pod>::all(ctx.client.clone()));
    let monitor = async {
        // Judging nodes on a half-filled cache would find pods and leases missing.
        for ready in [nodes.wait_until_ready().await, leases.wait_until_ready().await, pods.wait_until_ready().await] {
            if ready.is_err() {
                return;
            }
        }
        let mut monitor = Monitor::new(&ctx);
        let mut tick = tokio::time::interval(MONITOR_PERIOD);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            monitor.pass(&nodes, &leases, &pods).await;
        }
    };
    tokio::join!(node_cache, lease_cache, pod_cache, monitor);
}

/// A watch cache of `api` and the future that keeps it filled.
fn cache<K>(api: Api<K>) -> (Store<K>, impl std::future::Future<Output = ()>)
where
    K: Resource<DynamicType = ()> + Clone + DeserializeOwned + std::fmt::Debug + Send + Sync + 'static,
{
    let (reader, writer) = reflector::store();
    let events = reflector::reflector(writer, watcher(api, watcher::Config::default())).default_backoff();
    (reader, drain(events))
}

fn drain<K>(events: impl Stream<Item = Result<watcher::Event<K>, watcher::Error>>) -> impl std::future::Future<Output = ()> {
    events.for_each(|event| {
        if let Err(err) = event {
            tracing::warn!(error = %err, "node lifecycle watch");
        }
        future::ready(())
    })
}
