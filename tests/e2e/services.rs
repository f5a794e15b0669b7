//! Services through the node's service proxy, driven by kubectl with busybox
//! Linux pods: a ClusterIP over three httpd replicas answers from all three,
//! then only from the ready ones when one fails its readiness probe;
//! sessionAffinity ClientIP keeps a client on one backend; NodePort and
//! LoadBalancer (EXTERNAL-IP from the ServiceLB controller) answer on the
//! host at 127.0.0.1, and a LoadBalancer port already taken on the host is
//! an Event on the Service, not a crash; a UDP Service port carries DNS
//! queries through the proxy's per-client flows, with its endpoint given as
//! an EndpointSlice or as a hand-written Endpoints object.
//!
//! Skips (with a printed reason) when the test registry cannot start and `CI` is unset.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use crate::harness::{stdout, wait_for, TestRegistry};
use crate::linux_pods::{Cluster, POD_TIMEOUT};

/// How soon the proxy must follow an endpoint change (the issue asks for a second;
/// readiness probes run every second, and the endpoint controllers add their share).
pub(crate) const FOLLOW_TIMEOUT: Duration = Duration::from_secs(10);

pub(crate) fn busybox() -> String {
    TestRegistry::get().expect("the registry is up when a cluster is").image("busybox:1.0")
}

/// Deletes the test's Deployments and StatefulSets, and with them their pods, when
/// dropped: declared after the [`Cluster`], it runs before the cluster's own cleanup,
/// which deletes pods only, so a controller cannot recreate pods that would then
/// outlive the killed server.
pub(crate) struct Workloads<'a>(pub(crate) &'a Cluster);

impl Drop for Workloads<'_> {
    fn drop(&mut self) {
        let _ = self.0.server.kubectl(&["delete", "deployments,statefulsets", "--all", "--cascade=foreground", "--timeout=30s"]);
    }
}

/// A Deployment `name` of `replicas` busybox httpd pods on port 80 (containerPort named
/// `http`), each serving its own hostname at `/`, ready while `/www/ready` exists.
pub(crate) fn httpd_deployment(c: &Cluster, name: &str, replicas: u32) {
    let manifest = format!(
        r#"
apiVersion: apps/v1
kind: Deployment
metadata: {{ name: {name} }}
spec:
  replicas: {replicas}
  selector: {{ matchLabels: {{ app: {name} }} }}
  template:
    metadata: {{ labels: {{ app: {name} }} }}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
      - name: httpd
        image: {image}
        command: ["sh", "-c", "mkdir -p /www && hostname > /www/index.html && touch /www/ready && exec httpd -f -p 80 -h /www"]
        ports: [{{ name: http, containerPort: 80 }}]
        readinessProbe:
          exec: {{ command: ["test", "-f", "/www/ready"] }}
          periodSeconds: 1
          failureThreshold: 1
"#,
        image = busybox()
    );
    c.server.kubectl_stdin_ok(&["apply", "-f", "-"], &manifest);
}

/// Waits until `service` has `n` ready endpoints in its EndpointSlices.
pub(crate) fn wait_ready_endpoints(c: &Cluster, service: &str, n: usize) {
    wait_for(&format!("{n} ready endpoints of {service}"), POD_TIMEOUT * 2, || {
        let out = c.server.kubectl_ok(&[
            "get",
            "endpointslices",
            "-l",
            &format!("kubernetes.io/service-name={service}"),
            "-o",
            "jsonpath={range .items[*].endpoints[*]}{.conditions.ready}{\"\\n\"}{end}",
        ]);
        (out.lines().filter(|l| *l == "true").count() == n).then_some(())
    });
}

/// A busybox pod `name` that sleeps, for `kubectl exec`; waits until it runs.
pub(crate) fn client_pod(c: &Cluster, name: &str) {
    c.run_sh(name, "exec sleep 3600", "");
    c.wait_phase(name, "Running");
}

