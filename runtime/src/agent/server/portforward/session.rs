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
mod tests {
    use super::*;
    use crate::agent::server::portforward::spdy::header;
    use futures::channel::mpsc as fmpsc;

    /// A client speaking SPDY over in-memory channels.
    struct Client {
        to_server: fmpsc::UnboundedSender<io::Result<Bytes>>,
        from_server: fmpsc::UnboundedReceiver<Bytes>,
        encoder: FrameEncoder,
        decoder: FrameDecoder,
        /// Echo the server's PINGs as they arrive (spdystream does).
        answers_pings: bool,
        pings_answered: usize,
    }

    impl Client {
        fn send(&mut self, frame: Frame) {
            let mut buf = BytesMut::new();
            self.encoder.encode(&frame, &mut buf).expect("encodes");
            // Deliver in 3-byte pieces, as a tunnel may.
            for piece in buf.chunks(3) {
                self.to_server.unbounded_send(Ok(Bytes::copy_from_slice(piece))).expect("server reads");
            }
        }

        /// Whether no frame (other than PINGs, answered here) has arrived unread.
        fn nothing_pending(&mut self) -> bool {
            while let Ok(bytes) = self.from_server.try_recv() {
                self.decoder.push(&bytes);
            }
            loop {
                match self.decoder.next_frame().expect("decodes") {
                    None => return true,
                    Some(Frame::Ping { id }) if id % 2 == 0 => {
                        self.pings_answered += 1;
                        self.send(Frame::Ping { id });
                    }
                    Some(_) => return false,
                }
            }
        }

        /// The next frame that is not a WINDOW_UPDATE.
        async fn recv_skipping_credit(&mut self) -> Option<Frame> {
            loop {
                match self.recv().await {
                    Some(Frame::WindowUpdate { .. }) => continue,
                    other => return other,
                }
            }
        }

        async fn recv(&mut self) -> Option<Frame> {
            loop {
                if let Some(frame) = self.decoder.next_frame().expect("decodes") {
                    if let Frame::Ping { id } = frame {
                        if id % 2 == 0 && self.answers_pings {
                            self.pings_answered += 1;
                            self.send(Frame::Ping { id });
                            continue;
                        }
                    }
                    return Some(frame);
                }
                let bytes = tokio::time::timeout(Duration::from_secs(10), self.from_server.next()).await.expect("in time")?;
                self.decoder.push(&bytes);
            }
        }

        fn open(&mut self, stream: u32, kind: &str) {
            let headers = vec![("streamtype".into(), kind.into()), ("port".into(), "80".into()), ("requestid".into(), "0".into())];
            self.send(Frame::SynStream { stream, associated: 0, priority: 0, fin: false, unidirectional: false, headers });
        }
    }

    /// A server whose streams echo what they read, and a client for it.
    fn echo_server() -> (Client, tokio::task::JoinHandle<Result<(), SessionError>>) {
        echo_server_with_grace(FLOW_GRACE)
    }

    fn echo_server_with_grace(grace: Duration) -> (Client, tokio::task::JoinHandle<Result<(), SessionError>>) {
        let (to_server, input) = fmpsc::unbounded::<io::Result<Bytes>>();
        let (output, from_server) = fmpsc::unbounded::<Bytes>();
        let output = output.sink_map_err(|_| io::Error::from(io::ErrorKind::BrokenPipe));
        let server = tokio::spawn(run_with_grace(input, output, |stream: NewStream| {
            tokio::spawn(async move {
                let NewStream { mut reader, mut writer, headers, .. } = stream;
                if header(&headers, "streamtype") == Some("refuse") {
                    return writer.reset(rst::REFUSED_STREAM).await;
                }
                if header(&headers, "streamtype") == Some("source") {
                    // 1 MiB at once: only the send windows can hold it back.
                    writer.reply().await.expect("replies");
                    let _ = writer.write(Bytes::from(pattern())).await;
                    let _ = writer.finish().await;
                    return;
                }
                writer.reply().await.expect("replies");
                while let Some(chunk) = reader.next().await {
                    if writer.write(chunk).await.is_err() {
                        return;
                    }
                }
                let _ = writer.finish().await;
            });
        }, grace));
        let client = Client {
            to_server,
            from_server,
            encoder: FrameEncoder::new().expect("encoder"),
            decoder: FrameDecoder::new(),
            answers_pings: true,
            pings_answered: 0,
        };
        (client, server)
    }

