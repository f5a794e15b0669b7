//! create, update (PUT) and patch, including the status subresource. Every
//! write goes through the same steps: decode strictly, default, stamp server
//! fields, validate, admit, track field ownership, store with compare-and-swap.

use axum::http::StatusCode;
use axum::response::Response;
use bytes::Bytes;
use serde_json::{json, Value};

use super::admission;
use super::body;
use super::read::{fetch, target};
use super::{ApiState, Ctx};
use crate::api::object::{self, meta_mut};
use crate::api::options::FieldValidation;
use crate::api::path::ResourceRef;
use crate::api::resources::{ResourceType, Sub};
use crate::api::{patch, response, validation};
use crate::error::ApiError;
use crate::store::{StoreError, StoredObject};

/// How many times a read-modify-write is retried when another writer won the
/// race (only for writes that did not name a resourceVersion themselves).
const MAX_RETRIES: usize = 8;

/// Metadata the server owns: a client's values are ignored on create.
const SERVER_META: &[&str] =
    &["uid", "resourceVersion", "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds", "generation", "selfLink"];

fn bad_type(what: &str, got: &str, want: &str) -> ApiError {
    ApiError::BadRequest(format!("the {what} in the data ({got}) does not match the expected {what} ({want})"))
}

/// Check (and fill in) `apiVersion` and `kind` against the URL's type.
fn check_type(rt: &ResourceType, obj: &mut Value) -> Result<(), ApiError> {
    let want_av = rt.api_version();
    let map = obj.as_object_mut().ok_or_else(|| ApiError::BadRequest("the request body must be a JSON object".into()))?;
    match map.get("apiVersion").and_then(|v| v.as_str()) {
        Some(av) if av != want_av => return Err(bad_type("API version", av, &want_av)),
        Some(_) => {}
        None if map.get("apiVersion").is_some_and(|v| !v.is_null()) => {
            return Err(ApiError::BadRequest("apiVersion must be a string".into()))
        }
        None => {
            map.insert("apiVersion".into(), json!(want_av));
        }
    }
    match map.get("kind").and_then(|v| v.as_str()) {
        Some(k) if k != rt.kind => return Err(bad_type("kind", k, rt.kind)),
        Some(_) => {}
        None => {
            map.insert("kind".into(), json!(rt.kind));
        }
    }
    if map.get("metadata").is_some_and(|m| !m.is_object() && !m.is_null()) {
        return Err(ApiError::BadRequest("metadata must be an object".into()));
    }
    Ok(())
}

/// Place the object in the URL's namespace, refusing a different one in the body.
fn check_namespace(r: &ResourceRef, obj: &mut Value) -> Result<(), ApiError> {
    let body_ns = object::namespace(obj).map(str::to_string);
    let meta = meta_mut(obj);
    if !r.rt.namespaced {
        meta.remove("namespace");
        return Ok(());
    }
    let Some(url_ns) = r.namespace.as_deref() else {
        return Err(ApiError::BadRequest(format!(
            "{} are namespaced: create them under /namespaces/{{namespace}}/{}",
            r.rt.plural, r.rt.plural
        )));
    };
    if let Some(ns) = body_ns {
        if ns != url_ns {
            return Err(ApiError::BadRequest(format!(
                "the namespace of the provided object ({ns}) does not match the namespace sent on the request ({url_ns})"
            )));
        }
    }
    meta.insert("namespace".into(), json!(url_ns));
    Ok(())
}

/// Strict/warn/ignore decoding against the typed schema; returns warnings.
fn decode(rt: &ResourceType, ctx: &Ctx, obj: &Value) -> Result<Vec<String>, ApiError> {
    let strict = ctx.query.field_validation == FieldValidation::Strict;
    let decoded = validation::decode(rt, obj, strict).map_err(|e| ApiError::BadRequest(e.to_string()))?;
    Ok(match ctx.query.field_validation {
        FieldValidation::Ignore => Vec::new(),
        _ => decoded.warnings,
    })
}

fn invalid(r: &ResourceRef, name: &str, causes: Vec<crate::error::FieldError>) -> ApiError {
    let mut t = target(r);
    t.name = name.to_string();
    ApiError::Invalid { target: t, causes }
}

fn created(obj: &StoredObject, warnings: &[String]) -> Response {
    response::with_warnings(response::raw_json(StatusCode::CREATED, obj.raw.clone()), warnings)
}

pub async fn create(state: &ApiState, r: &ResourceRef, ctx: &Ctx, body: Bytes) -> Result<Response, ApiError> {
    let mut obj = body::object(ctx, &body)?;
    check_type(r.rt, &mut obj)?;
    if object::meta_str(&obj, "resourceVersion").is_some_and(|rv| !rv.is_empty()) {
        return Err(ApiError::BadRequest(
            "metadata.resourceVersion: resourceVersion should not be set on objects to be created".into(),
        ));
    }
    create_object(state, r, ctx, obj, true).await
}

