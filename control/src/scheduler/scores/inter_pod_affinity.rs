//! InterPodAffinity (preferred terms): each placed pod the incoming pod's
//! preferred affinity selects adds the term's weight to every node of that
//! pod's topology domain, anti-affinity subtracts it, and placed pods'
//! preferences (and required affinity, weight 1) toward the incoming pod
//! count the same way. Normalised between the lowest and highest totals.

use std::collections::HashMap;

use super::super::cache::Cache;
use super::super::cycle::Cycle;
use super::super::node_info::NodeInfo;
use super::super::pod_affinity::AffinityTerm;
use super::super::pod_info::PodInfo;
use super::MAX_SCORE;

/// Weight of an existing pod's *required* affinity toward the incoming pod
/// (upstream's hardPodAffinityWeight).
const HARD_POD_AFFINITY_WEIGHT: i64 = 1;

/// Summed weights by topology key, then by the domain's value.
#[derive(Debug, Default)]
pub struct TopologyWeights(HashMap<String, HashMap<String, i64>>);

impl TopologyWeights {
    fn add(&mut self, node: &NodeInfo, term: &AffinityTerm, weight: i64) {
        if let Some(value) = node.labels().get(&term.topology_key) {
            *self.0.entry(term.topology_key.clone()).or_default().entry(value.clone()).or_default() += weight;
        }
    }

    fn of(&self, node: &NodeInfo) -> i64 {
        let labels = node.labels();
        self.0.iter().filter_map(|(key, values)| values.get(labels.get(key)?)).sum()
    }

    /// `None` when nothing prefers anything about the incoming pod.
    pub fn compute(pod: &PodInfo, cache: &Cache) -> Option<TopologyWeights> {
        let own = pod.affinity.as_ref().filter(|t| !t.preferred_affinity.is_empty() || !t.preferred_anti_affinity.is_empty());
        let mut weights = TopologyWeights::default();
        let mut count = |node: &NodeInfo, existing: &PodInfo| {
            if existing.key == pod.key {
                return;
            }
            if let Some(terms) = own {
                for t in terms.preferred_affinity.iter().filter(|t| t.matches(existing)) {
                    weights.add(node, t, t.weight);
                }
                for t in terms.preferred_anti_affinity.iter().filter(|t| t.matches(existing)) {
                    weights.add(node, t, -t.weight);
                }
            }
            if let Some(theirs) = &existing.affinity {
                for t in theirs.required_affinity.iter().filter(|t| t.matches(pod)) {
                    weights.add(node, t, HARD_POD_AFFINITY_WEIGHT);
                }
                for t in theirs.preferred_affinity.iter().filter(|t| t.matches(pod)) {
                    weights.add(node, t, t.weight);
                }
                for t in theirs.preferred_anti_affinity.iter().filter(|t| t.matches(pod)) {
                    weights.add(node, t, -t.weight);
                }
            }
        };
        if own.is_some() {
            for (node, existing) in cache.placed_pods() {
                count(node, existing);
            }
        } else {
            for (node, existing) in cache.placed_pods_with_affinity() {
                count(node, existing);
            }
        }
        (!weights.0.is_empty()).then_some(weights)
    }
}

pub fn scores(cycle: &Cycle, nodes: &[&NodeInfo]) -> Vec<i64> {
    let Some(weights) = &cycle.preferred_pod_affinity else { return vec![0; nodes.len()] };
    let raw: Vec<i64> = nodes.iter().map(|n| weights.of(n)).collect();
    let (min, max) = (raw.iter().copied().min().unwrap_or(0), raw.iter().copied().max().unwrap_or(0));
    if max == min {
        return vec![0; nodes.len()];
    }
    raw.into_iter().map(|s| (s - min) * MAX_SCORE / (max - min)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scheduler::testing::{node, pod};
    use k8s_openapi::api::core::v1::{Affinity, Pod, PodAffinityTerm, PodAntiAffinity, WeightedPodAffinityTerm};
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
    use std::sync::Arc;

    fn app(name: &str, app: &str) -> Pod {
        let mut p = pod(name, "0", "0");
        p.metadata.labels = Some([("app".to_string(), app.to_string())].into());
        p
    }

    #[test]
    fn preferred_anti_affinity_steers_away_from_matching_pods() {
        let mut cache = Cache::default();
        for n in ["n1", "n2"] {
            cache.apply_node(node(n, "4", "8Gi"));
        }
        let mut placed = app("web-1", "web");
        placed.spec.get_or_insert_default().node_name = Some("n1".into());
        cache.apply_pod(placed);
        let mut incoming = app("web-2", "web");
        incoming.spec.get_or_insert_default().affinity = Some(Affinity {
            pod_anti_affinity: Some(PodAntiAffinity {
                preferred_during_scheduling_ignored_during_execution: Some(vec![WeightedPodAffinityTerm {
                    weight: 50,
                    pod_affinity_term: PodAffinityTerm {
                        label_selector: Some(LabelSelector { match_labels: Some([("app".to_string(), "web".to_string())].into()), ..Default::default() }),
                        topology_key: "kubernetes.io/hostname".into(),
                        ..Default::default()
                    },
                }]),
                ..Default::default()
            }),
            ..Default::default()
        });
        let cycle = Cycle::new(Arc::new(PodInfo::new(Arc::new(incoming))), &cache).expect("cycle");
        let nodes = [cache.node("n1").expect("n1"), cache.node("n2").expect("n2")];
        assert_eq!(scores(&cycle, &nodes), [0, MAX_SCORE]);
    }
}
