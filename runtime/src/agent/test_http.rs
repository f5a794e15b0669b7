//! What the agent's tests of HTTP clients (probes, ingress) share: their
//! little servers read one request head before they answer.

use tokio::io::{AsyncRead, AsyncReadExt};

/// The bytes of one request head, up to and including its blank line (and whatever
/// came with that read); None when the peer closes or fails first.
pub async fn read_request_head(stream: &mut (impl AsyncRead + Unpin)) -> Option<Vec<u8>> {
    let mut head = Vec::new();
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        match stream.read(&mut buf).await {
            Ok(0) | Err(_) => return None,
            Ok(n) => head.extend_from_slice(&buf[..n]),
        }
    }
    Some(head)
}
