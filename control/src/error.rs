//! Typed API errors, converted exactly once into a Kubernetes `Status` at the
//! HTTP edge.

use std::fmt;

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};

use crate::store::StoreError;

/// What went wrong with one field of an object, as Kubernetes' field.Error.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FieldError {
    /// JSON path in Kubernetes notation: `spec.containers[0].image`.
    pub field: String,
    pub kind: FieldErrorKind,
    /// The offending value, rendered, where there is one.
    pub value: Option<String>,
    /// Why the value is wrong.
    pub detail: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FieldErrorKind {
    Required,
    Invalid,
    Duplicate,
    NotSupported,
    TooLong,
    TooMany,
    Forbidden,
    /// A reference to something that does not exist (a volume mount naming no volume).
    NotFound,
}

impl FieldErrorKind {
    /// The `reason` Kubernetes puts in a StatusCause.
    pub fn cause_reason(self) -> &'static str {
        match self {
            FieldErrorKind::Required => "FieldValueRequired",
            FieldErrorKind::Invalid => "FieldValueInvalid",
            FieldErrorKind::Duplicate => "FieldValueDuplicate",
            FieldErrorKind::NotSupported => "FieldValueNotSupported",
            FieldErrorKind::TooLong => "FieldValueTooLong",
            FieldErrorKind::TooMany => "FieldValueTooMany",
            FieldErrorKind::Forbidden => "FieldValueForbidden",
            FieldErrorKind::NotFound => "FieldValueNotFound",
        }
    }

    fn label(self) -> &'static str {
        match self {
            FieldErrorKind::Required => "Required value",
            FieldErrorKind::Invalid => "Invalid value",
            FieldErrorKind::Duplicate => "Duplicate value",
            FieldErrorKind::NotSupported => "Unsupported value",
            FieldErrorKind::TooLong => "Too long",
            FieldErrorKind::TooMany => "Too many",
            FieldErrorKind::Forbidden => "Forbidden",
            FieldErrorKind::NotFound => "Not found",
        }
    }
}

impl FieldError {
    pub fn required(field: impl Into<String>) -> Self {
        Self { field: field.into(), kind: FieldErrorKind::Required, value: None, detail: String::new() }
    }
    pub fn invalid(field: impl Into<String>, value: impl fmt::Display, detail: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            kind: FieldErrorKind::Invalid,
            value: Some(value.to_string()),
            detail: detail.into(),
        }
    }
    pub fn duplicate(field: impl Into<String>, value: impl fmt::Display) -> Self {
        Self {
            field: field.into(),
            kind: FieldErrorKind::Duplicate,
            value: Some(value.to_string()),
            detail: String::new(),
        }
    }
    pub fn not_supported(field: impl Into<String>, value: impl fmt::Display, supported: &[&str]) -> Self {
        let list = supported.iter().map(|s| format!("\"{s}\"")).collect::<Vec<_>>().join(", ");
        Self {
            field: field.into(),
            kind: FieldErrorKind::NotSupported,
            value: Some(value.to_string()),
            detail: format!("supported values: {list}"),
        }
    }
    pub fn forbidden(field: impl Into<String>, detail: impl Into<String>) -> Self {
        Self { field: field.into(), kind: FieldErrorKind::Forbidden, value: None, detail: detail.into() }
    }
    pub fn not_found(field: impl Into<String>, value: impl fmt::Display) -> Self {
        Self {
            field: field.into(),
            kind: FieldErrorKind::NotFound,
            value: Some(value.to_string()),
            detail: String::new(),
        }
    }
    pub fn too_long(field: impl Into<String>, max: usize) -> Self {
        Self {
            field: field.into(),
            kind: FieldErrorKind::TooLong,
            value: None,
            detail: format!("may not be more than {max} bytes"),
        }
    }

    /// The message after the field path, as Kubernetes prints it.
    pub fn message(&self) -> String {
        let mut m = self.kind.label().to_string();
        if let Some(v) = &self.value {
            m.push_str(&format!(": \"{v}\""));
        }
        if !self.detail.is_empty() {
            m.push_str(": ");
            m.push_str(&self.detail);
        }
        m
    }
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.message())
    }
}

