//! The pod network (issue 7), seen through kubectl and the host's own `ip`:
//! Linux pods get distinct 10.42.x.y addresses on the node's bridge and reach
//! each other by them, with the cluster's resolv.conf; the host routes
//! neither pod nor service addresses anywhere (unreachable, never the uplink);
//! a deleted pod's veth goes, a stopped server's namespace goes, and
//! `wasmkube cleanup` removes what a SIGKILLed server left.
//!
//! The Linux tests skip (with a printed reason) when the registry cannot start
//! and `CI` is unset; see [`TestRegistry::get`].

use std::process::Command;
use std::time::Duration;

use crate::harness::{stdout, wait_for, Server, TestRegistry};

const POD_TIMEOUT: Duration = Duration::from_secs(40);

fn ip(args: &[&str]) -> (bool, String) {
    let out = Command::new("ip").args(args).output().expect("run ip");
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    (out.status.success(), text)
}

/// The node namespaces of process `pid` that `ip netns` lists.
fn netns_of(pid: u32) -> Vec<String> {
    let prefix = format!("wasmkube-{pid}-");
    ip(&["netns", "list"]).1.lines().filter_map(|l| l.split_whitespace().next()).filter(|n| n.starts_with(&prefix)).map(str::to_string).collect()
}

/// The interface of the host's default route (its uplink), if it has one.
fn uplink() -> Option<String> {
    let (_, routes) = ip(&["route", "show", "default"]);
    let mut words = routes.split_whitespace();
    words.by_ref().find(|w| *w == "dev")?;
    words.next().map(str::to_string)
}

/// veths in the node namespace `netns`.
fn veths_in(netns: &str) -> Vec<String> {
    let (_, links) = ip(&["-n", netns, "-o", "link", "show"]);
    links
        .lines()
        .filter_map(|l| l.split(": ").nth(1))
        .map(|name| name.split('@').next().unwrap_or(name).to_string())
        .filter(|name| name.starts_with("veth"))
        .collect()
}

fn linux_pod(node: &str, image: &str, name: &str, script: &str, extra: &str) -> String {
    format!(
        r#"
apiVersion: v1
kind: Pod
metadata: {{ name: {name} }}
spec:
  nodeName: {node}
  restartPolicy: Never
  terminationGracePeriodSeconds: 1
  containers:
  - name: c
    image: {image}
    command: ["sh", "-c", {script:?}]
{extra}"#
    )
}

