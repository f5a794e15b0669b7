//! The node's view of Services and their ready endpoints, shared by the
//! service proxy, the cluster DNS and the Ingress controller. Watches of
//! Services and EndpointSlices ([`super::feed`]) keep it current; every change
//! bumps a generation that the proxy's reconcile loop waits on.
//!
//! Cheap to clone: clones share one table.

use std::collections::{BTreeMap, HashMap};
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::Instant;

use ipnet::Ipv4Net;
use tokio::sync::watch;

use super::balancer::Balancer;
use super::model::{Endpoint, Protocol, ServiceInfo, ServiceKey, ServicePort, SliceInfo};

/// A Service port by number or by name, as an Ingress backend or a proxy listener names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ServicePortRef<'a> {
    Number(u16),
    Name(&'a str),
}

/// A ready endpoint of a Service port, for DNS (SRV and headless answers).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReadyEndpoint {
    pub ip: IpAddr,
    pub hostname: Option<String>,
    /// The port of this endpoint per Service port name.
    pub ports: Vec<(String, Protocol, u16)>,
}

#[derive(Debug, Default)]
struct State {
    services: HashMap<ServiceKey, Arc<ServiceInfo>>,
    /// Slices by service, then by slice name.
    slices: HashMap<ServiceKey, BTreeMap<String, SliceInfo>>,
    /// Which Service each slice (namespace, name) was filed under, for deletes and relabels.
    slice_owner: HashMap<(String, String), ServiceKey>,
    /// Endpoints objects read as slices: used for a Service that has no EndpointSlice.
    legacy: HashMap<ServiceKey, Vec<SliceInfo>>,
    legacy_synced: bool,
    services_synced: bool,
    slices_synced: bool,
}

/// Which endpoint addresses this node can reach: without a fabric between
/// nodes, pod addresses outside the node's own pod CIDR are not.
#[derive(Clone, Copy, Debug)]
struct Reach {
    cluster: Ipv4Net,
    local: Ipv4Net,
}

impl Reach {
    fn reaches(&self, ip: IpAddr) -> bool {
        match ip {
            IpAddr::V4(v4) => !self.cluster.contains(&v4) || self.local.contains(&v4),
            IpAddr::V6(_) => true,
        }
    }
}

#[derive(Debug)]
struct Shared {
    state: RwLock<State>,
    reach: RwLock<Option<Reach>>,
    balancer: Mutex<Balancer>,
    generation: watch::Sender<u64>,
}

/// See the module docs.
#[derive(Clone, Debug)]
pub struct ServiceTable {
    shared: Arc<Shared>,
}

impl Default for ServiceTable {
    fn default() -> Self {
        ServiceTable {
            shared: Arc::new(Shared { state: RwLock::default(), reach: RwLock::default(), balancer: Mutex::default(), generation: watch::Sender::new(0) }),
        }
    }
}

impl State {
    /// The slices of `key`: its EndpointSlices, or its Endpoints when it has none.
    fn slices_of<'a>(&'a self, key: &ServiceKey) -> Box<dyn Iterator<Item = &'a SliceInfo> + 'a> {
        match self.slices.get(key).filter(|s| !s.is_empty()) {
            Some(slices) => Box::new(slices.values()),
            None => Box::new(self.legacy.get(key).into_iter().flatten()),
        }
    }
}

