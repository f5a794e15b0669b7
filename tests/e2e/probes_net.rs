//! Network probes through the real kubectl: an httpGet readiness probe keeps a
//! busybox httpd pod at 0/1 READY (with the kubelet's Event) until the probed
//! file exists; a tcpSocket liveness probe on a closed port restarts its
//! container while one on the open port (behind an httpGet startup probe)
//! leaves its pod alone, and a failing startup probe restarts; a wasm httpd
//! pod (samples/wasm/httpd.wasm) is held unready by its 503 on `/ready`.
//! The probes dial the pod IP from the node's network namespace.
//!
//! The Linux tests skip (with a printed reason) when the test registry cannot
//! start and `CI` is unset.

use std::time::{Duration, Instant};

use crate::harness::{wait_for, Server, TestRegistry};

/// Pulling busybox the first time included.
pub(crate) const POD_TIMEOUT: Duration = Duration::from_secs(30);

/// A server with its node (pods deleted before the harness kills it, so no
/// Linux container outlives the test).
pub(crate) struct NetCluster {
    pub(crate) server: Server,
    pub(crate) node: String,
    registry: Option<&'static TestRegistry>,
}

impl NetCluster {
    /// With the test registry (for busybox); `None` when it is unavailable.
    pub(crate) fn with_registry(samples: &[&str], flags: &[&str]) -> Option<NetCluster> {
        let registry = TestRegistry::get()?;
        let mut all = vec!["--insecure-registry", registry.addr.as_str()];
        all.extend_from_slice(flags);
        Some(NetCluster::start(samples, &all, Some(registry)))
    }

    /// Wasm samples only.
    pub(crate) fn wasm_only(samples: &[&str], flags: &[&str]) -> NetCluster {
        NetCluster::start(samples, flags, None)
    }

    fn start(samples: &[&str], flags: &[&str], registry: Option<&'static TestRegistry>) -> NetCluster {
        let server = Server::start_with_samples_and_flags(samples, flags);
        let node = server.node_name();
        NetCluster { server, node, registry }
    }

    pub(crate) fn busybox(&self) -> String {
        self.registry.expect("a cluster with the test registry").image("busybox:1.0")
    }

    pub(crate) fn apply(&self, manifest: &str) {
        self.server.kubectl_stdin_ok(&["apply", "-f", "-"], manifest);
    }

    pub(crate) fn field(&self, pod: &str, jsonpath: &str) -> String {
        self.server.pod_field(pod, jsonpath)
    }

    pub(crate) fn wait_field(&self, pod: &str, jsonpath: &str, want: &str, timeout: Duration) {
        self.server.wait_pod_field(pod, jsonpath, want, timeout);
    }

    /// The messages of the Events about `pod`, oldest first.
    pub(crate) fn events(&self, pod: &str) -> Vec<String> {
        let out = self.server.kubectl_ok(&[
            "get",
            "events",
            "--sort-by=.metadata.creationTimestamp",
            "-o",
            "jsonpath={range .items[*]}{.involvedObject.name}{\"\\t\"}{.message}{\"\\n\"}{end}",
        ]);
        out.lines().filter_map(|l| l.split_once('\t')).filter(|(name, _)| *name == pod).map(|(_, m)| m.to_string()).collect()
    }

