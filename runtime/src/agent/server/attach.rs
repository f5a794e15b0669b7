//! `GET /attach/{ns}/{pod}/{container}?stdin=..&stdout=..&tty=..`: `kubectl
//! attach` over the same `v5.channel.k8s.io` WebSocket as exec, connected to
//! the running container's own streams through
//! [`ContainerRuntime::attach`](crate::cri::ContainerRuntime::attach). The
//! session ends when the container exits or the client leaves.

use axum::extract::ws::WebSocketUpgrade;
use axum::extract::{Path, RawQuery, State};
use axum::response::Response;

use super::exec::{session, ExecRequest, PROTOCOL};
use super::{AgentState, ServerError};

pub async fn attach(
    State(state): State<AgentState>,
    Path((namespace, pod, container)): Path<(String, String, String)>,
    RawQuery(raw): RawQuery,
    upgrade: WebSocketUpgrade,
) -> Result<Response, ServerError> {
    let request = ExecRequest::parse_streams(raw.as_deref().unwrap_or(""));
    let live = state.live.get(&namespace, &pod).ok_or_else(|| ServerError::NotFound(format!("pod {namespace}/{pod} is not on this node")))?;
    let runtime = live.runtime.clone().ok_or_else(|| ServerError::BadRequest(format!("pod {pod:?} has not started yet")))?;
    let id = live
        .containers
        .get(&container)
        .and_then(|c| c.id.clone())
        .ok_or_else(|| ServerError::BadRequest(format!("container {container:?} in pod {pod:?} is not running")))?;
    Ok(upgrade.protocols([PROTOCOL]).on_upgrade(move |socket| async move {
        // An attach has no exit code of its own: it ends well when the container's output does.
        session(socket, request, move |io, _| async move { runtime.attach(&id, io).await.map(|()| 0).map_err(|e| e.to_string()) }).await;
    }))
}
