//! Persistent storage through the real kubectl: the default StorageClass,
//! dynamic provisioning under the server's data dir, binding to existing
//! volumes, reclaim policies, and a pod that waits for its claim and then
//! writes into the volume.

use std::path::PathBuf;
use std::time::Duration;

use crate::harness::{stdout, wait_for, Server};

const BIND_TIMEOUT: Duration = Duration::from_secs(30);

fn get(s: &Server, kind: &str, name: &str, jsonpath: &str) -> String {
    stdout(&s.kubectl(&["get", kind, name, "-o", &format!("jsonpath={jsonpath}")]))
}

fn wait_field(s: &Server, kind: &str, name: &str, jsonpath: &str, want: &str) {
    wait_for(&format!("{jsonpath} of {kind}/{name} to be {want:?}"), BIND_TIMEOUT, || (get(s, kind, name, jsonpath) == want).then_some(()));
}

fn claim(name: &str, class: Option<&str>, size: &str) -> String {
    let class = class.map(|c| format!("\n  storageClassName: {c}")).unwrap_or_default();
    format!(
        "apiVersion: v1\nkind: PersistentVolumeClaim\nmetadata: {{ name: {name} }}\nspec:\n  accessModes: [ReadWriteOnce]\n  resources: {{ requests: {{ storage: {size} }} }}{class}\n"
    )
}

#[test]
fn a_claim_without_class_is_provisioned_from_the_default_class_and_deleted_with_it() {
    let s = Server::start();
    let classes = s.kubectl_ok(&["get", "storageclass"]);
    assert!(classes.contains("local-path (default)") && classes.contains("wasmkube.io/local-path"), "{classes}");

    s.kubectl_stdin_ok(&["apply", "-f", "-"], &claim("data", None, "1Gi"));
    assert_eq!(get(&s, "pvc", "data", "{.spec.storageClassName}"), "local-path", "the default class is filled in");
    wait_field(&s, "pvc", "data", "{.status.phase}", "Bound");
    let uid = get(&s, "pvc", "data", "{.metadata.uid}");
    let pv = format!("pvc-{uid}");
    assert_eq!(get(&s, "pvc", "data", "{.spec.volumeName}"), pv);
    assert_eq!(get(&s, "pvc", "data", "{.status.capacity.storage}"), "1Gi");
    assert_eq!(get(&s, "pvc", "data", "{.metadata.annotations.pv\\.kubernetes\\.io/bind-completed}"), "yes");
    wait_field(&s, "pv", &pv, "{.status.phase}", "Bound");
    assert_eq!(get(&s, "pv", &pv, "{.spec.claimRef.name}"), "data");
    assert_eq!(get(&s, "pv", &pv, "{.spec.claimRef.uid}"), uid);
    assert_eq!(get(&s, "pv", &pv, "{.spec.persistentVolumeReclaimPolicy}"), "Delete");
    assert_eq!(get(&s, "pv", &pv, "{.spec.storageClassName}"), "local-path");
    let dir = PathBuf::from(get(&s, "pv", &pv, "{.spec.hostPath.path}"));
    assert_eq!(dir, s.data_dir().join("storage").join(&pv));
    assert!(dir.is_dir(), "the provisioner made {}", dir.display());
    let table = s.kubectl_ok(&["get", "pvc", "data"]);
    assert!(table.contains("Bound") && table.contains(&pv) && table.contains("RWO"), "{table}");

    s.kubectl_ok(&["delete", "pvc", "data"]);
    wait_for("the volume to be deleted with its claim", BIND_TIMEOUT, || {
        let out = s.kubectl(&["get", "pv", &pv]);
        (!out.status.success()).then_some(())
    });
    assert!(!dir.exists(), "the Delete policy removed {}", dir.display());
}

#[test]
fn the_retain_policy_keeps_a_released_volume_and_its_data() {
    let s = Server::start();
    let class = "apiVersion: storage.k8s.io/v1\nkind: StorageClass\nmetadata: { name: keep }\nprovisioner: wasmkube.io/local-path\nreclaimPolicy: Retain\n";
    s.kubectl_stdin_ok(&["apply", "-f", "-"], class);
    s.kubectl_stdin_ok(&["apply", "-f", "-"], &claim("kept", Some("keep"), "100Mi"));
    wait_field(&s, "pvc", "kept", "{.status.phase}", "Bound");
    let pv = get(&s, "pvc", "kept", "{.spec.volumeName}");
    let dir = PathBuf::from(get(&s, "pv", &pv, "{.spec.hostPath.path}"));
    std::fs::write(dir.join("precious"), "data").expect("write into the volume");
    s.kubectl_ok(&["delete", "pvc", "kept"]);
    wait_field(&s, "pv", &pv, "{.status.phase}", "Released");
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(get(&s, "pv", &pv, "{.status.phase}"), "Released", "a retained volume stays");
    assert_eq!(std::fs::read_to_string(dir.join("precious")).expect("still there"), "data");
}

