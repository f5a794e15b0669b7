//! One scheduling attempt of one pod: what the filters and scores need,
//! worked out once before looking at any node (upstream's PreFilter state):
//! the RuntimeClass's handler, node selector and tolerations, and the
//! topology domains pod (anti-)affinity and topology spread care about.

use std::collections::BTreeMap;
use std::sync::Arc;

use k8s_openapi::api::core::v1::Toleration;

use super::cache::Cache;
use super::filters::inter_pod_affinity::AffinityState;
use super::filters::topology_spread::SpreadState;
use super::pod_info::PodInfo;
use super::scores::inter_pod_affinity::TopologyWeights;

/// Why a pod cannot be considered at all.
#[derive(Debug, thiserror::Error)]
pub enum CycleError {
    #[error("runtimeclass.node.k8s.io \"{0}\" not found")]
    RuntimeClassNotFound(String),
}

pub struct Cycle {
    pub pod: Arc<PodInfo>,
    /// The pod's tolerations and those of its RuntimeClass.
    pub tolerations: Vec<Toleration>,
    /// The handler the pod's RuntimeClass names; `None` lets the node decide.
    pub runtime_handler: Option<String>,
    /// `scheduling.nodeSelector` of the pod's RuntimeClass.
    pub runtime_node_selector: BTreeMap<String, String>,
    /// Required pod (anti-)affinity domains, when any pod has such terms.
    pub pod_affinity: Option<AffinityState>,
    /// Preferred pod (anti-)affinity weights by domain.
    pub preferred_pod_affinity: Option<TopologyWeights>,
    /// The pod's topology spread constraints with their counts.
    pub spread: Option<SpreadState>,
}

impl Cycle {
    pub fn new(pod: Arc<PodInfo>, cache: &Cache) -> Result<Cycle, CycleError> {
        let spec = pod.pod.spec.as_ref();
        let mut tolerations = spec.and_then(|s| s.tolerations.clone()).unwrap_or_default();
        let mut runtime_handler = None;
        let mut runtime_node_selector = BTreeMap::new();
        if let Some(class_name) = spec.and_then(|s| s.runtime_class_name.as_deref()).filter(|n| !n.is_empty()) {
            let class = cache.runtime_class(class_name).ok_or_else(|| CycleError::RuntimeClassNotFound(class_name.to_string()))?;
            runtime_handler = Some(class.handler.clone());
            if let Some(scheduling) = &class.scheduling {
                runtime_node_selector = scheduling.node_selector.clone().unwrap_or_default();
                tolerations.extend(scheduling.tolerations.iter().flatten().cloned());
            }
        }
        let pod_affinity = AffinityState::compute(&pod, cache);
        let preferred_pod_affinity = TopologyWeights::compute(&pod, cache);
        let mut cycle = Cycle { pod, tolerations, runtime_handler, runtime_node_selector, pod_affinity, preferred_pod_affinity, spread: None };
        // Spreading counts only nodes the pod's node affinity allows: it needs the cycle so far.
        cycle.spread = SpreadState::compute(&cycle, cache);
        Ok(cycle)
    }

    /// The cycle of `pod` in an empty cluster.
    #[cfg(test)]
    pub fn for_test(pod: &k8s_openapi::api::core::v1::Pod) -> Cycle {
        Cycle::new(Arc::new(PodInfo::new(Arc::new(pod.clone()))), &Cache::default()).expect("no runtime class in tests")
    }
}
