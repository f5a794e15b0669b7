//! WASI preview 2 command components as pod images (`local/hello-p2:1.0`, the
//! `samples/wasm/hello-p2.wasm` component) with the real kubectl: run to
//! Completed with args, env and a configMap volume in `kubectl logs`,
//! OOMKilled under `limits.memory`, an exec readiness probe, and `kubectl exec`
//! into a running component with its exit code.

use std::time::Duration;

use crate::harness::{stdout, Server};

fn apply(s: &Server, manifest: &str) {
    s.kubectl_stdin_ok(&["apply", "-f", "-"], manifest);
}

#[test]
fn a_component_pod_completes_with_its_logs_and_one_past_its_memory_limit_is_oom_killed() {
    let s = Server::start_with_samples(&["hello-p2"]);
    let node = s.node_name();
    s.kubectl_ok(&["create", "configmap", "cfg", "--from-literal=file.txt=from-configmap"]);
    apply(
        &s,
        &format!(
            r#"
apiVersion: v1
kind: Pod
metadata: {{ name: p2 }}
spec:
  nodeName: {node}
  restartPolicy: Never
  volumes: [{{ name: cfg, configMap: {{ name: cfg }} }}]
  containers:
  - name: hello
    image: local/hello-p2:1.0
    imagePullPolicy: Never
    args: ["cat", "/cfg/file.txt"]
    volumeMounts: [{{ name: cfg, mountPath: /cfg }}]
    env:
    - {{ name: GREETING, value: bonjour }}
    - {{ name: POD_NAME, valueFrom: {{ fieldRef: {{ fieldPath: metadata.name }} }} }}
"#
        ),
    );
    s.wait_pod_field("p2", "{.status.phase}", "Succeeded", Duration::from_secs(60));
    let reason = s.pod_field("p2", "{.status.containerStatuses[0].state.terminated.reason}");
    assert_eq!(reason, "Completed");
    let logs = s.kubectl_ok(&["logs", "p2"]);
    for expected in [
        "hello from a wasi preview 2 component",
        "arg[1]=cat",
        "arg[2]=/cfg/file.txt",
        "env GREETING=bonjour",
        "env POD_NAME=p2",
        "file /cfg/file.txt: from-configmap",
    ] {
        assert!(logs.contains(expected), "{expected:?} missing from {logs}");
    }

    apply(
        &s,
        &format!(
            r#"
apiVersion: v1
kind: Pod
metadata: {{ name: hog }}
spec:
  nodeName: {node}
  restartPolicy: Never
  containers:
  - name: hog
    image: local/hello-p2:1.0
    imagePullPolicy: Never
    args: ["alloc", "64"]
    resources: {{ limits: {{ memory: 16Mi }} }}
"#
        ),
    );
    s.wait_pod_field("hog", "{.status.containerStatuses[0].state.terminated.reason}", "OOMKilled", Duration::from_secs(60));
    assert_eq!(s.pod_field("hog", "{.status.containerStatuses[0].state.terminated.exitCode}"), "137");
}

#[test]
fn exec_and_an_exec_probe_run_new_instances_of_a_running_component() {
    let s = Server::start_with_samples(&["hello-p2"]);
    let node = s.node_name();
    s.kubectl_ok(&["create", "configmap", "cfg", "--from-literal=file.txt=seen-by-exec"]);
    apply(
        &s,
        &format!(
            r#"
apiVersion: v1
kind: Pod
metadata: {{ name: sleeper }}
spec:
  nodeName: {node}
  terminationGracePeriodSeconds: 5
  volumes: [{{ name: cfg, configMap: {{ name: cfg }} }}]
  containers:
  - name: c
    image: local/hello-p2:1.0
    imagePullPolicy: Never
    args: ["sleep", "3600"]
    volumeMounts: [{{ name: cfg, mountPath: /cfg }}]
    readinessProbe:
      exec: {{ command: [hello-p2, cat, /cfg/file.txt] }}
      periodSeconds: 1
"#
        ),
    );
    s.wait_pod_field("sleeper", "{.status.conditions[?(@.type==\"Ready\")].status}", "True", Duration::from_secs(60));

    let ok = s.kubectl(&["exec", "sleeper", "--", "hello-p2", "cat", "/cfg/file.txt"]);
    assert!(ok.status.success(), "exec failed: {}", stdout(&ok));
    let out = stdout(&ok);
    assert!(out.contains("arg[0]=hello-p2") && out.contains("file /cfg/file.txt: seen-by-exec"), "{out}");
    let failed = s.kubectl(&["exec", "sleeper", "--", "hello-p2", "cat", "/missing"]);
    assert_eq!(failed.status.code(), Some(1), "the exec's exit code reaches kubectl");
    let logs = s.kubectl_ok(&["logs", "sleeper"]);
    assert!(logs.contains("arg[2]=3600") && !logs.contains("seen-by-exec"), "exec output stays out of the log: {logs}");

    let started = std::time::Instant::now();
    s.kubectl_ok(&["delete", "pod", "sleeper", "--wait=true", "--timeout=30s"]);
    assert!(started.elapsed() < Duration::from_secs(15), "deleted within the grace period");
}
