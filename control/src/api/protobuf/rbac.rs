//! `rbac.authorization.k8s.io/v1` kinds sent by `kubectl create role|rolebinding|
//! clusterrole|clusterrolebinding`.

use k8s_openapi::api::rbac::v1::{
    AggregationRule, ClusterRole, ClusterRoleBinding, PolicyRule, Role, RoleBinding, RoleRef,
    Subject,
};
use k8s_pb::api::rbac::v1 as pb;

use super::convert::from_proto;
use super::{kind, Kind};

pub(super) const KINDS: &[Kind] = &[
    kind::<pb::Role, Role>(),
    kind::<pb::RoleBinding, RoleBinding>(),
    kind::<pb::ClusterRole, ClusterRole>(),
    kind::<pb::ClusterRoleBinding, ClusterRoleBinding>(),
];

from_proto!(pb::Role => Role { metadata, rules });
from_proto!(pb::ClusterRole => ClusterRole { metadata, rules, aggregation_rule });
from_proto!(pb::RoleBinding => RoleBinding { metadata, subjects, role_ref });
from_proto!(pb::ClusterRoleBinding => ClusterRoleBinding { metadata, subjects, role_ref });

from_proto!(pb::PolicyRule => PolicyRule {
    verbs,
    api_groups,
    resources,
    resource_names,
    non_resource_ur_ls => non_resource_urls,
});
from_proto!(pb::AggregationRule => AggregationRule { cluster_role_selectors });
from_proto!(pb::Subject => Subject { kind, api_group, name, namespace });
from_proto!(pb::RoleRef => RoleRef { api_group, kind, name });

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::super::decode_fixture;

    #[test]
    fn role_from_kubectl() {
        // kubectl create role reader --verb=get,list --resource=pods,deployments.apps --resource-name=x
        assert_eq!(
            decode_fixture("role"),
            json!({
                "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
                "metadata": {"name": "reader"},
                "rules": [
                    {"apiGroups": [""], "resourceNames": ["x"], "resources": ["pods"], "verbs": ["get", "list"]},
                    {"apiGroups": ["apps"], "resourceNames": ["x"], "resources": ["deployments"], "verbs": ["get", "list"]},
                ],
            })
        );
    }

    #[test]
    fn cluster_role_keeps_non_resource_urls_and_aggregation() {
        // kubectl create clusterrole cr --verb=get --resource=pods --non-resource-url=/healthz
        assert_eq!(
            decode_fixture("clusterrole")["rules"],
            json!([
                {"apiGroups": [""], "resources": ["pods"], "verbs": ["get"]},
                {"nonResourceURLs": ["/healthz"], "verbs": ["get"]},
            ])
        );
        // kubectl create clusterrole agg --aggregation-rule=rbac.example.com/aggregate=true
        let aggregate = decode_fixture("clusterrole_aggregate");
        assert_eq!(
            aggregate["aggregationRule"],
            json!({"clusterRoleSelectors": [{"matchLabels": {"rbac.example.com/aggregate": "true"}}]})
        );
        assert!(aggregate.get("rules").is_none());
    }

    #[test]
    fn bindings_from_kubectl() {
        // kubectl create rolebinding rb --role=reader --user=alice --serviceaccount=default:sa --group=devs
        assert_eq!(
            decode_fixture("rolebinding"),
            json!({
                "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
                "metadata": {"name": "rb"},
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "reader"},
                "subjects": [
                    {"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": "alice"},
                    {"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": "devs"},
                    {"kind": "ServiceAccount", "name": "sa", "namespace": "default"},
                ],
            })
        );
        // kubectl create clusterrolebinding crb --clusterrole=cr --user=bob
        let binding = decode_fixture("clusterrolebinding");
        assert_eq!(binding["kind"], "ClusterRoleBinding");
        assert_eq!(
            binding["roleRef"],
            json!({"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "cr"})
        );
        assert_eq!(
            binding["subjects"],
            json!([{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": "bob"}])
        );
    }
}