    /// Waits until an Event about `pod` contains `text`; returns its message.
    pub(crate) fn wait_event(&self, pod: &str, text: &str, timeout: Duration) -> String {
        let deadline = Instant::now() + timeout;
        loop {
            let events = self.events(pod);
            if let Some(found) = events.iter().find(|m| m.contains(text)) {
                return found.clone();
            }
            if Instant::now() > deadline {
                panic!("no Event about {pod} contains {text:?} within {timeout:?}; events: {events:#?}");
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// The `kubectl get pod` row of `pod`, split into columns.
    pub(crate) fn row(&self, pod: &str) -> Vec<String> {
        let out = self.server.kubectl_ok(&["get", "pod", pod, "--no-headers"]);
        out.split_whitespace().map(str::to_string).collect()
    }
}

impl Drop for NetCluster {
    fn drop(&mut self) {
        // Best effort, also after a failed assertion: let the agent stop every container
        // before the harness SIGKILLs the server.
        let _ = self.server.kubectl(&["delete", "pods", "--all", "--all-namespaces", "--grace-period=1", "--timeout=30s"]);
    }
}

const READY: &str = "{.status.conditions[?(@.type==\"Ready\")].status}";

/// A busybox httpd pod serving `/www` on port 8080 (containerPort named `http`), with
/// `probes` (YAML, indented for the container) appended.
fn httpd_pod(c: &NetCluster, name: &str, probes: &str) -> String {
    format!(
        r#"
apiVersion: v1
kind: Pod
metadata: {{ name: {name}, labels: {{ app: {name} }} }}
spec:
  nodeName: {node}
  terminationGracePeriodSeconds: 1
  containers:
  - name: web
    image: {image}
    command: ["sh", "-c", "mkdir -p /www && echo {name} > /www/index.html && exec httpd -f -p 8080 -h /www"]
    ports: [{{ name: http, containerPort: 8080 }}]
{probes}"#,
        node = c.node,
        image = c.busybox(),
    )
}

#[test]
fn http_readiness_holds_a_linux_pod_until_the_path_answers() {
    let Some(c) = NetCluster::with_registry(&[], &[]) else { return };
    let probes = r#"    readinessProbe:
      httpGet: { path: /ready, port: http, httpHeaders: [{ name: X-Probe, value: e2e }] }
      periodSeconds: 1
      failureThreshold: 1
"#;
    c.apply(&httpd_pod(&c, "web", probes));
    c.wait_field("web", "{.status.phase}", "Running", POD_TIMEOUT);
    // A first probe may find httpd not listening yet (connection refused); the 404 follows.
    let message = c.wait_event("web", "statuscode: 404", POD_TIMEOUT);
    assert_eq!(message, "Readiness probe failed: HTTP probe failed with statuscode: 404");
    // Unready, and it stays so while /ready is missing.
    for _ in 0..3 {
        assert_eq!(c.field("web", READY), "False");
        assert_eq!(c.row("web").get(1).map(String::as_str), Some("0/1"), "kubectl get pod shows it unready");
        std::thread::sleep(Duration::from_secs(1));
    }
    let pod_ip = c.field("web", "{.status.podIP}");
    assert!(pod_ip.starts_with("10.42."), "the pod has an IP on the pod network: {pod_ip:?}");

    c.server.kubectl_ok(&["exec", "web", "--", "sh", "-c", "echo ok > /www/ready"]);
    let created = Instant::now();
    c.wait_field("web", READY, "True", Duration::from_secs(15));
    eprintln!("figure: file created -> pod Ready in {:?} (periodSeconds 1)", created.elapsed());
    assert_eq!(c.row("web").get(1).map(String::as_str), Some("1/1"));
}

#[test]
fn tcp_liveness_on_a_closed_port_restarts_the_container() {
    let Some(c) = NetCluster::with_registry(&[], &[]) else { return };
    let dead = r#"    livenessProbe:
      tcpSocket: { port: 81 }
      periodSeconds: 1
      failureThreshold: 1
"#;
    // The startup probe holds liveness back until httpd answers.
    let alive = r#"    startupProbe:
      httpGet: { path: /, port: http }
      periodSeconds: 1
      failureThreshold: 10
    livenessProbe:
      tcpSocket: { port: http }
      periodSeconds: 1
      failureThreshold: 1
"#;
    let never_starts = r#"    startupProbe:
      tcpSocket: { port: 82 }
      periodSeconds: 1
      failureThreshold: 2
"#;
    c.apply(&httpd_pod(&c, "closed", dead));
    c.apply(&httpd_pod(&c, "open", alive));
    c.apply(&httpd_pod(&c, "unstarted", never_starts));
    c.wait_field("open", READY, "True", POD_TIMEOUT);
    wait_for("a restart of the container whose liveness probe fails", Duration::from_secs(60), || {
        let restarts: u32 = c.field("closed", "{.status.containerStatuses[0].restartCount}").parse().unwrap_or(0);
        (restarts >= 1).then_some(())
    });
    let pod_ip = c.field("closed", "{.status.podIP}");
    let message = c.wait_event("closed", "Liveness probe failed", Duration::from_secs(5));
    assert_eq!(message, format!("Liveness probe failed: dial tcp {pod_ip}:81: connect: connection refused"));
    c.wait_event("closed", "failed liveness probe, will be restarted", Duration::from_secs(5));
    let restarts: u32 = c.row("closed").get(3).and_then(|r| r.parse().ok()).unwrap_or(0);
    assert!(restarts >= 1, "kubectl get pod shows RESTARTS: {:?}", c.row("closed"));
    // A failing startup probe restarts its container too.
    let message = c.wait_event("unstarted", "Startup probe failed", POD_TIMEOUT);
    let unstarted_ip = c.field("unstarted", "{.status.podIP}");
    assert_eq!(message, format!("Startup probe failed: dial tcp {unstarted_ip}:82: connect: connection refused"));
    c.wait_event("unstarted", "failed startup probe, will be restarted", Duration::from_secs(10));
    assert_eq!(c.field("unstarted", "{.status.containerStatuses[0].started}"), "false");
    // The probes on the open port passed all along.
    assert_eq!(c.field("open", "{.status.containerStatuses[0].restartCount}"), "0");
    assert!(c.events("open").iter().all(|m| !m.contains("probe failed")), "{:?}", c.events("open"));
}

/// samples/wasm/httpd.wasm as pod `name` on port 8080, with `env` and `probes` (YAML).
pub(crate) fn wasm_httpd_pod(node: &str, name: &str, env: &str, probes: &str) -> String {
    format!(
        r#"
apiVersion: v1
kind: Pod
metadata: {{ name: {name}, labels: {{ app: {name} }} }}
spec:
  nodeName: {node}
  terminationGracePeriodSeconds: 1
  containers:
  - name: web
    image: local/httpd:1.0
    imagePullPolicy: Never
    ports: [{{ name: http, containerPort: 8080 }}]
    env: [{{ name: HOSTNAME, value: {name} }}{env}]
{probes}"#
    )
}

#[test]
fn http_readiness_of_a_wasm_pod() {
    let c = NetCluster::wasm_only(&["httpd"], &[]);
    let probes = r#"    readinessProbe:
      httpGet: { path: /ready, port: http }
      periodSeconds: 1
      failureThreshold: 1
    livenessProbe:
      httpGet: { path: /healthz, port: 8080 }
      periodSeconds: 1
"#;
    c.apply(&wasm_httpd_pod(&c.node, "wasm-unready", ", { name: READY, value: \"false\" }", probes));
    c.apply(&wasm_httpd_pod(&c.node, "wasm-ready", "", probes));
    c.wait_field("wasm-ready", READY, "True", POD_TIMEOUT);
    let message = c.wait_event("wasm-unready", "statuscode: 503", POD_TIMEOUT);
    assert_eq!(message, "Readiness probe failed: HTTP probe failed with statuscode: 503");
    assert_eq!(c.field("wasm-unready", READY), "False");
    assert_eq!(c.row("wasm-unready").get(1).map(String::as_str), Some("0/1"));
    assert!(c.field("wasm-unready", "{.status.podIP}").starts_with("10.42."));
    // Liveness on /healthz passes for both: nothing restarted.
    std::thread::sleep(Duration::from_secs(2));
    for pod in ["wasm-ready", "wasm-unready"] {
        assert_eq!(c.field(pod, "{.status.containerStatuses[0].restartCount}"), "0", "{pod}");
    }
}
