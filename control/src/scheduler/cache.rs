//! The scheduler's picture of the cluster, fed by watches of Nodes, Pods and
//! RuntimeClasses: every node with the pods placed on it. A pod being bound
//! is *assumed* on its node the moment it is chosen, so the next decision
//! already counts it; the assumption is confirmed when the watch shows the
//! pod bound, and forgotten if the binding fails.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use k8s_openapi::api::core::v1::{Node, Pod};
use k8s_openapi::api::node::v1::RuntimeClass;

use super::node_info::NodeInfo;
use super::pod_info::{PodInfo, PodKey};

/// Where a known pod sits.
#[derive(Debug)]
struct Placement {
    node: String,
    /// Chosen by us and being bound; the watch has not shown it bound yet.
    assumed: bool,
}

/// What a pod event means for the scheduling queue.
#[derive(Debug, Default)]
pub struct PodUpdate {
    pub queue: QueueAction,
    /// A node got room back: pods that did not fit may now.
    pub freed: bool,
}

#[derive(Debug, Default)]
pub enum QueueAction {
    /// The pod waits for this scheduler to place it.
    Enqueue(Arc<PodInfo>),
    /// Bound, finished, deleting or someone else's: not for the queue.
    #[default]
    Remove,
    /// A stale copy of a pod being bound right now: leave it be.
    Keep,
}

impl PodUpdate {
    /// The pod to enqueue, if any.
    pub fn pending(&self) -> Option<&Arc<PodInfo>> {
        match &self.queue {
            QueueAction::Enqueue(pod) => Some(pod),
            _ => None,
        }
    }
}

#[derive(Default)]
pub struct Cache {
    nodes: HashMap<String, NodeInfo>,
    /// Names of the nodes with a Node object, in a stable order so that
    /// successive decisions can walk it round-robin.
    order: Vec<String>,
    placements: HashMap<PodKey, Placement>,
    /// Placed pods with pod (anti-)affinity terms, by node: few, and every
    /// decision must check their anti-affinity.
    with_affinity: HashMap<PodKey, String>,
    runtime_classes: HashMap<String, Arc<RuntimeClass>>,
    /// Keys seen since the pod watch (re)started listing.
    relisted_pods: Option<HashSet<PodKey>>,
    relisted_nodes: Option<HashSet<String>>,
}

impl Cache {
    /// Nodes with a Node object, in walking order.
    pub fn node_names(&self) -> &[String] {
        &self.order
    }

    pub fn node(&self, name: &str) -> Option<&NodeInfo> {
        self.nodes.get(name).filter(|n| n.node.is_some())
    }

    /// Every node with a Node object, in no particular order.
    pub fn nodes(&self) -> impl Iterator<Item = &NodeInfo> {
        self.nodes.values().filter(|n| n.node.is_some())
    }

    /// Every placed pod on a known node, with its node.
    pub fn placed_pods(&self) -> impl Iterator<Item = (&NodeInfo, &Arc<PodInfo>)> {
        self.nodes().flat_map(|n| n.pods.values().map(move |p| (n, p)))
    }

    /// The placed pods that have pod (anti-)affinity terms, with their node.
    pub fn placed_pods_with_affinity(&self) -> impl Iterator<Item = (&NodeInfo, &Arc<PodInfo>)> {
        self.with_affinity.iter().filter_map(|(key, node)| {
            let info = self.node(node)?;
            Some((info, info.pods.get(key)?))
        })
    }

    pub fn runtime_class(&self, name: &str) -> Option<&Arc<RuntimeClass>> {
        self.runtime_classes.get(name)
    }

    /// Records a Node; true when the change can make a waiting pod fit
    /// (a new node, or new labels, taints, capacity, readiness, cordon).
    pub fn apply_node(&mut self, node: Node) -> bool {
        let Some(name) = node.metadata.name.clone() else { return false };
        if let Some(seen) = self.relisted_nodes.as_mut() {
            seen.insert(name.clone());
        }
        let info = self.nodes.entry(name.clone()).or_default();
        let changed = info.node.as_deref().is_none_or(|old| scheduling_view(old) != scheduling_view(&node));
        if info.node.is_none() {
            self.order.push(name);
        }
        info.set_node(Arc::new(node));
        changed
    }

