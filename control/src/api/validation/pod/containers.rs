//! One container of a pod: image, ports, environment, volume mounts,
//! resources and probes. Names and their uniqueness across the pod are
//! checked by the caller, which sees every container.

use std::collections::{BTreeMap, HashSet};

use k8s_openapi::api::core::v1::{Container, ContainerPort, EnvFromSource, EnvVar, Probe, ResourceRequirements};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity as RawQuantity;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use crate::api::validation::checks::{non_negative, one_of, syntax};
use crate::api::validation::names;
use crate::api::validation::path::FieldPath;
use crate::api::validation::quantity::Quantity;
use crate::error::FieldError;

pub const PROTOCOLS: &[&str] = &["TCP", "UDP", "SCTP"];
const PULL_POLICIES: &[&str] = &["Always", "IfNotPresent", "Never"];
const MESSAGE_POLICIES: &[&str] = &["File", "FallbackToLogsOnError"];

/// Which list a container sits in: init containers may be sidecars and may
/// not have readiness probes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ContainerRole {
    App,
    Init,
}

/// Validate everything about `c` except its name.
pub fn validate_container(
    c: &Container,
    role: ContainerRole,
    volumes: &HashSet<String>,
    path: &FieldPath,
    errs: &mut Vec<FieldError>,
) {
    if c.image.as_deref().unwrap_or("").trim().is_empty() {
        errs.push(FieldError::required(path.child("image")));
    }
    one_of(errs, &path.child("imagePullPolicy"), c.image_pull_policy.as_deref(), PULL_POLICIES);
    one_of(errs, &path.child("terminationMessagePolicy"), c.termination_message_policy.as_deref(), MESSAGE_POLICIES);
    match role {
        ContainerRole::Init => one_of(errs, &path.child("restartPolicy"), c.restart_policy.as_deref(), &["Always"]),
        ContainerRole::App => {
            if c.restart_policy.is_some() {
                errs.push(FieldError::forbidden(path.child("restartPolicy"), "may not be set for non-init containers"));
            }
        }
    }
    validate_ports(c.ports.as_deref().unwrap_or_default(), &path.child("ports"), errs);
    validate_env(c.env.as_deref().unwrap_or_default(), &path.child("env"), errs);
    validate_env_from(c.env_from.as_deref().unwrap_or_default(), &path.child("envFrom"), errs);
    validate_mounts(c, volumes, &path.child("volumeMounts"), errs);
    if let Some(resources) = &c.resources {
        validate_resources(resources, &path.child("resources"), errs);
    }
    let is_sidecar = c.restart_policy.as_deref() == Some("Always");
    for (field, probe) in [
        ("livenessProbe", &c.liveness_probe),
        ("readinessProbe", &c.readiness_probe),
        ("startupProbe", &c.startup_probe),
    ] {
        let Some(probe) = probe else { continue };
        let p = path.child(field);
        if role == ContainerRole::Init && !is_sidecar {
            errs.push(FieldError::forbidden(p, "may not be set for init containers without restartPolicy=Always"));
            continue;
        }
        validate_probe(probe, field != "readinessProbe", &p, errs);
    }
}

fn validate_ports(ports: &[ContainerPort], path: &FieldPath, errs: &mut Vec<FieldError>) {
    let mut names_seen = HashSet::new();
    for (i, port) in ports.iter().enumerate() {
        let p = path.index(i);
        for problem in names::port_number(port.container_port.into()) {
            errs.push(FieldError::invalid(p.child("containerPort"), port.container_port, problem));
        }
        if let Some(host_port) = port.host_port.filter(|hp| *hp != 0) {
            for problem in names::port_number(host_port.into()) {
                errs.push(FieldError::invalid(p.child("hostPort"), host_port, problem));
            }
        }
        one_of(errs, &p.child("protocol"), port.protocol.as_deref(), PROTOCOLS);
        if let Some(name) = port.name.as_deref().filter(|n| !n.is_empty()) {
            syntax(errs, &p.child("name"), name, names::iana_svc_name);
            if !names_seen.insert(name) {
                errs.push(FieldError::duplicate(p.child("name"), name));
            }
        }
    }
}

