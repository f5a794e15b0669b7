//! Name lookups of preview 2 guests (`wasi:sockets/ip-name-lookup`), answered by the pod's DNS
//! servers (the cluster DNS) with the pod's search path, as glibc does for a Linux pod.
//! wasmtime-wasi 48 has no hook for this (it resolves with the agent's own resolver, on a
//! blocking thread in the agent's namespace), so the interface is redefined in the component
//! Linker ([`add_to_linker`]). The query's UDP socket is made in the host call, which runs inside
//! the pod's namespace (see [`super::InNetNs`]), so queries leave from the pod like any of its
//! packets. Only A records are asked for: the pod network is IPv4.

use std::collections::VecDeque;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::Arc;
use std::time::Duration;

use futures::FutureExt;
use hickory_proto::op::{Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::{Name, RData, RecordType};
use tokio::net::UdpSocket;
use tokio::task::JoinHandle;
use wasmtime::component::{HasData, Linker, Resource, ResourceTable};
use wasmtime_wasi::p2::bindings::sockets::ip_name_lookup::{self, ResolveAddressStream};
use wasmtime_wasi::p2::bindings::sockets::network::{self, ErrorCode, IpAddress};
use wasmtime_wasi::p2::{DynPollable, IoError, Network, Pollable, SocketError};

use crate::net::DnsSettings;

/// How long one server gets to answer one query, and how many rounds over the servers.
const QUERY_TIMEOUT: Duration = Duration::from_secs(2);
const ATTEMPTS: usize = 2;

/// The resolver of one pod.
#[derive(Debug)]
pub struct PodResolver {
    servers: Vec<SocketAddr>,
    searches: Vec<String>,
    ndots: usize,
}

impl PodResolver {
    /// `None` when the pod has no name servers.
    pub fn new(dns: &DnsSettings) -> Option<Arc<Self>> {
        if dns.nameservers.is_empty() {
            return None;
        }
        // glibc's default is 1; Kubernetes' ClusterFirst sets ndots:5 in options.
        let ndots = dns.options.iter().find_map(|o| o.strip_prefix("ndots:")?.parse().ok()).unwrap_or(1);
        Some(Arc::new(PodResolver {
            servers: dns.nameservers.iter().map(|ip| SocketAddr::new(*ip, 53)).collect(),
            searches: dns.searches.clone(),
            ndots,
        }))
    }

    /// The names to try, in order (glibc's `res_search`): a name ending in a dot as it is; one with
    /// at least `ndots` dots as it is first, then with each search domain; any other with each
    /// search domain first, then as it is.
    pub fn candidates(&self, name: &str) -> Vec<String> {
        if let Some(absolute) = name.strip_suffix('.') {
            return vec![absolute.to_owned()];
        }
        let searched = self.searches.iter().map(|domain| format!("{name}.{domain}"));
        if name.matches('.').count() >= self.ndots {
            std::iter::once(name.to_owned()).chain(searched).collect()
        } else {
            searched.chain(std::iter::once(name.to_owned())).collect()
        }
    }

    /// The addresses of `name`, asked from inside the pod over `socket`.
    pub async fn resolve(&self, socket: UdpSocket, name: String) -> Result<Vec<IpAddr>, ErrorCode> {
        let mut failed = false;
        for candidate in self.candidates(&name) {
            match self.query(&socket, &candidate).await {
                Answer::Found(ips) => return Ok(ips),
                Answer::NoSuchName => {}
                Answer::Failed => failed = true,
            }
        }
        Err(if failed { ErrorCode::TemporaryResolverFailure } else { ErrorCode::NameUnresolvable })
    }

    async fn query(&self, socket: &UdpSocket, name: &str) -> Answer {
        let Ok(qname) = Name::from_ascii(format!("{name}.")) else { return Answer::NoSuchName };
        let id: u16 = rand_id();
        let mut message = Message::new(id, MessageType::Query, OpCode::Query);
        message.metadata.recursion_desired = true;
        message.add_query(Query::query(qname, RecordType::A));
        let Ok(bytes) = message.to_vec() else { return Answer::Failed };
        let mut buf = vec![0u8; 4096];
        for _ in 0..ATTEMPTS {
            for server in &self.servers {
                if socket.send_to(&bytes, server).await.is_err() {
                    continue;
                }
                let deadline = tokio::time::Instant::now() + QUERY_TIMEOUT;
                // Datagrams that are not the answer (late replies to an earlier query) are skipped.
                while let Ok(Ok((n, from))) = tokio::time::timeout_at(deadline, socket.recv_from(&mut buf)).await {
                    let Ok(reply) = Message::from_vec(&buf[..n]) else { continue };
                    if from != *server || reply.metadata.id != id {
                        continue;
                    }
                    return match reply.metadata.response_code {
                        ResponseCode::NoError => {
                            let ips: Vec<IpAddr> = reply
                                .answers
                                .iter()
                                .filter_map(|record| match &record.data {
                                    RData::A(a) => Some(IpAddr::V4(a.0)),
                                    _ => None,
                                })
                                .collect();
                            // No A record (NODATA): the next candidate may have one.
                            if ips.is_empty() { Answer::NoSuchName } else { Answer::Found(ips) }
                        }
                        ResponseCode::NXDomain => Answer::NoSuchName,
                        _ => Answer::Failed,
                    };
                }
            }
        }
        Answer::Failed
    }
}

enum Answer {
    Found(Vec<IpAddr>),
    NoSuchName,
    Failed,
}

/// A query id: a counter mixed with the clock, so ids differ between queries and pods (the
/// socket, a fresh one per lookup, already tells replies apart).
fn rand_id() -> u16 {
    static NEXT: AtomicU16 = AtomicU16::new(0);
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.subsec_nanos()).unwrap_or(0);
    NEXT.fetch_add(1, Ordering::Relaxed).wrapping_mul(40503) ^ (nanos as u16)
}

