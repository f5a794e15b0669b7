//! The load generator's HTTP/1.1: one fixed GET written as bytes, and a
//! response reader that knows just enough (status line, Content-Length,
//! chunked bodies, bodies ended by the server's close, `Connection: close`) to
//! tell where a response ends and whether the connection can carry the next
//! request. Kept this small so the client's own cost stays far below the
//! servers' it measures.

use std::fmt;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// The largest response head the reader accepts.
const MAX_HEAD: usize = 16 * 1024;

#[derive(Debug, PartialEq, Eq)]
pub enum HttpError {
    /// The server closed the connection before the response was complete.
    Closed,
    Malformed(&'static str),
    Status(u16),
    Io(String),
}

impl fmt::Display for HttpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HttpError::Closed => write!(f, "connection closed before the response was complete"),
            HttpError::Malformed(what) => write!(f, "malformed response: {what}"),
            HttpError::Status(code) => write!(f, "HTTP status {code}"),
            HttpError::Io(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for HttpError {}

impl From<std::io::Error> for HttpError {
    fn from(e: std::io::Error) -> Self {
        HttpError::Io(e.to_string())
    }
}

/// `GET path` for `host`; `close` asks the server to end the connection after it.
pub fn get_request(host: &str, path: &str, close: bool) -> Vec<u8> {
    let connection = if close { "Connection: close\r\n" } else { "" };
    format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: wasmkube-bench\r\nAccept: */*\r\n{connection}\r\n").into_bytes()
}

/// What the bytes received so far make of a response.
#[derive(Debug, PartialEq, Eq)]
pub enum Parsed {
    /// More bytes are needed.
    Incomplete,
    /// The response is the first `len` bytes; `reusable` when the connection may carry another.
    Complete { status: u16, len: usize, reusable: bool },
    /// The head is complete and the body runs until the server closes the connection.
    UntilClose { status: u16 },
}

/// Parses the response at the start of `buf`.
pub fn parse_response(buf: &[u8]) -> Result<Parsed, HttpError> {
    let Some(head_end) = find(buf, b"\r\n\r\n") else {
        return if buf.len() > MAX_HEAD { Err(HttpError::Malformed("head too large")) } else { Ok(Parsed::Incomplete) };
    };
    let head = std::str::from_utf8(&buf[..head_end]).map_err(|_| HttpError::Malformed("head is not UTF-8"))?;
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let mut parts = status_line.splitn(3, ' ');
    let version = parts.next().unwrap_or_default();
    if !version.starts_with("HTTP/1.") {
        return Err(HttpError::Malformed("no HTTP/1.x status line"));
    }
    let status: u16 = parts.next().and_then(|s| s.parse().ok()).ok_or(HttpError::Malformed("no status code"))?;
    let mut length = None;
    let mut chunked = false;
    let mut close = version == "HTTP/1.0";
    for line in lines {
        let Some((name, value)) = line.split_once(':') else { return Err(HttpError::Malformed("header without a colon")) };
        let value = value.trim();
        if name.eq_ignore_ascii_case("content-length") {
            length = Some(value.parse::<usize>().map_err(|_| HttpError::Malformed("bad Content-Length"))?);
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            chunked = value.to_ascii_lowercase().split(',').any(|v| v.trim() == "chunked");
        } else if name.eq_ignore_ascii_case("connection") {
            let value = value.to_ascii_lowercase();
            if value.split(',').any(|v| v.trim() == "close") {
                close = true;
            } else if value.split(',').any(|v| v.trim() == "keep-alive") {
                close = false;
            }
        }
    }
    let body_start = head_end + 4;
    if (100..200).contains(&status) {
        return Err(HttpError::Malformed("interim 1xx responses are not expected"));
    }
    if status == 204 || status == 304 {
        return Ok(Parsed::Complete { status, len: body_start, reusable: !close });
    }
    if chunked {
        return Ok(match chunked_end(&buf[body_start..])? {
            Some(body_len) => Parsed::Complete { status, len: body_start + body_len, reusable: !close },
            None => Parsed::Incomplete,
        });
    }
    match length {
        Some(n) if buf.len() >= body_start + n => Ok(Parsed::Complete { status, len: body_start + n, reusable: !close }),
        Some(_) => Ok(Parsed::Incomplete),
        None => Ok(Parsed::UntilClose { status }),
    }
}

/// The length of a complete chunked body at the start of `body`, trailers included.
fn chunked_end(body: &[u8]) -> Result<Option<usize>, HttpError> {
    let mut at = 0;
    loop {
        let Some(line_len) = find(&body[at..], b"\r\n") else { return Ok(None) };
        let line = std::str::from_utf8(&body[at..at + line_len]).map_err(|_| HttpError::Malformed("chunk size is not UTF-8"))?;
        let size_text = line.split(';').next().unwrap_or_default().trim();
        let size = usize::from_str_radix(size_text, 16).map_err(|_| HttpError::Malformed("bad chunk size"))?;
        at += line_len + 2;
        if size == 0 {
            // Trailer lines, then an empty line.
            loop {
                let Some(trailer_len) = find(&body[at..], b"\r\n") else { return Ok(None) };
                at += trailer_len + 2;
                if trailer_len == 0 {
                    return Ok(Some(at));
                }
            }
        }
        if body.len() < at + size + 2 {
            return Ok(None);
        }
        if &body[at + size..at + size + 2] != b"\r\n" {
            return Err(HttpError::Malformed("chunk not followed by CRLF"));
        }
        at += size + 2;
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// Sends `request` on `stream` and reads its whole response. Returns whether the
/// connection may carry another request. Anything but a 2xx is an error.
pub async fn exchange(stream: &mut TcpStream, buf: &mut Vec<u8>, request: &[u8]) -> Result<bool, HttpError> {
    stream.write_all(request).await?;
    buf.clear();
    let mut chunk = [0u8; 8192];
    loop {
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            return match parse_response(buf)? {
                Parsed::UntilClose { status } => ok_status(status).map(|()| false),
                _ => Err(HttpError::Closed),
            };
        }
        buf.extend_from_slice(&chunk[..n]);
        if let Parsed::Complete { status, len, reusable } = parse_response(buf)? {
            ok_status(status)?;
            // A server that sends more than one response per request cannot be reused.
            return Ok(reusable && len == buf.len());
        }
    }
}

fn ok_status(status: u16) -> Result<(), HttpError> {
    if (200..300).contains(&status) {
        Ok(())
    } else {
        Err(HttpError::Status(status))
    }
}

/// Ends a connection whose response has been read: waits (briefly) for the server's
/// close so that the server side keeps the TIME_WAIT, as it would with any client of a
/// server that closes after each response; a connection that does not close in time is
/// reset, so thousands of fresh connections never run out of local ports.
pub async fn finish(mut stream: TcpStream) {
    let mut sink = [0u8; 1024];
    let closed = tokio::time::timeout(Duration::from_secs(1), async {
        loop {
            match stream.read(&mut sink).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    })
    .await;
    if closed.is_err() {
        let _ = stream.set_zero_linger();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_request_is_minimal_http_1_1() {
        assert_eq!(
            get_request("10.42.0.5:8080", "/", true),
            b"GET / HTTP/1.1\r\nHost: 10.42.0.5:8080\r\nUser-Agent: wasmkube-bench\r\nAccept: */*\r\nConnection: close\r\n\r\n".to_vec()
        );
        assert!(!String::from_utf8(get_request("h", "/", false)).unwrap().contains("Connection"));
    }