fn validate_env(env: &[EnvVar], path: &FieldPath, errs: &mut Vec<FieldError>) {
    for (i, var) in env.iter().enumerate() {
        let p = path.index(i);
        if var.name.is_empty() {
            errs.push(FieldError::required(p.child("name")));
        } else {
            syntax(errs, &p.child("name"), &var.name, names::env_var_name);
        }
        let Some(source) = &var.value_from else { continue };
        let vp = p.child("valueFrom");
        if !var.value.as_deref().unwrap_or("").is_empty() {
            errs.push(FieldError::invalid(&vp, "", "may not be specified when `value` is not empty"));
        }
        let count = [
            source.field_ref.is_some(),
            source.resource_field_ref.is_some(),
            source.config_map_key_ref.is_some(),
            source.secret_key_ref.is_some(),
        ]
        .into_iter()
        .filter(|set| *set)
        .count();
        match count {
            0 => errs.push(FieldError {
                detail: "must specify one of: `fieldRef`, `resourceFieldRef`, `configMapKeyRef` or `secretKeyRef`"
                    .into(),
                ..FieldError::required(&vp)
            }),
            1 => {}
            _ => errs.push(FieldError::invalid(&vp, "", "may not have more than one field specified at a time")),
        }
        if let Some(r) = &source.config_map_key_ref {
            syntax(errs, &vp.child("configMapKeyRef").child("key"), &r.key, names::config_map_key);
        }
        if let Some(r) = &source.secret_key_ref {
            syntax(errs, &vp.child("secretKeyRef").child("key"), &r.key, names::config_map_key);
        }
        if let Some(r) = &source.field_ref {
            if r.field_path.is_empty() {
                errs.push(FieldError::required(vp.child("fieldRef").child("fieldPath")));
            }
        }
    }
}

fn validate_env_from(sources: &[EnvFromSource], path: &FieldPath, errs: &mut Vec<FieldError>) {
    for (i, source) in sources.iter().enumerate() {
        let p = path.index(i);
        if let Some(prefix) = source.prefix.as_deref().filter(|s| !s.is_empty()) {
            syntax(errs, &p.child("prefix"), prefix, names::env_var_name);
        }
        match (&source.config_map_ref, &source.secret_ref) {
            (Some(_), Some(_)) => {
                errs.push(FieldError::invalid(&p, "", "may not have more than one field specified at a time"))
            }
            (None, None) => errs.push(FieldError {
                detail: "must specify one of: `configMapRef` or `secretRef`".into(),
                ..FieldError::required(&p)
            }),
            _ => {}
        }
    }
}

fn validate_mounts(c: &Container, volumes: &HashSet<String>, path: &FieldPath, errs: &mut Vec<FieldError>) {
    let mut paths_seen = HashSet::new();
    for (i, mount) in c.volume_mounts.iter().flatten().enumerate() {
        let p = path.index(i);
        if mount.name.is_empty() {
            errs.push(FieldError::required(p.child("name")));
        } else if !volumes.contains(&mount.name) {
            errs.push(FieldError::not_found(p.child("name"), &mount.name));
        }
        if mount.mount_path.is_empty() {
            errs.push(FieldError::required(p.child("mountPath")));
        } else if !paths_seen.insert(mount.mount_path.as_str()) {
            errs.push(FieldError::invalid(p.child("mountPath"), &mount.mount_path, "must be unique"));
        }
    }
}

/// Quantities parse, are not negative, and requests do not exceed limits.
fn validate_resources(r: &ResourceRequirements, path: &FieldPath, errs: &mut Vec<FieldError>) {
    let limits = parse_quantities(r.limits.as_ref(), &path.child("limits"), errs);
    let requests = parse_quantities(r.requests.as_ref(), &path.child("requests"), errs);
    for (name, request) in &requests {
        if let Some(limit) = limits.get(name) {
            if request > limit {
                errs.push(FieldError::invalid(
                    path.child("requests").key(name),
                    request,
                    format!("must be less than or equal to {name} limit of {limit}"),
                ));
            }
        }
    }
}

/// The valid entries of a resource list, reporting the invalid ones.
fn parse_quantities(
    list: Option<&BTreeMap<String, RawQuantity>>,
    path: &FieldPath,
    errs: &mut Vec<FieldError>,
) -> BTreeMap<String, Quantity> {
    let mut parsed = BTreeMap::new();
    for (name, raw) in list.into_iter().flatten() {
        let p = path.key(name);
        syntax(errs, &p, name, names::qualified_name);
        match Quantity::parse(&raw.0) {
            Ok(q) if q.is_negative() => {
                errs.push(FieldError::invalid(&p, &raw.0, "must be greater than or equal to 0"));
            }
            Ok(q) => {
                parsed.insert(name.clone(), q);
            }
            Err(e) => errs.push(FieldError::invalid(&p, &raw.0, e.to_string())),
        }
    }
    parsed
}

