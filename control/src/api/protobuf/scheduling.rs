//! `scheduling.k8s.io/v1` kinds sent by `kubectl create priorityclass`.

use k8s_openapi::api::scheduling::v1::PriorityClass;
use k8s_pb::api::scheduling::v1 as pb;

use super::convert::from_proto;
use super::{kind, Kind};

pub(super) const KINDS: &[Kind] = &[kind::<pb::PriorityClass, PriorityClass>()];

from_proto!(pb::PriorityClass => PriorityClass {
    metadata,
    value,
    omit_zero global_default,
    description,
    preemption_policy,
});

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::super::decode_fixture;

    #[test]
    fn priority_class_from_kubectl() {
        // kubectl create priorityclass high --value=1000 --description=important
        assert_eq!(
            decode_fixture("priorityclass"),
            json!({
                "apiVersion": "scheduling.k8s.io/v1", "kind": "PriorityClass",
                "description": "important",
                "metadata": {"name": "high"},
                "preemptionPolicy": "PreemptLowerPriority",
                "value": 1000,
            })
        );
    }
}
