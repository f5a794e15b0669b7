//! NodeAffinity (preferred): each `preferredDuringScheduling` term the node
//! matches adds its weight; normalised so the best node scores 100.

use super::super::cycle::Cycle;
use super::super::node_info::NodeInfo;
use super::super::node_selector::term_matches;
use super::normalize;

pub fn scores(cycle: &Cycle, nodes: &[&NodeInfo]) -> Vec<i64> {
    let preferred = cycle
        .pod
        .pod
        .spec
        .as_ref()
        .and_then(|s| s.affinity.as_ref())
        .and_then(|a| a.node_affinity.as_ref())
        .and_then(|a| a.preferred_during_scheduling_ignored_during_execution.as_deref())
        .unwrap_or(&[]);
    if preferred.is_empty() {
        return vec![0; nodes.len()];
    }
    let mut raw: Vec<i64> = nodes
        .iter()
        .map(|n| {
            let Some(node) = n.node.as_deref() else { return 0 };
            preferred.iter().filter(|p| term_matches(&p.preference, node)).map(|p| i64::from(p.weight)).sum()
        })
        .collect();
    normalize(&mut raw);
    raw
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scheduler::scores::MAX_SCORE;
    use crate::scheduler::testing::{node, node_info, pod};
    use k8s_openapi::api::core::v1::{Affinity, NodeAffinity, NodeSelectorRequirement, NodeSelectorTerm, PreferredSchedulingTerm};

    #[test]
    fn matching_preferences_add_their_weights() {
        let mut p = pod("p", "0", "0");
        let prefer = |weight: i32, key: &str| PreferredSchedulingTerm {
            weight,
            preference: NodeSelectorTerm {
                match_expressions: Some(vec![NodeSelectorRequirement { key: key.into(), operator: "Exists".into(), values: None }]),
                ..Default::default()
            },
        };
        p.spec.get_or_insert_default().affinity = Some(Affinity {
            node_affinity: Some(NodeAffinity {
                preferred_during_scheduling_ignored_during_execution: Some(vec![prefer(10, "ssd"), prefer(30, "gpu")]),
                ..Default::default()
            }),
            ..Default::default()
        });
        let mut ssd = node("n1", "1", "1Gi");
        ssd.metadata.labels.get_or_insert_default().insert("ssd".into(), "".into());
        let mut both = node("n2", "1", "1Gi");
        both.metadata.labels.get_or_insert_default().extend([("ssd".to_string(), String::new()), ("gpu".to_string(), String::new())]);
        let (a, b, c) = (node_info(ssd, &[]), node_info(both, &[]), node_info(node("n3", "1", "1Gi"), &[]));
        assert_eq!(scores(&Cycle::for_test(&p), &[&a, &b, &c]), [MAX_SCORE / 4, MAX_SCORE, 0]);
    }
}
