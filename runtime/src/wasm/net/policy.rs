//! Which addresses a preview 2 guest may use (`socket_addr_check`). Egress is closed by default
//! (design.md): a guest connects or sends only to the cluster's networks (pod and service CIDRs)
//! and to its own pod (loopback, its own IP); it binds only addresses of its own pod. Accepted
//! connections and received datagrams come in through the pod network and are not filtered.

use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;

use ipnet::IpNet;
use wasmtime_wasi::sockets::SocketAddrUse;

/// The networks guests may reach by default: the pod CIDR and the service CIDR.
pub fn default_cluster_networks() -> Vec<IpNet> {
    ["10.42.0.0/16", "10.43.0.0/16"].iter().filter_map(|n| n.parse().ok()).collect()
}

/// What one pod's guests may do with addresses.
#[derive(Clone, Debug)]
pub struct AddrPolicy {
    pub pod_ip: IpAddr,
    pub cluster: Arc<[IpNet]>,
}

/// The verdict on one use of an address.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    Allowed,
    /// Outside the cluster: egress is closed.
    OutsideCluster,
    /// A bind to an address that is not the pod's.
    NotOwnAddress,
}

impl AddrPolicy {
    pub fn judge(&self, addr: SocketAddr, usage: SocketAddrUse) -> Verdict {
        let ip = addr.ip().to_canonical();
        let own = ip.is_loopback() || ip.is_unspecified() || ip == self.pod_ip;
        match usage {
            SocketAddrUse::TcpBind | SocketAddrUse::TcpListen | SocketAddrUse::UdpBind => {
                if own {
                    Verdict::Allowed
                } else {
                    Verdict::NotOwnAddress
                }
            }
            SocketAddrUse::TcpConnect | SocketAddrUse::UdpSend => {
                if (own && !ip.is_unspecified()) || self.cluster.iter().any(|net| net.contains(&ip)) {
                    Verdict::Allowed
                } else {
                    Verdict::OutsideCluster
                }
            }
            SocketAddrUse::TcpAccept | SocketAddrUse::UdpReceive => Verdict::Allowed,
        }
    }

    /// The check for `WasiCtxBuilder::socket_addr_check`. `report` hears of every refusal, in
    /// words for the container's log (the guest only sees `access-denied`).
    pub fn into_check(
        self,
        report: Arc<dyn Fn(String) + Send + Sync>,
    ) -> impl Fn(SocketAddr, SocketAddrUse) -> Pin<Box<dyn std::future::Future<Output = bool> + Send + Sync>> + Send + Sync + 'static
    {
        move |addr, usage| {
            let verdict = self.judge(addr, usage);
            match verdict {
                Verdict::Allowed => {}
                Verdict::OutsideCluster => {
                    report(format!("wasmkube: {usage:?} to {addr} refused: pods reach only the cluster's networks (egress is closed)\n"))
                }
                Verdict::NotOwnAddress => report(format!("wasmkube: {usage:?} on {addr} refused: not an address of this pod\n")),
            }
            Box::pin(std::future::ready(verdict == Verdict::Allowed))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> AddrPolicy {
        AddrPolicy { pod_ip: "10.42.0.7".parse().unwrap(), cluster: default_cluster_networks().into() }
    }

    fn at(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    #[test]
    fn connects_only_inside_the_cluster_and_the_pod() {
        let p = policy();
        for ok in ["10.42.3.4:80", "10.43.0.10:53", "127.0.0.1:8080", "10.42.0.7:1", "[::1]:80", "[::ffff:10.43.0.1]:443"] {
            assert_eq!(p.judge(at(ok), SocketAddrUse::TcpConnect), Verdict::Allowed, "{ok}");
            assert_eq!(p.judge(at(ok), SocketAddrUse::UdpSend), Verdict::Allowed, "{ok}");
        }
        for refused in ["1.1.1.1:443", "10.44.0.1:80", "192.168.1.1:80", "0.0.0.0:80", "[2001:db8::1]:80", "[::ffff:8.8.8.8]:53"] {
            assert_eq!(p.judge(at(refused), SocketAddrUse::TcpConnect), Verdict::OutsideCluster, "{refused}");
        }
    }

    #[test]
    fn binds_only_its_own_addresses() {
        let p = policy();
        for ok in ["0.0.0.0:8080", "[::]:0", "127.0.0.1:9", "10.42.0.7:80"] {
            assert_eq!(p.judge(at(ok), SocketAddrUse::TcpBind), Verdict::Allowed, "{ok}");
            assert_eq!(p.judge(at(ok), SocketAddrUse::UdpBind), Verdict::Allowed, "{ok}");
        }
        assert_eq!(p.judge(at("10.42.0.8:80"), SocketAddrUse::TcpBind), Verdict::NotOwnAddress);
        assert_eq!(p.judge(at("8.8.8.8:1"), SocketAddrUse::TcpAccept), Verdict::Allowed, "incoming is not filtered");
    }

    #[tokio::test]
    async fn refusals_are_reported() {
        let said = Arc::new(std::sync::Mutex::new(Vec::new()));
        let sink = said.clone();
        let check = policy().into_check(Arc::new(move |m| sink.lock().unwrap().push(m)));
        assert!(!check(at("1.2.3.4:80"), SocketAddrUse::TcpConnect).await);
        assert!(check(at("10.43.0.1:443"), SocketAddrUse::TcpConnect).await);
        let said = said.lock().unwrap();
        assert_eq!(said.len(), 1);
        assert!(said[0].contains("1.2.3.4:80") && said[0].contains("egress is closed"), "{}", said[0]);
    }
}
