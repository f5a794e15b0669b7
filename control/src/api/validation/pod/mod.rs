//! Pods and pod templates: the pod spec rules shared by pods and every
//! workload's template, plus what a pod update may change.

mod containers;
mod update;
mod volumes;

use std::collections::HashSet;

use k8s_openapi::api::core::v1::{Pod, PodSpec, PodTemplateSpec, Toleration};

use super::checks::{non_negative, one_of, positive, syntax};
use super::meta::{validate_annotations, validate_labels};
use super::names;
use super::path::FieldPath;
use crate::error::FieldError;
use containers::{validate_container, ContainerRole};
pub use containers::{validate_probe_port, PROTOCOLS};
use volumes::validate_volumes;

pub const RESTART_POLICIES: &[&str] = &["Always", "OnFailure", "Never"];
const DNS_POLICIES: &[&str] = &["ClusterFirstWithHostNet", "ClusterFirst", "Default", "None"];
const TOLERATION_OPERATORS: &[&str] = &["Exists", "Equal"];
const TAINT_EFFECTS: &[&str] = &["NoSchedule", "PreferNoSchedule", "NoExecute"];

/// A pod, and on update what changed since `old`.
pub fn validate_pod(pod: &Pod, old: Option<&Pod>, errs: &mut Vec<FieldError>) {
    let path = FieldPath::new("spec");
    match &pod.spec {
        Some(spec) => validate_pod_spec(spec, &path, errs),
        None => errs.push(FieldError::required(&path)),
    }
    if let (Some(old), Some(new_spec)) = (old, &pod.spec) {
        update::validate_pod_spec_update(new_spec, old.spec.as_ref(), &path, errs);
    }
}

/// The pod template of a workload at `path` (`spec.template`): required, with
/// valid labels, annotations and spec.
pub fn validate_pod_template(template: Option<&PodTemplateSpec>, path: &FieldPath, errs: &mut Vec<FieldError>) {
    let Some(template) = template else {
        errs.push(FieldError::required(path));
        return;
    };
    if let Some(meta) = &template.metadata {
        validate_labels(meta.labels.as_ref(), &path.child("metadata").child("labels"), errs);
        validate_annotations(meta.annotations.as_ref(), &path.child("metadata").child("annotations"), errs);
    }
    match &template.spec {
        Some(spec) => validate_pod_spec(spec, &path.child("spec"), errs),
        None => errs.push(FieldError::required(path.child("spec"))),
    }
}

/// Everything in a pod spec.
pub fn validate_pod_spec(spec: &PodSpec, path: &FieldPath, errs: &mut Vec<FieldError>) {
    let volumes = validate_volumes(spec.volumes.as_deref().unwrap_or_default(), &path.child("volumes"), errs);
    if spec.containers.is_empty() {
        errs.push(FieldError::required(path.child("containers")));
    }
    let mut names_seen = HashSet::new();
    let init = spec.init_containers.as_deref().unwrap_or_default();
    let lists =
        [("initContainers", init, ContainerRole::Init), ("containers", &spec.containers[..], ContainerRole::App)];
    for (field, list, role) in lists {
        for (i, container) in list.iter().enumerate() {
            let p = path.child(field).index(i);
            let name_path = p.child("name");
            if container.name.is_empty() {
                errs.push(FieldError::required(&name_path));
            } else {
                syntax(errs, &name_path, &container.name, names::dns1123_label);
                if !names_seen.insert(container.name.as_str()) {
                    errs.push(FieldError::duplicate(&name_path, &container.name));
                }
            }
            validate_container(container, role, &volumes, &p, errs);
        }
    }
    one_of(errs, &path.child("restartPolicy"), spec.restart_policy.as_deref(), RESTART_POLICIES);
    one_of(errs, &path.child("dnsPolicy"), spec.dns_policy.as_deref(), DNS_POLICIES);
    non_negative(errs, &path.child("terminationGracePeriodSeconds"), spec.termination_grace_period_seconds);
    positive(errs, &path.child("activeDeadlineSeconds"), spec.active_deadline_seconds);
    validate_labels(spec.node_selector.as_ref(), &path.child("nodeSelector"), errs);
    for (field, value, check) in [
        ("serviceAccountName", &spec.service_account_name, names::dns1123_subdomain as fn(&str) -> Vec<String>),
        ("nodeName", &spec.node_name, names::dns1123_subdomain),
        ("runtimeClassName", &spec.runtime_class_name, names::dns1123_subdomain),
        ("hostname", &spec.hostname, names::dns1123_label),
        ("subdomain", &spec.subdomain, names::dns1123_label),
    ] {
        if let Some(v) = value.as_deref().filter(|v| !v.is_empty()) {
            syntax(errs, &path.child(field), v, check);
        }
    }
    for (i, toleration) in spec.tolerations.iter().flatten().enumerate() {
        validate_toleration(toleration, &path.child("tolerations").index(i), errs);
    }
}

