//! One pass over every node: judge its health, write its conditions and
//! taints when they are out of date, and evict (or finally force out) the
//! pods its NoExecute taints no longer allow. Reads come from watch caches;
//! every write names the resourceVersion or uid it was decided on, so a
//! stale cache costs a 409 and a retry on the next pass, never a wrong write.

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Instant;

use jiff::Timestamp;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{Node, Pod, Taint};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::api::{DeleteParams, Patch, PatchParams, Preconditions};
use kube::runtime::reflector::{ObjectRef, Store};
use kube::{Api, Client};
use serde_json::{json, Value};

use super::eviction;
use super::health::{self, Heartbeats, Readiness};
use super::taints;
use crate::controllers::{Context, ControllerError, ControllerOptions};
use crate::events::{EventType, Recorder};

/// Where agents keep their heartbeat Leases.
pub const LEASE_NAMESPACE: &str = "kube-node-lease";

/// What the monitor remembers between passes.
pub struct Monitor {
    client: Client,
    options: Arc<ControllerOptions>,
    node_events: Recorder,
    eviction_events: Recorder,
    heartbeats: Heartbeats,
    /// Each node's readiness at the last pass: a change is an Event.
    readiness: HashMap<String, Readiness>,
    /// When NoExecute taints that carry no `timeAdded` were first seen.
    taints_seen: HashMap<(String, String), Timestamp>,
    /// Pods (by uid) already evicted or forced out, until they leave the cache.
    deleted: HashSet<String>,
    forced: HashSet<String>,
}

impl Monitor {
    pub fn new(ctx: &Context) -> Self {
        Monitor {
            client: ctx.client.clone(),
            options: ctx.options.clone(),
            node_events: ctx.recorder("node-controller"),
            eviction_events: ctx.recorder("taint-eviction-controller"),
            heartbeats: Heartbeats::default(),
            readiness: HashMap::new(),
            taints_seen: HashMap::new(),
            deleted: HashSet::new(),
            forced: HashSet::new(),
        }
    }

    /// One pass over every node and the pods bound to it.
    pub async fn pass(&mut self, nodes: &Store<Node>, leases: &Store<Lease>, pods: &Store<Pod>) {
        let all_pods = pods.state();
        let mut by_node: HashMap<&str, Vec<&Pod>> = HashMap::new();
        for pod in &all_pods {
            if let Some(node) = pod.spec.as_ref().and_then(|s| s.node_name.as_deref()).filter(|n| !n.is_empty()) {
                by_node.entry(node).or_default().push(pod);
            }
        }
        let nodes = nodes.state();
        for node in &nodes {
            let name = node.metadata.name.as_deref().unwrap_or_default();
            let lease = leases.get(&ObjectRef::new(name).within(LEASE_NAMESPACE));
            let on_node = by_node.remove(name).unwrap_or_default();
            if let Err(err) = self.check(node, lease.as_deref(), &on_node).await {
                // A conflict means the cache was behind: the next pass sees the news.
                if !err.is_conflict() && !err.is_not_found() {
                    tracing::warn!(node = name, error = %err, "node lifecycle");
                }
            }
        }
        self.forget_gone(&nodes, &all_pods);
    }

    async fn check(&mut self, node: &Node, lease: Option<&Lease>, pods: &[&Pod]) -> Result<(), ControllerError> {
        let now = Timestamp::now();
        let readiness = self.judge(node, lease, now).await?;
        if readiness == Readiness::Unknown {
            for pod in pods.iter().filter(|p| is_ready(p)) {
                self.mark_not_ready(pod, &Time(now)).await?;
            }
        }
        self.enforce_taints(node, pods, readiness, now).await
    }

    /// The node's readiness, with its conditions (if nobody hears from it),
    /// its taints and an Event on a change brought in line.
    async fn judge(&mut self, node: &Node, lease: Option<&Lease>, now: Timestamp) -> Result<Readiness, ControllerError> {
        let silence = self.heartbeats.silence(node, lease, Instant::now());
        let mut readiness = Readiness::of(node);
        // The taints are written over the node as it is after this status write.
        let mut current = Cow::Borrowed(node);
        if silence > self.options.node_monitor_grace && readiness != Readiness::Unknown {
            if let Some(updated) = self.mark_unknown(node, &Time(now)).await? {
                current = Cow::Owned(updated);
            }
            readiness = Readiness::Unknown;
        }
        self.note_transition(node, readiness).await;
        if let Some(wanted) = taints::desired_taints(taints_of(&current), readiness, &Time(now)) {
            self.write_taints(&current, &wanted).await?;
        }
        Ok(readiness)
    }

