//! StatefulSets through the real kubectl: ordered creation (a watcher sees
//! web-1 appear only after web-0 is Ready), one claim per replica from
//! volumeClaimTemplates, data that survives a pod deletion and a scale-down
//! and scale-up, rollout status/history, and a rolling update.
//!
//! The replicas run `logger` and an init container `emptydir.wasm /data`
//! that prints the counter it finds in the replica's volume and increments
//! it: "count N" in its log says the pod saw N earlier runs' writes, so a
//! replacement pod printing "count 1" proves it got the same claim back.

use std::io::{BufRead, BufReader};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::harness::{stdout, wait_for, Server};

const ROLLOUT: Duration = Duration::from_secs(120);

const MANIFEST: &str = r#"
apiVersion: v1
kind: Service
metadata: { name: web }
spec:
  clusterIP: None
  selector: { app: web }
  ports: [{ port: 80 }]
---
apiVersion: apps/v1
kind: StatefulSet
metadata: { name: web }
spec:
  serviceName: web
  replicas: 3
  selector: { matchLabels: { app: web } }
  template:
    metadata: { labels: { app: web } }
    spec:
      initContainers:
      - name: count
        image: local/emptydir:1.0
        imagePullPolicy: Never
        args: ["/data"]
        volumeMounts: [{ name: data, mountPath: /data }]
      containers:
      - name: app
        image: local/logger:1.0
        imagePullPolicy: Never
        volumeMounts: [{ name: data, mountPath: /data }]
  volumeClaimTemplates:
  - metadata: { name: data }
    spec:
      accessModes: [ReadWriteOnce]
      resources: { requests: { storage: 64Mi } }
"#;

fn jsonpath(s: &Server, args: &[&str], path: &str) -> String {
    let mut all = args.to_vec();
    let template = format!("jsonpath={path}");
    all.extend(["-o", &template]);
    stdout(&s.kubectl(&all))
}

fn pod_names(s: &Server) -> Vec<String> {
    let names = jsonpath(s, &["get", "pods", "-l", "app=web"], "{.items[*].metadata.name}");
    let mut names: Vec<String> = names.split_whitespace().map(str::to_string).collect();
    names.sort();
    names
}

/// "count N" from the init container of `pod`, once it has run.
fn init_count(s: &Server, pod: &str) -> String {
    wait_for(&format!("the init container log of {pod}"), ROLLOUT, || {
        let log = stdout(&s.kubectl(&["logs", pod, "-c", "count"]));
        log.lines().find(|l| l.starts_with("count ")).map(str::to_string)
    })
}

fn rollout(s: &Server) {
    s.kubectl_ok(&["rollout", "status", "statefulset/web", &format!("--timeout={}s", ROLLOUT.as_secs())]);
}

/// Lines `<pod> <Ready status>` as a kubectl watch reports each change.
fn watch_pods(s: &Server) -> (std::process::Child, Arc<Mutex<Vec<String>>>) {
    let template = r#"jsonpath={.metadata.name} {.status.conditions[?(@.type=="Ready")].status}{"\n"}"#;
    let mut child = s.kubectl_spawn(&["get", "pods", "-l", "app=web", "-w", "-o", template]);
    let seen = Arc::new(Mutex::new(Vec::new()));
    let out = child.stdout.take().expect("watch stdout");
    let sink = Arc::clone(&seen);
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines().map_while(Result::ok) {
            if let Ok(mut seen) = sink.lock() {
                seen.push(line);
            }
        }
    });
    (child, seen)
}

fn first(lines: &[String], pred: impl Fn(&str) -> bool) -> Option<usize> {
    lines.iter().position(|l| pred(l))
}

