//! Label selectors in object specs (`spec.selector` of workloads): their
//! syntax, and whether they select a given set of labels.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, LabelSelectorRequirement};

use super::checks::syntax;
use super::meta::validate_labels;
use super::names;
use super::path::FieldPath;
use crate::error::FieldError;

const OPERATORS: &[&str] = &["In", "NotIn", "Exists", "DoesNotExist"];

/// Check the syntax of `selector`.
pub fn validate_label_selector(selector: &LabelSelector, path: &FieldPath, errs: &mut Vec<FieldError>) {
    validate_labels(selector.match_labels.as_ref(), &path.child("matchLabels"), errs);
    for (i, req) in selector.match_expressions.iter().flatten().enumerate() {
        let p = path.child("matchExpressions").index(i);
        syntax(errs, &p.child("key"), &req.key, names::qualified_name);
        let values = req.values.as_deref().unwrap_or_default();
        match req.operator.as_str() {
            "In" | "NotIn" if values.is_empty() => errs.push(FieldError {
                detail: "must be specified when `operator` is 'In' or 'NotIn'".into(),
                ..FieldError::required(p.child("values"))
            }),
            "Exists" | "DoesNotExist" if !values.is_empty() => errs.push(FieldError::forbidden(
                p.child("values"),
                "may not be specified when `operator` is 'Exists' or 'DoesNotExist'",
            )),
            op if !OPERATORS.contains(&op) => {
                errs.push(FieldError::not_supported(p.child("operator"), op, OPERATORS));
            }
            _ => {}
        }
        for (j, value) in values.iter().enumerate() {
            syntax(errs, &p.child("values").index(j), value, names::label_value);
        }
    }
}

/// A selector with neither matchLabels nor matchExpressions selects
/// everything, which no workload may do.
pub fn is_empty(selector: &LabelSelector) -> bool {
    selector.match_labels.as_ref().is_none_or(BTreeMap::is_empty)
        && selector.match_expressions.as_ref().is_none_or(Vec::is_empty)
}

/// Whether `selector` selects an object with `labels`.
pub fn matches(selector: &LabelSelector, labels: &BTreeMap<String, String>) -> bool {
    let labels_match = selector.match_labels.iter().flatten().all(|(k, v)| labels.get(k) == Some(v));
    labels_match && selector.match_expressions.iter().flatten().all(|req| requirement_matches(req, labels))
}

fn requirement_matches(req: &LabelSelectorRequirement, labels: &BTreeMap<String, String>) -> bool {
    let value = labels.get(&req.key);
    let listed = |v: &String| req.values.iter().flatten().any(|x| x == v);
    match req.operator.as_str() {
        "In" => value.is_some_and(listed),
        "NotIn" => !value.is_some_and(listed),
        "Exists" => value.is_some(),
        "DoesNotExist" => value.is_none(),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn selector(v: serde_json::Value) -> LabelSelector {
        serde_json::from_value(v).expect("well-formed selector")
    }

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn matching() {
        let s = selector(json!({"matchLabels": {"app": "web"}, "matchExpressions": [
            {"key": "tier", "operator": "In", "values": ["front", "edge"]},
            {"key": "canary", "operator": "DoesNotExist"},
            {"key": "env", "operator": "NotIn", "values": ["dev"]}]}));
        assert!(matches(&s, &labels(&[("app", "web"), ("tier", "front")])));
        assert!(!matches(&s, &labels(&[("app", "web"), ("tier", "back")])));
        assert!(!matches(&s, &labels(&[("app", "web"), ("tier", "edge"), ("canary", "1")])));
        assert!(!matches(&s, &labels(&[("app", "web"), ("tier", "edge"), ("env", "dev")])));
        assert!(!matches(&s, &labels(&[("tier", "edge")])));
        let exists = selector(json!({"matchExpressions": [{"key": "app", "operator": "Exists"}]}));
        assert!(matches(&exists, &labels(&[("app", "x")])));
        assert!(is_empty(&selector(json!({"matchLabels": {}}))));
        assert!(!is_empty(&exists));
    }

    #[test]
    fn syntax_errors() {
        let s = selector(json!({"matchExpressions": [
            {"key": "a", "operator": "In"},
            {"key": "b", "operator": "Exists", "values": ["x"]},
            {"key": "c", "operator": "Near", "values": ["x"]}]}));
        let mut errs = Vec::new();
        validate_label_selector(&s, &FieldPath::new("spec").child("selector"), &mut errs);
        let rendered: Vec<String> = errs.iter().map(ToString::to_string).collect();
        assert_eq!(rendered[0], "spec.selector.matchExpressions[0].values: Required value: must be specified when `operator` is 'In' or 'NotIn'");
        assert!(rendered[1].starts_with("spec.selector.matchExpressions[1].values: Forbidden"));
        assert!(rendered[2].starts_with("spec.selector.matchExpressions[2].operator: Unsupported value: \"Near\""));
        assert_eq!(rendered.len(), 3);
    }
}