/// Create `obj` in the collection `r` addresses. `track` records the writer's
/// field ownership (server-side apply records its own).
async fn create_object(state: &ApiState, r: &ResourceRef, ctx: &Ctx, mut obj: Value, track: bool) -> Result<Response, ApiError> {
    let collection = ResourceRef { name: None, sub: None, ..r.clone() };
    check_namespace(&collection, &mut obj)?;
    {
        let meta = meta_mut(&mut obj);
        for f in SERVER_META {
            meta.remove(*f);
        }
    }
    let generate = object::meta_str(&obj, "generateName").filter(|g| !g.is_empty()).map(str::to_string);
    if object::name(&obj).is_none() {
        if let Some(prefix) = &generate {
            meta_mut(&mut obj).insert("name".into(), json!(format!("{prefix}{}", object::random_suffix(5))));
        }
    }
    let warnings = decode(r.rt, ctx, &obj)?;
    validation::apply_defaults(r.rt, &mut obj);
    {
        let meta = meta_mut(&mut obj);
        meta.insert("uid".into(), json!(uuid::Uuid::new_v4().to_string()));
        meta.insert("creationTimestamp".into(), json!(object::now_rfc3339()));
        meta.insert("generation".into(), json!(1));
    }
    let name = object::name(&obj).unwrap_or_default().to_string();
    let causes = validation::validate(r.rt, &obj, None);
    if !causes.is_empty() {
        return Err(invalid(r, &name, causes));
    }
    admission::on_create(state, r.rt, &mut obj).await?;
    // Held until the object is stored, so concurrent creates cannot overrun a quota.
    let _quota = super::quota::admit_create(state, r.rt, &mut obj).await?;
    if track {
        patch::track_update(r.rt, None, &mut obj, &ctx.field_manager(), None, jiff::Timestamp::now());
    }
    let mut named = ResourceRef { name: Some(name), ..collection };
    if ctx.query.dry_run {
        return Ok(response::with_warnings(response::json(StatusCode::CREATED, &obj), &warnings));
    }
    // A generated name can collide; pick another suffix, as Kubernetes does.
    for _ in 0..5 {
        match state.store.create(&named.key(), obj.clone()).await {
            Ok(stored) => return Ok(created(&stored, &warnings)),
            Err(StoreError::AlreadyExists(_)) if generate.is_some() => {
                let fresh = format!("{}{}", generate.as_deref().unwrap_or_default(), object::random_suffix(5));
                meta_mut(&mut obj).insert("name".into(), json!(fresh.clone()));
                named.name = Some(fresh);
            }
            Err(e) => return Err(ApiError::from_store(e, target(&named))),
        }
    }
    Err(ApiError::AlreadyExists(target(&named)))
}

/// A resourceVersion the client put in the object, if any.
fn client_revision(obj: &Value) -> Result<Option<i64>, ApiError> {
    match object::meta_str(obj, "resourceVersion") {
        None | Some("") => Ok(None),
        Some(rv) => rv.parse().map(Some).map_err(|_| {
            ApiError::BadRequest(format!("metadata.resourceVersion: Invalid value: {rv:?}: must be the value read from the server"))
        }),
    }
}

fn stale(r: &ResourceRef) -> ApiError {
    ApiError::from_store(StoreError::Conflict { key: r.key(), expected: 0, actual: 0 }, target(r))
}

pub async fn update(state: &ApiState, r: &ResourceRef, ctx: &Ctx, body: Bytes) -> Result<Response, ApiError> {
    let mut obj = body::object(ctx, &body)?;
    check_type(r.rt, &mut obj)?;
    let url_name = r.name.clone().unwrap_or_default();
    if let Some(n) = object::name(&obj) {
        if n != url_name {
            return Err(ApiError::BadRequest(format!(
                "the name of the object ({n}) does not match the name on the URL ({url_name})"
            )));
        }
    }
    meta_mut(&mut obj).insert("name".into(), json!(url_name));
    check_namespace(r, &mut obj)?;
    let wanted = client_revision(&obj)?;
    for _ in 0..MAX_RETRIES {
        let old = fetch(state.store.as_ref(), r).await?;
        if wanted.is_some_and(|w| w != old.revision) {
            return Err(stale(r));
        }
        match commit(state, r, ctx, &old, obj.clone()).await {
            Err(ApiError::Conflict { .. }) if wanted.is_none() => continue,
            other => return other,
        }
    }
    Err(stale(r))
}

/// The patch formats kubectl sends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PatchType {
    Merge,
    Json,
    Strategic,
    Apply,
}

