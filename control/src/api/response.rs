//! Building HTTP responses: JSON bodies, lists assembled from stored bytes,
//! warnings.

use axum::body::Body;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use bytes::{BufMut, Bytes, BytesMut};
use serde_json::Value;

use crate::store::StoredObject;

pub fn json(code: StatusCode, v: &Value) -> Response {
    raw_json(code, Bytes::from(serde_json::to_vec(v).unwrap_or_default()))
}

pub fn raw_json(code: StatusCode, body: Bytes) -> Response {
    let mut r = (code, Body::from(body)).into_response();
    r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    r
}

pub fn with_content_type(mut r: Response, ct: &'static str) -> Response {
    r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(ct));
    r
}

/// Attach `Warning: 299 - "..."` headers, which kubectl prints to stderr.
pub fn with_warnings(mut r: Response, warnings: &[String]) -> Response {
    for w in warnings {
        let text = format!("299 - \"{}\"", w.replace('"', "\\\""));
        if let Ok(v) = HeaderValue::from_str(&text) {
            r.headers_mut().append(header::WARNING, v);
        }
    }
    r
}

/// A `<Kind>List` whose items are the stored JSON bytes, copied as they are:
/// no object is parsed or re-serialized to answer a list.
pub fn list_body(api_version: &str, list_kind: &str, revision: i64, continue_token: Option<&str>, items: &[&StoredObject]) -> Bytes {
    let mut meta = serde_json::json!({"resourceVersion": revision.to_string()});
    if let Some(c) = continue_token {
        meta["continue"] = Value::String(c.to_string());
    }
    let head = format!(
        "{{\"kind\":{},\"apiVersion\":{},\"metadata\":{},\"items\":[",
        Value::String(list_kind.to_string()),
        Value::String(api_version.to_string()),
        meta
    );
    let size = head.len() + items.iter().map(|o| o.raw.len() + 1).sum::<usize>() + 2;
    let mut buf = BytesMut::with_capacity(size);
    buf.put_slice(head.as_bytes());
    for (i, o) in items.iter().enumerate() {
        if i > 0 {
            buf.put_u8(b',');
        }
        buf.put_slice(&o.raw);
    }
    buf.put_slice(b"]}");
    buf.freeze()
}

/// `{"kind":"Status","status":"Success",...}` for deletes.
pub fn success_status(group: &str, resource: &str, name: &str, uid: Option<&str>) -> Value {
    serde_json::json!({
        "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success",
        "details": {"name": name, "group": group, "kind": resource, "uid": uid},
    })
}
