//! The `portforward.k8s.io` protocol on a SPDY session, as the kubelet
//! serves it. For every local connection the client opens two streams with
//! headers `streamtype` (`error`, then `data`), `port` and `requestid`; this
//! side accepts each at once (kubectl waits for the error stream's SYN_REPLY
//! before it opens the data stream), pairs them by request id, dials the pod
//! port and copies bytes between the data stream and the connection. A dial
//! that fails is reported as text on the error stream; the session (and
//! kubectl) carries on.

use std::collections::HashMap;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use futures::{Sink, Stream};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio::task::JoinSet;

use super::session::{self, NewStream, SessionError};
use super::spdy::{header, rst, Headers};

/// How long the first stream of a pair waits for the second (the kubelet's default).
const PAIR_TIMEOUT: Duration = Duration::from_secs(30);
/// Read size from the pod's connection (one DATA frame each).
const READ_CHUNK: usize = 32 * 1024;

/// Connects to a port of the pod.
pub type DialFuture = Pin<Box<dyn Future<Output = io::Result<TcpStream>> + Send>>;
pub type Dial = Arc<dyn Fn(u16) -> DialFuture + Send + Sync>;

/// What a session forwards to.
pub struct Target {
    pub dial: Dial,
    /// `namespace/name`, for messages.
    pub pod: String,
    pub uid: String,
}

/// Serves one port-forward connection until the client closes it.
pub async fn serve<R, W>(input: R, output: W, target: Target) -> Result<(), SessionError>
where
    R: Stream<Item = io::Result<Bytes>> + Unpin,
    W: Sink<Bytes, Error = io::Error> + Send + Unpin + 'static,
{
    let (streams_tx, streams_rx) = mpsc::unbounded_channel();
    // Streams are answered in the order they came, by one task, so a stream's SYN_REPLY
    // is queued before anything else on it.
    let pairing = tokio::spawn(pair_streams(streams_rx, Arc::new(target)));
    let result = session::run(input, output, move |stream| {
        let _ = streams_tx.send(stream);
    })
    .await;
    // Dropping the pairing task drops the forwarding tasks it owns.
    pairing.abort();
    result
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Error,
    Data,
}

/// The `streamtype`, `port` and request id of a stream, or why it is refused.
fn parse(id: u32, headers: &Headers) -> Result<(Kind, u16, String), String> {
    let kind = match header(headers, "streamtype") {
        Some("error") => Kind::Error,
        Some("data") => Kind::Data,
        Some(other) => return Err(format!("invalid stream type {other:?}")),
        None => return Err("missing stream type".into()),
    };
    let port = header(headers, "port").ok_or("missing port")?;
    let port: u16 = port.parse().map_err(|_| format!("invalid port {port:?}"))?;
    if port == 0 {
        return Err("invalid port 0".into());
    }
    // Clients before the request id header opened the error stream right before
    // its data stream: the pair is keyed by the error stream's id.
    let request = match header(headers, "requestid") {
        Some(r) => r.to_string(),
        None if kind == Kind::Error => id.to_string(),
        None => id.saturating_sub(2).to_string(),
    };
    Ok((kind, port, request))
}

#[derive(Default)]
struct Pending {
    error: Option<NewStream>,
    data: Option<NewStream>,
    port: u16,
    since: Option<Instant>,
}

