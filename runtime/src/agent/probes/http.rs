//! httpGet probes, as the kubelet sends them: `GET` with `User-Agent:
//! kube-probe/1.32` and `Accept: */*` unless the probe's headers say
//! otherwise, `Connection: close` (the kubelet's probe transport keeps no
//! connections), redirects followed up to ten times while they stay on the
//! same host, and a status from 200 to 399 counting as healthy (a redirect
//! to another host ends the probe as a success, the kubelet's "Probe
//! terminated redirects"). HTTPS skips certificate verification.

use std::fmt;
use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use http::header::{HeaderName, HeaderValue, ACCEPT, CONNECTION, HOST, LOCATION, USER_AGENT};
use http::{Request, StatusCode, Uri};
use http_body_util::Empty;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite};

use super::target::{dial_error, Endpoint};
use super::tls;

/// The kubelet's probe User-Agent (`kube-probe/<major>.<minor>` of the version we speak).
pub const USER_AGENT_VALUE: &str = "kube-probe/1.32";
/// Go's http.Client gives up after ten redirects.
const MAX_REDIRECTS: usize = 10;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scheme {
    Http,
    Https,
}

impl Scheme {
    fn as_str(self) -> &'static str {
        match self {
            Scheme::Http => "http",
            Scheme::Https => "https",
        }
    }
}

/// One probe's request, its port already resolved.
#[derive(Clone, Debug)]
pub struct HttpGet {
    pub scheme: Scheme,
    pub port: u16,
    /// Path and query as written in the probe (`/healthz?full=1`); empty means `/`.
    pub path: String,
    /// `httpHeaders`, in order.
    pub headers: Vec<(String, String)>,
}

/// Where one request of the chain goes.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Url {
    scheme: Scheme,
    host: String,
    port: u16,
    path: String,
}

impl fmt::Display for Url {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}://{}{}", self.scheme.as_str(), self.authority(), self.path)
    }
}

impl Url {
    fn authority(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }

    /// The target of a `Location` header, relative to this URL; `None` when it is not HTTP(S).
    fn join(&self, location: &str) -> Option<Url> {
        let location = location.split('#').next().unwrap_or_default();
        if location.starts_with("//") {
            return absolute(&format!("{}:{location}", self.scheme.as_str()));
        }
        if location.contains("://") {
            return absolute(location);
        }
        let path = if location.starts_with('/') {
            location.to_string()
        } else {
            let base = self.path.split('?').next().unwrap_or("/");
            let dir = &base[..base.rfind('/').map_or(0, |i| i + 1)];
            format!("{}{location}", if dir.is_empty() { "/" } else { dir })
        };
        Some(Url { path, ..self.clone() })
    }
}

fn absolute(text: &str) -> Option<Url> {
    let uri: Uri = text.parse().ok()?;
    let scheme = match uri.scheme_str()? {
        s if s.eq_ignore_ascii_case("http") => Scheme::Http,
        s if s.eq_ignore_ascii_case("https") => Scheme::Https,
        _ => return None,
    };
    let host = uri.host()?.trim_start_matches('[').trim_end_matches(']').to_string();
    let port = uri.port_u16().unwrap_or(if scheme == Scheme::Https { 443 } else { 80 });
    let path = uri.path_and_query().map(|p| p.as_str().to_string()).filter(|p| !p.is_empty()).unwrap_or_else(|| "/".into());
    Some(Url { scheme, host, port, path })
}

/// One httpGet probe against `endpoint`: `Ok(())` or the kubelet's failure message.
pub async fn probe(endpoint: &Endpoint, get: &HttpGet, timeout: Duration) -> Result<(), String> {
    let path = match get.path.as_str() {
        "" => "/".to_string(),
        p if p.starts_with('/') => p.to_string(),
        p => format!("/{p}"),
    };
    let first = Url { scheme: get.scheme, host: endpoint.ip.to_string(), port: get.port, path };
    match tokio::time::timeout(timeout, follow(endpoint, get, first.clone())).await {
        Ok(result) => result,
        Err(_) => Err(format!("Get \"{first}\": context deadline exceeded (Client.Timeout exceeded while awaiting headers)")),
    }
}

