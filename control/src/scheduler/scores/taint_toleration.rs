//! TaintToleration (score): the fewer `PreferNoSchedule` taints a node has
//! that the pod does not tolerate, the better.

use super::super::cycle::Cycle;
use super::super::node_info::NodeInfo;
use super::super::taints::tolerates;
use super::normalize_reversed;

pub fn scores(cycle: &Cycle, nodes: &[&NodeInfo]) -> Vec<i64> {
    let mut raw: Vec<i64> = nodes
        .iter()
        .map(|n| {
            n.taints()
                .iter()
                .filter(|t| t.effect == "PreferNoSchedule")
                .filter(|t| !cycle.tolerations.iter().any(|tol| tolerates(tol, t)))
                .count() as i64
        })
        .collect();
    normalize_reversed(&mut raw);
    raw
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scheduler::scores::MAX_SCORE;
    use crate::scheduler::testing::{node, node_info, pod};
    use k8s_openapi::api::core::v1::Taint;

    #[test]
    fn untolerated_prefer_no_schedule_taints_lower_the_score() {
        let mut tainted = node("n1", "1", "1Gi");
        tainted.spec.get_or_insert_default().taints = Some(vec![Taint { key: "soft".into(), effect: "PreferNoSchedule".into(), ..Default::default() }]);
        let (a, b) = (node_info(tainted, &[]), node_info(node("n2", "1", "1Gi"), &[]));
        assert_eq!(scores(&Cycle::for_test(&pod("p", "0", "0")), &[&a, &b]), [0, MAX_SCORE]);
    }
}
