//! What the scheduler reads from a pod, computed once when the pod is seen:
//! its key, requests, host ports and owner, next to the pod itself.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use k8s_openapi::api::core::v1::{Pod, PodSpec};

use super::pod_affinity::AffinityTerms;
use super::resources::{pod_requests, pod_requests_for_scoring, Resources};

/// The scheduler this one answers for (`spec.schedulerName`).
pub const SCHEDULER_NAME: &str = "default-scheduler";

/// `namespace/name`: pods are keyed by name so that a pod deleted and created
/// again under the same name replaces the old one.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PodKey(Arc<str>);

impl PodKey {
    pub fn new(namespace: &str, name: &str) -> PodKey {
        PodKey(format!("{namespace}/{name}").into())
    }

    pub fn of(pod: &Pod) -> PodKey {
        PodKey::new(pod.metadata.namespace.as_deref().unwrap_or("default"), pod.metadata.name.as_deref().unwrap_or(""))
    }
}

impl fmt::Display for PodKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A host port a pod binds: two pods conflict when protocol and port match
/// and their host IPs overlap (`0.0.0.0` or empty overlaps every IP).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct HostPort {
    pub ip: String,
    pub protocol: String,
    pub port: i32,
}

impl HostPort {
    pub fn conflicts_with(&self, other: &HostPort) -> bool {
        let wildcard = |ip: &str| ip.is_empty() || ip == "0.0.0.0";
        self.port == other.port && self.protocol == other.protocol && (wildcard(&self.ip) || wildcard(&other.ip) || self.ip == other.ip)
    }
}

/// A pod with the facts every filter and score needs, precomputed.
#[derive(Debug)]
pub struct PodInfo {
    pub key: PodKey,
    pub pod: Arc<Pod>,
    pub requests: Resources,
    /// CPU (millicores) and memory (bytes) with upstream's non-zero defaults, for scoring.
    pub scoring_requests: (i64, i64),
    pub host_ports: Vec<HostPort>,
    /// The uid of the controller owning the pod (its ReplicaSet, Job ...), for spreading.
    pub owner: Option<String>,
    /// Its pod (anti-)affinity terms, if it has any.
    pub affinity: Option<AffinityTerms>,
}

impl PodInfo {
    pub fn new(pod: Arc<Pod>) -> PodInfo {
        let no_spec = PodSpec::default();
        let spec = pod.spec.as_ref().unwrap_or(&no_spec);
        let host_ports = spec
            .containers
            .iter()
            .flat_map(|c| c.ports.iter().flatten())
            .filter(|p| p.host_port.is_some_and(|port| port > 0))
            .map(|p| HostPort {
                ip: p.host_ip.clone().unwrap_or_default(),
                protocol: p.protocol.clone().unwrap_or_else(|| "TCP".into()),
                port: p.host_port.unwrap_or(0),
            })
            .collect();
        let owner = pod
            .metadata
            .owner_references
            .iter()
            .flatten()
            .find(|o| o.controller == Some(true))
            .map(|o| o.uid.clone());
        PodInfo {
            key: PodKey::of(&pod),
            requests: pod_requests(spec),
            scoring_requests: pod_requests_for_scoring(spec),
            host_ports,
            owner,
            affinity: AffinityTerms::of(&pod),
            pod,
        }
    }

    pub fn namespace(&self) -> &str {
        self.pod.metadata.namespace.as_deref().unwrap_or("default")
    }

    pub fn name(&self) -> &str {
        self.pod.metadata.name.as_deref().unwrap_or("")
    }

    pub fn labels(&self) -> &BTreeMap<String, String> {
        static EMPTY: BTreeMap<String, String> = BTreeMap::new();
        self.pod.metadata.labels.as_ref().unwrap_or(&EMPTY)
    }

    /// The node the pod is bound to, if any.
    pub fn node_name(&self) -> Option<&str> {
        self.pod.spec.as_ref().and_then(|s| s.node_name.as_deref()).filter(|n| !n.is_empty())
    }

    /// Whether this scheduler is the one to place the pod.
    pub fn is_ours(&self) -> bool {
        let name = self.pod.spec.as_ref().and_then(|s| s.scheduler_name.as_deref()).unwrap_or("");
        name.is_empty() || name == SCHEDULER_NAME
    }

    /// Succeeded or Failed: it holds no resources any more.
    pub fn is_terminal(&self) -> bool {
        matches!(self.pod.status.as_ref().and_then(|s| s.phase.as_deref()), Some("Succeeded" | "Failed"))
    }

    /// Held back by `spec.schedulingGates` until they are all removed.
    pub fn is_gated(&self) -> bool {
        self.pod.spec.as_ref().and_then(|s| s.scheduling_gates.as_ref()).is_some_and(|g| !g.is_empty())
    }

    pub fn is_deleting(&self) -> bool {
        self.pod.metadata.deletion_timestamp.is_some()
    }
}
