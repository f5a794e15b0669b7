//! TaintToleration: a node with a NoSchedule or NoExecute taint the pod does
//! not tolerate refuses it (PreferNoSchedule only lowers the node's score).

use super::super::cycle::Cycle;
use super::super::node_info::NodeInfo;
use super::super::taints::{effective_taints, tolerates};
use super::Reason;

pub fn filter(cycle: &Cycle, node: &NodeInfo) -> Result<(), Reason> {
    let Some(n) = node.node.as_deref() else { return Ok(()) };
    let untolerated = effective_taints(n)
        .into_iter()
        .filter(|t| t.effect == "NoSchedule" || t.effect == "NoExecute")
        .find(|t| !cycle.tolerations.iter().any(|tol| tolerates(tol, t)));
    match untolerated {
        Some(t) => Err(Reason::unresolvable(format!("node(s) had untolerated taint {{{}: {}}}", t.key, t.value.as_deref().unwrap_or("")))),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scheduler::testing::{node, node_info, pod};
    use k8s_openapi::api::core::v1::{Taint, Toleration};

    #[test]
    fn untolerated_no_schedule_refuses_with_upstreams_wording() {
        let mut n = node("n1", "4", "8Gi");
        n.spec.get_or_insert_default().taints =
            Some(vec![Taint { key: "dedicated".into(), value: Some("gpu".into()), effect: "NoSchedule".into(), ..Default::default() }]);
        let info = node_info(n, &[]);
        let p = pod("p", "1", "1Gi");
        let err = filter(&Cycle::for_test(&p), &info).expect_err("tainted");
        assert_eq!(err.message, "node(s) had untolerated taint {dedicated: gpu}");
        let mut tolerant = p.clone();
        tolerant.spec.get_or_insert_default().tolerations =
            Some(vec![Toleration { key: Some("dedicated".into()), value: Some("gpu".into()), ..Default::default() }]);
        assert!(filter(&Cycle::for_test(&tolerant), &info).is_ok());
    }

    #[test]
    fn prefer_no_schedule_does_not_filter() {
        let mut n = node("n1", "4", "8Gi");
        n.spec.get_or_insert_default().taints = Some(vec![Taint { key: "soft".into(), effect: "PreferNoSchedule".into(), ..Default::default() }]);
        let p = pod("p", "1", "1Gi");
        assert!(filter(&Cycle::for_test(&p), &node_info(n, &[])).is_ok());
    }
}
