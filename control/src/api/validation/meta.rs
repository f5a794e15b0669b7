//! `metadata` of every object: name syntax per kind, generateName, namespace,
//! labels, annotations, owner references, finalizers; and which metadata an
//! update may not change.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};

use super::checks::{render, syntax};
use super::names;
use super::path::FieldPath;
use crate::api::resources::ResourceType;
use crate::error::FieldError;

/// Upstream's limit on the sum of all annotation keys and values.
const ANNOTATIONS_MAX_BYTES: usize = 256 * 1024;
/// CronJob names get an 11-character suffix in their jobs' names.
const CRONJOB_NAME_MAX: usize = 52;
/// Finalizers Kubernetes itself defines, which need no domain prefix.
const STANDARD_FINALIZERS: &[&str] = &["kubernetes", "orphan", "foregroundDeletion"];

/// The name syntax of `kind`, as upstream's per-kind `ValidateXName`.
fn name_rule(kind: &str) -> fn(&str) -> Vec<String> {
    match kind {
        "Namespace" | "StatefulSet" => names::dns1123_label,
        "Service" => names::dns1035_label,
        "Role" | "RoleBinding" | "ClusterRole" | "ClusterRoleBinding" => names::path_segment_name,
        _ => names::dns1123_subdomain,
    }
}

/// generateName is a prefix: a trailing `-` is fine because a random suffix follows.
fn prefix_for_check(prefix: &str) -> String {
    match prefix.strip_suffix('-') {
        Some(stem) => format!("{stem}a"),
        None => prefix.to_string(),
    }
}

/// Validate the metadata of a new or updated object of type `rt`.
pub fn validate_object_meta(rt: &ResourceType, meta: &ObjectMeta, errs: &mut Vec<FieldError>) {
    let path = FieldPath::new("metadata");
    let rule = name_rule(rt.kind);
    let name = meta.name.as_deref().unwrap_or("");
    let generate_name = meta.generate_name.as_deref().unwrap_or("");
    if name.is_empty() {
        if generate_name.is_empty() {
            errs.push(FieldError {
                detail: "name or generateName is required".into(),
                ..FieldError::required(path.child("name"))
            });
        }
    } else {
        syntax(errs, &path.child("name"), name, rule);
        if rt.kind == "CronJob" && name.len() > CRONJOB_NAME_MAX {
            errs.push(FieldError::invalid(
                path.child("name"),
                name,
                format!("must be no more than {CRONJOB_NAME_MAX} characters"),
            ));
        }
    }
    if !generate_name.is_empty() {
        for problem in rule(&prefix_for_check(generate_name)) {
            errs.push(FieldError::invalid(path.child("generateName"), generate_name, problem));
        }
    }
    let namespace = meta.namespace.as_deref().unwrap_or("");
    match (rt.namespaced, namespace.is_empty()) {
        (true, true) => errs.push(FieldError::required(path.child("namespace"))),
        (true, false) => syntax(errs, &path.child("namespace"), namespace, names::dns1123_label),
        (false, false) => errs.push(FieldError::forbidden(path.child("namespace"), "not allowed on this type")),
        (false, true) => {}
    }
    validate_labels(meta.labels.as_ref(), &path.child("labels"), errs);
    validate_annotations(meta.annotations.as_ref(), &path.child("annotations"), errs);
    validate_owner_references(
        meta.owner_references.as_deref().unwrap_or_default(),
        &path.child("ownerReferences"),
        errs,
    );
    validate_finalizers(meta.finalizers.as_deref().unwrap_or_default(), &path.child("finalizers"), errs);
}

/// Label keys are qualified names, values label values.
pub fn validate_labels(labels: Option<&BTreeMap<String, String>>, path: &FieldPath, errs: &mut Vec<FieldError>) {
    for (key, value) in labels.into_iter().flatten() {
        syntax(errs, path, key, names::qualified_name);
        syntax(errs, path, value, names::label_value);
    }
}

