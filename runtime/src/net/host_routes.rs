//! The host's guard rails: `unreachable` routes for the whole cluster and
//! service CIDRs in the host's own namespace. Pods and ClusterIPs live only
//! inside node namespaces; without these routes a connection from the host to
//! a pod or service address (or to one whose proxy rule is not there yet)
//! would follow the host's default route out of the machine.
//!
//! Several servers and agents on one host share the routes: each installs
//! them (idempotently) before it creates anything, and the last one to stop
//! cleanly removes them. A lock file serialises "install + create a node
//! namespace" against "no node namespace left? remove", so a starting node
//! never loses its routes to a stopping one.

use std::fs::{self, File};
use std::io;
use std::net::Ipv4Addr;

use ipnet::Ipv4Net;
use rtnetlink::packet_route::route::{RouteMessage, RouteType};
use rtnetlink::RouteMessageBuilder;

use super::links::Netlink;
use super::named;
use super::NetError;

const LOCK_DIR: &str = "/run/wasmkube";
const LOCK_FILE: &str = "/run/wasmkube/net.lock";

/// Whether this process may change the host's routes and namespaces (root).
pub fn permitted() -> bool {
    nix::unistd::geteuid().is_root()
}

/// Holds the host network lock until dropped.
pub struct HostLock {
    _file: File,
}

/// Takes the host network lock (blocks while another process holds it: only
/// for the few milliseconds of a setup or teardown).
pub fn lock() -> Result<HostLock, NetError> {
    let io = |context: &str| {
        let context = context.to_string();
        move |source: io::Error| NetError::Io { context, source }
    };
    fs::create_dir_all(LOCK_DIR).map_err(io("creating /run/wasmkube"))?;
    let file = File::options().create(true).truncate(false).write(true).open(LOCK_FILE).map_err(io("opening the host network lock"))?;
    file.lock().map_err(io("taking the host network lock"))?;
    Ok(HostLock { _file: file })
}

fn unreachable(net: Ipv4Net) -> RouteMessage {
    RouteMessageBuilder::<Ipv4Addr>::new().destination_prefix(net.network(), net.prefix_len()).kind(RouteType::Unreachable).build()
}

/// `ip route replace unreachable CLUSTER; ip route replace unreachable SERVICE`
/// in the calling thread's (the host's) namespace.
pub async fn install(cluster: Ipv4Net, service: Ipv4Net) -> Result<(), NetError> {
    let _lock = lock()?;
    install_locked(cluster, service).await
}

/// [`install`] for a caller that already holds the lock.
pub async fn install_locked(cluster: Ipv4Net, service: Ipv4Net) -> Result<(), NetError> {
    let netlink = Netlink::open_here()?;
    for net in [cluster.trunc(), service.trunc()] {
        netlink.add_route(unreachable(net), &format!("unreachable {net}")).await?;
    }
    Ok(())
}

/// Removes the routes unless a live process still has a node namespace on this
/// host (`except`: the caller's own, being removed). Returns whether it removed them.
pub async fn remove_unless_used(cluster: Ipv4Net, service: Ipv4Net, except: Option<&str>) -> Result<bool, NetError> {
    let _lock = lock()?;
    if named::other_live_node(except) {
        return Ok(false);
    }
    remove_locked(cluster, service).await?;
    Ok(true)
}

/// Deletes both routes (those we installed: same prefix, type and table).
pub async fn remove_locked(cluster: Ipv4Net, service: Ipv4Net) -> Result<Vec<Ipv4Net>, NetError> {
    let netlink = Netlink::open_here()?;
    let mut removed = Vec::new();
    for net in [cluster.trunc(), service.trunc()] {
        if netlink.delete_route(unreachable(net), &format!("unreachable {net}")).await? {
            removed.push(net);
        }
    }
    Ok(removed)
}
