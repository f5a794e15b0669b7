//! The sockets the proxy should have open for a set of Services. Pure: the
//! reconcile loop diffs this against what it runs.
//!
//! - ClusterIP:port of every TCP/UDP Service port, inside the node network
//!   namespace (where the whole service CIDR is a local address);
//! - nodeIP:nodePort of NodePort and LoadBalancer Services, on the host;
//! - nodeIP:port of LoadBalancer Services, on the host (k3s's ServiceLB).

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};

use super::model::{Protocol, ServiceInfo, ServiceKey};

/// Which network namespace a listener lives in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Place {
    /// The node's network namespace (ClusterIPs).
    Node,
    /// The agent's own (host) namespace, on the node address.
    Host,
}

/// Why a listener exists, for messages and Events.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Exposure {
    ClusterIp,
    NodePort,
    LoadBalancer,
}

impl Exposure {
    pub fn as_str(self) -> &'static str {
        match self {
            Exposure::ClusterIp => "ClusterIP",
            Exposure::NodePort => "NodePort",
            Exposure::LoadBalancer => "LoadBalancer",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ListenerKey {
    pub place: Place,
    pub addr: SocketAddr,
    pub protocol: Protocol,
}

/// Where a listener's connections go: a port (by number) of a Service.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Target {
    pub service: ServiceKey,
    pub port: u16,
    pub exposure: Exposure,
}

/// What the node's proxy can do.
#[derive(Clone, Copy, Debug)]
pub struct Scope {
    /// ClusterIP listeners need the node network namespace.
    pub cluster_ips: bool,
    /// The node address NodePorts and LoadBalancer ports are opened on.
    pub node_ip: IpAddr,
    /// A ClusterIP served by someone else on this node (the cluster DNS).
    pub reserved_ip: Option<IpAddr>,
}

/// The desired listeners, and the targets that lost a host port to another
/// Service asking for the same one (the first by namespace/name keeps it).
pub fn desired(services: &[impl AsRef<ServiceInfo>], scope: Scope) -> (BTreeMap<ListenerKey, Target>, Vec<(ListenerKey, Target)>) {
    let mut want: BTreeMap<ListenerKey, Target> = BTreeMap::new();
    let mut clashes = Vec::new();
    let mut sorted: Vec<&ServiceInfo> = services.iter().map(AsRef::as_ref).collect();
    sorted.sort_by(|a, b| a.key.cmp(&b.key));
    for svc in sorted {
        let Some(cluster_ip) = svc.cluster_ip() else { continue };
        if Some(cluster_ip) == scope.reserved_ip {
            continue;
        }
        for port in svc.ports.iter().filter(|p| p.protocol != Protocol::Sctp) {
            let target = |exposure| Target { service: svc.key.clone(), port: port.port, exposure };
            let mut add = |key: ListenerKey, t: Target| match want.get(&key) {
                Some(held) if *held != t => clashes.push((key, t)),
                Some(_) => {}
                None => {
                    want.insert(key, t);
                }
            };
            if scope.cluster_ips {
                add(ListenerKey { place: Place::Node, addr: SocketAddr::new(cluster_ip, port.port), protocol: port.protocol }, target(Exposure::ClusterIp));
            }
            if svc.node_ports {
                if let Some(node_port) = port.node_port {
                    add(ListenerKey { place: Place::Host, addr: SocketAddr::new(scope.node_ip, node_port), protocol: port.protocol }, target(Exposure::NodePort));
                }
            }
            if svc.load_balancer {
                add(ListenerKey { place: Place::Host, addr: SocketAddr::new(scope.node_ip, port.port), protocol: port.protocol }, target(Exposure::LoadBalancer));
            }
        }
    }
    (want, clashes)
}

#[cfg(test)]
mod tests {
    use super::super::model::fixtures::service;
    use super::*;

    fn info(svc: k8s_openapi::api::core::v1::Service, kind: &str, node_port: Option<i32>) -> ServiceInfo {
        let mut svc = svc;
        if let Some(spec) = svc.spec.as_mut() {
            spec.type_ = Some(kind.into());
            for p in spec.ports.iter_mut().flatten() {
                p.node_port = node_port;
            }
        }
        ServiceInfo::from_service(&svc).expect("a service")
    }

    fn scope(cluster_ips: bool) -> Scope {
        Scope { cluster_ips, node_ip: "127.0.0.1".parse().unwrap(), reserved_ip: Some("10.43.0.10".parse().unwrap()) }
    }

    #[test]
    fn each_kind_of_service_gets_its_listeners() {
        let services = vec![
            info(service("ns", "a", "10.43.0.20", &[("http", 80, "TCP"), ("dns", 53, "UDP")]), "ClusterIP", None),
            info(service("ns", "b", "10.43.0.21", &[("http", 80, "TCP")]), "NodePort", Some(30080)),
            info(service("ns", "c", "10.43.0.22", &[("http", 8080, "TCP")]), "LoadBalancer", Some(30081)),
            info(service("ns", "d", "None", &[("http", 80, "TCP")]), "ClusterIP", None),
            info(service("kube-system", "kube-dns", "10.43.0.10", &[("dns", 53, "UDP")]), "ClusterIP", None),
        ];
        let (want, clashes) = desired(&services, scope(true));
        assert!(clashes.is_empty());
        let got: Vec<String> = want.iter().map(|(k, t)| format!("{:?} {} {:?} -> {}:{} {}", k.place, k.addr, k.protocol, t.service, t.port, t.exposure.as_str())).collect();
        assert_eq!(
            got,
            [
                "Node 10.43.0.20:53 Udp -> ns/a:53 ClusterIP",
                "Node 10.43.0.20:80 Tcp -> ns/a:80 ClusterIP",
                "Node 10.43.0.21:80 Tcp -> ns/b:80 ClusterIP",
                "Node 10.43.0.22:8080 Tcp -> ns/c:8080 ClusterIP",
                "Host 127.0.0.1:8080 Tcp -> ns/c:8080 LoadBalancer",
                "Host 127.0.0.1:30080 Tcp -> ns/b:80 NodePort",
                "Host 127.0.0.1:30081 Tcp -> ns/c:8080 NodePort",
            ]
        );
        // Without the node network there are no ClusterIP listeners.
        let (host_only, _) = desired(&services, scope(false));
        assert!(host_only.keys().all(|k| k.place == Place::Host));
        assert_eq!(host_only.len(), 3);
    }

    #[test]
    fn two_load_balancers_on_one_port_the_first_keeps_it() {
        let services = vec![
            info(service("ns", "b", "10.43.0.21", &[("http", 80, "TCP")]), "LoadBalancer", Some(30001)),
            info(service("ns", "a", "10.43.0.20", &[("http", 80, "TCP")]), "LoadBalancer", Some(30000)),
        ];
        let (want, clashes) = desired(&services, scope(true));
        let lb: SocketAddr = "127.0.0.1:80".parse().unwrap();
        assert_eq!(want.iter().find(|(k, _)| k.addr == lb).map(|(_, t)| t.service.name.as_str()), Some("a"));
        assert_eq!(clashes.len(), 1);
        assert_eq!(clashes[0].1.service.name, "b");
    }
}
