//! delete and deletecollection, with finalizers, graceful pod deletion and
//! propagation policies recorded for the garbage collector.

use axum::http::StatusCode;
use axum::response::Response;
use bytes::Bytes;
use serde_json::{json, Value};

use super::read::{fetch, select, target, Filter};
use super::{body, ApiState, Ctx};
use crate::api::object::{self, meta_mut};
use crate::api::path::ResourceRef;
use crate::api::resources;
use crate::api::response;
use crate::error::ApiError;
use crate::store::{StoreError, StoredObject};

/// DeleteOptions from the body and the query string.
#[derive(Debug, Default)]
struct DeleteOptions {
    propagation: Option<String>,
    grace: Option<i64>,
    uid: Option<String>,
    resource_version: Option<String>,
    dry_run: bool,
}

fn options(ctx: &Ctx, raw: &[u8]) -> Result<DeleteOptions, ApiError> {
    let mut o = DeleteOptions {
        propagation: ctx.query.propagation_policy.clone(),
        grace: ctx.query.grace_period_seconds,
        dry_run: ctx.query.dry_run,
        ..Default::default()
    };
    if !raw.iter().all(u8::is_ascii_whitespace) {
        let v: Value = body::parse_json(raw)?;
        if !v.is_object() {
            return Err(ApiError::BadRequest("DeleteOptions must be a JSON object".into()));
        }
        if let Some(p) = v.get("propagationPolicy").and_then(|p| p.as_str()) {
            o.propagation = Some(p.to_string());
        }
        if let Some(g) = v.get("gracePeriodSeconds") {
            o.grace = Some(g.as_i64().ok_or_else(|| ApiError::BadRequest("gracePeriodSeconds must be an integer".into()))?);
        }
        o.uid = v.pointer("/preconditions/uid").and_then(|u| u.as_str()).map(str::to_string);
        o.resource_version = v.pointer("/preconditions/resourceVersion").and_then(|u| u.as_str()).map(str::to_string);
        if let Some(d) = v.get("dryRun").and_then(|d| d.as_array()) {
            o.dry_run |= d.iter().any(|x| x == "All");
        }
        if v.get("orphanDependents") == Some(&Value::Bool(true)) && o.propagation.is_none() {
            o.propagation = Some("Orphan".into());
        }
    }
    match o.propagation.as_deref() {
        None | Some("Background" | "Foreground" | "Orphan") => {}
        Some(p) => {
            return Err(ApiError::Invalid {
                target: crate::error::Target { kind: "DeleteOptions.meta.k8s.io".into(), ..Default::default() },
                causes: vec![crate::error::FieldError::not_supported("propagationPolicy", p, &["Foreground", "Background", "Orphan"])],
            })
        }
    }
    if o.grace.is_some_and(|g| g < 0) {
        return Err(ApiError::BadRequest("gracePeriodSeconds must not be negative".into()));
    }
    Ok(o)
}

pub async fn delete(state: &ApiState, r: &ResourceRef, ctx: &Ctx, raw: Bytes) -> Result<Response, ApiError> {
    let opts = options(ctx, &raw)?;
    for _ in 0..8 {
        let old = fetch(state.store.as_ref(), r).await?;
        match delete_one(state, r, &opts, &old).await {
            // A lost race is retried; a failed precondition never gets better.
            Err(ApiError::Conflict { .. }) if opts.resource_version.is_none() && opts.uid.is_none() => continue,
            Ok(v) => return Ok(response::json(StatusCode::OK, &v)),
            Err(e) => return Err(e),
        }
    }
    Err(ApiError::Conflict { target: target(r), message: "the object kept changing while deleting it; try again".into() })
}

/// Whether a pod must wait for its node's agent to stop it before it goes.
async fn pod_needs_graceful_stop(state: &ApiState, pod: &Value, grace: i64) -> bool {
    let Some(node) = pod.pointer("/spec/nodeName").and_then(|n| n.as_str()).filter(|n| !n.is_empty()) else {
        return false;
    };
    let finished = matches!(pod.pointer("/status/phase").and_then(|p| p.as_str()), Some("Succeeded" | "Failed"));
    let nodes = resources::lookup("", "v1", "nodes").expect("nodes are served");
    let node_exists = matches!(state.store.get(&nodes.key(None, node)).await, Ok(Some(_)));
    grace > 0 && !finished && node_exists
}

