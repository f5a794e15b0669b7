//! Pinning a daemon pod to its node the way upstream does: a required node
//! affinity on `metadata.name` that the scheduler honours, never
//! `spec.nodeName`, so the pod still goes through scheduling (resources,
//! taints) and shows up as Pending when the node cannot take it.

use k8s_openapi::api::core::v1::{Affinity, NodeAffinity, NodeSelector, NodeSelectorRequirement, NodeSelectorTerm, Pod, PodSpec};

const NODE_NAME_FIELD: &str = "metadata.name";

/// Makes every required node selector term of `spec` select exactly `node`
/// (keeping their label expressions), adding a term when there is none.
pub fn pin_to_node(spec: &mut PodSpec, node: &str) {
    let pin = NodeSelectorRequirement { key: NODE_NAME_FIELD.into(), operator: "In".into(), values: Some(vec![node.into()]) };
    let affinity = spec.affinity.get_or_insert_with(Affinity::default);
    let node_affinity = affinity.node_affinity.get_or_insert_with(NodeAffinity::default);
    let required = node_affinity.required_during_scheduling_ignored_during_execution.get_or_insert_with(|| NodeSelector { node_selector_terms: Vec::new() });
    if required.node_selector_terms.is_empty() {
        required.node_selector_terms.push(NodeSelectorTerm::default());
    }
    for term in &mut required.node_selector_terms {
        let fields = term.match_fields.get_or_insert_with(Vec::new);
        fields.retain(|f| f.key != NODE_NAME_FIELD);
        fields.push(pin.clone());
    }
}

/// The node a daemon pod belongs to: where it is bound, else where it is pinned.
pub fn node_of(pod: &Pod) -> Option<String> {
    let spec = pod.spec.as_ref()?;
    if let Some(node) = spec.node_name.clone().filter(|n| !n.is_empty()) {
        return Some(node);
    }
    let required = spec.affinity.as_ref()?.node_affinity.as_ref()?.required_during_scheduling_ignored_during_execution.as_ref()?;
    let term = required.node_selector_terms.first()?;
    let field = term.match_fields.as_ref()?.iter().find(|f| f.key == NODE_NAME_FIELD && f.operator == "In")?;
    match field.values.as_deref() {
        Some([node]) => Some(node.clone()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pins_and_reads_back_the_node() {
        let mut spec = PodSpec::default();
        pin_to_node(&mut spec, "node-b");
        let pod = Pod { spec: Some(spec.clone()), ..Default::default() };
        assert_eq!(node_of(&pod).as_deref(), Some("node-b"));
        // Pinning again (another node) replaces the pin rather than adding one.
        pin_to_node(&mut spec, "node-c");
        let terms = &spec.affinity.and_then(|a| a.node_affinity).and_then(|n| n.required_during_scheduling_ignored_during_execution).expect("required").node_selector_terms;
        assert_eq!(terms[0].match_fields.as_ref().map(Vec::len), Some(1));
    }

    #[test]
    fn keeps_the_templates_label_expressions_in_every_term() {
        let disk = NodeSelectorRequirement { key: "disk".into(), operator: "In".into(), values: Some(vec!["ssd".into()]) };
        let mut spec = PodSpec {
            affinity: Some(Affinity {
                node_affinity: Some(NodeAffinity {
                    required_during_scheduling_ignored_during_execution: Some(NodeSelector {
                        node_selector_terms: vec![NodeSelectorTerm { match_expressions: Some(vec![disk.clone()]), match_fields: None }],
                    }),
                    ..Default::default()
                }),
                ..Default::default()
            }),
            ..Default::default()
        };
        pin_to_node(&mut spec, "n1");
        let term = &spec.affinity.and_then(|a| a.node_affinity).and_then(|n| n.required_during_scheduling_ignored_during_execution).expect("required").node_selector_terms[0];
        assert_eq!(term.match_expressions.as_deref(), Some(&[disk][..]));
        assert_eq!(term.match_fields.as_ref().and_then(|f| f[0].values.clone()), Some(vec!["n1".to_string()]));
    }

    #[test]
    fn a_bound_pod_belongs_to_its_node() {
        let pod = Pod { spec: Some(PodSpec { node_name: Some("n9".into()), ..Default::default() }), ..Default::default() };
        assert_eq!(node_of(&pod).as_deref(), Some("n9"));
        assert_eq!(node_of(&Pod::default()), None);
    }
}
