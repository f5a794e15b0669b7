//! The node's service proxy, kube-proxy's job without iptables: the agent
//! itself listens on every ClusterIP:port inside the node network namespace
//! (where the whole service CIDR is routed to `lo`, so any ClusterIP can be
//! bound), on nodeIP:nodePort and, for LoadBalancer Services, nodeIP:port on
//! the host, and relays each connection to a ready endpoint.
//!
//! - [`table`]: the Services and their ready endpoints ([`ServiceTable`]), fed by [`feed`];
//!   the DNS and the Ingress controller read it too.
//! - [`model`]: Services and EndpointSlices read into plain values; [`balancer`]: round
//!   robin and ClientIP affinity.
//! - [`listeners`]: which sockets the Services call for; [`reconcile`]: opens and closes them.
//! - [`tcp`], [`udp`]: relaying; [`dial`]: where sockets toward endpoints are made.
//!
//! Only endpoints on this node are reachable (the pod network has no fabric
//! between nodes yet), so the table picks among those only
//! ([`ServiceTable::set_reachable`]); an endpoint that fails to connect makes
//! the proxy try the next one.

pub mod balancer;
pub mod dial;
pub mod feed;
pub mod listeners;
pub mod model;
pub mod reconcile;
pub mod table;
mod tcp;
mod udp;

use std::net::IpAddr;
use std::sync::Arc;

pub use model::{Protocol, ServiceKey};
pub use table::{ServicePortRef, ServiceTable};

use k8s_openapi::api::core::v1::ObjectReference;

use super::context::AgentContext;
use super::events::EventType;
use crate::net::netns::NetNs;
use listeners::Scope;
use reconcile::{FailureReport, Proxy};

/// The component the proxy's Events come from.
const COMPONENT: &str = "service-proxy";

/// The cluster DNS's ClusterIP: its port is served by [`super::dns`], not proxied.
pub const CLUSTER_DNS_IP: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(10, 43, 0, 10));

/// Feeds `ctx.services` and runs the proxy and the cluster DNS until dropped;
/// dropping closes every listener.
pub async fn run(ctx: Arc<AgentContext>) {
    let (node_netns, node_ip) = node_network(&ctx);
    let table = ctx.services.clone();
    if let Some(net) = &ctx.network {
        table.set_reachable(net.cluster_cidr(), net.pod_cidr());
    }
    let recorder = ctx.recorder.clone();
    let node = ctx.node.node_name.clone();
    let report: FailureReport = Box::new(move |key, target, err| {
        let service = ObjectReference {
            api_version: Some("v1".into()),
            kind: Some("Service".into()),
            name: Some(target.service.name.clone()),
            namespace: Some(target.service.namespace.clone()),
            ..Default::default()
        };
        let message =
            format!("node {node} cannot open {} {} port {}: {err}", target.exposure.as_str(), format!("{:?}", key.protocol).to_uppercase(), key.addr);
        recorder.record_about(service, COMPONENT, EventType::Warning, "PortUnavailable", message);
    });
    let scope = Scope { cluster_ips: true, node_ip, reserved_ip: Some(CLUSTER_DNS_IP) };
    let proxy = Proxy::new(table.clone(), node_netns.clone(), scope, report);
    tokio::join!(feed::feed(ctx.client.clone(), table.clone()), proxy.run(), super::dns::serve(table, node_netns));
}

/// The node network namespace (None without a pod network) and the node address.
fn node_network(ctx: &AgentContext) -> (Option<Arc<NetNs>>, IpAddr) {
    match &ctx.network {
        Some(net) => (Some(net.netns().clone()), net.node_ip()),
        None => (None, ctx.node.host_ip.parse().unwrap_or(IpAddr::V4(std::net::Ipv4Addr::LOCALHOST))),
    }
}
