//! One TCP listener of the proxy: each accepted connection goes to an
//! endpoint the table picks, dialled by the [`Dialer`], and bytes are copied
//! both ways until either side closes. With no ready endpoint the client is
//! reset at once, as kube-proxy's REJECT does, rather than left hanging.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::copy_bidirectional;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;

use super::dial::Dialer;
use super::listeners::Target;
use super::table::{ServicePortRef, ServiceTable};

/// Endpoints tried per connection when dialling fails (one that just died is
/// still listed until its pod's readiness catches up).
const ATTEMPTS: usize = 3;

/// Accepts until dropped; dropping also ends the connections it carries.
pub async fn serve(listener: TcpListener, target: Target, table: ServiceTable, dialer: Dialer) {
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((client, peer)) => {
                    connections.spawn(forward(client, peer, target.clone(), table.clone(), dialer.clone()));
                }
                Err(err) => {
                    // Out of file descriptors and the like: wait instead of spinning.
                    tracing::warn!(service = %target.service, error = %err, "proxy accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            },
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
}

async fn forward(mut client: TcpStream, peer: SocketAddr, target: Target, table: ServiceTable, dialer: Dialer) {
    let _ = client.set_nodelay(true);
    let mut tried: Vec<SocketAddr> = Vec::new();
    let mut upstream = None;
    for _ in 0..ATTEMPTS {
        let Some(endpoint) = table.pick(&target.service.namespace, &target.service.name, ServicePortRef::Number(target.port), Some(peer.ip())) else { break };
        if tried.contains(&endpoint) {
            break;
        }
        tried.push(endpoint);
        match dialer.tcp(endpoint, &target.service).await {
            Ok(stream) => {
                upstream = Some(stream);
                break;
            }
            Err(err) => tracing::debug!(service = %target.service, port = target.port, %endpoint, error = %err, "endpoint did not answer"),
        }
    }
    let Some(mut upstream) = upstream else {
        tracing::debug!(service = %target.service, port = target.port, client = %peer, "no ready endpoint: connection reset");
        reset(client);
        return;
    };
    if let Err(err) = copy_bidirectional(&mut client, &mut upstream).await {
        tracing::trace!(service = %target.service, error = %err, "proxied connection ended");
    }
}

/// Closes with RST instead of FIN: the client learns at once that nothing is there.
fn reset(stream: TcpStream) {
    let _ = socket2::SockRef::from(&stream).set_linger(Some(Duration::ZERO));
    drop(stream);
}

#[cfg(test)]
mod tests {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::super::listeners::Exposure;
    use super::super::model::fixtures::*;
    use super::super::model::{ServiceInfo, ServiceKey, SliceInfo};
    use super::*;

    /// An HTTP-less backend that answers every connection with its name.
    async fn backend(name: &'static str) -> SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        tokio::spawn(async move {
            while let Ok((mut s, _)) = listener.accept().await {
                tokio::spawn(async move {
                    let mut buf = [0u8; 16];
                    let n = s.read(&mut buf).await.unwrap_or(0);
                    let _ = s.write_all(format!("{name}:{}", String::from_utf8_lossy(&buf[..n])).as_bytes()).await;
                });
            }
        });
        addr
    }

    async fn ask(addr: SocketAddr) -> std::io::Result<String> {
        let mut s = TcpStream::connect(addr).await?;
        s.write_all(b"hi").await?;
        let mut out = String::new();
        s.read_to_string(&mut out).await?;
        Ok(out)
    }

    #[tokio::test]
    async fn connections_reach_ready_endpoints_in_turn_and_none_is_a_reset() {
        let (a, b) = (backend("a").await, backend("b").await);
        // Both backends on 127.0.0.1 with different ports: one slice per port.
        let table = ServiceTable::default();
        table.replace_services(vec![ServiceInfo::from_service(&service("ns", "web", "10.43.0.20", &[("http", 80, "TCP")])).expect("svc")]);
        let slices = [(&"web-a", a), (&"web-b", b)]
            .iter()
            .map(|(name, addr)| {
                let s = slice("ns", "web", name, &[("http", i32::from(addr.port()), "TCP")], &[("127.0.0.1", true, false, None)]);
                ("ns".to_string(), name.to_string(), SliceInfo::from_slice(&s).expect("slice"))
            })
            .collect();
        table.replace_slices(slices);

        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let front = listener.local_addr().expect("addr");
        let target = Target { service: ServiceKey::new("ns", "web"), port: 80, exposure: Exposure::ClusterIp };
        let serving = tokio::spawn(serve(listener, target, table.clone(), Dialer::loopback_for_tests()));

        let mut answers = Vec::new();
        for _ in 0..4 {
            answers.push(ask(front).await.expect("proxied"));
        }
        answers.sort();
        assert_eq!(answers, ["a:hi", "a:hi", "b:hi", "b:hi"]);

        // No endpoint left: the client gets a reset (or an empty close), at once.
        table.replace_slices(Vec::new());
        let started = std::time::Instant::now();
        let got = ask(front).await;
        assert!(matches!(&got, Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset) || matches!(&got, Ok(s) if s.is_empty()), "{got:?}");
        assert!(started.elapsed() < Duration::from_secs(1));
        serving.abort();
    }
}
