//! The agent's side of the pod network: wait for the node's pod CIDR (given
//! by the control plane's node IPAM controller), then make the node network.
//! A node that cannot have one (not root, no network namespaces: an
//! unprivileged edge device) runs without: its pods get no IP, and it says so.

use std::net::IpAddr;
use std::pin::pin;
use std::sync::Arc;
use std::time::Duration;

use ipnet::Ipv4Net;
use k8s_openapi::api::core::v1::Node;
use kube::runtime::wait::await_condition;
use kube::{Api, Client};

use crate::net::{NodeNetwork, NodeNetworkConfig};

/// How often the agent says it is still waiting for its pod CIDR.
const WAIT_LOG: Duration = Duration::from_secs(5);

/// The network settings of a node.
#[derive(Clone, Debug)]
pub struct NetworkSettings {
    pub node_ip: IpAddr,
    pub cluster_cidr: Ipv4Net,
    pub service_cidr: Ipv4Net,
}

/// `spec.podCIDR` (or the first of `podCIDRs`), parsed.
fn pod_cidr(node: &Node) -> Option<Ipv4Net> {
    let spec = node.spec.as_ref()?;
    spec.pod_cidr.iter().chain(spec.pod_cidrs.iter().flatten()).find_map(|c| c.parse().ok())
}

/// Waits (watching the Node) until the control plane has given it a pod CIDR.
pub async fn wait_for_pod_cidr(client: &Client, node_name: &str) -> Option<Ipv4Net> {
    let nodes: Api<Node> = Api::all(client.clone());
    if let Ok(Some(node)) = nodes.get_opt(node_name).await {
        if let Some(cidr) = pod_cidr(&node) {
            return Some(cidr);
        }
    }
    let mut given = pin!(await_condition(nodes, node_name, |node: Option<&Node>| node.and_then(pod_cidr).is_some()));
    let started = tokio::time::Instant::now();
    loop {
        match tokio::time::timeout(WAIT_LOG, &mut given).await {
            Ok(Ok(Some(node))) => return pod_cidr(&node),
            Ok(Ok(None)) => return None,
            Ok(Err(err)) => {
                tracing::warn!(error = %err, "watching our Node for its pod CIDR");
                return None;
            }
            Err(_) => tracing::info!(
                node = %node_name,
                waited_s = started.elapsed().as_secs(),
                "waiting for the control plane to give this node a pod CIDR (spec.podCIDR; the node IPAM controller assigns it)"
            ),
        }
    }
}

/// The node's network, or `None` (with a warning) when this node cannot have one.
pub async fn start(client: &Client, node_name: &str, settings: &NetworkSettings) -> Option<Arc<NodeNetwork>> {
    if !nix::unistd::geteuid().is_root() {
        tracing::warn!("this node has no pod network (it needs root for network namespaces): pods get no IP and Services cannot reach them");
        return None;
    }
    let pod_cidr = wait_for_pod_cidr(client, node_name).await?;
    let config = NodeNetworkConfig {
        node_name: node_name.to_string(),
        node_ip: settings.node_ip,
        pod_cidr,
        cluster_cidr: settings.cluster_cidr,
        service_cidr: settings.service_cidr,
    };
    match NodeNetwork::create(config).await {
        Ok(network) => Some(network),
        Err(err) => {
            tracing::warn!(error = %err, "this node has no pod network: pods get no IP and Services cannot reach them");
            None
        }
    }
}
