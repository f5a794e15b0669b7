//! [`NodeNetwork`]: a node's pod network, kept in a network namespace of the
//! node's own (the embedded node's "host"), never in the real host's.
//!
//! Inside the node namespace `wasmkube-<pid>-<node>`:
//! - bridge `wk0` holding the gateway `<podCIDR>.1`, and one veth per pod;
//! - `local <service CIDR> dev lo`: every ClusterIP is a local address there,
//!   so the service proxy and the cluster DNS bind `ClusterIP:port` sockets
//!   directly (no per-service address, no iptables);
//! - `unreachable <cluster CIDR>`: other nodes' pod ranges go nowhere (there is
//!   no fabric between nodes), and nothing has a default route out;
//! - IPv4 forwarding on (in this namespace only).
//!
//! Each pod's own namespace gets `eth0` (the veth's peer) with its address, a
//! default route via the gateway, and loopback up.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr};
use std::os::fd::AsFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use async_trait::async_trait;
use ipnet::Ipv4Net;
use rtnetlink::packet_route::route::{RouteScope, RouteType};
use rtnetlink::RouteMessageBuilder;
use sha2::{Digest, Sha256};

use super::host_routes;
use super::ipam::Ipam;
use super::links::Netlink;
use super::named;
use super::netns::NetNs;
use super::{NetError, PodNetwork};

/// The kernel's `local` routing table (rtnetlink names only `main`).
const RT_TABLE_LOCAL: u32 = 255;
/// The node's pod bridge.
pub const BRIDGE: &str = "wk0";
/// How long a detached pod's veth is left to go with its namespace before it is deleted.
const VETH_GRACE: Duration = Duration::from_secs(2);
/// The pod side of every veth.
pub const POD_INTERFACE: &str = "eth0";
/// Kubernetes' defaults, which wasmkube keeps.
pub const DEFAULT_CLUSTER_CIDR: &str = "10.42.0.0/16";
pub const DEFAULT_SERVICE_CIDR: &str = "10.43.0.0/16";

/// What a node network is made from.
#[derive(Clone, Debug)]
pub struct NodeNetworkConfig {
    pub node_name: String,
    /// The node's address on the host (its InternalIP): where NodePorts and
    /// the like are opened, in the host namespace.
    pub node_ip: IpAddr,
    /// `Node.spec.podCIDR`.
    pub pod_cidr: Ipv4Net,
    pub cluster_cidr: Ipv4Net,
    pub service_cidr: Ipv4Net,
}

/// A node's namespace, bridge and pod addresses.
#[derive(Debug)]
pub struct NodeNetwork {
    config: NodeNetworkConfig,
    name: String,
    netns: Arc<NetNs>,
    gateway: Ipv4Addr,
    bridge: u32,
    netlink: Netlink,
    /// Shared with background veth removals (see `detach`).
    state: Arc<Mutex<State>>,
    removed: AtomicBool,
}

#[derive(Debug)]
struct State {
    ipam: Ipam,
    /// The namespace (device, inode) each attached pod was joined in.
    attached: HashMap<String, (u64, u64)>,
}

/// `veth<8 hex digits of sha256(uid)>`: stable, and short enough for IFNAMSIZ.
pub fn veth_name(pod_uid: &str) -> String {
    let digest = Sha256::digest(pod_uid.as_bytes());
    format!("veth{:02x}{:02x}{:02x}{:02x}", digest[0], digest[1], digest[2], digest[3])
}

/// The identity of a namespace: its nsfs device and inode.
fn ns_id(ns: &NetNs) -> Option<(u64, u64)> {
    nix::sys::stat::fstat(ns.as_fd()).ok().map(|s| (s.st_dev, s.st_ino))
}

