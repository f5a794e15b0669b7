//! Pod (anti-)affinity terms, parsed once per pod: which pods a term selects
//! (label selector and namespaces) and over which topology (`topologyKey`,
//! e.g. `kubernetes.io/hostname` or a zone label).
//!
//! A `namespaceSelector` is matched against the namespace's
//! `kubernetes.io/metadata.name` label, the one label every namespace has;
//! the scheduler does not watch Namespaces for others.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Pod, PodAffinityTerm};
use kube::core::{Selector, SelectorExt};

use super::pod_info::PodInfo;

/// The label every namespace carries with its own name.
const NAMESPACE_NAME_LABEL: &str = "kubernetes.io/metadata.name";

#[derive(Debug)]
enum Namespaces {
    /// The listed namespaces (the pod's own when none are listed).
    Listed(Vec<String>),
    /// `namespaceSelector: {}`: every namespace.
    All,
    /// A non-empty `namespaceSelector`, plus any listed namespaces.
    Matching(Selector, Vec<String>),
}

/// One term, ready to match pods.
#[derive(Debug)]
pub struct AffinityTerm {
    /// `None`: an absent or invalid selector, which selects no pod.
    selector: Option<Selector>,
    namespaces: Namespaces,
    pub topology_key: String,
    /// The preference's weight; 1 for required terms.
    pub weight: i64,
}

impl AffinityTerm {
    pub fn new(term: &PodAffinityTerm, own_namespace: &str, weight: i64) -> AffinityTerm {
        let listed = term.namespaces.clone().unwrap_or_default();
        let namespaces = match &term.namespace_selector {
            None if listed.is_empty() => Namespaces::Listed(vec![own_namespace.to_string()]),
            None => Namespaces::Listed(listed),
            Some(sel) if sel.match_labels.as_ref().is_none_or(|m| m.is_empty()) && sel.match_expressions.as_ref().is_none_or(|e| e.is_empty()) => {
                Namespaces::All
            }
            Some(sel) => match Selector::try_from(sel.clone()) {
                Ok(selector) => Namespaces::Matching(selector, listed),
                // An invalid namespace selector selects only the listed namespaces.
                Err(_) => Namespaces::Listed(listed),
            },
        };
        AffinityTerm {
            selector: term.label_selector.clone().and_then(|s| Selector::try_from(s).ok()),
            namespaces,
            topology_key: term.topology_key.clone(),
            weight,
        }
    }

    /// Whether the term selects `pod`.
    pub fn matches(&self, pod: &PodInfo) -> bool {
        let Some(selector) = &self.selector else { return false };
        let namespace = pod.namespace();
        let in_scope = match &self.namespaces {
            Namespaces::All => true,
            Namespaces::Listed(names) => names.iter().any(|n| n == namespace),
            Namespaces::Matching(sel, names) => {
                names.iter().any(|n| n == namespace) || sel.matches(&BTreeMap::from([(NAMESPACE_NAME_LABEL.to_string(), namespace.to_string())]))
            }
        };
        in_scope && selector.matches(pod.labels())
    }
}

/// Every pod (anti-)affinity term of one pod.
#[derive(Debug, Default)]
pub struct AffinityTerms {
    pub required_affinity: Vec<AffinityTerm>,
    pub required_anti_affinity: Vec<AffinityTerm>,
    pub preferred_affinity: Vec<AffinityTerm>,
    pub preferred_anti_affinity: Vec<AffinityTerm>,
}

impl AffinityTerms {
    /// The pod's terms; `None` when it has none (most pods).
    pub fn of(pod: &Pod) -> Option<AffinityTerms> {
        let affinity = pod.spec.as_ref()?.affinity.as_ref()?;
        let namespace = pod.metadata.namespace.as_deref().unwrap_or("default");
        let required = |terms: Option<&Vec<PodAffinityTerm>>| terms.into_iter().flatten().map(|t| AffinityTerm::new(t, namespace, 1)).collect();
        let a = affinity.pod_affinity.as_ref();
        let anti = affinity.pod_anti_affinity.as_ref();
        let terms = AffinityTerms {
            required_affinity: required(a.and_then(|a| a.required_during_scheduling_ignored_during_execution.as_ref())),
            required_anti_affinity: required(anti.and_then(|a| a.required_during_scheduling_ignored_during_execution.as_ref())),
            preferred_affinity: a
                .and_then(|a| a.preferred_during_scheduling_ignored_during_execution.as_ref())
                .into_iter()
                .flatten()
                .map(|w| AffinityTerm::new(&w.pod_affinity_term, namespace, i64::from(w.weight)))
                .collect(),
            preferred_anti_affinity: anti
                .and_then(|a| a.preferred_during_scheduling_ignored_during_execution.as_ref())
                .into_iter()
                .flatten()
                .map(|w| AffinityTerm::new(&w.pod_affinity_term, namespace, i64::from(w.weight)))
                .collect(),
        };
        let empty = terms.required_affinity.is_empty()
            && terms.required_anti_affinity.is_empty()
            && terms.preferred_affinity.is_empty()
            && terms.preferred_anti_affinity.is_empty();
        (!empty).then_some(terms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scheduler::testing::pod;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
    use std::sync::Arc;

    fn info(name: &str, namespace: &str, app: &str) -> PodInfo {
        let mut p = pod(name, "0", "0");
        p.metadata.namespace = Some(namespace.into());
        p.metadata.labels = Some([("app".to_string(), app.to_string())].into());
        PodInfo::new(Arc::new(p))
    }

    fn term(namespaces: Option<Vec<String>>, namespace_selector: Option<LabelSelector>) -> PodAffinityTerm {
        PodAffinityTerm {
            label_selector: Some(LabelSelector { match_labels: Some([("app".to_string(), "db".to_string())].into()), ..Default::default() }),
            namespaces,
            namespace_selector,
            topology_key: "kubernetes.io/hostname".into(),
            ..Default::default()
        }
    }

    #[test]
    fn a_term_selects_by_labels_in_its_namespaces() {
        let own = AffinityTerm::new(&term(None, None), "prod", 1);
        assert!(own.matches(&info("a", "prod", "db")));
        assert!(!own.matches(&info("b", "dev", "db")), "the pod's own namespace only");
        assert!(!own.matches(&info("c", "prod", "web")));
        let all = AffinityTerm::new(&term(None, Some(LabelSelector::default())), "prod", 1);
        assert!(all.matches(&info("b", "dev", "db")));
        let by_name = LabelSelector { match_labels: Some([(NAMESPACE_NAME_LABEL.to_string(), "dev".to_string())].into()), ..Default::default() };
        let selected = AffinityTerm::new(&term(Some(vec!["qa".into()]), Some(by_name)), "prod", 1);
        assert!(selected.matches(&info("b", "dev", "db")));
        assert!(selected.matches(&info("b", "qa", "db")));
        assert!(!selected.matches(&info("a", "prod", "db")));
    }

    #[test]
    fn a_term_without_a_selector_selects_nothing() {
        let mut t = term(None, None);
        t.label_selector = None;
        assert!(!AffinityTerm::new(&t, "prod", 1).matches(&info("a", "prod", "db")));
    }
}