/// Annotation keys are qualified names (case-insensitively); all of them
/// together stay under 256 KiB.
pub fn validate_annotations(
    annotations: Option<&BTreeMap<String, String>>,
    path: &FieldPath,
    errs: &mut Vec<FieldError>,
) {
    let mut total = 0usize;
    for (key, value) in annotations.into_iter().flatten() {
        for problem in names::qualified_name(&key.to_lowercase()) {
            errs.push(FieldError::invalid(path, key, problem));
        }
        total += key.len() + value.len();
    }
    if total > ANNOTATIONS_MAX_BYTES {
        errs.push(FieldError::too_long(path, ANNOTATIONS_MAX_BYTES));
    }
}

fn validate_owner_references(refs: &[OwnerReference], path: &FieldPath, errs: &mut Vec<FieldError>) {
    let mut controllers = Vec::new();
    for (i, owner) in refs.iter().enumerate() {
        let p = path.index(i);
        for (field, value) in
            [("apiVersion", &owner.api_version), ("kind", &owner.kind), ("name", &owner.name), ("uid", &owner.uid)]
        {
            if value.is_empty() {
                errs.push(FieldError::required(p.child(field)));
            }
        }
        if owner.controller == Some(true) {
            controllers.push(format!("{}/{}", owner.kind, owner.name));
        }
    }
    if controllers.len() > 1 {
        errs.push(FieldError::invalid(
            path,
            render(&refs),
            format!(
                "Only one reference can have Controller set to true. Found \"true\" in references for {}",
                controllers.join(" and ")
            ),
        ));
    }
}

fn validate_finalizers(finalizers: &[String], path: &FieldPath, errs: &mut Vec<FieldError>) {
    for (i, finalizer) in finalizers.iter().enumerate() {
        let p = path.index(i);
        let problems = names::qualified_name(finalizer);
        if !problems.is_empty() {
            problems.into_iter().for_each(|m| errs.push(FieldError::invalid(&p, finalizer, m)));
        } else if !finalizer.contains('/') && !STANDARD_FINALIZERS.contains(&finalizer.as_str()) {
            errs.push(FieldError::invalid(
                &p,
                finalizer,
                "name is neither a standard finalizer name nor is it fully qualified",
            ));
        }
    }
}