    pub fn delete_node(&mut self, name: &str) {
        let Some(info) = self.nodes.get_mut(name) else { return };
        info.node = None;
        if info.pods.is_empty() {
            self.nodes.remove(name);
        }
        self.order.retain(|n| n != name);
    }

    /// The node watch starts listing afresh: nodes not listed again are gone.
    pub fn begin_node_relist(&mut self) {
        self.relisted_nodes = Some(HashSet::new());
    }

    pub fn end_node_relist(&mut self) {
        let Some(seen) = self.relisted_nodes.take() else { return };
        let gone: Vec<String> = self.order.iter().filter(|n| !seen.contains(*n)).cloned().collect();
        for name in gone {
            self.delete_node(&name);
        }
    }

    /// Records a pod as the watch shows it.
    pub fn apply_pod(&mut self, pod: Pod) -> PodUpdate {
        let info = Arc::new(PodInfo::new(Arc::new(pod)));
        if let Some(seen) = self.relisted_pods.as_mut() {
            seen.insert(info.key.clone());
        }
        if info.is_terminal() {
            return PodUpdate { queue: QueueAction::Remove, freed: self.remove_placement(&info.key) };
        }
        if let Some(node) = info.node_name() {
            let freed = match self.placements.get(&info.key) {
                Some(p) if p.node != node => self.remove_placement(&info.key),
                _ => false,
            };
            self.place(info.clone(), node.to_string(), false);
            return PodUpdate { queue: QueueAction::Remove, freed };
        }
        match self.placements.get(&info.key) {
            // An older copy of a pod we are binding right now: keep the assumption.
            Some(p) if p.assumed => PodUpdate { queue: QueueAction::Keep, freed: false },
            _ => {
                let freed = self.remove_placement(&info.key);
                let waiting = info.is_ours() && !info.is_deleting() && !info.is_gated();
                let queue = if waiting { QueueAction::Enqueue(info) } else { QueueAction::Remove };
                PodUpdate { queue, freed }
            }
        }
    }

    /// Forgets a deleted pod; true if it held room on a node.
    pub fn delete_pod(&mut self, key: &PodKey) -> bool {
        self.remove_placement(key)
    }

    /// The pod watch starts listing afresh.
    pub fn begin_pod_relist(&mut self) {
        self.relisted_pods = Some(HashSet::new());
    }

    /// Ends a relist: pods not listed again are gone (assumed ones stay until
    /// their binding answers). Returns the keys dropped.
    pub fn end_pod_relist(&mut self) -> Vec<PodKey> {
        let Some(seen) = self.relisted_pods.take() else { return Vec::new() };
        let gone: Vec<PodKey> = self.placements.iter().filter(|(k, p)| !p.assumed && !seen.contains(*k)).map(|(k, _)| k.clone()).collect();
        for key in &gone {
            self.remove_placement(key);
        }
        gone
    }

    /// Counts `pod` on `node` while it is being bound.
    pub fn assume(&mut self, pod: Arc<PodInfo>, node: &str) {
        self.place(pod, node.to_string(), true);
    }

    /// Takes back an assumption after a failed binding.
    pub fn forget(&mut self, key: &PodKey) {
        if self.placements.get(key).is_some_and(|p| p.assumed) {
            self.remove_placement(key);
        }
    }

    pub fn apply_runtime_class(&mut self, class: RuntimeClass) {
        if let Some(name) = class.metadata.name.clone() {
            self.runtime_classes.insert(name, Arc::new(class));
        }
    }

    pub fn delete_runtime_class(&mut self, name: &str) {
        self.runtime_classes.remove(name);
    }

    fn place(&mut self, pod: Arc<PodInfo>, node: String, assumed: bool) {
        let key = pod.key.clone();
        if pod.affinity.is_some() {
            self.with_affinity.insert(key.clone(), node.clone());
        } else {
            self.with_affinity.remove(&key);
        }
        self.nodes.entry(node.clone()).or_default().add_pod(pod);
        self.placements.insert(key, Placement { node, assumed });
    }

