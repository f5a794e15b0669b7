//! InterPodAffinity (required terms): a node is refused when a pod already
//! placed in its topology domain has anti-affinity to the incoming pod, when
//! the incoming pod's affinity finds no matching pod in the node's domain
//! (unless no pod matches anywhere and the pod matches its own terms: the
//! first of a group), or when its anti-affinity finds one there.
//!
//! The domains are worked out once per cycle ([`AffinityState::compute`]),
//! so each node costs a few label lookups.

use std::collections::HashSet;

use super::super::cache::Cache;
use super::super::cycle::Cycle;
use super::super::node_info::NodeInfo;
use super::super::pod_info::PodInfo;
use super::Reason;

pub const EXISTING_ANTI_AFFINITY: &str = "node(s) didn't satisfy existing pods anti-affinity rules";
pub const AFFINITY: &str = "node(s) didn't match pod affinity rules";
pub const ANTI_AFFINITY: &str = "node(s) didn't match pod anti-affinity rules";

/// Topology domains (`topologyKey`, value) the filter checks nodes against.
#[derive(Debug, Default)]
pub struct AffinityState {
    /// Domains where a placed pod's required anti-affinity selects the incoming pod.
    existing_anti: HashSet<(String, String)>,
    /// For each required affinity term of the pod: its key and the values of
    /// the domains holding a pod it selects.
    affinity: Vec<(String, HashSet<String>)>,
    /// Some placed pod matches some required affinity term.
    any_affinity_match: bool,
    /// The pod matches every one of its own required affinity terms.
    matches_own_affinity: bool,
    /// For each required anti-affinity term: its key and the values of the domains holding a pod it selects.
    anti: Vec<(String, HashSet<String>)>,
}

fn domain<'a>(node: &'a NodeInfo, key: &str) -> Option<&'a String> {
    node.labels().get(key)
}

impl AffinityState {
    /// `None` when neither the pod nor any placed pod has required terms.
    pub fn compute(pod: &PodInfo, cache: &Cache) -> Option<AffinityState> {
        let mut state = AffinityState::default();
        for (node, existing) in cache.placed_pods_with_affinity() {
            if existing.key == pod.key {
                continue;
            }
            let Some(terms) = &existing.affinity else { continue };
            for term in terms.required_anti_affinity.iter().filter(|t| t.matches(pod)) {
                if let Some(value) = domain(node, &term.topology_key) {
                    state.existing_anti.insert((term.topology_key.clone(), value.clone()));
                }
            }
        }
        let own = pod.affinity.as_ref();
        let required = own.map(|t| &t.required_affinity[..]).unwrap_or(&[]);
        let required_anti = own.map(|t| &t.required_anti_affinity[..]).unwrap_or(&[]);
        if required.is_empty() && required_anti.is_empty() {
            return (!state.existing_anti.is_empty()).then_some(state);
        }
        state.affinity = required.iter().map(|t| (t.topology_key.clone(), HashSet::new())).collect();
        state.anti = required_anti.iter().map(|t| (t.topology_key.clone(), HashSet::new())).collect();
        state.matches_own_affinity = required.iter().all(|t| t.matches(pod));
        for (node, existing) in cache.placed_pods() {
            if existing.key == pod.key {
                continue;
            }
            for (term, (_, domains)) in required.iter().zip(state.affinity.iter_mut()) {
                if term.matches(existing) {
                    if let Some(value) = domain(node, &term.topology_key) {
                        domains.insert(value.clone());
                        state.any_affinity_match = true;
                    }
                }
            }
            for (term, (_, domains)) in required_anti.iter().zip(state.anti.iter_mut()) {
                if term.matches(existing) {
                    if let Some(value) = domain(node, &term.topology_key) {
                        domains.insert(value.clone());
                    }
                }
            }
        }
        Some(state)
    }
}