#[test]
fn a_claim_binds_to_the_smallest_existing_volume_that_fits() {
    let s = Server::start();
    let host = tempfile::tempdir().expect("tempdir");
    for (name, size) in [("big", "10Gi"), ("fits", "2Gi"), ("small", "500Mi")] {
        let manifest = format!(
            "apiVersion: v1\nkind: PersistentVolume\nmetadata: {{ name: {name} }}\nspec:\n  storageClassName: manual\n  capacity: {{ storage: {size} }}\n  accessModes: [ReadWriteOnce]\n  hostPath: {{ path: {} }}\n",
            host.path().join(name).display()
        );
        s.kubectl_stdin_ok(&["apply", "-f", "-"], &manifest);
    }
    wait_field(&s, "pv", "small", "{.status.phase}", "Available");
    s.kubectl_stdin_ok(&["apply", "-f", "-"], &claim("want", Some("manual"), "1Gi"));
    wait_field(&s, "pvc", "want", "{.status.phase}", "Bound");
    assert_eq!(get(&s, "pvc", "want", "{.spec.volumeName}"), "fits");
    assert_eq!(get(&s, "pvc", "want", "{.status.capacity.storage}"), "2Gi");
    assert_eq!(get(&s, "pv", "fits", "{.metadata.annotations.pv\\.kubernetes\\.io/bound-by-controller}"), "yes");
    assert_eq!(get(&s, "pv", "big", "{.status.phase}"), "Available");

    // No volume of that class is left and nobody provisions `manual`: the claim waits, saying why.
    s.kubectl_stdin_ok(&["apply", "-f", "-"], &claim("more", Some("manual"), "50Gi"));
    wait_for("a FailedBinding or ProvisioningFailed event", BIND_TIMEOUT, || {
        let describe = s.kubectl_ok(&["describe", "pvc", "more"]);
        describe.contains("storageclass.storage.k8s.io \"manual\" not found").then_some(())
    });
    assert_eq!(get(&s, "pvc", "more", "{.status.phase}"), "Pending");
}

/// The agent side: a pod whose claim is not bound waits with a FailedMount
/// event naming it; once the claim binds, the pod starts with the volume's
/// directory mounted and writes into it.
#[test]
fn a_pod_waits_for_its_claim_then_writes_into_the_volume() {
    let s = Server::start_with_agent();
    s.kubectl_stdin_ok(&["apply", "-f", "-"], &claim("later", Some("manual"), "1Gi"));
    let pod = r#"
apiVersion: v1
kind: Pod
metadata: { name: writer }
spec:
  restartPolicy: Never
  volumes: [{ name: data, persistentVolumeClaim: { claimName: later } }]
  containers:
  - name: c
    image: local/emptydir:1.0
    imagePullPolicy: Never
    args: ["/data"]
    volumeMounts: [{ name: data, mountPath: /data }]
"#;
    s.kubectl_stdin_ok(&["apply", "-f", "-"], pod);
    wait_for("a FailedMount event for the unbound claim", Duration::from_secs(60), || {
        let describe = s.kubectl_ok(&["describe", "pod", "writer"]);
        (describe.contains("FailedMount") && describe.contains("persistentvolumeclaim \"later\" not bound")).then_some(())
    });
    assert_ne!(s.pod_field("writer", "{.status.phase}"), "Succeeded");

    let host = tempfile::tempdir().expect("tempdir");
    let volume = host.path().join("vol");
    let manifest = format!(
        "apiVersion: v1\nkind: PersistentVolume\nmetadata: {{ name: manual-1 }}\nspec:\n  storageClassName: manual\n  capacity: {{ storage: 1Gi }}\n  accessModes: [ReadWriteOnce]\n  persistentVolumeReclaimPolicy: Retain\n  hostPath: {{ path: {}, type: DirectoryOrCreate }}\n",
        volume.display()
    );
    s.kubectl_stdin_ok(&["apply", "-f", "-"], &manifest);
    wait_field(&s, "pvc", "later", "{.status.phase}", "Bound");
    s.wait_pod_field("writer", "{.status.phase}", "Succeeded", Duration::from_secs(60));
    assert!(s.kubectl_ok(&["logs", "writer"]).contains("count 0"));
    assert_eq!(std::fs::read_to_string(volume.join("counter")).expect("the pod's write").trim(), "1");
}

