//! NodeUnschedulable: a cordoned node (`spec.unschedulable`) takes only pods
//! that tolerate the `node.kubernetes.io/unschedulable:NoSchedule` taint.

use k8s_openapi::api::core::v1::Taint;

use super::super::cycle::Cycle;
use super::super::node_info::NodeInfo;
use super::super::taints::tolerates;
use super::Reason;

pub const UNSCHEDULABLE_TAINT: &str = "node.kubernetes.io/unschedulable";
pub const REASON: &str = "node(s) were unschedulable";

pub fn filter(cycle: &Cycle, node: &NodeInfo) -> Result<(), Reason> {
    let cordoned = node.node.as_ref().and_then(|n| n.spec.as_ref()).and_then(|s| s.unschedulable).unwrap_or(false);
    if !cordoned {
        return Ok(());
    }
    let taint = Taint { key: UNSCHEDULABLE_TAINT.into(), effect: "NoSchedule".into(), ..Default::default() };
    if cycle.tolerations.iter().any(|t| tolerates(t, &taint)) {
        return Ok(());
    }
    Err(Reason::unresolvable(REASON))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scheduler::testing::{node, node_info, pod};
    use k8s_openapi::api::core::v1::Toleration;

    #[test]
    fn a_cordoned_node_refuses_unless_tolerated() {
        let mut n = node("n1", "4", "8Gi");
        n.spec.get_or_insert_default().unschedulable = Some(true);
        let info = node_info(n, &[]);
        let p = pod("p", "1", "1Gi");
        let cycle = Cycle::for_test(&p);
        assert_eq!(filter(&cycle, &info).map_err(|r| r.message), Err(REASON.to_string()));
        let mut tolerant = pod("p", "1", "1Gi");
        tolerant.spec.get_or_insert_default().tolerations =
            Some(vec![Toleration { key: Some(UNSCHEDULABLE_TAINT.into()), operator: Some("Exists".into()), ..Default::default() }]);
        let cycle = Cycle::for_test(&tolerant);
        assert!(filter(&cycle, &info).is_ok());
    }
}
