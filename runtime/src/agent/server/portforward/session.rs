//! One SPDY/3.1 connection, server side: the client opens every stream (odd
//! ids, rising); this side answers them, moves their data, keeps the flow
//! control windows and answers PINGs.
//!
//! Flow control. SPDY/3.1 gives every stream and the session a 64 KiB send
//! window that the receiver reopens with WINDOW_UPDATE. Go's spdystream (what
//! kubectl and the kubelet use) never sends WINDOW_UPDATE and ignores those
//! it gets, so a sender that waits for them would stall at 64 KiB. This side
//! therefore always credits what it has consumed (correct for any peer), and
//! honours its own send windows until the peer shows it does not keep them.
//! When a window runs dry before the peer ever sent a WINDOW_UPDATE, this side
//! sends a PING behind the data: a peer that answers it without having sent a
//! WINDOW_UPDATE first has read a whole window's worth and credited nothing,
//! so it keeps no windows, and is not waited for again (kubectl costs one
//! round trip per session this way). A peer that answers no PING either is
//! given up on after [`FLOW_GRACE`]. A WINDOW_UPDATE at any time means the
//! peer keeps windows, and they are honoured from then on.
//!
//! Tasks: the caller's read loop ([`run`]) decodes frames and hands new
//! streams to a callback; one writer task encodes frames and writes them.
//! Control frames (PING, WINDOW_UPDATE, refusals) take an unbounded lane the
//! writer serves first, so a reply never waits behind bulk data; a stream's
//! SYN_REPLY, data and FIN share the bounded data lane, which keeps them in order.

use std::collections::HashMap;
use std::io;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use futures::{Sink, SinkExt, Stream, StreamExt};
use tokio::sync::{mpsc, Notify};

use super::spdy::{rst, Frame, FrameDecoder, FrameEncoder, Headers, SpdyError, DEFAULT_WINDOW, SETTINGS_INITIAL_WINDOW_SIZE};

/// How long a dry send window waits for a peer's first WINDOW_UPDATE or PING answer.
pub const FLOW_GRACE: Duration = Duration::from_millis(500);
/// Largest DATA frame this side sends.
const MAX_DATA_FRAME: usize = 32 * 1024;
/// Frames queued on the data lane before writers wait.
const DATA_LANE: usize = 64;
/// Chunks of a stream's incoming data queued before the read loop waits.
const INBOUND_QUEUE: usize = 64;
/// How long a closing session waits for its last frames to be written.
const STOP_GRACE: Duration = Duration::from_secs(1);
/// The writer joins queued frames into one write up to about this size.
const BATCH_BYTES: usize = 256 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    #[error(transparent)]
    Spdy(#[from] SpdyError),
    #[error("reading the connection: {0}")]
    Io(#[from] io::Error),
}

/// The stream ended (reset by the peer, or the connection closed).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("the SPDY stream is closed")]
pub struct StreamClosed;

/// Whether the peer keeps the flow-control windows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum PeerFlow {
    Unknown,
    Keeps,
    Ignores,
}

struct Flow {
    peer: PeerFlow,
    session_window: i64,
    initial_window: i64,
    /// Send windows of the streams that can still send.
    streams: HashMap<u32, i64>,
    /// The PING asking whether the peer keeps windows, while unanswered.
    probe: Option<u32>,
    /// This side's PING ids are even.
    next_ping: u32,
    closed: bool,
}

struct Shared {
    control: mpsc::UnboundedSender<Frame>,
    data: mpsc::Sender<Frame>,
    flow: Mutex<Flow>,
    /// Windows grew, a stream was reset, or the session closed.
    changed: Notify,
    /// See [`FLOW_GRACE`].
    grace: Duration,
}

impl Shared {
    fn flow(&self) -> MutexGuard<'_, Flow> {
        self.flow.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// A stream the client opened.
pub struct NewStream {
    pub id: u32,
    pub headers: Headers,
    pub reader: StreamReader,
    pub writer: StreamWriter,
}

/// The client's data on one stream.
pub struct StreamReader {
    id: u32,
    rx: mpsc::Receiver<Bytes>,
    shared: Arc<Shared>,
    /// Bytes handed out but not yet credited back with WINDOW_UPDATE.
    uncredited: u32,
}

impl StreamReader {
    /// The next chunk, or `None` once the client finished (or reset) the stream.
    /// Calling it again means the previous chunk was consumed: its bytes are credited
    /// to the client's windows (in batches of half a window).
    pub async fn next(&mut self) -> Option<Bytes> {
        if self.uncredited >= DEFAULT_WINDOW / 2 {
            self.credit();
        }
        let chunk = self.rx.recv().await;
        if let Some(c) = &chunk {
            self.uncredited += c.len() as u32;
        }
        chunk
    }

