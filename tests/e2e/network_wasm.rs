//! Wasm pods on the pod network (issue 7), through the real kubectl: a preview 1 httpd answers
//! at podIP:port and a preview 2 guest fetches from a Linux pod by IP (both directions with a
//! busybox pod); a wasi:http component pod answers requests (path echoed); a guest connecting
//! outside the cluster is refused and its log says so; a wasm guest resolves a Service name
//! through the cluster DNS and fetches through its ClusterIP.
//!
//! The Linux test skips (with a printed reason) when the test registry cannot start and `CI` is
//! unset; the wasm-only test always runs.

use std::time::{Duration, Instant};

use crate::harness::{stdout, wait_for};
use crate::probes_net::{NetCluster, POD_TIMEOUT};

const SAMPLES: &[&str] = &["httpd", "netcat-p2", "http-hello"];

/// A wasm pod of `image` (a sample) with `args` and `ports` (YAML flow list, may be empty).
fn wasm_pod(node: &str, name: &str, image: &str, args: &[&str], ports: &str, restart: &str) -> String {
    let args: Vec<String> = args.iter().map(|a| format!("{a:?}")).collect();
    format!(
        r#"
apiVersion: v1
kind: Pod
metadata: {{ name: {name}, labels: {{ app: {name} }} }}
spec:
  nodeName: {node}
  restartPolicy: {restart}
  terminationGracePeriodSeconds: 2
  containers:
  - name: main
    image: local/{image}:1.0
    imagePullPolicy: Never
    args: [{args}]
    ports: [{ports}]
    env: [{{ name: HOSTNAME, value: {name} }}]
"#,
        args = args.join(", ")
    )
}

fn logs(c: &NetCluster, pod: &str) -> String {
    stdout(&c.server.kubectl(&["logs", pod]))
}

/// Waits for a run-to-completion pod to end; returns its phase.
fn wait_done(c: &NetCluster, pod: &str) -> String {
    wait_for(&format!("pod {pod} to finish"), POD_TIMEOUT, || {
        let phase = c.field(pod, "{.status.phase}");
        (phase == "Succeeded" || phase == "Failed").then_some(phase)
    })
}

fn pod_ip(c: &NetCluster, pod: &str) -> String {
    c.wait_field(pod, "{.status.phase}", "Running", POD_TIMEOUT);
    let ip = c.field(pod, "{.status.podIP}");
    assert!(ip.starts_with("10.42."), "{pod} has a pod IP: {ip:?}");
    ip
}

#[test]
fn wasi_http_is_served_and_preview2_guests_fetch_by_ip_and_service_name_and_egress_is_closed() {
    let c = NetCluster::wasm_only(SAMPLES, &[]);
    c.apply(&wasm_pod(&c.node, "hello", "http-hello", &[], "{ name: http, containerPort: 8080 }", "Always"));
    let hello_ip = pod_ip(&c, "hello");

    // A preview 2 guest fetches from the wasi:http pod by its IP; the body echoes the path.
    c.apply(&wasm_pod(&c.node, "fetch-ip", "netcat-p2", &["fetch", &hello_ip, "8080", "/by/ip?x=1"], "", "Never"));
    assert_eq!(wait_done(&c, "fetch-ip"), "Succeeded", "{}", logs(&c, "fetch-ip"));
    let fetched = logs(&c, "fetch-ip");
    assert!(fetched.contains("hello from wasi:http /by/ip?x=1"), "{fetched}");

    // Through a Service: the guest's lookup goes to the cluster DNS (search path, ndots), the
    // connection to the ClusterIP is the service proxy's.
    c.apply(
        r#"
apiVersion: v1
kind: Service
metadata: { name: hello-svc }
spec:
  selector: { app: hello }
  ports: [{ port: 80, targetPort: http }]
"#,
    );
    let cluster_ip = c.server.kubectl_ok(&["get", "service", "hello-svc", "-o", "jsonpath={.spec.clusterIP}"]);
    assert!(cluster_ip.starts_with("10.43."), "{cluster_ip}");
    c.apply(&wasm_pod(&c.node, "resolve", "netcat-p2", &["resolve", "hello-svc"], "", "Never"));
    assert_eq!(wait_done(&c, "resolve"), "Succeeded", "{}", logs(&c, "resolve"));
    assert_eq!(logs(&c, "resolve").trim(), cluster_ip, "the short name resolves to the ClusterIP");
    // The Service's endpoints may lag its creation by a moment: a few tries.
    let started = Instant::now();
    let mut attempt = 0;
    let body = loop {
        attempt += 1;
        let name = format!("fetch-svc-{attempt}");
        c.apply(&wasm_pod(&c.node, &name, "netcat-p2", &["fetch", "hello-svc.default.svc.cluster.local", "80", "/via/service"], "", "Never"));
        let phase = wait_done(&c, &name);
        let out = logs(&c, &name);
        if phase == "Succeeded" {
            break out;
        }
        assert!(started.elapsed() < Duration::from_secs(30), "fetch through the Service kept failing: {out}");
        std::thread::sleep(Duration::from_millis(500));
    };
    assert!(body.contains("hello from wasi:http /via/service"), "{body}");

    // Egress is closed: a connection outside the cluster's networks is refused before any
    // packet, the guest sees access-denied and the container log says why.
    c.apply(&wasm_pod(&c.node, "egress", "netcat-p2", &["fetch", "1.1.1.1", "80", "/"], "", "Never"));
    assert_eq!(wait_done(&c, "egress"), "Failed");
    let refused = logs(&c, "egress");
    assert!(refused.contains("1.1.1.1:80 refused") && refused.contains("egress is closed"), "{refused}");
    assert!(refused.contains("access-denied"), "{refused}");

    // The wasi:http pod served all of that and is still running, one instance per request.
    assert_eq!(c.field("hello", "{.status.phase}"), "Running");
    assert_eq!(c.field("hello", "{.status.containerStatuses[0].restartCount}"), "0");
}