impl ServiceTable {
    fn read(&self) -> RwLockReadGuard<'_, State> {
        // A panic while holding the lock leaves plain maps behind: still usable.
        self.shared.state.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write(&self) -> RwLockWriteGuard<'_, State> {
        self.shared.state.write().unwrap_or_else(|e| e.into_inner())
    }

    fn changed(&self) {
        self.shared.generation.send_modify(|g| *g = g.wrapping_add(1));
    }

    /// Picks only endpoints this node can reach: addresses outside `cluster`
    /// (the cluster's pod CIDR), or inside `local` (this node's share of it).
    /// Until called, every endpoint is a candidate.
    pub fn set_reachable(&self, cluster: Ipv4Net, local: Ipv4Net) {
        *self.shared.reach.write().unwrap_or_else(|e| e.into_inner()) = Some(Reach { cluster, local });
    }

    /// A receiver that sees a new value after every change of the table.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.shared.generation.subscribe()
    }

    /// Both watches have listed once: an empty answer means "none", not "not yet".
    pub fn synced(&self) -> bool {
        let state = self.read();
        state.services_synced && state.slices_synced && state.legacy_synced
    }

    /// An endpoint for a new connection to `port` of Service `namespace/service`
    /// from `client`: round robin over the ready endpoints, or the client's
    /// sticky endpoint under ClientIP affinity. None when the Service, the port
    /// or a ready endpoint is missing. A port by number prefers TCP.
    pub fn pick(&self, namespace: &str, service: &str, port: ServicePortRef<'_>, client: Option<IpAddr>) -> Option<SocketAddr> {
        self.pick_protocol(namespace, service, port, Protocol::Tcp, client)
    }

    /// [`ServiceTable::pick`] for a port of the given protocol.
    pub fn pick_protocol(&self, namespace: &str, service: &str, port: ServicePortRef<'_>, protocol: Protocol, client: Option<IpAddr>) -> Option<SocketAddr> {
        let key = ServiceKey::new(namespace, service);
        let reach = *self.shared.reach.read().unwrap_or_else(|e| e.into_inner());
        let (port_key, ready, affinity) = {
            let state = self.read();
            let info = state.services.get(&key)?;
            let sp = find_port(&info.ports, port, protocol)?;
            let mut ready = ready_addresses(state.slices_of(&key), sp);
            if let Some(reach) = reach {
                ready.retain(|a| reach.reaches(a.ip()));
            }
            ((key, sp.name.clone(), sp.port), ready, info.affinity)
        };
        let mut balancer = self.shared.balancer.lock().unwrap_or_else(|e| e.into_inner());
        balancer.choose(&port_key, &ready, client, affinity, Instant::now())
    }

    /// Every Service, for the proxy's reconcile loop.
    pub fn services(&self) -> Vec<Arc<ServiceInfo>> {
        let mut all: Vec<_> = self.read().services.values().cloned().collect();
        all.sort_by(|a, b| a.key.cmp(&b.key));
        all
    }

    pub fn service(&self, namespace: &str, name: &str) -> Option<Arc<ServiceInfo>> {
        self.read().services.get(&ServiceKey::new(namespace, name)).cloned()
    }

    /// The ready endpoints of a Service (each address once), for DNS.
    pub fn ready_endpoints(&self, namespace: &str, name: &str) -> Vec<ReadyEndpoint> {
        let state = self.read();
        let mut out: Vec<ReadyEndpoint> = Vec::new();
        for slice in state.slices_of(&ServiceKey::new(namespace, name)) {
            for e in slice.endpoints.iter().filter(|e| e.ready) {
                let ports = slice.ports.iter().map(|p| (p.name.clone(), p.protocol, p.port));
                match out.iter_mut().find(|r| r.ip == e.ip) {
                    Some(known) => known.ports.extend(ports),
                    None => out.push(ReadyEndpoint { ip: e.ip, hostname: e.hostname.clone(), ports: ports.collect() }),
                }
            }
        }
        out.sort_by_key(|r| r.ip);
        out
    }

    /// The Service whose ClusterIP is `ip` (reverse DNS).
    pub fn service_at_cluster_ip(&self, ip: IpAddr) -> Option<Arc<ServiceInfo>> {
        self.read().services.values().find(|s| s.cluster_ip() == Some(ip)).cloned()
    }

    // --- updates from the watches ---

    pub(super) fn apply_service(&self, info: ServiceInfo) {
        let mut state = self.write();
        let changed = state.services.get(&info.key).is_none_or(|old| **old != info);
        if changed {
            state.services.insert(info.key.clone(), Arc::new(info));
            drop(state);
            self.changed();
        }
    }

    pub(super) fn delete_service(&self, key: &ServiceKey) {
        if self.write().services.remove(key).is_some() {
            self.forget_balancing();
            self.changed();
        }
    }

    /// Replaces every Service after a (re)list.
    pub(super) fn replace_services(&self, all: Vec<ServiceInfo>) {
        {
            let mut state = self.write();
            state.services = all.into_iter().map(|s| (s.key.clone(), Arc::new(s))).collect();
            state.services_synced = true;
        }
        self.forget_balancing();
        self.changed();
    }

    pub(super) fn apply_slice(&self, namespace: &str, name: &str, info: Option<SliceInfo>) {
        {
            let mut state = self.write();
            file_slice(&mut state, namespace, name, info);
        }
        self.changed();
    }

    /// Replaces every slice after a (re)list: `(namespace, name, slice)`.
    pub(super) fn replace_slices(&self, all: Vec<(String, String, SliceInfo)>) {
        {
            let mut state = self.write();
            state.slices.clear();
            state.slice_owner.clear();
            for (namespace, name, info) in all {
                file_slice(&mut state, &namespace, &name, Some(info));
            }
            state.slices_synced = true;
        }
        self.changed();
    }

    pub(super) fn apply_endpoints(&self, key: ServiceKey, slices: Option<Vec<SliceInfo>>) {
        {
            let mut state = self.write();
            match slices {
                Some(slices) => state.legacy.insert(key, slices),
                None => state.legacy.remove(&key),
            };
        }
        self.changed();
    }

    /// Replaces every Endpoints object after a (re)list.
    pub(super) fn replace_endpoints(&self, all: Vec<(ServiceKey, Vec<SliceInfo>)>) {
        {
            let mut state = self.write();
            state.legacy = all.into_iter().collect();
            state.legacy_synced = true;
        }
        self.changed();
    }

    fn forget_balancing(&self) {
        let alive: Vec<ServiceKey> = self.read().services.keys().cloned().collect();
        let mut balancer = self.shared.balancer.lock().unwrap_or_else(|e| e.into_inner());
        balancer.retain_services(|k| alive.contains(k));
    }
}