    fn credit(&mut self) {
        let delta = std::mem::take(&mut self.uncredited);
        if delta > 0 {
            let _ = self.shared.control.send(Frame::WindowUpdate { stream: self.id, delta });
            let _ = self.shared.control.send(Frame::WindowUpdate { stream: 0, delta });
        }
    }
}

impl Drop for StreamReader {
    fn drop(&mut self) {
        // Whatever was queued but never read still used the session's window.
        let mut dropped = std::mem::take(&mut self.uncredited);
        self.rx.close();
        while let Ok(chunk) = self.rx.try_recv() {
            dropped += chunk.len() as u32;
        }
        if dropped > 0 {
            let _ = self.shared.control.send(Frame::WindowUpdate { stream: 0, delta: dropped });
        }
    }
}

/// This side's half of one stream.
pub struct StreamWriter {
    id: u32,
    shared: Arc<Shared>,
    done: bool,
}

impl StreamWriter {
    pub fn id(&self) -> u32 {
        self.id
    }

    /// Accepts the stream (SYN_REPLY, no headers).
    pub async fn reply(&self) -> Result<(), StreamClosed> {
        self.send(Frame::SynReply { stream: self.id, fin: false, headers: Vec::new() }).await
    }

    /// Sends `data`, in frames no larger than the send windows allow.
    pub async fn write(&mut self, mut data: Bytes) -> Result<(), StreamClosed> {
        while !data.is_empty() {
            let n = self.reserve(data.len().min(MAX_DATA_FRAME)).await?;
            let chunk = data.split_to(n);
            self.send(Frame::Data { stream: self.id, fin: false, data: chunk }).await?;
        }
        Ok(())
    }

    /// Ends this side of the stream (an empty DATA frame with FIN); nothing is sent
    /// on a stream the client has reset.
    pub async fn finish(mut self) -> Result<(), StreamClosed> {
        self.done = true;
        if self.shared.flow().streams.remove(&self.id).is_none() {
            return Err(StreamClosed);
        }
        self.send(Frame::Data { stream: self.id, fin: true, data: Bytes::new() }).await
    }

    /// Refuses or abandons the stream (RST_STREAM with `status`).
    pub async fn reset(mut self, status: u32) {
        self.done = true;
        self.forget();
        let _ = self.send(Frame::RstStream { stream: self.id, status }).await;
    }

    async fn send(&self, frame: Frame) -> Result<(), StreamClosed> {
        self.shared.data.send(frame).await.map_err(|_| StreamClosed)
    }

    fn forget(&self) {
        self.shared.flow().streams.remove(&self.id);
    }

