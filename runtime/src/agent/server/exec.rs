//! `GET /exec/{ns}/{pod}/{container}?command=..`: `kubectl exec` over a
//! WebSocket speaking `v5.channel.k8s.io`. Each binary message starts with
//! its channel: 0 stdin, 1 stdout, 2 stderr, 3 the final status, 4 resize,
//! 255 close (the client's stdin hit EOF). The command runs through
//! [`ContainerRuntime::exec`](crate::cri::ContainerRuntime::exec);
//! `kubectl attach` speaks the same protocol (see [`super::attach`]).

use std::sync::Arc;

use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Path, RawQuery, State};
use axum::response::Response;
use bytes::Bytes;
use futures::{SinkExt, StreamExt};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::sync::mpsc;

use super::{AgentState, ServerError};
use crate::cri::{ContainerId, ContainerRuntime, ExecIo, TerminalSize};

pub const PROTOCOL: &str = "v5.channel.k8s.io";
const STDIN: u8 = 0;
const STDOUT: u8 = 1;
const STDERR: u8 = 2;
const STATUS: u8 = 3;
const RESIZE: u8 = 4;
const CLOSE: u8 = 255;
/// How long the client may take to close the connection after the final status.
const CLIENT_CLOSE_GRACE: std::time::Duration = std::time::Duration::from_secs(2);

/// What the client asked for.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct ExecRequest {
    pub command: Vec<String>,
    pub stdin: bool,
    pub stdout: bool,
    pub stderr: bool,
    pub tty: bool,
}

impl ExecRequest {
    /// An exec request: the streams and at least one command word.
    pub fn parse(raw: &str) -> Result<Self, ServerError> {
        let request = Self::parse_streams(raw);
        if request.command.is_empty() {
            return Err(ServerError::BadRequest("you must specify at least one command for the container".into()));
        }
        Ok(request)
    }

    /// The stream flags (and any command words) of an exec or attach query.
    pub fn parse_streams(raw: &str) -> Self {
        let mut request = ExecRequest::default();
        for (key, value) in form_urlencoded::parse(raw.as_bytes()) {
            let flag = value == "true" || value == "1";
            match key.as_ref() {
                "command" => request.command.push(value.into_owned()),
                "stdin" => request.stdin = flag,
                "stdout" => request.stdout = flag,
                "stderr" => request.stderr = flag,
                "tty" => request.tty = flag,
                _ => {}
            }
        }
        request
    }
}

/// A resize message's payload, `{"Width":80,"Height":24}`; `None` when it is not one.
pub fn parse_resize(payload: &[u8]) -> Option<TerminalSize> {
    #[derive(serde::Deserialize)]
    #[serde(rename_all = "PascalCase")]
    struct Size {
        width: u16,
        height: u16,
    }
    serde_json::from_slice::<Size>(payload).ok().map(|size| TerminalSize { width: size.width, height: size.height })
}

/// The status message that ends a session, as kubectl reads it.
pub fn exit_status(code: Result<i32, String>) -> serde_json::Value {
    match code {
        Ok(0) => serde_json::json!({ "metadata": {}, "status": "Success" }),
        Ok(code) => serde_json::json!({
            "metadata": {},
            "status": "Failure",
            "message": format!("command terminated with non-zero exit code: error executing command, exit status {code}"),
            "reason": "NonZeroExitCode",
            "details": { "causes": [ { "reason": "ExitCode", "message": code.to_string() } ] }
        }),
        Err(message) => serde_json::json!({ "metadata": {}, "status": "Failure", "message": message, "reason": "InternalError" }),
    }
}

pub async fn exec(
    State(state): State<AgentState>,
    Path((namespace, pod, container)): Path<(String, String, String)>,
    RawQuery(raw): RawQuery,
    upgrade: WebSocketUpgrade,
) -> Result<Response, ServerError> {
    let request = ExecRequest::parse(raw.as_deref().unwrap_or(""))?;
    let (runtime, id) = running_container(&state, &namespace, &pod, &container)?;
    Ok(upgrade.protocols([PROTOCOL]).on_upgrade(move |socket| async move {
        session(socket, request, move |io, argv| async move { runtime.exec(&id, argv, io).await.map_err(|e| e.to_string()) }).await;
    }))
}

/// Bridges one WebSocket to one exec (or attach) call. The call is dropped when the
/// client goes away: an attach would otherwise hold the container's stdin until it exits.
/// The runtime and id of a container that is running in a pod on this node.
pub(super) fn running_container(
    state: &AgentState,
    namespace: &str,
    pod: &str,
    container: &str,
) -> Result<(Arc<dyn ContainerRuntime>, ContainerId), ServerError> {
    let live = state.live.get(namespace, pod).ok_or_else(|| ServerError::NotFound(format!("pod {namespace}/{pod} is not on this node")))?;
    let runtime = live.runtime.clone().ok_or_else(|| ServerError::BadRequest(format!("pod {pod:?} has not started yet")))?;
    let id = live
        .containers
        .get(container)
        .and_then(|c| c.id.clone())
        .ok_or_else(|| ServerError::BadRequest(format!("container {container:?} in pod {pod:?} is not running")))?;
    Ok((runtime, id))
}

