//! PodTopologySpread (`whenUnsatisfiable: DoNotSchedule`): placing the pod on
//! a node must not make the number of matching pods in the node's domain
//! exceed the emptiest domain's by more than `maxSkew`. Domains are the
//! values of `topologyKey` on the nodes the pod could use (its node
//! affinity/selector honoured, taints ignored: upstream's default policies),
//! counted once per cycle ([`SpreadState::compute`]).

use std::collections::HashMap;

use k8s_openapi::api::core::v1::TopologySpreadConstraint;
use kube::core::{Expression, Selector, SelectorExt};

use super::super::cache::Cache;
use super::super::cycle::Cycle;
use super::super::node_info::NodeInfo;
use super::super::taints::{effective_taints, tolerates};
use super::{node_affinity, Reason};

pub const REASON: &str = "node(s) didn't match pod topology spread constraints";
pub const MISSING_LABEL: &str = "node(s) didn't match pod topology spread constraints (missing required label)";

/// One constraint with the matching pods counted per domain.
#[derive(Debug)]
pub struct Constraint {
    pub max_skew: i64,
    pub topology_key: String,
    /// DoNotSchedule (a filter) rather than ScheduleAnyway (a score).
    pub hard: bool,
    min_domains: i64,
    /// 1 when the pod's own labels match the selector: placing it adds one.
    self_match: i64,
    /// Matching pods by domain value; every eligible domain is present.
    pub counts: HashMap<String, i64>,
}

impl Constraint {
    /// Pods the emptiest domain holds (0 while there are fewer than `minDomains` domains).
    fn min_count(&self) -> i64 {
        if (self.counts.len() as i64) < self.min_domains {
            return 0;
        }
        self.counts.values().copied().min().unwrap_or(0)
    }
}

#[derive(Debug, Default)]
pub struct SpreadState {
    pub constraints: Vec<Constraint>,
}

/// The constraint's selector plus `matchLabelKeys` (values from the pod's own labels).
fn selector_of(c: &TopologySpreadConstraint, cycle: &Cycle) -> Option<Selector> {
    let mut selector = Selector::try_from(c.label_selector.clone()?).ok()?;
    for key in c.match_label_keys.iter().flatten() {
        if let Some(value) = cycle.pod.labels().get(key) {
            selector.extend(Expression::Equal(key.clone(), value.clone()));
        }
    }
    Some(selector)
}

impl SpreadState {
    /// `None` when the pod has no constraints.
    pub fn compute(cycle: &Cycle, cache: &Cache) -> Option<SpreadState> {
        let declared = cycle.pod.pod.spec.as_ref()?.topology_spread_constraints.as_ref().filter(|c| !c.is_empty())?;
        let selectors: Vec<Option<Selector>> = declared.iter().map(|c| selector_of(c, cycle)).collect();
        let mut constraints: Vec<Constraint> = declared
            .iter()
            .zip(&selectors)
            .map(|(c, selector)| Constraint {
                max_skew: i64::from(c.max_skew.max(1)),
                topology_key: c.topology_key.clone(),
                hard: c.when_unsatisfiable != "ScheduleAnyway",
                min_domains: i64::from(c.min_domains.unwrap_or(1)),
                self_match: i64::from(selector.as_ref().is_some_and(|s| s.matches(cycle.pod.labels()))),
                counts: HashMap::new(),
            })
            .collect();
        for node in cache.nodes() {
            let labels = node.labels();
            if !constraints.iter().all(|c| labels.contains_key(&c.topology_key)) {
                continue;
            }
            let eligible = declared.iter().all(|c| {
                let affinity_ok = c.node_affinity_policy.as_deref() == Some("Ignore") || node_affinity::filter(cycle, node).is_ok();
                let taints_ok = c.node_taints_policy.as_deref() != Some("Honor") || taints_tolerated(cycle, node);
                affinity_ok && taints_ok
            });
            if !eligible {
                continue;
            }
            for (constraint, selector) in constraints.iter_mut().zip(&selectors) {
                let Some(value) = labels.get(&constraint.topology_key) else { continue };
                let matching = node
                    .pods
                    .values()
                    .filter(|p| p.key != cycle.pod.key && p.namespace() == cycle.pod.namespace() && !p.is_deleting())
                    .filter(|p| selector.as_ref().is_some_and(|s| s.matches(p.labels())))
                    .count() as i64;
                *constraint.counts.entry(value.clone()).or_default() += matching;
            }
        }
        Some(SpreadState { constraints })
    }
}

fn taints_tolerated(cycle: &Cycle, node: &NodeInfo) -> bool {
    let Some(n) = node.node.as_deref() else { return false };
    effective_taints(n)
        .iter()
        .filter(|t| t.effect == "NoSchedule" || t.effect == "NoExecute")
        .all(|t| cycle.tolerations.iter().any(|tol| tolerates(tol, t)))
}

pub fn filter(cycle: &Cycle, node: &NodeInfo) -> Result<(), Reason> {
    let Some(state) = &cycle.spread else { return Ok(()) };
    let labels = node.labels();
    for c in state.constraints.iter().filter(|c| c.hard) {
        let Some(value) = labels.get(&c.topology_key) else { return Err(Reason::unresolvable(MISSING_LABEL)) };
        let after = c.counts.get(value).copied().unwrap_or(0) + c.self_match;
        if after - c.min_count() > c.max_skew {
            return Err(Reason::resolvable(REASON));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scheduler::pod_info::PodInfo;
    use crate::scheduler::testing::{node, pod};
    use k8s_openapi::api::core::v1::Pod;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
    use std::sync::Arc;

    fn web(name: &str) -> Pod {
        let mut p = pod(name, "0", "0");
        p.metadata.labels = Some([("app".to_string(), "web".to_string())].into());
        p
    }

    fn spread(mut p: Pod, key: &str, max_skew: i32) -> Pod {
        p.spec.get_or_insert_default().topology_spread_constraints = Some(vec![TopologySpreadConstraint {
            max_skew,
            topology_key: key.into(),
            when_unsatisfiable: "DoNotSchedule".into(),
            label_selector: Some(LabelSelector { match_labels: Some([("app".to_string(), "web".to_string())].into()), ..Default::default() }),
            ..Default::default()
        }]);
        p
    }

    #[test]
    fn max_skew_keeps_domains_within_reach() {
        let mut cache = Cache::default();
        for n in ["n1", "n2"] {
            cache.apply_node(node(n, "4", "8Gi"));
        }
        let mut placed = web("web-1");
        placed.spec.get_or_insert_default().node_name = Some("n1".into());
        cache.apply_pod(placed);
        let cycle = Cycle::new(Arc::new(PodInfo::new(Arc::new(spread(web("web-2"), "kubernetes.io/hostname", 1)))), &cache).expect("cycle");
        let check = |n: &str| filter(&cycle, cache.node(n).expect("node")).map_err(|r| r.message);
        assert_eq!(check("n1"), Err(REASON.to_string()), "n1 would hold 2 against 0");
        assert_eq!(check("n2"), Ok(()));
    }

    #[test]
    fn a_node_without_the_topology_key_is_refused() {
        let mut cache = Cache::default();
        cache.apply_node(node("n1", "4", "8Gi"));
        let cycle = Cycle::new(Arc::new(PodInfo::new(Arc::new(spread(web("w"), "topology.kubernetes.io/zone", 1)))), &cache).expect("cycle");
        assert_eq!(filter(&cycle, cache.node("n1").expect("n1")).map_err(|r| r.message), Err(MISSING_LABEL.to_string()));
    }
}
