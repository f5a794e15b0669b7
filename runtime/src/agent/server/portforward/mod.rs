//! `GET|POST /portforward/{ns}/{pod}`: `kubectl port-forward`. kubectl 1.32
//! first asks for a WebSocket with the subprotocol `SPDY/3.1+portforward.k8s.io`
//! whose binary messages carry a raw SPDY/3.1 byte stream (cut anywhere); if
//! that upgrade fails it asks for SPDY itself (`Upgrade: SPDY/3.1`,
//! `X-Stream-Protocol-Version: portforward.k8s.io`). Both end in the same
//! session ([`forward::serve`]). Like the kubelet, connections go to
//! 127.0.0.1:<port> inside the pod's network namespace, so a pod is reached
//! on its loopback as well as its pod IP.

pub mod forward;
pub mod session;
pub mod spdy;

use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;

use axum::body::Body;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{FromRequestParts, Path, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::Response;
use bytes::{Bytes, BytesMut};
use futures::{SinkExt, StreamExt};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use self::forward::{Dial, Target};
use super::{AgentState, ServerError};

/// The WebSocket subprotocol kubectl offers (the only one).
pub const WEBSOCKET_PROTOCOL: &str = "SPDY/3.1+portforward.k8s.io";
/// The port-forward protocol over a direct SPDY upgrade.
pub const STREAM_PROTOCOL: &str = "portforward.k8s.io";
const SPDY_UPGRADE: &str = "SPDY/3.1";
const READ_CHUNK: usize = 64 * 1024;

pub async fn port_forward(
    State(state): State<AgentState>,
    Path((namespace, pod)): Path<(String, String)>,
    request: Request,
) -> Result<Response, ServerError> {
    let upgrade = request.headers().get(header::UPGRADE).and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
    if upgrade.eq_ignore_ascii_case("websocket") {
        if !offers(request.headers(), header::SEC_WEBSOCKET_PROTOCOL, WEBSOCKET_PROTOCOL) {
            return Err(ServerError::BadRequest(format!("port-forward over WebSocket needs the subprotocol {WEBSOCKET_PROTOCOL}")));
        }
        let target = target(&state, &namespace, &pod).await?;
        let (mut parts, _) = request.into_parts();
        let ws = WebSocketUpgrade::from_request_parts(&mut parts, &state)
            .await
            .map_err(|e| ServerError::BadRequest(format!("websocket upgrade: {}", e.body_text())))?;
        return Ok(ws.protocols([WEBSOCKET_PROTOCOL]).on_upgrade(move |socket| serve_websocket(socket, target)));
    }
    if upgrade.eq_ignore_ascii_case(SPDY_UPGRADE) {
        if !offers(request.headers(), "x-stream-protocol-version", STREAM_PROTOCOL) {
            return Err(ServerError::BadRequest(format!("port-forward over SPDY needs X-Stream-Protocol-Version {STREAM_PROTOCOL}")));
        }
        let target = target(&state, &namespace, &pod).await?;
        let mut request = request;
        let on_upgrade = request
            .extensions_mut()
            .remove::<hyper::upgrade::OnUpgrade>()
            .ok_or_else(|| ServerError::BadRequest("this connection cannot be upgraded".into()))?;
        tokio::spawn(async move {
            match on_upgrade.await {
                Ok(io) => serve_raw(TokioIo::new(io), target).await,
                Err(e) => tracing::debug!(error = %e, "port-forward SPDY upgrade failed"),
            }
        });
        return Response::builder()
            .status(StatusCode::SWITCHING_PROTOCOLS)
            .header(header::CONNECTION, "Upgrade")
            .header(header::UPGRADE, SPDY_UPGRADE)
            .header("X-Stream-Protocol-Version", STREAM_PROTOCOL)
            .body(Body::empty())
            .map_err(|e| ServerError::Internal(e.to_string()));
    }
    Err(ServerError::BadRequest(format!(
        "port-forward needs an upgrade: WebSocket with subprotocol {WEBSOCKET_PROTOCOL}, or {SPDY_UPGRADE}"
    )))
}

/// Whether a comma-separated header lists `wanted`.
fn offers(headers: &HeaderMap, name: impl header::AsHeaderName, wanted: &str) -> bool {
    headers.get_all(name).iter().filter_map(|v: &HeaderValue| v.to_str().ok()).flat_map(|v| v.split(',')).any(|p| p.trim() == wanted)
}

/// Where the pod's ports are: its sandbox's network namespace, or (a sandbox without
/// one, as in tests without a pod network) the host's loopback.
async fn target(state: &AgentState, namespace: &str, pod: &str) -> Result<Target, ServerError> {
    let live = state.live.get(namespace, pod).ok_or_else(|| ServerError::NotFound(format!("pod {namespace}/{pod} is not on this node")))?;
    let not_running = || ServerError::BadRequest(format!("pod {namespace}/{pod} has no running sandbox"));
    let runtime = live.runtime.clone().ok_or_else(not_running)?;
    let sandbox = live.sandbox.clone().ok_or_else(not_running)?;
    let status = runtime.sandbox_status(&sandbox).await.map_err(|e| ServerError::BadRequest(format!("pod {namespace}/{pod}: {e}")))?;
    let dial: Dial = match status.netns {
        Some(netns) => Arc::new(move |port| {
            let netns = netns.clone();
            Box::pin(async move { netns.tcp_connect(SocketAddr::from((Ipv4Addr::LOCALHOST, port))).await })
        }),
        None => Arc::new(|port| Box::pin(tokio::net::TcpStream::connect(SocketAddr::from((Ipv4Addr::LOCALHOST, port))))),
    };
    Ok(Target { dial, pod: format!("{namespace}/{pod}"), uid: live.uid })
}

async fn serve_websocket(socket: WebSocket, target: Target) {
    let (sink, stream) = socket.split();
    let input = stream
        .take_while(|m| std::future::ready(!matches!(m, Ok(Message::Close(_)))))
        .filter_map(|m| {
            std::future::ready(match m {
                Ok(Message::Binary(bytes)) => Some(Ok(bytes)),
                Ok(_) => None,
                Err(e) => Some(Err(io::Error::other(e))),
            })
        });
    let output = sink.with(|bytes: Bytes| std::future::ready(Ok::<_, axum::Error>(Message::Binary(bytes)))).sink_map_err(io::Error::other);
    if let Err(e) = forward::serve(Box::pin(input), Box::pin(output), target).await {
        tracing::debug!(error = %e, "port-forward session ended");
    }
}

async fn serve_raw<T>(io: T, target: Target)
where
    T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + 'static,
{
    let (reader, writer) = tokio::io::split(io);
    let input = futures::stream::unfold(Some(reader), |reader| async move {
        let mut reader = reader?;
        let mut buf = BytesMut::with_capacity(READ_CHUNK);
        match reader.read_buf(&mut buf).await {
            Ok(0) => None,
            Ok(_) => Some((Ok(buf.freeze()), Some(reader))),
            Err(e) => Some((Err(e), None)),
        }
    });
    let output = futures::sink::unfold(writer, |mut writer, bytes: Bytes| async move {
        writer.write_all(&bytes).await?;
        Ok::<_, io::Error>(writer)
    });
    if let Err(e) = forward::serve(Box::pin(input), Box::pin(output), target).await {
        tracing::debug!(error = %e, "port-forward session ended");
    }
}

#[cfg(test)]
mod tests {
    use axum::http::Request as HttpRequest;
    use tower::ServiceExt;

    use super::*;
    use crate::agent::live::LivePods;
    use crate::agent::server::app;
    use crate::logs::LogHub;

    async fn call(method: &str, headers: &[(&str, &str)]) -> (StatusCode, String) {
        let state = AgentState { token: "secret".into(), live: LivePods::default(), log_hub: LogHub::new() };
        let mut request = HttpRequest::builder().method(method).uri("/portforward/default/web").header("Authorization", "Bearer secret");
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let response = app(state).oneshot(request.body(Body::empty()).expect("request")).await.expect("response");
        let code = response.status();
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 20).await.expect("body");
        (code, String::from_utf8_lossy(&bytes).into_owned())
    }

    #[tokio::test]
    async fn asks_for_an_upgrade_and_a_pod_on_this_node() {
        let (code, body) = call("GET", &[]).await;
        assert_eq!(code, StatusCode::BAD_REQUEST);
        assert!(body.contains("needs an upgrade"), "{body}");
        let websocket = [
            ("Connection", "Upgrade"),
            ("Upgrade", "websocket"),
            ("Sec-WebSocket-Version", "13"),
            ("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="),
        ];
        let (code, body) = call("GET", &websocket).await;
        assert_eq!(code, StatusCode::BAD_REQUEST, "no port-forward subprotocol offered");
        assert!(body.contains(WEBSOCKET_PROTOCOL), "{body}");
        let mut offered = websocket.to_vec();
        offered.push(("Sec-WebSocket-Protocol", WEBSOCKET_PROTOCOL));
        let (code, body) = call("GET", &offered).await;
        assert_eq!(code, StatusCode::NOT_FOUND);
        assert_eq!(body, "pod default/web is not on this node");
        let spdy = [("Connection", "Upgrade"), ("Upgrade", "SPDY/3.1"), ("X-Stream-Protocol-Version", STREAM_PROTOCOL)];
        let (code, _) = call("POST", &spdy).await;
        assert_eq!(code, StatusCode::NOT_FOUND);
        let (code, body) = call("POST", &spdy[..2]).await;
        assert_eq!(code, StatusCode::BAD_REQUEST);
        assert!(body.contains("X-Stream-Protocol-Version"), "{body}");
    }

    #[test]
    fn finds_offered_protocols() {
        let mut h = HeaderMap::new();
        h.insert(header::SEC_WEBSOCKET_PROTOCOL, HeaderValue::from_static("v4.channel.k8s.io, SPDY/3.1+portforward.k8s.io"));
        assert!(offers(&h, header::SEC_WEBSOCKET_PROTOCOL, WEBSOCKET_PROTOCOL));
        assert!(!offers(&h, header::SEC_WEBSOCKET_PROTOCOL, "SPDY/3.1"));
        assert!(!offers(&h, "x-stream-protocol-version", STREAM_PROTOCOL));
    }
}