#[test]
fn linux_pods_get_their_own_ips_and_reach_each_other_and_nothing_is_left() {
    let Some(registry) = TestRegistry::get() else { return };
    let mut s = Server::start_with_registry(registry);
    let node = s.node_name();
    let pid = s.pid();
    let image = registry.image("busybox:1.0");
    let web = linux_pod(
        &node,
        &image,
        "web",
        "mkdir -p /www && echo served-by-web > /www/index.html && exec httpd -f -p 8080 -h /www",
        "    ports: [{ containerPort: 8080, name: http }]\n",
    );
    let client = linux_pod(
        &node,
        &image,
        "client",
        "exec sleep 3600",
        "    env:\n    - name: MY_IP\n      valueFrom: { fieldRef: { fieldPath: status.podIP } }\n",
    );
    s.kubectl_stdin_ok(&["apply", "-f", "-"], &format!("{web}\n---\n{client}"));
    for pod in ["web", "client"] {
        s.wait_pod_field(pod, "{.status.phase}", "Running", POD_TIMEOUT);
    }

    // Distinct pod IPs of the node's /24, shown by `kubectl get pod -o wide`.
    let pod_cidr = s.kubectl_ok(&["get", "node", &node, "-o", "jsonpath={.spec.podCIDR}"]);
    assert!(pod_cidr.starts_with("10.42.") && pod_cidr.ends_with(".0/24"), "the node got a /24 of 10.42.0.0/16: {pod_cidr:?}");
    let prefix = pod_cidr.trim_end_matches("0/24").to_string();
    let web_ip = s.pod_field("web", "{.status.podIP}");
    let client_ip = s.pod_field("client", "{.status.podIP}");
    assert!(web_ip.starts_with(&prefix) && client_ip.starts_with(&prefix), "{web_ip} and {client_ip} are in {pod_cidr}");
    assert_ne!(web_ip, client_ip);
    let wide = s.kubectl_ok(&["get", "pods", "-o", "wide"]);
    for (pod, ip) in [("web", &web_ip), ("client", &client_ip)] {
        let row = wide.lines().find(|l| l.starts_with(pod)).unwrap_or_default();
        assert!(row.split_whitespace().any(|w| w == ip.as_str()), "-o wide shows {pod}'s IP {ip}:\n{wide}");
    }
    assert_eq!(s.pod_field("client", "{.status.podIPs[0].ip}"), client_ip);
    assert_eq!(s.pod_field("client", "{.status.hostIP}"), "127.0.0.1");

    // One pod reaches the other by pod IP.
    let url = format!("http://{web_ip}:8080/");
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let page = loop {
        // (busybox 1.35's `wget -T` crashes: `timeout` bounds it instead.)
        let out = s.kubectl(&["exec", "client", "--", "timeout", "3", "wget", "-qO-", &url]);
        if out.status.success() {
            break stdout(&out);
        }
        let last = format!("{}{}", stdout(&out), String::from_utf8_lossy(&out.stderr));
        if std::time::Instant::now() > deadline {
            let names = netns_of(pid);
            let netns = names.first().cloned().unwrap_or_default();
            let inside = |args: &[&str]| s.kubectl(&[&["exec", "client", "--"][..], args].concat());
            panic!(
                "client cannot fetch {url}: {last}\nclient addr: {}\nclient routes: {}\nnode links: {}\nnode addrs: {}\nweb: {}",
                stdout(&inside(&["ip", "addr"])),
                stdout(&inside(&["ip", "route"])),
                ip(&["-n", &netns, "link"]).1,
                ip(&["-n", &netns, "addr"]).1,
                stdout(&s.kubectl(&["exec", "web", "--", "ip", "addr"])),
            );
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    assert_eq!(page.trim(), "served-by-web");
    // The pod's own view: its address on eth0, the Downward API, /etc/hosts, resolv.conf.
    let addr = s.kubectl_ok(&["exec", "client", "--", "ip", "addr", "show", "eth0"]);
    assert!(addr.contains(&format!("inet {client_ip}/24")), "{addr}");
    assert_eq!(s.kubectl_ok(&["exec", "client", "--", "sh", "-c", "echo $MY_IP"]).trim(), client_ip);
    let hosts = s.kubectl_ok(&["exec", "client", "--", "cat", "/etc/hosts"]);
    assert!(hosts.contains(&format!("{client_ip}\tclient")), "{hosts}");
    let resolv = s.kubectl_ok(&["exec", "client", "--", "cat", "/etc/resolv.conf"]);
    assert!(resolv.contains("nameserver 10.43.0.10"), "{resolv}");
    assert!(resolv.contains("search default.svc.cluster.local svc.cluster.local cluster.local"), "{resolv}");
    assert!(resolv.contains("options ndots:5"), "{resolv}");

    // The host has no way to pod or service addresses: unreachable, never the uplink.
    for cidr in ["10.42.0.0/16", "10.43.0.0/16"] {
        let (_, route) = ip(&["route", "show", cidr]);
        assert!(route.starts_with(&format!("unreachable {cidr}")), "the host's route for {cidr}: {route:?}");
    }
    let uplink = uplink();
    for target in ["10.42.0.5", &web_ip, "10.43.0.1", "10.43.0.10"] {
        let (routed, text) = ip(&["route", "get", target]);
        assert!(!routed, "the host must not route {target}: {text}");
        assert!(text.contains("No route to host") || text.contains("unreachable"), "ip route get {target}: {text}");
        if let Some(dev) = &uplink {
            assert!(!text.contains(&format!("dev {dev}")), "{target} would leave by the uplink {dev}: {text}");
        }
    }

    // The node's namespace holds the bridge and one veth per pod; deleted pods take theirs.
    let names = netns_of(pid);
    assert_eq!(names, [format!("wasmkube-{pid}-{node}")], "ip netns lists the node's namespace");
    let netns = names[0].clone();
    let (_, bridge) = ip(&["-n", &netns, "-4", "addr", "show", "wk0"]);
    assert!(bridge.contains(&format!("inet {prefix}1/24")), "the bridge holds the gateway: {bridge}");
    assert_eq!(veths_in(&netns).len(), 2, "one veth per pod");
    s.kubectl_ok(&["delete", "pods", "--all", "--grace-period=1", "--timeout=30s"]);
    wait_for("no veth left in the node namespace", Duration::from_secs(10), || veths_in(&netns).is_empty().then_some(()));

    // A pod still running when the server stops is stopped with it: nothing would
    // manage it afterwards (a restarted agent adopts no pod).
    let marker = format!("sleep 36{}", pid % 100);
    let left = linux_pod(&node, &image, "left-running", &format!("exec {marker}"), "");
    s.kubectl_stdin_ok(&["apply", "-f", "-"], &left);
    s.wait_pod_field("left-running", "{.status.phase}", "Running", POD_TIMEOUT);
    assert_eq!(pgrep(&marker).len(), 1, "the pod's process runs");

    // A clean stop removes the node namespace, and nothing of ours is on the host.
    let status = s.terminate(Duration::from_secs(20));
    assert!(pgrep(&marker).is_empty(), "the server's clean stop ended its pods");
    assert!(status.success(), "the server stops cleanly: {status}");
    assert!(netns_of(pid).is_empty(), "the stopped server's namespace is gone: {}", ip(&["netns", "list"]).1);
    let (_, links) = ip(&["-o", "link", "show"]);
    assert!(!links.contains("wk0"), "no bridge on the host: {links}");
}

#[test]
fn cleanup_removes_the_namespace_of_a_killed_server() {
    let mut s = Server::start_with_agent();
    let pid = s.pid();
    let node = s.node_name();
    let name = format!("wasmkube-{pid}-{node}");
    wait_for("the node namespace", Duration::from_secs(20), || (netns_of(pid) == [name.clone()]).then_some(()));
    s.kill9();
    assert_eq!(netns_of(pid), [name.clone()], "a SIGKILLed server cannot remove its namespace");
    let out = Command::new(env!("CARGO_BIN_EXE_wasmkube")).arg("cleanup").output().expect("run wasmkube cleanup");
    assert!(out.status.success(), "wasmkube cleanup: {}", String::from_utf8_lossy(&out.stderr));
    let said = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(said.contains(&format!("removed network namespace {name}")), "cleanup says what it removed: {said}");
    assert!(netns_of(pid).is_empty(), "{}", ip(&["netns", "list"]).1);
}

/// Pids of processes whose command line contains `needle` (not this test's own).
fn pgrep(needle: &str) -> Vec<String> {
    let out = Command::new("pgrep").args(["-f", needle]).output().expect("run pgrep");
    String::from_utf8_lossy(&out.stdout).lines().map(str::to_string).collect()
}

#[test]
fn cleanup_with_the_data_dir_also_clears_a_killed_servers_linux_pods() {
    let Some(registry) = TestRegistry::get() else { return };
    let mut s = Server::start_with_registry(registry);
    let (pid, node) = (s.pid(), s.node_name());
    let marker = "sleep 4245";
    let pod = linux_pod(&node, &registry.image("busybox:1.0"), "orphan", marker, "");
    s.kubectl_stdin_ok(&["apply", "-f", "-"], &pod);
    s.wait_pod_field("orphan", "{.status.phase}", "Running", POD_TIMEOUT);
    let container = pgrep(marker);
    assert_eq!(container.len(), 1, "{container:?}");
    let data_dir = s.data_dir();
    s.kill9();
    assert_eq!(pgrep(marker), container, "the container outlives a SIGKILLed server");
    let out = Command::new(env!("CARGO_BIN_EXE_wasmkube")).arg("cleanup").arg("--data-dir").arg(&data_dir).output().expect("run wasmkube cleanup");
    let said = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(out.status.success(), "wasmkube cleanup: {said}{}", String::from_utf8_lossy(&out.stderr));
    assert!(said.contains(&format!("removed network namespace wasmkube-{pid}-{node}")), "{said}");
    assert!(said.contains("removed 1 Linux pod sandboxes"), "{said}");
    assert!(netns_of(pid).is_empty(), "{}", ip(&["netns", "list"]).1);
    wait_for("the orphaned container to be killed", Duration::from_secs(10), || {
        let running = |p: &String| std::fs::read_to_string(format!("/proc/{p}/stat")).is_ok_and(|st| !st.contains(") Z "));
        (!container.iter().any(running)).then_some(())
    });
}

#[test]
fn a_dense_node_gets_a_larger_pod_range_when_asked() {
    let s = Server::start_with_flags(true, &["--node-cidr-mask-size", "22"]);
    let node = s.node_name();
    let cidr = wait_for("the node's pod range", Duration::from_secs(20), || {
        let cidr = s.kubectl_ok(&["get", "node", &node, "-o", "jsonpath={.spec.podCIDR}"]);
        (!cidr.is_empty()).then_some(cidr)
    });
    assert_eq!(cidr, "10.42.0.0/22", "a /22 of the cluster CIDR: 1,021 pod addresses");
    let names = netns_of(s.pid());
    assert_eq!(names.len(), 1, "the node's namespace: {names:?}");
    let (_, bridge) = ip(&["-n", &names[0], "-4", "addr", "show", "wk0"]);
    assert!(bridge.contains("inet 10.42.0.1/22"), "the node's bridge takes the whole range: {bridge}");
}
