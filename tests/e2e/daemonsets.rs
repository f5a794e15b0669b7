//! DaemonSets over several nodes (the embedded one plus `wasmkube agent`
//! processes), driven by the real kubectl: one pod per node, a new node gets
//! its pod, a rolling update followed by `kubectl rollout status` and
//! `rollout history`, and a nodeSelector that follows node labels.

use std::collections::BTreeSet;
use std::time::Duration;

use crate::harness::{stdout, wait_for, Server};

fn daemonset_manifest(name: &str, node_selector: &str) -> String {
    format!(
        r#"
apiVersion: apps/v1
kind: DaemonSet
metadata: {{ name: {name} }}
spec:
  selector: {{ matchLabels: {{ app: {name} }} }}
  template:
    metadata: {{ labels: {{ app: {name} }} }}
    spec:
      {node_selector}
      containers:
      - {{ name: main, image: "local/logger:1.0", imagePullPolicy: Never }}
"#
    )
}

/// `node:phase` of each live pod of the DaemonSet `name`.
fn pods_by_node(s: &Server, name: &str) -> Vec<(String, String)> {
    let out = stdout(&s.kubectl(&[
        "get",
        "pods",
        "-l",
        &format!("app={name}"),
        "-o",
        r#"jsonpath={range .items[*]}{.spec.nodeName}/{.status.phase}/{.metadata.deletionTimestamp}{"\n"}{end}"#,
    ]));
    out.lines()
        .filter_map(|l| {
            let mut parts = l.split('/');
            let (node, phase, deleting) = (parts.next()?, parts.next()?, parts.next()?);
            deleting.is_empty().then(|| (node.to_string(), phase.to_string()))
        })
        .collect()
}

/// Waits until exactly `nodes` each run one Running pod of `name`.
fn wait_one_running_pod_on(s: &Server, name: &str, nodes: &[&str]) {
    let want: BTreeSet<String> = nodes.iter().map(|n| n.to_string()).collect();
    wait_for(&format!("one running pod of {name} on each of {want:?}"), Duration::from_secs(90), || {
        let pods = pods_by_node(s, name);
        let running: BTreeSet<String> = pods.iter().filter(|(_, phase)| phase == "Running").map(|(node, _)| node.clone()).collect();
        (pods.len() == want.len() && running == want).then_some(())
    });
}

fn field(s: &Server, resource: &str, jsonpath: &str) -> String {
    stdout(&s.kubectl(&["get", resource, "-o", &format!("jsonpath={jsonpath}")]))
}

#[test]
fn one_pod_per_node_new_nodes_and_a_rolling_update() {
    let s = Server::start_with_agent();
    let first = s.node_name();
    let _b = s.add_agent("node-b");
    let _c = s.add_agent("node-c");
    s.kubectl_stdin_ok(&["apply", "-f", "-"], &daemonset_manifest("logs", ""));
    wait_one_running_pod_on(&s, "logs", &[&first, "node-b", "node-c"]);
    s.kubectl_ok(&["rollout", "status", "ds/logs", "--timeout=90s"]);
    assert_eq!(field(&s, "ds/logs", "{.status.desiredNumberScheduled}"), "3");
    assert_eq!(field(&s, "ds/logs", "{.status.numberReady}"), "3");
    assert_eq!(field(&s, "ds/logs", "{.status.updatedNumberScheduled}"), "3");
    // Pinned by node affinity and bound by the scheduler, not by nodeName in the template.
    let pin = field(&s, "pods", "{.items[0].spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0].matchFields[0].key}");
    assert_eq!(pin, "metadata.name");
    let hash = field(&s, "pods", "{.items[0].metadata.labels.controller-revision-hash}");
    assert!(!hash.is_empty());
    let revisions = s.kubectl_ok(&["get", "controllerrevisions", "-o", "name"]);
    assert!(revisions.contains(&format!("logs-{hash}")), "{revisions}");

    // A new node gets its pod.
    let mut d = s.add_agent("node-d");
    wait_one_running_pod_on(&s, "logs", &[&first, "node-b", "node-c", "node-d"]);

    // A new template rolls out node by node.
    s.kubectl_ok(&["set", "env", "ds/logs", "ROLLED=yes"]);
    s.kubectl_ok(&["rollout", "status", "ds/logs", "--timeout=120s"]);
    wait_one_running_pod_on(&s, "logs", &[&first, "node-b", "node-c", "node-d"]);
    let hashes: BTreeSet<String> = field(&s, "pods", "{.items[*].metadata.labels.controller-revision-hash}").split_whitespace().map(str::to_string).collect();
    assert_eq!(hashes.len(), 1, "every pod is on the new revision: {hashes:?}");
    assert!(!hashes.contains(&hash));
    let history = s.kubectl_ok(&["rollout", "history", "ds/logs"]);
    assert!(history.contains('1') && history.contains('2'), "{history}");
    let describe = s.kubectl_ok(&["describe", "ds", "logs"]);
    assert!(describe.contains("SuccessfulCreate") && describe.contains("SuccessfulDelete"), "{describe}");

    // Undo brings the first template back, as revision 3.
    s.kubectl_ok(&["rollout", "undo", "ds/logs"]);
    s.kubectl_ok(&["rollout", "status", "ds/logs", "--timeout=120s"]);
    wait_one_running_pod_on(&s, "logs", &[&first, "node-b", "node-c", "node-d"]);
    let hashes = field(&s, "pods", "{.items[*].metadata.labels.controller-revision-hash}");
    assert!(hashes.split_whitespace().all(|h| h == hash), "back on the first revision: {hashes}");
    let numbers = field(&s, &format!("controllerrevision/logs-{hash}"), "{.revision}");
    assert_eq!(numbers, "3");

    // A node that leaves the cluster takes its pod with it.
    d.kill9();
    s.kubectl_ok(&["delete", "node", "node-d"]);
    wait_one_running_pod_on(&s, "logs", &[&first, "node-b", "node-c"]);
    assert_eq!(field(&s, "ds/logs", "{.status.desiredNumberScheduled}"), "3");
}

#[test]
fn node_selector_follows_node_labels() {
    let s = Server::start_with_agent();
    let first = s.node_name();
    let _b = s.add_agent("node-b");
    s.kubectl_ok(&["label", "node", "node-b", "disk=ssd"]);
    s.kubectl_stdin_ok(&["apply", "-f", "-"], &daemonset_manifest("ssd", "nodeSelector: { disk: ssd }"));
    wait_one_running_pod_on(&s, "ssd", &["node-b"]);
    assert_eq!(field(&s, "ds/ssd", "{.status.desiredNumberScheduled}"), "1");

    s.kubectl_ok(&["label", "node", &first, "disk=ssd"]);
    wait_one_running_pod_on(&s, "ssd", &[&first, "node-b"]);
    s.kubectl_ok(&["label", "node", "node-b", "disk-"]);
    wait_one_running_pod_on(&s, "ssd", &[&first]);
    s.kubectl_ok(&["rollout", "status", "ds/ssd", "--timeout=60s"]);
}
