//! `networking.k8s.io/v1` kinds sent by `kubectl create ingress`.

use k8s_openapi::api::core::v1::TypedLocalObjectReference;
use k8s_openapi::api::networking::v1::{
    HTTPIngressPath, HTTPIngressRuleValue, Ingress, IngressBackend, IngressRule,
    IngressServiceBackend, IngressSpec, IngressTLS, ServiceBackendPort,
};
use k8s_pb::api::core::v1 as pb_core;
use k8s_pb::api::networking::v1 as pb;

use super::convert::from_proto;
use super::{kind, Kind};

pub(super) const KINDS: &[Kind] = &[kind::<pb::Ingress, Ingress>()];

from_proto!(pb::Ingress => Ingress { metadata, spec });
from_proto!(pb::IngressSpec => IngressSpec { ingress_class_name, default_backend, tls, rules });
from_proto!(pb::IngressTls => IngressTLS { hosts, secret_name });
from_proto!(pb::IngressRule => IngressRule { host, ingress_rule_value { http } });
from_proto!(pb::HttpIngressRuleValue => HTTPIngressRuleValue { paths });
from_proto!(pb::HttpIngressPath => HTTPIngressPath { path, path_type, backend });
from_proto!(pb::IngressBackend => IngressBackend { service, resource });
from_proto!(pb::IngressServiceBackend => IngressServiceBackend { name, port });
from_proto!(pb::ServiceBackendPort => ServiceBackendPort { name, omit_zero number });
from_proto!(pb_core::TypedLocalObjectReference => TypedLocalObjectReference { api_group, kind, name });

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::super::decode_fixture;

    #[test]
    fn ingress_from_kubectl() {
        // kubectl create ingress ing --rule="foo.com/bar=svc1:8080,tls=my-cert"
        assert_eq!(
            decode_fixture("ingress"),
            json!({
                "apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
                "metadata": {"name": "ing"},
                "spec": {
                    "rules": [{"host": "foo.com", "http": {"paths": [{
                        "backend": {"service": {"name": "svc1", "port": {"number": 8080}}},
                        "path": "/bar",
                        "pathType": "Exact",
                    }]}}],
                    "tls": [{"hosts": ["foo.com"], "secretName": "my-cert"}],
                },
            })
        );
    }
}
