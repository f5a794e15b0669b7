//! The HTTP/1.1 reverse proxy: clients keep their connections alive; each
//! request is routed by host and path, sent to a ready endpoint of the
//! backend Service (picked by the service proxy's table, dialled from the
//! node network namespace) on a new upstream connection, and the response
//! streams back. 404 when no rule matches, 503 when the backend has no ready
//! endpoint, 502 when the endpoint cannot be reached, 504 when it does not
//! start answering within a minute. Upgrades (WebSocket) that the backend
//! accepts become a byte pipe between the two connections.

use std::convert::Infallible;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use bytes::Bytes;
use http::header::{HeaderMap, HeaderName, HeaderValue, CONNECTION, HOST, UPGRADE};
use http::{Request, Response, StatusCode, Uri, Version};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinSet;

use super::rules::{Backend, PortRef, Routes};
use crate::agent::proxy::dial::Dialer;
use crate::agent::proxy::{ServiceKey, ServicePortRef, ServiceTable};

type Body = BoxBody<Bytes, hyper::Error>;

/// How long a backend may take to start its response (nginx's proxy_read_timeout).
const UPSTREAM_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(60);

/// Headers that describe one hop's connection, never forwarded (RFC 9110 7.6.1).
const HOP_BY_HOP: &[&str] = &["connection", "keep-alive", "proxy-connection", "proxy-authenticate", "proxy-authorization", "te", "trailer", "transfer-encoding", "upgrade"];

/// Ready endpoints of Services: the service proxy's [`ServiceTable`] (a stand-in in tests).
pub trait Backends: Send + Sync + 'static {
    fn pick(&self, namespace: &str, service: &str, port: ServicePortRef<'_>, client: Option<IpAddr>) -> Option<SocketAddr>;
}

impl Backends for ServiceTable {
    fn pick(&self, namespace: &str, service: &str, port: ServicePortRef<'_>, client: Option<IpAddr>) -> Option<SocketAddr> {
        ServiceTable::pick(self, namespace, service, port, client)
    }
}

pub struct IngressProxy {
    routes: watch::Receiver<Arc<Routes>>,
    services: Arc<dyn Backends>,
    dialer: Dialer,
    /// The port clients reached us on, for `X-Forwarded-Port`.
    port: u16,
}

impl IngressProxy {
    pub fn new(routes: watch::Receiver<Arc<Routes>>, services: Arc<dyn Backends>, dialer: Dialer, port: u16) -> Arc<Self> {
        Arc::new(IngressProxy { routes, services, dialer, port })
    }

    /// Serves connections from `listener` until dropped (dropping closes them all).
    pub async fn serve(self: Arc<Self>, listener: TcpListener) {
        let mut connections = JoinSet::new();
        loop {
            tokio::select! {
                accepted = listener.accept() => match accepted {
                    Ok((stream, peer)) => {
                        let _ = stream.set_nodelay(true);
                        let proxy = self.clone();
                        connections.spawn(async move {
                            let service = service_fn(move |req| proxy.clone().handle(peer, req));
                            let served = hyper::server::conn::http1::Builder::new()
                                .keep_alive(true)
                                .serve_connection(TokioIo::new(stream), service)
                                .with_upgrades()
                                .await;
                            if let Err(err) = served {
                                tracing::debug!(client = %peer, error = %err, "ingress connection ended");
                            }
                        });
                    }
                    Err(err) => {
                        // Out of file descriptors and the like: wait a little rather than spin.
                        tracing::warn!(error = %err, "ingress accept failed");
                        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                    }
                },
                Some(_) = connections.join_next(), if !connections.is_empty() => {}
            }
        }
    }

