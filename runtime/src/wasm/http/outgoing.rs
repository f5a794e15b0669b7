//! Outgoing requests of a `wasi:http` component (`wasi:http/outgoing-handler`), sent from the
//! pod: the name is looked up with the pod's DNS servers, the address must pass the pod's egress
//! policy (the cluster's networks only), and the connection is made inside the pod's network
//! namespace. wasmtime-wasi-http's default would connect from the agent's own namespace with the
//! agent's resolver, past all of that. Plain HTTP only: TLS to a destination outside the cluster
//! is egress, which is closed, and in-cluster TLS is not offered.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use http_body_util::BodyExt;
use hyper_util::rt::TokioIo;
use wasmtime_wasi::sockets::SocketAddrUse;
use wasmtime_wasi_http::{Error, RequestOptions, WasiBody};

use crate::wasm::net::policy::{AddrPolicy, Verdict};
use crate::wasm::net::PodNet;

const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
const FIRST_BYTE_TIMEOUT: Duration = Duration::from_secs(60);

/// What the hook hands back to wasmtime-wasi-http: the response and a future for errors of the
/// rest of the exchange.
pub type Sent = (http::Response<WasiBody>, Box<dyn std::future::Future<Output = Result<(), Error>> + Send>);

/// Sends `request` from inside `pod`.
pub async fn send_from_pod(pod: Arc<PodNet>, mut request: http::Request<WasiBody>, options: Option<RequestOptions>) -> Result<Sent, Error> {
    let uri = request.uri().clone();
    if uri.scheme() != Some(&http::uri::Scheme::HTTP) {
        tracing::info!(%uri, "wasi:http request refused: only plain HTTP inside the cluster");
        return Err(Error::HttpRequestDenied);
    }
    let authority = uri.authority().ok_or(Error::HttpRequestUriInvalid)?;
    let port = authority.port_u16().unwrap_or(80);
    let ip = resolve(&pod, authority.host()).await?;
    let addr = SocketAddr::new(ip, port);
    let policy = AddrPolicy { pod_ip: pod.ip, cluster: pod.cluster.clone() };
    if policy.judge(addr, SocketAddrUse::TcpConnect) != Verdict::Allowed {
        tracing::info!(%uri, %addr, "wasi:http request refused: pods reach only the cluster's networks");
        return Err(Error::DestinationIpProhibited);
    }
    let connect_timeout = options.and_then(|o| o.connect_timeout).unwrap_or(CONNECT_TIMEOUT);
    let stream = match tokio::time::timeout(connect_timeout, pod.netns.tcp_connect(addr)).await {
        Ok(Ok(stream)) => stream,
        Ok(Err(e)) if e.kind() == std::io::ErrorKind::ConnectionRefused => return Err(Error::ConnectionRefused),
        Ok(Err(e)) => return Err(Error::Connect(e)),
        Err(_) => return Err(Error::ConnectionTimeout),
    };
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    // Drives the connection until the exchange is over (the response body read or dropped).
    tokio::spawn(async move {
        if let Err(e) = conn.await {
            tracing::debug!(error = %e, "wasi:http outgoing connection");
        }
    });
    // The request line carries the path only (the Host header names the authority).
    let path = uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
    *request.uri_mut() = http::Uri::builder().path_and_query(path).build().map_err(|_| Error::HttpRequestUriInvalid)?;
    let first_byte = options.and_then(|o| o.first_byte_timeout).unwrap_or(FIRST_BYTE_TIMEOUT);
    let response = tokio::time::timeout(first_byte, sender.send_request(request)).await.map_err(|_| Error::ConnectionReadTimeout)??;
    let response = response.map(|body| body.map_err(Error::from).boxed_unsync());
    Ok((response, Box::new(std::future::ready(Ok(())))))
}

/// An address for `host`: an IP literal, or the first A record the pod's DNS servers give.
async fn resolve(pod: &PodNet, host: &str) -> Result<IpAddr, Error> {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if let Ok(ip) = host.parse::<IpAddr>() {
        return Ok(ip.to_canonical());
    }
    let Some(resolver) = &pod.resolver else { return Err(Error::DnsError { rcode: None, info_code: None }) };
    let socket = pod
        .netns
        .udp_socket(SocketAddr::from((Ipv4Addr::UNSPECIFIED, 0)))
        .map_err(|e| Error::InternalError(Some(format!("a DNS socket in the pod: {e}"))))?;
    match resolver.resolve(socket, host.to_owned()).await {
        Ok(ips) => ips.first().copied().ok_or(Error::DestinationNotFound),
        Err(wasmtime_wasi::p2::bindings::sockets::network::ErrorCode::NameUnresolvable) => {
            Err(Error::DnsError { rcode: Some("NXDOMAIN".into()), info_code: None })
        }
        Err(_) => Err(Error::DnsTimeout),
    }
}