    /// Evicts the pods the node's NoExecute taints no longer allow, and
    /// forces out deleted pods an unreachable node will never stop.
    async fn enforce_taints(&mut self, node: &Node, pods: &[&Pod], readiness: Readiness, now: Timestamp) -> Result<(), ControllerError> {
        let name = node.metadata.name.as_deref().unwrap_or_default();
        let no_execute = self.no_execute_taints(name, taints_of(node), now);
        for pod in pods {
            if pod.metadata.deletion_timestamp.is_some() {
                if readiness == Readiness::Unknown && eviction::force_delete_time(pod).is_some_and(|t| t <= now) {
                    self.force_delete(pod).await?;
                }
                continue;
            }
            let tolerations = eviction::effective_tolerations(pod, self.options.default_eviction_toleration);
            if eviction::eviction_time(&tolerations, &no_execute).is_some_and(|t| t <= now) {
                self.evict(pod).await?;
            }
        }
        Ok(())
    }

    /// Every condition Unknown: nobody hears from the node. Returns the node
    /// as written, None if there was nothing to change.
    async fn mark_unknown(&self, node: &Node, now: &Time) -> Result<Option<Node>, ControllerError> {
        let conditions = node.status.as_ref().and_then(|s| s.conditions.as_deref()).unwrap_or_default();
        let Some(unknown) = health::unknown_conditions(conditions, now) else { return Ok(None) };
        let patch = json!({
            "metadata": {"resourceVersion": node.metadata.resource_version},
            "status": {"conditions": unknown},
        });
        let name = node.metadata.name.as_deref().unwrap_or_default();
        let updated = Api::<Node>::all(self.client.clone()).patch_status(name, &PatchParams::default(), &Patch::Merge(&patch)).await?;
        tracing::info!(node = name, "node stopped posting its status: conditions set to Unknown");
        Ok(Some(updated))
    }

    /// Records NodeNotReady / NodeReady when the readiness changes.
    async fn note_transition(&mut self, node: &Node, readiness: Readiness) {
        let name = node.metadata.name.clone().unwrap_or_default();
        let before = self.readiness.insert(name.clone(), readiness);
        let reason = match (before, readiness) {
            (Some(Readiness::Ready), Readiness::NotReady | Readiness::Unknown) => "NodeNotReady",
            (Some(Readiness::NotReady | Readiness::Unknown), Readiness::Ready) => "NodeReady",
            _ => return,
        };
        self.node_events.publish(node, EventType::Normal, reason, format!("Node {name} status is now: {reason}")).await;
    }

    async fn write_taints(&self, node: &Node, taints: &[Taint]) -> Result<(), ControllerError> {
        let taints = if taints.is_empty() { Value::Null } else { json!(taints) };
        let patch = json!({
            "metadata": {"resourceVersion": node.metadata.resource_version},
            "spec": {"taints": taints},
        });
        let name = node.metadata.name.as_deref().unwrap_or_default();
        Api::<Node>::all(self.client.clone()).patch(name, &PatchParams::default(), &Patch::Merge(&patch)).await?;
        Ok(())
    }

    /// The node's NoExecute taints with the time each was added.
    fn no_execute_taints(&mut self, node: &str, taints: &[Taint], now: Timestamp) -> Vec<(Taint, Timestamp)> {
        taints
            .iter()
            .filter(|t| t.effect == taints::NO_EXECUTE)
            .map(|t| {
                let added = match &t.time_added {
                    Some(time) => time.0,
                    None => *self.taints_seen.entry((node.to_string(), t.key.clone())).or_insert(now),
                };
                (t.clone(), added)
            })
            .collect()
    }

