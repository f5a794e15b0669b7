//! Services: type, ports, target ports, node ports, external names and the
//! cluster IP, which may not change once allocated.

use std::collections::HashSet;

use k8s_openapi::api::core::v1::{Service, ServicePort, ServiceSpec};

use super::checks::{one_of, syntax};
use super::names;
use super::path::FieldPath;
use super::pod::{validate_probe_port, PROTOCOLS};
use crate::error::FieldError;

const TYPES: &[&str] = &["ClusterIP", "NodePort", "LoadBalancer", "ExternalName"];
/// The default `--service-node-port-range`.
const NODE_PORTS: std::ops::RangeInclusive<i32> = 30000..=32767;

pub fn validate_service(svc: &Service, old: Option<&Service>, errs: &mut Vec<FieldError>) {
    let p = FieldPath::new("spec");
    let Some(spec) = &svc.spec else { return errs.push(FieldError::required(&p)) };
    one_of(errs, &p.child("type"), spec.type_.as_deref(), TYPES);
    let kind = spec.type_.as_deref().unwrap_or("ClusterIP");
    let cluster_ip = spec.cluster_ip.as_deref().unwrap_or("");
    let headless_without_selector = cluster_ip == "None" && spec.selector.as_ref().is_none_or(|s| s.is_empty());
    let ports = spec.ports.as_deref().unwrap_or_default();
    if ports.is_empty() && kind != "ExternalName" && !headless_without_selector {
        errs.push(FieldError::required(p.child("ports")));
    }
    let mut names_seen = HashSet::new();
    let mut ports_seen = HashSet::new();
    for (i, port) in ports.iter().enumerate() {
        validate_port(port, kind, ports.len() > 1, &mut names_seen, &p.child("ports").index(i), errs);
        // Two entries for the same port and protocol would be ambiguous to the proxy.
        let protocol = port.protocol.as_deref().unwrap_or("TCP");
        if !ports_seen.insert((port.port, protocol.to_string())) {
            errs.push(FieldError::duplicate(p.child("ports").index(i), format!("{}/{protocol}", port.port)));
        }
    }
    if kind == "ExternalName" {
        let external = spec.external_name.as_deref().unwrap_or("");
        if external.is_empty() {
            errs.push(FieldError::required(p.child("externalName")));
        } else {
            syntax(errs, &p.child("externalName"), external.trim_end_matches('.'), names::dns1123_subdomain);
        }
    }
    if !cluster_ip.is_empty() && cluster_ip != "None" && !names::ipv4_address(cluster_ip).is_empty() {
        errs.push(FieldError::invalid(
            p.child("clusterIP"),
            cluster_ip,
            "must be empty, 'None', or a valid IP address",
        ));
    }
    one_of(errs, &p.child("sessionAffinity"), spec.session_affinity.as_deref(), &["ClientIP", "None"]);
    one_of(errs, &p.child("internalTrafficPolicy"), spec.internal_traffic_policy.as_deref(), &["Cluster", "Local"]);
    validate_external_traffic_policy(spec, kind, &p, errs);
    if let Some(old_ip) = old.and_then(|o| o.spec.as_ref()).and_then(|s| s.cluster_ip.as_deref()) {
        // An update that leaves clusterIP out keeps the allocated one (the
        // handlers copy it); only a different value is a change.
        if !old_ip.is_empty() && !cluster_ip.is_empty() && old_ip != cluster_ip {
            errs.push(FieldError::invalid(p.child("clusterIP"), cluster_ip, "field is immutable"));
        }
    }
}

fn validate_port(
    port: &ServicePort,
    kind: &str,
    name_required: bool,
    names_seen: &mut HashSet<String>,
    p: &FieldPath,
    errs: &mut Vec<FieldError>,
) {
    let name = port.name.as_deref().unwrap_or("");
    if name.is_empty() {
        if name_required {
            errs.push(FieldError::required(p.child("name")));
        }
    } else {
        syntax(errs, &p.child("name"), name, names::dns1123_label);
        if !names_seen.insert(name.to_string()) {
            errs.push(FieldError::duplicate(p.child("name"), name));
        }
    }
    for problem in names::port_number(port.port.into()) {
        errs.push(FieldError::invalid(p.child("port"), port.port, problem));
    }
    one_of(errs, &p.child("protocol"), port.protocol.as_deref(), PROTOCOLS);
    if let Some(target) = &port.target_port {
        validate_probe_port(target, &p.child("targetPort"), errs);
    }
    if let Some(node_port) = port.node_port.filter(|n| *n != 0) {
        if kind != "NodePort" && kind != "LoadBalancer" {
            errs.push(FieldError::forbidden(p.child("nodePort"), format!("may not be used when `type` is '{kind}'")));
        } else if !NODE_PORTS.contains(&node_port) {
            errs.push(FieldError::invalid(
                p.child("nodePort"),
                node_port,
                format!(
                    "provided port is not in the valid range. The range of valid ports is {}-{}",
                    NODE_PORTS.start(),
                    NODE_PORTS.end()
                ),
            ));
        }
    }
}