async fn follow(endpoint: &Endpoint, get: &HttpGet, mut url: Url) -> Result<(), String> {
    let origin = url.host.clone();
    for redirects in 0..=MAX_REDIRECTS {
        let (status, location) = fetch(endpoint, get, &url).await.map_err(|e| format!("Get \"{url}\": {e}"))?;
        let next = is_followed(status).then(|| location.and_then(|l| url.join(&l))).flatten();
        match next {
            // Same host: followed, like Go's client; another host ends the chain here.
            Some(next) if next.host == origin => {
                if redirects == MAX_REDIRECTS {
                    return Err(format!("Get \"{next}\": stopped after {MAX_REDIRECTS} redirects"));
                }
                url = next;
            }
            _ => return verdict(status),
        }
    }
    Err(format!("Get \"{url}\": stopped after {MAX_REDIRECTS} redirects"))
}

fn is_followed(status: StatusCode) -> bool {
    matches!(status.as_u16(), 301 | 302 | 303 | 307 | 308)
}

fn verdict(status: StatusCode) -> Result<(), String> {
    if (200..400).contains(&status.as_u16()) {
        Ok(())
    } else {
        Err(format!("HTTP probe failed with statuscode: {}", status.as_u16()))
    }
}

/// One request on a fresh connection: the status and any `Location`.
async fn fetch(endpoint: &Endpoint, get: &HttpGet, url: &Url) -> Result<(StatusCode, Option<String>), String> {
    let request = build_request(get, url)?;
    let addr = SocketAddr::new(endpoint.ip, url.port);
    let stream = endpoint.connect(url.port).await.map_err(|e| dial_error(addr, &e))?;
    match url.scheme {
        Scheme::Http => exchange(stream, request).await,
        Scheme::Https => {
            let connector = tokio_rustls::TlsConnector::from(tls::insecure_client()?);
            let name = rustls::pki_types::ServerName::from(endpoint.ip);
            let stream = connector.connect(name, stream).await.map_err(|e| format!("remote error: tls: {e}"))?;
            exchange(stream, request).await
        }
    }
}

fn build_request(get: &HttpGet, url: &Url) -> Result<Request<Empty<Bytes>>, String> {
    let has = |name: &str| get.headers.iter().any(|(k, _)| k.eq_ignore_ascii_case(name));
    let mut request = Request::get(url.path.as_str()).body(Empty::new()).map_err(|e| format!("invalid probe path {:?}: {e}", url.path))?;
    let headers = request.headers_mut();
    let value = |v: &str| HeaderValue::from_str(v).map_err(|_| format!("invalid header value {v:?}"));
    headers.insert(HOST, value(&url.authority())?);
    if !has("user-agent") {
        headers.insert(USER_AGENT, HeaderValue::from_static(USER_AGENT_VALUE));
    }
    if !has("accept") {
        headers.insert(ACCEPT, HeaderValue::from_static("*/*"));
    }
    headers.insert(CONNECTION, HeaderValue::from_static("close"));
    // The probe's own headers win (a Host header names the virtual host); an empty
    // Accept removes it, as the kubelet does.
    let mut replaced: Vec<HeaderName> = Vec::new();
    for (name, v) in &get.headers {
        let name = HeaderName::from_bytes(name.as_bytes()).map_err(|_| format!("invalid header name {name:?}"))?;
        if name == ACCEPT && v.is_empty() {
            headers.remove(ACCEPT);
            continue;
        }
        if !replaced.contains(&name) {
            headers.remove(&name);
            replaced.push(name.clone());
        }
        headers.append(name, value(v)?);
    }
    Ok(request)
}

