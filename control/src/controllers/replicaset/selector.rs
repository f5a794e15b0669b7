//! Label selectors of workload controllers, as something a pod's labels can be
//! matched against. An empty selector selects nothing here: API validation
//! rejects it anyway, and a controller that claimed every pod of a namespace
//! would be far worse than one that does nothing.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use kube::core::{Selector, SelectorExt};

use crate::controllers::ControllerError;

/// A parsed, non-empty selector.
#[derive(Clone, Debug, PartialEq)]
pub struct PodSelector(Selector);

impl PodSelector {
    /// From a `LabelSelector` (ReplicaSet, Deployment).
    pub fn from_label_selector(selector: Option<&LabelSelector>) -> Result<Self, ControllerError> {
        let selector = selector.cloned().unwrap_or_default();
        let parsed = Selector::try_from(selector).map_err(|e| ControllerError::Invalid(format!("invalid selector: {e}")))?;
        Self::non_empty(parsed)
    }

    /// From an equality map (ReplicationController).
    pub fn from_map(selector: Option<&BTreeMap<String, String>>) -> Result<Self, ControllerError> {
        let parsed: Selector = selector.cloned().unwrap_or_default().into_iter().collect();
        Self::non_empty(parsed)
    }

    fn non_empty(selector: Selector) -> Result<Self, ControllerError> {
        if selector.selects_all() {
            return Err(ControllerError::Invalid("empty selector: it would select every pod".into()));
        }
        Ok(PodSelector(selector))
    }

    /// Whether an object with `labels` is selected.
    pub fn matches(&self, labels: Option<&BTreeMap<String, String>>) -> bool {
        match labels {
            Some(labels) => self.0.matches(labels),
            None => self.0.matches(&BTreeMap::new()),
        }
    }
}

#[cfg(test)]
mod tests {
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelectorRequirement;

    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn match_labels_and_expressions_must_all_hold() {
        let selector = LabelSelector {
            match_labels: Some(labels(&[("app", "web")])),
            match_expressions: Some(vec![LabelSelectorRequirement {
                key: "tier".into(),
                operator: "In".into(),
                values: Some(vec!["fe".into(), "be".into()]),
            }]),
        };
        let selector = PodSelector::from_label_selector(Some(&selector)).expect("valid");
        assert!(selector.matches(Some(&labels(&[("app", "web"), ("tier", "fe"), ("x", "y")]))));
        assert!(!selector.matches(Some(&labels(&[("app", "web")]))));
        assert!(!selector.matches(Some(&labels(&[("app", "debug"), ("tier", "fe")]))));
        assert!(!selector.matches(None));
    }

    #[test]
    fn a_map_selector_is_equality() {
        let selector = PodSelector::from_map(Some(&labels(&[("app", "web")]))).expect("valid");
        assert!(selector.matches(Some(&labels(&[("app", "web")]))));
        assert!(!selector.matches(Some(&labels(&[("app", "debug")]))));
    }

    #[test]
    fn empty_or_malformed_selectors_select_nothing() {
        assert!(PodSelector::from_map(None).is_err());
        assert!(PodSelector::from_label_selector(Some(&LabelSelector::default())).is_err());
        let bad = LabelSelector {
            match_expressions: Some(vec![LabelSelectorRequirement { key: "a".into(), operator: "Near".into(), values: None }]),
            ..Default::default()
        };
        assert!(PodSelector::from_label_selector(Some(&bad)).is_err());
    }
}