    fn remove_placement(&mut self, key: &PodKey) -> bool {
        let Some(placement) = self.placements.remove(key) else { return false };
        self.with_affinity.remove(key);
        if let Some(info) = self.nodes.get_mut(&placement.node) {
            info.remove_pod(key);
            if info.node.is_none() && info.pods.is_empty() {
                self.nodes.remove(&placement.node);
            }
        }
        true
    }
}

/// The parts of a Node that filters and scores read; heartbeats change none of them.
fn scheduling_view(node: &Node) -> impl PartialEq + '_ {
    let spec = node.spec.as_ref();
    let status = node.status.as_ref();
    let conditions: Vec<(&str, &str)> =
        status.and_then(|s| s.conditions.as_ref()).into_iter().flatten().map(|c| (c.type_.as_str(), c.status.as_str())).collect();
    (
        &node.metadata.labels,
        spec.and_then(|s| s.taints.as_ref()),
        spec.and_then(|s| s.unschedulable),
        status.and_then(|s| s.allocatable.as_ref()),
        conditions,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scheduler::testing::{node, pod};

    #[test]
    fn an_assumed_pod_counts_until_forgotten() {
        let mut cache = Cache::default();
        cache.apply_node(node("n1", "4", "8Gi"));
        let update = cache.apply_pod(pod("p", "1", "1Gi"));
        let pending = update.pending().expect("an unbound pod is pending");
        cache.assume(pending.clone(), "n1");
        assert_eq!(cache.node("n1").map(|n| n.requested.milli_cpu), Some(1000));
        // A stale copy of the unbound pod does not undo the assumption.
        assert!(matches!(cache.apply_pod(pod("p", "1", "1Gi")).queue, QueueAction::Keep));
        cache.forget(&PodKey::new("default", "p"));
        assert_eq!(cache.node("n1").map(|n| n.requested.milli_cpu), Some(0));
    }

    #[test]
    fn a_bound_pod_confirms_and_a_terminal_one_frees() {
        let mut cache = Cache::default();
        cache.apply_node(node("n1", "4", "8Gi"));
        let mut bound = pod("p", "1", "1Gi");
        bound.spec.get_or_insert_default().node_name = Some("n1".into());
        cache.apply_pod(bound.clone());
        cache.forget(&PodKey::new("default", "p"));
        assert_eq!(cache.node("n1").map(|n| n.requested.milli_cpu), Some(1000), "a confirmed pod is not forgotten");
        bound.status = Some(k8s_openapi::api::core::v1::PodStatus { phase: Some("Succeeded".into()), ..Default::default() });
        assert!(cache.apply_pod(bound).freed);
        assert_eq!(cache.node("n1").map(|n| n.requested.milli_cpu), Some(0));
    }

    #[test]
    fn gated_deleting_and_foreign_pods_are_not_queued() {
        let mut cache = Cache::default();
        let mut gated = pod("gated", "0", "0");
        gated.spec.get_or_insert_default().scheduling_gates = Some(vec![k8s_openapi::api::core::v1::PodSchedulingGate { name: "wait".into() }]);
        let mut foreign = pod("foreign", "0", "0");
        foreign.spec.get_or_insert_default().scheduler_name = Some("other-scheduler".into());
        let mut deleting = pod("deleting", "0", "0");
        deleting.metadata.deletion_timestamp = Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(jiff::Timestamp::UNIX_EPOCH));
        for p in [gated, foreign, deleting] {
            assert!(matches!(cache.apply_pod(p).queue, QueueAction::Remove));
        }
        assert!(cache.apply_pod(pod("plain", "0", "0")).pending().is_some());
    }

    #[test]
    fn heartbeats_are_not_changes_but_a_cordon_is() {
        let mut cache = Cache::default();
        assert!(cache.apply_node(node("n1", "4", "8Gi")));
        assert!(!cache.apply_node(node("n1", "4", "8Gi")));
        let mut cordoned = node("n1", "4", "8Gi");
        cordoned.spec.get_or_insert_default().unschedulable = Some(true);
        assert!(cache.apply_node(cordoned));
        cache.delete_node("n1");
        assert!(cache.node_names().is_empty());
    }
}