    #[tokio::test]
    async fn answers_streams_and_pings() {
        let (mut client, server) = echo_server();
        client.open(1, "error");
        client.send(Frame::Ping { id: 1 });
        let mut seen = Vec::new();
        for _ in 0..2 {
            seen.push(client.recv().await.expect("frame"));
        }
        assert!(seen.contains(&Frame::Ping { id: 1 }), "{seen:?}");
        assert!(seen.contains(&Frame::SynReply { stream: 1, fin: false, headers: vec![] }), "{seen:?}");
        // The server's own pings (even ids) are not echoed back.
        client.send(Frame::Ping { id: 2 });
        client.send(Frame::Data { stream: 1, fin: true, data: Bytes::from_static(b"hi") });
        assert_eq!(client.recv_skipping_credit().await, Some(Frame::Data { stream: 1, fin: false, data: Bytes::from_static(b"hi") }));
        assert_eq!(client.recv_skipping_credit().await, Some(Frame::Data { stream: 1, fin: true, data: Bytes::new() }));
        // Closing the connection ends the session.
        drop(client.to_server);
        assert!(server.await.expect("joins").is_ok());
    }

    #[tokio::test]
    async fn resets_and_refusals() {
        let (mut client, server) = echo_server();
        client.open(1, "refuse");
        assert_eq!(client.recv().await, Some(Frame::RstStream { stream: 1, status: rst::REFUSED_STREAM }));
        // Ids must rise and be odd.
        client.open(1, "data");
        assert_eq!(client.recv().await, Some(Frame::RstStream { stream: 1, status: rst::PROTOCOL_ERROR }));
        client.open(4, "data");
        assert_eq!(client.recv().await, Some(Frame::RstStream { stream: 4, status: rst::PROTOCOL_ERROR }));
        // Data on a stream never opened.
        client.send(Frame::Data { stream: 99, fin: false, data: Bytes::from_static(b"x") });
        assert_eq!(client.recv().await, Some(Frame::WindowUpdate { stream: 0, delta: 1 }));
        assert_eq!(client.recv().await, Some(Frame::RstStream { stream: 99, status: rst::INVALID_STREAM }));
        // A reset from the client ends the stream's reader: the echo finishes without data.
        client.open(5, "data");
        assert_eq!(client.recv().await, Some(Frame::SynReply { stream: 5, fin: false, headers: vec![] }));
        client.send(Frame::RstStream { stream: 5, status: rst::CANCEL });
        // After GOAWAY no new stream is accepted.
        client.send(Frame::GoAway { last_good: 0, status: 0 });
        client.open(7, "data");
        assert_eq!(client.recv().await, Some(Frame::RstStream { stream: 7, status: rst::REFUSED_STREAM }));
        // A broken frame ends the session with GOAWAY(protocol error).
        client.to_server.unbounded_send(Ok(Bytes::from_static(&[0x80, 0x02, 0, 1, 0, 0, 0, 0]))).expect("sends");
        assert_eq!(client.recv().await, Some(Frame::GoAway { last_good: 7, status: 1 }));
        assert!(matches!(server.await.expect("joins"), Err(SessionError::Spdy(SpdyError::Version(2)))));
    }

    fn pattern() -> Vec<u8> {
        (0..1u32 << 20).map(|i| (i % 251) as u8).collect()
    }

    /// 1 MiB from the server to a client that keeps windows strictly: each time it has
    /// received all its credit allows, it checks that nothing more is on the way before it
    /// credits 48 KiB more.
    #[tokio::test]
    async fn a_mebibyte_within_the_windows_of_a_strict_client() {
        // A long grace: this client's first credit must be awaited however busy the machine is.
        let (mut client, server) = echo_server_with_grace(Duration::from_secs(30));
        client.open(1, "source");
        assert!(matches!(client.recv().await, Some(Frame::SynReply { stream: 1, .. })));
        let mut received = Vec::new();
        let mut allowed = u64::from(DEFAULT_WINDOW);
        let mut credits = 0;
        loop {
            match client.recv().await.expect("frame") {
                Frame::Data { data, fin, .. } => {
                    received.extend_from_slice(&data);
                    assert!(received.len() as u64 <= allowed, "the server sent {} bytes with {allowed} allowed", received.len());
                    if fin {
                        break;
                    }
                }
                other => panic!("unexpected {other:?}"),
            }
            // (At exactly 1 MiB only the FIN is left to come.)
            if received.len() as u64 == allowed && received.len() < 1 << 20 {
                // Give a server that ignored the windows every chance to run ahead, then look.
                for _ in 0..50 {
                    tokio::task::yield_now().await;
                }
                assert!(client.nothing_pending(), "the server sent past its window at {allowed} bytes");
                client.send(Frame::WindowUpdate { stream: 1, delta: 48 * 1024 });
                client.send(Frame::WindowUpdate { stream: 0, delta: 48 * 1024 });
                allowed += 48 * 1024;
                credits += 1;
            }
        }
        assert!(received == pattern(), "{} bytes, not the pattern", received.len());
        assert!(credits >= 20, "the server waited for credit {credits} times");
        client.to_server.close_channel();
        assert!(server.await.expect("joins").is_ok());
    }