/// `field` of Service `name` (a jsonpath).
pub(crate) fn service_field(c: &Cluster, name: &str, jsonpath: &str) -> String {
    c.server.kubectl_ok(&["get", "service", name, "-o", &format!("jsonpath={jsonpath}")])
}

/// The bodies of `n` HTTP GETs of `url` from inside pod `client`, one per line
/// (a failed request gives an empty line).
pub(crate) fn get_from_pod(c: &Cluster, client: &str, url: &str, n: usize) -> Vec<String> {
    // busybox 1.35's `wget -T` crashes (SIGSEGV) in these images: `timeout` bounds it instead.
    let script = format!("for i in $(seq {n}); do timeout 5 wget -qO- {url} || echo; done");
    let out = c.server.kubectl(&["exec", client, "--", "sh", "-c", &script]);
    stdout(&out).lines().map(|l| l.trim().to_string()).collect()
}

fn distinct(bodies: &[String]) -> BTreeSet<String> {
    bodies.iter().filter(|b| !b.is_empty()).cloned().collect()
}

fn pod_names(c: &Cluster, label: &str) -> BTreeSet<String> {
    c.server.kubectl_ok(&["get", "pods", "-l", label, "-o", "jsonpath={.items[*].metadata.name}"]).split_whitespace().map(str::to_string).collect()
}

/// A free TCP port on 127.0.0.1 within `range` (for nodePorts and LoadBalancer ports that
/// must not clash with other test servers on this host).
pub(crate) fn free_port(range: std::ops::Range<u16>) -> u16 {
    let seed = (std::process::id() as u64).wrapping_mul(2654435761) ^ Instant::now().elapsed().as_nanos() as u64;
    let span = u64::from(range.end - range.start);
    (0..span)
        .map(|i| range.start + ((seed.wrapping_add(i * 7919)) % span) as u16)
        .find(|p| std::net::TcpListener::bind(("127.0.0.1", *p)).is_ok())
        .expect("a free port")
}

/// A plain HTTP GET from the host; None when nothing answers.
pub(crate) fn host_get(addr: &str) -> Option<String> {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect_timeout(&addr.parse().ok()?, Duration::from_secs(2)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(3))).ok()?;
    s.write_all(format!("GET / HTTP/1.0\r\nHost: {addr}\r\n\r\n").as_bytes()).ok()?;
    let mut out = String::new();
    s.read_to_string(&mut out).ok()?;
    out.split("\r\n\r\n").nth(1).map(|b| b.trim().to_string())
}

