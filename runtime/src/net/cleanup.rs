//! What `wasmkube cleanup` removes of the pod network after a crash: node
//! namespaces whose owner process is gone (all of them with `all`), and the
//! host's unreachable routes once no live node namespace is left. A node
//! namespace takes its bridge, veths and every pod's `eth0` with it.

use ipnet::Ipv4Net;

use super::host_routes;
use super::named;
use super::NetError;

/// What was removed.
#[derive(Debug, Default)]
pub struct Removed {
    pub namespaces: Vec<String>,
    pub routes: Vec<Ipv4Net>,
}

/// Removes dead nodes' namespaces (or every node's, with `all`), then the host
/// routes for `cluster` and `service` if no live node is left.
pub async fn cleanup(all: bool, cluster: Ipv4Net, service: Ipv4Net) -> Result<Removed, NetError> {
    let _lock = host_routes::lock()?;
    let mut removed = Removed::default();
    for (name, owner) in named::node_namespaces() {
        let live = owner.is_some_and(named::process_alive);
        if all || !live {
            named::delete(&name).map_err(|source| NetError::Io { context: format!("removing network namespace {name}"), source })?;
            removed.namespaces.push(name);
        }
    }
    if !named::other_live_node(None) {
        removed.routes = host_routes::remove_locked(cluster, service).await?;
    }
    Ok(removed)
}
