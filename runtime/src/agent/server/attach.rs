//! `GET /attach/{ns}/{pod}/{container}?stdin=..&stdout=..&tty=..`: `kubectl
//! attach` over the same `v5.channel.k8s.io` WebSocket as exec, connected to
//! the running container's own streams through
//! [`ContainerRuntime::attach`](crate::cri::ContainerRuntime::attach). The
//! session ends when the container exits or the client leaves.

use axum::extract::ws::WebSocketUpgrade;
use axum::extract::{Path, RawQuery, State};
use axum::response::Response;

use super::exec::{running_container, session, ExecRequest, PROTOCOL};
use super::{AgentState, ServerError};

pub async fn attach(
    State(state): State<AgentState>,
    Path((namespace, pod, container)): Path<(String, String, String)>,
    RawQuery(raw): RawQuery,
    upgrade: WebSocketUpgrade,
) -> Result<Response, ServerError> {
    let request = ExecRequest::parse_streams(raw.as_deref().unwrap_or(""));
    let (runtime, id) = running_container(&state, &namespace, &pod, &container)?;
    Ok(upgrade.protocols([PROTOCOL]).on_upgrade(move |socket| async move {
        // An attach has no exit code of its own: it ends well when the container's output does.
        session(socket, request, move |io, _| async move { runtime.attach(&id, io).await.map(|()| 0).map_err(|e| e.to_string()) }).await;
    }))
}