async fn exchange<IO>(io: IO, request: Request<Empty<Bytes>>) -> Result<(StatusCode, Option<String>), String>
where
    IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(io)).await.map_err(|e| e.to_string())?;
    let driver = tokio::spawn(connection);
    let response = sender.send_request(request).await;
    // Only the status matters; closing now also closes the socket.
    driver.abort();
    let response = response.map_err(|e| e.to_string())?;
    let location = response.headers().get(LOCATION).and_then(|l| l.to_str().ok()).map(str::to_string);
    Ok((response.status(), location))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{IpAddr, Ipv4Addr};
    use std::sync::{Arc, Mutex};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    /// A real server on 127.0.0.1 answering each path as `route` says (`None`: never answers).
    /// Returns its port and the request heads it saw.
    async fn serve(route: fn(&str) -> Option<String>) -> (u16, Arc<Mutex<Vec<String>>>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = seen.clone();
        tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                let log = log.clone();
                tokio::spawn(async move {
                    let Some(head) = crate::agent::test_http::read_request_head(&mut stream).await else { return };
                    let head = String::from_utf8_lossy(&head).to_string();
                    let path = head.split_whitespace().nth(1).unwrap_or_default().to_string();
                    log.lock().unwrap().push(head);
                    match route(&path) {
                        Some(response) => {
                            let _ = stream.write_all(response.as_bytes()).await;
                        }
                        None => tokio::time::sleep(Duration::from_secs(30)).await,
                    }
                });
            }
        });
        (port, seen)
    }

    fn reply(status: &str, extra: &str) -> Option<String> {
        Some(format!("HTTP/1.1 {status}\r\nContent-Length: 2\r\nConnection: close\r\n{extra}\r\nok"))
    }

    fn routes(path: &str) -> Option<String> {
        match path {
            "/ok" => reply("200 OK", ""),
            "/down" => reply("503 Service Unavailable", ""),
            "/missing" => reply("404 Not Found", ""),
            "/hang" => None,
            "/moved" => reply("302 Found", "Location: /down\r\n"),
            "/away" => reply("302 Found", "Location: http://elsewhere.example/\r\n"),
            "/loop" => reply("302 Found", "Location: loop\r\n"),
            _ => reply("200 OK", ""),
        }
    }

    fn local() -> Endpoint {
        Endpoint { ip: IpAddr::V4(Ipv4Addr::LOCALHOST), netns: None }
    }

    fn get(port: u16, path: &str) -> HttpGet {
        HttpGet { scheme: Scheme::Http, port, path: path.into(), headers: Vec::new() }
    }

    const SECOND: Duration = Duration::from_secs(1);

    #[tokio::test]
    async fn status_decides() {
        let (port, seen) = serve(routes).await;
        assert_eq!(probe(&local(), &get(port, "/ok"), SECOND).await, Ok(()));
        assert_eq!(probe(&local(), &get(port, "/down"), SECOND).await, Err("HTTP probe failed with statuscode: 503".into()));
        assert_eq!(probe(&local(), &get(port, "/missing"), SECOND).await, Err("HTTP probe failed with statuscode: 404".into()));
        let head = seen.lock().unwrap()[0].to_lowercase();
        assert!(head.starts_with("get /ok http/1.1\r\n"), "{head}");
        assert!(head.contains("user-agent: kube-probe/1.32\r\n"), "{head}");
        assert!(head.contains("accept: */*\r\n"), "{head}");
        assert!(head.contains(&format!("host: 127.0.0.1:{port}\r\n")), "{head}");
    }

    #[tokio::test]
    async fn headers_of_the_probe_win() {
        let (port, seen) = serve(routes).await;
        let mut request = get(port, "ok?full=1");
        request.headers = vec![("Host".into(), "web.example".into()), ("X-Probe".into(), "yes".into()), ("User-Agent".into(), "mine".into())];
        assert_eq!(probe(&local(), &request, SECOND).await, Ok(()));
        let head = seen.lock().unwrap()[0].to_lowercase();
        assert!(head.starts_with("get /ok?full=1 http/1.1\r\n"), "{head}");
        assert!(head.contains("host: web.example\r\n") && !head.contains("host: 127"), "{head}");
        assert!(head.contains("x-probe: yes\r\n") && head.contains("user-agent: mine\r\n"), "{head}");
    }

    #[tokio::test]
    async fn timeout_fails_in_time() {
        let (port, _) = serve(routes).await;
        let started = std::time::Instant::now();
        let err = probe(&local(), &get(port, "/hang"), Duration::from_millis(300)).await.unwrap_err();
        assert!(started.elapsed() < Duration::from_secs(2));
        assert_eq!(err, format!("Get \"http://127.0.0.1:{port}/hang\": context deadline exceeded (Client.Timeout exceeded while awaiting headers)"));
    }

    #[tokio::test]
    async fn redirects() {
        let (port, seen) = serve(routes).await;
        // Followed on the same host: the final 503 decides.
        assert_eq!(probe(&local(), &get(port, "/moved"), SECOND).await, Err("HTTP probe failed with statuscode: 503".into()));
        assert_eq!(seen.lock().unwrap().len(), 2);
        // To another host: the 302 itself counts as success, nothing is dialed there.
        assert_eq!(probe(&local(), &get(port, "/away"), SECOND).await, Ok(()));
        assert_eq!(seen.lock().unwrap().len(), 3);
        let err = probe(&local(), &get(port, "/loop"), SECOND).await.unwrap_err();
        assert_eq!(err, format!("Get \"http://127.0.0.1:{port}/loop\": stopped after 10 redirects"));
        assert_eq!(seen.lock().unwrap().len(), 3 + 11);
    }

    #[tokio::test]
    async fn refused_connection_reads_like_the_kubelet() {
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let err = probe(&local(), &get(port, "/"), SECOND).await.unwrap_err();
        assert_eq!(err, format!("Get \"http://127.0.0.1:{port}/\": dial tcp 127.0.0.1:{port}: connect: connection refused"));
    }

    #[tokio::test]
    async fn https_skips_certificate_verification() {
        use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
        // A self-signed certificate for a name the probe never asks for.
        let generated = rcgen::generate_simple_self_signed(vec!["pod.invalid".to_string()]).unwrap();
        let cert = CertificateDer::from(generated.cert.der().to_vec());
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(generated.signing_key.serialize_der()));
        let config = rustls::ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(vec![cert], key)
            .unwrap();
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let Ok(mut tls) = acceptor.accept(stream).await else { continue };
                let mut buf = [0u8; 1024];
                let _ = tls.read(&mut buf).await;
                let _ = tls.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n").await;
                let _ = tls.shutdown().await;
            }
        });
        let request = HttpGet { scheme: Scheme::Https, port, path: "/healthz".into(), headers: Vec::new() };
        assert_eq!(probe(&local(), &request, SECOND).await, Ok(()));
        // Plain HTTP to a TLS port is not a success.
        assert!(probe(&local(), &get(port, "/healthz"), SECOND).await.is_err());
    }

    #[test]
    fn locations_resolve() {
        let base = Url { scheme: Scheme::Http, host: "10.42.0.5".into(), port: 8080, path: "/a/b?x=1".into() };
        assert_eq!(base.join("/c").unwrap().path, "/c");
        assert_eq!(base.join("c").unwrap().path, "/a/c");
        let other = base.join("https://10.42.0.5/z").unwrap();
        assert_eq!((other.scheme, other.port, other.path.as_str()), (Scheme::Https, 443, "/z"));
        assert_eq!(base.join("//h.example:9/q").unwrap().host, "h.example");
        assert!(base.join("ftp://x/").is_none());
    }
}
