//! Where a network probe dials. Like the kubelet, probes go to the pod's IP,
//! and the agent (which stays in the host namespace) reaches pod IPs only
//! from the node's network namespace. A node without a pod network dials
//! 127.0.0.1 inside the sandbox's own namespace instead, which is where the
//! pod's listeners are in that case.

use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;

use tokio::net::TcpStream;

use crate::cri::{ContainerRuntime, SandboxId};
use crate::net::netns::NetNs;

/// What the pod worker knows of where its pod lives.
#[derive(Clone)]
pub struct ProbeTarget {
    runtime: Arc<dyn ContainerRuntime>,
    sandbox: Option<SandboxId>,
    /// The node network's namespace, when the node has a pod network.
    node_netns: Option<Arc<NetNs>>,
}

/// A resolved place to dial: an address and the namespace to dial it from
/// (`None`: the agent's own namespace).
#[derive(Clone, Debug)]
pub struct Endpoint {
    pub ip: IpAddr,
    pub netns: Option<Arc<NetNs>>,
}

impl ProbeTarget {
    pub fn new(runtime: Arc<dyn ContainerRuntime>, sandbox: Option<SandboxId>, node_netns: Option<Arc<NetNs>>) -> Self {
        ProbeTarget { runtime, sandbox, node_netns }
    }

    /// The pod's address now. Asked again for each probe: it is cheap, and a
    /// sandbox's address is only known once its network is attached.
    pub async fn pod_endpoint(&self) -> Endpoint {
        let status = match &self.sandbox {
            Some(id) => self.runtime.sandbox_status(id).await.unwrap_or_default(),
            None => Default::default(),
        };
        match (status.ip, &self.node_netns) {
            (Some(ip), Some(node)) => Endpoint { ip, netns: Some(node.clone()) },
            _ => Endpoint { ip: IpAddr::V4(Ipv4Addr::LOCALHOST), netns: status.netns },
        }
    }

    /// The endpoint for a probe's explicit `host` (an IP; names are not resolved,
    /// since the node has no resolver for the pod network of its own).
    pub async fn endpoint_for(&self, host: Option<&str>) -> Result<Endpoint, String> {
        match host.filter(|h| !h.is_empty()) {
            None => Ok(self.pod_endpoint().await),
            Some(host) => {
                let ip: IpAddr = host.trim_start_matches('[').trim_end_matches(']').parse().map_err(|_| format!("dial tcp: lookup {host}: no such host"))?;
                Ok(Endpoint { ip, netns: self.node_netns.clone() })
            }
        }
    }
}

impl Endpoint {
    /// A TCP connection to `port` of this endpoint.
    pub async fn connect(&self, port: u16) -> io::Result<TcpStream> {
        let addr = SocketAddr::new(self.ip, port);
        match &self.netns {
            Some(ns) => ns.tcp_connect(addr).await,
            None => TcpStream::connect(addr).await,
        }
    }
}

/// Go's wording of a failed dial (`dial tcp 10.42.0.5:81: connect: connection refused`),
/// which is what users grep Events for.
pub fn dial_error(addr: SocketAddr, err: &io::Error) -> String {
    format!("dial tcp {addr}: connect: {}", io_message(err))
}

/// The lowercase strerror text Go prints, without Rust's ` (os error N)`.
pub fn io_message(err: &io::Error) -> String {
    let text = err.to_string();
    let text = match text.find(" (os error") {
        Some(at) => text[..at].to_string(),
        None => text,
    };
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_lowercase().chain(chars).collect(),
        None => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dial_errors_read_like_go() {
        let addr: SocketAddr = "10.42.0.5:81".parse().unwrap();
        let refused = io::Error::from_raw_os_error(nix::libc::ECONNREFUSED);
        assert_eq!(dial_error(addr, &refused), "dial tcp 10.42.0.5:81: connect: connection refused");
    }
}