async fn pair_streams(mut streams: mpsc::UnboundedReceiver<NewStream>, target: Arc<Target>) {
    let mut pending: HashMap<String, Pending> = HashMap::new();
    let mut forwards = JoinSet::new();
    while let Some(stream) = streams.recv().await {
        while forwards.try_join_next().is_some() {}
        expire(&mut pending).await;
        let (kind, port, request) = match parse(stream.id, &stream.headers) {
            Ok(parsed) => parsed,
            Err(reason) => {
                tracing::debug!(stream = stream.id, %reason, "port-forward stream refused");
                stream.writer.reset(rst::REFUSED_STREAM).await;
                continue;
            }
        };
        let entry = pending.entry(request.clone()).or_default();
        let slot = match kind {
            Kind::Error => &mut entry.error,
            Kind::Data => &mut entry.data,
        };
        if slot.is_some() {
            tracing::debug!(%request, ?kind, "port-forward request has that stream already");
            stream.writer.reset(rst::PROTOCOL_ERROR).await;
            continue;
        }
        if stream.writer.reply().await.is_err() {
            continue;
        }
        *slot = Some(stream);
        entry.port = port;
        entry.since.get_or_insert_with(Instant::now);
        if entry.error.is_some() && entry.data.is_some() {
            let Some(Pending { error: Some(error), data: Some(data), port, .. }) = pending.remove(&request) else { continue };
            forwards.spawn(forward(error, data, port, target.clone()));
        }
    }
}

/// Gives up on pairs whose second stream never came.
async fn expire(pending: &mut HashMap<String, Pending>) {
    let stale: Vec<String> =
        pending.iter().filter(|(_, p)| p.since.is_some_and(|t| t.elapsed() > PAIR_TIMEOUT)).map(|(k, _)| k.clone()).collect();
    for key in stale {
        if let Some(p) = pending.remove(&key) {
            for stream in [p.error, p.data].into_iter().flatten() {
                stream.writer.reset(rst::CANCEL).await;
            }
        }
    }
}