pub fn patch_type(content_type: &str) -> Result<PatchType, ApiError> {
    match body::media_type(content_type).as_str() {
        "application/merge-patch+json" => Ok(PatchType::Merge),
        "application/json-patch+json" => Ok(PatchType::Json),
        "application/strategic-merge-patch+json" => Ok(PatchType::Strategic),
        "application/apply-patch+yaml" | "application/apply-patch+json" => Ok(PatchType::Apply),
        other => Err(ApiError::UnsupportedMediaType(format!(
            "the body of the request was in an unknown format ({other}): accepted media types are application/json-patch+json, application/merge-patch+json, application/strategic-merge-patch+json, application/apply-patch+yaml"
        ))),
    }
}

/// Parse a patch body of the given type.
pub fn parse_patch(kind: PatchType, body: &[u8]) -> Result<Value, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::BadRequest("the patch is empty".into()));
    }
    let p = match kind {
        PatchType::Apply => body::parse_yaml(body)?,
        _ => body::parse_json(body)?,
    };
    match (kind, &p) {
        (PatchType::Json, Value::Array(_)) => Ok(p),
        (PatchType::Json, _) => Err(ApiError::BadRequest("a JSON patch must be an array of operations".into())),
        (_, Value::Object(_)) => Ok(p),
        _ => Err(ApiError::BadRequest("the patch must be a JSON object".into())),
    }
}

/// Apply `p` of type `kind` to a copy of `live`.
pub fn apply_patch(rt: &ResourceType, ctx: &Ctx, kind: PatchType, live: &Value, p: &Value) -> Result<Value, ApiError> {
    let mut new = live.clone();
    match kind {
        PatchType::Merge => patch::merge_patch(&mut new, p),
        PatchType::Json => patch::json_patch(&mut new, p)?,
        PatchType::Strategic => patch::strategic_merge(rt, &mut new, p)?,
        PatchType::Apply => {
            new = patch::apply(rt, Some(live), p, &ctx.field_manager(), ctx.query.force, jiff::Timestamp::now())?
        }
    }
    if !new.is_object() {
        return Err(ApiError::BadRequest("the patch turned the object into something other than a JSON object".into()));
    }
    Ok(new)
}

pub async fn patch(state: &ApiState, r: &ResourceRef, ctx: &Ctx, body: Bytes) -> Result<Response, ApiError> {
    let kind = patch_type(ctx.content_type())?;
    let p = parse_patch(kind, &body)?;
    if kind == PatchType::Apply && ctx.query.field_manager.is_none() {
        return Err(ApiError::Invalid {
            target: crate::error::Target { kind: "PatchOptions.meta.k8s.io".into(), ..Default::default() },
            causes: vec![crate::error::FieldError {
                field: "fieldManager".into(),
                kind: crate::error::FieldErrorKind::Required,
                value: None,
                detail: "is required for apply patch".into(),
            }],
        });
    }
    for _ in 0..MAX_RETRIES {
        let old = match fetch(state.store.as_ref(), r).await {
            Ok(o) => o,
            Err(ApiError::NotFound(_)) if kind == PatchType::Apply && r.sub.is_none() => {
                return apply_create(state, r, ctx, &p).await;
            }
            Err(e) => return Err(e),
        };
        let mut new = apply_patch(r.rt, ctx, kind, &old.value, &p)?;
        let url_name = r.name.as_deref().unwrap_or_default();
        if let Some(n) = object::name(&new).filter(|n| *n != url_name) {
            return Err(ApiError::BadRequest(format!(
                "the name of the object ({n}) does not match the name on the URL ({url_name})"
            )));
        }
        let wanted = client_revision(&new)?;
        if wanted.is_some_and(|w| w != old.revision) {
            return Err(stale(r));
        }
        // A patch that named no resourceVersion applies to whatever is current.
        let explicit = p.pointer("/metadata/resourceVersion").is_some();
        meta_mut(&mut new).remove("resourceVersion");
        match commit(state, r, ctx, &old, new).await {
            Err(ApiError::Conflict { .. }) if !explicit => continue,
            other => return other,
        }
    }
    Err(stale(r))
}

/// Server-side apply of an object that does not exist yet: create it.
async fn apply_create(state: &ApiState, r: &ResourceRef, ctx: &Ctx, config: &Value) -> Result<Response, ApiError> {
    let mut obj = patch::apply(r.rt, None, config, &ctx.field_manager(), ctx.query.force, jiff::Timestamp::now())?;
    check_type(r.rt, &mut obj)?;
    let url_name = r.name.clone().unwrap_or_default();
    match object::name(&obj) {
        Some(n) if n != url_name => {
            return Err(ApiError::BadRequest(format!(
                "the name of the object ({n}) does not match the name on the URL ({url_name})"
            )))
        }
        _ => {
            meta_mut(&mut obj).insert("name".into(), json!(url_name));
        }
    }
    create_object(state, r, ctx, obj, false).await
}

