//! A node as the scheduler sees it: the Node object plus the running totals
//! of the pods placed on it (requests, host ports, pods per owner), kept up
//! to date as pods come and go so that no decision has to add them up.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use k8s_openapi::api::core::v1::{Node, Taint};

use super::pod_info::{HostPort, PodInfo, PodKey};
use super::resources::{node_allocatable, Resources};

#[derive(Debug, Default)]
pub struct NodeInfo {
    /// `None` while pods name a node whose Node object is not (or no longer) known.
    pub node: Option<Arc<Node>>,
    pub allocatable: Resources,
    pub allowed_pods: i64,
    pub requested: Resources,
    /// CPU and memory with upstream's non-zero defaults, for scoring.
    pub scoring_requested: (i64, i64),
    pub pods: HashMap<PodKey, Arc<PodInfo>>,
    used_ports: HashMap<HostPort, u32>,
    owners: HashMap<String, u32>,
}

impl NodeInfo {
    pub fn set_node(&mut self, node: Arc<Node>) {
        let (allocatable, pods) = node_allocatable(&node);
        self.allocatable = allocatable;
        self.allowed_pods = pods;
        self.node = Some(node);
    }

    pub fn name(&self) -> &str {
        self.node.as_ref().and_then(|n| n.metadata.name.as_deref()).unwrap_or("")
    }

    pub fn labels(&self) -> &BTreeMap<String, String> {
        static EMPTY: BTreeMap<String, String> = BTreeMap::new();
        self.node.as_ref().and_then(|n| n.metadata.labels.as_ref()).unwrap_or(&EMPTY)
    }

    pub fn taints(&self) -> &[Taint] {
        self.node.as_ref().and_then(|n| n.spec.as_ref()).and_then(|s| s.taints.as_deref()).unwrap_or(&[])
    }

    pub fn add_pod(&mut self, pod: Arc<PodInfo>) {
        if let Some(old) = self.pods.get(&pod.key).cloned() {
            self.remove_pod(&old.key);
        }
        self.requested.add(&pod.requests);
        self.scoring_requested.0 = self.scoring_requested.0.saturating_add(pod.scoring_requests.0);
        self.scoring_requested.1 = self.scoring_requested.1.saturating_add(pod.scoring_requests.1);
        for port in &pod.host_ports {
            *self.used_ports.entry(port.clone()).or_default() += 1;
        }
        if let Some(owner) = &pod.owner {
            *self.owners.entry(owner.clone()).or_default() += 1;
        }
        self.pods.insert(pod.key.clone(), pod);
    }

    pub fn remove_pod(&mut self, key: &PodKey) -> Option<Arc<PodInfo>> {
        let pod = self.pods.remove(key)?;
        self.requested.subtract(&pod.requests);
        self.scoring_requested.0 = self.scoring_requested.0.saturating_sub(pod.scoring_requests.0);
        self.scoring_requested.1 = self.scoring_requested.1.saturating_sub(pod.scoring_requests.1);
        for port in &pod.host_ports {
            if let Some(n) = self.used_ports.get_mut(port) {
                *n -= 1;
                if *n == 0 {
                    self.used_ports.remove(port);
                }
            }
        }
        if let Some(owner) = &pod.owner {
            if let Some(n) = self.owners.get_mut(owner) {
                *n -= 1;
                if *n == 0 {
                    self.owners.remove(owner);
                }
            }
        }
        Some(pod)
    }

    /// Host ports taken by the pods on this node.
    pub fn used_ports(&self) -> impl Iterator<Item = &HostPort> {
        self.used_ports.keys()
    }

    /// How many pods of the controller `owner` are on this node.
    pub fn pods_of_owner(&self, owner: &str) -> u32 {
        self.owners.get(owner).copied().unwrap_or(0)
    }
}
