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
pub use defaults::apply_defaults;
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

fn validate_typed(rt: &ResourceType, obj: &Value, old: Option<&Value>, errs: &mut Vec<FieldError>) -> Result<(), DecodeError> {
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
