//! One decision: filter nodes until enough feasible ones are found (a
//! rotating sample on large clusters, upstream's percentageOfNodesToScore),
//! score them, and pick the best, taking turns among equal best scores.

use super::cache::Cache;
use super::cycle::Cycle;
use super::filters::{self, Reason};
use super::node_info::NodeInfo;
use super::scores;

/// Below this many nodes, every node is considered.
const MIN_FEASIBLE_NODES_TO_FIND: usize = 100;
/// Upstream's adaptive percentage starts here and shrinks as the cluster grows.
const BASE_PERCENTAGE: usize = 50;
const MIN_PERCENTAGE: usize = 5;

/// Why no node fits: every node's reasons (those of the first filter it failed).
#[derive(Debug, Default, PartialEq, Eq)]
pub struct FitError {
    pub num_nodes: usize,
    pub node_reasons: Vec<Vec<Reason>>,
}

/// What carries over from one decision to the next so that load rotates.
#[derive(Debug, Default)]
pub struct Picker {
    /// Where the next search starts in the node order.
    next_start: usize,
    /// Turns taken among tied best nodes.
    ties_taken: usize,
}

/// How many feasible nodes are enough to pick well among `all` nodes.
pub fn feasible_nodes_to_find(all: usize) -> usize {
    if all < MIN_FEASIBLE_NODES_TO_FIND {
        return all;
    }
    let percentage = BASE_PERCENTAGE.saturating_sub(all / 125).max(MIN_PERCENTAGE);
    (all * percentage / 100).max(MIN_FEASIBLE_NODES_TO_FIND)
}

impl Picker {
    /// The node `cycle`'s pod should go to, or why none fits.
    pub fn pick(&mut self, cycle: &Cycle, cache: &Cache) -> Result<String, FitError> {
        let names = cache.node_names();
        let all = names.len();
        let wanted = feasible_nodes_to_find(all);
        let mut feasible: Vec<&NodeInfo> = Vec::with_capacity(wanted.min(all));
        let mut failures = Vec::new();
        let start = if all == 0 { 0 } else { self.next_start % all };
        let mut examined = 0;
        for offset in 0..all {
            if feasible.len() >= wanted {
                break;
            }
            examined += 1;
            let Some(node) = cache.node(&names[(start + offset) % all]) else { continue };
            match filters::run(cycle, node) {
                Ok(()) => feasible.push(node),
                Err(reasons) => failures.push(reasons),
            }
        }
        self.next_start = if all == 0 { 0 } else { (start + examined) % all };
        if feasible.is_empty() {
            return Err(FitError { num_nodes: all, node_reasons: failures });
        }
        let totals = scores::score(cycle, &feasible);
        let best = totals.iter().copied().max().unwrap_or(0);
        let tied: Vec<usize> = totals.iter().enumerate().filter(|(_, s)| **s == best).map(|(i, _)| i).collect();
        let chosen = tied[self.ties_taken % tied.len()];
        self.ties_taken = self.ties_taken.wrapping_add(1);
        Ok(feasible[chosen].name().to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scheduler::pod_info::PodInfo;
    use crate::scheduler::testing::{node, pod};
    use std::sync::Arc;

    fn cycle(cache: &Cache, p: k8s_openapi::api::core::v1::Pod) -> Cycle {
        Cycle::new(Arc::new(PodInfo::new(Arc::new(p))), cache).expect("cycle")
    }

    #[test]
    fn large_clusters_score_a_sample() {
        assert_eq!(feasible_nodes_to_find(50), 50);
        assert_eq!(feasible_nodes_to_find(100), 100);
        assert_eq!(feasible_nodes_to_find(1000), 420);
        assert_eq!(feasible_nodes_to_find(5000), 500);
    }

    #[test]
    fn the_roomier_node_wins_and_equal_nodes_take_turns() {
        let mut cache = Cache::default();
        cache.apply_node(node("small", "1", "1Gi"));
        cache.apply_node(node("big", "8", "32Gi"));
        let mut picker = Picker::default();
        assert_eq!(picker.pick(&cycle(&cache, pod("p", "500m", "512Mi")), &cache).as_deref(), Ok("big"));

        let mut cache = Cache::default();
        cache.apply_node(node("a", "4", "8Gi"));
        cache.apply_node(node("b", "4", "8Gi"));
        let mut chosen = Vec::new();
        for i in 0..4 {
            let c = cycle(&cache, pod(&format!("p{i}"), "100m", "100Mi"));
            let node = picker.pick(&c, &cache).expect("fits");
            cache.assume(c.pod.clone(), &node);
            chosen.push(node);
        }
        chosen.sort();
        assert_eq!(chosen, ["a", "a", "b", "b"]);
    }

    #[test]
    fn no_fit_reports_every_nodes_reasons() {
        let mut cache = Cache::default();
        cache.apply_node(node("a", "1", "1Gi"));
        cache.apply_node(node("b", "1", "1Gi"));
        let err = Picker::default().pick(&cycle(&cache, pod("p", "2", "0")), &cache).expect_err("too big");
        assert_eq!(err.num_nodes, 2);
        assert_eq!(err.node_reasons, vec![vec![Reason::resolvable("Insufficient cpu")]; 2]);
    }
}
