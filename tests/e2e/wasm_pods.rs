//! Wasm pods on the embedded node agent, driven by the real kubectl: run to
//! completion with logs, env from a ConfigMap and a Secret, a live ConfigMap
//! volume update, CrashLoopBackOff with `logs --previous`, exec with its exit
//! code, graceful deletion, and a server restart that neither loses nor
//! doubles pods.

use std::time::Duration;

use crate::harness::{stdout, wait_for, Server};

fn pod_field(s: &Server, pod: &str, jsonpath: &str) -> String {
    s.kubectl(&["get", "pod", pod, "-o", &format!("jsonpath={jsonpath}")]).stdout.iter().map(|b| *b as char).collect()
}

fn wait_phase(s: &Server, pod: &str, phase: &str) {
    wait_for(&format!("pod {pod} {phase}"), Duration::from_secs(60), || {
        (pod_field(s, pod, "{.status.phase}") == phase).then_some(())
    });
}

#[test]
fn node_registers_with_its_runtime() {
    let s = Server::start_with_agent();
    let nodes = wait_for("a Ready node", Duration::from_secs(30), || {
        let out = s.kubectl_ok(&["get", "nodes", "-o", "jsonpath={.items[*].metadata.labels}"]);
        out.contains("wasmkube.io/runtime-wasmtime").then_some(out)
    });
    assert!(nodes.contains("kubernetes.io/os"), "{nodes}");
    let lease = s.kubectl_ok(&["get", "leases", "-n", "kube-node-lease", "-o", "name"]);
    assert!(!lease.trim().is_empty(), "a node lease exists");
}

#[test]
fn hello_completes_with_env_from_configmap_and_secret_and_logs() {
    let s = Server::start_with_agent();
    let node = s.node_name();
    s.kubectl_ok(&["create", "configmap", "cfg", "--from-literal=MODE=fast", "--from-literal=file.txt=from-configmap"]);
    s.kubectl_ok(&["create", "secret", "generic", "creds", "--from-literal=PASSWORD=hunter2"]);
    let manifest = format!(
        r#"
apiVersion: v1
kind: Pod
metadata: {{ name: hello }}
spec:
  nodeName: {node}
  restartPolicy: Never
  volumes: [{{ name: cfg, configMap: {{ name: cfg }} }}]
  containers:
  - name: hello
    image: local/hello:1.0
    imagePullPolicy: Never
    args: ["/cfg/file.txt"]
    volumeMounts: [{{ name: cfg, mountPath: /cfg }}]
    env:
    - {{ name: MODE, valueFrom: {{ configMapKeyRef: {{ name: cfg, key: MODE }} }} }}
    - {{ name: PASSWORD, valueFrom: {{ secretKeyRef: {{ name: creds, key: PASSWORD }} }} }}
    - {{ name: POD_NAME, valueFrom: {{ fieldRef: {{ fieldPath: metadata.name }} }} }}
"#
    );
    s.kubectl_stdin_ok(&["apply", "-f", "-"], &manifest);
    wait_phase(&s, "hello", "Succeeded");
    let logs = s.kubectl_ok(&["logs", "hello"]);
    assert!(logs.contains("hello from wasm"), "{logs}");
    assert!(logs.contains("env MODE=fast"), "{logs}");
    assert!(logs.contains("env PASSWORD=hunter2"), "{logs}");
    assert!(logs.contains("env POD_NAME=hello"), "{logs}");
    assert!(logs.contains("from-configmap"), "{logs}");
    let reason = pod_field(&s, "hello", "{.status.containerStatuses[0].state.terminated.reason}");
    assert_eq!(reason, "Completed");
    let events = s.kubectl_ok(&["describe", "pod", "hello"]);
    assert!(events.contains("Started"), "{events}");
}

#[test]
fn crasher_backs_off_and_keeps_its_previous_log() {
    let s = Server::start_with_agent();
    let node = s.node_name();
    let manifest = format!(
        "apiVersion: v1\nkind: Pod\nmetadata: {{ name: crasher }}\nspec:\n  nodeName: {node}\n  containers:\n  - {{ name: c, image: local/crasher:1.0, imagePullPolicy: Never }}\n"
    );
    s.kubectl_stdin_ok(&["apply", "-f", "-"], &manifest);
    wait_for("CrashLoopBackOff", Duration::from_secs(60), || {
        (pod_field(&s, "crasher", "{.status.containerStatuses[0].state.waiting.reason}") == "CrashLoopBackOff").then_some(())
    });
    let restarts: i32 = pod_field(&s, "crasher", "{.status.containerStatuses[0].restartCount}").parse().unwrap_or(0);
    assert!(restarts >= 1, "restartCount {restarts}");
    let previous = s.kubectl_ok(&["logs", "crasher", "--previous"]);
    assert!(previous.contains("crasher: about to exit 1"), "{previous}");
    let last = pod_field(&s, "crasher", "{.status.containerStatuses[0].lastState.terminated.exitCode}");
    assert_eq!(last, "1");
}

#[test]
fn exec_returns_output_and_exit_code_and_delete_is_graceful() {
    let s = Server::start_with_agent();
    let node = s.node_name();
    let manifest = format!(
        "apiVersion: v1\nkind: Pod\nmetadata: {{ name: logger }}\nspec:\n  nodeName: {node}\n  terminationGracePeriodSeconds: 5\n  containers:\n  - {{ name: c, image: local/logger:1.0, imagePullPolicy: Never }}\n"
    );
    s.kubectl_stdin_ok(&["apply", "-f", "-"], &manifest);
    wait_phase(&s, "logger", "Running");
    // `kubectl exec` runs a new instance of the container's module: logger COUNT EXIT.
    let ok = s.kubectl(&["exec", "logger", "--", "logger", "1", "0"]);
    assert!(ok.status.success(), "exec failed");
    assert!(stdout(&ok).contains("log line"), "{}", stdout(&ok));
    let failed = s.kubectl(&["exec", "logger", "--", "logger", "1", "3"]);
    assert_eq!(failed.status.code(), Some(3), "the exec's exit code reaches kubectl");

    let started = std::time::Instant::now();
    s.kubectl_ok(&["delete", "pod", "logger", "--wait=true", "--timeout=30s"]);
    assert!(started.elapsed() < Duration::from_secs(15), "deleted within the grace period");
    let left = s.kubectl_ok(&["get", "pods", "-o", "name"]);
    assert!(left.trim().is_empty(), "{left}");
}

#[test]
fn server_restart_neither_loses_nor_duplicates_pods() {
    let mut s = Server::start_with_agent();
    let node = s.node_name();
    for i in 0..3 {
        let manifest = format!(
            "apiVersion: v1\nkind: Pod\nmetadata: {{ name: l{i} }}\nspec:\n  nodeName: {node}\n  containers:\n  - {{ name: c, image: local/logger:1.0, imagePullPolicy: Never }}\n"
        );
        s.kubectl_stdin_ok(&["apply", "-f", "-"], &manifest);
    }
    for i in 0..3 {
        wait_phase(&s, &format!("l{i}"), "Running");
    }
    s.restart();
    for i in 0..3 {
        let pod = format!("l{i}");
        wait_for(&format!("{pod} running again after the restart"), Duration::from_secs(60), || {
            let restarts: i32 = pod_field(&s, &pod, "{.status.containerStatuses[0].restartCount}").parse().unwrap_or(0);
            (restarts >= 1 && pod_field(&s, &pod, "{.status.phase}") == "Running").then_some(())
        });
    }
    let names = s.kubectl_ok(&["get", "pods", "-o", "name"]);
    assert_eq!(names.lines().count(), 3, "{names}");
}