async fn delete_one(state: &ApiState, r: &ResourceRef, opts: &DeleteOptions, old: &StoredObject) -> Result<Value, ApiError> {
    let value = old.value.as_ref();
    if let Some(uid) = &opts.uid {
        let actual = object::meta_str(value, "uid").unwrap_or_default();
        if uid != actual {
            return Err(ApiError::Conflict {
                target: target(r),
                message: format!("Precondition failed: UID in precondition: {uid}, UID in object meta: {actual}"),
            });
        }
    }
    if let Some(rv) = &opts.resource_version {
        if *rv != old.revision.to_string() {
            return Err(ApiError::Conflict {
                target: target(r),
                message: format!("Precondition failed: ResourceVersion in precondition: {rv}, ResourceVersion in object meta: {}", old.revision),
            });
        }
    }
    let is_pod = r.rt.group.is_empty() && r.rt.plural == "pods";
    let is_namespace = r.rt.group.is_empty() && r.rt.plural == "namespaces" && super::finalize::namespace_pending(value);
    let grace = opts.grace.unwrap_or_else(|| value.pointer("/spec/terminationGracePeriodSeconds").and_then(|g| g.as_i64()).unwrap_or(30));
    if object::is_deleting(value) {
        // Already on its way out. A pod asked to go at once loses its grace.
        let force_now = is_pod && opts.grace == Some(0) && object::finalizers(value).is_empty();
        if !force_now {
            return shorten_grace(state, r, opts, old).await;
        }
    } else {
        let mut new = (*old.value).clone();
        let mut finalizers = object::finalizers(&new);
        let policy_finalizer = match opts.propagation.as_deref() {
            Some("Foreground") => Some("foregroundDeletion"),
            Some("Orphan") => Some("orphan"),
            _ => None,
        };
        if let Some(f) = policy_finalizer {
            if !finalizers.iter().any(|x| x == f) {
                finalizers.push(f.to_string());
            }
        }
        let graceful = is_pod && pod_needs_graceful_stop(state, value, grace).await;
        if is_namespace || graceful || !finalizers.is_empty() {
            let meta = meta_mut(&mut new);
            meta.insert("deletionTimestamp".into(), json!(object::now_rfc3339()));
            meta.insert("deletionGracePeriodSeconds".into(), json!(if graceful { grace } else { 0 }));
            if !finalizers.is_empty() {
                meta.insert("finalizers".into(), json!(finalizers));
            }
            meta.remove("resourceVersion");
            if is_namespace {
                new["status"]["phase"] = json!("Terminating");
            }
            if opts.dry_run {
                return Ok(new);
            }
            let stored = state.store.update(&r.key(), new, Some(old.revision)).await.map_err(|e| store_err(e, r))?;
            return Ok((*stored.value).clone());
        }
    }
    if opts.dry_run {
        return Ok((*old.value).clone());
    }
    let gone = state.store.delete(&r.key(), Some(old.revision)).await.map_err(|e| store_err(e, r))?;
    Ok((*gone.value).clone())
}

/// A second delete of an object already on its way out: a shorter grace
/// period than the running one replaces it, as upstream does, so that the
/// object can end as soon as its last finalizer goes (a node's grace-0 delete
/// of a pod that still carries a finalizer).
async fn shorten_grace(state: &ApiState, r: &ResourceRef, opts: &DeleteOptions, old: &StoredObject) -> Result<Value, ApiError> {
    let current = old.value.pointer("/metadata/deletionGracePeriodSeconds").and_then(|g| g.as_i64());
    let shorter = match (opts.grace, current) {
        (Some(requested), Some(current)) if requested.max(0) < current => requested.max(0),
        _ => return Ok((*old.value).clone()),
    };
    let mut new = (*old.value).clone();
    let meta = meta_mut(&mut new);
    meta.insert("deletionGracePeriodSeconds".into(), json!(shorter));
    meta.remove("resourceVersion");
    if opts.dry_run {
        return Ok(new);
    }
    let stored = state.store.update(&r.key(), new, Some(old.revision)).await.map_err(|e| store_err(e, r))?;
    Ok((*stored.value).clone())
}

fn store_err(e: StoreError, r: &ResourceRef) -> ApiError {
    ApiError::from_store(e, target(r))
}

pub async fn delete_collection(state: &ApiState, r: &ResourceRef, ctx: &Ctx, raw: Bytes) -> Result<Response, ApiError> {
    if r.rt.plural == "namespaces" && r.rt.group.is_empty() {
        return Err(ApiError::MethodNotAllowed("namespaces cannot be deleted as a collection: delete them one by one".into()));
    }
    let opts = options(ctx, &raw)?;
    let filter = Filter::from_ctx(r.rt, ctx)?;
    let (items, revision, _) = select(state.store.as_ref(), r.rt, r.namespace.as_deref(), &filter, None, None).await?;
    let mut deleted = Vec::new();
    for item in items {
        let name = object::name(&item.value).unwrap_or_default().to_string();
        let ns = object::namespace(&item.value).map(str::to_string);
        let one = ResourceRef { name: Some(name), namespace: ns, ..r.clone() };
        match delete_one(state, &one, &opts, &item).await {
            Ok(v) => deleted.push(v),
            // Changed or gone meanwhile: skip it, as Kubernetes' deletecollection does.
            Err(ApiError::Conflict { .. } | ApiError::NotFound(_)) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(response::json(
        StatusCode::OK,
        &json!({"kind": r.rt.list_kind(), "apiVersion": r.rt.api_version(), "metadata": {"resourceVersion": revision.to_string()}, "items": deleted}),
    ))
}