/// A lookup in flight or done, in the guest's resource table (under the handle type of
/// `resolve-address-stream`; only this module reads it).
pub struct Lookup {
    state: LookupState,
}

enum LookupState {
    Running(JoinHandle<Result<Vec<IpAddr>, ErrorCode>>),
    Done(Result<VecDeque<IpAddr>, ErrorCode>),
}

impl Lookup {
    fn ready(addrs: Vec<IpAddr>) -> Self {
        Lookup { state: LookupState::Done(Ok(addrs.into())) }
    }

    /// Moves a finished query's result in, without waiting.
    fn settle(&mut self) {
        if let LookupState::Running(task) = &mut self.state {
            if let Some(joined) = task.now_or_never() {
                self.state = LookupState::Done(joined.unwrap_or(Err(ErrorCode::TemporaryResolverFailure)).map(VecDeque::from));
            }
        }
    }
}

impl Drop for Lookup {
    fn drop(&mut self) {
        if let LookupState::Running(task) = &self.state {
            task.abort();
        }
    }
}

#[wasmtime_wasi::async_trait]
impl Pollable for Lookup {
    async fn ready(&mut self) {
        if let LookupState::Running(task) = &mut self.state {
            let joined = task.await;
            self.state = LookupState::Done(joined.unwrap_or(Err(ErrorCode::TemporaryResolverFailure)).map(VecDeque::from));
        }
    }
}

/// What the lookup functions reach in a component's Store.
pub struct LookupView<'a> {
    pub table: &'a mut ResourceTable,
    pub resolver: Option<&'a Arc<PodResolver>>,
}

/// The `HasData` of [`add_to_linker`].
pub struct Lookups;

impl HasData for Lookups {
    type Data<'a> = LookupView<'a>;
}

/// Redefines `wasi:sockets/ip-name-lookup` in `linker` (which already has wasmtime-wasi's).
pub fn add_to_linker<T: Send + 'static>(linker: &mut Linker<T>, view: fn(&mut T) -> LookupView<'_>) -> wasmtime::Result<()> {
    linker.allow_shadowing(true);
    let added = ip_name_lookup::add_to_linker::<T, Lookups>(linker, view);
    linker.allow_shadowing(false);
    added
}

fn own(lookup: &Resource<ResolveAddressStream>) -> Resource<Lookup> {
    Resource::new_own(lookup.rep())
}

fn borrow(lookup: &Resource<ResolveAddressStream>) -> Resource<Lookup> {
    Resource::new_borrow(lookup.rep())
}

/// Needed by the lookup bindings for their error type; the `network` interface itself stays
/// wasmtime-wasi's.
impl network::Host for LookupView<'_> {
    fn convert_error_code(&mut self, error: SocketError) -> wasmtime::Result<ErrorCode> {
        error.downcast()
    }

    fn network_error_code(&mut self, _err: Resource<IoError>) -> wasmtime::Result<Option<ErrorCode>> {
        Ok(None)
    }
}

impl network::HostNetwork for LookupView<'_> {
    fn drop(&mut self, this: Resource<Network>) -> wasmtime::Result<()> {
        self.table.delete(this)?;
        Ok(())
    }
}

