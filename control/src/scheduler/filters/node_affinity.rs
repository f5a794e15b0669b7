//! NodeAffinity: the pod's `nodeSelector`, the node selector of its
//! RuntimeClass, and its required node affinity (any one of the
//! `nodeSelectorTerms`) must all match the node.

use super::super::cycle::Cycle;
use super::super::node_info::NodeInfo;
use super::super::node_selector::{selector_matches, term_matches};
use super::Reason;

pub const REASON: &str = "node(s) didn't match Pod's node affinity/selector";

pub fn filter(cycle: &Cycle, node: &NodeInfo) -> Result<(), Reason> {
    let Some(n) = node.node.as_deref() else { return Ok(()) };
    let spec = cycle.pod.pod.spec.as_ref();
    let labels = node.labels();
    let selector_ok = spec.and_then(|s| s.node_selector.as_ref()).is_none_or(|sel| selector_matches(sel, labels));
    let runtime_ok = selector_matches(&cycle.runtime_node_selector, labels);
    let required = spec
        .and_then(|s| s.affinity.as_ref())
        .and_then(|a| a.node_affinity.as_ref())
        .and_then(|a| a.required_during_scheduling_ignored_during_execution.as_ref());
    let affinity_ok = required.is_none_or(|r| r.node_selector_terms.iter().any(|t| term_matches(t, n)));
    if selector_ok && runtime_ok && affinity_ok {
        Ok(())
    } else {
        Err(Reason::unresolvable(REASON))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scheduler::testing::{node, node_info, pod};
    use k8s_openapi::api::core::v1::{Affinity, NodeAffinity, NodeSelector, NodeSelectorRequirement, NodeSelectorTerm};

    #[test]
    fn node_selector_must_match_labels() {
        let mut p = pod("p", "0", "0");
        p.spec.get_or_insert_default().node_selector = Some([("disk".to_string(), "ssd".to_string())].into());
        let mut ssd = node("n1", "1", "1Gi");
        assert_eq!(filter(&Cycle::for_test(&p), &node_info(ssd.clone(), &[])).map_err(|r| r.message), Err(REASON.into()));
        ssd.metadata.labels.get_or_insert_default().insert("disk".into(), "ssd".into());
        assert!(filter(&Cycle::for_test(&p), &node_info(ssd, &[])).is_ok());
    }

    #[test]
    fn required_affinity_needs_one_matching_term() {
        let mut p = pod("p", "0", "0");
        let term = |name: &str| NodeSelectorTerm {
            match_fields: Some(vec![NodeSelectorRequirement { key: "metadata.name".into(), operator: "In".into(), values: Some(vec![name.into()]) }]),
            ..Default::default()
        };
        p.spec.get_or_insert_default().affinity = Some(Affinity {
            node_affinity: Some(NodeAffinity {
                required_during_scheduling_ignored_during_execution: Some(NodeSelector { node_selector_terms: vec![term("n2"), term("n3")] }),
                ..Default::default()
            }),
            ..Default::default()
        });
        assert!(filter(&Cycle::for_test(&p), &node_info(node("n1", "1", "1Gi"), &[])).is_err());
        assert!(filter(&Cycle::for_test(&p), &node_info(node("n3", "1", "1Gi"), &[])).is_ok());
    }
}
