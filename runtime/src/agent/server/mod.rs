//! The agent's own HTTPS server, which the API server calls for what only the
//! node can do: `pods/log`, `pods/exec` and `pods/attach` (proxied with kubectl's query
//! strings unchanged), plus `/healthz`. Every request must present the
//! agent's bearer token; the certificate is self-signed and pinned by the API
//! server through the Node annotation.

pub mod attach;
pub mod exec;
pub mod logs;
pub mod portforward;
pub mod tls;

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;

use super::live::LivePods;
use crate::logs::LogHub;

/// What the handlers share.
#[derive(Clone)]
pub struct AgentState {
    pub token: Arc<str>,
    pub live: LivePods,
    pub log_hub: LogHub,
}

/// Errors as plain-text HTTP answers (the API server relays them to kubectl).
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    NotFound(String),
    #[error("unauthorized")]
    Unauthorized,
    #[error("{0}")]
    Internal(String),
}

impl IntoResponse for ServerError {
    fn into_response(self) -> Response {
        let code = match &self {
            ServerError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ServerError::NotFound(_) => StatusCode::NOT_FOUND,
            ServerError::Unauthorized => StatusCode::UNAUTHORIZED,
            ServerError::Internal(message) => {
                tracing::warn!(error = %message, "agent request failed");
                return (StatusCode::INTERNAL_SERVER_ERROR, "internal error").into_response();
            }
        };
        (code, self.to_string()).into_response()
    }
}

/// The routes, behind the bearer-token check.
pub fn app(state: AgentState) -> Router {
    Router::new()
        .route("/containerLogs/{namespace}/{pod}/{container}", get(logs::container_logs))
        .route("/exec/{namespace}/{pod}/{container}", get(exec::exec))
        .route("/attach/{namespace}/{pod}/{container}", get(attach::attach))
        .route("/portforward/{namespace}/{pod}", get(portforward::port_forward).post(portforward::port_forward))
        .route("/healthz", get(|| async { "ok" }))
        .layer(middleware::from_fn_with_state(state.clone(), require_token))
        .with_state(state)
}

async fn require_token(State(state): State<AgentState>, request: Request, next: Next) -> Response {
    let presented = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    match presented {
        Some(token) if constant_time_eq(token.as_bytes(), state.token.as_bytes()) => next.run(request).await,
        _ => ServerError::Unauthorized.into_response(),
    }
}

/// Compares without revealing, through timing, how much of a guess was right.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use axum::body::Body;
    use tower::ServiceExt;

    use super::*;

    fn state() -> AgentState {
        AgentState { token: "secret".into(), live: LivePods::default(), log_hub: LogHub::new() }
    }

    async fn call(uri: &str, token: Option<&str>) -> (StatusCode, String) {
        let mut request = axum::http::Request::get(uri);
        if let Some(token) = token {
            request = request.header("Authorization", format!("Bearer {token}"));
        }
        let response = app(state()).oneshot(request.body(Body::empty()).expect("request")).await.expect("response");
        let code = response.status();
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 20).await.expect("body");
        (code, String::from_utf8_lossy(&bytes).into_owned())
    }

    #[tokio::test]
    async fn requires_the_token() {
        assert_eq!(call("/healthz", None).await.0, StatusCode::UNAUTHORIZED);
        assert_eq!(call("/healthz", Some("wrong")).await.0, StatusCode::UNAUTHORIZED);
        assert_eq!(call("/healthz", Some("secret")).await, (StatusCode::OK, "ok".into()));
    }

    #[tokio::test]
    async fn logs_of_an_unknown_pod_are_not_found() {
        let (code, body) = call("/containerLogs/default/nope/c?follow=true", Some("secret")).await;
        assert_eq!(code, StatusCode::NOT_FOUND);
        assert!(body.contains("default/nope"));
    }
}