    #[test]
    fn content_length_bodies() {
        let full = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello";
        assert_eq!(parse_response(full), Ok(Parsed::Complete { status: 200, len: full.len(), reusable: true }));
        assert_eq!(parse_response(&full[..full.len() - 1]), Ok(Parsed::Incomplete));
        assert_eq!(parse_response(&full[..20]), Ok(Parsed::Incomplete));
        let close = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nConnection: close\r\n\r\nok";
        assert_eq!(parse_response(close), Ok(Parsed::Complete { status: 200, len: close.len(), reusable: false }));
        let old = b"HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n";
        assert_eq!(parse_response(old), Ok(Parsed::Complete { status: 200, len: old.len(), reusable: false }));
        let kept = b"HTTP/1.0 200 OK\r\nContent-Length: 0\r\nConnection: Keep-Alive\r\n\r\n";
        assert_eq!(parse_response(kept), Ok(Parsed::Complete { status: 200, len: kept.len(), reusable: true }));
    }

    #[test]
    fn chunked_bodies() {
        let full = b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n5\r\nhello\r\n1;ext=1\r\n!\r\n0\r\n\r\n";
        assert_eq!(parse_response(full), Ok(Parsed::Complete { status: 200, len: full.len(), reusable: true }));
        for cut in 40..full.len() {
            assert_eq!(parse_response(&full[..cut]), Ok(Parsed::Incomplete), "cut at {cut}");
        }
        let trailers = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX-T: 1\r\n\r\n";
        assert_eq!(parse_response(trailers), Ok(Parsed::Complete { status: 200, len: trailers.len(), reusable: true }));
        let bad = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n";
        assert_eq!(parse_response(bad), Err(HttpError::Malformed("bad chunk size")));
    }