/// Names the resource an error is about, for messages like
/// `deployments.apps "web" not found`.
#[derive(Clone, Debug, Default)]
pub struct Target {
    /// API group ("" for core).
    pub group: String,
    /// Plural resource name, e.g. `deployments`.
    pub resource: String,
    /// Kind, e.g. `Deployment` (used by Invalid).
    pub kind: String,
    pub name: String,
}

impl Target {
    fn qualified(&self) -> String {
        if self.group.is_empty() {
            self.resource.clone()
        } else {
            format!("{}.{}", self.resource, self.group)
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{} \"{}\" not found", .0.qualified(), .0.name)]
    NotFound(Target),
    #[error("{} \"{}\" already exists", .0.qualified(), .0.name)]
    AlreadyExists(Target),
    #[error("Operation cannot be fulfilled on {} \"{}\": {}", .target.qualified(), .target.name, .message)]
    Conflict { target: Target, message: String },
    /// The object failed validation: 422 with one cause per field.
    #[error("{} \"{}\" is invalid: {}", .target.kind, .target.name, render_causes(.causes))]
    Invalid { target: Target, causes: Vec<FieldError> },
    #[error("{0}")]
    BadRequest(String),
    #[error("Unauthorized")]
    Unauthorized,
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    MethodNotAllowed(String),
    #[error("{0}")]
    UnsupportedMediaType(String),
    #[error("{0}")]
    NotAcceptable(String),
    #[error("the request body is too large: limit is {limit} bytes")]
    PayloadTooLarge { limit: usize },
    /// A watch or list asked for a revision that has been compacted.
    #[error("{0}")]
    Gone(String),
    /// A path or resource type the server does not serve.
    #[error("{0}")]
    NoSuchPath(String),
    /// A node's agent cannot be reached for a request that needs it.
    #[error("{0}")]
    ServiceUnavailable(String),
    /// Server-side trouble. The detail is logged, never sent to the client.
    #[error("internal error")]
    Internal(String),
    /// A well-formed request that cannot be carried out (a JSON patch whose
    /// `test` fails): upstream's generic 422 with the detail as its only cause.
    #[error("the server rejected our request due to an error in our request")]
    Unprocessable(String),
    /// Server-side apply found fields owned by other managers: 409 with one
    /// cause per contested field.
    #[error("{message}")]
    ApplyConflict { message: String, causes: Vec<ConflictCause> },
}

/// One contested field of a server-side apply.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConflictCause {
    /// The field as upstream prints it: `.spec.replicas`.
    pub field: String,
    /// `conflict with "kubectl-client-side-apply" using apps/v1`.
    pub message: String,
}

fn render_causes(causes: &[FieldError]) -> String {
    match causes {
        [one] => one.to_string(),
        many => format!("[{}]", many.iter().map(|c| c.to_string()).collect::<Vec<_>>().join(", ")),
    }
}

