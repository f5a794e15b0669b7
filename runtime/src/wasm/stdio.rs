//! Where a guest's stdio goes. Container stdout/stderr are written straight
//! into the CRI log file by [`LogOutput`], an `OutputStream` of our own: the
//! default adapters spawn a tokio task per stream, which would cost two tasks
//! per idle pod. `exec` streams go through bounded channels to the client's
//! sockets ([`ChannelOutput`]), and its stdin through [`exec_stdin`].

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use bytes::Bytes;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::mpsc;
use wasmtime_wasi::cli::{AsyncStdinStream, IsTerminal, StdinStream, StdoutStream};
use wasmtime_wasi::p2::{OutputStream, Pollable, StreamError, StreamResult};

use crate::logs::{LogStream, LogWriter};

/// The most a guest may hand over in one write; a WASI stream's usual permit.
const WRITE_PERMIT: usize = 64 * 1024;

/// One stream of a container, appended to its log file.
#[derive(Clone, Debug)]
pub struct LogOutput {
    writer: LogWriter,
    stream: LogStream,
    written: Arc<AtomicU64>,
}

impl LogOutput {
    /// `written` counts the bytes of every stream that shares it (for exit messages).
    pub fn new(writer: LogWriter, stream: LogStream, written: Arc<AtomicU64>) -> Self {
        LogOutput { writer, stream, written }
    }

    fn append(&self, bytes: &[u8]) -> std::io::Result<()> {
        self.written.fetch_add(bytes.len() as u64, Ordering::Relaxed);
        self.writer.write(self.stream, bytes).map_err(std::io::Error::other)
    }
}

impl IsTerminal for LogOutput {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for LogOutput {
    fn p2_stream(&self) -> Box<dyn OutputStream> {
        Box::new(self.clone())
    }

    fn async_stream(&self) -> Box<dyn AsyncWrite + Send + Sync> {
        Box::new(self.clone())
    }
}

impl OutputStream for LogOutput {
    fn write(&mut self, bytes: Bytes) -> StreamResult<()> {
        self.append(&bytes).map_err(|e| StreamError::LastOperationFailed(wasmtime::Error::new(e)))
    }

    fn flush(&mut self) -> StreamResult<()> {
        // Every write reaches the file at once.
        Ok(())
    }