pub(super) async fn session<F, Fut>(socket: WebSocket, request: ExecRequest, run: F)
where
    F: FnOnce(ExecIo, Vec<String>) -> Fut,
    Fut: std::future::Future<Output = Result<i32, String>>,
{
    let (mut sink, mut incoming) = socket.split();
    let (out_tx, mut out_rx) = mpsc::channel::<Message>(32);
    let sender = tokio::spawn(async move {
        while let Some(message) = out_rx.recv().await {
            if sink.send(message).await.is_err() {
                break;
            }
        }
        // A close frame without a code reads as 1005 ("no status") to kubectl,
        // which then reports the session as failed: say 1000, normal closure.
        let normal = axum::extract::ws::CloseFrame { code: axum::extract::ws::close_code::NORMAL, reason: "".into() };
        let _ = sink.send(Message::Close(Some(normal))).await;
        let _ = sink.close().await;
    });

    let (stdin_reader, stdin_writer) = if request.stdin {
        let (ours, theirs) = tokio::io::duplex(64 * 1024);
        (Some(theirs), Some(ours))
    } else {
        (None, None)
    };
    let (resize_tx, resize_rx) = if request.tty {
        let (tx, rx) = mpsc::channel::<TerminalSize>(8);
        (Some(tx), Some(rx))
    } else {
        (None, None)
    };
    let mut reader = tokio::spawn(async move {
        let mut stdin = stdin_writer;
        while let Some(Ok(message)) = incoming.next().await {
            let Message::Binary(data) = message else {
                if matches!(message, Message::Close(_)) {
                    break;
                }
                continue;
            };
            match data.first() {
                Some(&STDIN) => {
                    if let Some(pipe) = stdin.as_mut() {
                        if pipe.write_all(&data[1..]).await.is_err() {
                            stdin = None;
                        }
                    }
                }
                Some(&RESIZE) => {
                    if let (Some(sizes), Some(size)) = (resize_tx.as_ref(), parse_resize(&data[1..])) {
                        let _ = sizes.send(size).await;
                    }
                }
                // [255, 0]: the client closed stdin.
                Some(&CLOSE) if data.get(1) == Some(&STDIN) => stdin = None,
                _ => {}
            }
        }
    });

    let mut pumps = Vec::new();
    let mut pipe_for = |wanted: bool, channel: u8| -> Option<Box<dyn tokio::io::AsyncWrite + Send + Unpin>> {
        if !wanted {
            return None;
        }
        let (writer, reader) = tokio::io::duplex(64 * 1024);
        pumps.push(tokio::spawn(pump(reader, channel, out_tx.clone())));
        Some(Box::new(writer))
    };
    // With a tty, kubectl does not ask for stderr: the terminal carries both.
    let io = ExecIo {
        stdout: pipe_for(request.stdout, STDOUT),
        stderr: pipe_for(request.stderr && !request.tty, STDERR),
        stdin: stdin_reader.map(|r| Box::new(r) as Box<dyn AsyncRead + Send + Unpin>),
        tty: request.tty,
        resize: resize_rx,
    };
    let (result, client_left) = tokio::select! {
        result = run(io, request.command) => (result, false),
        _ = &mut reader => (Err("the client went away".to_string()), true),
    };
    for pump in pumps {
        let _ = pump.await;
    }
    let mut status = vec![STATUS];
    status.extend(exit_status(result).to_string().into_bytes());
    let _ = out_tx.send(Message::Binary(Bytes::from(status))).await;
    if !client_left {
        // kubectl closes the connection itself once it has read the status; closing first
        // races its last stdin or resize writes, which it then reports as "close sent" errors.
        let _ = tokio::time::timeout(CLIENT_CLOSE_GRACE, &mut reader).await;
    }
    drop(out_tx);
    reader.abort();
    let _ = sender.await;
}

/// Copies one output stream into channel-prefixed messages until its writer is dropped.
async fn pump(mut reader: tokio::io::DuplexStream, channel: u8, out: mpsc::Sender<Message>) {
    let mut buf = vec![0u8; 32 * 1024];
    loop {
        match reader.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                let mut frame = Vec::with_capacity(n + 1);
                frame.push(channel);
                frame.extend_from_slice(&buf[..n]);
                if out.send(Message::Binary(Bytes::from(frame))).await.is_err() {
                    break;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_repeated_commands() {
        let request = ExecRequest::parse("command=ls&command=-la&container=c1&stderr=true&stdout=true").expect("parses");
        assert_eq!(request.command, ["ls", "-la"]);
        assert!(request.stdout && request.stderr && !request.stdin && !request.tty);
        assert!(ExecRequest::parse("stdout=true").is_err());
        let attach = ExecRequest::parse_streams("container=c1&stdin=true&stdout=true&tty=true");
        assert!(attach.stdin && attach.stdout && attach.tty && !attach.stderr && attach.command.is_empty());
    }

    #[test]
    fn resize_messages_carry_the_terminal_size() {
        assert_eq!(parse_resize(b"{\"Width\":80,\"Height\":24}\n"), Some(TerminalSize { width: 80, height: 24 }));
        assert_eq!(parse_resize(b"{\"Width\":-1}"), None);
        assert_eq!(parse_resize(b"junk"), None);
    }

    #[test]
    fn statuses_match_what_kubectl_reads() {
        assert_eq!(exit_status(Ok(0))["status"], "Success");
        let failed = exit_status(Ok(3));
        assert_eq!(failed["reason"], "NonZeroExitCode");
        assert_eq!(failed["details"]["causes"][0]["reason"], "ExitCode");
        assert_eq!(failed["details"]["causes"][0]["message"], "3");
    }
}
