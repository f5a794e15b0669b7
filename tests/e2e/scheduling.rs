//! The scheduler, driven by the real kubectl: pods that name no node are
//! placed on a Ready node; an impossible request is explained by a
//! FailedScheduling Event; a nodeSelector waits for a matching label;
//! taints keep pods off a node until they are tolerated.

use std::time::Duration;

use crate::harness::{stdout, wait_for, Server};

const SCHEDULED: Duration = Duration::from_secs(60);

#[test]
fn kubectl_run_without_a_node_is_scheduled_and_runs() {
    let s = Server::start_with_agent();
    let node = s.node_name();
    s.kubectl_ok(&["run", "x", "--image=local/logger:1.0", "--image-pull-policy=Never"]);
    s.wait_pod_field("x", "{.status.phase}", "Running", SCHEDULED);
    assert_eq!(s.pod_field("x", "{.spec.nodeName}"), node);
    let events = s.kubectl_ok(&["get", "events", "--field-selector", "involvedObject.name=x", "-o", "jsonpath={.items[*].reason}"]);
    assert!(events.contains("Scheduled"), "{events}");
}

#[test]
fn an_impossible_request_is_explained_by_failed_scheduling() {
    let s = Server::start_with_agent();
    s.node_name();
    let manifest = r#"
apiVersion: v1
kind: Pod
metadata: { name: huge }
spec:
  containers:
  - name: c
    image: local/logger:1.0
    imagePullPolicy: Never
    resources: { requests: { memory: 100Ti } }
"#;
    s.kubectl_stdin_ok(&["apply", "-f", "-"], manifest);
    let describe = wait_for("FailedScheduling on pod huge", SCHEDULED, || {
        let out = s.kubectl_ok(&["describe", "pod", "huge"]);
        out.contains("FailedScheduling").then_some(out)
    });
    assert!(describe.contains("0/1 nodes are available: 1 Insufficient memory."), "{describe}");
    s.wait_pod_field("huge", r#"{.status.conditions[?(@.type=="PodScheduled")].reason}"#, "Unschedulable", SCHEDULED);
    assert_eq!(s.pod_field("huge", "{.spec.nodeName}"), "");
}

#[test]
fn a_node_selector_waits_for_a_matching_label() {
    let s = Server::start_with_agent();
    let node = s.node_name();
    s.kubectl_ok(&["run", "picky", "--image=local/logger:1.0", "--image-pull-policy=Never", "--overrides", r#"{"spec":{"nodeSelector":{"disk":"ssd"}}}"#]);
    s.wait_pod_field("picky", r#"{.status.conditions[?(@.type=="PodScheduled")].reason}"#, "Unschedulable", SCHEDULED);
    let message = s.pod_field("picky", r#"{.status.conditions[?(@.type=="PodScheduled")].message}"#);
    assert!(message.starts_with("0/1 nodes are available: 1 node(s) didn't match Pod's node affinity/selector."), "{message}");
    s.kubectl_ok(&["label", "node", &node, "disk=ssd"]);
    s.wait_pod_field("picky", "{.spec.nodeName}", &node, SCHEDULED);
    s.wait_pod_field("picky", "{.status.phase}", "Running", SCHEDULED);
}

#[test]
fn a_tainted_node_gets_only_pods_that_tolerate_it() {
    let s = Server::start_with_agent();
    let first = s.node_name();
    let _second = s.add_agent("node-b");
    s.kubectl_ok(&["taint", "node", &first, "dedicated=infra:NoSchedule"]);
    for i in 0..4 {
        s.kubectl_ok(&["run", &format!("plain{i}"), "--image=local/logger:1.0", "--image-pull-policy=Never"]);
    }
    for i in 0..4 {
        s.wait_pod_field(&format!("plain{i}"), "{.spec.nodeName}", "node-b", SCHEDULED);
    }
    // Tolerating the taint, and preferring the first node, the pod goes back there.
    let tolerant = format!(
        r#"{{"spec":{{"tolerations":[{{"key":"dedicated","operator":"Equal","value":"infra","effect":"NoSchedule"}}],
            "affinity":{{"nodeAffinity":{{"preferredDuringSchedulingIgnoredDuringExecution":[{{"weight":100,
            "preference":{{"matchFields":[{{"key":"metadata.name","operator":"In","values":["{first}"]}}]}}}}]}}}}}}}}"#
    );
    s.kubectl_ok(&["run", "tolerant", "--image=local/logger:1.0", "--image-pull-policy=Never", "--overrides", &tolerant]);
    s.wait_pod_field("tolerant", "{.spec.nodeName}", &first, SCHEDULED);
    let nodes = stdout(&s.kubectl(&["get", "pods", "-o", "jsonpath={.items[*].spec.nodeName}"]));
    assert_eq!(nodes.split_whitespace().filter(|n| *n == first).count(), 1, "{nodes}");
}

#[test]
fn a_runtime_class_whose_handler_no_node_has_stays_pending() {
    let s = Server::start_with_agent();
    s.node_name();
    s.kubectl_stdin_ok(&["apply", "-f", "-"], "apiVersion: node.k8s.io/v1\nkind: RuntimeClass\nmetadata: { name: gvisor }\nhandler: runsc\n");
    s.kubectl_stdin_ok(&["apply", "-f", "-"], "apiVersion: node.k8s.io/v1\nkind: RuntimeClass\nmetadata: { name: wasm }\nhandler: wasmtime\n");
    let pod = |name: &str, class: &str| {
        format!(
            "apiVersion: v1\nkind: Pod\nmetadata: {{ name: {name} }}\nspec:\n  runtimeClassName: {class}\n  containers:\n  - {{ name: c, image: local/logger:1.0, imagePullPolicy: Never }}\n"
        )
    };
    s.kubectl_stdin_ok(&["apply", "-f", "-"], &pod("sandboxed", "gvisor"));
    s.kubectl_stdin_ok(&["apply", "-f", "-"], &pod("wasm", "wasm"));
    s.wait_pod_field("wasm", "{.status.phase}", "Running", SCHEDULED);
    s.wait_pod_field("sandboxed", r#"{.status.conditions[?(@.type=="PodScheduled")].reason}"#, "Unschedulable", SCHEDULED);
    let message = s.pod_field("sandboxed", r#"{.status.conditions[?(@.type=="PodScheduled")].message}"#);
    assert!(message.starts_with("0/1 nodes are available: 1 node(s) didn't have the pod's runtime handler \"runsc\"."), "{message}");
}

#[test]
fn pods_of_one_owner_spread_over_the_nodes() {
    let s = Server::start_with_agent();
    let first = s.node_name();
    let _second = s.add_agent("node-b");
    s.kubectl_ok(&["create", "configmap", "owner"]);
    let uid = s.kubectl_ok(&["get", "configmap", "owner", "-o", "jsonpath={.metadata.uid}"]);
    for i in 0..4 {
        let manifest = format!(
            "apiVersion: v1\nkind: Pod\nmetadata:\n  name: replica-{i}\n  ownerReferences: [{{ apiVersion: v1, kind: ConfigMap, name: owner, uid: {uid}, controller: true }}]\n\
             spec:\n  containers:\n  - {{ name: c, image: local/logger:1.0, imagePullPolicy: Never }}\n"
        );
        s.kubectl_stdin_ok(&["apply", "-f", "-"], &manifest);
    }
    let nodes = wait_for("4 replicas bound", SCHEDULED, || {
        let out = stdout(&s.kubectl(&["get", "pods", "-o", "jsonpath={.items[*].spec.nodeName}"]));
        (out.split_whitespace().count() == 4).then_some(out)
    });
    let on_first = nodes.split_whitespace().filter(|n| *n == first).count();
    assert_eq!(on_first, 2, "{nodes}");
}

#[test]
fn a_cordoned_node_takes_new_pods_once_uncordoned() {
    let s = Server::start_with_agent();
    let node = s.node_name();
    s.kubectl_ok(&["cordon", &node]);
    s.kubectl_ok(&["run", "waiting", "--image=local/logger:1.0", "--image-pull-policy=Never"]);
    s.wait_pod_field("waiting", r#"{.status.conditions[?(@.type=="PodScheduled")].reason}"#, "Unschedulable", SCHEDULED);
    let message = s.pod_field("waiting", r#"{.status.conditions[?(@.type=="PodScheduled")].message}"#);
    assert!(message.starts_with("0/1 nodes are available: 1 node(s) were unschedulable."), "{message}");
    s.kubectl_ok(&["uncordon", &node]);
    s.wait_pod_field("waiting", "{.spec.nodeName}", &node, SCHEDULED);
    s.wait_pod_field("waiting", r#"{.status.conditions[?(@.type=="PodScheduled")].status}"#, "True", SCHEDULED);
}
