//! The node's built-in Ingress controller (k3s ships one the same way):
//! an HTTP/1.1 reverse proxy on the node address at the ingress port,
//! serving the Ingresses of the `wasmkube` IngressClass.
//!
//! - [`class`]: which Ingresses are ours; [`rules`]: host and path matching.
//! - [`watch`]: Ingress and IngressClass watches feeding the table; [`status`]:
//!   this node's address in `status.loadBalancer`.
//! - [`proxy`]: the proxy itself; backends resolve through the service
//!   proxy's [`ServiceTable`](crate::agent::proxy::ServiceTable).

pub mod class;
pub mod proxy;
pub mod rules;
pub mod status;
pub mod watch;

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use tokio::net::TcpListener;

use super::proxy::dial::Dialer;
use super::proxy::ServiceTable;
use crate::net::netns::NetNs;

/// Where and how the controller runs.
#[derive(Clone, Debug)]
pub struct IngressSettings {
    /// The node address on the host, where the proxy listens and which Ingress status shows.
    pub node_ip: IpAddr,
    /// 0 disables the controller.
    pub port: u16,
    /// The node network namespace that endpoints are dialled from (None: no pod network).
    pub node_netns: Option<Arc<NetNs>>,
}

/// Runs the controller until dropped. A port that cannot be opened is logged
/// and the controller stays off; the rest of the node keeps working.
pub async fn run(client: kube::Client, services: ServiceTable, settings: IngressSettings) {
    if settings.port == 0 {
        return std::future::pending().await;
    }
    let addr = SocketAddr::new(settings.node_ip, settings.port);
    let listener = match TcpListener::bind(addr).await {
        Ok(listener) => listener,
        Err(err) => {
            tracing::warn!(%addr, error = %err, "the ingress controller cannot listen; Ingresses are not served on this node (see --ingress-port)");
            return std::future::pending().await;
        }
    };
    tracing::info!(%addr, "ingress controller listening");
    let (routes_tx, routes_rx) = tokio::sync::watch::channel(Arc::new(rules::Routes::default()));
    let proxy = proxy::IngressProxy::new(routes_rx, Arc::new(services), Dialer::new(settings.node_netns), settings.port);
    tokio::join!(watch::keep_routes(client, settings.node_ip, routes_tx), proxy.serve(listener));
}
