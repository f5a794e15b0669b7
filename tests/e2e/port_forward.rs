//! `kubectl port-forward` through the API server to the node agent (SPDY/3.1
//! inside a WebSocket), checked with plain HTTP requests on the local port
//! kubectl opens: a busybox httpd pod (a 1 MiB+ body intact, with the rate
//! printed), the `svc/NAME` form, a port nothing listens on (the dial error
//! comes back on the error stream for kubectl to print), a pod that is not
//! running, and a wasm pod serving HTTP on its containerPort (httpd.wasm).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::Child;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::harness::{stderr, wait_for, Server, TestRegistry};
use crate::linux_pods::{Cluster, POD_TIMEOUT};

/// A running `kubectl port-forward`, killed when dropped.
struct PortForward {
    child: Child,
    /// Local ports in the order of the remote ports asked for.
    ports: Vec<u16>,
    stderr: mpsc::Receiver<String>,
}

impl PortForward {
    /// Starts `kubectl port-forward --address 127.0.0.1 TARGET :REMOTE...` and waits for its
    /// `Forwarding from 127.0.0.1:LOCAL -> PORT` lines (PORT is the pod's: for `svc/NAME`
    /// kubectl translates the service port).
    fn start(server: &Server, target: &str, remote_ports: &[u16]) -> PortForward {
        let mut args = vec!["port-forward".to_string(), "--address".into(), "127.0.0.1".into(), target.to_string()];
        args.extend(remote_ports.iter().map(|p| format!(":{p}")));
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let mut child = server.kubectl_spawn(&args);
        let (lines_tx, lines_rx) = mpsc::channel();
        let stdout = child.stdout.take().expect("stdout");
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let _ = lines_tx.send(line);
            }
        });
        let (err_tx, err_rx) = mpsc::channel();
        let stderr = child.stderr.take().expect("stderr");
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let _ = err_tx.send(line);
            }
        });
        let mut pf = PortForward { child, ports: Vec::new(), stderr: err_rx };
        let deadline = Instant::now() + Duration::from_secs(20);
        while pf.ports.len() < remote_ports.len() {
            let left = deadline.saturating_duration_since(Instant::now());
            let Ok(line) = lines_rx.recv_timeout(left) else {
                panic!("kubectl port-forward {target} printed no forwarding line; stderr: {}", pf.stderr_text());
            };
            // "Forwarding from 127.0.0.1:41235 -> 80"
            let Some(rest) = line.strip_prefix("Forwarding from 127.0.0.1:") else { continue };
            let (local, _pod_port) = rest.split_once(" -> ").expect("forwarding line");
            pf.ports.push(local.parse().expect("local port"));
        }
        pf
    }

    /// What kubectl wrote to stderr so far.
    fn stderr_text(&self) -> String {
        std::iter::from_fn(|| self.stderr.recv_timeout(Duration::from_millis(200)).ok()).collect::<Vec<_>>().join("\n")
    }

}