    /// A SETTINGS frame changing the initial window applies to open streams.
    #[tokio::test]
    async fn settings_resize_the_stream_windows() {
        let (mut client, server) = echo_server_with_grace(Duration::from_secs(30));
        client.send(Frame::Settings { entries: vec![(0, SETTINGS_INITIAL_WINDOW_SIZE, 16 * 1024)] });
        client.send(Frame::WindowUpdate { stream: 0, delta: 1 });
        client.open(1, "source");
        assert!(matches!(client.recv().await, Some(Frame::SynReply { stream: 1, .. })));
        let mut got = 0;
        while got < 16 * 1024 {
            match client.recv().await.expect("frame") {
                Frame::Data { data, .. } => got += data.len(),
                other => panic!("unexpected {other:?}"),
            }
        }
        assert_eq!(got, 16 * 1024, "exactly the 16 KiB window");
        // Nothing more comes until the client credits.
        let more = tokio::time::timeout(Duration::from_millis(300), client.recv()).await;
        assert!(more.is_err(), "the server sent past the window: {more:?}");
        client.send(Frame::WindowUpdate { stream: 1, delta: 1 << 20 });
        client.send(Frame::WindowUpdate { stream: 0, delta: 1 << 20 });
        let mut rest = 0;
        loop {
            match client.recv().await.expect("frame") {
                Frame::Data { data, fin, .. } => {
                    rest += data.len();
                    if fin {
                        break;
                    }
                }
                other => panic!("unexpected {other:?}"),
            }
        }
        assert_eq!(got + rest, 1 << 20);
        client.to_server.close_channel();
        assert!(server.await.expect("joins").is_ok());
    }

    /// spdystream's way: never a WINDOW_UPDATE, but PINGs answered. One PING round trip
    /// tells the server so, and it sends on without windows.
    #[tokio::test]
    async fn a_mebibyte_to_a_client_that_keeps_no_windows() {
        let (client, took) = mebibyte_without_windows(true, Duration::from_secs(30)).await;
        assert_eq!(client.pings_answered, 1, "one probe per session");
        assert!(took < Duration::from_secs(5), "took {took:?}");
    }

    /// A client that answers no PING either is given up on after the grace.
    #[tokio::test]
    async fn a_client_deaf_to_pings_costs_one_grace() {
        let (client, took) = mebibyte_without_windows(false, Duration::from_millis(200)).await;
        assert_eq!(client.pings_answered, 0);
        assert!(took >= Duration::from_millis(200), "took {took:?}");
    }

    async fn mebibyte_without_windows(answers_pings: bool, grace: Duration) -> (Client, Duration) {
        let (mut client, server) = echo_server_with_grace(grace);
        client.answers_pings = answers_pings;
        client.open(1, "data");
        assert!(matches!(client.recv().await, Some(Frame::SynReply { stream: 1, .. })));
        let payload: Vec<u8> = (0..1 << 20).map(|i: u32| (i * 7 % 256) as u8).collect();
        for piece in payload.chunks(32 * 1024) {
            client.send(Frame::Data { stream: 1, fin: false, data: Bytes::copy_from_slice(piece) });
        }
        client.send(Frame::Data { stream: 1, fin: true, data: Bytes::new() });
        let started = std::time::Instant::now();
        let mut received = Vec::new();
        let mut credited = 0u64;
        loop {
            match client.recv().await.expect("frame") {
                Frame::Data { data, fin, .. } => {
                    received.extend_from_slice(&data);
                    if fin {
                        break;
                    }
                }
                Frame::WindowUpdate { stream: 1, delta } => credited += u64::from(delta),
                Frame::WindowUpdate { .. } => {}
                Frame::Ping { .. } if !answers_pings => {}
                other => panic!("unexpected {other:?}"),
            }
        }
        let took = started.elapsed();
        assert_eq!(received, payload);
        // The server credited (nearly) all it consumed, in half-window steps.
        assert!(credited >= (1 << 20) - u64::from(DEFAULT_WINDOW), "credited {credited}");
        client.to_server.close_channel();
        assert!(server.await.expect("joins").is_ok());
        (client, took)
    }
}
