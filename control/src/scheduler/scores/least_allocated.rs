//! NodeResourcesFit (LeastAllocated): prefer the node with the most CPU and
//! memory left once the pod is on it, CPU and memory weighing the same.
//! Pods without requests count as upstream's defaults here.

use super::super::cycle::Cycle;
use super::super::node_info::NodeInfo;
use super::MAX_SCORE;

fn free_share(requested: i64, allocatable: i64) -> i64 {
    if allocatable <= 0 || requested > allocatable {
        return 0;
    }
    (allocatable - requested) * MAX_SCORE / allocatable
}

pub fn score(cycle: &Cycle, node: &NodeInfo) -> i64 {
    let (pod_cpu, pod_memory) = cycle.pod.scoring_requests;
    let cpu = free_share(node.scoring_requested.0.saturating_add(pod_cpu), node.allocatable.milli_cpu);
    let memory = free_share(node.scoring_requested.1.saturating_add(pod_memory), node.allocatable.memory);
    (cpu + memory) / 2
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scheduler::testing::{node, node_info, pod};

    #[test]
    fn the_emptier_node_scores_higher() {
        let p = pod("p", "1", "1Gi");
        let cycle = Cycle::for_test(&p);
        let empty = node_info(node("n1", "4", "4Gi"), &[]);
        let busy = node_info(node("n2", "4", "4Gi"), &[pod("a", "2", "2Gi")]);
        assert_eq!(score(&cycle, &empty), MAX_SCORE * 3 / 4);
        assert_eq!(score(&cycle, &busy), MAX_SCORE / 4);
        let nearly_empty = node_info(node("n3", "4", "4Gi"), &[pod("a", "10m", "1Mi")]);
        assert!(score(&cycle, &nearly_empty) < score(&cycle, &empty), "one small pod already counts");
    }
}
