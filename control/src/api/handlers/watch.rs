//! `?watch=true`: a chunked stream of newline-separated watch events, kept
//! open until the client goes (or `timeoutSeconds` passes): kubectl ends
//! `get -w` as soon as the server ends the stream.

use std::time::Duration;

use axum::body::Body;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use futures::StreamExt;
use serde_json::{json, Value};
use tokio::sync::mpsc;

use super::read::{include_object, select, Filter};
use super::{ApiState, Ctx};
use crate::api::path::ResourceRef;
use crate::api::resources::ResourceType;
use crate::api::table::{self, IncludeObject};
use crate::error::ApiError;
use crate::store::{EventKind, StoreError, StoredObject, WatchEvent};

const BOOKMARK_EVERY: Duration = Duration::from_secs(30);

/// How each event's object is rendered.
#[derive(Clone, Copy)]
enum Render {
    Object,
    Table(IncludeObject),
}

fn render(rt: &ResourceType, how: Render, obj: &StoredObject) -> Value {
    match how {
        Render::Object => (*obj.value).clone(),
        Render::Table(include) => {
            let meta = json!({"resourceVersion": obj.revision.to_string()});
            table::table(rt, &[obj.value.as_ref()], include, meta, jiff::Timestamp::now())
        }
    }
}

fn line(kind: &str, object: Value) -> Bytes {
    let mut v = serde_json::to_vec(&json!({"type": kind, "object": object})).unwrap_or_default();
    v.push(b'\n');
    Bytes::from(v)
}

fn gone_line(requested: i64, oldest: i64) -> Bytes {
    let status = ApiError::Gone(format!("too old resource version: {requested} ({oldest})")).status();
    line("ERROR", status)
}

/// Which event type, if any, a change means for a watcher with `filter`:
/// an object leaving the selection is DELETED for it, one entering is ADDED.
fn classify(filter: &Filter, ev: &WatchEvent) -> Option<&'static str> {
    let now = filter.matches(&ev.object.value);
    let before = ev.prev.as_ref().map(|p| filter.matches(&p.value));
    match ev.kind {
        EventKind::Added => now.then_some("ADDED"),
        EventKind::Deleted => now.then_some("DELETED"),
        EventKind::Modified => match (before, now) {
            (Some(false), true) => Some("ADDED"),
            (Some(true), false) => Some("DELETED"),
            (_, true) => Some("MODIFIED"),
            _ => None,
        },
    }
}

pub async fn watch(state: &ApiState, r: &ResourceRef, ctx: &Ctx) -> Result<Response, ApiError> {
    let filter = Filter::from_ctx(r.rt, ctx)?;
    let how = if ctx.wants_table() { Render::Table(include_object(ctx)?) } else { Render::Object };
    let exact_key = r.name.as_ref().map(|_| r.key());
    let prefix = r.rt.prefix_in(r.namespace.as_deref());
    let store = state.store.clone();
    let rt = r.rt;

    // No resourceVersion (or "0"): start with the current state as ADDED events.
    let requested: Option<i64> = match ctx.query.resource_version.as_deref() {
        None | Some("0") => None,
        Some(rv) => Some(rv.parse().map_err(|_| ApiError::BadRequest(format!("invalid resourceVersion {rv:?}: must be a value read from the server")))?),
    };
    let mut initial = Vec::new();
    let start = match requested {
        Some(rv) => rv,
        None => {
            let (items, revision, _) = select(store.as_ref(), rt, r.namespace.as_deref(), &filter, None, None).await?;
            initial = items.into_iter().filter(|o| exact_key.as_ref().is_none_or(|k| *k == o.key)).collect();
            revision
        }
    };
    let events = match store.watch(&prefix, start).await {
        Ok(s) => Some(s),
        Err(StoreError::Compacted { .. }) => None,
        Err(e) => return Err(ApiError::from_store(e, Default::default())),
    };

    let (tx, rx) = mpsc::channel::<Bytes>(256);
    let bookmarks = ctx.query.allow_bookmarks;
    let timeout = ctx.query.timeout_seconds.map(Duration::from_secs);
    tokio::spawn(async move {
        let Some(mut events) = events else {
            let oldest = store.current_revision();
            let _ = tx.send(gone_line(start, oldest)).await;
            return;
        };
        for o in &initial {
            if tx.send(line("ADDED", render(rt, how, o))).await.is_err() {
                return;
            }
        }
        let deadline = timeout.map(|t| tokio::time::Instant::now() + t);
        let mut last_seen = start;
        let mut tick = tokio::time::interval(BOOKMARK_EVERY);
        tick.tick().await;
        loop {
            let next = async {
                match deadline {
                    Some(d) => tokio::time::timeout_at(d, events.next()).await.ok(),
                    None => Some(events.next().await),
                }
            };
            tokio::select! {
                ev = next => {
                    let Some(ev) = ev else { return };  // timeoutSeconds reached
                    match ev {
                        None => return,
                        Some(Err(StoreError::Compacted { requested, oldest })) => {
                            let _ = tx.send(gone_line(requested, oldest)).await;
                            return;
                        }
                        Some(Err(StoreError::WatcherTooSlow { last_delivered })) => {
                            // 410 tells the client to re-list, as after compaction.
                            let _ = tx.send(gone_line(last_delivered, last_delivered)).await;
                            return;
                        }
                        Some(Err(_)) => return,
                        Some(Ok(ev)) => {
                            last_seen = ev.object.revision;
                            if exact_key.as_ref().is_some_and(|k| *k != ev.object.key) {
                                continue;
                            }
                            if let Some(kind) = classify(&filter, &ev) {
                                if tx.send(line(kind, render(rt, how, &ev.object))).await.is_err() {
                                    return;
                                }
                            }
                        }
                    }
                }
                _ = tick.tick(), if bookmarks => {
                    let mark = json!({"kind": rt.kind, "apiVersion": rt.api_version(), "metadata": {"resourceVersion": last_seen.to_string()}});
                    if tx.send(line("BOOKMARK", mark)).await.is_err() {
                        return;
                    }
                }
                _ = tx.closed() => return,
            }
        }
    });

    let stream = tokio_stream::wrappers::ReceiverStream::new(rx).map(Ok::<_, std::convert::Infallible>);
    let mut resp = (StatusCode::OK, Body::from_stream(stream)).into_response();
    let ct = match how {
        Render::Table(_) => "application/json;as=Table;v=v1;g=meta.k8s.io",
        Render::Object => "application/json",
    };
    resp.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(ct));
    Ok(resp)
}