    /// Takes up to `want` bytes of send window, waiting while it is closed.
    async fn reserve(&self, want: usize) -> Result<usize, StreamClosed> {
        loop {
            let notified = self.shared.changed.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let peer = {
                let mut flow = self.shared.flow();
                if flow.closed {
                    return Err(StreamClosed);
                }
                let peer = flow.peer;
                let session = flow.session_window;
                let Some(window) = flow.streams.get_mut(&self.id) else {
                    return Err(StreamClosed);
                };
                if peer == PeerFlow::Ignores {
                    return Ok(want);
                }
                let open = (*window).min(session);
                if open > 0 {
                    let n = want.min(open as usize);
                    *window -= n as i64;
                    flow.session_window -= n as i64;
                    return Ok(n);
                }
                peer
            };
            if peer == PeerFlow::Unknown {
                let probe = {
                    let mut flow = self.shared.flow();
                    match flow.probe {
                        Some(_) => None,
                        None => {
                            let id = flow.next_ping;
                            flow.next_ping = flow.next_ping.wrapping_add(2).max(2);
                            flow.probe = Some(id);
                            Some(id)
                        }
                    }
                };
                // On the data lane: the PING must reach the peer after the data that used the window.
                if let Some(id) = probe {
                    self.send(Frame::Ping { id }).await?;
                }
                if tokio::time::timeout(self.shared.grace, notified).await.is_err() {
                    let mut flow = self.shared.flow();
                    if flow.peer == PeerFlow::Unknown {
                        tracing::debug!("the port-forward client answered no PING and sent no WINDOW_UPDATE; sending without windows");
                        flow.peer = PeerFlow::Ignores;
                    }
                }
            } else {
                notified.await;
            }
        }
    }
}

impl Drop for StreamWriter {
    fn drop(&mut self) {
        if !self.done {
            self.forget();
        }
    }
}

/// Serves one connection until the client closes it or breaks the protocol.
/// `input` yields the bytes as they arrive; `output` takes the bytes to send.
/// Every stream the client opens goes to `on_stream`, which must answer it
/// ([`StreamWriter::reply`] or [`StreamWriter::reset`]) without blocking.
pub async fn run<R, W>(input: R, output: W, on_stream: impl FnMut(NewStream)) -> Result<(), SessionError>
where
    R: Stream<Item = io::Result<Bytes>> + Unpin,
    W: Sink<Bytes, Error = io::Error> + Send + Unpin + 'static,
{
    run_with_grace(input, output, on_stream, FLOW_GRACE).await
}

async fn run_with_grace<R, W>(mut input: R, output: W, mut on_stream: impl FnMut(NewStream), grace: Duration) -> Result<(), SessionError>
where
    R: Stream<Item = io::Result<Bytes>> + Unpin,
    W: Sink<Bytes, Error = io::Error> + Send + Unpin + 'static,
{
    let (control_tx, control_rx) = mpsc::unbounded_channel();
    let (data_tx, data_rx) = mpsc::channel(DATA_LANE);
    let shared = Arc::new(Shared {
        control: control_tx,
        data: data_tx,
        flow: Mutex::new(Flow {
            peer: PeerFlow::Unknown,
            session_window: i64::from(DEFAULT_WINDOW),
            initial_window: i64::from(DEFAULT_WINDOW),
            streams: HashMap::new(),
            probe: None,
            next_ping: 2,
            closed: false,
        }),
        changed: Notify::new(),
        grace,
    });
    let encoder = FrameEncoder::new()?;
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel();
    let mut writer = tokio::spawn(write_frames(encoder, control_rx, data_rx, stop_rx, output));

    let mut reader = Reader { shared: shared.clone(), inbound: HashMap::new(), last_id: 0, going_away: false };
    let mut decoder = FrameDecoder::new();
    let result = 'read: loop {
        let chunk = match input.next().await {
            None => break Ok(()),
            Some(Err(e)) => break Err(SessionError::Io(e)),
            Some(Ok(chunk)) => chunk,
        };
        decoder.push(&chunk);
        loop {
            match decoder.next_frame() {
                Ok(Some(frame)) => reader.handle(frame, &mut on_stream).await,
                Ok(None) => break,
                Err(e) => {
                    // SPDY/3.1 GOAWAY status 1: protocol error.
                    let _ = shared.control.send(Frame::GoAway { last_good: reader.last_id, status: 1 });
                    break 'read Err(e.into());
                }
            }
        }
    };
    {
        let mut flow = shared.flow();
        flow.closed = true;
    }
    shared.changed.notify_waiters();
    drop(reader);
    drop(shared);
    // Let the writer send what the control lane holds (a GOAWAY), but not wait on a
    // peer that stopped reading.
    let _ = stop_tx.send(());
    if tokio::time::timeout(STOP_GRACE, &mut writer).await.is_err() {
        writer.abort();
    }
    result
}

struct Reader {
    shared: Arc<Shared>,
    /// Streams whose incoming side is open.
    inbound: HashMap<u32, mpsc::Sender<Bytes>>,
    last_id: u32,
    going_away: bool,
}