fn validate_external_traffic_policy(spec: &ServiceSpec, kind: &str, p: &FieldPath, errs: &mut Vec<FieldError>) {
    let Some(policy) = spec.external_traffic_policy.as_deref() else { return };
    if kind == "NodePort" || kind == "LoadBalancer" {
        one_of(errs, &p.child("externalTrafficPolicy"), Some(policy), &["Cluster", "Local"]);
    } else {
        errs.push(FieldError::invalid(
            p.child("externalTrafficPolicy"),
            policy,
            "may only be set for externally-accessible services",
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    fn check(spec: Value, old: Option<Value>) -> Vec<String> {
        let svc = |spec: Value| -> Service {
            serde_json::from_value(json!({"metadata": {"name": "web"}, "spec": spec})).expect("well-formed service")
        };
        let old = old.map(svc);
        let mut errs = Vec::new();
        validate_service(&svc(spec), old.as_ref(), &mut errs);
        errs.iter().map(ToString::to_string).collect()
    }

    #[test]
    fn good_services() {
        assert!(check(json!({"type": "ClusterIP", "selector": {"app": "web"}, "ports": [{"port": 80, "targetPort": "http", "protocol": "TCP"}]}), None).is_empty());
        assert!(check(json!({"type": "NodePort", "ports": [{"name": "a", "port": 80, "nodePort": 30080}, {"name": "b", "port": 81, "targetPort": 8081}],
            "externalTrafficPolicy": "Local"}), None).is_empty());
        assert!(check(json!({"type": "ExternalName", "externalName": "db.example.com."}), None).is_empty());
        assert!(check(json!({"clusterIP": "None"}), None).is_empty(), "headless without selector needs no ports");
    }

    #[test]
    fn ports() {
        assert_eq!(check(json!({"selector": {"a": "b"}}), None), vec!["spec.ports: Required value"]);
        let errs = check(
            json!({"ports": [{"port": 80}, {"name": "x", "port": 0, "protocol": "ICMP", "targetPort": 70000},
            {"name": "x", "port": 82, "nodePort": 30001}]}),
            None,
        );
        assert_eq!(errs[0], "spec.ports[0].name: Required value");
        assert_eq!(errs[1], "spec.ports[1].port: Invalid value: \"0\": must be between 1 and 65535, inclusive");
        assert!(errs[2].starts_with("spec.ports[1].protocol: Unsupported value: \"ICMP\""));
        assert!(errs[3].starts_with("spec.ports[1].targetPort: Invalid value: \"70000\""));
        assert_eq!(errs[4], "spec.ports[2].name: Duplicate value: \"x\"");
        assert_eq!(errs[5], "spec.ports[2].nodePort: Forbidden: may not be used when `type` is 'ClusterIP'");
        let errs = check(json!({"selector": {"a": "b"}, "ports": [{"name": "a", "port": 80}, {"name": "b", "port": 80, "protocol": "TCP"}]}), None);
        assert_eq!(errs, vec!["spec.ports[1]: Duplicate value: \"80/TCP\""]);
        let errs = check(json!({"type": "NodePort", "ports": [{"port": 80, "nodePort": 80}]}), None);
        assert!(errs[0].contains("The range of valid ports is 30000-32767"));
    }

    #[test]
    fn types_names_and_ips() {
        let errs = check(
            json!({"type": "Magic", "clusterIP": "10.0.0.300", "ports": [{"port": 80}], "externalTrafficPolicy": "Local"}),
            None,
        );
        assert!(errs[0].starts_with("spec.type: Unsupported value: \"Magic\""));
        assert_eq!(
            errs[1],
            "spec.clusterIP: Invalid value: \"10.0.0.300\": must be empty, 'None', or a valid IP address"
        );
        assert!(errs[2].starts_with("spec.externalTrafficPolicy: Invalid value"));
        assert_eq!(check(json!({"type": "ExternalName"}), None), vec!["spec.externalName: Required value"]);
    }

    #[test]
    fn cluster_ip_is_immutable() {
        let old = json!({"clusterIP": "10.96.0.10", "ports": [{"port": 80}]});
        assert!(check(json!({"ports": [{"port": 80}]}), Some(old.clone())).is_empty());
        assert!(check(json!({"clusterIP": "10.96.0.10", "ports": [{"port": 81}]}), Some(old.clone())).is_empty());
        assert_eq!(
            check(json!({"clusterIP": "10.96.0.11", "ports": [{"port": 80}]}), Some(old)),
            vec!["spec.clusterIP: Invalid value: \"10.96.0.11\": field is immutable"]
        );
    }
}
