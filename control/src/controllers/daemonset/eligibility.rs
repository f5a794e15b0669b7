//! Which nodes a DaemonSet's pod should run on: the pod's `nodeSelector`, its
//! required node affinity, and the node's NoSchedule / NoExecute taints
//! against the pod's tolerations (daemon tolerations included), matched with
//! the same rules the scheduler uses.

use k8s_openapi::api::core::v1::{Node, PodSpec};

use crate::scheduler::node_selector::{selector_matches, term_matches};
use crate::scheduler::taints::tolerates;

/// Whether a pod with `spec` (before pinning) should run on `node`.
pub fn should_run(node: &Node, spec: &PodSpec) -> bool {
    if node.metadata.deletion_timestamp.is_some() {
        return false;
    }
    let empty = Default::default();
    let labels = node.metadata.labels.as_ref().unwrap_or(&empty);
    if let Some(selector) = &spec.node_selector {
        if !selector_matches(selector, labels) {
            return false;
        }
    }
    let required = spec.affinity.as_ref().and_then(|a| a.node_affinity.as_ref()).and_then(|n| n.required_during_scheduling_ignored_during_execution.as_ref());
    if let Some(required) = required {
        if !required.node_selector_terms.iter().any(|term| term_matches(term, node)) {
            return false;
        }
    }
    let tolerations = spec.tolerations.as_deref().unwrap_or(&[]);
    let taints = node.spec.as_ref().and_then(|s| s.taints.as_deref()).unwrap_or(&[]);
    taints
        .iter()
        .filter(|taint| matches!(taint.effect.as_str(), "NoSchedule" | "NoExecute"))
        .all(|taint| tolerations.iter().any(|t| tolerates(t, taint)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::controllers::daemonset::tolerations::add_daemon_tolerations;
    use k8s_openapi::api::core::v1::{Affinity, NodeAffinity, NodeSelector, NodeSelectorRequirement, NodeSelectorTerm, NodeSpec, Taint, Toleration};
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

    fn node(name: &str, labels: &[(&str, &str)], taints: &[(&str, &str)]) -> Node {
        Node {
            metadata: ObjectMeta {
                name: Some(name.into()),
                labels: Some(labels.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()),
                ..Default::default()
            },
            spec: Some(NodeSpec {
                taints: Some(taints.iter().map(|(k, e)| Taint { key: k.to_string(), effect: e.to_string(), ..Default::default() }).collect()),
                ..Default::default()
            }),
            status: None,
        }
    }

    #[test]
    fn node_selector_and_required_affinity_choose_nodes() {
        let ssd = node("a", &[("disk", "ssd")], &[]);
        let hdd = node("b", &[("disk", "hdd")], &[]);
        let by_selector = PodSpec { node_selector: Some([("disk".to_string(), "ssd".to_string())].into()), ..Default::default() };
        assert!(should_run(&ssd, &by_selector));
        assert!(!should_run(&hdd, &by_selector));
        let by_affinity = PodSpec {
            affinity: Some(Affinity {
                node_affinity: Some(NodeAffinity {
                    required_during_scheduling_ignored_during_execution: Some(NodeSelector {
                        node_selector_terms: vec![NodeSelectorTerm {
                            match_expressions: Some(vec![NodeSelectorRequirement { key: "disk".into(), operator: "NotIn".into(), values: Some(vec!["ssd".into()]) }]),
                            match_fields: None,
                        }],
                    }),
                    ..Default::default()
                }),
                ..Default::default()
            }),
            ..Default::default()
        };
        assert!(!should_run(&ssd, &by_affinity));
        assert!(should_run(&hdd, &by_affinity));
    }

    #[test]
    fn taints_keep_pods_away_unless_tolerated() {
        let mut spec = PodSpec::default();
        add_daemon_tolerations(&mut spec);
        assert!(should_run(&node("a", &[], &[("node.kubernetes.io/unschedulable", "NoSchedule")]), &spec), "cordoned nodes keep daemons");
        assert!(should_run(&node("a", &[], &[("dedicated", "PreferNoSchedule")]), &spec), "a preference is not a rule");
        let gpu = node("a", &[], &[("gpu", "NoSchedule")]);
        assert!(!should_run(&gpu, &spec));
        spec.tolerations.get_or_insert_default().push(Toleration { key: Some("gpu".into()), operator: Some("Exists".into()), ..Default::default() });
        assert!(should_run(&gpu, &spec));
    }
}