fn validate_probe(probe: &Probe, success_must_be_one: bool, path: &FieldPath, errs: &mut Vec<FieldError>) {
    let handlers = [probe.exec.is_some(), probe.http_get.is_some(), probe.tcp_socket.is_some(), probe.grpc.is_some()];
    match handlers.into_iter().filter(|set| *set).count() {
        0 => errs.push(FieldError { detail: "must specify a handler type".into(), ..FieldError::required(path) }),
        1 => {}
        _ => errs.push(FieldError::forbidden(path, "may not specify more than 1 handler type")),
    }
    if let Some(get) = &probe.http_get {
        validate_probe_port(&get.port, &path.child("httpGet").child("port"), errs);
        one_of(errs, &path.child("httpGet").child("scheme"), get.scheme.as_deref(), &["HTTP", "HTTPS"]);
    }
    if let Some(tcp) = &probe.tcp_socket {
        validate_probe_port(&tcp.port, &path.child("tcpSocket").child("port"), errs);
    }
    if let Some(grpc) = &probe.grpc {
        for problem in names::port_number(grpc.port.into()) {
            errs.push(FieldError::invalid(path.child("grpc").child("port"), grpc.port, problem));
        }
    }
    if let Some(exec) = &probe.exec {
        if exec.command.as_deref().unwrap_or_default().is_empty() {
            errs.push(FieldError::required(path.child("exec").child("command")));
        }
    }
    non_negative(errs, &path.child("initialDelaySeconds"), probe.initial_delay_seconds);
    non_negative(errs, &path.child("timeoutSeconds"), probe.timeout_seconds);
    non_negative(errs, &path.child("periodSeconds"), probe.period_seconds);
    non_negative(errs, &path.child("successThreshold"), probe.success_threshold);
    non_negative(errs, &path.child("failureThreshold"), probe.failure_threshold);
    if success_must_be_one {
        if let Some(n) = probe.success_threshold.filter(|n| *n != 1) {
            errs.push(FieldError::invalid(path.child("successThreshold"), n, "must be 1"));
        }
    }
}