    /// The pod's Ready condition turns False: its node cannot vouch for it.
    async fn mark_not_ready(&self, pod: &Pod, now: &Time) -> Result<(), ControllerError> {
        let patch = json!({"status": {"conditions": [{"type": "Ready", "status": "False", "lastTransitionTime": now}]}});
        let pods = pods_in(&self.client, pod);
        match pods.patch_status(pod.metadata.name.as_deref().unwrap_or_default(), &PatchParams::default(), &Patch::Strategic(&patch)).await {
            Ok(_) => {}
            Err(err) => return ignore_gone(err.into()),
        }
        self.node_events.publish(pod, EventType::Warning, "NodeNotReady", "Node is not ready").await;
        Ok(())
    }

    /// Deletes a pod its node's taints no longer allow, with its grace period.
    async fn evict(&mut self, pod: &Pod) -> Result<(), ControllerError> {
        let Some(uid) = pod.metadata.uid.clone() else { return Ok(()) };
        if self.deleted.contains(&uid) {
            return Ok(());
        }
        let namespace = pod.metadata.namespace.as_deref().unwrap_or("default");
        let name = pod.metadata.name.as_deref().unwrap_or_default();
        self.eviction_events.publish(pod, EventType::Normal, "TaintManagerEviction", format!("Marking for deletion Pod {namespace}/{name}")).await;
        let params = DeleteParams { preconditions: Some(Preconditions { uid: Some(uid.clone()), resource_version: None }), ..Default::default() };
        match pods_in(&self.client, pod).delete(name, &params).await {
            Ok(_) => {
                tracing::info!(pod = %format!("{namespace}/{name}"), "evicted by a NoExecute taint");
                self.deleted.insert(uid);
                Ok(())
            }
            Err(err) => ignore_gone(err.into()),
        }
    }

    /// Removes a pod whose grace period ran out on a node nobody hears from:
    /// its agent will never confirm it stopped.
    async fn force_delete(&mut self, pod: &Pod) -> Result<(), ControllerError> {
        let Some(uid) = pod.metadata.uid.clone() else { return Ok(()) };
        if self.forced.contains(&uid) {
            return Ok(());
        }
        let name = pod.metadata.name.as_deref().unwrap_or_default();
        let params = DeleteParams {
            grace_period_seconds: Some(0),
            preconditions: Some(Preconditions { uid: Some(uid.clone()), resource_version: None }),
            ..Default::default()
        };
        match pods_in(&self.client, pod).delete(name, &params).await {
            Ok(_) => {
                tracing::info!(pod = name, "force-deleted: its node is unreachable and its grace period is over");
                self.forced.insert(uid);
                Ok(())
            }
            Err(err) => ignore_gone(err.into()),
        }
    }

    fn forget_gone(&mut self, nodes: &[Arc<Node>], pods: &[Arc<Pod>]) {
        let node_names: HashSet<&str> = nodes.iter().filter_map(|n| n.metadata.name.as_deref()).collect();
        self.heartbeats.retain(|n| node_names.contains(n));
        self.readiness.retain(|n, _| node_names.contains(n.as_str()));
        self.taints_seen.retain(|(n, key), _| {
            nodes.iter().any(|node| node.metadata.name.as_deref() == Some(n.as_str()) && taints_of(node).iter().any(|t| &t.key == key))
        });
        let uids: HashSet<&str> = pods.iter().filter_map(|p| p.metadata.uid.as_deref()).collect();
        self.deleted.retain(|u| uids.contains(u.as_str()));
        self.forced.retain(|u| uids.contains(u.as_str()));
    }
}

fn taints_of(node: &Node) -> &[Taint] {
    node.spec.as_ref().and_then(|s| s.taints.as_deref()).unwrap_or_default()
}

fn is_ready(pod: &Pod) -> bool {
    pod.status.as_ref().and_then(|s| s.conditions.as_ref()).is_some_and(|c| c.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
}

fn pods_in(client: &Client, pod: &Pod) -> Api<Pod> {
    Api::namespaced(client.clone(), pod.metadata.namespace.as_deref().unwrap_or("default"))
}

/// A pod that went (or was replaced: the uid precondition failed) needs nothing more.
fn ignore_gone(err: ControllerError) -> Result<(), ControllerError> {
    if err.is_not_found() || err.is_conflict() {
        Ok(())
    } else {
        Err(err)
    }
}