    fn check_write(&mut self) -> StreamResult<usize> {
        Ok(WRITE_PERMIT)
    }
}

#[wasmtime_wasi::async_trait]
impl Pollable for LogOutput {
    async fn ready(&mut self) {}
}

impl AsyncWrite for LogOutput {
    fn poll_write(self: Pin<&mut Self>, _cx: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        Poll::Ready(self.append(buf).map(|()| buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

/// How many writes an exec stream buffers before the guest has to wait for the client.
pub const EXEC_BUFFERED_WRITES: usize = 16;

/// One stream of an `exec`: writes go into a bounded channel that a forwarder drains into the
/// client's stream, so a slow client slows the guest instead of growing a buffer.
#[derive(Debug)]
pub struct ChannelOutput {
    tx: mpsc::Sender<Bytes>,
}

impl ChannelOutput {
    pub fn new(tx: mpsc::Sender<Bytes>) -> Self {
        ChannelOutput { tx }
    }
}

impl IsTerminal for ChannelOutput {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for ChannelOutput {
    fn p2_stream(&self) -> Box<dyn OutputStream> {
        Box::new(ChannelOutput { tx: self.tx.clone() })
    }

    fn async_stream(&self) -> Box<dyn AsyncWrite + Send + Sync> {
        Box::new(ChannelWriter { tx: self.tx.clone(), reserving: Mutex::new(None) })
    }
}

impl OutputStream for ChannelOutput {
    fn write(&mut self, bytes: Bytes) -> StreamResult<()> {
        if bytes.is_empty() {
            return Ok(());
        }
        self.tx.try_send(bytes).map_err(|err| match err {
            mpsc::error::TrySendError::Closed(_) => StreamError::Closed,
            // Only possible if the guest ignored `check_write`.
            mpsc::error::TrySendError::Full(_) => StreamError::trap("write without a permit"),
        })
    }

    fn flush(&mut self) -> StreamResult<()> {
        Ok(())
    }

    fn check_write(&mut self) -> StreamResult<usize> {
        if self.tx.is_closed() {
            return Err(StreamError::Closed);
        }
        Ok(if self.tx.capacity() > 0 { WRITE_PERMIT } else { 0 })
    }
}

#[wasmtime_wasi::async_trait]
impl Pollable for ChannelOutput {
    async fn ready(&mut self) {
        // Waits for room; the permit is released at once and taken again by `write`. A closed
        // channel is "ready" too: the next `check_write` reports it.
        let _ = self.tx.reserve().await;
    }
}

type Reserve = Pin<Box<dyn Future<Output = Result<mpsc::OwnedPermit<Bytes>, mpsc::error::SendError<()>>> + Send>>;

/// The `AsyncWrite` face of [`ChannelOutput`] (used by WASI preview 3 bindings).
struct ChannelWriter {
    tx: mpsc::Sender<Bytes>,
    /// In a mutex only to make the writer `Sync`; it is never contended (`&mut self` access).
    reserving: Mutex<Option<Reserve>>,
}

impl AsyncWrite for ChannelWriter {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        let this = self.get_mut();
        let slot = this.reserving.get_mut().unwrap_or_else(|poisoned| poisoned.into_inner());
        let reserve = slot.get_or_insert_with(|| Box::pin(this.tx.clone().reserve_owned()));
        let permit = match reserve.as_mut().poll(cx) {
            Poll::Pending => return Poll::Pending,
            Poll::Ready(permit) => permit,
        };
        *slot = None;
        match permit {
            Ok(permit) => {
                permit.send(Bytes::copy_from_slice(buf));
                Poll::Ready(Ok(buf.len()))
            }
            Err(_) => Poll::Ready(Err(std::io::ErrorKind::BrokenPipe.into())),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

/// The client's stdin of an `exec`, as a guest stdin.
pub fn exec_stdin(reader: Box<dyn AsyncRead + Send + Unpin>) -> impl StdinStream {
    AsyncStdinStream::new(SyncReader(Mutex::new(reader)))
}

/// WASI wants a `Sync` reader; the client's is only `Send`. Reads take `&mut self`, so the
/// mutex is never locked, only used for its `Sync`.
struct SyncReader(Mutex<Box<dyn AsyncRead + Send + Unpin>>);

impl AsyncRead for SyncReader {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<std::io::Result<()>> {
        let reader = self.get_mut().0.get_mut().unwrap_or_else(|poisoned| poisoned.into_inner());
        Pin::new(reader).poll_read(cx, buf)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::logs::{LogHub, RotationPolicy};

    #[test]
    fn log_output_writes_entries_and_counts_bytes() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("0.log");
        let writer = LogWriter::create(&LogHub::new(), &path, RotationPolicy::default()).expect("writer");
        let written = Arc::new(AtomicU64::new(0));
        let mut out = LogOutput::new(writer, LogStream::Stderr, written.clone()).p2_stream();
        assert!(out.check_write().expect("permit") > 0);
        out.write(Bytes::from_static(b"oops\n")).expect("write");
        assert_eq!(written.load(Ordering::Relaxed), 5);
        let content = std::fs::read_to_string(&path).expect("log");
        assert!(content.ends_with(" stderr F oops\n"), "{content}");
    }

    #[tokio::test]
    async fn channel_output_applies_backpressure_and_reports_a_gone_client() {
        let (tx, mut rx) = mpsc::channel(1);
        let mut out = ChannelOutput::new(tx).p2_stream();
        assert!(out.check_write().expect("permit") > 0);
        out.write(Bytes::from_static(b"a")).expect("write");
        assert_eq!(out.check_write().expect("no room"), 0, "the channel is full");
        assert_eq!(rx.recv().await.as_deref(), Some(&b"a"[..]));
        out.ready().await;
        assert!(out.check_write().expect("permit") > 0);
        drop(rx);
        assert!(matches!(out.check_write(), Err(StreamError::Closed)));
    }
}
