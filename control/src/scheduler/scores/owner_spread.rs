//! Owner spreading (upstream's SelectorSpread, by controller): prefer the
//! node with the fewest pods of the same owner (ReplicaSet, StatefulSet,
//! Job ...), so replicas do not pile up on one node.

use super::super::cycle::Cycle;
use super::super::node_info::NodeInfo;
use super::{normalize_reversed, MAX_SCORE};

pub fn scores(cycle: &Cycle, nodes: &[&NodeInfo]) -> Vec<i64> {
    let Some(owner) = cycle.pod.owner.as_deref() else { return vec![MAX_SCORE; nodes.len()] };
    let mut raw: Vec<i64> = nodes.iter().map(|n| i64::from(n.pods_of_owner(owner))).collect();
    normalize_reversed(&mut raw);
    raw
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scheduler::testing::{node, node_info, pod};
    use k8s_openapi::api::core::v1::Pod;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;

    fn owned(name: &str) -> Pod {
        let mut p = pod(name, "0", "0");
        p.metadata.owner_references =
            Some(vec![OwnerReference { uid: "rs-1".into(), controller: Some(true), kind: "ReplicaSet".into(), name: "web".into(), ..Default::default() }]);
        p
    }

    #[test]
    fn nodes_with_fewer_siblings_score_higher() {
        let (a, b) = (node_info(node("n1", "1", "1Gi"), &[owned("w1"), owned("w2")]), node_info(node("n2", "1", "1Gi"), &[owned("w3")]));
        let c = node_info(node("n3", "1", "1Gi"), &[pod("other", "0", "0")]);
        assert_eq!(scores(&Cycle::for_test(&owned("w4")), &[&a, &b, &c]), [0, MAX_SCORE / 2, MAX_SCORE]);
    }
}
