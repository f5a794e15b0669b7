//! Scores: among the nodes that pass every filter, which suits the pod best?
//! Each plugin rates a node on upstream's 0..=100 scale (some after
//! normalising over all the candidates, as upstream's NormalizeScore does),
//! and the weighted sum decides, with upstream's default weights.

pub mod balanced_allocation;
pub mod inter_pod_affinity;
pub mod least_allocated;
pub mod node_affinity;
pub mod owner_spread;
pub mod taint_toleration;
pub mod topology_spread;

use super::cycle::Cycle;
use super::node_info::NodeInfo;

/// The highest score a plugin gives: upstream's 100, counted in thousandths
/// so that small pods on large nodes still tell a node with one pod from a
/// node with two (upstream's whole points round both to 99 and pile pods up).
pub const MAX_SCORE: i64 = 100_000;

/// Upstream's default plugin weights.
const LEAST_ALLOCATED_WEIGHT: i64 = 1;
const BALANCED_ALLOCATION_WEIGHT: i64 = 1;
const NODE_AFFINITY_WEIGHT: i64 = 2;
const TAINT_TOLERATION_WEIGHT: i64 = 3;
const INTER_POD_AFFINITY_WEIGHT: i64 = 2;
const TOPOLOGY_SPREAD_WEIGHT: i64 = 2;
const OWNER_SPREAD_WEIGHT: i64 = 1;

/// The weighted total of every plugin for each of `nodes`, in order.
pub fn score(cycle: &Cycle, nodes: &[&NodeInfo]) -> Vec<i64> {
    let mut total = vec![0i64; nodes.len()];
    let mut add = |weight: i64, scores: Vec<i64>| {
        for (t, s) in total.iter_mut().zip(scores) {
            *t += weight * s;
        }
    };
    add(LEAST_ALLOCATED_WEIGHT, nodes.iter().map(|n| least_allocated::score(cycle, n)).collect());
    add(BALANCED_ALLOCATION_WEIGHT, nodes.iter().map(|n| balanced_allocation::score(cycle, n)).collect());
    add(NODE_AFFINITY_WEIGHT, node_affinity::scores(cycle, nodes));
    add(TAINT_TOLERATION_WEIGHT, taint_toleration::scores(cycle, nodes));
    add(INTER_POD_AFFINITY_WEIGHT, inter_pod_affinity::scores(cycle, nodes));
    add(TOPOLOGY_SPREAD_WEIGHT, topology_spread::scores(cycle, nodes));
    add(OWNER_SPREAD_WEIGHT, owner_spread::scores(cycle, nodes));
    total
}

/// Scales raw scores so the highest becomes `MAX_SCORE` (all zero stays zero).
pub fn normalize(raw: &mut [i64]) {
    let max = raw.iter().copied().max().unwrap_or(0);
    if max <= 0 {
        return;
    }
    for s in raw.iter_mut() {
        *s = *s * MAX_SCORE / max;
    }
}

/// Like [`normalize`], reversed: the lowest raw value scores highest (fewer
/// untolerated taints, fewer pods of the same owner).
pub fn normalize_reversed(raw: &mut [i64]) {
    let max = raw.iter().copied().max().unwrap_or(0);
    for s in raw.iter_mut() {
        *s = if max <= 0 { MAX_SCORE } else { MAX_SCORE - *s * MAX_SCORE / max };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalising_scales_to_the_best_and_reversing_favours_the_least() {
        let mut raw = [0, 5, 10];
        normalize(&mut raw);
        assert_eq!(raw, [0, MAX_SCORE / 2, MAX_SCORE]);
        let mut raw = [0, 1, 2];
        normalize_reversed(&mut raw);
        assert_eq!(raw, [MAX_SCORE, MAX_SCORE / 2, 0]);
        let mut zeros = [0, 0];
        normalize_reversed(&mut zeros);
        assert_eq!(zeros, [MAX_SCORE, MAX_SCORE]);
    }
}