fn lock(state: &Mutex<State>) -> MutexGuard<'_, State> {
    state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn io(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> NetError {
    let context = context.into();
    move |source| NetError::Io { context, source }
}

impl NodeNetwork {
    /// Makes the node namespace and everything in it. Installs the host's
    /// unreachable routes first (again: another node may just have removed them).
    pub async fn create(config: NodeNetworkConfig) -> Result<Arc<NodeNetwork>, NetError> {
        let pod_cidr = config.pod_cidr.trunc();
        if !config.cluster_cidr.contains(&pod_cidr) {
            return Err(NetError::Setup {
                context: "checking the node's pod CIDR".into(),
                message: format!("{pod_cidr} is not inside the cluster CIDR {}", config.cluster_cidr),
            });
        }
        let name = named::node_netns_name(std::process::id(), &config.node_name);
        let netns = {
            let _lock = host_routes::lock()?;
            host_routes::install_locked(config.cluster_cidr, config.service_cidr).await?;
            // An earlier run of this node that was killed left its namespace: it goes now.
            for (stale, owner) in named::node_namespaces() {
                let same_node = stale.strip_prefix(named::NODE_PREFIX).and_then(|rest| rest.split_once('-')).is_some_and(|(_, node)| node == config.node_name);
                if same_node && stale != name && !owner.is_some_and(named::process_alive) {
                    match named::delete(&stale) {
                        Ok(()) => tracing::info!(netns = %stale, "removed the network namespace of an earlier run of this node"),
                        Err(err) => tracing::warn!(netns = %stale, error = %err, "removing a stale node network namespace"),
                    }
                }
            }
            named::create(&name).map_err(io(format!("creating the node network namespace {name}")))?
        };
        match Self::configure(&netns, &config, pod_cidr).await {
            Ok((netlink, bridge)) => {
                let gateway = super::ipam::gateway(pod_cidr);
                tracing::info!(netns = %name, %pod_cidr, %gateway, "node network ready");
                Ok(Arc::new(NodeNetwork {
                    state: Arc::new(Mutex::new(State { ipam: Ipam::new(pod_cidr), attached: HashMap::new() })),
                    config: NodeNetworkConfig { pod_cidr, ..config },
                    name,
                    netns,
                    gateway,
                    bridge,
                    netlink,
                    removed: AtomicBool::new(false),
                }))
            }
            Err(err) => {
                let _ = named::delete(&name);
                Err(err)
            }
        }
    }

    async fn configure(netns: &NetNs, config: &NodeNetworkConfig, pod_cidr: Ipv4Net) -> Result<(Netlink, u32), NetError> {
        let netlink = Netlink::open_in(netns)?;
        netlink.set_up("lo").await?;
        let bridge = netlink.add_bridge(BRIDGE).await?;
        netlink.add_address(bridge, super::ipam::gateway(pod_cidr), pod_cidr.prefix_len()).await?;
        let lo = netlink.index("lo").await?.unwrap_or(1);
        let service = config.service_cidr.trunc();
        let local = RouteMessageBuilder::<Ipv4Addr>::new()
            .destination_prefix(service.network(), service.prefix_len())
            .kind(RouteType::Local)
            .scope(RouteScope::Host)
            .table_id(RT_TABLE_LOCAL)
            .output_interface(lo)
            .build();
        netlink.add_route(local, &format!("local {service} dev lo")).await?;
        let cluster = config.cluster_cidr.trunc();
        let rest = RouteMessageBuilder::<Ipv4Addr>::new()
            .destination_prefix(cluster.network(), cluster.prefix_len())
            .kind(RouteType::Unreachable)
            .build();
        netlink.add_route(rest, &format!("unreachable {cluster}")).await?;
        netns
            .run(|| std::fs::write("/proc/sys/net/ipv4/ip_forward", "1"))
            .and_then(|written| written)
            .map_err(io("turning on IPv4 forwarding in the node namespace"))?;
        Ok((netlink, bridge))
    }

    fn state(&self) -> MutexGuard<'_, State> {
        lock(&self.state)
    }

    /// The node namespace: where the service proxy and DNS open their sockets.
    pub fn netns(&self) -> &Arc<NetNs> {
        &self.netns
    }

    /// Its name under /run/netns (`ip netns exec NAME ...`).
    pub fn netns_name(&self) -> &str {
        &self.name
    }

    pub fn node_ip(&self) -> IpAddr {
        self.config.node_ip
    }

    pub fn pod_cidr(&self) -> Ipv4Net {
        self.config.pod_cidr
    }

    pub fn cluster_cidr(&self) -> Ipv4Net {
        self.config.cluster_cidr
    }

    pub fn service_cidr(&self) -> Ipv4Net {
        self.config.service_cidr
    }

    /// The cluster DNS's ClusterIP: the tenth address of the service CIDR (10.43.0.10).
    pub fn cluster_dns(&self) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(self.config.service_cidr.network()).saturating_add(10))
    }

    /// The bridge's address, every pod's default route.
    pub fn gateway(&self) -> Ipv4Addr {
        self.gateway
    }

    /// The pod's address, if it is attached.
    pub fn pod_ip(&self, pod_uid: &str) -> Option<Ipv4Addr> {
        self.state().ipam.get(pod_uid)
    }

    /// Pods attached now.
    pub fn attached(&self) -> usize {
        self.state().attached.len()
    }

    /// Removes the node namespace: its bridge and veths (and with them every
    /// pod's `eth0`) first, so nothing of ours outlives this call even if a
    /// socket still holds the namespace. Idempotent.
    pub async fn shutdown(&self) {
        if self.removed.swap(true, Ordering::SeqCst) {
            return;
        }
        match self.netlink.links().await {
            Ok(links) => {
                // Veths first, then the bridge; each deletion waits in the kernel, so on a
                // blocking thread (see `detach`).
                let mut doomed: Vec<(u32, String)> = links.into_iter().filter(|(_, n)| n != "lo").collect();
                doomed.sort_by_key(|(_, n)| n == BRIDGE);
                let netns = Arc::clone(&self.netns);
                let deleted = tokio::task::spawn_blocking(move || {
                    for (index, name) in doomed {
                        if let Err(err) = delete_blocking(&netns, index) {
                            tracing::warn!(interface = %name, error = %err, "removing the node network");
                        }
                    }
                });
                let _ = deleted.await;
            }
            Err(err) => tracing::warn!(error = %err, "listing the node network's interfaces"),
        }
        if let Err(err) = named::delete(&self.name) {
            tracing::warn!(netns = %self.name, error = %err, "removing the node network namespace");
        } else {
            tracing::info!(netns = %self.name, "node network removed");
        }
    }

    async fn join(&self, pod_uid: &str, netns: &NetNs, ip: Ipv4Addr, replace: bool) -> Result<(), NetError> {
        let veth = veth_name(pod_uid);
        if replace {
            self.netlink.delete_link(&veth).await?;
        }
        if let Err(first) = self.netlink.add_veth(&veth, self.bridge, POD_INTERFACE, netns).await {
            // A leftover of a failed attach (or a hash collision with a gone pod): replace it once.
            if !self.netlink.delete_link(&veth).await? {
                return Err(first);
            }
            self.netlink.add_veth(&veth, self.bridge, POD_INTERFACE, netns).await?;
        }
        let pod = Netlink::open_in(netns)?;
        pod.set_up("lo").await?;
        pod.set_up(POD_INTERFACE).await?;
        let eth0 = pod.index(POD_INTERFACE).await?.ok_or_else(|| NetError::Setup {
            context: format!("attaching pod {pod_uid}"),
            message: format!("{POD_INTERFACE} did not appear in the pod's namespace"),
        })?;
        pod.add_address(eth0, ip, self.config.pod_cidr.prefix_len()).await?;
        let default = RouteMessageBuilder::<Ipv4Addr>::new().gateway(self.gateway).output_interface(eth0).build();
        pod.add_route(default, &format!("default via {}", self.gateway)).await
    }
}