    async fn handle(self: Arc<Self>, peer: SocketAddr, req: Request<Incoming>) -> Result<Response<Body>, Infallible> {
        let host = request_host(&req);
        let routes = self.routes.borrow().clone();
        let Some(backend) = routes.route(&host, req.uri().path()).cloned() else {
            return Ok(text(StatusCode::NOT_FOUND, "404 page not found\n".into()));
        };
        let (namespace, service, port) = match backend {
            Backend::Service { namespace, name, port } => (namespace, name, port),
            Backend::Unsupported(why) => return Ok(text(StatusCode::SERVICE_UNAVAILABLE, format!("503 Service Unavailable: {why}\n"))),
        };
        let port_ref = match &port {
            PortRef::Number(n) => ServicePortRef::Number(*n),
            PortRef::Name(name) => ServicePortRef::Name(name),
        };
        let Some(endpoint) = self.services.pick(&namespace, &service, port_ref, Some(peer.ip())) else {
            let shown = match &port {
                PortRef::Number(n) => n.to_string(),
                PortRef::Name(name) => name.clone(),
            };
            return Ok(text(StatusCode::SERVICE_UNAVAILABLE, format!("503 Service Unavailable: no ready endpoint for service {namespace}/{service}:{shown}\n")));
        };
        let key = ServiceKey::new(&namespace, &service);
        Ok(match self.forward(peer.ip(), &host, endpoint, &key, req).await {
            Ok(response) => response,
            Err(why) => {
                tracing::debug!(service = %key, %endpoint, error = %why, "ingress upstream failed");
                text(StatusCode::BAD_GATEWAY, "502 Bad Gateway\n".into())
            }
        })
    }

    /// One request to `endpoint` on a new connection. An upgrade (WebSocket) that the
    /// backend accepts with 101 turns both connections into one byte pipe.
    async fn forward(&self, client: IpAddr, host: &str, endpoint: SocketAddr, key: &ServiceKey, mut req: Request<Incoming>) -> Result<Response<Body>, String> {
        let upgrade = requested_upgrade(req.headers());
        let client_side = upgrade.is_some().then(|| hyper::upgrade::on(&mut req));
        let stream = self.dialer.tcp(endpoint, key).await.map_err(|e| e.to_string())?;
        let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await.map_err(|e| e.to_string())?;
        // Runs until the response body is read (or the client goes away), or the upgraded pipe ends.
        tokio::spawn(async move {
            let _ = connection.with_upgrades().await;
        });
        let mut upstream = self.upstream_request(client, host, req)?;
        if let Some(protocol) = &upgrade {
            upstream.headers_mut().insert(CONNECTION, HeaderValue::from_static("upgrade"));
            upstream.headers_mut().insert(UPGRADE, protocol.clone());
        }
        let mut response = match tokio::time::timeout(UPSTREAM_TIMEOUT, sender.send_request(upstream)).await {
            Ok(response) => response.map_err(|e| e.to_string())?,
            Err(_) => return Ok(text(StatusCode::GATEWAY_TIMEOUT, "504 Gateway Timeout\n".into())),
        };
        let switched = response.status() == StatusCode::SWITCHING_PROTOCOLS;
        let upgraded_protocol = response.headers().get(UPGRADE).cloned();
        if let (true, Some(client_side)) = (switched, client_side) {
            let server_side = hyper::upgrade::on(&mut response);
            tokio::spawn(async move {
                let (Ok(client_io), Ok(server_io)) = (client_side.await, server_side.await) else { return };
                let _ = tokio::io::copy_bidirectional(&mut TokioIo::new(client_io), &mut TokioIo::new(server_io)).await;
            });
        }
        let (mut parts, body) = response.into_parts();
        strip_hop_by_hop(&mut parts.headers);
        if switched {
            parts.headers.insert(CONNECTION, HeaderValue::from_static("upgrade"));
            if let Some(protocol) = upgraded_protocol {
                parts.headers.insert(UPGRADE, protocol);
            }
        }
        Ok(Response::from_parts(parts, body.boxed()))
    }

    fn upstream_request(&self, client: IpAddr, host: &str, req: Request<Incoming>) -> Result<Request<Incoming>, String> {
        let (mut parts, body) = req.into_parts();
        let origin = parts.uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
        parts.uri = origin.parse::<Uri>().map_err(|e| e.to_string())?;
        parts.version = Version::HTTP_11;
        strip_hop_by_hop(&mut parts.headers);
        let headers = &mut parts.headers;
        if !headers.contains_key(HOST) && !host.is_empty() {
            headers.insert(HOST, value(host)?);
        }
        let forwarded_for = match headers.get("x-forwarded-for").and_then(|v| v.to_str().ok()) {
            Some(earlier) => format!("{earlier}, {client}"),
            None => client.to_string(),
        };
        let original_host = headers.get(HOST).cloned();
        headers.insert(HeaderName::from_static("x-forwarded-for"), value(&forwarded_for)?);
        headers.insert(HeaderName::from_static("x-forwarded-proto"), HeaderValue::from_static("http"));
        headers.insert(HeaderName::from_static("x-forwarded-port"), value(&self.port.to_string())?);
        headers.insert(HeaderName::from_static("x-real-ip"), value(&client.to_string())?);
        if let Some(original) = original_host {
            headers.insert(HeaderName::from_static("x-forwarded-host"), original);
        }
        Ok(Request::from_parts(parts, body))
    }
}