/// Keep what a write to `sub` may not change: a write to the object leaves
/// `status` alone, a write to `status` changes nothing else.
fn confine_to_subresource(rt: &ResourceType, sub: Option<Sub>, old: &Value, mut new: Value) -> Value {
    match sub {
        Some(Sub::Finalize) => super::finalize::confine(old, &new),
        Some(Sub::Status) => {
            let mut out = old.clone();
            match new.as_object_mut().and_then(|m| m.remove("status")) {
                Some(s) => out["status"] = s,
                None => {
                    if let Some(m) = out.as_object_mut() {
                        m.remove("status");
                    }
                }
            }
            out
        }
        _ if rt.has(Sub::Status) => {
            if let Some(m) = new.as_object_mut() {
                match old.get("status") {
                    Some(s) => {
                        m.insert("status".into(), s.clone());
                    }
                    None => {
                        m.remove("status");
                    }
                }
            }
            new
        }
        _ => new,
    }
}

/// Without `managedFields` and `resourceVersion`: what decides if a write changed anything.
fn comparable(v: &Value) -> Value {
    let mut v = v.clone();
    if let Some(m) = v.get_mut("metadata").and_then(|m| m.as_object_mut()) {
        m.remove("managedFields");
        m.remove("resourceVersion");
    }
    v
}

/// Write `new` over `old` (the object `r` names): the steps every update and
/// patch shares.
pub async fn commit(state: &ApiState, r: &ResourceRef, ctx: &Ctx, old: &StoredObject, new: Value) -> Result<Response, ApiError> {
    let rt = r.rt;
    let mut new = confine_to_subresource(rt, r.sub, &old.value, new);
    {
        let old_meta = old.value.get("metadata").cloned().unwrap_or_default();
        let meta = meta_mut(&mut new);
        // Server-owned fields always keep their stored values.
        for f in ["uid", "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds", "generation"] {
            match old_meta.get(f) {
                Some(v) => {
                    meta.insert(f.into(), v.clone());
                }
                None => {
                    meta.remove(f);
                }
            }
        }
        meta.remove("resourceVersion");
        // An emptied list is no list: Go's omitempty drops `finalizers: []` and
        // `ownerReferences: []`, and clients compare against that.
        for f in ["finalizers", "ownerReferences"] {
            if meta.get(f).and_then(|v| v.as_array()).is_some_and(|a| a.is_empty()) {
                meta.remove(f);
            }
        }
    }
    let warnings = decode(rt, ctx, &new)?;
    validation::apply_defaults(rt, &mut new);
    if object::spec_part(&new) != object::spec_part(&old.value) {
        let generation = old.value.pointer("/metadata/generation").and_then(|g| g.as_i64()).unwrap_or(0) + 1;
        meta_mut(&mut new).insert("generation".into(), json!(generation));
    }
    let name = r.name.clone().unwrap_or_default();
    let causes = validation::validate(rt, &new, Some(&old.value));
    if !causes.is_empty() {
        return Err(invalid(r, &name, causes));
    }
    admission::on_update(state, rt, &old.value, &mut new).await?;
    // Held until the update is stored, so concurrent writes cannot overrun a quota.
    let _quota = super::quota::admit_update(state, rt, &old.value, &new).await?;
    patch::track_update(rt, Some(&old.value), &mut new, &ctx.field_manager(), r.sub.map(|s| s.name()), jiff::Timestamp::now());
    if comparable(&new) == comparable(&old.value) {
        // Nothing changed: no write, same resourceVersion (kubectl prints "(no change)").
        return Ok(response::with_warnings(response::raw_json(StatusCode::OK, old.raw.clone()), &warnings));
    }
    if ctx.query.dry_run {
        return Ok(response::with_warnings(response::json(StatusCode::OK, &new), &warnings));
    }
    // The last finalizer of an object being deleted is gone: delete it for real.
    // Not while a grace period runs (a pod stopping gracefully): its node's
    // status writes must not end it early; the node deletes it when stopped.
    let in_grace = old.value.pointer("/metadata/deletionGracePeriodSeconds").and_then(|g| g.as_i64()).is_some_and(|g| g > 0);
    if object::is_deleting(&new) && !in_grace && super::finalize::may_go(rt, &new) {
        let gone = state.store.delete(&r.key(), Some(old.revision)).await.map_err(|e| ApiError::from_store(e, target(r)))?;
        return Ok(response::raw_json(StatusCode::OK, gone.raw));
    }
    let stored = state.store.update(&r.key(), new, Some(old.revision)).await.map_err(|e| ApiError::from_store(e, target(r)))?;
    Ok(response::with_warnings(response::raw_json(StatusCode::OK, stored.raw), &warnings))
}
