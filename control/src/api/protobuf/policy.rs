//! `policy/v1` kinds sent by `kubectl create poddisruptionbudget`.

use k8s_openapi::api::policy::v1::{PodDisruptionBudget, PodDisruptionBudgetSpec};
use k8s_pb::api::policy::v1 as pb;

use super::convert::from_proto;
use super::{kind, Kind};

pub(super) const KINDS: &[Kind] = &[kind::<pb::PodDisruptionBudget, PodDisruptionBudget>()];

from_proto!(pb::PodDisruptionBudget => PodDisruptionBudget { metadata, spec });
from_proto!(pb::PodDisruptionBudgetSpec => PodDisruptionBudgetSpec {
    min_available,
    selector,
    max_unavailable,
    unhealthy_pod_eviction_policy,
});

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::super::decode_fixture;

    #[test]
    fn pod_disruption_budget_from_kubectl() {
        // kubectl create poddisruptionbudget pdb --selector=app=web --min-available=1
        assert_eq!(
            decode_fixture("pdb"),
            json!({
                "apiVersion": "policy/v1", "kind": "PodDisruptionBudget",
                "metadata": {"name": "pdb"},
                "spec": {"minAvailable": 1, "selector": {"matchLabels": {"app": "web"}}},
            })
        );
    }
}