/// The protocol a request asks to switch to (`Connection: upgrade` + `Upgrade`).
fn requested_upgrade(headers: &HeaderMap) -> Option<HeaderValue> {
    let asks = headers.get_all(CONNECTION).iter().filter_map(|v| v.to_str().ok()).flat_map(|v| v.split(',')).any(|t| t.trim().eq_ignore_ascii_case("upgrade"));
    asks.then(|| headers.get(UPGRADE).cloned()).flatten()
}

/// The request's host without port, lowercase: the Host header, or the authority of
/// an absolute-form request line.
fn request_host<B>(req: &Request<B>) -> String {
    let raw = req.headers().get(HOST).and_then(|h| h.to_str().ok()).map(str::to_string).or_else(|| req.uri().authority().map(|a| a.to_string())).unwrap_or_default();
    strip_port(&raw).to_ascii_lowercase()
}

fn strip_port(host: &str) -> &str {
    if let Some(rest) = host.strip_prefix('[') {
        return rest.split(']').next().unwrap_or_default();
    }
    match host.rsplit_once(':') {
        Some((name, port)) if port.chars().all(|c| c.is_ascii_digit()) => name,
        _ => host,
    }
}

fn strip_hop_by_hop(headers: &mut HeaderMap) {
    // Headers the Connection header names are this hop's too.
    let named: Vec<String> = headers
        .get_all(CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(',').map(|s| s.trim().to_ascii_lowercase()))
        .filter(|s| !s.is_empty())
        .collect();
    for name in HOP_BY_HOP.iter().copied().chain(named.iter().map(String::as_str)) {
        headers.remove(name);
    }
}

fn value(text: &str) -> Result<HeaderValue, String> {
    HeaderValue::from_str(text).map_err(|_| format!("invalid header value {text:?}"))
}

