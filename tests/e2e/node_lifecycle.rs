//! The node lifecycle controller, end to end: a second node's agent is killed
//! with SIGKILL; its Node turns Unknown and gets the unreachable taints, its
//! pods turn not ready and are evicted after their toleration (the pod of a
//! ReplicaSet coming back on the surviving node); a new agent of the same
//! name makes the node Ready again and takes the taints away.

use std::time::{Duration, Instant};

use crate::harness::{stdout, wait_for, Server};

/// Grace period and default toleration, short so the test takes seconds. The
/// grace must exceed the agents' 10 s heartbeat period (Lease and status are
/// renewed together), or live nodes would be declared dead between beats.
const GRACE: u64 = 15;
const FLAGS: &[&str] = &["--node-monitor-grace-period", "15", "--default-eviction-toleration", "5"];

fn node_field(s: &Server, node: &str, jsonpath: &str) -> String {
    stdout(&s.kubectl(&["get", "node", node, "-o", &format!("jsonpath={jsonpath}")]))
}

const READY: &str = r#"{.status.conditions[?(@.type=="Ready")].status}"#;

/// Pod names (space separated) on `node` that match `selector`.
fn pods_on(s: &Server, selector: &str, node: &str) -> Vec<String> {
    let out = s.kubectl_ok(&["get", "pods", "-l", selector, "-o", r#"jsonpath={range .items[*]}{.metadata.name} {.spec.nodeName} {.status.phase}{"\n"}{end}"#]);
    out.lines()
        .filter_map(|l| {
            let mut f = l.split_whitespace();
            let (name, on, phase) = (f.next()?, f.next()?, f.next()?);
            (on == node && phase == "Running").then(|| name.to_string())
        })
        .collect()
}

fn events_with_reason(s: &Server, reason: &str) -> String {
    let jsonpath = format!(r#"jsonpath={{range .items[?(@.reason=="{reason}")]}}{{.involvedObject.name}}: {{.message}}{{"\n"}}{{end}}"#);
    s.kubectl_ok(&["get", "events", "-A", "-o", &jsonpath])
}

#[test]
fn a_killed_node_is_tainted_its_pods_evicted_and_it_recovers() {
    let s = Server::start_with_flags(true, FLAGS);
    let main_node = s.node_name();
    let mut agent = s.add_agent("node-b");

    // A bare pod bound to node-b, and a ReplicaSet's pod that lands there
    // while the main node is cordoned.
    let stray = "apiVersion: v1\nkind: Pod\nmetadata: { name: stray, labels: { app: stray } }\nspec:\n  nodeName: node-b\n  \
                 terminationGracePeriodSeconds: 2\n  containers:\n  - { name: c, image: local/logger:1.0, imagePullPolicy: Never }\n";
    s.kubectl_stdin_ok(&["apply", "-f", "-"], stray);
    s.kubectl_ok(&["cordon", &main_node]);
    let rs = "apiVersion: apps/v1\nkind: ReplicaSet\nmetadata: { name: web }\nspec:\n  replicas: 1\n  selector: { matchLabels: { app: web } }\n  \
              template:\n    metadata: { labels: { app: web } }\n    spec:\n      terminationGracePeriodSeconds: 2\n      \
              containers:\n      - { name: c, image: local/logger:1.0, imagePullPolicy: Never }\n";
    s.kubectl_stdin_ok(&["apply", "-f", "-"], rs);
    let on_b = wait_for("the ReplicaSet's pod running on node-b", Duration::from_secs(60), || pods_on(&s, "app=web", "node-b").pop());
    s.wait_pod_field("stray", "{.status.phase}", "Running", Duration::from_secs(60));
    s.kubectl_ok(&["uncordon", &main_node]);
    // Admission gave the pods the default toleration the server was started with.
    let toleration = s.pod_field("stray", r#"{.spec.tolerations[?(@.key=="node.kubernetes.io/unreachable")].tolerationSeconds}"#);
    assert_eq!(toleration, "5");

    agent.kill9();
    let killed = Instant::now();
    wait_for("node-b Unknown", Duration::from_secs(GRACE + 10), || (node_field(&s, "node-b", READY) == "Unknown").then_some(()));
    assert!(killed.elapsed() < Duration::from_secs(GRACE + 3), "noticed within the grace period and a bit: {:?}", killed.elapsed());
    let unknown = Instant::now();
    let reason = node_field(&s, "node-b", r#"{.status.conditions[?(@.type=="Ready")].reason}"#);
    assert_eq!(reason, "NodeStatusUnknown");
    let message = node_field(&s, "node-b", r#"{.status.conditions[?(@.type=="Ready")].message}"#);
    assert_eq!(message, "Kubelet stopped posting node status.");
    let taints = wait_for("the unreachable taints", Duration::from_secs(5), || {
        let t = node_field(&s, "node-b", r#"{range .spec.taints[*]}{.key}:{.effect} {end}"#);
        t.contains("node.kubernetes.io/unreachable:NoExecute").then_some(t)
    });
    assert!(taints.contains("node.kubernetes.io/unreachable:NoSchedule"), "{taints}");
    let kubectl_view = s.kubectl_ok(&["get", "nodes"]);
    assert!(kubectl_view.lines().any(|l| l.starts_with("node-b") && l.contains("NotReady")), "{kubectl_view}");
    assert!(events_with_reason(&s, "NodeNotReady").contains("node-b: Node node-b status is now: NodeNotReady"));
    wait_for("stray marked not ready", Duration::from_secs(5), || {
        (s.pod_field("stray", r#"{.status.conditions[?(@.type=="Ready")].status}"#) == "False").then_some(())
    });

    // Evicted after the default toleration (5 s), gone after its grace period (2 s).
    let deadline = Instant::now() + Duration::from_secs(30);
    while s.kubectl(&["get", "pod", "stray"]).status.success() {
        assert!(
            Instant::now() < deadline,
            "stray not gone:\n{}\n{}\n{}",
            stdout(&s.kubectl(&["get", "pod", "stray", "-o", "yaml"])),
            stdout(&s.kubectl(&["get", "node", "node-b", "-o", "yaml"])),
            stdout(&s.kubectl(&["get", "events", "-A"]))
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let toleration_since_unknown = Duration::from_secs(5);
    assert!(unknown.elapsed() >= toleration_since_unknown, "not evicted before its toleration: {:?}", unknown.elapsed());
    let evictions = events_with_reason(&s, "TaintManagerEviction");
    assert!(evictions.contains("Marking for deletion Pod default/stray"), "{evictions}");
    wait_for("the ReplicaSet's pod replaced on the main node", Duration::from_secs(60), || {
        pods_on(&s, "app=web", &main_node).pop()
    });
    wait_for("the evicted ReplicaSet pod gone", Duration::from_secs(30), || {
        (!s.kubectl(&["get", "pod", &on_b]).status.success()).then_some(())
    });

    // The node comes back: Ready, untainted.
    let _back = s.add_agent("node-b");
    wait_for("node-b untainted", Duration::from_secs(10), || node_field(&s, "node-b", "{.spec.taints}").is_empty().then_some(()));
    assert_eq!(node_field(&s, "node-b", READY), "True");
    wait_for("NodeReady event", Duration::from_secs(5), || {
        events_with_reason(&s, "NodeReady").contains("Node node-b status is now: NodeReady").then_some(())
    });
}

#[test]
fn tolerations_decide_how_long_pods_stay() {
    let s = Server::start_with_flags(true, FLAGS);
    let main_node = s.node_name();
    let mut agent = s.add_agent("node-b");
    let pod = |name: &str, node: &str, tolerations: &str| {
        format!(
            "apiVersion: v1\nkind: Pod\nmetadata: {{ name: {name} }}\nspec:\n  nodeName: {node}\n  terminationGracePeriodSeconds: 1\n{tolerations}  \
             containers:\n  - {{ name: c, image: local/logger:1.0, imagePullPolicy: Never }}\n"
        )
    };
    let forever = "  tolerations:\n  - { key: node.kubernetes.io/unreachable, operator: Exists, effect: NoExecute }\n";
    let brief = "  tolerations:\n  - { key: node.kubernetes.io/unreachable, operator: Exists, effect: NoExecute, tolerationSeconds: 1 }\n";
    for (name, node, tolerations) in [("patient", "node-b", forever), ("brief", "node-b", brief), ("victim", main_node.as_str(), "")] {
        s.kubectl_stdin_ok(&["apply", "-f", "-"], &pod(name, node, tolerations));
    }
    for name in ["patient", "brief", "victim"] {
        s.wait_pod_field(name, "{.status.phase}", "Running", Duration::from_secs(60));
    }

    // A NoExecute taint nobody tolerates evicts at once; the live agent stops the pod.
    s.kubectl_ok(&["taint", "node", &main_node, "maintenance=now:NoExecute"]);
    let tainted = Instant::now();
    wait_for("victim evicted", Duration::from_secs(15), || (!s.kubectl(&["get", "pod", "victim"]).status.success()).then_some(()));
    assert!(tainted.elapsed() < Duration::from_secs(8), "evicted at once: {:?}", tainted.elapsed());

    // node-b dies: `brief` goes one second after the taint, `patient` stays.
    agent.kill9();
    wait_for("node-b Unknown", Duration::from_secs(GRACE + 10), || (node_field(&s, "node-b", READY) == "Unknown").then_some(()));
    let unknown = Instant::now();
    wait_for("brief gone", Duration::from_secs(15), || (!s.kubectl(&["get", "pod", "brief"]).status.success()).then_some(()));
    assert!(unknown.elapsed() < Duration::from_secs(10), "brief went after its 1 s toleration: {:?}", unknown.elapsed());
    // Proving that something does not happen takes waiting: past the default toleration (5 s).
    std::thread::sleep(Duration::from_secs(8));
    assert_eq!(s.pod_field("patient", "{.metadata.deletionTimestamp}"), "", "patient tolerates unreachable forever");
    assert_eq!(s.pod_field("patient", r#"{.status.conditions[?(@.type=="Ready")].status}"#), "False");
}