#[test]
fn a_cluster_ip_spreads_over_ready_pods_and_follows_readiness() {
    let Some(c) = Cluster::start() else { return };
    let _workloads = Workloads(&c);
    httpd_deployment(&c, "web", 3);
    c.server.kubectl_stdin_ok(
        &["apply", "-f", "-"],
        "apiVersion: v1\nkind: Service\nmetadata: { name: web }\nspec:\n  selector: { app: web }\n  ports: [{ port: 80, targetPort: http }]\n",
    );
    client_pod(&c, "client");
    wait_ready_endpoints(&c, "web", 3);
    let ip = service_field(&c, "web", "{.spec.clusterIP}");
    assert!(ip.starts_with("10.43."), "a ClusterIP from the service CIDR: {ip}");
    let pods = pod_names(&c, "app=web");
    assert_eq!(pods.len(), 3);

    let url = format!("http://{ip}:80/");
    let bodies = get_from_pod(&c, "client", &url, 30);
    assert_eq!(distinct(&bodies), pods, "30 requests through the ClusterIP reach all 3 pods: {bodies:?}");
    assert!(bodies.iter().all(|b| !b.is_empty()), "no request failed: {bodies:?}");

    // One pod fails its readiness probe: within seconds only the other two answer.
    let out = pods.iter().next().cloned().expect("a pod");
    c.server.kubectl_ok(&["exec", &out, "--", "rm", "/www/ready"]);
    let started = Instant::now();
    let remaining: BTreeSet<String> = pods.iter().filter(|p| **p != out).cloned().collect();
    wait_for("the unready pod to leave the rotation", FOLLOW_TIMEOUT, || {
        let bodies = get_from_pod(&c, "client", &url, 12);
        (distinct(&bodies) == remaining && bodies.iter().all(|b| !b.is_empty())).then_some(())
    });
    eprintln!("unready pod left the rotation after {:?}", started.elapsed());
    let bodies = get_from_pod(&c, "client", &url, 30);
    assert_eq!(distinct(&bodies), remaining, "{bodies:?}");

    // ClientIP affinity: every request of one client reaches one pod.
    c.server.kubectl_ok(&["patch", "service", "web", "-p", r#"{"spec":{"sessionAffinity":"ClientIP"}}"#]);
    wait_for("affinity to apply", FOLLOW_TIMEOUT, || {
        let bodies = get_from_pod(&c, "client", &url, 10);
        (distinct(&bodies).len() == 1 && bodies.iter().all(|b| !b.is_empty())).then_some(())
    });
    let sticky = get_from_pod(&c, "client", &url, 20);
    assert_eq!(distinct(&sticky).len(), 1, "one backend under ClientIP affinity: {sticky:?}");

    // A port the Service does not have is refused at once, not left to time out.
    let started = Instant::now();
    let refused = get_from_pod(&c, "client", &format!("http://{ip}:81/"), 1);
    assert!(refused.iter().all(String::is_empty), "{refused:?}");
    assert!(started.elapsed() < Duration::from_secs(3), "refused quickly, took {:?}", started.elapsed());
}

#[test]
fn node_port_and_load_balancer_answer_on_the_host() {
    let Some(c) = Cluster::start() else { return };
    let _workloads = Workloads(&c);
    httpd_deployment(&c, "front", 2);
    let node_port = free_port(30000..32768);
    let lb_port = free_port(20000..29000);
    let manifest = format!(
        r#"
apiVersion: v1
kind: Service
metadata: {{ name: front-np }}
spec:
  type: NodePort
  selector: {{ app: front }}
  ports: [{{ port: 80, targetPort: 80, nodePort: {node_port} }}]
---
apiVersion: v1
kind: Service
metadata: {{ name: front-lb }}
spec:
  type: LoadBalancer
  selector: {{ app: front }}
  ports: [{{ port: {lb_port}, targetPort: http }}]
"#
    );
    c.server.kubectl_stdin_ok(&["apply", "-f", "-"], &manifest);
    wait_ready_endpoints(&c, "front-np", 2);
    wait_ready_endpoints(&c, "front-lb", 2);
    let pods = pod_names(&c, "app=front");

    let np = format!("127.0.0.1:{node_port}");
    let body = wait_for("the NodePort to answer on the host", FOLLOW_TIMEOUT, || host_get(&np).filter(|b| !b.is_empty()));
    assert!(pods.contains(&body), "{body} is one of {pods:?}");

    // ServiceLB: the node's address as EXTERNAL-IP, and the port open on it.
    let external = wait_for("an EXTERNAL-IP", FOLLOW_TIMEOUT, || {
        let ip = service_field(&c, "front-lb", "{.status.loadBalancer.ingress[*].ip}");
        (!ip.is_empty()).then_some(ip)
    });
    assert_eq!(external, "127.0.0.1");
    let table = c.server.kubectl_ok(&["get", "svc", "front-lb"]);
    let row = table.lines().nth(1).unwrap_or_default().split_whitespace().collect::<Vec<_>>();
    // NAME TYPE CLUSTER-IP EXTERNAL-IP PORT(S) AGE
    assert_eq!((row.get(1).copied(), row.get(3).copied()), (Some("LoadBalancer"), Some("127.0.0.1")), "{table}");
    let lb = format!("127.0.0.1:{lb_port}");
    let mut seen = BTreeSet::new();
    wait_for("the LoadBalancer port to reach both pods", FOLLOW_TIMEOUT, || {
        seen.extend(host_get(&lb).filter(|b| !b.is_empty()));
        (seen == pods).then_some(())
    });

    // A LoadBalancer whose port the host already uses: an Event says so, and the rest works on.
    let squatter = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let taken = squatter.local_addr().expect("addr").port();
    c.server.kubectl_stdin_ok(
        &["apply", "-f", "-"],
        &format!("apiVersion: v1\nkind: Service\nmetadata: {{ name: squatted }}\nspec:\n  type: LoadBalancer\n  selector: {{ app: front }}\n  ports: [{{ port: {taken}, targetPort: 80 }}]\n"),
    );
    wait_for("a PortUnavailable Event on the Service", FOLLOW_TIMEOUT, || {
        let events = c.server.kubectl_ok(&["get", "events", "--field-selector", "involvedObject.name=squatted", "-o", "jsonpath={.items[*].reason}"]);
        events.contains("PortUnavailable").then_some(())
    });
    assert!(host_get(&np).is_some_and(|b| pods.contains(&b)), "the NodePort still answers");

    // Deleting the Services closes their ports on the host.
    c.server.kubectl_ok(&["delete", "service", "front-np", "front-lb"]);
    wait_for("the host ports to close", FOLLOW_TIMEOUT, || (host_get(&np).is_none() && host_get(&lb).is_none()).then_some(()));
    drop(squatter);
}

#[test]
fn udp_service_ports_are_proxied() {
    let Some(c) = Cluster::start() else { return };
    // A Service without a selector whose one endpoint is the cluster DNS: a DNS query sent
    // to its ClusterIP over UDP reaches the DNS only through the proxy's UDP flow.
    c.server.kubectl_stdin_ok(
        &["apply", "-f", "-"],
        r#"
apiVersion: v1
kind: Service
metadata: { name: dns-alias }
spec:
  ports: [{ name: dns, port: 53, protocol: UDP }]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: { name: dns-alias-1, labels: { kubernetes.io/service-name: dns-alias } }
addressType: IPv4
ports: [{ name: dns, port: 53, protocol: UDP }]
endpoints: [{ addresses: ["10.43.0.10"] }]
"#,
    );
    client_pod(&c, "client");
    let alias = service_field(&c, "dns-alias", "{.spec.clusterIP}");
    assert_ne!(alias, "10.43.0.10");
    let out = wait_for("an answer through the UDP service", FOLLOW_TIMEOUT, || {
        let out = c.server.kubectl(&["exec", "client", "--", "nslookup", "kubernetes.default.svc.cluster.local", &alias]);
        let text = stdout(&out);
        text.contains("Address: 10.43.0.1\n").then_some(text)
    });
    assert!(out.contains(&format!("Server:\t\t{alias}")), "{out}");

    // The same with the endpoint written as a (legacy) Endpoints object and no slice.
    c.server.kubectl_stdin_ok(
        &["apply", "-f", "-"],
        r#"
apiVersion: v1
kind: Service
metadata: { name: dns-legacy }
spec:
  ports: [{ name: dns, port: 53, protocol: UDP }]
---
apiVersion: v1
kind: Endpoints
metadata: { name: dns-legacy }
subsets: [{ addresses: [{ ip: "10.43.0.10" }], ports: [{ name: dns, port: 53, protocol: UDP }] }]
"#,
    );
    let legacy = service_field(&c, "dns-legacy", "{.spec.clusterIP}");
    wait_for("an answer through the Endpoints-only service", FOLLOW_TIMEOUT, || {
        let out = c.server.kubectl(&["exec", "client", "--", "nslookup", "kubernetes.default.svc.cluster.local", &legacy]);
        stdout(&out).contains("Address: 10.43.0.1\n").then_some(())
    });
}