/// The same claim on the Linux runtime: its volume is bind-mounted, a second
/// pod reads what the first wrote, and `readOnly: true` makes the mount read-only.
#[test]
fn linux_pods_share_data_through_a_claim() {
    let Some(registry) = crate::harness::TestRegistry::get() else { return };
    let s = Server::start_with_registry(registry);
    let busybox = registry.image("busybox:1.0");
    s.kubectl_stdin_ok(&["apply", "-f", "-"], &claim("shared", None, "10Mi"));
    wait_field(&s, "pvc", "shared", "{.status.phase}", "Bound");
    let pod = |name: &str, script: &str, read_only: bool| {
        format!(
            r#"
apiVersion: v1
kind: Pod
metadata: {{ name: {name} }}
spec:
  restartPolicy: Never
  terminationGracePeriodSeconds: 1
  volumes: [{{ name: data, persistentVolumeClaim: {{ claimName: shared, readOnly: {read_only} }} }}]
  containers:
  - name: c
    image: {busybox}
    command: ["sh", "-c", "{script}"]
    volumeMounts: [{{ name: data, mountPath: /data }}]
"#
        )
    };
    s.kubectl_stdin_ok(&["apply", "-f", "-"], &pod("writer", "echo hello > /data/greeting", false));
    s.wait_pod_field("writer", "{.status.phase}", "Succeeded", Duration::from_secs(60));
    let pv = get(&s, "pvc", "shared", "{.spec.volumeName}");
    let dir = PathBuf::from(get(&s, "pv", &pv, "{.spec.hostPath.path}"));
    assert_eq!(std::fs::read_to_string(dir.join("greeting")).expect("the pod's file on the host"), "hello\n");

    s.kubectl_stdin_ok(&["apply", "-f", "-"], &pod("reader", "cat /data/greeting; echo bye > /data/greeting", true));
    s.wait_pod_field("reader", "{.status.phase}", "Failed", Duration::from_secs(60));
    assert!(s.kubectl_ok(&["logs", "reader"]).contains("hello"), "the second pod reads the first one's data");
    assert_eq!(std::fs::read_to_string(dir.join("greeting")).expect("unchanged"), "hello\n", "a readOnly claim cannot be written");
    // Linux containers would outlive the SIGKILLed server: remove the pods first.
    s.kubectl_ok(&["delete", "pods", "--all", "--wait=true"]);
}

/// A claim deleted while a running pod uses it stays (Terminating, its volume
/// Bound) until the pod is gone; then the claim and its volume go.
#[test]
fn a_claim_in_use_outlives_its_deletion_until_the_pod_goes() {
    let s = Server::start_with_agent();
    s.kubectl_stdin_ok(&["apply", "-f", "-"], &claim("held", None, "10Mi"));
    let pod = r#"
apiVersion: v1
kind: Pod
metadata: { name: holder }
spec:
  terminationGracePeriodSeconds: 1
  volumes: [{ name: data, persistentVolumeClaim: { claimName: held } }]
  containers:
  - name: c
    image: local/logger:1.0
    imagePullPolicy: Never
    volumeMounts: [{ name: data, mountPath: /data }]
"#;
    s.kubectl_stdin_ok(&["apply", "-f", "-"], pod);
    s.wait_pod_field("holder", "{.status.phase}", "Running", Duration::from_secs(60));
    assert_eq!(get(&s, "pvc", "held", "{.metadata.finalizers}"), r#"["kubernetes.io/pvc-protection"]"#);
    let pv = get(&s, "pvc", "held", "{.spec.volumeName}");

    s.kubectl_ok(&["delete", "pvc", "held", "--wait=false"]);
    std::thread::sleep(Duration::from_secs(3));
    assert!(!get(&s, "pvc", "held", "{.metadata.deletionTimestamp}").is_empty(), "the claim is Terminating");
    assert_eq!(get(&s, "pv", &pv, "{.status.phase}"), "Bound", "its volume is untouched while the pod runs");
    assert_eq!(s.pod_field("holder", "{.status.phase}"), "Running");

    s.kubectl_ok(&["delete", "pod", "holder"]);
    wait_for("the claim and its volume to go", BIND_TIMEOUT, || {
        let gone = |kind: &str, name: &str| !s.kubectl(&["get", kind, name]).status.success();
        (gone("pvc", "held") && gone("pv", &pv)).then_some(())
    });
}
