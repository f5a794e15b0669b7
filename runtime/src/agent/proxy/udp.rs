//! One UDP listener of the proxy. UDP has no connections, so the proxy keeps
//! a flow per client address (as conntrack does for kube-proxy): the first
//! datagram picks an endpoint and opens a socket connected to it; later
//! datagrams of that client follow the same flow; replies come back out of
//! the listening socket, so the client sees them from the address it asked.
//! A flow idle for [`IDLE`] is dropped and the next datagram picks anew.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::UdpSocket;
use tokio::task::JoinHandle;

use super::dial::Dialer;
use super::listeners::Target;
use super::model::Protocol;
use super::table::{ServicePortRef, ServiceTable};

const IDLE: Duration = Duration::from_secs(30);
/// A datagram can be at most this big.
const MAX_DATAGRAM: usize = 65536;

struct Flow {
    upstream: Arc<UdpSocket>,
    /// Carries replies back; ends when the flow has been idle for [`IDLE`].
    replies: JoinHandle<()>,
}

impl Drop for Flow {
    fn drop(&mut self) {
        self.replies.abort();
    }
}

/// Relays until dropped; dropping ends every flow.
pub async fn serve(socket: UdpSocket, target: Target, table: ServiceTable, dialer: Dialer) {
    let socket = Arc::new(socket);
    let mut flows: HashMap<SocketAddr, Flow> = HashMap::new();
    let mut buf = vec![0u8; MAX_DATAGRAM];
    loop {
        let (len, client) = match socket.recv_from(&mut buf).await {
            Ok(got) => got,
            Err(err) => {
                // An ICMP error for an earlier reply and the like: not fatal.
                tracing::debug!(service = %target.service, error = %err, "proxy UDP receive failed");
                continue;
            }
        };
        if flows.get(&client).is_some_and(|f| f.replies.is_finished()) {
            flows.remove(&client);
        }
        if !flows.contains_key(&client) {
            flows.retain(|_, f| !f.replies.is_finished());
            match open_flow(&socket, client, &target, &table, &dialer).await {
                Some(flow) => {
                    flows.insert(client, flow);
                }
                None => continue,
            }
        }
        if let Some(flow) = flows.get(&client) {
            if let Err(err) = flow.upstream.send(&buf[..len]).await {
                tracing::debug!(service = %target.service, error = %err, "proxy UDP send failed");
                flows.remove(&client);
            }
        }
    }
}

async fn open_flow(socket: &Arc<UdpSocket>, client: SocketAddr, target: &Target, table: &ServiceTable, dialer: &Dialer) -> Option<Flow> {
    let Some(endpoint) =
        table.pick_protocol(&target.service.namespace, &target.service.name, ServicePortRef::Number(target.port), Protocol::Udp, Some(client.ip()))
    else {
        tracing::debug!(service = %target.service, port = target.port, %client, "no ready endpoint: datagram dropped");
        return None;
    };
    let upstream = match dialer.udp(endpoint, &target.service).await {
        Ok(s) => Arc::new(s),
        Err(err) => {
            tracing::debug!(service = %target.service, %endpoint, error = %err, "could not open a UDP flow");
            return None;
        }
    };
    let replies = tokio::spawn(relay_replies(upstream.clone(), socket.clone(), client));
    Some(Flow { upstream, replies })
}

async fn relay_replies(upstream: Arc<UdpSocket>, socket: Arc<UdpSocket>, client: SocketAddr) {
    let mut buf = vec![0u8; MAX_DATAGRAM];
    // Replies keep a flow alive; a client that only sends gets a fresh pick after IDLE,
    // which is what kube-proxy's conntrack timeout does too.
    while let Ok(Ok(len)) = tokio::time::timeout(IDLE, upstream.recv(&mut buf)).await {
        if socket.send_to(&buf[..len], client).await.is_err() {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::listeners::Exposure;
    use super::super::model::fixtures::*;
    use super::super::model::{ServiceInfo, ServiceKey, SliceInfo};
    use super::*;

    #[tokio::test]
    async fn datagrams_reach_an_endpoint_and_replies_come_back_from_the_service_address() {
        let echo = UdpSocket::bind("127.0.0.1:0").await.expect("bind");
        let echo_addr = echo.local_addr().expect("addr");
        tokio::spawn(async move {
            let mut buf = [0u8; 64];
            while let Ok((n, from)) = echo.recv_from(&mut buf).await {
                let mut reply = b"echo:".to_vec();
                reply.extend_from_slice(&buf[..n]);
                let _ = echo.send_to(&reply, from).await;
            }
        });
        let table = ServiceTable::default();
        table.replace_services(vec![ServiceInfo::from_service(&service("ns", "dns", "10.43.0.30", &[("dns", 53, "UDP")])).expect("svc")]);
        let s = slice("ns", "dns", "dns-a", &[("dns", i32::from(echo_addr.port()), "UDP")], &[("127.0.0.1", true, false, None)]);
        table.replace_slices(vec![("ns".into(), "dns-a".into(), SliceInfo::from_slice(&s).expect("slice"))]);

        let front = UdpSocket::bind("127.0.0.1:0").await.expect("bind");
        let front_addr = front.local_addr().expect("addr");
        let target = Target { service: ServiceKey::new("ns", "dns"), port: 53, exposure: Exposure::ClusterIp };
        let serving = tokio::spawn(serve(front, target, table, Dialer::loopback_for_tests()));

        let client = UdpSocket::bind("127.0.0.1:0").await.expect("bind");
        client.connect(front_addr).await.expect("connect");
        let mut buf = [0u8; 64];
        for word in ["one", "two"] {
            client.send(word.as_bytes()).await.expect("send");
            let n = tokio::time::timeout(Duration::from_secs(2), client.recv(&mut buf)).await.expect("a reply in time").expect("recv");
            assert_eq!(&buf[..n], format!("echo:{word}").as_bytes());
        }
        serving.abort();
    }
}