    #[test]
    fn a_body_without_length_runs_until_close() {
        assert_eq!(parse_response(b"HTTP/1.0 200 OK\r\nServer: x\r\n\r\npartial"), Ok(Parsed::UntilClose { status: 200 }));
    }

    #[test]
    fn statuses_and_garbage() {
        let missing = b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n";
        assert_eq!(parse_response(missing), Ok(Parsed::Complete { status: 404, len: missing.len(), reusable: true }));
        assert_eq!(ok_status(404), Err(HttpError::Status(404)));
        assert_eq!(ok_status(204), Ok(()));
        assert_eq!(parse_response(b"SSH-2.0-x\r\n\r\n"), Err(HttpError::Malformed("no HTTP/1.x status line")));
        assert_eq!(parse_response(b"HTTP/1.1 200 OK\r\nbroken\r\n\r\n"), Err(HttpError::Malformed("header without a colon")));
        assert_eq!(parse_response(&vec![b'a'; MAX_HEAD + 1]), Err(HttpError::Malformed("head too large")));
    }

    #[tokio::test]
    async fn exchanges_over_a_real_socket() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = tokio::spawn(async move {
            let (mut s, _) = listener.accept().await.unwrap();
            let mut buf = [0u8; 1024];
            for body in ["one", "two"] {
                let n = s.read(&mut buf).await.unwrap();
                assert!(buf[..n].ends_with(b"\r\n\r\n"));
                // Chunked, written in two pieces.
                s.write_all(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n").await.unwrap();
                tokio::time::sleep(Duration::from_millis(5)).await;
                s.write_all(format!("3\r\n{body}\r\n0\r\n\r\n").as_bytes()).await.unwrap();
            }
            let n = s.read(&mut buf).await.unwrap();
            assert!(n > 0);
            s.write_all(b"HTTP/1.0 200 OK\r\n\r\nuntil close").await.unwrap();
        });
        let mut stream = TcpStream::connect(addr).await.unwrap();
        let mut buf = Vec::new();
        let request = get_request("x", "/", false);
        assert_eq!(exchange(&mut stream, &mut buf, &request).await, Ok(true));
        assert_eq!(exchange(&mut stream, &mut buf, &request).await, Ok(true));
        assert_eq!(exchange(&mut stream, &mut buf, &request).await, Ok(false));
        server.await.unwrap();
        finish(stream).await;
    }
}
