//! Strict decoding, defaulting and validation of objects sent to the API
//! server. Handlers call, in order, [`decode`] (400 on failure),
//! [`apply_defaults`], then [`validate`] (422 with one cause per field).
//!
//! Validation works on the typed `k8s-openapi` structs: [`decode`] has
//! already proven the JSON converts, so each validator reads real fields
//! instead of probing JSON by hand.

mod checks;
mod cluster;
mod config;
mod decode;
mod defaults;
mod label_selector;
mod meta;
mod networking;
mod path;
mod pod;
mod service;
mod storage;
mod unknown_fields;
mod workloads;

pub mod names;
pub mod quantity;

pub use decode::{decode, DecodeError, Decoded};
pub use defaults::{apply_defaults, qos_class};
pub use workloads::cron::{parse_schedule, CronError, CronFields, Schedule};

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::api::resources::ResourceType;
use crate::error::FieldError;

/// Every problem with `obj` (a decoded, defaulted object of type `rt`); `old`
/// is the stored object when this is an update.
pub fn validate(rt: &ResourceType, obj: &Value, old: Option<&Value>) -> Vec<FieldError> {
    let mut errs = Vec::new();
    if let Err(e) = validate_typed(rt, obj, old, &mut errs) {
        // Only reachable when a caller skipped `decode`: report it as a
        // problem with the object rather than panicking.
        errs.push(FieldError::invalid("<object>", rt.kind, e.to_string()));
    }
    errs
}

fn validate_typed(
    rt: &ResourceType,
    obj: &Value,
    old: Option<&Value>,
    errs: &mut Vec<FieldError>,
) -> Result<(), DecodeError> {
    let meta: ObjectMeta = decode::typed(rt, obj.get("metadata").unwrap_or(&Value::Null))?;
    meta::validate_object_meta(rt, &meta, errs);
    if let Some(old) = old {
        let old_meta: ObjectMeta = decode::typed(rt, old.get("metadata").unwrap_or(&Value::Null))?;
        meta::validate_meta_update(&meta, &old_meta, errs);
    }
    use k8s_openapi::api::{apps::v1 as apps, batch::v1 as batch, core::v1 as core};
    match rt.kind {
        "Pod" => with_old::<core::Pod>(rt, obj, old, errs, pod::validate_pod),
        "Deployment" => with_old::<apps::Deployment>(rt, obj, old, errs, workloads::apps::validate_deployment),
        "ReplicaSet" => with_old::<apps::ReplicaSet>(rt, obj, old, errs, workloads::apps::validate_replica_set),
        "StatefulSet" => with_old::<apps::StatefulSet>(rt, obj, old, errs, workloads::apps::validate_stateful_set),
        "DaemonSet" => with_old::<apps::DaemonSet>(rt, obj, old, errs, workloads::apps::validate_daemon_set),
        "ReplicationController" => just_new(rt, obj, errs, workloads::apps::validate_replication_controller),
        "Job" => with_old::<batch::Job>(rt, obj, old, errs, workloads::batch::validate_job),
        "CronJob" => just_new(rt, obj, errs, workloads::batch::validate_cron_job),
        "Service" => with_old::<core::Service>(rt, obj, old, errs, service::validate_service),
        "ConfigMap" => with_old::<core::ConfigMap>(rt, obj, old, errs, config::validate_config_map),
        "Secret" => with_old::<core::Secret>(rt, obj, old, errs, config::validate_secret),
        "Namespace" => just_new(rt, obj, errs, cluster::validate_namespace),
        "Node" => just_new(rt, obj, errs, cluster::validate_node),
        "RuntimeClass" => with_old(rt, obj, old, errs, cluster::validate_runtime_class),
        "Lease" => just_new(rt, obj, errs, cluster::validate_lease),
        "Event" => just_new(rt, obj, errs, cluster::validate_event),
        "Ingress" => just_new(rt, obj, errs, networking::validate_ingress),
        "PersistentVolumeClaim" => just_new(rt, obj, errs, storage::validate_pvc),
        "PersistentVolume" => just_new(rt, obj, errs, storage::validate_pv),
        // The remaining kinds have no rules beyond their metadata.
        _ => Ok(()),
    }
}

/// Run a validator that compares with the stored object.
fn with_old<T: DeserializeOwned>(
    rt: &ResourceType,
    obj: &Value,
    old: Option<&Value>,
    errs: &mut Vec<FieldError>,
    validator: fn(&T, Option<&T>, &mut Vec<FieldError>),
) -> Result<(), DecodeError> {
    let new: T = decode::typed(rt, obj)?;
    let old: Option<T> = old.map(|o| decode::typed(rt, o)).transpose()?;
    validator(&new, old.as_ref(), errs);
    Ok(())
}

