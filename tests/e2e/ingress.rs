//! The node's built-in ingress controller, driven by kubectl and reached from
//! the host with reqwest at 127.0.0.1:<--ingress-port>: an Ingress without a
//! class gets the default `wasmkube` class and routes two hosts to two
//! Services (a wasm httpd and a Linux busybox httpd); Exact and Prefix paths;
//! 404 without a match, then the default backend of a second Ingress; 503 for
//! a Service without ready endpoints; `kubectl get ingress` shows CLASS and
//! ADDRESS, `kubectl get ingressclass` the default class; Ingresses of another
//! class are neither served nor given our address (and lose it when moved away).
//!
//! Skips (with a printed reason) when the test registry cannot start and `CI` is unset.

use std::time::{Duration, Instant};

use crate::harness::wait_for;
use crate::probes_net::{wasm_httpd_pod, NetCluster, POD_TIMEOUT};

/// A free TCP port on 127.0.0.1 (the ingress port of this test's server).
pub(crate) fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
    listener.local_addr().expect("port").port()
}

/// HTTP through the ingress port, with one client (and its kept-alive connections).
pub(crate) struct Client {
    rt: tokio::runtime::Runtime,
    http: reqwest::Client,
    port: u16,
}

impl Client {
    pub(crate) fn new(port: u16) -> Client {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
        let http = reqwest::Client::builder().timeout(Duration::from_secs(5)).no_proxy().build().expect("client");
        Client { rt, http, port }
    }

    /// Status and body of `GET path` with `Host: host`; None when nothing answers.
    pub(crate) fn get(&self, host: &str, path: &str) -> Option<(u16, String)> {
        let url = format!("http://127.0.0.1:{}{path}", self.port);
        self.rt.block_on(async {
            let response = self.http.get(&url).header(reqwest::header::HOST, host).send().await.ok()?;
            let status = response.status().as_u16();
            Some((status, response.text().await.ok()?.trim().to_string()))
        })
    }