/// Metadata an update may not change. uid and creationTimestamp are only
/// compared when the new object carries them (the handlers copy them over).
pub fn validate_meta_update(new: &ObjectMeta, old: &ObjectMeta, errs: &mut Vec<FieldError>) {
    let path = FieldPath::new("metadata");
    let immutable = |errs: &mut Vec<FieldError>, field: &str, value: &str| {
        errs.push(FieldError::invalid(path.child(field), value, "field is immutable"));
    };
    if new.name != old.name {
        immutable(errs, "name", new.name.as_deref().unwrap_or(""));
    }
    if new.namespace != old.namespace {
        immutable(errs, "namespace", new.namespace.as_deref().unwrap_or(""));
    }
    if let Some(uid) = new.uid.as_deref().filter(|u| !u.is_empty()) {
        if new.uid != old.uid {
            immutable(errs, "uid", uid);
        }
    }
    if let Some(created) = &new.creation_timestamp {
        if Some(created) != old.creation_timestamp.as_ref() {
            immutable(errs, "creationTimestamp", &created.0.to_string());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::resources::by_kind;
    use serde_json::json;

    fn meta(v: serde_json::Value) -> ObjectMeta {
        serde_json::from_value(v).expect("test metadata is well-formed")
    }

    fn check(kind_api: (&str, &str), m: serde_json::Value) -> Vec<String> {
        let rt = by_kind(kind_api.0, kind_api.1).expect("served kind");
        let mut errs = Vec::new();
        validate_object_meta(rt, &meta(m), &mut errs);
        errs.iter().map(ToString::to_string).collect()
    }

    const POD: (&str, &str) = ("v1", "Pod");

    #[test]
    fn good_metadata_passes() {
        let ok = json!({"name": "web-abc", "namespace": "default",
            "labels": {"app": "web", "app.kubernetes.io/part-of": "shop"},
            "annotations": {"Example.com/Note": "anything at all"},
            "finalizers": ["example.com/cleanup", "foregroundDeletion"],
            "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "web", "uid": "u1", "controller": true}]});
        assert_eq!(check(POD, ok), Vec::<String>::new());
        assert_eq!(check(POD, json!({"generateName": "web-", "namespace": "default"})), Vec::<String>::new());
        assert_eq!(check(("v1", "Namespace"), json!({"name": "team-a"})), Vec::<String>::new());
    }

    #[test]
    fn names_follow_the_rule_of_their_kind() {
        let errs = check(POD, json!({"namespace": "default"}));
        assert_eq!(errs, vec!["metadata.name: Required value: name or generateName is required"]);
        let errs = check(POD, json!({"name": "Bad_Name", "namespace": "default"}));
        assert!(
            errs[0].starts_with("metadata.name: Invalid value: \"Bad_Name\": a lowercase RFC 1123 subdomain"),
            "{errs:?}"
        );
        assert!(check(POD, json!({"name": "a.b", "namespace": "default"})).is_empty());
        assert_eq!(check(("v1", "Namespace"), json!({"name": "a.b"})).len(), 1, "namespaces are labels");
        assert_eq!(
            check(("v1", "Service"), json!({"name": "1svc", "namespace": "d"})).len(),
            1,
            "services are DNS-1035"
        );
        let long = "c".repeat(53);
        assert!(check(("batch/v1", "CronJob"), json!({"name": long, "namespace": "d"}))[0].contains("no more than 52"));
        assert!(check(("rbac.authorization.k8s.io/v1", "ClusterRole"), json!({"name": "system:admin"})).is_empty());
        assert!(
            check(POD, json!({"generateName": "Web-", "namespace": "default"}))[0].starts_with("metadata.generateName")
        );
    }

    #[test]
    fn namespace_placement() {
        assert_eq!(check(POD, json!({"name": "p"})), vec!["metadata.namespace: Required value"]);
        assert_eq!(
            check(("v1", "Node"), json!({"name": "n", "namespace": "default"})),
            vec!["metadata.namespace: Forbidden: not allowed on this type"]
        );
    }

    #[test]
    fn labels_annotations_owners_finalizers() {
        let errs = check(POD, json!({"name": "p", "namespace": "d", "labels": {"bad key": "ok", "k": "bad value"}}));
        assert_eq!(errs.len(), 2, "{errs:?}");
        assert!(errs[0].starts_with("metadata.labels: Invalid value: \"bad key\""));
        assert!(errs[1].starts_with("metadata.labels: Invalid value: \"bad value\": a valid label"));
        let big = "x".repeat(ANNOTATIONS_MAX_BYTES);
        let errs = check(POD, json!({"name": "p", "namespace": "d", "annotations": {"k": big}}));
        assert_eq!(errs, vec!["metadata.annotations: Too long: may not be more than 262144 bytes"]);
        let errs = check(
            POD,
            json!({"name": "p", "namespace": "d", "ownerReferences": [
            {"apiVersion": "v1", "kind": "A", "name": "a", "uid": "1", "controller": true},
            {"apiVersion": "v1", "kind": "B", "name": "b", "uid": "", "controller": true}]}),
        );
        assert_eq!(errs[0], "metadata.ownerReferences[1].uid: Required value");
        assert!(errs[1].contains("Only one reference can have Controller set to true"), "{errs:?}");
        let errs = check(POD, json!({"name": "p", "namespace": "d", "finalizers": ["cleanup"]}));
        assert!(errs[0].contains("neither a standard finalizer name nor is it fully qualified"));
    }

    #[test]
    fn updates_keep_identity() {
        let old =
            meta(json!({"name": "a", "namespace": "d", "uid": "u1", "creationTimestamp": "2024-01-01T00:00:00Z"}));
        let mut errs = Vec::new();
        validate_meta_update(&meta(json!({"name": "a", "namespace": "d"})), &old, &mut errs);
        assert!(errs.is_empty(), "{errs:?}");
        let changed =
            meta(json!({"name": "b", "namespace": "d", "uid": "u2", "creationTimestamp": "2025-01-01T00:00:00Z"}));
        validate_meta_update(&changed, &old, &mut errs);
        let fields: Vec<&str> = errs.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["metadata.name", "metadata.uid", "metadata.creationTimestamp"]);
        assert!(errs[0].to_string().ends_with("field is immutable"));
    }
}
