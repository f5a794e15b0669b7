//! NodeResourcesBalancedAllocation: prefer the node whose CPU and memory
//! would be used in the most similar proportions once the pod is on it
//! (1 − the standard deviation of the two fractions, as upstream).

use super::super::cycle::Cycle;
use super::super::node_info::NodeInfo;
use super::MAX_SCORE;

fn fraction(requested: i64, allocatable: i64) -> f64 {
    if allocatable <= 0 {
        return 1.0;
    }
    (requested as f64 / allocatable as f64).min(1.0)
}

pub fn score(cycle: &Cycle, node: &NodeInfo) -> i64 {
    let (pod_cpu, pod_memory) = cycle.pod.scoring_requests;
    let cpu = fraction(node.scoring_requested.0.saturating_add(pod_cpu), node.allocatable.milli_cpu);
    let memory = fraction(node.scoring_requested.1.saturating_add(pod_memory), node.allocatable.memory);
    // The standard deviation of two values is half their distance.
    let std_dev = (cpu - memory).abs() / 2.0;
    ((1.0 - std_dev) * MAX_SCORE as f64) as i64
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scheduler::testing::{node, node_info, pod};

    #[test]
    fn even_use_scores_higher_than_lopsided_use() {
        let cycle = Cycle::for_test(&pod("p", "1", "1Gi"));
        let even = node_info(node("n1", "4", "4Gi"), &[]);
        let lopsided = node_info(node("n2", "4", "4Gi"), &[pod("a", "3", "0")]);
        assert_eq!(score(&cycle, &even), MAX_SCORE);
        // cpu 4/4, memory 1/4: deviation 0.375.
        assert_eq!(score(&cycle, &lopsided), MAX_SCORE * 625 / 1000);
    }
}