    /// Waits until `host` + `path` answers `status` (routes follow the watch and the endpoints).
    pub(crate) fn wait(&self, host: &str, path: &str, status: u16) -> String {
        let deadline = Instant::now() + POD_TIMEOUT;
        loop {
            let got = self.get(host, path);
            if let Some((s, body)) = &got {
                if *s == status {
                    return body.clone();
                }
            }
            assert!(Instant::now() < deadline, "{host}{path}: wanted {status}, last answer {got:?}");
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

fn linux_httpd(c: &NetCluster) -> String {
    format!(
        r#"
apiVersion: v1
kind: Pod
metadata: {{ name: linux-web, labels: {{ app: linux-web }} }}
spec:
  nodeName: {node}
  terminationGracePeriodSeconds: 1
  containers:
  - name: web
    image: {image}
    command: ["sh", "-c", "mkdir -p /www/api && echo linux-web > /www/index.html && echo linux-api > /www/api/index.html && exec httpd -f -p 8080 -h /www"]
    ports: [{{ name: http, containerPort: 8080 }}]
    readinessProbe:
      tcpSocket: {{ port: http }}
      periodSeconds: 1
"#,
        node = c.node,
        image = c.busybox(),
    )
}

const SERVICES: &str = r#"
apiVersion: v1
kind: Service
metadata: { name: linux-web }
spec:
  selector: { app: linux-web }
  ports: [{ port: 80, targetPort: http }]
---
apiVersion: v1
kind: Service
metadata: { name: wasm-web }
spec:
  selector: { app: wasm-web }
  ports: [{ name: web, port: 80, targetPort: 8080 }]
---
apiVersion: v1
kind: Service
metadata: { name: nobody-home }
spec:
  selector: { app: nobody-home }
  ports: [{ port: 80 }]
"#;

/// No ingressClassName: the API server gives it the default class.
const INGRESS: &str = r#"
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: { name: two-hosts }
spec:
  rules:
  - host: linux.example
    http:
      paths:
      - { path: /, pathType: Prefix, backend: { service: { name: linux-web, port: { number: 80 } } } }
  - host: wasm.example
    http:
      paths:
      - { path: /, pathType: Prefix, backend: { service: { name: wasm-web, port: { name: web } } } }
  - host: "*.paths.example"
    http:
      paths:
      - { path: /healthz, pathType: Exact, backend: { service: { name: wasm-web, port: { name: web } } } }
      - { path: /api, pathType: Prefix, backend: { service: { name: linux-web, port: { number: 80 } } } }
      - { path: /down, pathType: Prefix, backend: { service: { name: nobody-home, port: { number: 80 } } } }
"#;

const FALLBACK: &str = r#"
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: { name: fallback }
spec:
  ingressClassName: wasmkube
  defaultBackend: { service: { name: linux-web, port: { number: 80 } } }
"#;

#[test]
fn ingress_routes_hosts_and_paths_to_a_wasm_and_a_linux_service() {
    let port = free_port();
    let port_flag = port.to_string();
    let Some(c) = NetCluster::with_registry(&["httpd"], &["--ingress-port", &port_flag]) else { return };
    let classes = c.server.kubectl_ok(&["get", "ingressclass"]);
    assert!(
        classes.lines().any(|l| l.starts_with("wasmkube (default)") && l.contains("wasmkube.io/ingress")),
        "the default class is there: {classes}"
    );

    c.apply(&linux_httpd(&c));
    c.apply(&wasm_httpd_pod(&c.node, "wasm-web", "", ""));
    c.apply(SERVICES);
    c.apply(INGRESS);
    let class = c.server.kubectl_ok(&["get", "ingress", "two-hosts", "-o", "jsonpath={.spec.ingressClassName}"]);
    assert_eq!(class, "wasmkube", "defaulted on create");

    let client = Client::new(port);
    // Hosts.
    assert_eq!(client.wait("linux.example", "/", 200), "linux-web");
    assert_eq!(client.wait("wasm.example", "/", 200), "wasm-web");
    assert_eq!(client.get("WASM.example:80", "/").map(|(s, _)| s), Some(200), "host matching ignores case and port");
    // Exact vs Prefix under a wildcard host.
    assert_eq!(client.get("a.paths.example", "/healthz"), Some((200, "ok".into())), "Exact /healthz goes to the wasm pod");
    assert_eq!(client.get("a.paths.example", "/healthz/more").map(|(s, _)| s), Some(404), "Exact does not match below it");
    assert_eq!(client.get("a.paths.example", "/api/"), Some((200, "linux-api".into())), "Prefix /api matches /api/");
    assert_eq!(client.get("a.paths.example", "/apix").map(|(s, _)| s), Some(404), "Prefix matches whole segments");
    assert_eq!(client.get("a.b.paths.example", "/api/").map(|(s, _)| s), Some(404), "a wildcard covers one label");
    // A backend without ready endpoints, and no rule at all.
    assert_eq!(client.get("a.paths.example", "/down").map(|(s, _)| s), Some(503));
    assert_eq!(client.get("nobody.example", "/").map(|(s, _)| s), Some(404));

    // The default backend of another Ingress of our class takes what no rule matches.
    c.apply(FALLBACK);
    assert_eq!(client.wait("nobody.example", "/", 200), "linux-web");
    assert_eq!(client.get("wasm.example", "/").map(|(_, b)| b), Some("wasm-web".into()), "rules still win");

    // Many requests over one kept-alive client, alternating backends; latency per backend.
    let mut latencies: [Vec<Duration>; 2] = [Vec::new(), Vec::new()];
    for i in 0..200 {
        let (host, want) = if i % 2 == 0 { ("linux.example", "linux-web") } else { ("wasm.example", "wasm-web") };
        let started = Instant::now();
        assert_eq!(client.get(host, "/"), Some((200, want.to_string())), "request {i}");
        latencies[i % 2].push(started.elapsed());
    }
    for (name, list) in ["linux", "wasm"].iter().zip(latencies.iter_mut()) {
        list.sort();
        eprintln!("figure: ingress -> {name} httpd, 100 sequential GETs: p50 {:?}, p99 {:?}", list[list.len() / 2], list[list.len() * 99 / 100]);
    }
    let described = c.server.kubectl_ok(&["describe", "ingress", "two-hosts"]);
    assert!(described.contains("wasm.example") && described.contains("wasm-web:web"), "{described}");

    // kubectl shows the class and the node address the agent published.
    let row = wait_for("the ingress address", POD_TIMEOUT, || {
        let out = c.server.kubectl_ok(&["get", "ingress", "two-hosts", "--no-headers"]);
        let cols: Vec<String> = out.split_whitespace().map(str::to_string).collect();
        (cols.get(3).map(String::as_str) == Some("127.0.0.1")).then_some(cols)
    });
    assert_eq!(row[1], "wasmkube", "CLASS: {row:?}");
    assert!(row[2].contains("linux.example") && row[2].contains("wasm.example"), "HOSTS: {row:?}");
    let header = c.server.kubectl_ok(&["get", "ingress"]);
    assert!(header.starts_with("NAME") && header.contains("CLASS") && header.contains("ADDRESS"), "{header}");
}

#[test]
fn ingresses_of_another_class_are_left_alone() {
    let port = free_port();
    let port_flag = port.to_string();
    let c = NetCluster::wasm_only(&["httpd"], &["--ingress-port", &port_flag]);
    c.apply(&wasm_httpd_pod(&c.node, "wasm-web", "", ""));
    c.apply(SERVICES);
    let other = r#"
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: { name: not-ours }
spec:
  ingressClassName: nginx
  rules:
  - host: wasm.example
    http:
      paths:
      - { path: /, pathType: Prefix, backend: { service: { name: wasm-web, port: { name: web } } } }
"#;
    c.apply(other);
    c.wait_field("wasm-web", "{.status.phase}", "Running", POD_TIMEOUT);
    let client = Client::new(port);
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(client.get("wasm.example", "/").map(|(s, _)| s), Some(404), "another class's rule is not served");
    let address = c.server.kubectl_ok(&["get", "ingress", "not-ours", "-o", "jsonpath={.status.loadBalancer.ingress}"]);
    assert_eq!(address, "", "and its status is not ours to write");
    // Switched to our class, it is served.
    c.server.kubectl_ok(&["patch", "ingress", "not-ours", "--type=merge", "-p", r#"{"spec":{"ingressClassName":"wasmkube"}}"#]);
    assert_eq!(client.wait("wasm.example", "/", 200), "wasm-web");
    let address = || c.server.kubectl_ok(&["get", "ingress", "not-ours", "-o", "jsonpath={.status.loadBalancer.ingress[*].ip}"]);
    wait_for("our address on the ingress", POD_TIMEOUT, || (address() == "127.0.0.1").then_some(()));
    // And moved away again, it is no longer served and our address goes.
    c.server.kubectl_ok(&["patch", "ingress", "not-ours", "--type=merge", "-p", r#"{"spec":{"ingressClassName":"nginx"}}"#]);
    client.wait("wasm.example", "/", 404);
    wait_for("our address withdrawn", POD_TIMEOUT, || address().is_empty().then_some(()));

    // `kubectl create ingress` (a protobuf body) without a class gets the default one.
    c.server.kubectl_ok(&["create", "ingress", "simple", "--rule=simple.example/*=wasm-web:web"]);
    let class = c.server.kubectl_ok(&["get", "ingress", "simple", "-o", "jsonpath={.spec.ingressClassName}"]);
    assert_eq!(class, "wasmkube");
    assert_eq!(client.wait("simple.example", "/healthz", 200), "ok");
}
