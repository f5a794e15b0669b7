//! PodTopologySpread (`whenUnsatisfiable: ScheduleAnyway`): prefer the node
//! whose domains hold the fewest matching pods (reversed between the fewest
//! and the most); a node lacking a constraint's topology key scores lowest.

use super::super::cycle::Cycle;
use super::super::node_info::NodeInfo;
use super::MAX_SCORE;

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
    // Reversed min-max over the nodes that have every key, as upstream normalises.
    let known = raw.iter().flatten();
    let (min, max) = (known.clone().copied().min().unwrap_or(0), known.copied().max().unwrap_or(0));
    raw.into_iter()
        .map(|r| match r {
            None => 0,
            Some(_) if max == min => MAX_SCORE,
            Some(count) => MAX_SCORE * (max - count) / (max - min),
        })
        .collect()
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
        let mut unlabelled = node("n3", "4", "8Gi");
        unlabelled.metadata.labels = None;
        cache.apply_node(unlabelled);
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
        let nodes = [cache.node("n1").expect("n1"), cache.node("n2").expect("n2"), cache.node("n3").expect("n3")];
        assert_eq!(scores(&cycle, &nodes), [0, MAX_SCORE, 0], "n3 has no hostname label: lowest score");
    }
}