#[test]
fn replicas_come_up_in_order_and_keep_their_claims() {
    let s = Server::start_with_agent();
    let (mut watcher, seen) = watch_pods(&s);
    s.kubectl_stdin_ok(&["apply", "-f", "-"], MANIFEST);
    rollout(&s);
    assert_eq!(pod_names(&s), ["web-0", "web-1", "web-2"]);

    wait_for("the watcher to report web-2", Duration::from_secs(10), || {
        seen.lock().ok()?.iter().any(|l| l.starts_with("web-2 ")).then_some(())
    });
    let _ = watcher.kill();
    let lines = seen.lock().expect("watch lines").clone();
    for (before, after) in [("web-0", "web-1"), ("web-1", "web-2")] {
        let ready = first(&lines, |l| l == format!("{before} True")).unwrap_or_else(|| panic!("{before} Ready in {lines:?}"));
        let created = first(&lines, |l| l.starts_with(&format!("{after} "))).unwrap_or_else(|| panic!("{after} in {lines:?}"));
        assert!(ready < created, "{after} was created before {before} was Ready: {lines:?}");
    }

    // Identity: hostname, subdomain, labels, and a Bound claim per replica.
    assert_eq!(s.pod_field("web-1", "{.spec.hostname}"), "web-1");
    assert_eq!(s.pod_field("web-1", "{.spec.subdomain}"), "web");
    assert_eq!(s.pod_field("web-1", "{.metadata.labels.statefulset\\.kubernetes\\.io/pod-name}"), "web-1");
    assert_eq!(s.pod_field("web-1", "{.metadata.labels.apps\\.kubernetes\\.io/pod-index}"), "1");
    let revision = jsonpath(&s, &["get", "sts", "web"], "{.status.updateRevision}");
    assert_eq!(s.pod_field("web-1", "{.metadata.labels.controller-revision-hash}"), revision);
    assert_eq!(s.pod_field("web-1", "{.spec.volumes[?(@.name==\"data\")].persistentVolumeClaim.claimName}"), "data-web-1");
    for claim in ["data-web-0", "data-web-1", "data-web-2"] {
        assert_eq!(jsonpath(&s, &["get", "pvc", claim], "{.status.phase}"), "Bound", "{claim}");
    }
    let status = jsonpath(&s, &["get", "sts", "web"], "{.status.replicas} {.status.readyReplicas} {.status.currentReplicas} {.status.updatedReplicas} {.status.availableReplicas}");
    assert_eq!(status, "3 3 3 3 3");
    let table = s.kubectl_ok(&["get", "sts", "web"]);
    assert!(table.lines().nth(1).is_some_and(|row| row.split_whitespace().nth(1) == Some("3/3")), "{table}");
    assert_eq!(jsonpath(&s, &["get", "sts", "web"], "{.status.currentRevision}"), revision);
    let describe = s.kubectl_ok(&["describe", "sts", "web"]);
    assert!(describe.contains("create Pod web-0 in StatefulSet web successful"), "{describe}");
    assert!(describe.contains("create Claim data-web-0 Pod web-0 in StatefulSet web success"), "{describe}");
    let history = s.kubectl_ok(&["rollout", "history", "statefulset/web"]);
    assert!(history.lines().any(|l| l.trim_start().starts_with('1')), "{history}");
    // Settled: the controllers write nothing more (reconciles are idempotent).
    let versions = |s: &Server| {
        let set = jsonpath(s, &["get", "sts", "web"], "{.metadata.resourceVersion}");
        let claims = jsonpath(s, &["get", "pvc"], "{.items[*].metadata.resourceVersion}");
        let volumes = jsonpath(s, &["get", "pv"], "{.items[*].metadata.resourceVersion}");
        format!("{set} | {claims} | {volumes}")
    };
    let settled = versions(&s);
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(versions(&s), settled, "nothing rewritten once settled");

    // A deleted replica comes back under its name with its data.
    assert_eq!(init_count(&s, "web-1"), "count 0");
    let old_uid = s.pod_field("web-1", "{.metadata.uid}");
    s.kubectl_ok(&["delete", "pod", "web-1"]);
    wait_for("a new web-1", ROLLOUT, || {
        let uid = s.pod_field("web-1", "{.metadata.uid}");
        (!uid.is_empty() && uid != old_uid).then_some(())
    });
    rollout(&s);
    assert_eq!(s.pod_field("web-1", "{.spec.volumes[?(@.name==\"data\")].persistentVolumeClaim.claimName}"), "data-web-1");
    assert_eq!(init_count(&s, "web-1"), "count 1", "the new web-1 saw the old one's write");

    // Scale down: the claims stay; scale up: the same claims come back.
    let volume_of = |claim: &str| jsonpath(&s, &["get", "pvc", claim], "{.spec.volumeName}");
    let volumes_before: Vec<String> = ["data-web-1", "data-web-2"].map(volume_of).to_vec();
    s.kubectl_ok(&["scale", "statefulset", "web", "--replicas=1"]);
    wait_for("only web-0 left", ROLLOUT, || (pod_names(&s) == ["web-0"]).then_some(()));
    for claim in ["data-web-1", "data-web-2"] {
        assert_eq!(jsonpath(&s, &["get", "pvc", claim], "{.status.phase}"), "Bound", "{claim} kept on scale-down");
    }
    s.kubectl_ok(&["scale", "statefulset", "web", "--replicas=3"]);
    rollout(&s);
    assert_eq!(pod_names(&s), ["web-0", "web-1", "web-2"]);
    assert_eq!(["data-web-1", "data-web-2"].map(volume_of).to_vec(), volumes_before);
    assert_eq!(init_count(&s, "web-1"), "count 2");
    assert_eq!(init_count(&s, "web-2"), "count 1");
}