#[async_trait]
impl PodNetwork for NodeNetwork {
    async fn attach(&self, pod_uid: &str, netns: &Arc<NetNs>) -> Result<IpAddr, NetError> {
        if self.removed.load(Ordering::SeqCst) {
            return Err(NetError::Setup { context: format!("attaching pod {pod_uid}"), message: "the node network is shut down".into() });
        }
        let id = ns_id(netns);
        let (ip, replace) = {
            let mut state = self.state();
            let previous = state.attached.get(pod_uid).copied();
            if previous.is_some() && previous == id {
                if let Some(ip) = state.ipam.get(pod_uid) {
                    return Ok(IpAddr::V4(ip));
                }
            }
            (state.ipam.allocate(pod_uid)?, previous.is_some())
        };
        match self.join(pod_uid, netns, ip, replace).await {
            Ok(()) => {
                if let Some(id) = id {
                    self.state().attached.insert(pod_uid.to_string(), id);
                }
                Ok(IpAddr::V4(ip))
            }
            Err(err) => {
                self.state().attached.remove(pod_uid);
                self.state().ipam.release(pod_uid);
                let _ = self.netlink.delete_link(&veth_name(pod_uid)).await;
                Err(err)
            }
        }
    }

    async fn detach(&self, pod_uid: &str) {
        {
            let mut state = self.state();
            if state.attached.remove(pod_uid).is_none() {
                // Not attached (or already detaching, its address freed when that ends).
                return;
            }
            if self.removed.load(Ordering::SeqCst) {
                state.ipam.release(pod_uid);
                return;
            }
        }
        // Deleting a veth holds the kernel's RTNL lock through RCU grace periods (20 ms
        // typically, some 300 ms), stalling every other pod's attach meanwhile. When the
        // pod's namespace goes (its holder or fd is gone), the kernel removes the pair
        // itself, batched with the namespace's own teardown. So the veth is only removed
        // here if it is still there a moment later (a namespace someone still holds).
        // It is named now by index, so a re-attach of the same pod is never hit, and the
        // address is freed only once it is gone: no other pod takes it while the old
        // `eth0` may still hold it.
        let veth = veth_name(pod_uid);
        let index = match self.netlink.index(&veth).await {
            Ok(index) => index,
            Err(err) => {
                tracing::warn!(pod = %pod_uid, error = %err, "looking up the pod's veth");
                None
            }
        };
        let (netns, state, uid) = (Arc::clone(&self.netns), Arc::clone(&self.state), pod_uid.to_string());
        tokio::spawn(async move {
            tokio::time::sleep(VETH_GRACE).await;
            if let Some(index) = index {
                // The kernel does the work inside the sending system call: a thread of its own.
                let deleted = tokio::task::spawn_blocking(move || delete_blocking(&netns, index)).await;
                if let Ok(Err(err)) = deleted {
                    tracing::warn!(pod = %uid, veth = %veth, error = %err, "removing the pod's veth");
                }
            }
            let mut state = lock(&state);
            if !state.attached.contains_key(&uid) {
                state.ipam.release(&uid);
            }
        });
    }
}

