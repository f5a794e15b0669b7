//! The node IPAM controller (kube-controller-manager's range allocator):
//! every Node without `spec.podCIDR` gets the next free /24 of the cluster
//! CIDR in `spec.podCIDR` and `spec.podCIDRs`; its agent waits for it before
//! making the node's pod network. Never two nodes the same range: each pass
//! rebuilds the ranges in use from the Nodes in the cache (so a restart loses
//! nothing) plus the ones it gave that the cache has not shown yet, and passes
//! are serialised.

mod allocator;
pub mod cidr;

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::core::v1::Node;
use kube::api::{Patch, PatchParams};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::reflector::Store;
use kube::runtime::watcher;
use kube::{Api, Client, ResourceExt};
use serde_json::json;
use tokio::sync::Mutex;

use self::allocator::{Allocator, Pending};
use self::cidr::Cidr;
use super::{Context, ControllerError};
use crate::events::{EventType, Recorder};

/// Kubernetes' default `--node-cidr-mask-size` for IPv4.
pub const NODE_MASK: u8 = 24;

struct State {
    client: Client,
    nodes: Store<Node>,
    cluster: Cidr,
    /// The size of each node's range (`--node-cidr-mask-size`).
    node_mask: u8,
    /// Held for a whole pass: two nodes never pick at the same time.
    pending: Mutex<Pending>,
    recorder: Recorder,
}

pub async fn run(ctx: Context) {
    let cluster: Cidr = match ctx.options.cluster_cidr.parse() {
        Ok(cidr) => cidr,
        Err(err) => {
            tracing::error!(error = %err, "node IPAM controller not started: bad --cluster-cidr");
            return;
        }
    };
    let node_mask = ctx.options.node_cidr_mask_size;
    if !(cluster.prefix_len()..=30).contains(&node_mask) {
        tracing::error!(node_mask, %cluster, "node IPAM controller not started: --node-cidr-mask-size must lie between the cluster CIDR's and 30");
        return;
    }
    let client = ctx.client.clone();
    let controller = Controller::new(Api::<Node>::all(client.clone()), watcher::Config::default());
    let state = State {
        client,
        nodes: controller.store(),
        cluster,
        node_mask,
        pending: Mutex::new(Pending::default()),
        recorder: ctx.recorder("node-ipam-controller"),
    };
    controller
        .run(reconcile, error_policy, Arc::new(state))
        .for_each(|result| async move {
            if let Err(err) = result {
                tracing::debug!(error = %err, "node IPAM controller");
            }
        })
        .await;
}

fn error_policy(_: Arc<Node>, err: &ControllerError, _: Arc<State>) -> Action {
    if err.is_conflict() {
        return Action::requeue(Duration::from_millis(100));
    }
    tracing::warn!(error = %err, "node IPAM controller: retrying");
    Action::requeue(Duration::from_secs(2))
}

fn pod_cidrs(node: &Node) -> Vec<String> {
    let spec = node.spec.as_ref();
    let mut all: Vec<String> = spec.and_then(|s| s.pod_cidrs.clone()).unwrap_or_default();
    if let Some(single) = spec.and_then(|s| s.pod_cidr.clone()) {
        all.push(single);
    }
    all.retain(|c| !c.is_empty());
    all
}

async fn reconcile(node: Arc<Node>, state: Arc<State>) -> Result<Action, ControllerError> {
    if !pod_cidrs(&node).is_empty() || node.metadata.deletion_timestamp.is_some() {
        return Ok(Action::await_change());
    }
    // A half-filled cache would hide ranges already given.
    if state.nodes.wait_until_ready().await.is_err() {
        return Ok(Action::requeue(Duration::from_secs(1)));
    }
    let name = node.name_any();
    let mut pending = state.pending.lock().await;
    let nodes = state.nodes.state();
    let mut alloc = Allocator::new(state.cluster, state.node_mask);
    for cidr in nodes.iter().flat_map(|n| pod_cidrs(n)).filter_map(|c| c.parse::<Cidr>().ok()) {
        alloc.mark_used(cidr);
    }
    pending.retain_unseen(|waiting| nodes.iter().any(|n| n.name_any() == waiting && pod_cidrs(n).is_empty()));
    for cidr in pending.ranges() {
        alloc.mark_used(cidr);
    }
    let chosen = match pending.get(&name) {
        Some(cidr) => cidr,
        None => match alloc.allocate() {
            Ok(cidr) => cidr,
            Err(err) => {
                state.recorder.publish(&*node, EventType::Warning, "CIDRNotAvailable", err.to_string()).await;
                return Ok(Action::requeue(Duration::from_secs(30)));
            }
        },
    };
    let api: Api<Node> = Api::all(state.client.clone());
    let patch = json!({"spec": {"podCIDR": chosen.to_string(), "podCIDRs": [chosen.to_string()]}});
    api.patch(&name, &PatchParams::default(), &Patch::Merge(patch)).await?;
    pending.insert(&name, chosen);
    tracing::info!(node = %name, pod_cidr = %chosen, "assigned the node's pod CIDR");
    state.recorder.publish(&*node, EventType::Normal, "CIDRAssignmentSucceeded", format!("Node {name} got pod CIDR {chosen}")).await;
    Ok(Action::await_change())
}