#[test]
fn a_template_change_rolls_out_from_the_highest_ordinal_and_is_recorded() {
    let s = Server::start_with_agent();
    s.kubectl_stdin_ok(&["apply", "-f", "-"], MANIFEST);
    rollout(&s);
    let first_revision = jsonpath(&s, &["get", "sts", "web"], "{.status.updateRevision}");
    let uids = |s: &Server| ["web-0", "web-1", "web-2"].map(|p| s.pod_field(p, "{.metadata.uid}"));
    let before = uids(&s);

    s.kubectl_ok(&["set", "env", "statefulset/web", "-c", "app", "GREETING=hello"]);
    rollout(&s);
    let second_revision = jsonpath(&s, &["get", "sts", "web"], "{.status.updateRevision}");
    assert_ne!(second_revision, first_revision);
    assert_eq!(jsonpath(&s, &["get", "sts", "web"], "{.status.currentRevision}"), second_revision);
    let after = uids(&s);
    for (i, pod) in ["web-0", "web-1", "web-2"].iter().enumerate() {
        assert_ne!(before[i], after[i], "{pod} was replaced");
        assert_eq!(s.pod_field(pod, "{.metadata.labels.controller-revision-hash}"), second_revision);
    }
    // Highest ordinal first: web-2 is the oldest of the replacements.
    let created = |p: &str| s.pod_field(p, "{.metadata.creationTimestamp}");
    assert!(created("web-2") <= created("web-1") && created("web-1") <= created("web-0"));
    let history = s.kubectl_ok(&["rollout", "history", "statefulset/web"]);
    assert!(history.lines().any(|l| l.trim_start().starts_with('2')), "{history}");
    let revisions = jsonpath(&s, &["get", "controllerrevisions"], "{.items[*].metadata.name}");
    assert!(revisions.contains(&first_revision) && revisions.contains(&second_revision), "{revisions}");

    // Undo: the first revision comes back as the newest (3) and rolls out.
    s.kubectl_ok(&["rollout", "undo", "statefulset/web"]);
    wait_for("the first revision to be the update revision again", ROLLOUT, || {
        (jsonpath(&s, &["get", "sts", "web"], "{.status.updateRevision}") == first_revision).then_some(())
    });
    rollout(&s);
    assert_eq!(jsonpath(&s, &["get", "controllerrevision", &first_revision], "{.revision}"), "3");
    assert_eq!(s.pod_field("web-0", "{.metadata.labels.controller-revision-hash}"), first_revision);
    assert_eq!(s.pod_field("web-0", "{.spec.containers[0].env}"), "", "the env var is gone again");

    // The retention policy changed after the claims exist: the set takes them along when deleted.
    assert_eq!(jsonpath(&s, &["get", "pvc", "data-web-0"], "{.metadata.ownerReferences}"), "");
    let policy = r#"{"spec":{"persistentVolumeClaimRetentionPolicy":{"whenDeleted":"Delete"}}}"#;
    s.kubectl_ok(&["patch", "statefulset", "web", "--type=merge", "-p", policy]);
    wait_for("the set to own its claims", ROLLOUT, || {
        let owners = jsonpath(&s, &["get", "pvc"], "{.items[*].metadata.ownerReferences[0].kind}");
        (owners.split_whitespace().filter(|k| *k == "StatefulSet").count() == 3).then_some(())
    });
    s.kubectl_ok(&["delete", "statefulset", "web"]);
    wait_for("the claims to go with the set", ROLLOUT, || jsonpath(&s, &["get", "pvc"], "{.items[*].metadata.name}").trim().is_empty().then_some(()));
}

