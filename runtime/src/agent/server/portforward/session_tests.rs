//! Tests of `session.rs`.

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
