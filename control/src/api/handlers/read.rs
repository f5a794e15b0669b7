//! get and list.

use axum::http::StatusCode;
use axum::response::Response;
use base64::Engine;
use serde_json::{json, Value};

use super::{ApiState, Ctx};
use crate::api::path::ResourceRef;
use crate::api::resources::ResourceType;
use crate::api::response;
use crate::api::selectors::{FieldSelector, LabelSelector};
use crate::api::table::{self, IncludeObject};
use crate::error::{ApiError, Target};
use crate::store::{StoredObject, Store};

pub fn target(r: &ResourceRef) -> Target {
    Target {
        group: r.rt.group.to_string(),
        resource: r.rt.plural.to_string(),
        kind: r.rt.kind.to_string(),
        name: r.name.clone().unwrap_or_default(),
    }
}

/// The stored object `r` names, or 404.
pub async fn fetch(store: &dyn Store, r: &ResourceRef) -> Result<StoredObject, ApiError> {
    store
        .get(&r.key())
        .await
        .map_err(|e| ApiError::from_store(e, target(r)))?
        .ok_or_else(|| ApiError::NotFound(target(r)))
}

pub fn include_object(ctx: &Ctx) -> Result<IncludeObject, ApiError> {
    ctx.query.include_object.as_deref().unwrap_or_default().parse().map_err(|e: crate::api::table::UnknownIncludeObject| ApiError::BadRequest(e.to_string()))
}

pub async fn get(state: &ApiState, r: &ResourceRef, ctx: &Ctx) -> Result<Response, ApiError> {
    let obj = fetch(state.store.as_ref(), r).await?;
    if ctx.wants_table() {
        let meta = json!({"resourceVersion": obj.revision.to_string()});
        let t = table::table(r.rt, &[obj.value.as_ref()], include_object(ctx)?, meta, jiff::Timestamp::now());
        return Ok(response::json(StatusCode::OK, &t));
    }
    Ok(response::raw_json(StatusCode::OK, obj.raw.clone()))
}

/// Parsed `labelSelector` and `fieldSelector` of a request.
pub struct Filter {
    pub labels: Option<LabelSelector>,
    pub fields: Option<FieldSelector>,
}

impl Filter {
    pub fn from_ctx(rt: &ResourceType, ctx: &Ctx) -> Result<Filter, ApiError> {
        let labels = match &ctx.query.label_selector {
            Some(s) => Some(LabelSelector::parse(s).map_err(|e| ApiError::BadRequest(format!("invalid labelSelector {s:?}: {e}")))?),
            None => None,
        };
        let fields = match &ctx.query.field_selector {
            Some(s) => {
                let f = FieldSelector::parse(s).map_err(|e| ApiError::BadRequest(format!("invalid fieldSelector {s:?}: {e}")))?;
                crate::api::field_labels::check(rt, &f)?;
                Some(f)
            }
            None => None,
        };
        Ok(Filter { labels, fields })
    }

    pub fn matches(&self, obj: &Value) -> bool {
        self.labels.as_ref().is_none_or(|l| l.matches(crate::api::object::labels(obj)))
            && self.fields.as_ref().is_none_or(|f| f.matches(obj))
    }
}

/// The opaque `continue` token: where the previous page stopped.
fn encode_continue(last_key: &str, revision: i64) -> String {
    let raw = json!({"k": last_key, "rv": revision}).to_string();
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw)
}

fn decode_continue(token: &str, prefix: &str) -> Result<String, ApiError> {
    let bad = || ApiError::BadRequest(format!("invalid continue token {token:?}: pass the value of metadata.continue from the previous list unchanged"));
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(token).map_err(|_| bad())?;
    let v: Value = serde_json::from_slice(&raw).map_err(|_| bad())?;
    let key = v.get("k").and_then(|k| k.as_str()).ok_or_else(bad)?;
    if !key.starts_with(prefix) {
        return Err(bad());
    }
    Ok(key.to_string())
}

/// Objects of `rt` in `namespace` matching `filter`, from `after` on, at most
/// `limit`; with the list's revision and the key to continue after.
pub async fn select(
    store: &dyn Store,
    rt: &ResourceType,
    namespace: Option<&str>,
    filter: &Filter,
    after: Option<&str>,
    limit: Option<usize>,
) -> Result<(Vec<StoredObject>, i64, Option<String>), ApiError> {
    let internal = |e| ApiError::from_store(e, Target::default());
    // A `metadata.name=x` term narrows the list to one key.
    if let Some(name) = filter.fields.as_ref().and_then(|f| f.requires_name()) {
        let revision = store.current_revision();
        let obj = store.get(&rt.key(namespace, name)).await.map_err(internal)?;
        let items = obj.into_iter().filter(|o| filter.matches(&o.value)).collect();
        return Ok((items, revision, None));
    }
    let page = store.list(&rt.prefix_in(namespace), after, None).await.map_err(internal)?;
    let mut items = Vec::new();
    let mut more = None;
    for o in page.items {
        if !filter.matches(&o.value) {
            continue;
        }
        if limit.is_some_and(|l| items.len() >= l) {
            more = items.last().map(|last: &StoredObject| last.key.clone());
            break;
        }
        items.push(o);
    }
    Ok((items, page.revision, more))
}

pub async fn list(state: &ApiState, r: &ResourceRef, ctx: &Ctx) -> Result<Response, ApiError> {
    let filter = Filter::from_ctx(r.rt, ctx)?;
    let prefix = r.rt.prefix_in(r.namespace.as_deref());
    let after = ctx.query.continue_token.as_deref().map(|t| decode_continue(t, &prefix)).transpose()?;
    let (items, revision, more) =
        select(state.store.as_ref(), r.rt, r.namespace.as_deref(), &filter, after.as_deref(), ctx.query.limit).await?;
    let token = more.map(|k| encode_continue(&k, revision));
    if ctx.wants_table() {
        let mut meta = json!({"resourceVersion": revision.to_string()});
        if let Some(t) = &token {
            meta["continue"] = json!(t);
        }
        let objs: Vec<&Value> = items.iter().map(|o| o.value.as_ref()).collect();
        let t = table::table(r.rt, &objs, include_object(ctx)?, meta, jiff::Timestamp::now());
        return Ok(response::json(StatusCode::OK, &t));
    }
    let refs: Vec<&StoredObject> = items.iter().collect();
    let body = response::list_body(&r.rt.api_version(), &r.rt.list_kind(), revision, token.as_deref(), &refs);
    Ok(response::raw_json(StatusCode::OK, body))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn continue_tokens_round_trip_and_stay_in_their_collection() {
        let t = encode_continue("/registry/core/pods/default/web-1", 42);
        assert_eq!(decode_continue(&t, "/registry/core/pods/default/").unwrap(), "/registry/core/pods/default/web-1");
        assert!(decode_continue(&t, "/registry/core/secrets/").is_err());
        assert!(decode_continue("%%%", "/").is_err());
    }
}