/// `Parallel` starts every replica at once; `whenScaled: Delete` removes the
/// claims (and, by the class's Delete policy, the volumes) of scaled-away
/// replicas, and `whenDeleted: Delete` hands the rest to the garbage collector
/// with the set.
#[test]
fn parallel_replicas_with_claims_deleted_by_the_retention_policy() {
    let s = Server::start_with_agent();
    let manifest = MANIFEST
        .replace("replicas: 3", "replicas: 3\n  podManagementPolicy: Parallel\n  persistentVolumeClaimRetentionPolicy: { whenScaled: Delete, whenDeleted: Delete }");
    let (mut watcher, seen) = watch_pods(&s);
    s.kubectl_stdin_ok(&["apply", "-f", "-"], &manifest);
    rollout(&s);
    let _ = watcher.kill();
    let lines = seen.lock().expect("watch lines").clone();
    let ready = first(&lines, |l| l == "web-0 True").unwrap_or_else(|| panic!("web-0 Ready in {lines:?}"));
    let created = first(&lines, |l| l.starts_with("web-2 ")).unwrap_or_else(|| panic!("web-2 in {lines:?}"));
    assert!(created < ready, "Parallel does not wait for web-0: {lines:?}");
    let volume_of_2 = jsonpath(&s, &["get", "pvc", "data-web-2"], "{.spec.volumeName}");
    let dir_of_2 = std::path::PathBuf::from(jsonpath(&s, &["get", "pv", &volume_of_2], "{.spec.hostPath.path}"));
    assert!(dir_of_2.is_dir());

    s.kubectl_ok(&["scale", "statefulset", "web", "--replicas=1"]);
    wait_for("the claims of web-1 and web-2 to be deleted", ROLLOUT, || {
        let claims = jsonpath(&s, &["get", "pvc"], "{.items[*].metadata.name}");
        (claims.trim() == "data-web-0").then_some(())
    });
    wait_for("the volume of data-web-2 to be deleted", ROLLOUT, || (!s.kubectl(&["get", "pv", &volume_of_2]).status.success()).then_some(()));
    assert!(!dir_of_2.exists(), "its directory went with it");

    s.kubectl_ok(&["delete", "statefulset", "web"]);
    wait_for("the pods and data-web-0 to go with the set", ROLLOUT, || {
        let pods = jsonpath(&s, &["get", "pods"], "{.items[*].metadata.name}");
        let claims = jsonpath(&s, &["get", "pvc"], "{.items[*].metadata.name}");
        (pods.trim().is_empty() && claims.trim().is_empty()).then_some(())
    });
}