impl ApiError {
    pub fn code(&self) -> StatusCode {
        match self {
            ApiError::NotFound(_) | ApiError::NoSuchPath(_) => StatusCode::NOT_FOUND,
            ApiError::AlreadyExists(_) | ApiError::Conflict { .. } | ApiError::ApplyConflict { .. } => {
                StatusCode::CONFLICT
            }
            ApiError::Invalid { .. } | ApiError::Unprocessable(_) => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::Unauthorized => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::MethodNotAllowed(_) => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::NotAcceptable(_) => StatusCode::NOT_ACCEPTABLE,
            ApiError::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::Gone(_) => StatusCode::GONE,
            ApiError::ServiceUnavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    pub fn reason(&self) -> &'static str {
        match self {
            ApiError::NotFound(_) | ApiError::NoSuchPath(_) => "NotFound",
            ApiError::AlreadyExists(_) => "AlreadyExists",
            ApiError::Conflict { .. } | ApiError::ApplyConflict { .. } => "Conflict",
            ApiError::Invalid { .. } | ApiError::Unprocessable(_) => "Invalid",
            ApiError::BadRequest(_) => "BadRequest",
            ApiError::Unauthorized => "Unauthorized",
            ApiError::Forbidden(_) => "Forbidden",
            ApiError::MethodNotAllowed(_) => "MethodNotAllowed",
            ApiError::UnsupportedMediaType(_) => "UnsupportedMediaType",
            ApiError::NotAcceptable(_) => "NotAcceptable",
            ApiError::PayloadTooLarge { .. } => "RequestEntityTooLarge",
            ApiError::Gone(_) => "Expired",
            ApiError::ServiceUnavailable(_) => "ServiceUnavailable",
            ApiError::Internal(_) => "InternalError",
        }
    }

    /// The Kubernetes `Status` object for this error.
    pub fn status(&self) -> Value {
        let mut status = json!({
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.to_string(),
            "reason": self.reason(),
            "code": self.code().as_u16(),
        });
        let details = match self {
            ApiError::NotFound(t) | ApiError::AlreadyExists(t) | ApiError::Conflict { target: t, .. } => {
                Some(json!({"name": t.name, "group": t.group, "kind": t.resource}))
            }
            ApiError::Invalid { target, causes } => Some(json!({
                "name": target.name,
                "group": target.group,
                "kind": target.kind,
                "causes": causes.iter().map(|c| json!({
                    "reason": c.kind.cause_reason(),
                    "message": c.message(),
                    "field": c.field,
                })).collect::<Vec<_>>(),
            })),
            ApiError::Unprocessable(detail) => Some(json!({
                "causes": [{"reason": "UnexpectedServerResponse", "message": detail}],
            })),
            ApiError::ApplyConflict { causes, .. } => Some(json!({
                "causes": causes.iter().map(|c| json!({
                    "reason": "FieldManagerConflict",
                    "message": c.message,
                    "field": c.field,
                })).collect::<Vec<_>>(),
            })),
            _ => None,
        };
        if let Some(d) = details {
            status["details"] = d;
        }
        status
    }

    pub fn internal(e: impl fmt::Display) -> Self {
        ApiError::Internal(e.to_string())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if let ApiError::Internal(detail) = &self {
            tracing::error!(%detail, "internal error serving request");
        }
        let code = self.code();
        let body = serde_json::to_vec(&self.status()).unwrap_or_default();
        let mut resp = (code, body).into_response();
        resp.headers_mut().insert(
            axum::http::header::CONTENT_TYPE,
            axum::http::HeaderValue::from_static("application/json"),
        );
        resp
    }
}

impl ApiError {
    /// Map a store error for the object `target`.
    pub fn from_store(e: StoreError, target: Target) -> Self {
        match e {
            StoreError::NotFound(_) => ApiError::NotFound(target),
            StoreError::AlreadyExists(_) => ApiError::AlreadyExists(target),
            StoreError::Conflict { .. } => ApiError::Conflict {
                target,
                message: "the object has been modified; please apply your changes to the latest version and try again".into(),
            },
            StoreError::Compacted { requested, oldest } => ApiError::Gone(format!(
                "too old resource version: {requested} ({oldest})"
            )),
            StoreError::WatcherTooSlow { last_delivered } => ApiError::Gone(format!(
                "the watch fell too far behind after resource version {last_delivered}: list again and watch from there"
            )),
            other => ApiError::Internal(other.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invalid_status_names_every_field() {
        let e = ApiError::Invalid {
            target: Target { kind: "Pod".into(), name: "bad".into(), ..Default::default() },
            causes: vec![
                FieldError::required("spec.containers[0].image"),
                FieldError::invalid("metadata.name", "Bad_Name", "a lowercase RFC 1123 subdomain"),
            ],
        };
        let s = e.status();
        assert_eq!(s["code"], 422);
        assert_eq!(s["reason"], "Invalid");
        let msg = s["message"].as_str().unwrap();
        assert!(msg.starts_with("Pod \"bad\" is invalid: [spec.containers[0].image: Required value"), "{msg}");
        assert_eq!(s["details"]["causes"][1]["field"], "metadata.name");
        assert_eq!(s["details"]["causes"][1]["reason"], "FieldValueInvalid");
    }

    #[test]
    fn not_found_message_matches_kubernetes() {
        let e = ApiError::NotFound(Target {
            group: "apps".into(),
            resource: "deployments".into(),
            name: "web".into(),
            ..Default::default()
        });
        assert_eq!(e.to_string(), "deployments.apps \"web\" not found");
        assert_eq!(e.code(), StatusCode::NOT_FOUND);
    }
}