/// Run a validator that looks at the new object only.
fn just_new<T: DeserializeOwned>(
    rt: &ResourceType,
    obj: &Value,
    errs: &mut Vec<FieldError>,
    validator: fn(&T, &mut Vec<FieldError>),
) -> Result<(), DecodeError> {
    validator(&decode::typed(rt, obj)?, errs);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::resources::by_kind;
    use serde_json::json;

    /// Decode, default and validate, as the handlers do.
    fn admit(api_version: &str, kind: &str, mut obj: Value, old: Option<&Value>) -> Result<Vec<String>, DecodeError> {
        let rt = by_kind(api_version, kind).expect("served kind");
        decode(rt, &obj, true)?;
        apply_defaults(rt, &mut obj);
        decode(rt, &obj, true).expect("defaults only add known fields");
        Ok(validate(rt, &obj, old).iter().map(ToString::to_string).collect())
    }

    fn meta(name: &str) -> Value {
        json!({"name": name, "namespace": "default"})
    }

    fn template() -> Value {
        json!({"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "c1", "image": "nginx:1.27", "ports": [{"containerPort": 80}]}]}})
    }

    #[test]
    fn minimal_manifests_of_every_family_are_accepted() {
        let selector = json!({"matchLabels": {"app": "web"}});
        let mut job_template = template();
        job_template["spec"]["restartPolicy"] = json!("Never");
        let cases = [
            ("v1", "Pod", json!({"metadata": meta("web-abc"), "spec": template()["spec"].clone()})),
            (
                "apps/v1",
                "Deployment",
                json!({"metadata": meta("web"), "spec": {"selector": selector, "template": template()}}),
            ),
            (
                "apps/v1",
                "ReplicaSet",
                json!({"metadata": meta("web"), "spec": {"selector": selector, "template": template()}}),
            ),
            (
                "apps/v1",
                "StatefulSet",
                json!({"metadata": meta("web"), "spec": {"serviceName": "web", "selector": selector, "template": template()}}),
            ),
            (
                "apps/v1",
                "DaemonSet",
                json!({"metadata": meta("web"), "spec": {"selector": selector, "template": template()}}),
            ),
            ("v1", "ReplicationController", json!({"metadata": meta("web"), "spec": {"template": template()}})),
            ("batch/v1", "Job", json!({"metadata": meta("pi"), "spec": {"template": job_template}})),
            (
                "batch/v1",
                "CronJob",
                json!({"metadata": meta("tick"), "spec": {"schedule": "*/1 * * * *", "jobTemplate": {"spec": {"template": job_template}}}}),
            ),
            (
                "v1",
                "Service",
                json!({"metadata": meta("web"), "spec": {"selector": {"app": "web"}, "ports": [{"port": 80}]}}),
            ),
            ("v1", "ConfigMap", json!({"metadata": meta("cfg"), "data": {"a.txt": "x"}})),
            ("v1", "Secret", json!({"metadata": meta("s"), "stringData": {"password": "x"}})),
            ("v1", "Namespace", json!({"metadata": {"name": "team-a"}})),
            (
                "v1",
                "PersistentVolumeClaim",
                json!({"metadata": meta("data"), "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}}),
            ),
            ("node.k8s.io/v1", "RuntimeClass", json!({"metadata": {"name": "wasm"}, "handler": "wasmtime"})),
            (
                "rbac.authorization.k8s.io/v1",
                "ClusterRole",
                json!({"metadata": {"name": "system:viewer"}, "rules": []}),
            ),
        ];
        for (api_version, kind, obj) in cases {
            assert_eq!(admit(api_version, kind, obj, None), Ok(vec![]), "{kind}");
        }
    }

    #[test]
    fn a_bad_deployment_reports_every_field() {
        let obj = json!({"metadata": {"name": "Web", "namespace": "default"}, "spec": {
            "replicas": -1, "selector": {"matchLabels": {"app": "api"}},
            "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "c1"}]}}}});
        let errs = admit("apps/v1", "Deployment", obj, None).expect("decodes");
        let fields: Vec<&str> = errs.iter().map(|e| e.split(':').next().unwrap_or_default()).collect();
        assert_eq!(
            fields,
            [
                "metadata.name",
                "spec.template.metadata.labels",
                "spec.template.spec.containers[0].image",
                "spec.replicas",
            ]
        );
    }

    #[test]
    fn decode_failures_stop_before_validation() {
        let obj = json!({"metadata": meta("web"), "spec": {"replicas": "three"}});
        assert!(matches!(admit("apps/v1", "Deployment", obj, None), Err(DecodeError::WrongType { .. })));
    }

    #[test]
    fn pod_updates_and_identity() {
        let pod = |image: &str, restart: &str| {
            json!({"metadata": {"name": "p", "namespace": "default", "uid": "u1"},
            "spec": {"restartPolicy": restart, "containers": [{"name": "c", "image": image}]}})
        };
        let rt = by_kind("v1", "Pod").expect("served");
        let mut old = pod("nginx:1", "Always");
        apply_defaults(rt, &mut old);
        assert_eq!(admit("v1", "Pod", pod("nginx:2", "Always"), Some(&old)), Ok(vec![]));
        let errs = admit("v1", "Pod", pod("nginx:1", "Never"), Some(&old)).expect("decodes");
        assert_eq!(errs.len(), 1);
        assert!(errs[0].starts_with("spec: Forbidden: pod updates may not change fields other than"));
        let mut renamed = pod("nginx:1", "Always");
        renamed["metadata"]["name"] = json!("q");
        let errs = admit("v1", "Pod", renamed, Some(&old)).expect("decodes");
        assert_eq!(errs, vec!["metadata.name: Invalid value: \"q\": field is immutable"]);
    }

    #[test]
    fn undecodable_objects_are_reported_not_panicked_on() {
        let rt = by_kind("apps/v1", "Deployment").expect("served");
        let errs = validate(rt, &json!({"metadata": {"name": 5}}), None);
        assert_eq!(errs.len(), 1);
        assert_eq!(errs[0].field, "<object>");
    }
}
