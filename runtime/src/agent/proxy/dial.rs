//! Where the proxy's own sockets toward endpoints are made. Endpoints are pod
//! addresses, reached from the node network namespace (the host has no route
//! to them). The one exception is the API server behind the `kubernetes`
//! Service, which listens on the host's loopback: a loopback endpoint of that
//! Service is dialled from the host namespace, and nothing else is, so no
//! endpoint address can make the agent send a packet out of the machine, and
//! a hand-written EndpointSlice cannot open the host's loopback to pods.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::{TcpStream, UdpSocket};

use super::model::ServiceKey;
use crate::net::netns::NetNs;

/// Connecting to an endpoint that does not answer gives up after this long.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);

#[derive(Clone, Debug)]
pub struct Dialer {
    /// The node network namespace; None when the node has no pod network.
    node: Option<Arc<NetNs>>,
    /// Tests stand endpoints up on the host's loopback.
    any_loopback: bool,
}

impl Dialer {
    pub fn new(node: Option<Arc<NetNs>>) -> Self {
        Dialer { node, any_loopback: false }
    }

    /// A dialer that reaches loopback endpoints of any Service (unit tests run on 127.0.0.1).
    #[cfg(test)]
    pub fn loopback_for_tests() -> Self {
        Dialer { node: None, any_loopback: true }
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
            match self.namespace_for(addr, service)? {
                Some(ns) => ns.tcp_connect(addr).await,
                None => {
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