pub fn filter(cycle: &Cycle, node: &NodeInfo) -> Result<(), Reason> {
    let Some(state) = &cycle.pod_affinity else { return Ok(()) };
    let labels = node.labels();
    if state.existing_anti.iter().any(|(key, value)| labels.get(key) == Some(value)) {
        return Err(Reason::resolvable(EXISTING_ANTI_AFFINITY));
    }
    let mut pods_exist = true;
    for (key, domains) in &state.affinity {
        match labels.get(key) {
            None => return Err(Reason::unresolvable(AFFINITY)),
            Some(value) => pods_exist &= domains.contains(value),
        }
    }
    let first_of_its_group = !state.any_affinity_match && state.matches_own_affinity;
    if !pods_exist && !first_of_its_group {
        return Err(Reason::unresolvable(AFFINITY));
    }
    if state.anti.iter().any(|(key, domains)| labels.get(key).is_some_and(|v| domains.contains(v))) {
        return Err(Reason::resolvable(ANTI_AFFINITY));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scheduler::testing::{node, pod};
    use k8s_openapi::api::core::v1::{Affinity, Pod, PodAffinity, PodAffinityTerm, PodAntiAffinity};
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
    use std::sync::Arc;

    fn app(name: &str, app: &str) -> Pod {
        let mut p = pod(name, "0", "0");
        p.metadata.labels = Some([("app".to_string(), app.to_string())].into());
        p
    }

    fn term(app: &str) -> PodAffinityTerm {
        PodAffinityTerm {
            label_selector: Some(LabelSelector { match_labels: Some([("app".to_string(), app.to_string())].into()), ..Default::default() }),
            topology_key: "kubernetes.io/hostname".into(),
            ..Default::default()
        }
    }

    fn with_affinity(mut p: Pod, affinity: Option<&str>, anti: Option<&str>) -> Pod {
        p.spec.get_or_insert_default().affinity = Some(Affinity {
            pod_affinity: affinity.map(|a| PodAffinity { required_during_scheduling_ignored_during_execution: Some(vec![term(a)]), ..Default::default() }),
            pod_anti_affinity: anti
                .map(|a| PodAntiAffinity { required_during_scheduling_ignored_during_execution: Some(vec![term(a)]), ..Default::default() }),
            ..Default::default()
        });
        p
    }

    /// Two nodes; `placed` go to n1. Returns the verdicts for n1 and n2.
    fn verdicts(placed: Vec<Pod>, incoming: Pod) -> (Result<(), String>, Result<(), String>) {
        let mut cache = Cache::default();
        cache.apply_node(node("n1", "4", "8Gi"));
        cache.apply_node(node("n2", "4", "8Gi"));
        for mut p in placed {
            p.spec.get_or_insert_default().node_name = Some("n1".into());
            cache.apply_pod(p);
        }
        let cycle = Cycle::new(Arc::new(PodInfo::new(Arc::new(incoming))), &cache).expect("cycle");
        let check = |n: &str| filter(&cycle, cache.node(n).expect("node")).map_err(|r| r.message);
        (check("n1"), check("n2"))
    }

    #[test]
    fn affinity_requires_a_matching_pod_in_the_domain() {
        let (n1, n2) = verdicts(vec![app("db", "db")], with_affinity(app("web", "web"), Some("db"), None));
        assert_eq!((n1, n2), (Ok(()), Err(AFFINITY.to_string())));
    }

    #[test]
    fn the_first_pod_of_a_self_affine_group_goes_anywhere() {
        let (n1, n2) = verdicts(vec![], with_affinity(app("web", "web"), Some("web"), None));
        assert_eq!((n1, n2), (Ok(()), Ok(())));
        let (n1, _) = verdicts(vec![], with_affinity(app("web", "web"), Some("db"), None));
        assert_eq!(n1, Err(AFFINITY.to_string()), "nothing matches and the pod does not match itself");
    }

    #[test]
    fn anti_affinity_both_ways_keeps_pods_apart() {
        let (n1, n2) = verdicts(vec![app("web-1", "web")], with_affinity(app("web-2", "web"), None, Some("web")));
        assert_eq!((n1, n2), (Err(ANTI_AFFINITY.to_string()), Ok(())));
        let (n1, n2) = verdicts(vec![with_affinity(app("web-1", "web"), None, Some("web"))], app("web-2", "web"));
        assert_eq!((n1, n2), (Err(EXISTING_ANTI_AFFINITY.to_string()), Ok(())));
    }
}