impl Drop for PortForward {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `GET path` over HTTP/1.0 to 127.0.0.1:port: the status line and the body.
fn get(port: u16, path: &str) -> (String, Vec<u8>) {
    let raw = exchange(port, format!("GET {path} HTTP/1.0\r\nHost: localhost\r\n\r\n").as_bytes());
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n").unwrap_or_else(|| panic!("no HTTP head in {:?}", String::from_utf8_lossy(&raw)));
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let status = head.lines().next().unwrap_or_default().to_string();
    (status, raw[split + 4..].to_vec())
}

/// Sends `request`, returns everything the other side sends until it closes.
fn exchange(port: u16, request: &[u8]) -> Vec<u8> {
    let mut conn = TcpStream::connect(("127.0.0.1", port)).expect("connect to the forwarded port");
    conn.set_read_timeout(Some(Duration::from_secs(20))).expect("timeout");
    conn.write_all(request).expect("send request");
    let mut raw = Vec::new();
    conn.read_to_end(&mut raw).expect("read reply");
    raw
}

/// `seq 1 200000`, as busybox writes it: 1,288,895 bytes.
fn big_body() -> Vec<u8> {
    (1..=200_000).map(|i| format!("{i}\n")).collect::<String>().into_bytes()
}

/// busybox httpd on port 80: `/` says hello-from-linux, `/big` is `seq 1 200000`, `/zeros` 32 MiB
/// of zeros (for the rate), and the CGI `/cgi-bin/echo` sends a POST body back.
const HTTPD: &str = "mkdir -p /www/cgi-bin && echo hello-from-linux > /www/index.html && seq 1 200000 > /www/big \
    && head -c 33554432 /dev/zero > /www/zeros \
    && echo '#!/bin/sh' > /www/cgi-bin/echo \
    && echo 'echo Content-Type: application/octet-stream; echo; exec head -c $CONTENT_LENGTH' >> /www/cgi-bin/echo \
    && chmod +x /www/cgi-bin/echo && exec httpd -f -p 80 -h /www";

#[test]
fn linux_pod_serves_through_port_forward_with_a_large_body_intact() {
    let Some(c) = Cluster::start() else { return };
    c.run_sh("web", HTTPD, "");
    c.wait_phase("web", "Running");
    let ip = c.server.pod_field("web", "{.status.podIP}");
    assert!(ip.starts_with("10.42."), "the pod has an address of its own: {ip:?}");
    wait_for_httpd(&c.server, "web");
    let pf = PortForward::start(&c.server, "pod/web", &[80]);
    let port = pf.ports[0];
    let (status, body) = get(port, "/");
    assert!(status.contains("200"), "{status}");
    assert_eq!(String::from_utf8_lossy(&body), "hello-from-linux\n");

    let want = big_body();
    let started = Instant::now();
    let (status, body) = get(port, "/big");
    let took = started.elapsed();
    assert!(status.contains("200"), "{status}");
    assert_eq!(body.len(), want.len(), "the whole body came through");
    assert!(body == want, "the body came through unchanged");
    eprintln!("port-forward: {} bytes in {took:?} = {:.1} MB/s", body.len(), body.len() as f64 / took.as_secs_f64() / 1e6);

    // Upload and download: 1 MiB posted to the echo CGI comes back unchanged.
    let upload: Vec<u8> = (0..1u32 << 20).map(|i| (i % 251) as u8).collect();
    let mut request = format!("POST /cgi-bin/echo HTTP/1.0\r\nContent-Length: {}\r\n\r\n", upload.len()).into_bytes();
    request.extend_from_slice(&upload);
    let raw = exchange(port, &request);
    // httpd's status line, then the CGI's own header lines, which end in a bare "\n\n".
    let head_end = raw.windows(2).position(|w| w == b"\n\n").map(|i| i + 2).expect("a CGI head");
    let head = String::from_utf8_lossy(&raw[..head_end]);
    assert!(head.starts_with("HTTP/1.1 200 OK\r\n"), "{head}");
    let echoed = &raw[head_end..];
    assert_eq!(echoed.len(), upload.len(), "the whole upload came back");
    assert!(echoed == upload.as_slice(), "the upload came back unchanged");

    // The rate, on a body large enough to measure.
    let started = Instant::now();
    let (_, zeros) = get(port, "/zeros");
    let took = started.elapsed();
    assert_eq!(zeros.len(), 32 << 20);
    eprintln!("port-forward: 32 MiB in {took:?} = {:.1} MB/s", zeros.len() as f64 / took.as_secs_f64() / 1e6);

    // Several connections at once share the one SPDY session.
    let fetches: Vec<_> = (0..4).map(|_| std::thread::spawn(move || get(port, "/big").1.len())).collect();
    for f in fetches {
        assert_eq!(f.join().expect("fetch"), want.len());
    }
}

/// kubectl 1.32 (client-go's PortForwarder) closes the whole session once an error
/// stream carries a message, and exits with "lost connection to pod", exactly as it does
/// against a kubelet; what this side owes it is the message, and a working forward again.
#[test]
fn a_port_with_nothing_listening_reports_the_dial_error_to_kubectl() {
    let Some(c) = Cluster::start() else { return };
    c.run_sh("web", HTTPD, "");
    c.wait_phase("web", "Running");
    wait_for_httpd(&c.server, "web");
    let mut pf = PortForward::start(&c.server, "pod/web", &[80, 81]);
    let (good, bad) = (pf.ports[0], pf.ports[1]);
    let (status, _) = get(good, "/");
    assert!(status.contains("200"), "{status}");
    // Port 81: the local connection is accepted, then closed without a byte.
    let raw = exchange(bad, b"GET / HTTP/1.0\r\n\r\n");
    assert!(raw.is_empty(), "nothing comes back from a closed port: {:?}", String::from_utf8_lossy(&raw));
    let errors = wait_for_stderr(&pf, "lost connection to pod");
    let want = format!("an error occurred forwarding {bad} -> 81: error forwarding port 81 to pod default/web, uid ");
    assert!(errors.contains(&want), "{errors}");
    assert!(errors.contains("Connection refused"), "{errors}");
    let status = pf.child.wait().expect("kubectl exits");
    assert!(!status.success(), "{errors}");
    // The agent is unharmed: a new forward serves again.
    let pf = PortForward::start(&c.server, "pod/web", &[80]);
    let (status, body) = get(pf.ports[0], "/");
    assert!(status.contains("200"), "{status}");
    assert_eq!(String::from_utf8_lossy(&body), "hello-from-linux\n");
}

/// Waits (up to 30 s) until busybox httpd answers inside `pod`. Before a forward starts: kubectl
/// 1.32 gives up the whole forward at the first connection the pod refuses.
fn wait_for_httpd(server: &Server, pod: &str) {
    wait_for(&format!("httpd in {pod}"), POD_TIMEOUT, || {
        server.kubectl(&["exec", pod, "--", "wget", "-q", "-O", "/dev/null", "http://127.0.0.1:80/"]).status.success().then_some(())
    });
}

/// Collects kubectl's stderr until a line contains `needle` (10 s at most).
fn wait_for_stderr(pf: &PortForward, needle: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut seen = Vec::new();
    while Instant::now() < deadline {
        if let Ok(line) = pf.stderr.recv_timeout(Duration::from_millis(200)) {
            let hit = line.contains(needle);
            seen.push(line);
            if hit {
                return seen.join("\n");
            }
        }
    }
    panic!("kubectl never said {needle:?}; stderr: {}", seen.join("\n"));
}

#[test]
fn svc_form_forwards_to_a_pod_of_the_service_on_its_target_port() {
    let Some(c) = Cluster::start() else { return };
    let Some(registry) = TestRegistry::get() else { return };
    let node = c.server.node_name();
    let manifest = format!(
        r#"
apiVersion: v1
kind: Pod
metadata: {{ name: backend, labels: {{ app: pf-backend }} }}
spec:
  nodeName: {node}
  terminationGracePeriodSeconds: 1
  containers:
  - name: c
    image: {image}
    command: ["sh", "-c", {HTTPD:?}]
    ports: [{{ name: http, containerPort: 80 }}]
---
apiVersion: v1
kind: Service
metadata: {{ name: front }}
spec:
  selector: {{ app: pf-backend }}
  ports: [{{ port: 8080, targetPort: http }}]
"#,
        image = registry.image("busybox:1.0"),
    );
    c.server.kubectl_stdin_ok(&["apply", "-f", "-"], &manifest);
    c.wait_phase("backend", "Running");
    wait_for_httpd(&c.server, "backend");
    // kubectl maps the service port 8080 to the pod's port named http (80).
    let pf = PortForward::start(&c.server, "svc/front", &[8080]);
    let (status, body) = get(pf.ports[0], "/");
    assert!(status.contains("200"), "{status}");
    assert_eq!(String::from_utf8_lossy(&body), "hello-from-linux\n");
}

#[test]
fn a_pod_that_is_not_running_cannot_be_forwarded() {
    let Some(c) = Cluster::start() else { return };
    c.run_sh("finished", "true", "");
    c.wait_phase("finished", "Succeeded");
    let out = c.server.kubectl(&["port-forward", "--address", "127.0.0.1", "pod/finished", ":80"]);
    assert!(!out.status.success());
    assert_eq!(stderr(&out).trim(), "error: unable to forward port because pod is not running. Current status=Succeeded");
}

#[test]
fn wasm_pod_serves_through_port_forward() {
    let s = Server::start_with_samples(&["httpd"]);
    let node = s.node_name();
    let manifest = format!(
        r#"
apiVersion: v1
kind: Pod
metadata: {{ name: wasm-web }}
spec:
  nodeName: {node}
  terminationGracePeriodSeconds: 1
  containers:
  - name: httpd
    image: local/httpd:1.0
    imagePullPolicy: Never
    ports: [{{ containerPort: 8080 }}]
    env: [{{ name: POD_NAME, valueFrom: {{ fieldRef: {{ fieldPath: metadata.name }} }} }}]
"#
    );
    s.kubectl_stdin_ok(&["apply", "-f", "-"], &manifest);
    s.wait_pod_field("wasm-web", "{.status.phase}", "Running", POD_TIMEOUT);
    let ip = s.pod_field("wasm-web", "{.status.podIP}");
    assert!(ip.starts_with("10.42."), "the pod has an address of its own: {ip:?}");
    // The node opens the guest's listening socket before the guest starts: no refused dial.
    let pf = PortForward::start(&s, "pod/wasm-web", &[8080]);
    let (status, body) = get(pf.ports[0], "/healthz");
    assert!(status.contains("200"), "{status}");
    assert_eq!(String::from_utf8_lossy(&body), "ok\n");
    let (status, body) = get(pf.ports[0], "/");
    assert!(status.contains("200"), "{status}");
    assert_eq!(String::from_utf8_lossy(&body), "wasm-web\n", "the guest names its pod");
    let (status, _) = get(pf.ports[0], "/nope");
    assert!(status.contains("404"), "{status}");
    // The guest listens in the pod's namespace, not the host's: only the forward (which dials
    // 127.0.0.1:8080 inside that namespace) reaches it.
    if let Ok(mut direct) = TcpStream::connect(("127.0.0.1", 8080)) {
        let _ = direct.set_read_timeout(Some(Duration::from_secs(2)));
        let _ = direct.write_all(b"GET / HTTP/1.0\r\n\r\n");
        let mut raw = Vec::new();
        let _ = direct.read_to_end(&mut raw);
        assert!(!String::from_utf8_lossy(&raw).contains("wasm-web"), "the guest's port is open on the host");
    }
}

/// kubectl's fallback when the WebSocket upgrade fails: `POST` with `Upgrade: SPDY/3.1` and
/// `X-Stream-Protocol-Version: portforward.k8s.io`, then SPDY straight on the connection.
/// Spoken here with the agent's own codec over a plain HTTP/1.1 client.
#[test]
fn the_direct_spdy_upgrade_forwards_too() {
    use runtime::agent::server::portforward::spdy::{Frame, FrameDecoder, FrameEncoder};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let Some(c) = Cluster::start() else { return };
    c.run_sh("web", HTTPD, "");
    c.wait_phase("web", "Running");
    wait_for_httpd(&c.server, "web");
    let rt = tokio::runtime::Runtime::new().expect("tokio runtime");
    rt.block_on(async {
        let ca = std::fs::read(c.server.data_dir().join("pki/ca.crt")).expect("ca.crt");
        let http = reqwest::Client::builder()
            .use_rustls_tls()
            .http1_only()
            .add_root_certificate(reqwest::Certificate::from_pem(&ca).expect("CA pem"))
            .build()
            .expect("http client");
        let mut encoder = FrameEncoder::new().expect("encoder");
        let mut decoder = FrameDecoder::new();
        let deadline = Instant::now() + Duration::from_secs(20);
        // httpd may need a moment after the container started: one session per attempt.
        let body = loop {
            let response = http
                .post(c.server.path("/api/v1/namespaces/default/pods/web/portforward"))
                .bearer_auth(&c.server.token)
                .header("Connection", "Upgrade")
                .header("Upgrade", "SPDY/3.1")
                .header("X-Stream-Protocol-Version", "portforward.k8s.io")
                .send()
                .await
                .expect("request");
            assert_eq!(response.status(), reqwest::StatusCode::SWITCHING_PROTOCOLS);
            assert_eq!(response.headers().get("x-stream-protocol-version").and_then(|v| v.to_str().ok()), Some("portforward.k8s.io"));
            let mut io = response.upgrade().await.expect("upgraded");
            let headers = |kind: &str| vec![("streamtype".to_string(), kind.to_string()), ("port".into(), "80".into()), ("requestid".into(), "0".into())];
            // The codec's own buffer type (BytesMut), inferred: this package does not depend on bytes.
            let mut out = Default::default();
            for frame in [
                Frame::SynStream { stream: 1, associated: 0, priority: 0, fin: false, unidirectional: false, headers: headers("error") },
                Frame::Data { stream: 1, fin: true, data: Default::default() },
                Frame::SynStream { stream: 3, associated: 0, priority: 0, fin: false, unidirectional: false, headers: headers("data") },
                Frame::Data { stream: 3, fin: true, data: "GET / HTTP/1.0\r\n\r\n".into() },
            ] {
                encoder.encode(&frame, &mut out).expect("encodes");
            }
            io.write_all(&out).await.expect("send frames");
            let (mut replies, mut data, mut ended) = (0, Vec::new(), false);
            let mut buf = vec![0u8; 64 * 1024];
            while !ended {
                let n = tokio::time::timeout(Duration::from_secs(10), io.read(&mut buf)).await.expect("in time").expect("read");
                assert!(n > 0, "the agent closed the session early");
                decoder.push(&buf[..n]);
                while let Some(frame) = decoder.next_frame().expect("decodes") {
                    match frame {
                        Frame::SynReply { .. } => replies += 1,
                        Frame::Data { stream: 3, data: d, fin } => {
                            data.extend_from_slice(&d);
                            ended |= fin;
                        }
                        _ => {}
                    }
                }
            }
            assert_eq!(replies, 2, "both streams were accepted");
            if !data.is_empty() || Instant::now() > deadline {
                break String::from_utf8_lossy(&data).into_owned();
            }
            // A new connection starts new header compression contexts.
            encoder = FrameEncoder::new().expect("encoder");
            decoder = FrameDecoder::new();
            tokio::time::sleep(Duration::from_millis(200)).await;
        };
        assert!(body.starts_with("HTTP/1.1 200 OK\r\n"), "{body}");
        assert!(body.ends_with("\r\n\r\nhello-from-linux\n"), "{body}");
    });
}
