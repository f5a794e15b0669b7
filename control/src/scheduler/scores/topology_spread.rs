//! PodTopologySpread (`whenUnsatisfiable: ScheduleAnyway`): prefer the node
//! whose domains hold the fewest matching pods; a node lacking a constraint's
//! topology key scores lowest.

use super::super::cycle::Cycle;
use super::super::node_info::NodeInfo;
use super::normalize_reversed;

pub fn scores(cycle: &Cycle, nodes: &[&NodeInfo]) -> Vec<i64> {
    let Some(state) = &cycle.spread else { return vec![0; nodes.len()] };
    let soft: Vec<_> = state.constraints.iter().filter(|c| !c.hard).collect();
    if soft.is_empty() {
        return vec![0; nodes.len()];
    }
    let raw: Vec<Option<i64>> = nodes
        .iter()
        .map(|n| {
            let labels = n.labels();
            soft.iter().map(|c| labels.get(&c.topology_key).map(|v| c.counts.get(v).copied().unwrap_or(0))).sum()
        })
        .collect();
    let mut known: Vec<i64> = raw.iter().map(|r| r.unwrap_or(0)).collect();
    normalize_reversed(&mut known);
    known.into_iter().zip(raw).map(|(score, r)| if r.is_some() { score } else { 0 }).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scheduler::cache::Cache;
    use crate::scheduler::scores::MAX_SCORE;
    use crate::scheduler::pod_info::PodInfo;
    use crate::scheduler::testing::{node, pod};
    use k8s_openapi::api::core::v1::{Pod, TopologySpreadConstraint};
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
    use std::sync::Arc;

    fn web(name: &str) -> Pod {
        let mut p = pod(name, "0", "0");
        p.metadata.labels = Some([("app".to_string(), "web".to_string())].into());
        p
    }

    #[test]
    fn the_domain_with_fewer_matching_pods_scores_higher() {
        let mut cache = Cache::default();
        for n in ["n1", "n2"] {
            cache.apply_node(node(n, "4", "8Gi"));
        }
        for name in ["w1", "w2"] {
            let mut p = web(name);
            p.spec.get_or_insert_default().node_name = Some("n1".into());
            cache.apply_pod(p);
        }
        let mut incoming = web("w3");
        incoming.spec.get_or_insert_default().topology_spread_constraints = Some(vec![TopologySpreadConstraint {
            max_skew: 1,
            topology_key: "kubernetes.io/hostname".into(),
            when_unsatisfiable: "ScheduleAnyway".into(),
            label_selector: Some(LabelSelector { match_labels: Some([("app".to_string(), "web".to_string())].into()), ..Default::default() }),
            ..Default::default()
        }]);
        let cycle = Cycle::new(Arc::new(PodInfo::new(Arc::new(incoming))), &cache).expect("cycle");
        let nodes = [cache.node("n1").expect("n1"), cache.node("n2").expect("n2")];
        assert_eq!(scores(&cycle, &nodes), [0, MAX_SCORE]);
    }
}
