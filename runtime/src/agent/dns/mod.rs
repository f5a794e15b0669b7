//! Cluster DNS (CoreDNS's job), served by every agent at the `kube-dns`
//! ClusterIP 10.43.0.10, port 53 over UDP and TCP, inside the node network
//! namespace where pods send their queries. Answers come from the same
//! [`ServiceTable`] the service proxy uses, so a name resolves as soon as
//! its Service or endpoints change.
//!
//! - [`answer`]: the records of `cluster.local` (pure, over the table).
//! - [`handler`]: the hickory-server request handler.
//!
//! There is no upstream forwarding: names outside `cluster.local` get
//! REFUSED (pods have no network beyond the cluster). A forwarder could be a
//! setting later.

pub mod answer;
pub mod handler;

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use hickory_server::Server;

use super::proxy::{ServiceTable, CLUSTER_DNS_IP};
use crate::net::netns::NetNs;

/// A TCP client that sends nothing for this long is disconnected.
const TCP_IDLE: Duration = Duration::from_secs(10);
/// Responses queued per TCP connection.
const TCP_RESPONSE_BUFFER: usize = 32;

/// Serves DNS at 10.43.0.10:53 inside `node_netns` until dropped. Without a
/// node network there is nowhere for pods to ask: it waits forever.
pub async fn serve(table: ServiceTable, node_netns: Option<Arc<NetNs>>) {
    let Some(ns) = node_netns else {
        tracing::info!("no pod network on this node: cluster DNS not served");
        return std::future::pending().await;
    };
    let addr = SocketAddr::new(CLUSTER_DNS_IP, 53);
    let sockets = ns.udp_socket(addr).and_then(|udp| Ok((udp, ns.tcp_listener(addr)?)));
    match sockets {
        Ok((udp, tcp)) => serve_on(table, udp, tcp).await,
        Err(err) => {
            tracing::error!(%addr, error = %err, "cluster DNS cannot listen");
            std::future::pending().await
        }
    }
}

