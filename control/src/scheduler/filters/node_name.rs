//! NodeName: a pod that names its node (`spec.nodeName`) fits only there.

use super::super::cycle::Cycle;
use super::super::node_info::NodeInfo;
use super::Reason;

pub const REASON: &str = "node(s) didn't match the requested node name";

pub fn filter(cycle: &Cycle, node: &NodeInfo) -> Result<(), Reason> {
    match cycle.pod.node_name() {
        Some(wanted) if wanted != node.name() => Err(Reason::unresolvable(REASON)),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scheduler::testing::{node, node_info, pod};

    #[test]
    fn only_the_named_node_fits() {
        let mut p = pod("p", "1", "1Gi");
        p.spec.get_or_insert_default().node_name = Some("n2".into());
        let cycle = Cycle::for_test(&p);
        assert!(filter(&cycle, &node_info(node("n1", "4", "8Gi"), &[])).is_err());
        assert!(filter(&cycle, &node_info(node("n2", "4", "8Gi"), &[])).is_ok());
    }
}