/// A port given as a number (1–65535) or as the name of a container port.
pub fn validate_probe_port(port: &IntOrString, path: &FieldPath, errs: &mut Vec<FieldError>) {
    match port {
        IntOrString::Int(n) => {
            for problem in names::port_number((*n).into()) {
                errs.push(FieldError::invalid(path, n, problem));
            }
        }
        IntOrString::String(name) => syntax(errs, path, name, names::iana_svc_name),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn check(role: ContainerRole, c: serde_json::Value) -> Vec<String> {
        let c: Container = serde_json::from_value(c).expect("well-formed container");
        let volumes: HashSet<String> = ["data".to_string()].into();
        let mut errs = Vec::new();
        validate_container(&c, role, &volumes, &FieldPath::new("spec").child("containers").index(0), &mut errs);
        errs.iter().map(ToString::to_string).collect()
    }

    #[test]
    fn a_complete_container_passes() {
        let errs = check(
            ContainerRole::App,
            json!({
                "name": "c1", "image": "nginx:1.27", "imagePullPolicy": "IfNotPresent",
                "ports": [{"containerPort": 80, "name": "http", "protocol": "TCP"}, {"containerPort": 53, "protocol": "UDP"}],
                "env": [{"name": "MODE", "value": "x"}, {"name": "POD", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}],
                "envFrom": [{"configMapRef": {"name": "cfg"}}],
                "volumeMounts": [{"name": "data", "mountPath": "/data"}],
                "resources": {"requests": {"cpu": "100m", "memory": "64Mi"}, "limits": {"cpu": "1", "memory": "128Mi"}},
                "livenessProbe": {"httpGet": {"port": "http", "path": "/"}, "periodSeconds": 10},
                "readinessProbe": {"tcpSocket": {"port": 80}, "successThreshold": 2}
            }),
        );
        assert!(errs.is_empty(), "{errs:?}");
    }

    #[test]
    fn image_ports_and_enums() {
        let errs = check(
            ContainerRole::App,
            json!({
                "name": "c1", "imagePullPolicy": "Sometimes",
                "ports": [{"containerPort": 0}, {"containerPort": 80, "hostPort": 70000, "protocol": "HTTP", "name": "web"},
                          {"containerPort": 81, "name": "web"}]
            }),
        );
        assert_eq!(errs[0], "spec.containers[0].image: Required value");
        assert!(errs[1].starts_with("spec.containers[0].imagePullPolicy: Unsupported value: \"Sometimes\""));
        assert_eq!(
            errs[2],
            "spec.containers[0].ports[0].containerPort: Invalid value: \"0\": must be between 1 and 65535, inclusive"
        );
        assert!(errs[3].starts_with("spec.containers[0].ports[1].hostPort: Invalid value: \"70000\""));
        assert!(errs[4].starts_with("spec.containers[0].ports[1].protocol: Unsupported value: \"HTTP\""));
        assert_eq!(errs[5], "spec.containers[0].ports[2].name: Duplicate value: \"web\"");
        assert_eq!(errs.len(), 6);
    }

    #[test]
    fn env_and_mounts() {
        let errs = check(
            ContainerRole::App,
            json!({
                "name": "c1", "image": "x",
                "env": [{"name": "1BAD"}, {"name": "A", "value": "v", "valueFrom": {}}],
                "volumeMounts": [{"name": "missing", "mountPath": "/a"}, {"name": "data", "mountPath": "/a"}, {"name": "data", "mountPath": ""}]
            }),
        );
        assert!(errs[0]
            .starts_with("spec.containers[0].env[0].name: Invalid value: \"1BAD\": a valid environment variable name"));
        assert_eq!(
            errs[1],
            "spec.containers[0].env[1].valueFrom: Invalid value: \"\": may not be specified when `value` is not empty"
        );
        assert!(errs[2].starts_with("spec.containers[0].env[1].valueFrom: Required value: must specify one of"));
        assert_eq!(errs[3], "spec.containers[0].volumeMounts[0].name: Not found: \"missing\"");
        assert_eq!(errs[4], "spec.containers[0].volumeMounts[1].mountPath: Invalid value: \"/a\": must be unique");
        assert_eq!(errs[5], "spec.containers[0].volumeMounts[2].mountPath: Required value");
    }

    #[test]
    fn resources_parse_and_requests_fit_limits() {
        let errs = check(
            ContainerRole::App,
            json!({
                "name": "c1", "image": "x",
                "resources": {"requests": {"cpu": "2", "memory": "-1"}, "limits": {"cpu": "1", "memory": "lots"}}
            }),
        );
        assert!(
            errs[0].starts_with(
                "spec.containers[0].resources.limits[memory]: Invalid value: \"lots\": quantities must match"
            ),
            "{errs:?}"
        );
        assert_eq!(
            errs[1],
            "spec.containers[0].resources.requests[memory]: Invalid value: \"-1\": must be greater than or equal to 0"
        );
        assert_eq!(errs[2], "spec.containers[0].resources.requests[cpu]: Invalid value: \"2\": must be less than or equal to cpu limit of 1");
        assert_eq!(errs.len(), 3);
    }

    #[test]
    fn probes_need_exactly_one_handler() {
        let errs = check(
            ContainerRole::App,
            json!({
                "name": "c1", "image": "x",
                "livenessProbe": {"periodSeconds": 5},
                "readinessProbe": {"exec": {"command": ["true"]}, "tcpSocket": {"port": 99999}},
                "startupProbe": {"exec": {"command": ["true"]}, "successThreshold": 3}
            }),
        );
        assert_eq!(errs[0], "spec.containers[0].livenessProbe: Required value: must specify a handler type");
        assert_eq!(errs[1], "spec.containers[0].readinessProbe: Forbidden: may not specify more than 1 handler type");
        assert!(errs[2].starts_with("spec.containers[0].readinessProbe.tcpSocket.port: Invalid value: \"99999\""));
        assert_eq!(errs[3], "spec.containers[0].startupProbe.successThreshold: Invalid value: \"3\": must be 1");
    }

    #[test]
    fn init_containers_may_only_be_sidecars() {
        let errs = check(
            ContainerRole::Init,
            json!({"name": "i", "image": "x", "restartPolicy": "Never", "readinessProbe": {"exec": {"command": ["x"]}}}),
        );
        assert!(errs[0].starts_with("spec.containers[0].restartPolicy: Unsupported value: \"Never\""));
        assert!(errs[1].starts_with("spec.containers[0].readinessProbe: Forbidden"));
        let errs = check(ContainerRole::App, json!({"name": "c", "image": "x", "restartPolicy": "Always"}));
        assert_eq!(errs, vec!["spec.containers[0].restartPolicy: Forbidden: may not be set for non-init containers"]);
    }
}