/// `ip link del` by index in `netns`, on the calling (blocking) thread.
fn delete_blocking(netns: &NetNs, index: u32) -> Result<bool, NetError> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .build()
        .map_err(io("starting a netlink runtime"))?;
    runtime.block_on(async { Netlink::open_in(netns)?.delete_index(index).await })
}

impl Drop for NodeNetwork {
    fn drop(&mut self) {
        // Without a clean shutdown, the namespace goes (and its interfaces with
        // it, once nothing else holds it).
        if !self.removed.swap(true, Ordering::SeqCst) {
            let _ = named::delete(&self.name);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use super::*;

    fn is_root() -> bool {
        nix::unistd::geteuid().is_root()
    }

    #[test]
    fn veth_names_fit_ifnamsiz_and_are_stable() {
        let name = veth_name("0b9f6c1e-1111-2222-3333-444455556666");
        assert_eq!(name.len(), 12);
        assert!(name.starts_with("veth"));
        assert_eq!(name, veth_name("0b9f6c1e-1111-2222-3333-444455556666"));
        assert_ne!(name, veth_name("another"));
    }

    async fn network(node: &str, pod_cidr: &str) -> Arc<NodeNetwork> {
        NodeNetwork::create(NodeNetworkConfig {
            node_name: node.into(),
            node_ip: "127.0.0.1".parse().expect("ip"),
            pod_cidr: pod_cidr.parse().expect("cidr"),
            cluster_cidr: DEFAULT_CLUSTER_CIDR.parse().expect("cidr"),
            service_cidr: DEFAULT_SERVICE_CIDR.parse().expect("cidr"),
        })
        .await
        .expect("node network")
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn pods_get_addresses_and_reach_each_other_and_cluster_ips_bind_in_the_node() {
        if !is_root() {
            eprintln!("skipped: needs root");
            return;
        }
        let node = network(&format!("unit-{}", std::process::id()), "10.42.250.0/24").await;
        let path = std::path::Path::new(named::NETNS_DIR).join(node.netns_name());
        assert!(path.exists(), "ip netns lists it");
        // Any ClusterIP binds in the node namespace.
        node.netns().udp_socket("10.43.0.10:53".parse().expect("addr")).expect("bind 10.43.0.10:53 in the node namespace");
        let dns_tcp = node.netns().tcp_listener("10.43.0.10:53".parse().expect("addr")).expect("tcp 53");

        let (a, b) = (NetNs::new_anonymous().expect("ns a"), NetNs::new_anonymous().expect("ns b"));
        let ip_a = node.attach("pod-a", &a).await.expect("attach a");
        let ip_b = node.attach("pod-b", &b).await.expect("attach b");
        assert_ne!(ip_a, ip_b);
        assert!(node.pod_cidr().contains(&match ip_a { IpAddr::V4(v4) => v4, IpAddr::V6(_) => unreachable!() }));
        assert_eq!(node.attach("pod-a", &a).await.expect("again"), ip_a, "attaching twice keeps the address");

        // Pod to pod by pod IP.
        let listener = a.tcp_listener((ip_a, 8080).into()).expect("listen in a");
        let accept = tokio::spawn(async move { listener.accept().await.map(|(_, peer)| peer.ip()) });
        b.tcp_connect((ip_a, 8080).into()).await.expect("b reaches a");
        assert_eq!(accept.await.expect("join").expect("accept"), ip_b);
        // Pod to a ClusterIP bound in the node namespace (via the gateway).
        let accept = tokio::spawn(async move { dns_tcp.accept().await.map(|(_, peer)| peer.ip()) });
        b.tcp_connect("10.43.0.10:53".parse().expect("addr")).await.expect("b reaches the ClusterIP");
        assert_eq!(accept.await.expect("join").expect("accept"), ip_b);
        // Nothing beyond the node: another node's pod range is unreachable.
        let err = b.tcp_connect("10.42.7.9:80".parse().expect("addr")).await.expect_err("no route");
        assert!(matches!(err.raw_os_error(), Some(nix::libc::EHOSTUNREACH | nix::libc::ENETUNREACH)), "{err}");

        // Attach latency, for the record.
        let (mut times, mut unshares, mut detaches) = (Vec::new(), Vec::new(), Vec::new());
        let mut spaces = Vec::new();
        for i in 0..20 {
            let started = Instant::now();
            let ns = NetNs::new_anonymous().expect("ns");
            unshares.push(started.elapsed());
            let started = Instant::now();
            node.attach(&format!("bench-{i}"), &ns).await.expect("attach");
            times.push(started.elapsed());
            spaces.push(ns);
        }
        for i in 0..20 {
            let started = Instant::now();
            node.detach(&format!("bench-{i}")).await;
            detaches.push(started.elapsed());
        }
        for list in [&mut times, &mut unshares, &mut detaches] {
            list.sort();
        }
        eprintln!(
            "over 20 pods: attach p50 {:?} max {:?}; new namespace p50 {:?} max {:?}; detach p50 {:?} max {:?}",
            times[10], times[19], unshares[10], unshares[19], detaches[10], detaches[19]
        );
        assert!(times[10] < Duration::from_millis(100));

        node.detach("pod-a").await;
        node.detach("pod-a").await;
        // The veth goes in the background; the address is freed once it has.
        for _ in 0..500 {
            if node.pod_ip("pod-a").is_none() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert_eq!(node.pod_ip("pod-a"), None, "detach frees the address");
        let links = node.netlink.links().await.expect("links");
        assert!(!links.iter().any(|(_, n)| *n == veth_name("pod-a")), "detach removes the veth");
        assert!(links.iter().any(|(_, n)| *n == veth_name("pod-b")));
        node.shutdown().await;
        assert!(!path.exists(), "shutdown removes the namespace");
        let _ = host_routes::remove_unless_used(node.cluster_cidr(), node.service_cidr(), None).await;
    }
}