fn validate_toleration(t: &Toleration, path: &FieldPath, errs: &mut Vec<FieldError>) {
    let key = t.key.as_deref().unwrap_or("");
    if !key.is_empty() {
        syntax(errs, &path.child("key"), key, names::qualified_name);
    }
    one_of(errs, &path.child("operator"), t.operator.as_deref(), TOLERATION_OPERATORS);
    let operator = t.operator.as_deref().unwrap_or("Equal");
    if key.is_empty() && operator != "Exists" {
        errs.push(FieldError::invalid(
            path.child("operator"),
            operator,
            "operator must be Exists when `key` is empty, which means \"match all values and all keys\"",
        ));
    }
    let value = t.value.as_deref().unwrap_or("");
    if operator == "Exists" && !value.is_empty() {
        errs.push(FieldError::invalid(
            path.child("operator"),
            value,
            "value must be empty when `operator` is 'Exists'",
        ));
    } else if operator == "Equal" {
        syntax(errs, &path.child("value"), value, names::label_value);
    }
    let effect = t.effect.as_deref().filter(|e| !e.is_empty());
    one_of(errs, &path.child("effect"), effect, TAINT_EFFECTS);
    if t.toleration_seconds.is_some() && effect != Some("NoExecute") {
        errs.push(FieldError::invalid(
            path.child("effect"),
            effect.unwrap_or(""),
            "effect must be 'NoExecute' when `tolerationSeconds` is set",
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn spec_errors(spec: serde_json::Value) -> Vec<String> {
        let spec: PodSpec = serde_json::from_value(spec).expect("well-formed pod spec");
        let mut errs = Vec::new();
        validate_pod_spec(&spec, &FieldPath::new("spec"), &mut errs);
        errs.iter().map(ToString::to_string).collect()
    }

    #[test]
    fn a_defaulted_pod_spec_passes() {
        let errs = spec_errors(json!({
            "containers": [{"name": "c1", "image": "nginx", "volumeMounts": [{"name": "d", "mountPath": "/d"}]}],
            "initContainers": [{"name": "setup", "image": "busybox"}],
            "volumes": [{"name": "d", "emptyDir": {}}],
            "restartPolicy": "Always", "dnsPolicy": "ClusterFirst", "terminationGracePeriodSeconds": 30,
            "nodeSelector": {"kubernetes.io/os": "linux"}, "serviceAccountName": "default",
            "tolerations": [{"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300},
                            {"operator": "Exists"}]
        }));
        assert!(errs.is_empty(), "{errs:?}");
    }

    #[test]
    fn containers_are_required_and_uniquely_named() {
        assert_eq!(spec_errors(json!({"containers": []})), vec!["spec.containers: Required value"]);
        let errs = spec_errors(json!({
            "initContainers": [{"name": "c1", "image": "x"}],
            "containers": [{"name": "c1", "image": "x"}, {"name": "Bad", "image": "x"}, {"image": "x"}]
        }));
        assert_eq!(errs[0], "spec.containers[0].name: Duplicate value: \"c1\"");
        assert!(errs[1].starts_with("spec.containers[1].name: Invalid value: \"Bad\": a lowercase RFC 1123 label"));
        assert_eq!(errs[2], "spec.containers[2].name: Required value");
    }

    #[test]
    fn spec_level_enums_and_bounds() {
        let errs = spec_errors(json!({
            "containers": [{"name": "c", "image": "x"}],
            "restartPolicy": "Sometimes", "dnsPolicy": "Google", "terminationGracePeriodSeconds": -1,
            "activeDeadlineSeconds": 0, "nodeSelector": {"k": "bad value"}
        }));
        assert!(
            errs[0].starts_with("spec.restartPolicy: Unsupported value: \"Sometimes\": supported values: \"Always\"")
        );
        assert!(errs[1].starts_with("spec.dnsPolicy: Unsupported value: \"Google\""));
        assert_eq!(
            errs[2],
            "spec.terminationGracePeriodSeconds: Invalid value: \"-1\": must be greater than or equal to 0"
        );
        assert_eq!(errs[3], "spec.activeDeadlineSeconds: Invalid value: \"0\": must be greater than 0");
        assert!(errs[4].starts_with("spec.nodeSelector: Invalid value: \"bad value\""));
        assert_eq!(errs.len(), 5);
    }

    #[test]
    fn tolerations() {
        let errs = spec_errors(json!({
            "containers": [{"name": "c", "image": "x"}],
            "tolerations": [
                {"key": "k", "operator": "Maybe"},
                {"operator": "Equal", "value": "v"},
                {"key": "k", "operator": "Exists", "value": "v"},
                {"key": "k", "effect": "NoSchedule", "tolerationSeconds": 5},
                {"key": "k", "effect": "Sometimes"}
            ]
        }));
        assert!(errs[0].starts_with("spec.tolerations[0].operator: Unsupported value: \"Maybe\""));
        assert!(errs[1].starts_with("spec.tolerations[1].operator: Invalid value: \"Equal\": operator must be Exists"));
        assert!(errs[2].contains("value must be empty when `operator` is 'Exists'"));
        assert!(errs[3]
            .starts_with("spec.tolerations[3].effect: Invalid value: \"NoSchedule\": effect must be 'NoExecute'"));
        assert!(errs[4].starts_with("spec.tolerations[4].effect: Unsupported value: \"Sometimes\""));
        assert_eq!(errs.len(), 5, "{errs:?}");
    }

    #[test]
    fn templates_need_a_spec() {
        let mut errs = Vec::new();
        let path = FieldPath::new("spec").child("template");
        validate_pod_template(None, &path, &mut errs);
        let t: PodTemplateSpec =
            serde_json::from_value(json!({"metadata": {"labels": {"a": "b c"}}})).expect("template");
        validate_pod_template(Some(&t), &path, &mut errs);
        let rendered: Vec<String> = errs.iter().map(ToString::to_string).collect();
        assert_eq!(rendered[0], "spec.template: Required value");
        assert!(rendered[1].starts_with("spec.template.metadata.labels: Invalid value: \"b c\""));
        assert_eq!(rendered[2], "spec.template.spec: Required value");
    }
}