fn text(status: StatusCode, body: String) -> Response<Body> {
    let mut response = Response::new(Full::new(Bytes::from(body)).map_err(|never| match never {}).boxed());
    *response.status_mut() = status;
    response.headers_mut().insert(http::header::CONTENT_TYPE, HeaderValue::from_static("text/plain; charset=utf-8"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    use std::collections::HashMap;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// Services by name, each with at most one endpoint.
    struct Fake(HashMap<&'static str, SocketAddr>);

    impl Backends for Fake {
        fn pick(&self, _ns: &str, service: &str, _port: ServicePortRef<'_>, _client: Option<IpAddr>) -> Option<SocketAddr> {
            self.0.get(service).copied()
        }
    }

    /// An upstream that answers every request with the request's head as its body.
    async fn echo_server() -> SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                tokio::spawn(async move {
                    let Some(head) = crate::agent::test_http::read_request_head(&mut stream).await else { return };
                    let reply = format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n", head.len());
                    let _ = stream.write_all(reply.as_bytes()).await;
                    let _ = stream.write_all(&head).await;
                });
            }
        });
        addr
    }

    fn routes() -> Routes {
        let backend = |svc: &str| serde_json::json!({"service": {"name": svc, "port": {"number": 80}}});
        let rule = |host: &str, svc: &str| serde_json::json!({"host": host, "http": {"paths": [{"path": "/", "pathType": "Prefix", "backend": backend(svc)}]}});
        let ing: k8s_openapi::api::networking::v1::Ingress = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "i", "namespace": "web"},
            "spec": {"rules": [rule("foo.example", "echo"), rule("down.example", "empty"), rule("refused.example", "refused")]},
        }))
        .unwrap();
        Routes::build(&[&ing])
    }

    #[tokio::test]
    async fn forwards_with_forwarded_headers_over_a_kept_alive_connection() {
        let refused = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap()
        };
        let backends = Fake(HashMap::from([("echo", echo_server().await), ("refused", refused)]));
        let (_tx, rx) = watch::channel(Arc::new(routes()));
        let proxy = IngressProxy::new(rx, Arc::new(backends), Dialer::loopback_for_tests(), 8080);
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(proxy.serve(listener));

        // One client connection for every request below: keep-alive towards clients.
        let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
        let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await.unwrap();
        tokio::spawn(connection);
        let mut get = async |host: &str, path: &str| {
            let req = Request::get(path).header(HOST, host).header("x-forwarded-for", "192.0.2.1").body(http_body_util::Empty::<Bytes>::new()).unwrap();
            let response = sender.send_request(req).await.unwrap();
            let status = response.status().as_u16();
            let body = response.into_body().collect().await.unwrap().to_bytes();
            (status, String::from_utf8_lossy(&body).to_lowercase())
        };
        let (status, seen) = get("Foo.Example:8080", "/a/b?c=1").await;
        assert_eq!(status, 200, "{seen}");
        assert!(seen.starts_with("get /a/b?c=1 http/1.1\r\n"), "{seen}");
        for header in ["host: foo.example:8080", "x-forwarded-for: 192.0.2.1, 127.0.0.1", "x-forwarded-host: foo.example:8080", "x-forwarded-proto: http", "x-forwarded-port: 8080", "x-real-ip: 127.0.0.1"] {
            assert!(seen.contains(&format!("{header}\r\n")), "{header} in {seen}");
        }
        assert_eq!(get("nothing.example", "/").await.0, 404);
        assert_eq!(get("down.example", "/").await.0, 503);
        assert_eq!(get("refused.example", "/").await.0, 502);
        assert_eq!(get("foo.example", "/again").await.0, 200, "the client connection is still open");
    }

    /// An upstream that switches to an echo protocol on `Upgrade: echo`.
    async fn upgrading_server() -> SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                tokio::spawn(async move {
                    let head = read_head(&mut stream).await.to_lowercase();
                    if !head.contains("upgrade: echo\r\n") || !head.contains("connection: upgrade\r\n") {
                        let _ = stream.write_all(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n").await;
                        return;
                    }
                    let _ = stream.write_all(b"HTTP/1.1 101 Switching Protocols\r\nConnection: upgrade\r\nUpgrade: echo\r\n\r\n").await;
                    let (mut r, mut w) = stream.split();
                    let _ = tokio::io::copy(&mut r, &mut w).await;
                });
            }
        });
        addr
    }

    async fn read_head(stream: &mut tokio::net::TcpStream) -> String {
        let mut head = Vec::new();
        let mut byte = [0u8; 1];
        while !head.ends_with(b"\r\n\r\n") {
            match stream.read(&mut byte).await {
                Ok(1) => head.push(byte[0]),
                _ => break,
            }
        }
        String::from_utf8_lossy(&head).to_string()
    }

    #[tokio::test]
    async fn upgrades_become_a_pipe() {
        let backends = Fake(HashMap::from([("echo", upgrading_server().await)]));
        let (_tx, rx) = watch::channel(Arc::new(routes()));
        let proxy = IngressProxy::new(rx, Arc::new(backends), Dialer::loopback_for_tests(), 80);
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(proxy.serve(listener));
        let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
        stream.write_all(b"GET /socket HTTP/1.1\r\nHost: foo.example\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\n").await.unwrap();
        let head = read_head(&mut stream).await.to_lowercase();
        assert!(head.starts_with("http/1.1 101 "), "{head}");
        assert!(head.contains("upgrade: echo\r\n"), "{head}");
        stream.write_all(b"ping").await.unwrap();
        let mut echoed = [0u8; 4];
        tokio::time::timeout(std::time::Duration::from_secs(2), stream.read_exact(&mut echoed)).await.unwrap().unwrap();
        assert_eq!(&echoed, b"ping");
    }

    #[test]
    fn hosts_lose_their_port() {
        assert_eq!(strip_port("foo.example:8080"), "foo.example");
        assert_eq!(strip_port("foo.example"), "foo.example");
        assert_eq!(strip_port("[::1]:80"), "::1");
        assert_eq!(strip_port("10.0.0.1:80"), "10.0.0.1");
    }

    #[test]
    fn hop_by_hop_headers_stay_behind() {
        let mut h = HeaderMap::new();
        h.insert(CONNECTION, HeaderValue::from_static("keep-alive, x-secret"));
        h.insert("x-secret", HeaderValue::from_static("1"));
        h.insert("keep-alive", HeaderValue::from_static("timeout=5"));
        h.insert("x-kept", HeaderValue::from_static("1"));
        strip_hop_by_hop(&mut h);
        assert_eq!(h.keys().map(|k| k.as_str()).collect::<Vec<_>>(), vec!["x-kept"]);
    }
}
