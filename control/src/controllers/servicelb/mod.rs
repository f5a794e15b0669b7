//! The ServiceLB controller, as k3s ships it for clusters without a cloud
//! load balancer: every `type: LoadBalancer` Service (without a
//! `loadBalancerClass`, which would name another implementation) gets the
//! InternalIPs of the ready nodes as `status.loadBalancer.ingress`, so
//! `kubectl get svc` shows an EXTERNAL-IP; each node's agent opens the
//! Service's ports on its address. A Service that stops being a
//! LoadBalancer loses the status.
//!
//! Level-triggered over two watch caches: any change of a Service or a Node
//! starts a pass over every Service, which writes only what differs.

mod plan;

use std::sync::Arc;

use futures::{Stream, StreamExt};
use k8s_openapi::api::core::v1::{Node, Service};
use kube::api::{Patch, PatchParams};
use kube::runtime::reflector::{self, Store};
use kube::runtime::watcher::{self, watcher};
use kube::runtime::WatchStreamExt;
use kube::{Api, Client, Resource};
use serde::de::DeserializeOwned;
use tokio::sync::Notify;

use super::Context;

/// Runs the ServiceLB controller until dropped.
pub async fn run(ctx: Context) {
    let changed = Arc::new(Notify::new());
    let (services, service_feed) = cache(Api::<Service>::all(ctx.client.clone()), changed.clone());
    let (nodes, node_feed) = cache(Api::<Node>::all(ctx.client.clone()), changed.clone());
    let client = ctx.client.clone();
    let work = async move {
        if services.wait_until_ready().await.is_err() || nodes.wait_until_ready().await.is_err() {
            return;
        }
        loop {
            pass(&client, &services.state(), &nodes.state()).await;
            changed.notified().await;
        }
    };
    tokio::join!(service_feed, node_feed, work);
}

/// Brings every Service's load balancer status in line with the nodes.
async fn pass(client: &Client, services: &[Arc<Service>], nodes: &[Arc<Node>]) {
    let addresses = plan::node_addresses(nodes);
    for svc in services {
        let Some(ingress) = plan::status_change(svc, &addresses) else { continue };
        let (Some(ns), Some(name)) = (svc.metadata.namespace.as_deref(), svc.metadata.name.as_deref()) else { continue };
        let patch = serde_json::json!({"status": {"loadBalancer": {"ingress": ingress}}});
        let api: Api<Service> = Api::namespaced(client.clone(), ns);
        match api.patch_status(name, &PatchParams::default(), &Patch::Merge(&patch)).await {
            Ok(_) => tracing::debug!(service = %format!("{ns}/{name}"), "load balancer status written"),
            // A Service deleted meanwhile, or a conflict: the next event brings another pass.
            Err(err) => tracing::debug!(service = %format!("{ns}/{name}"), error = %err, "could not write load balancer status"),
        }
    }
}

/// A watch cache of `api` that rings `changed` after every event.
fn cache<K>(api: Api<K>, changed: Arc<Notify>) -> (Store<K>, impl std::future::Future<Output = ()>)
where
    K: Resource<DynamicType = ()> + Clone + DeserializeOwned + std::fmt::Debug + Send + Sync + 'static,
{
    let (reader, writer) = reflector::store();
    let events = reflector::reflector(writer, watcher(api, watcher::Config::default())).default_backoff();
    (reader, drain(events, changed))
}

async fn drain<K>(events: impl Stream<Item = Result<watcher::Event<K>, watcher::Error>>, changed: Arc<Notify>) {
    let mut events = std::pin::pin!(events);
    while let Some(event) = events.next().await {
        match event {
            Ok(_) => changed.notify_one(),
            Err(err) => tracing::debug!(error = %err, "servicelb watch"),
        }
    }
}
