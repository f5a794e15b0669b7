//! Where the proxy's own sockets toward endpoints are made. Endpoints are pod
//! addresses, reached from the node network namespace (the host has no route
//! to them). The one exception is the API server behind the `kubernetes`
//! Service, which listens on the host's loopback: a loopback endpoint of that
//! Service is dialled from the host namespace, and nothing else is, so no
//! endpoint address can make the agent send a packet out of the machine, and
//! a hand-written EndpointSlice cannot open the host's loopback to pods.

use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use socket2::{Domain, Protocol, Socket, Type};
use tokio::net::{TcpSocket, TcpStream, UdpSocket};

use super::model::ServiceKey;
use crate::net::netns::NetNs;

/// Connecting to an endpoint that does not answer gives up after this long.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);

/// IPv4 TCP sockets made per trip into the node namespace (see [`SocketPool`]).
const BATCH: usize = 16;

/// TCP sockets made inside the node namespace ahead of need. Entering a
/// namespace costs an open of the thread's namespace file and two `setns`,
/// more than the socket itself: a batch per trip takes that off the path of
/// each proxied connection.
#[derive(Debug)]
struct SocketPool {
    ns: Arc<NetNs>,
    spare: Mutex<Vec<Socket>>,
}

impl SocketPool {
    fn take(&self) -> io::Result<Socket> {
        if let Some(socket) = self.spare.lock().unwrap_or_else(|e| e.into_inner()).pop() {
            return Ok(socket);
        }
        let make = || Socket::new(Domain::IPV4, Type::STREAM.nonblocking().cloexec(), Some(Protocol::TCP));
        let mut batch = self.ns.run(|| (0..BATCH).map(|_| make()).collect::<io::Result<Vec<_>>>())??;
        let socket = batch.pop().ok_or_else(|| io::Error::other("no socket made"))?;
        self.spare.lock().unwrap_or_else(|e| e.into_inner()).extend(batch);
        Ok(socket)
    }

    async fn connect(&self, addr: SocketAddr) -> io::Result<TcpStream> {
        let socket = self.take()?;
        socket.set_tcp_nodelay(true)?;
        let stream: std::net::TcpStream = socket.into();
        TcpSocket::from_std_stream(stream).connect(addr).await
    }
}

#[derive(Clone, Debug)]
pub struct Dialer {
    /// The node network namespace; None when the node has no pod network.
    node: Option<Arc<NetNs>>,
    /// IPv4 TCP sockets of the node namespace.
    pool: Option<Arc<SocketPool>>,
    /// Tests stand endpoints up on the host's loopback.
    any_loopback: bool,
}

impl Dialer {
    pub fn new(node: Option<Arc<NetNs>>) -> Self {
        let pool = node.as_ref().map(|ns| Arc::new(SocketPool { ns: ns.clone(), spare: Mutex::new(Vec::new()) }));
        Dialer { node, pool, any_loopback: false }
    }

    /// A dialer that reaches loopback endpoints of any Service (unit tests run on 127.0.0.1).
    #[cfg(test)]
    pub fn loopback_for_tests() -> Self {
        Dialer { node: None, pool: None, any_loopback: true }
    }

    /// The namespace to reach `addr` of `service` from: None for the host.
    fn namespace_for(&self, addr: SocketAddr, service: &ServiceKey) -> io::Result<Option<&Arc<NetNs>>> {
        if addr.ip().is_loopback() {
            if self.any_loopback || (service.namespace == "default" && service.name == "kubernetes") {
                return Ok(None);
            }
            return Err(io::Error::new(io::ErrorKind::PermissionDenied, format!("{addr}: only the kubernetes Service may have a loopback endpoint")));
        }
        match &self.node {
            Some(ns) => Ok(Some(ns)),
            None => Err(io::Error::new(io::ErrorKind::NetworkUnreachable, format!("{addr} is a pod address and this node has no pod network"))),
        }
    }

    pub async fn tcp(&self, addr: SocketAddr, service: &ServiceKey) -> io::Result<TcpStream> {
        let connect = async {
            match (self.namespace_for(addr, service)?, &self.pool) {
                (Some(_), Some(pool)) if addr.is_ipv4() => pool.connect(addr).await,
                (Some(ns), _) => ns.tcp_connect(addr).await,
                (None, _) => {
                    let stream = TcpStream::connect(addr).await?;
                    stream.set_nodelay(true)?;
                    Ok(stream)
                }
            }
        };
        tokio::time::timeout(CONNECT_TIMEOUT, connect)
            .await
            .unwrap_or_else(|_| Err(io::Error::new(io::ErrorKind::TimedOut, format!("connecting to {addr} timed out"))))
    }

    /// A UDP socket connected to `addr`.
    pub async fn udp(&self, addr: SocketAddr, service: &ServiceKey) -> io::Result<UdpSocket> {
        let any: SocketAddr = if addr.is_ipv4() { "0.0.0.0:0" } else { "[::]:0" }.parse().map_err(io::Error::other)?;
        let socket = match self.namespace_for(addr, service)? {
            Some(ns) => ns.udp_socket(any)?,
            None => UdpSocket::bind(any).await?,
        };
        socket.connect(addr).await?;
        Ok(socket)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn pooled_sockets_connect_across_batches() {
        if !nix::unistd::geteuid().is_root() {
            eprintln!("skipped: entering a namespace needs root");
            return;
        }
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let pool = SocketPool { ns: NetNs::current().expect("netns"), spare: Mutex::new(Vec::new()) };
        for _ in 0..BATCH + 2 {
            let stream = pool.connect(addr).await.expect("connect");
            let (accepted, peer) = listener.accept().await.expect("accept");
            assert_eq!(stream.local_addr().expect("local"), peer);
            assert!(stream.nodelay().expect("nodelay"));
            drop(accepted);
        }
        assert_eq!(pool.spare.lock().unwrap().len(), BATCH - 2, "two batches made, 2 + 16 used");
    }
}
