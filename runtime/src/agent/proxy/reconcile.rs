//! The proxy's control loop: observe the table, compute the listeners it
//! calls for ([`super::listeners::desired`]), close those no longer wanted,
//! open the missing ones, and wait for the next change. A port that cannot
//! be bound (taken by another program) is reported once and retried every
//! [`RETRY`]; it never stops the loop.

use std::collections::{BTreeMap, HashSet};
use std::io;
use std::sync::Arc;
use std::time::Duration;

use tokio::task::JoinHandle;

use super::dial::Dialer;
use super::listeners::{desired, ListenerKey, Place, Scope, Target};
use super::model::Protocol;
use super::table::ServiceTable;
use super::{tcp, udp};
use crate::net::netns::NetNs;

/// How often ports that failed to bind are tried again.
const RETRY: Duration = Duration::from_secs(10);

/// Told about each listener that cannot be opened (once per listener and target).
pub type FailureReport = Box<dyn Fn(&ListenerKey, &Target, &io::Error) + Send + Sync>;

struct Running {
    target: Target,
    task: JoinHandle<()>,
}

/// The listeners of one node, closed when dropped.
pub struct Proxy {
    table: ServiceTable,
    dialer: Dialer,
    /// Where ClusterIP listeners are bound; None: none are.
    node_netns: Option<Arc<NetNs>>,
    scope: Scope,
    running: BTreeMap<ListenerKey, Running>,
    /// Listeners that failed to open, reported already.
    failed: HashSet<(ListenerKey, Target)>,
    report: FailureReport,
}

impl Drop for Proxy {
    fn drop(&mut self) {
        for (_, r) in std::mem::take(&mut self.running) {
            r.task.abort();
        }
    }
}

impl Proxy {
    pub fn new(table: ServiceTable, node_netns: Option<Arc<NetNs>>, scope: Scope, report: FailureReport) -> Proxy {
        let scope = Scope { cluster_ips: scope.cluster_ips && node_netns.is_some(), ..scope };
        Proxy { table, dialer: Dialer::new(node_netns.clone()), node_netns, scope, running: BTreeMap::new(), failed: HashSet::new(), report }
    }

    /// Reconciles on every change of the table, until dropped.
    pub async fn run(mut self) {
        let mut changes = self.table.subscribe();
        loop {
            changes.mark_unchanged();
            self.reconcile();
            let retry = !self.failed.is_empty();
            tokio::select! {
                changed = changes.changed() => if changed.is_err() { return },
                () = tokio::time::sleep(RETRY), if retry => {}
            }
        }
    }

    /// One pass: the listeners now open match the table (but for ports that failed).
    pub fn reconcile(&mut self) {
        let (want, clashes) = desired(&self.table.services(), self.scope);
        self.running.retain(|key, r| {
            let keep = want.get(key) == Some(&r.target) && !r.task.is_finished();
            if !keep {
                tracing::debug!(listener = %key.addr, service = %r.target.service, "proxy listener closed");
                r.task.abort();
            }
            keep
        });
        self.failed.retain(|(key, target)| want.get(key) == Some(target));
        for (key, target) in clashes {
            let err = io::Error::new(io::ErrorKind::AddrInUse, format!("{} is already used by another Service", key.addr));
            self.failed(key, target, err);
        }
        for (key, target) in want {
            if self.running.contains_key(&key) {
                continue;
            }
            match self.open(&key, &target) {
                Ok(task) => {
                    tracing::debug!(listener = %key.addr, protocol = ?key.protocol, service = %target.service, exposure = target.exposure.as_str(), "proxy listener opened");
                    self.failed.remove(&(key, target.clone()));
                    self.running.insert(key, Running { target, task });
                }
                Err(err) => self.failed(key, target, err),
            }
        }
    }

    fn failed(&mut self, key: ListenerKey, target: Target, err: io::Error) {
        if self.failed.insert((key, target.clone())) {
            tracing::warn!(listener = %key.addr, service = %target.service, error = %err, "service port cannot be opened");
            (self.report)(&key, &target, &err);
        }
    }