/// Serves DNS on sockets bound already, until dropped (dropping closes them).
pub async fn serve_on(table: ServiceTable, udp: tokio::net::UdpSocket, tcp: tokio::net::TcpListener) {
    let local: Option<IpAddr> = udp.local_addr().ok().map(|a| a.ip());
    let mut server = Server::new(handler::ClusterDns::new(table));
    server.register_socket(udp);
    server.register_listener(tcp, TCP_IDLE, TCP_RESPONSE_BUFFER);
    tracing::info!(address = ?local, "cluster DNS serving");
    if let Err(err) = server.block_until_done().await {
        tracing::error!(error = %err, "cluster DNS stopped");
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use hickory_server::proto::op::{Message, Query, ResponseCode};
    use hickory_server::proto::rr::{Name, RData, RecordType};
    use k8s_openapi::api::core::v1::Service;

    use super::*;
    use crate::agent::proxy::model::fixtures::{service, slice};
    use crate::agent::proxy::table::tests_support::fill;

    fn external(ns: &str, name: &str, target: &str) -> Service {
        let mut svc = service(ns, name, "", &[]);
        if let Some(spec) = svc.spec.as_mut() {
            spec.type_ = Some("ExternalName".into());
            spec.cluster_ip = None;
            spec.external_name = Some(target.into());
        }
        svc
    }

    /// A DNS server on 127.0.0.1 over a table of a few Services.
    async fn server() -> (SocketAddr, SocketAddr) {
        let table = ServiceTable::default();
        fill(
            &table,
            &[
                service("ns", "web", "10.43.0.20", &[("http", 80, "TCP"), ("", 9000, "TCP")]),
                service("ns", "db", "None", &[("pg", 5432, "TCP")]),
                external("ns", "ext", "example.org"),
            ],
            &[
                slice("ns", "web", "web-a", &[("http", 8080, "TCP")], &[("10.42.0.2", true, false, None)]),
                slice("ns", "db", "db-a", &[("pg", 5432, "TCP")], &[("10.42.0.5", true, false, Some("db-0")), ("10.42.0.6", true, false, Some("db-1")), ("10.42.0.7", false, false, Some("db-2"))]),
            ],
        );
        let udp = tokio::net::UdpSocket::bind("127.0.0.1:0").await.expect("udp");
        let tcp = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("tcp");
        let addrs = (udp.local_addr().expect("addr"), tcp.local_addr().expect("addr"));
        tokio::spawn(serve_on(table, udp, tcp));
        addrs
    }

    async fn ask_udp(server: SocketAddr, name: &str, qtype: RecordType) -> Message {
        let mut query = Message::query();
        query.metadata.recursion_desired = true;
        query.add_query(Query::query(Name::from_ascii(name).expect("name"), qtype));
        let socket = tokio::net::UdpSocket::bind("127.0.0.1:0").await.expect("bind");
        socket.send_to(&query.to_vec().expect("encode"), server).await.expect("send");
        let mut buf = vec![0u8; 4096];
        let (n, _) = tokio::time::timeout(Duration::from_secs(2), socket.recv_from(&mut buf)).await.expect("an answer in time").expect("recv");
        let reply = Message::from_vec(&buf[..n]).expect("decode");
        assert_eq!(reply.metadata.id, query.metadata.id);
        reply
    }

    async fn ask_tcp(server: SocketAddr, name: &str, qtype: RecordType) -> Message {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut query = Message::query();
        query.add_query(Query::query(Name::from_ascii(name).expect("name"), qtype));
        let bytes = query.to_vec().expect("encode");
        let mut stream = tokio::net::TcpStream::connect(server).await.expect("connect");
        let len = u16::try_from(bytes.len()).expect("small").to_be_bytes();
        stream.write_all(&len).await.expect("write");
        stream.write_all(&bytes).await.expect("write");
        let mut len = [0u8; 2];
        stream.read_exact(&mut len).await.expect("read");
        let mut buf = vec![0u8; usize::from(u16::from_be_bytes(len))];
        stream.read_exact(&mut buf).await.expect("read");
        Message::from_vec(&buf).expect("decode")
    }

    fn rdata(m: &Message) -> Vec<String> {
        m.answers.iter().map(|r| r.data.to_string()).collect()
    }

    #[tokio::test]
    async fn services_resolve_to_their_cluster_ip_over_udp_and_tcp() {
        let (udp, tcp) = server().await;
        let a = ask_udp(udp, "web.ns.svc.cluster.local.", RecordType::A).await;
        assert_eq!(a.metadata.response_code, ResponseCode::NoError);
        assert!(a.metadata.authoritative);
        assert_eq!(rdata(&a), ["10.43.0.20"]);
        // Case is kept in the answer's owner name, and matching ignores it.
        let upper = ask_udp(udp, "WEB.ns.SVC.cluster.local.", RecordType::A).await;
        assert_eq!(rdata(&upper), ["10.43.0.20"]);
        assert_eq!(upper.answers[0].name.to_ascii(), "WEB.ns.SVC.cluster.local.");
        assert_eq!(rdata(&ask_tcp(tcp, "web.ns.svc.cluster.local.", RecordType::A).await), ["10.43.0.20"]);
        // AAAA of a known name: no records, but no NXDOMAIN either.
        let aaaa = ask_udp(udp, "web.ns.svc.cluster.local.", RecordType::AAAA).await;
        assert_eq!((aaaa.metadata.response_code, aaaa.answers.len(), aaaa.authorities.len()), (ResponseCode::NoError, 0, 1));
        let ptr = ask_udp(udp, "20.0.43.10.in-addr.arpa.", RecordType::PTR).await;
        assert_eq!(rdata(&ptr), ["web.ns.svc.cluster.local."]);
    }

    #[tokio::test]
    async fn unknown_names_are_nxdomain_and_other_zones_refused() {
        let (udp, _) = server().await;
        for name in ["nope.ns.svc.cluster.local.", "web.other.svc.cluster.local.", "web.ns.svc.cluster.local.ns.svc.cluster.local.", "x.db.ns.svc.cluster.local."] {
            let m = ask_udp(udp, name, RecordType::A).await;
            assert_eq!(m.metadata.response_code, ResponseCode::NXDomain, "{name}");
            assert!(matches!(m.authorities.first().map(|r| &r.data), Some(RData::SOA(_))), "{name}: SOA for negative caching");
        }
        assert_eq!(ask_udp(udp, "example.org.", RecordType::A).await.metadata.response_code, ResponseCode::Refused);
    }

    #[tokio::test]
    async fn headless_services_name_their_ready_endpoints() {
        let (udp, _) = server().await;
        let mut ips = rdata(&ask_udp(udp, "db.ns.svc.cluster.local.", RecordType::A).await);
        ips.sort();
        assert_eq!(ips, ["10.42.0.5", "10.42.0.6"]);
        assert_eq!(rdata(&ask_udp(udp, "db-1.db.ns.svc.cluster.local.", RecordType::A).await), ["10.42.0.6"]);
        assert_eq!(rdata(&ask_udp(udp, "10-42-0-5.db.ns.svc.cluster.local.", RecordType::A).await), ["10.42.0.5"]);
        // Unready: gone from DNS.
        assert_eq!(ask_udp(udp, "db-2.db.ns.svc.cluster.local.", RecordType::A).await.metadata.response_code, ResponseCode::NXDomain);
        let srv = ask_udp(udp, "_pg._tcp.db.ns.svc.cluster.local.", RecordType::SRV).await;
        let mut targets = rdata(&srv);
        targets.sort();
        assert_eq!(targets, ["0 100 5432 db-0.db.ns.svc.cluster.local.", "0 100 5432 db-1.db.ns.svc.cluster.local."]);
        assert_eq!(srv.additionals.len(), 2);
    }

    #[tokio::test]
    async fn srv_for_named_ports_cname_for_external_names_and_pod_names() {
        let (udp, _) = server().await;
        let srv = ask_udp(udp, "_http._tcp.web.ns.svc.cluster.local.", RecordType::SRV).await;
        assert_eq!(rdata(&srv), ["0 100 80 web.ns.svc.cluster.local."]);
        assert_eq!(srv.answers[0].name.to_ascii(), "_http._tcp.web.ns.svc.cluster.local.");
        assert_eq!(srv.additionals.iter().map(|r| r.data.to_string()).collect::<Vec<_>>(), ["10.43.0.20"]);
        assert_eq!(ask_udp(udp, "_nope._tcp.web.ns.svc.cluster.local.", RecordType::SRV).await.metadata.response_code, ResponseCode::NXDomain);
        let cname = ask_udp(udp, "ext.ns.svc.cluster.local.", RecordType::A).await;
        assert_eq!(rdata(&cname), ["example.org."]);
        assert!(matches!(cname.answers[0].data, RData::CNAME(_)));
        assert_eq!(rdata(&ask_udp(udp, "10-42-0-9.ns.pod.cluster.local.", RecordType::A).await), ["10.42.0.9"]);
    }
}
