//! Taints and tolerations, as upstream matches them, and the taints a node's
//! Ready condition implies: a node that is not Ready repels new pods the way
//! the node lifecycle controller's `not-ready`/`unreachable` taints would,
//! even before that controller has written them.

use k8s_openapi::api::core::v1::{Node, Taint, Toleration};

pub const NOT_READY_TAINT: &str = "node.kubernetes.io/not-ready";
pub const UNREACHABLE_TAINT: &str = "node.kubernetes.io/unreachable";

/// Whether `toleration` tolerates `taint` (upstream `ToleratesTaint`).
pub fn tolerates(toleration: &Toleration, taint: &Taint) -> bool {
    if toleration.effect.as_deref().is_some_and(|e| !e.is_empty() && e != taint.effect) {
        return false;
    }
    if toleration.key.as_deref().is_some_and(|k| !k.is_empty() && k != taint.key) {
        return false;
    }
    match toleration.operator.as_deref().unwrap_or("Equal") {
        "Exists" => true,
        "Equal" | "" => toleration.value.as_deref().unwrap_or("") == taint.value.as_deref().unwrap_or(""),
        _ => false,
    }
}

/// The node's taints, plus `not-ready`/`unreachable` NoSchedule when its Ready
/// condition is False/Unknown (or missing) and the taint is not there yet.
pub fn effective_taints(node: &Node) -> Vec<Taint> {
    let mut taints = node.spec.as_ref().and_then(|s| s.taints.clone()).unwrap_or_default();
    let ready = node.status.as_ref().and_then(|s| s.conditions.as_ref()).and_then(|c| c.iter().find(|c| c.type_ == "Ready"));
    let implied = match ready.map(|c| c.status.as_str()) {
        Some("True") => None,
        Some("Unknown") => Some(UNREACHABLE_TAINT),
        _ => Some(NOT_READY_TAINT),
    };
    if let Some(key) = implied {
        if !taints.iter().any(|t| t.key == key && t.effect == "NoSchedule") {
            taints.push(Taint { key: key.into(), effect: "NoSchedule".into(), ..Default::default() });
        }
    }
    taints
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scheduler::testing::node;
    use k8s_openapi::api::core::v1::NodeCondition;

    fn taint(key: &str, value: &str, effect: &str) -> Taint {
        Taint { key: key.into(), value: Some(value.into()), effect: effect.into(), ..Default::default() }
    }

    fn toleration(key: &str, op: &str, value: &str, effect: &str) -> Toleration {
        Toleration {
            key: Some(key.into()),
            operator: Some(op.into()),
            value: Some(value.into()),
            effect: Some(effect.into()),
            ..Default::default()
        }
    }

    #[test]
    fn tolerations_match_key_value_and_effect() {
        let t = taint("dedicated", "gpu", "NoSchedule");
        assert!(tolerates(&toleration("dedicated", "Equal", "gpu", "NoSchedule"), &t));
        assert!(tolerates(&toleration("dedicated", "Exists", "", ""), &t));
        assert!(tolerates(&toleration("", "Exists", "", ""), &t), "an empty key with Exists tolerates everything");
        assert!(!tolerates(&toleration("dedicated", "Equal", "cpu", "NoSchedule"), &t));
        assert!(!tolerates(&toleration("dedicated", "Exists", "", "NoExecute"), &t));
    }

    #[test]
    fn a_node_not_ready_is_tainted_not_ready_and_an_unknown_one_unreachable() {
        let mut n = node("n1", "1", "1Gi");
        assert!(effective_taints(&n).is_empty());
        let set = |n: &mut Node, status: &str| {
            n.status.get_or_insert_default().conditions =
                Some(vec![NodeCondition { type_: "Ready".into(), status: status.into(), ..Default::default() }]);
        };
        set(&mut n, "False");
        assert_eq!(effective_taints(&n).first().map(|t| t.key.as_str()), Some(NOT_READY_TAINT));
        set(&mut n, "Unknown");
        assert_eq!(effective_taints(&n).first().map(|t| t.key.as_str()), Some(UNREACHABLE_TAINT));
    }
}
