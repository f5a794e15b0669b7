//! Pod networking shared by both runtimes: network namespaces as values
//! ([`netns`]) and the narrow, CNI-shaped [`PodNetwork`] a runtime calls to
//! give a sandbox's namespace its interface and address. The node's network
//! itself (its namespace, bridge, address management) implements it.

pub mod cleanup;
pub mod host_routes;
pub mod ipam;
pub mod links;
pub mod named;
pub mod netns;
pub mod node;

pub use ipnet::Ipv4Net;
pub use node::{NodeNetwork, NodeNetworkConfig};

use std::net::IpAddr;
use std::sync::Arc;

use async_trait::async_trait;

use netns::NetNs;

#[derive(Debug, thiserror::Error)]
pub enum NetError {
    #[error("the pod network has no free address left in {0}")]
    Exhausted(String),
    #[error("{context}: {message}")]
    Setup { context: String, message: String },
    #[error("{context}: {source}")]
    Io { context: String, #[source] source: std::io::Error },
}

/// What a runtime needs of the node's network (CNI's ADD and DEL).
#[async_trait]
pub trait PodNetwork: std::fmt::Debug + Send + Sync + 'static {
    /// Joins the sandbox's namespace to the node's pod network: an `eth0` with an
    /// address of the node's pod CIDR, loopback up, a default route via the node.
    /// Returns the pod's IP. Attaching the same pod again returns its address.
    async fn attach(&self, pod_uid: &str, netns: &Arc<NetNs>) -> Result<IpAddr, NetError>;
    /// Removes the pod's interface and frees its address. Idempotent.
    async fn detach(&self, pod_uid: &str);
}

/// A pod's DNS settings, resolved by the agent from `dnsPolicy` and `dnsConfig`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DnsSettings {
    pub nameservers: Vec<IpAddr>,
    pub searches: Vec<String>,
    pub options: Vec<String>,
}

impl DnsSettings {
    /// The `/etc/resolv.conf` of a Linux pod.
    pub fn resolv_conf(&self) -> String {
        let mut out = String::new();
        for ns in &self.nameservers {
            out.push_str(&format!("nameserver {ns}\n"));
        }
        if !self.searches.is_empty() {
            out.push_str(&format!("search {}\n", self.searches.join(" ")));
        }
        if !self.options.is_empty() {
            out.push_str(&format!("options {}\n", self.options.join(" ")));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolv_conf_lists_servers_search_and_options() {
        let dns = DnsSettings {
            nameservers: vec!["10.43.0.10".parse().unwrap()],
            searches: vec!["web.svc.cluster.local".into(), "svc.cluster.local".into(), "cluster.local".into()],
            options: vec!["ndots:5".into()],
        };
        assert_eq!(
            dns.resolv_conf(),
            "nameserver 10.43.0.10\nsearch web.svc.cluster.local svc.cluster.local cluster.local\noptions ndots:5\n"
        );
        assert_eq!(DnsSettings::default().resolv_conf(), "");
    }
}