/// Files (or, with None, removes) slice `namespace/name` under its Service.
fn file_slice(state: &mut State, namespace: &str, name: &str, info: Option<SliceInfo>) {
    let id = (namespace.to_string(), name.to_string());
    if let Some(owner) = state.slice_owner.remove(&id) {
        if let Some(slices) = state.slices.get_mut(&owner) {
            slices.remove(name);
            if slices.is_empty() {
                state.slices.remove(&owner);
            }
        }
    }
    if let Some(info) = info {
        state.slice_owner.insert(id, info.service.clone());
        state.slices.entry(info.service.clone()).or_default().insert(name.to_string(), info);
    }
}

/// The Service port `port` names: by number (of `protocol` first, then any),
/// or by name.
fn find_port<'a>(ports: &'a [ServicePort], port: ServicePortRef<'_>, protocol: Protocol) -> Option<&'a ServicePort> {
    match port {
        ServicePortRef::Number(n) => {
            ports.iter().find(|p| p.port == n && p.protocol == protocol).or_else(|| ports.iter().find(|p| p.port == n))
        }
        ServicePortRef::Name(name) => ports.iter().find(|p| p.name == name && p.protocol == protocol).or_else(|| ports.iter().find(|p| p.name == name)),
    }
}

/// The ready endpoints of Service port `sp`, each at the port its slice
/// resolved the targetPort to (a named targetPort can differ per pod), sorted.
fn ready_addresses<'a>(slices: impl Iterator<Item = &'a SliceInfo>, sp: &ServicePort) -> Vec<SocketAddr> {
    let mut out: Vec<SocketAddr> = Vec::new();
    for slice in slices {
        let Some(target) = slice.ports.iter().find(|p| p.name == sp.name && p.protocol == sp.protocol) else { continue };
        out.extend(slice.endpoints.iter().filter(|e| e.ready).map(|e: &Endpoint| SocketAddr::new(e.ip, target.port)));
    }
    out.sort_unstable();
    out.dedup();
    out
}

#[cfg(test)]
pub(crate) mod tests_support {
    use k8s_openapi::api::core::v1::Service;
    use k8s_openapi::api::discovery::v1::EndpointSlice;

    use super::*;

