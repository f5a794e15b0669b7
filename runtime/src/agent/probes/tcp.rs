//! tcpSocket probes: healthy when a TCP connection to the port opens within
//! the timeout. The connection is closed at once, as the kubelet does.

use std::net::SocketAddr;
use std::time::Duration;

use super::target::{dial_error, Endpoint};

/// One tcpSocket probe: `Ok(())` or the kubelet's failure message.
pub async fn probe(endpoint: &Endpoint, port: u16, timeout: Duration) -> Result<(), String> {
    let addr = SocketAddr::new(endpoint.ip, port);
    match tokio::time::timeout(timeout, endpoint.connect(port)).await {
        Ok(Ok(_stream)) => Ok(()),
        Ok(Err(err)) => Err(dial_error(addr, &err)),
        Err(_) => Err(format!("dial tcp {addr}: i/o timeout")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{IpAddr, Ipv4Addr};

    fn local() -> Endpoint {
        Endpoint { ip: IpAddr::V4(Ipv4Addr::LOCALHOST), netns: None }
    }

    #[tokio::test]
    async fn open_port_passes_and_closed_port_is_refused() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        assert_eq!(probe(&local(), port, Duration::from_secs(1)).await, Ok(()));
        drop(listener);
        let err = probe(&local(), port, Duration::from_secs(1)).await.unwrap_err();
        assert_eq!(err, format!("dial tcp 127.0.0.1:{port}: connect: connection refused"));
    }
}