impl ip_name_lookup::Host for LookupView<'_> {
    fn resolve_addresses(&mut self, network: Resource<Network>, name: String) -> Result<Resource<ResolveAddressStream>, SocketError> {
        // The network resource is the capability to look names up.
        self.table.get(&network)?;
        let Some(resolver) = self.resolver.cloned() else { return Err(ErrorCode::PermanentResolverFailure.into()) };
        let lookup = if let Ok(ip) = name.trim_start_matches('[').trim_end_matches(']').parse::<IpAddr>() {
            Lookup::ready(vec![ip.to_canonical()])
        } else {
            if name.is_empty() || name.len() > 253 || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.' || b == b'_') {
                return Err(ErrorCode::InvalidArgument.into());
            }
            // Made here, in the host call, so in the pod's namespace (see the module doc).
            let socket = std::net::UdpSocket::bind((Ipv4Addr::UNSPECIFIED, 0))
                .and_then(|s| s.set_nonblocking(true).map(|()| s))
                .and_then(UdpSocket::from_std)
                .map_err(|_| ErrorCode::TemporaryResolverFailure)?;
            let task = tokio::spawn(async move { resolver.resolve(socket, name).await });
            Lookup { state: LookupState::Running(task) }
        };
        let pushed = self.table.push(lookup)?;
        Ok(Resource::new_own(pushed.rep()))
    }
}

impl ip_name_lookup::HostResolveAddressStream for LookupView<'_> {
    fn resolve_next_address(&mut self, stream: Resource<ResolveAddressStream>) -> Result<Option<IpAddress>, SocketError> {
        let lookup = self.table.get_mut(&borrow(&stream))?;
        lookup.settle();
        match &mut lookup.state {
            LookupState::Running(_) => Err(ErrorCode::WouldBlock.into()),
            LookupState::Done(Ok(addrs)) => Ok(addrs.pop_front().map(IpAddress::from)),
            LookupState::Done(Err(code)) => Err((*code).into()),
        }
    }

    fn subscribe(&mut self, stream: Resource<ResolveAddressStream>) -> wasmtime::Result<Resource<DynPollable>> {
        wasmtime_wasi::p2::subscribe(self.table, borrow(&stream))
    }

    fn drop(&mut self, stream: Resource<ResolveAddressStream>) -> wasmtime::Result<()> {
        self.table.delete(own(&stream))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resolver(ndots: &str) -> Arc<PodResolver> {
        PodResolver::new(&DnsSettings {
            nameservers: vec!["10.43.0.10".parse().unwrap()],
            searches: vec!["web.svc.cluster.local".into(), "svc.cluster.local".into()],
            options: vec![ndots.into()],
        })
        .expect("resolver")
    }

    #[test]
    fn search_path_order_follows_ndots_like_glibc() {
        let r = resolver("ndots:5");
        assert_eq!(r.candidates("api"), ["api.web.svc.cluster.local", "api.svc.cluster.local", "api"]);
        assert_eq!(r.candidates("api.other"), ["api.other.web.svc.cluster.local", "api.other.svc.cluster.local", "api.other"]);
        assert_eq!(r.candidates("a.b.c.d.e.f"), ["a.b.c.d.e.f", "a.b.c.d.e.f.web.svc.cluster.local", "a.b.c.d.e.f.svc.cluster.local"]);
        assert_eq!(r.candidates("api.web.svc.cluster.local."), ["api.web.svc.cluster.local"]);
        let glibc_default = resolver("edns0");
        assert_eq!(glibc_default.candidates("x.y")[0], "x.y");
        assert!(PodResolver::new(&DnsSettings::default()).is_none());
    }

    #[tokio::test]
    async fn asks_the_pod_servers_and_walks_the_search_path() {
        // A tiny server: NXDOMAIN for everything but api.svc.cluster.local.
        let server = UdpSocket::bind("127.0.0.1:0").await.expect("bind");
        let addr = server.local_addr().expect("addr");
        tokio::spawn(async move {
            let mut buf = vec![0u8; 512];
            while let Ok((n, from)) = server.recv_from(&mut buf).await {
                let query = Message::from_vec(&buf[..n]).expect("query");
                let name = query.queries[0].name().to_ascii();
                let mut reply = Message::new(query.metadata.id, MessageType::Response, OpCode::Query);
                reply.add_query(query.queries[0].clone());
                if name == "api.svc.cluster.local." {
                    let record = hickory_proto::rr::Record::from_rdata(query.queries[0].name().clone(), 5, RData::A(hickory_proto::rr::rdata::A(Ipv4Addr::new(10, 43, 0, 7))));
                    reply.add_answer(record);
                } else {
                    reply.metadata.response_code = ResponseCode::NXDomain;
                }
                server.send_to(&reply.to_vec().expect("encode"), from).await.expect("reply");
            }
        });
        let r = PodResolver { servers: vec![addr], searches: vec!["web.svc.cluster.local".into(), "svc.cluster.local".into()], ndots: 5 };
        let socket = || async { UdpSocket::bind("127.0.0.1:0").await.expect("client") };
        assert_eq!(r.resolve(socket().await, "api".into()).await.ok(), Some(vec![IpAddr::V4(Ipv4Addr::new(10, 43, 0, 7))]));
        assert!(matches!(r.resolve(socket().await, "nothing".into()).await, Err(ErrorCode::NameUnresolvable)));
    }
}
