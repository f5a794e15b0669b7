//! The `scale` subresource (`autoscaling/v1` Scale) of Deployments,
//! ReplicaSets, StatefulSets and ReplicationControllers.

use axum::http::StatusCode;
use axum::response::Response;
use bytes::Bytes;
use serde_json::{json, Value};

use super::read::{fetch, target};
use super::write::{apply_patch, commit, parse_patch, patch_type, PatchType};
use super::{body, ApiState, Ctx};
use crate::api::path::ResourceRef;
use crate::api::selectors::LabelSelector;
use crate::error::{ApiError, FieldError};
use crate::store::StoredObject;

fn selector_string(obj: &Value) -> String {
    let Some(sel) = obj.pointer("/spec/selector") else { return String::new() };
    // ReplicationControllers carry a plain label map.
    if sel.get("matchLabels").is_none() && sel.get("matchExpressions").is_none() {
        if let Some(m) = sel.as_object() {
            return m.iter().map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default())).collect::<Vec<_>>().join(",");
        }
    }
    serde_json::from_value(sel.clone())
        .ok()
        .and_then(|typed| LabelSelector::from_k8s(&typed).ok())
        .map(|s| s.to_string())
        .unwrap_or_default()
}

fn scale_of(obj: &StoredObject) -> Value {
    let v = obj.value.as_ref();
    let meta = v.get("metadata").cloned().unwrap_or_default();
    json!({
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": {
            "name": meta.get("name"), "namespace": meta.get("namespace"), "uid": meta.get("uid"),
            "resourceVersion": obj.revision.to_string(), "creationTimestamp": meta.get("creationTimestamp"),
        },
        "spec": {"replicas": v.pointer("/spec/replicas").and_then(|r| r.as_i64()).unwrap_or(0)},
        "status": {
            "replicas": v.pointer("/status/replicas").and_then(|r| r.as_i64()).unwrap_or(0),
            "selector": selector_string(v),
        },
    })
}

fn parent(r: &ResourceRef) -> ResourceRef {
    ResourceRef { sub: None, ..r.clone() }
}

pub async fn get(state: &ApiState, r: &ResourceRef) -> Result<Response, ApiError> {
    let obj = fetch(state.store.as_ref(), &parent(r)).await?;
    Ok(crate::api::response::json(StatusCode::OK, &scale_of(&obj)))
}

fn replicas_of(scale: &Value, r: &ResourceRef) -> Result<i64, ApiError> {
    let invalid = |v: &Value| ApiError::Invalid {
        target: crate::error::Target { kind: "Scale".into(), name: r.name.clone().unwrap_or_default(), group: "autoscaling".into(), ..Default::default() },
        causes: vec![FieldError::invalid("spec.replicas", v, "must be a non-negative integer")],
    };
    match scale.pointer("/spec/replicas") {
        None | Some(Value::Null) => Ok(0),
        Some(v) => v.as_i64().filter(|n| *n >= 0 && *n <= i32::MAX as i64).ok_or_else(|| invalid(v)),
    }
}

/// Write `replicas` into the parent object and answer with its new Scale.
async fn set_replicas(state: &ApiState, r: &ResourceRef, ctx: &Ctx, old: &StoredObject, replicas: i64) -> Result<Response, ApiError> {
    let mut new = (*old.value).clone();
    new["spec"]["replicas"] = json!(replicas);
    let resp = commit(state, &parent(r), ctx, old, new).await?;
    if !resp.status().is_success() {
        return Ok(resp);
    }
    let now = fetch(state.store.as_ref(), &parent(r)).await?;
    Ok(crate::api::response::json(StatusCode::OK, &scale_of(&now)))
}

pub async fn update(state: &ApiState, r: &ResourceRef, ctx: &Ctx, raw: Bytes) -> Result<Response, ApiError> {
    let scale = body::object(ctx, &raw)?;
    let replicas = replicas_of(&scale, r)?;
    let wanted = scale.pointer("/metadata/resourceVersion").and_then(|v| v.as_str()).filter(|s| !s.is_empty());
    let old = fetch(state.store.as_ref(), &parent(r)).await?;
    if wanted.is_some_and(|w| w != old.revision.to_string()) {
        return Err(ApiError::from_store(
            crate::store::StoreError::Conflict { key: r.key(), expected: 0, actual: old.revision },
            target(r),
        ));
    }
    set_replicas(state, r, ctx, &old, replicas).await
}

pub async fn patch(state: &ApiState, r: &ResourceRef, ctx: &Ctx, raw: Bytes) -> Result<Response, ApiError> {
    let kind = patch_type(ctx.content_type())?;
    if kind == PatchType::Apply {
        return Err(ApiError::UnsupportedMediaType("apply patches are not supported on the scale subresource".into()));
    }
    let p = parse_patch(kind, &raw)?;
    let old = fetch(state.store.as_ref(), &parent(r)).await?;
    let scale = scale_of(&old);
    // A Scale has no lists, so the parent's patch strategies serve it as well.
    let patched = apply_patch(r.rt, ctx, kind, &scale, &p)?;
    let replicas = replicas_of(&patched, r)?;
    set_replicas(state, r, ctx, &old, replicas).await
}