    /// Fills `table` as a completed list of these objects would.
    pub fn fill(table: &ServiceTable, services: &[Service], slices: &[EndpointSlice]) {
        table.replace_services(services.iter().filter_map(ServiceInfo::from_service).collect());
        table.replace_slices(
            slices
                .iter()
                .filter_map(|s| {
                    let info = SliceInfo::from_slice(s)?;
                    Some((s.metadata.namespace.clone()?, s.metadata.name.clone()?, info))
                })
                .collect(),
        );
        table.replace_endpoints(Vec::new());
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::super::model::fixtures::*;
    use super::*;

    fn table_with(services: &[k8s_openapi::api::core::v1::Service], slices: &[k8s_openapi::api::discovery::v1::EndpointSlice]) -> ServiceTable {
        let table = ServiceTable::default();
        super::tests_support::fill(&table, services, slices);
        table
    }

    fn picks(table: &ServiceTable, port: ServicePortRef<'_>, n: usize) -> HashSet<SocketAddr> {
        (0..n).filter_map(|_| table.pick("ns", "web", port, None)).collect()
    }

    fn addr(a: &str) -> SocketAddr {
        a.parse().unwrap()
    }

    #[test]
    fn only_ready_endpoints_are_picked_round_robin() {
        let table = table_with(
            &[service("ns", "web", "10.43.0.20", &[("http", 80, "TCP")])],
            &[slice(
                "ns",
                "web",
                "web-a",
                &[("http", 8080, "TCP")],
                &[("10.42.0.2", true, false, None), ("10.42.0.3", false, false, None), ("10.42.0.4", true, true, None), ("10.42.0.5", true, false, None)],
            )],
        );
        assert!(table.synced());
        let seq: Vec<_> = (0..4).filter_map(|_| table.pick("ns", "web", ServicePortRef::Number(80), None)).collect();
        assert_eq!(seq, [addr("10.42.0.2:8080"), addr("10.42.0.5:8080"), addr("10.42.0.2:8080"), addr("10.42.0.5:8080")]);
        assert_eq!(table.pick("ns", "web", ServicePortRef::Number(81), None), None);
        assert_eq!(table.pick("ns", "nope", ServicePortRef::Number(80), None), None);
    }

    #[test]
    fn named_target_ports_resolve_per_slice_and_ports_go_by_name() {
        // Two pods name their "http" containerPort differently: two slices.
        let table = table_with(
            &[service("ns", "web", "10.43.0.20", &[("http", 80, "TCP"), ("metrics", 9100, "TCP")])],
            &[
                slice("ns", "web", "web-a", &[("http", 8080, "TCP"), ("metrics", 9100, "TCP")], &[("10.42.0.2", true, false, None)]),
                slice("ns", "web", "web-b", &[("http", 8081, "TCP"), ("metrics", 9100, "TCP")], &[("10.42.0.3", true, false, None)]),
            ],
        );
        assert_eq!(picks(&table, ServicePortRef::Name("http"), 4), [addr("10.42.0.2:8080"), addr("10.42.0.3:8081")].into());
        assert_eq!(picks(&table, ServicePortRef::Number(9100), 4), [addr("10.42.0.2:9100"), addr("10.42.0.3:9100")].into());
    }

    #[test]
    fn changes_are_seen_at_once_and_bump_the_generation() {
        let table = table_with(
            &[service("ns", "web", "10.43.0.20", &[("", 80, "TCP")])],
            &[slice("ns", "web", "web-a", &[("", 80, "TCP")], &[("10.42.0.2", true, false, None), ("10.42.0.3", true, false, None)])],
        );
        let mut rx = table.subscribe();
        rx.mark_unchanged();
        let unready = slice("ns", "web", "web-a", &[("", 80, "TCP")], &[("10.42.0.2", true, false, None), ("10.42.0.3", false, false, None)]);
        table.apply_slice("ns", "web-a", SliceInfo::from_slice(&unready));
        assert!(rx.has_changed().unwrap_or(false));
        assert_eq!(picks(&table, ServicePortRef::Number(80), 4), [addr("10.42.0.2:80")].into());
        table.apply_slice("ns", "web-a", None);
        assert_eq!(table.pick("ns", "web", ServicePortRef::Number(80), None), None);
        table.delete_service(&ServiceKey::new("ns", "web"));
        assert!(table.service("ns", "web").is_none());
    }

    #[test]
    fn endpoints_on_other_nodes_are_not_picked_once_reach_is_known() {
        let table = table_with(
            &[service("ns", "web", "10.43.0.20", &[("", 80, "TCP")])],
            &[slice("ns", "web", "web-a", &[("", 80, "TCP")], &[("10.42.0.2", true, false, None), ("10.42.1.2", true, false, None)])],
        );
        assert_eq!(picks(&table, ServicePortRef::Number(80), 4).len(), 2);
        table.set_reachable("10.42.0.0/16".parse().unwrap(), "10.42.1.0/24".parse().unwrap());
        assert_eq!(picks(&table, ServicePortRef::Number(80), 4), [addr("10.42.1.2:80")].into());
    }

    #[test]
    fn endpoints_objects_serve_services_without_slices() {
        use k8s_openapi::api::core::v1::{EndpointAddress, EndpointPort, EndpointSubset, Endpoints};
        let table = table_with(&[service("ns", "db", "10.43.0.30", &[("pg", 5432, "TCP")]), service("ns", "web", "10.43.0.20", &[("", 80, "TCP")])], &[]);
        let address = |ip: &str| EndpointAddress { ip: ip.into(), ..Default::default() };
        let endpoints = |name: &str| Endpoints {
            metadata: k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta { namespace: Some("ns".into()), name: Some(name.into()), ..Default::default() },
            subsets: Some(vec![EndpointSubset {
                addresses: Some(vec![address("10.42.0.7")]),
                not_ready_addresses: Some(vec![address("10.42.0.8")]),
                ports: Some(vec![EndpointPort { name: Some("pg".into()), port: 15432, protocol: Some("TCP".into()), ..Default::default() }]),
            }]),
        };
        let (key, slices) = super::super::model::slices_from_endpoints(&endpoints("db")).expect("endpoints");
        table.replace_endpoints(vec![(key, slices)]);
        assert!(table.synced());
        assert_eq!((0..3).filter_map(|_| table.pick("ns", "db", ServicePortRef::Name("pg"), None)).collect::<HashSet<_>>(), [addr("10.42.0.7:15432")].into());
        // A Service with EndpointSlices goes by its slices, whatever its Endpoints say.
        let (key, slices) = super::super::model::slices_from_endpoints(&endpoints("web")).expect("endpoints");
        table.apply_endpoints(key, Some(slices));
        table.apply_slice("ns", "web-a", SliceInfo::from_slice(&slice("ns", "web", "web-a", &[("", 80, "TCP")], &[("10.42.0.2", true, false, None)])));
        assert_eq!(picks(&table, ServicePortRef::Number(80), 3), [addr("10.42.0.2:80")].into());
        table.apply_endpoints(ServiceKey::new("ns", "db"), None);
        assert_eq!(table.pick("ns", "db", ServicePortRef::Name("pg"), None), None);
    }

    #[test]
    fn client_ip_affinity_keeps_one_backend_per_client() {
        let table = table_with(
            &[with_affinity(service("ns", "web", "10.43.0.20", &[("", 80, "TCP")]), Some(60))],
            &[slice("ns", "web", "web-a", &[("", 80, "TCP")], &[("10.42.0.2", true, false, None), ("10.42.0.3", true, false, None), ("10.42.0.4", true, false, None)])],
        );
        let client: IpAddr = "10.42.0.9".parse().unwrap();
        let seen: HashSet<_> = (0..10).filter_map(|_| table.pick("ns", "web", ServicePortRef::Number(80), Some(client))).collect();
        assert_eq!(seen.len(), 1);
        // Without a client address there is nothing to stick to.
        assert_eq!(picks(&table, ServicePortRef::Number(80), 6).len(), 3);
    }

    #[test]
    fn ready_endpoints_for_dns_carry_hostnames_and_ports() {
        let table = table_with(
            &[service("ns", "web", "None", &[("web", 80, "TCP")])],
            &[slice("ns", "web", "web-a", &[("web", 80, "TCP")], &[("10.42.0.3", true, false, Some("web-1")), ("10.42.0.2", true, false, Some("web-0")), ("10.42.0.4", false, false, Some("web-2"))])],
        );
        let ready = table.ready_endpoints("ns", "web");
        assert_eq!(ready.iter().map(|r| r.hostname.as_deref()).collect::<Vec<_>>(), [Some("web-0"), Some("web-1")]);
        assert_eq!(ready[0].ports, [("web".to_string(), Protocol::Tcp, 80)]);
    }
}