#[test]
fn wasm_and_linux_pods_reach_each_other_by_pod_ip() {
    let Some(c) = NetCluster::with_registry(SAMPLES, &[]) else { return };
    let busybox = c.busybox();
    c.apply(&format!(
        r#"
apiVersion: v1
kind: Pod
metadata: {{ name: linux }}
spec:
  nodeName: {node}
  terminationGracePeriodSeconds: 1
  containers:
  - name: c
    image: {busybox}
    command: ["sh", "-c", "mkdir -p /www && echo served-by-linux > /www/index.html && exec httpd -f -p 8080 -h /www"]
    ports: [{{ containerPort: 8080 }}]
"#,
        node = c.node
    ));
    c.apply(&wasm_pod(&c.node, "wasm-web", "httpd", &[], "{ name: http, containerPort: 8080 }", "Always"));
    c.apply(&wasm_pod(&c.node, "hello", "http-hello", &[], "{ containerPort: 8080 }", "Always"));
    let linux_ip = pod_ip(&c, "linux");
    let wasm_ip = pod_ip(&c, "wasm-web");
    let hello_ip = pod_ip(&c, "hello");
    assert_ne!(linux_ip, wasm_ip);

    // Linux -> wasm (preview 1 httpd on its socket-activated port).
    let wget = |url: &str| {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            // (busybox 1.35's `wget -T` crashes: `timeout` bounds it instead.)
            let out = c.server.kubectl(&["exec", "linux", "--", "timeout", "3", "wget", "-qO-", url]);
            if out.status.success() {
                return stdout(&out);
            }
            assert!(Instant::now() < deadline, "wget {url}: {}", String::from_utf8_lossy(&out.stderr));
            std::thread::sleep(Duration::from_millis(200));
        }
    };
    assert_eq!(wget(&format!("http://{wasm_ip}:8080/")).trim(), "wasm-web");
    assert_eq!(wget(&format!("http://{wasm_ip}:8080/healthz")).trim(), "ok");
    // Linux -> wasi:http component.
    assert_eq!(wget(&format!("http://{hello_ip}:8080/from/busybox?q=1")).trim(), "hello from wasi:http /from/busybox?q=1");
    let served = logs(&c, "wasm-web");
    assert!(served.contains("GET / 200") && served.contains("GET /healthz 200"), "{served}");

    // wasm (preview 2) -> Linux.
    c.apply(&wasm_pod(&c.node, "fetch-linux", "netcat-p2", &["fetch", &linux_ip, "8080", "/"], "", "Never"));
    assert_eq!(wait_done(&c, "fetch-linux"), "Succeeded", "{}", logs(&c, "fetch-linux"));
    assert!(logs(&c, "fetch-linux").contains("served-by-linux"), "{}", logs(&c, "fetch-linux"));
}
