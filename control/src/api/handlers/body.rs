//! Reading and decoding request bodies: JSON, YAML and protobuf objects.

use axum::body::Body;
use bytes::Bytes;
use http_body_util::BodyExt;
use serde_json::Value;

use super::{Ctx, MAX_BODY};
use crate::api::protobuf;
use crate::error::ApiError;

/// Read the whole body, refusing more than `MAX_BODY` bytes with 413.
pub async fn read(body: Body) -> Result<Bytes, ApiError> {
    let limited = http_body_util::Limited::new(body, MAX_BODY);
    match limited.collect().await {
        Ok(c) => Ok(c.to_bytes()),
        Err(e) if e.downcast_ref::<http_body_util::LengthLimitError>().is_some() => {
            Err(ApiError::PayloadTooLarge { limit: MAX_BODY })
        }
        Err(e) => Err(ApiError::BadRequest(format!("reading the request body: {e}"))),
    }
}

/// The media type of a Content-Type header, lowercased, without parameters.
pub fn media_type(content_type: &str) -> String {
    content_type.split(';').next().unwrap_or("").trim().to_ascii_lowercase()
}

/// Decode an object from a create/update body.
pub fn object(ctx: &Ctx, body: &[u8]) -> Result<Value, ApiError> {
    let v = decode_object(ctx, body)?;
    // Strict validation also refuses a key given twice, which parsing hides.
    if ctx.query.field_validation == crate::api::options::FieldValidation::Strict && is_json(ctx) {
        let dups = super::duplicates::duplicate_fields(body);
        if !dups.is_empty() {
            let list = dups.iter().map(|d| format!("duplicate field \"{d}\"")).collect::<Vec<_>>().join(", ");
            return Err(ApiError::BadRequest(format!("strict decoding error: {list}")));
        }
    }
    Ok(v)
}

fn is_json(ctx: &Ctx) -> bool {
    matches!(media_type(ctx.content_type()).as_str(), "" | "application/json" | "*/*")
}

fn decode_object(ctx: &Ctx, body: &[u8]) -> Result<Value, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::BadRequest("the request body is empty: send the object as JSON".into()));
    }
    let v = match media_type(ctx.content_type()).as_str() {
        // kubectl sends `PUT .../scale` with no Content-Type at all.
        "" | "application/json" | "*/*" => parse_json(body)?,
        "application/yaml" | "application/x-yaml" | "text/yaml" => parse_yaml(body)?,
        "application/vnd.kubernetes.protobuf" => {
            protobuf::decode(body).map_err(|e| {
                if e.is_unsupported_media() {
                    ApiError::UnsupportedMediaType(e.to_string())
                } else {
                    ApiError::BadRequest(format!("the protobuf request body could not be decoded: {e}"))
                }
            })?
        }
        other => {
            return Err(ApiError::UnsupportedMediaType(format!(
                "the body of the request was in an unknown format ({other}): accepted media types are application/json, application/yaml, application/vnd.kubernetes.protobuf"
            )))
        }
    };
    if !v.is_object() {
        return Err(ApiError::BadRequest("the request body must be a JSON object".into()));
    }
    Ok(v)
}

pub fn parse_json(body: &[u8]) -> Result<Value, ApiError> {
    serde_json::from_slice(body).map_err(|e| ApiError::BadRequest(format!("the request body is not valid JSON: {e}")))
}

pub fn parse_yaml(body: &[u8]) -> Result<Value, ApiError> {
    serde_norway::from_slice(body).map_err(|e| ApiError::BadRequest(format!("the request body is not valid YAML: {e}")))
}
