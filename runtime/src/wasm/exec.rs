//! `kubectl exec` into a wasm container: the command runs as a new instance
//! of the container's program, module or component (argv = the exec command) with the container's
//! env, working directory, mounts and limits, its stdio streamed to and from
//! the client. It ends with the container if the container stops first.

use std::sync::Arc;

use bytes::Bytes;
use tokio::io::{AsyncWrite, AsyncWriteExt};
use tokio::sync::mpsc;
use wasmtime_wasi::WasiCtxBuilder;

use super::container::Container;
use super::cpu::Metered;
use super::exit::{classify, EXIT_KILLED};
use super::guest::configure_wasi;
use super::run::Meters;
use super::stdio::{exec_stdin, ChannelOutput, EXEC_BUFFERED_WRITES};
use crate::cri::{CriError, ExecIo};

/// Runs `argv` next to `container` and returns its exit code.
pub async fn exec_in(container: &Container, argv: Vec<String>, io: ExecIo) -> Result<i32, CriError> {
    if !container.is_running() {
        return Err(CriError::FailedPrecondition(format!("container {:?} is not running", container.id)));
    }
    if argv.is_empty() {
        return Err(CriError::InvalidConfig("exec needs a command".into()));
    }
    let config = &container.config;
    let (stdout_tx, stdout_rx) = mpsc::channel(EXEC_BUFFERED_WRITES);
    let (stderr_tx, stderr_rx) = mpsc::channel(EXEC_BUFFERED_WRITES);
    let mut builder = WasiCtxBuilder::new();
    builder.stdout(ChannelOutput::new(stdout_tx)).stderr(ChannelOutput::new(stderr_tx));
    if let Some(stdin) = io.stdin {
        builder.stdin(exec_stdin(stdin));
    }
    configure_wasi(&mut builder, &argv, &config.env, config.working_dir.as_deref(), &config.mounts)?;

    // An exec shares the pod's network (a component may connect out) but not its ports.
    let id = container.id.clone();
    let report = Arc::new(move |line: String| tracing::info!(container = ?id, "exec: {}", line.trim_end()));
    let net = container.guest_net(&mut builder, report, false)?;
    let meters = Arc::new(Meters::default());
    let limits = config.limits;
    let run = Metered::new(container.program.run(builder, limits, meters.clone(), net), limits.cpu_millis, meters.cpu_nanos.clone());
    let mut stopping = container.stopping();
    let guest = async {
        tokio::select! {
            result = run => Some(result),
            _ = stopping.wait_for(|stopping| *stopping) => None,
        }
    };
    // The forwarders end when the instance's Store (which holds the senders) is dropped.
    let (outcome, (), ()) = tokio::join!(guest, forward(stdout_rx, io.stdout), forward(stderr_rx, io.stderr));
    Ok(match outcome {
        Some(result) => classify(&result, &meters.facts(&limits)).code,
        None => EXIT_KILLED,
    })
}

/// Copies the guest's writes to the client. If the client goes away, the receiver is dropped and
/// the guest's next write fails as on a closed pipe.
async fn forward(mut rx: mpsc::Receiver<Bytes>, writer: Option<Box<dyn AsyncWrite + Send + Unpin>>) {
    let Some(mut writer) = writer else {
        // Nobody listens: drain, so the guest is not blocked.
        while rx.recv().await.is_some() {}
        return;
    };
    while let Some(chunk) = rx.recv().await {
        if writer.write_all(&chunk).await.is_err() || writer.flush().await.is_err() {
            return;
        }
    }
    // The client sees the end of the stream; an error here means it is already gone.
    let _ = writer.shutdown().await;
}
