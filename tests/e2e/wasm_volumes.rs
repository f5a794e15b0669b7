//! Volumes of wasm pods on the embedded node: a ConfigMap update reaches the
//! volume of a pod that keeps running, and an emptyDir outlives a container
//! restart.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::harness::{wait_for, Server};

/// The host file behind `key` of volume `volume` of the pod with `uid`, found under the
/// server's data dir (`.../pods/<uid>/volumes/<volume>/<key>`) wherever the agent keeps it.
fn volume_file(root: &Path, uid: &str, volume: &str, key: &str) -> Option<PathBuf> {
    let suffix = Path::new("pods").join(uid).join("volumes").join(volume).join(key);
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let candidate = dir.join(&suffix);
        if candidate.exists() {
            return Some(candidate);
        }
        for entry in std::fs::read_dir(&dir).ok()?.flatten() {
            let path = entry.path();
            // Only real directories: the projection's `..data` symlinks would loop back.
            if entry.file_type().is_ok_and(|t| t.is_dir()) && path.file_name().is_some_and(|n| n != "pki") {
                stack.push(path);
            }
        }
    }
    None
}

/// No sample module re-reads a file while it runs, and `kubectl exec` runs the container's own
/// module, so the guest's view cannot be observed without a restart. What the test proves: the
/// projected file in the running pod's volume changes after `kubectl patch cm`, the container is
/// neither restarted nor replaced, and a new instance in that pod reads the new content.
#[test]
fn configmap_update_reaches_a_running_pod_without_a_restart() {
    let s = Server::start_with_agent();
    let node = s.node_name();
    s.kubectl_ok(&["create", "configmap", "cfg", "--from-literal=greeting=first"]);
    let manifest = format!(
        r#"
apiVersion: v1
kind: Pod
metadata: {{ name: reader }}
spec:
  nodeName: {node}
  volumes: [{{ name: cfg, configMap: {{ name: cfg }} }}]
  containers:
  - name: c
    image: local/logger:1.0
    imagePullPolicy: Never
    volumeMounts: [{{ name: cfg, mountPath: /cfg }}]
"#
    );
    s.kubectl_stdin_ok(&["apply", "-f", "-"], &manifest);
    s.wait_pod_field("reader", "{.status.phase}", "Running", Duration::from_secs(30));
    let uid = s.pod_field("reader", "{.metadata.uid}");
    let container_id = s.pod_field("reader", "{.status.containerStatuses[0].containerID}");
    let file = wait_for("the projected configMap file on the node", Duration::from_secs(10), || {
        volume_file(&s.data_dir(), &uid, "cfg", "greeting")
    });
    assert_eq!(std::fs::read_to_string(&file).expect("read projected file"), "first");

    s.kubectl_ok(&["patch", "configmap", "cfg", "--type=merge", "-p", r#"{"data":{"greeting":"second"}}"#]);
    wait_for("the configMap update in the pod's volume", Duration::from_secs(30), || {
        (std::fs::read_to_string(&file).ok()? == "second").then_some(())
    });
    assert_eq!(s.pod_field("reader", "{.status.containerStatuses[0].restartCount}"), "0");
    assert_eq!(s.pod_field("reader", "{.status.containerStatuses[0].containerID}"), container_id);
    assert_eq!(s.pod_field("reader", "{.status.phase}"), "Running");
}

/// emptydir.wasm prints the counter it finds in /data, then increments it: after a restart of
/// the container the new run must see the previous run's write.
#[test]
fn emptydir_survives_a_container_restart() {
    let s = Server::start_with_agent();
    let node = s.node_name();
    let manifest = format!(
        r#"
apiVersion: v1
kind: Pod
metadata: {{ name: counter }}
spec:
  nodeName: {node}
  restartPolicy: Always
  volumes: [{{ name: data, emptyDir: {{}} }}]
  containers:
  - name: c
    image: local/emptydir:1.0
    imagePullPolicy: Never
    args: ["/data"]
    volumeMounts: [{{ name: data, mountPath: /data }}]
"#
    );
    s.kubectl_stdin_ok(&["apply", "-f", "-"], &manifest);
    wait_for("a second run of the container", Duration::from_secs(35), || {
        let restarts: u32 = s.pod_field("counter", "{.status.containerStatuses[0].restartCount}").parse().ok()?;
        let logs = s.kubectl(&["logs", "counter"]);
        (restarts >= 1 && String::from_utf8_lossy(&logs.stdout).contains("wrote")).then_some(())
    });
    let previous = s.kubectl_ok(&["logs", "counter", "--previous"]);
    let current = s.kubectl_ok(&["logs", "counter"]);
    assert!(previous.contains("count 0"), "the first run starts from an empty dir: {previous}");
    assert!(!current.contains("count 0"), "the restarted run saw the first run's counter: {current}");
    assert!(current.contains("count 1") || current.contains("count 2"), "{current}");
    let describe = s.kubectl_ok(&["describe", "pod", "counter"]);
    for reason in ["Pulled", "Created", "Started", "BackOff"] {
        assert!(describe.contains(reason), "event {reason} in:\n{describe}");
    }
}