impl Reader {
    async fn handle(&mut self, frame: Frame, on_stream: &mut impl FnMut(NewStream)) {
        match frame {
            Frame::SynStream { stream, fin, unidirectional, headers, .. } => {
                if stream == 0 || stream % 2 == 0 || stream <= self.last_id {
                    self.control(Frame::RstStream { stream, status: rst::PROTOCOL_ERROR });
                    return;
                }
                self.last_id = stream;
                if self.going_away {
                    self.control(Frame::RstStream { stream, status: rst::REFUSED_STREAM });
                    return;
                }
                let (tx, rx) = mpsc::channel(INBOUND_QUEUE);
                if !fin {
                    self.inbound.insert(stream, tx);
                }
                {
                    let mut flow = self.shared.flow();
                    let initial = flow.initial_window;
                    if !unidirectional {
                        flow.streams.insert(stream, initial);
                    }
                }
                let reader = StreamReader { id: stream, rx, shared: self.shared.clone(), uncredited: 0 };
                let writer = StreamWriter { id: stream, shared: self.shared.clone(), done: unidirectional };
                on_stream(NewStream { id: stream, headers, reader, writer });
            }
            Frame::Data { stream, fin, data } => {
                let len = data.len() as u32;
                match self.inbound.get(&stream) {
                    Some(tx) => {
                        let gone = !data.is_empty() && tx.send(data).await.is_err();
                        if gone {
                            // The reader is gone: its StreamReader credited what it had; credit this too.
                            self.control(Frame::WindowUpdate { stream: 0, delta: len });
                        }
                        if fin || gone {
                            self.inbound.remove(&stream);
                        }
                    }
                    None => {
                        if len > 0 {
                            self.control(Frame::WindowUpdate { stream: 0, delta: len });
                        }
                        if stream > self.last_id || stream % 2 == 0 {
                            self.control(Frame::RstStream { stream, status: rst::INVALID_STREAM });
                        }
                    }
                }
            }
            Frame::RstStream { stream, .. } => {
                self.inbound.remove(&stream);
                self.shared.flow().streams.remove(&stream);
                self.shared.changed.notify_waiters();
            }
            Frame::Settings { entries } => {
                for (_, id, value) in entries {
                    if id == SETTINGS_INITIAL_WINDOW_SIZE {
                        let mut flow = self.shared.flow();
                        // Per SPDY/3.1 §2.6.8 the change applies to open streams too.
                        let delta = i64::from(value) - flow.initial_window;
                        flow.initial_window = i64::from(value);
                        for window in flow.streams.values_mut() {
                            *window += delta;
                        }
                    }
                }
                self.shared.changed.notify_waiters();
            }
            Frame::Ping { id } => {
                if id % 2 == 1 {
                    // The client's own ping: echo it.
                    self.control(Frame::Ping { id });
                    return;
                }
                // The answer to ours: no WINDOW_UPDATE came before it, so the peer keeps no windows.
                let answered = {
                    let mut flow = self.shared.flow();
                    let ours = flow.probe == Some(id);
                    if ours {
                        flow.probe = None;
                        if flow.peer == PeerFlow::Unknown {
                            tracing::debug!("the port-forward client keeps no SPDY flow-control windows; sending without them");
                            flow.peer = PeerFlow::Ignores;
                        }
                    }
                    ours
                };
                if answered {
                    self.shared.changed.notify_waiters();
                }
            }
            Frame::GoAway { .. } => self.going_away = true,
            Frame::WindowUpdate { stream, delta } => {
                {
                    let mut flow = self.shared.flow();
                    if flow.peer != PeerFlow::Keeps {
                        flow.peer = PeerFlow::Keeps;
                    }
                    if stream == 0 {
                        flow.session_window += i64::from(delta);
                    } else if let Some(window) = flow.streams.get_mut(&stream) {
                        *window += i64::from(delta);
                    }
                }
                self.shared.changed.notify_waiters();
            }
            Frame::Headers { stream, fin, .. } => {
                if fin {
                    self.inbound.remove(&stream);
                }
            }
            Frame::SynReply { .. } | Frame::Unknown { .. } => {}
        }
    }

    fn control(&self, frame: Frame) {
        let _ = self.shared.control.send(frame);
    }
}

/// Encodes and writes frames, control lane first, several frames per write, until
/// the lanes close or `stop` fires (then only the control lane is still flushed).
async fn write_frames<W>(
    mut encoder: FrameEncoder,
    mut control: mpsc::UnboundedReceiver<Frame>,
    mut data: mpsc::Receiver<Frame>,
    mut stop: tokio::sync::oneshot::Receiver<()>,
    mut output: W,
) where
    W: Sink<Bytes, Error = io::Error> + Unpin,
{
    let mut buf = BytesMut::with_capacity(BATCH_BYTES);
    loop {
        let first = tokio::select! {
            biased;
            Some(frame) = control.recv() => frame,
            Some(frame) = data.recv() => frame,
            _ = &mut stop => {
                while let Ok(frame) = control.try_recv() {
                    if encoder.encode(&frame, &mut buf).is_err() {
                        break;
                    }
                }
                if !buf.is_empty() {
                    let _ = output.send(buf.split().freeze()).await;
                }
                break;
            }
            else => break,
        };
        if encoder.encode(&first, &mut buf).is_err() {
            break;
        }
        while buf.len() < BATCH_BYTES {
            let next = match control.try_recv() {
                Ok(frame) => frame,
                Err(_) => match data.try_recv() {
                    Ok(frame) => frame,
                    Err(_) => break,
                },
            };
            if encoder.encode(&next, &mut buf).is_err() {
                break;
            }
        }
        if output.send(buf.split().freeze()).await.is_err() {
            break;
        }
    }
    let _ = output.close().await;
}

#[cfg(test)]
#[path = "session_tests.rs"]
mod tests;
