//! Node selector terms (`nodeSelectorTerms`, `preference`) matched against a
//! node: `matchExpressions` on labels with In/NotIn/Exists/DoesNotExist/Gt/Lt
//! and `matchFields` on `metadata.name`, all ANDed within a term.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Node, NodeSelectorRequirement, NodeSelectorTerm};

/// Whether one requirement holds for `value` (the label or field, if present).
fn requirement_holds(req: &NodeSelectorRequirement, value: Option<&str>) -> bool {
    let values = req.values.as_deref().unwrap_or(&[]);
    let as_int = |s: &str| s.parse::<i64>().ok();
    match req.operator.as_str() {
        "In" => value.is_some_and(|v| values.iter().any(|w| w == v)),
        "NotIn" => value.is_none_or(|v| !values.iter().any(|w| w == v)),
        "Exists" => value.is_some(),
        "DoesNotExist" => value.is_none(),
        // Gt/Lt compare integers; anything unparsable does not match.
        "Gt" => matches!((value.and_then(as_int), values.first().and_then(|w| as_int(w))), (Some(v), Some(w)) if v > w),
        "Lt" => matches!((value.and_then(as_int), values.first().and_then(|w| as_int(w))), (Some(v), Some(w)) if v < w),
        _ => false,
    }
}

/// Whether a term matches the node. A term with no requirements matches nothing.
pub fn term_matches(term: &NodeSelectorTerm, node: &Node) -> bool {
    let expressions = term.match_expressions.as_deref().unwrap_or(&[]);
    let fields = term.match_fields.as_deref().unwrap_or(&[]);
    if expressions.is_empty() && fields.is_empty() {
        return false;
    }
    let labels = node.metadata.labels.as_ref();
    let labels_hold = expressions.iter().all(|req| requirement_holds(req, labels.and_then(|l| l.get(&req.key)).map(String::as_str)));
    let fields_hold = fields.iter().all(|req| {
        let value = match req.key.as_str() {
            "metadata.name" => node.metadata.name.as_deref(),
            _ => None,
        };
        requirement_holds(req, value)
    });
    labels_hold && fields_hold
}

/// Whether every `key: value` of a plain `nodeSelector` is among the labels.
pub fn selector_matches(selector: &BTreeMap<String, String>, labels: &BTreeMap<String, String>) -> bool {
    selector.iter().all(|(k, v)| labels.get(k) == Some(v))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scheduler::testing::node;

    fn req(key: &str, op: &str, values: &[&str]) -> NodeSelectorRequirement {
        NodeSelectorRequirement { key: key.into(), operator: op.into(), values: Some(values.iter().map(|v| v.to_string()).collect()) }
    }

    fn term(expressions: Vec<NodeSelectorRequirement>, fields: Vec<NodeSelectorRequirement>) -> NodeSelectorTerm {
        NodeSelectorTerm { match_expressions: Some(expressions), match_fields: Some(fields) }
    }

    fn labelled(pairs: &[(&str, &str)]) -> Node {
        let mut n = node("n1", "1", "1Gi");
        for (k, v) in pairs {
            n.metadata.labels.get_or_insert_default().insert(k.to_string(), v.to_string());
        }
        n
    }

    #[test]
    fn operators_behave_like_upstream() {
        let n = labelled(&[("zone", "a"), ("cores", "8")]);
        assert!(term_matches(&term(vec![req("zone", "In", &["a", "b"])], vec![]), &n));
        assert!(!term_matches(&term(vec![req("zone", "NotIn", &["a"])], vec![]), &n));
        assert!(term_matches(&term(vec![req("disk", "NotIn", &["ssd"])], vec![]), &n), "NotIn holds for a missing label");
        assert!(term_matches(&term(vec![req("zone", "Exists", &[]), req("gpu", "DoesNotExist", &[])], vec![]), &n));
        assert!(term_matches(&term(vec![req("cores", "Gt", &["4"]), req("cores", "Lt", &["16"])], vec![]), &n));
        assert!(!term_matches(&term(vec![req("cores", "Gt", &["8"])], vec![]), &n));
        assert!(!term_matches(&term(vec![req("zone", "Gt", &["1"])], vec![]), &n), "a non-integer label is not greater");
    }

    #[test]
    fn match_fields_select_by_node_name_and_empty_terms_match_nothing() {
        let n = labelled(&[]);
        assert!(term_matches(&term(vec![], vec![req("metadata.name", "In", &["n1"])]), &n));
        assert!(!term_matches(&term(vec![], vec![req("metadata.name", "In", &["n2"])]), &n));
        assert!(!term_matches(&term(vec![], vec![]), &n));
    }
}
