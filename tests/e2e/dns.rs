//! Cluster DNS at 10.43.0.10, asked from busybox Linux pods with `nslookup`
//! and `wget`: a Service's short and full names resolve to its ClusterIP, a
//! named port has an SRV record, an ExternalName is a CNAME, unknown names
//! fail, and a StatefulSet's pods have their own names under their headless
//! Service (`web-0.web.<ns>.svc.cluster.local`).
//!
//! Skips (with a printed reason) when the test registry cannot start and `CI` is unset.

use std::time::Duration;

use crate::harness::{stderr, stdout, wait_for};
use crate::linux_pods::{Cluster, POD_TIMEOUT};
use crate::services::{busybox, client_pod, httpd_deployment, service_field, wait_ready_endpoints, Workloads, FOLLOW_TIMEOUT};

/// `nslookup args...` in pod `client`: (succeeded, stdout + stderr).
fn nslookup(c: &Cluster, client: &str, args: &[&str]) -> (bool, String) {
    let mut argv = vec!["exec", client, "--", "nslookup"];
    argv.extend_from_slice(args);
    let out = c.server.kubectl(&argv);
    (out.status.success(), format!("{}{}", stdout(&out), stderr(&out)))
}

/// Waits until `nslookup args` in `client` prints `want` (names resolve as soon as the
/// agent's watch sees the Service, which may be a moment after kubectl returns).
fn resolves(c: &Cluster, client: &str, args: &[&str], want: &str) -> String {
    wait_for(&format!("nslookup {} to show {want}", args.join(" ")), FOLLOW_TIMEOUT, || {
        let (_, out) = nslookup(c, client, args);
        out.contains(want).then_some(out)
    })
}

#[test]
fn service_names_resolve_to_cluster_ips_and_external_names_to_cnames() {
    let Some(c) = Cluster::start() else { return };
    let _workloads = Workloads(&c);
    httpd_deployment(&c, "web", 1);
    c.server.kubectl_stdin_ok(
        &["apply", "-f", "-"],
        r#"
apiVersion: v1
kind: Service
metadata: { name: web }
spec:
  selector: { app: web }
  ports: [{ name: http, port: 80, targetPort: http }]
---
apiVersion: v1
kind: Service
metadata: { name: ext }
spec:
  type: ExternalName
  externalName: db.example.org
"#,
    );
    client_pod(&c, "client");
    let resolv = c.server.kubectl_ok(&["exec", "client", "--", "cat", "/etc/resolv.conf"]);
    assert!(resolv.contains("nameserver 10.43.0.10"), "{resolv}");
    assert!(resolv.contains("default.svc.cluster.local svc.cluster.local cluster.local"), "{resolv}");
    let ip = service_field(&c, "web", "{.spec.clusterIP}");

    // The full name, asking the DNS Service explicitly; then the short name through the search path.
    resolves(&c, "client", &["web.default.svc.cluster.local", "10.43.0.10"], &format!("Address: {ip}"));
    resolves(&c, "client", &["web"], &format!("Address: {ip}"));
    resolves(&c, "client", &["-type=SRV", "_http._tcp.web.default.svc.cluster.local"], "service = 0 100 80 web.default.svc.cluster.local");

    // The name works end to end: DNS, then the service proxy, then the pod.
    wait_ready_endpoints(&c, "web", 1);
    let body = wait_for("wget http://web/", FOLLOW_TIMEOUT, || {
        let out = c.server.kubectl(&["exec", "client", "--", "timeout", "5", "wget", "-qO-", "http://web/"]);
        out.status.success().then(|| stdout(&out).trim().to_string())
    });
    assert!(body.starts_with("web-"), "served by a web pod: {body}");
    // `<svc>.<ns>` through the resolver's search path (busybox nslookup itself searches
    // only names without a dot, so ask the C library through wget).
    let out = c.server.kubectl(&["exec", "client", "--", "timeout", "5", "wget", "-qO-", "http://web.default/"]);
    assert!(stdout(&out).starts_with("web-"), "{}", stderr(&out));

    let cname = resolves(&c, "client", &["ext.default.svc.cluster.local"], "db.example.org");
    assert!(cname.contains("canonical name"), "{cname}");

    let (ok, out) = nslookup(&c, "client", &["nothere.default.svc.cluster.local"]);
    assert!(!ok || out.contains("NXDOMAIN") || out.contains("can't find"), "an unknown name does not resolve: {out}");
    // The kubernetes Service is there from the start.
    resolves(&c, "client", &["kubernetes.default.svc.cluster.local"], "Address: 10.43.0.1");
}

#[test]
fn statefulset_pods_have_names_under_their_headless_service() {
    let Some(c) = Cluster::start() else { return };
    let _workloads = Workloads(&c);
    let manifest = format!(
        r#"
apiVersion: v1
kind: Service
metadata: {{ name: web }}
spec:
  clusterIP: None
  selector: {{ app: web }}
  ports: [{{ name: http, port: 80 }}]
---
apiVersion: apps/v1
kind: StatefulSet
metadata: {{ name: web }}
spec:
  serviceName: web
  replicas: 2
  selector: {{ matchLabels: {{ app: web }} }}
  template:
    metadata: {{ labels: {{ app: web }} }}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
      - name: c
        image: {image}
        command: ["sh", "-c", "exec sleep 3600"]
        ports: [{{ name: http, containerPort: 80 }}]
"#,
        image = busybox()
    );
    c.server.kubectl_stdin_ok(&["apply", "-f", "-"], &manifest);
    client_pod(&c, "client");
    c.wait_phase("web-1", "Running");
    wait_ready_endpoints(&c, "web", 2);
    let ip0 = c.server.pod_field("web-0", "{.status.podIP}");
    let ip1 = c.server.pod_field("web-1", "{.status.podIP}");
    assert!(!ip0.is_empty() && ip0 != ip1, "two pod IPs: {ip0} {ip1}");

    let out = resolves(&c, "client", &["web-0.web.default.svc.cluster.local"], &format!("Address: {ip0}"));
    assert!(!out.contains(&format!("Address: {ip1}")), "only web-0's address: {out}");
    resolves(&c, "client", &["web-1.web.default.svc.cluster.local", "10.43.0.10"], &format!("Address: {ip1}"));
    // The headless Service's own name lists both pods.
    let both = resolves(&c, "client", &["web.default.svc.cluster.local"], &format!("Address: {ip0}"));
    assert!(both.contains(&format!("Address: {ip1}")), "{both}");

    // A pod that goes leaves DNS with its endpoint.
    c.server.kubectl_ok(&["scale", "statefulset", "web", "--replicas=1"]);
    wait_for("web-1 to leave DNS", POD_TIMEOUT + Duration::from_secs(10), || {
        let (_, out) = nslookup(&c, "client", &["web-1.web.default.svc.cluster.local"]);
        (!out.contains(&format!("Address: {ip1}"))).then_some(())
    });
}