/// One forwarded connection.
async fn forward(error: NewStream, data: NewStream, port: u16, target: Arc<Target>) {
    let NewStream { writer: mut error_out, .. } = error;
    let NewStream { reader: mut from_client, writer: mut to_client, .. } = data;
    let conn = match (target.dial)(port).await {
        Ok(conn) => conn,
        Err(e) => {
            let message = format!("error forwarding port {port} to pod {}, uid {}: {e}", target.pod, target.uid);
            tracing::info!(%message, "port-forward");
            let _ = error_out.write(Bytes::from(message)).await;
            let _ = error_out.finish().await;
            let _ = to_client.finish().await;
            return;
        }
    };
    let (mut pod_in, mut pod_out) = conn.into_split();
    let upload = async move {
        while let Some(chunk) = from_client.next().await {
            if pod_out.write_all(&chunk).await.is_err() {
                break;
            }
        }
        // The client is done sending: so is the pod's side of the connection.
        let _ = pod_out.shutdown().await;
    };
    let download = async move {
        let mut buf = BytesMut::with_capacity(READ_CHUNK);
        loop {
            buf.reserve(READ_CHUNK);
            match pod_in.read_buf(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(_) => {
                    if to_client.write(buf.split().freeze()).await.is_err() {
                        return;
                    }
                }
            }
        }
        let _ = to_client.finish().await;
        // kubectl waits for the error stream to end before it lets go of the connection.
        let _ = error_out.finish().await;
    };
    tokio::join!(upload, download);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::agent::server::portforward::spdy::{Frame, FrameDecoder, FrameEncoder};
    use futures::channel::mpsc as fmpsc;
    use futures::{SinkExt, StreamExt};
    use tokio::net::TcpListener;

    fn headers(kind: &str, port: u16, request: Option<&str>) -> Headers {
        let mut h = vec![("streamtype".to_string(), kind.to_string()), ("port".to_string(), port.to_string())];
        if let Some(r) = request {
            h.push(("requestid".to_string(), r.to_string()));
        }
        h
    }

    #[test]
    fn parses_stream_headers() {
        assert_eq!(parse(1, &headers("error", 80, Some("0"))), Ok((Kind::Error, 80, "0".into())));
        assert_eq!(parse(3, &headers("data", 8080, Some("7"))), Ok((Kind::Data, 8080, "7".into())));
        // Without a request id, the data stream pairs with the stream opened before it.
        assert_eq!(parse(5, &headers("error", 80, None)).map(|p| p.2), Ok("5".into()));
        assert_eq!(parse(7, &headers("data", 80, None)).map(|p| p.2), Ok("5".into()));
        assert!(parse(1, &headers("bogus", 80, None)).is_err());
        assert!(parse(1, &headers("data", 0, None)).is_err());
        assert!(parse(1, &vec![("streamtype".into(), "data".into()), ("port".into(), "http".into())]).is_err());
        assert!(parse(1, &vec![("streamtype".into(), "data".into())]).is_err());
    }

    struct Client {
        to_server: fmpsc::UnboundedSender<io::Result<Bytes>>,
        from_server: fmpsc::UnboundedReceiver<Bytes>,
        encoder: FrameEncoder,
        decoder: FrameDecoder,
    }

    impl Client {
        fn send(&mut self, frame: Frame) {
            let mut buf = BytesMut::new();
            self.encoder.encode(&frame, &mut buf).expect("encodes");
            self.to_server.unbounded_send(Ok(buf.freeze())).expect("server reads");
        }

        async fn recv(&mut self) -> Frame {
            loop {
                if let Some(frame) = self.decoder.next_frame().expect("decodes") {
                    // Answer the server's PINGs, as spdystream does.
                    if let Frame::Ping { id } = frame {
                        if id % 2 == 0 {
                            self.send(Frame::Ping { id });
                            continue;
                        }
                    }
                    return frame;
                }
                let bytes = tokio::time::timeout(Duration::from_secs(10), self.from_server.next())
                    .await
                    .expect("in time")
                    .expect("connection open");
                self.decoder.push(&bytes);
            }
        }

        /// The next frame that is not a WINDOW_UPDATE.
        async fn recv_skipping_credit(&mut self) -> Frame {
            loop {
                match self.recv().await {
                    Frame::WindowUpdate { .. } => continue,
                    other => return other,
                }
            }
        }

        fn open(&mut self, stream: u32, kind: &str, port: u16, request: &str) {
            let h = headers(kind, port, Some(request));
            self.send(Frame::SynStream { stream, associated: 0, priority: 0, fin: false, unidirectional: false, headers: h });
        }
    }

    fn start(target: Target) -> (Client, tokio::task::JoinHandle<Result<(), SessionError>>) {
        let (to_server, input) = fmpsc::unbounded::<io::Result<Bytes>>();
        let (output, from_server) = fmpsc::unbounded::<Bytes>();
        let output = output.sink_map_err(|_| io::Error::from(io::ErrorKind::BrokenPipe));
        let server = tokio::spawn(serve(input, output, target));
        (Client { to_server, from_server, encoder: FrameEncoder::new().expect("encoder"), decoder: FrameDecoder::new() }, server)
    }

    fn host_dial() -> Dial {
        Arc::new(|port| Box::pin(TcpStream::connect(("127.0.0.1", port))))
    }

    fn target() -> Target {
        Target { dial: host_dial(), pod: "default/web".into(), uid: "u1".into() }
    }

    /// kubectl's order: error stream, its reply, then the data stream.
    async fn open_pair(client: &mut Client, first: u32, port: u16, request: &str) {
        client.open(first, "error", port, request);
        // kubectl closes its side of the error stream at once: it only reads it.
        client.send(Frame::Data { stream: first, fin: true, data: Bytes::new() });
        assert_eq!(client.recv_skipping_credit().await, Frame::SynReply { stream: first, fin: false, headers: vec![] });
        client.open(first + 2, "data", port, request);
        assert_eq!(client.recv_skipping_credit().await, Frame::SynReply { stream: first + 2, fin: false, headers: vec![] });
    }

    #[tokio::test]
    async fn forwards_a_connection_both_ways() {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("binds");
        let port = listener.local_addr().expect("addr").port();
        let pod = tokio::spawn(async move {
            let (mut conn, _) = listener.accept().await.expect("accepts");
            let mut request = Vec::new();
            conn.read_to_end(&mut request).await.expect("reads");
            conn.write_all(&[b"you said: ".as_slice(), &request].concat()).await.expect("writes");
        });
        let (mut client, _server) = start(target());
        open_pair(&mut client, 1, port, "0").await;
        client.send(Frame::Data { stream: 3, fin: false, data: Bytes::from_static(b"hello") });
        client.send(Frame::Data { stream: 3, fin: true, data: Bytes::new() });
        let mut body = Vec::new();
        let mut fins = Vec::new();
        while fins.len() < 2 {
            match client.recv_skipping_credit().await {
                Frame::Data { stream: 3, data, fin } => {
                    body.extend_from_slice(&data);
                    if fin {
                        fins.push(3);
                    }
                }
                Frame::Data { stream: 1, data, fin: true } if data.is_empty() => fins.push(1),
                other => panic!("unexpected {other:?}"),
            }
        }
        assert_eq!(body, b"you said: hello");
        pod.await.expect("pod done");
    }

    #[tokio::test]
    async fn a_refused_dial_is_reported_on_the_error_stream() {
        // A port with nothing listening: bind, note the port, close.
        let port = TcpListener::bind("127.0.0.1:0").await.expect("binds").local_addr().expect("addr").port();
        let (mut client, server) = start(target());
        open_pair(&mut client, 1, port, "0").await;
        let mut message = Vec::new();
        let mut fins = 0;
        while fins < 2 {
            match client.recv_skipping_credit().await {
                Frame::Data { stream: 1, data, fin } => {
                    message.extend_from_slice(&data);
                    fins += usize::from(fin);
                }
                Frame::Data { stream: 3, fin: true, data } if data.is_empty() => fins += 1,
                other => panic!("unexpected {other:?}"),
            }
        }
        let message = String::from_utf8(message).expect("text");
        assert!(message.starts_with(&format!("error forwarding port {port} to pod default/web, uid u1: ")), "{message}");
        assert!(message.to_lowercase().contains("refused"), "{message}");
        // The session goes on: another pair is answered.
        open_pair(&mut client, 5, port, "1").await;
        assert!(!server.is_finished());
    }

    #[tokio::test]
    async fn bad_streams_are_refused() {
        let (mut client, _server) = start(target());
        client.send(Frame::SynStream { stream: 1, associated: 0, priority: 0, fin: false, unidirectional: false, headers: headers("data", 0, Some("0")) });
        assert_eq!(client.recv().await, Frame::RstStream { stream: 1, status: rst::REFUSED_STREAM });
        client.open(3, "error", 80, "9");
        assert!(matches!(client.recv_skipping_credit().await, Frame::SynReply { stream: 3, .. }));
        client.open(5, "error", 80, "9");
        assert_eq!(client.recv_skipping_credit().await, Frame::RstStream { stream: 5, status: rst::PROTOCOL_ERROR });
    }

    /// 1 MiB from the pod through a client that never credits (as spdystream), intact.
    #[tokio::test]
    async fn a_mebibyte_from_the_pod() {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("binds");
        let port = listener.local_addr().expect("addr").port();
        let payload: Vec<u8> = (0..1u32 << 20).map(|i| (i % 253) as u8).collect();
        let sent = payload.clone();
        tokio::spawn(async move {
            let (mut conn, _) = listener.accept().await.expect("accepts");
            conn.write_all(&sent).await.expect("writes");
        });
        let (mut client, _server) = start(target());
        open_pair(&mut client, 1, port, "0").await;
        let mut body = Vec::new();
        loop {
            match client.recv_skipping_credit().await {
                Frame::Data { stream: 3, data, fin } => {
                    body.extend_from_slice(&data);
                    if fin {
                        break;
                    }
                }
                Frame::Data { stream: 1, .. } => {}
                other => panic!("unexpected {other:?}"),
            }
        }
        assert_eq!(body.len(), payload.len());
        assert!(body == payload);
    }
}
