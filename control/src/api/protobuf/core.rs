//! `core/v1` kinds sent by `kubectl create configmap|secret|namespace|serviceaccount|
//! service|quota`.

use k8s_openapi::api::core::v1::{
    ClientIPConfig, ConfigMap, LocalObjectReference, Namespace, NamespaceSpec, ObjectReference,
    ResourceQuota, ResourceQuotaSpec, ScopeSelector, ScopedResourceSelectorRequirement, Secret,
    Service, ServiceAccount, ServicePort, ServiceSpec, SessionAffinityConfig,
};
use k8s_pb::api::core::v1 as pb;

use super::convert::from_proto;
use super::{kind, Kind};

pub(super) const KINDS: &[Kind] = &[
    kind::<pb::ConfigMap, ConfigMap>(),
    kind::<pb::Secret, Secret>(),
    kind::<pb::Namespace, Namespace>(),
    kind::<pb::ServiceAccount, ServiceAccount>(),
    kind::<pb::Service, Service>(),
    kind::<pb::ResourceQuota, ResourceQuota>(),
];

from_proto!(pb::ConfigMap => ConfigMap { metadata, immutable, data, binary_data });

// An empty `type` stays absent so that the server defaults it to `Opaque`.
from_proto!(pb::Secret => Secret { metadata, immutable, data, string_data, r#type => type_ });

// Status is the server's; a create body's status is ignored, so it is not decoded.
from_proto!(pb::Namespace => Namespace { metadata, spec });
from_proto!(pb::NamespaceSpec => NamespaceSpec { finalizers });

from_proto!(pb::ServiceAccount => ServiceAccount {
    metadata,
    secrets,
    image_pull_secrets,
    automount_service_account_token,
});
from_proto!(pb::ObjectReference => ObjectReference {
    kind,
    namespace,
    name,
    uid,
    api_version,
    resource_version,
    field_path,
});
from_proto!(pb::LocalObjectReference => LocalObjectReference { name });

from_proto!(pb::Service => Service { metadata, spec });
from_proto!(pb::ServiceSpec => ServiceSpec {
    ports,
    selector,
    cluster_ip,
    cluster_ips,
    r#type => type_,
    external_ips,
    session_affinity,
    load_balancer_ip,
    load_balancer_source_ranges,
    external_name,
    external_traffic_policy,
    omit_zero health_check_node_port,
    omit_zero publish_not_ready_addresses,
    session_affinity_config,
    ip_families,
    ip_family_policy,
    allocate_load_balancer_node_ports,
    load_balancer_class,
    internal_traffic_policy,
    traffic_distribution,
});
from_proto!(pb::ServicePort => ServicePort {
    name,
    protocol,
    app_protocol,
    port,
    target_port,
    omit_zero node_port,
});
from_proto!(pb::SessionAffinityConfig => SessionAffinityConfig { client_ip });
from_proto!(pb::ClientIpConfig => ClientIPConfig { timeout_seconds });

from_proto!(pb::ResourceQuota => ResourceQuota { metadata, spec });
from_proto!(pb::ResourceQuotaSpec => ResourceQuotaSpec { hard, scopes, scope_selector });
from_proto!(pb::ScopeSelector => ScopeSelector { match_expressions });
from_proto!(pb::ScopedResourceSelectorRequirement => ScopedResourceSelectorRequirement {
    scope_name,
    operator,
    values,
});

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use prost::Message;
    use serde_json::json;

    use super::super::{decode, decode_fixture, wrap_raw};
    use super::*;

    #[test]
    fn configmap_from_kubectl() {
        // kubectl create configmap cfg --from-literal=a=b --from-literal=greeting=hello
        assert_eq!(
            decode_fixture("configmap"),
            json!({
                "apiVersion": "v1", "kind": "ConfigMap",
                "data": {"a": "b", "greeting": "hello"},
                "metadata": {"name": "cfg"},
            })
        );
    }

    #[test]
    fn configmap_binary_data_is_base64() {
        // kubectl create configmap bin --from-file=blob=<00 01 fe ff 'h' 'i'> --from-literal=text=plain
        assert_eq!(
            decode_fixture("configmap_binary"),
            json!({
                "apiVersion": "v1", "kind": "ConfigMap",
                "binaryData": {"blob": "AAH+/2hp"},
                "data": {"text": "plain"},
                "metadata": {"name": "bin"},
            })
        );
    }

    #[test]
    fn secret_data_is_base64_and_empty_type_stays_absent() {
        // kubectl create secret generic s --from-literal=p=q
        let secret = decode_fixture("secret");
        assert_eq!(
            secret,
            json!({"apiVersion": "v1", "kind": "Secret", "data": {"p": "cQ=="}, "metadata": {"name": "s"}})
        );
        assert!(
            secret.get("type").is_none(),
            "the server must default Opaque"
        );
    }

    #[test]
    fn secret_type_is_kept() {
        // kubectl create secret generic typed --type=kubernetes.io/basic-auth --from-literal=username=u
        assert_eq!(
            decode_fixture("secret_basic_auth")["type"],
            "kubernetes.io/basic-auth"
        );
        // kubectl create secret docker-registry reg --docker-server=r.io --docker-username=u --docker-password=p
        let docker = decode_fixture("secret_docker");
        assert_eq!(docker["type"], "kubernetes.io/dockerconfigjson");
        assert_eq!(
            docker["data"][".dockerconfigjson"],
            "eyJhdXRocyI6eyJyLmlvIjp7InVzZXJuYW1lIjoidSIsInBhc3N3b3JkIjoicCIsImF1dGgiOiJkVHB3In19fQ=="
        );
    }

    #[test]
    fn secret_string_data_and_immutable() {
        let secret = pb::Secret {
            metadata: Some(Default::default()),
            immutable: Some(false),
            data: BTreeMap::new(),
            string_data: BTreeMap::from([("token".to_owned(), "abc".to_owned())]),
            r#type: Some(String::new()),
        };
        let body = wrap_raw("v1", "Secret", secret.encode_to_vec());
        assert_eq!(
            decode(&body).ok(),
            Some(json!({
                "apiVersion": "v1", "kind": "Secret",
                "immutable": false, "metadata": {}, "stringData": {"token": "abc"},
            }))
        );
    }

    #[test]
    fn namespace_and_service_account_from_kubectl() {
        assert_eq!(
            decode_fixture("namespace"),
            json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "n"}, "spec": {}})
        );
        assert_eq!(
            decode_fixture("serviceaccount"),
            json!({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "sa"}})
        );
    }

    #[test]
    fn clusterip_service_from_kubectl() {
        // kubectl create service clusterip svc --tcp=80:8080
        assert_eq!(
            decode_fixture("service_clusterip"),
            json!({
                "apiVersion": "v1", "kind": "Service",
                "metadata": {"labels": {"app": "svc"}, "name": "svc"},
                "spec": {
                    "ports": [{"name": "80-8080", "port": 80, "protocol": "TCP", "targetPort": 8080}],
                    "selector": {"app": "svc"},
                    "type": "ClusterIP",
                },
            })
        );
    }

    #[test]
    fn nodeport_service_keeps_node_port_and_named_target_port() {
        // kubectl create service nodeport np --tcp=80:http --node-port=30080
        assert_eq!(
            decode_fixture("service_nodeport")["spec"],
            json!({
                "ports": [{"name": "80-http", "nodePort": 30080, "port": 80, "protocol": "TCP", "targetPort": "http"}],
                "selector": {"app": "np"},
                "type": "NodePort",
            })
        );
        // kubectl create service loadbalancer lb --tcp=443:8443
        assert_eq!(decode_fixture("service_lb")["spec"]["type"], "LoadBalancer");
    }

    #[test]
    fn headless_and_external_name_services_from_kubectl() {
        // kubectl create service clusterip hl --clusterip=None
        let headless = decode_fixture("service_headless");
        assert_eq!(headless["spec"]["clusterIP"], "None");
        assert!(headless["spec"].get("ports").is_none());
        // kubectl create service externalname ext --external-name=example.com
        assert_eq!(
            decode_fixture("service_external")["spec"],
            json!({"externalName": "example.com", "selector": {"app": "ext"}, "type": "ExternalName"})
        );
    }

    #[test]
    fn resource_quota_from_kubectl() {
        // kubectl create quota q --hard=cpu=1,memory=1Gi,pods=10 --scopes=BestEffort
        assert_eq!(
            decode_fixture("quota"),
            json!({
                "apiVersion": "v1", "kind": "ResourceQuota",
                "metadata": {"name": "q"},
                "spec": {"hard": {"cpu": "1", "memory": "1Gi", "pods": "10"}, "scopes": ["BestEffort"]},
            })
        );
    }
}