    fn open(&self, key: &ListenerKey, target: &Target) -> io::Result<JoinHandle<()>> {
        let (table, dialer, target) = (self.table.clone(), self.dialer.clone(), target.clone());
        let ns = match key.place {
            Place::Node => Some(self.node_netns.as_ref().ok_or_else(|| io::Error::other("no node network namespace"))?),
            Place::Host => None,
        };
        Ok(match key.protocol {
            Protocol::Tcp => {
                let listener = match ns {
                    Some(ns) => ns.tcp_listener(key.addr)?,
                    None => host_tcp_listener(key.addr)?,
                };
                tokio::spawn(tcp::serve(listener, target, table, dialer))
            }
            Protocol::Udp => {
                let socket = match ns {
                    Some(ns) => ns.udp_socket(key.addr)?,
                    None => {
                        let socket = std::net::UdpSocket::bind(key.addr)?;
                        socket.set_nonblocking(true)?;
                        tokio::net::UdpSocket::from_std(socket)?
                    }
                };
                tokio::spawn(udp::serve(socket, target, table, dialer))
            }
            Protocol::Sctp => return Err(io::Error::new(io::ErrorKind::Unsupported, "SCTP is not proxied")),
        })
    }

    /// The listeners open now (for tests and logs).
    pub fn open_listeners(&self) -> Vec<ListenerKey> {
        self.running.keys().copied().collect()
    }
}

/// A listener on the host. SO_REUSEADDR lets it bind over connections of an
/// earlier listener still in TIME_WAIT; a port another program listens on
/// still fails to bind (Linux shares listening ports only with SO_REUSEPORT).
fn host_tcp_listener(addr: std::net::SocketAddr) -> io::Result<tokio::net::TcpListener> {
    let socket = socket2::Socket::new(socket2::Domain::for_address(addr), socket2::Type::STREAM, Some(socket2::Protocol::TCP))?;
    socket.set_reuse_address(true)?;
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    socket.listen(1024)?;
    tokio::net::TcpListener::from_std(socket.into())
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::super::model::fixtures::service;
    use super::super::model::ServiceInfo;
    use super::*;

    #[tokio::test]
    async fn listeners_follow_the_services_and_a_taken_port_is_reported_once() {
        // A port someone else holds on the host.
        let squatter = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let taken = squatter.local_addr().expect("addr").port();
        let free = {
            let probe = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
            probe.local_addr().expect("addr").port()
        };
        let lb = |name: &str, ip: &str, port: u16| {
            let mut svc = service("ns", name, ip, &[("http", i32::from(port), "TCP")]);
            if let Some(spec) = svc.spec.as_mut() {
                spec.type_ = Some("LoadBalancer".into());
            }
            ServiceInfo::from_service(&svc).expect("svc")
        };
        let table = ServiceTable::default();
        table.replace_services(vec![lb("a", "10.43.0.20", free), lb("b", "10.43.0.21", taken)]);
        let reports = Arc::new(Mutex::new(Vec::new()));
        let seen = reports.clone();
        let report: FailureReport = Box::new(move |key, target, _| seen.lock().unwrap().push((key.addr.port(), target.service.name.clone())));
        let scope = Scope { cluster_ips: true, node_ip: "127.0.0.1".parse().unwrap(), reserved_ip: None };
        let mut proxy = Proxy::new(table.clone(), None, scope, report);
        proxy.reconcile();
        proxy.reconcile();
        assert_eq!(proxy.open_listeners().iter().map(|k| k.addr.port()).collect::<Vec<_>>(), [free]);
        assert_eq!(*reports.lock().unwrap(), [(taken, "b".to_string())]);
        assert!(std::net::TcpStream::connect(("127.0.0.1", free)).is_ok(), "the LoadBalancer port answers");

        // The Service goes: its port closes.
        table.replace_services(vec![lb("b", "10.43.0.21", taken)]);
        proxy.reconcile();
        assert!(proxy.open_listeners().is_empty());
        tokio::task::yield_now().await;
        assert!(std::net::TcpListener::bind(("127.0.0.1", free)).is_ok(), "the port is free again");
        drop(squatter);
    }
}
