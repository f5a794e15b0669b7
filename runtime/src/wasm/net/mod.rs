//! What a wasm pod has of the pod network, and how each kind of guest gets it:
//!
//! - every guest of a sandbox shares one anonymous network namespace ([`PodNet`]), joined to the
//!   node's pod network when the agent gave the sandbox one; without a network, guests get no
//!   sockets at all (no namespace is made: creating one costs the kernel time and memory that
//!   pods with nothing to connect to should not pay);
//! - preview 2 components create their own sockets (`wasi:sockets`): every poll of a guest runs
//!   with its thread inside the pod's namespace ([`InNetNs`]), and [`policy`] decides which
//!   addresses they may bind and connect to, and [`dns`] answers their name lookups from the
//!   pod's DNS servers;
//! - preview 1 modules cannot create sockets: the node opens one listening socket per declared
//!   TCP containerPort and hands them over at fds 3.. ([`p1`]).

pub mod dns;
pub mod p1;
pub mod policy;

use std::future::Future;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::os::fd::AsFd;
use std::pin::Pin;
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};

use nix::sched::{setns, CloneFlags};


use ipnet::IpNet;
use tokio::net::TcpListener;
use wasmtime_wasi::WasiCtxBuilder;

use crate::cri::PortMapping;
use dns::PodResolver;
use policy::AddrPolicy;
use crate::net::netns::NetNs;
use crate::net::DnsSettings;

/// The network of one wasm sandbox.
#[derive(Debug)]
pub struct PodNet {
    pub netns: Arc<NetNs>,
    /// The pod's IP on the node's pod network.
    pub ip: IpAddr,
    pub dns: DnsSettings,
    /// The TCP containerPorts the pod declares, in the order of its spec, with their names.
    pub tcp_ports: Vec<(u16, Option<String>)>,
    /// The networks guests may connect to (see [`policy`]).
    pub cluster: Arc<[IpNet]>,
    /// Name lookups of components, from `dns` ([`dns`]).
    pub resolver: Option<Arc<PodResolver>>,
}

impl PodNet {
    pub fn new(netns: Arc<NetNs>, ip: IpAddr, dns: DnsSettings, ports: &[PortMapping], cluster: Arc<[IpNet]>) -> Self {
        let mut tcp_ports: Vec<(u16, Option<String>)> = Vec::new();
        for port in ports.iter().filter(|p| p.protocol.eq_ignore_ascii_case("TCP") || p.protocol.is_empty()) {
            // Two containers may name the same port; it is one socket of the pod.
            if !tcp_ports.iter().any(|(p, _)| *p == port.container_port) {
                tcp_ports.push((port.container_port, port.name.clone()));
            }
        }
        let resolver = PodResolver::new(&dns);
        PodNet { netns, ip, dns, tcp_ports, cluster, resolver }
    }

    /// One listening socket per TCP containerPort, on all of the pod's addresses, made in its
    /// namespace (for a preview 1 module, which cannot make its own).
    pub fn listeners(&self) -> std::io::Result<Vec<TcpListener>> {
        self.tcp_ports
            .iter()
            .map(|(port, _)| self.netns.tcp_listener(SocketAddr::from((Ipv4Addr::UNSPECIFIED, *port))))
            .collect()
    }

    /// Opens `wasi:sockets` to a component of this pod: TCP and UDP, with the addresses it may
    /// use judged by [`policy`]; refusals are told to `report` (the container's log).
    pub fn open_sockets(&self, builder: &mut WasiCtxBuilder, report: Arc<dyn Fn(String) + Send + Sync>) {
        let policy = AddrPolicy { pod_ip: self.ip, cluster: self.cluster.clone() };
        builder.allow_tcp(true).allow_udp(true).socket_addr_check(policy.into_check(report));
    }
}

/// What one guest instance gets of its pod's network.
#[derive(Debug, Default)]
pub struct GuestNet {
    /// The pod's network; `None`: no sockets at all.
    pub pod: Option<Arc<PodNet>>,
    /// For a preview 1 module: the listening sockets for fds 3.. .
    pub listeners: Vec<TcpListener>,
    /// How many directories the WASI context preopens (they follow the sockets).
    pub preopens: u32,
}

/// A future whose every poll runs with the polling thread inside a network namespace, so that
/// the sockets a guest creates in its host calls (which run synchronously within the poll) are
/// made in the pod's namespace. The thread is back in the agent's namespace before `poll`
/// returns, so nothing else ever runs in the pod's namespace and no await holds it.
pub struct InNetNs<F> {
    inner: Pin<Box<F>>,
    netns: Option<Arc<NetNs>>,
}

impl<F> InNetNs<F> {
    /// `netns` of `None` polls `inner` as it is.
    pub fn new(inner: F, netns: Option<Arc<NetNs>>) -> Self {
        InNetNs { inner: Box::pin(inner), netns }
    }
}

impl<T, F: Future<Output = wasmtime::Result<T>>> Future for InNetNs<F> {
    type Output = wasmtime::Result<T>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let Some(netns) = &this.netns else { return this.inner.as_mut().poll(cx) };
        match enter(netns) {
            Ok(_inside) => this.inner.as_mut().poll(cx),
            // Polling outside would put the guest's sockets in the agent's namespace.
            Err(err) => Poll::Ready(Err(wasmtime::format_err!("entering the pod's network namespace: {err}"))),
        }
    }
}

/// The agent's own namespace, opened once: `NetNs::enter` opens the thread's namespace file on
/// every call, which costs more than the two `setns` calls of a poll. Read from the calling
/// thread, which is at home: guards never nest and are dropped before a poll returns (the main
/// thread, which `/proc/self` would name, may be inside some `NetNs::run` at that moment).
fn home() -> std::io::Result<&'static NetNs> {
    static HOME: OnceLock<Result<Arc<NetNs>, String>> = OnceLock::new();
    HOME.get_or_init(|| NetNs::current().map_err(|e| e.to_string()))
        .as_deref()
        .map_err(|e| std::io::Error::other(e.clone()))
}

/// Puts the calling thread in `netns` until the guard drops.
pub fn enter(netns: &NetNs) -> std::io::Result<HomeGuard> {
    let home = home()?;
    setns(netns.as_fd(), CloneFlags::CLONE_NEWNET).map_err(|e| std::io::Error::other(format!("setns: {e}")))?;
    Ok(HomeGuard { home })
}

/// Returns the thread to the agent's namespace when dropped.
#[must_use = "the thread leaves the namespace when the guard drops"]
pub struct HomeGuard {
    home: &'static NetNs,
}

impl Drop for HomeGuard {
    fn drop(&mut self) {
        if let Err(e) = setns(self.home.as_fd(), CloneFlags::CLONE_NEWNET) {
            // A worker stuck in a pod's namespace would put every later socket there.
            tracing::error!(error = %e, "could not return a thread to the agent's network namespace");
            std::process::abort();
        }
    }
}
