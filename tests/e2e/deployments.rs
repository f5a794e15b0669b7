//! Deployments, ReplicaSets and ReplicationControllers on the embedded node,
//! driven by the real kubectl: replicas kept through scale, pod deletion and
//! the relabel trick; a rolling update watched pod by pod against maxSurge and
//! maxUnavailable, with rollout status / history / undo; Recreate never runs
//! old and new pods together.

use std::collections::HashMap;
use std::io::BufReader;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use serde_json::Value;

use crate::harness::{wait_for, Server};

const ROLLOUT: Duration = Duration::from_secs(120);

/// A server whose node also holds the logger sample as `local/logger:2.0`, for `set image`.
fn server_with_two_logger_tags() -> Server {
    let mut s = Server::start_with_agent();
    // The node's image store is read when the server starts: import while it is down.
    s.kill9();
    let logger = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("samples/wasm/logger.wasm");
    let status = Command::new(env!("CARGO_BIN_EXE_wasmkube"))
        .args(["images", "--data-dir"])
        .arg(s.data_dir())
        .arg("import")
        .arg(logger)
        .args(["--tag", "local/logger:2.0"])
        .stdout(Stdio::null())
        .status()
        .expect("run wasmkube images import");
    assert!(status.success(), "importing logger as local/logger:2.0");
    s.restart();
    s
}

/// Pods matching `selector`, as JSON.
fn pods(s: &Server, selector: &str) -> Vec<Value> {
    let out = s.kubectl_ok(&["get", "pods", "-l", selector, "-o", "json"]);
    let list: Value = serde_json::from_str(&out).expect("a pod list");
    list["items"].as_array().cloned().unwrap_or_default()
}

fn name(pod: &Value) -> String {
    pod["metadata"]["name"].as_str().unwrap_or_default().to_string()
}

fn terminating(pod: &Value) -> bool {
    !pod["metadata"]["deletionTimestamp"].is_null() || matches!(pod["status"]["phase"].as_str(), Some("Succeeded" | "Failed"))
}

fn ready(pod: &Value) -> bool {
    pod["status"]["conditions"].as_array().into_iter().flatten().any(|c| c["type"] == "Ready" && c["status"] == "True")
}

/// Waits until exactly `count` pods match `selector` that are not terminating, all Running; returns them.
fn wait_running(s: &Server, selector: &str, count: usize) -> Vec<Value> {
    wait_for(&format!("{count} running pods {selector}"), ROLLOUT, || {
        let live: Vec<Value> = pods(s, selector).into_iter().filter(|p| !terminating(p)).collect();
        (live.len() == count && live.iter().all(|p| p["status"]["phase"] == "Running")).then_some(live)
    })
}

fn deployment_manifest(name: &str, replicas: u32, strategy: &str) -> String {
    format!(
        r#"
apiVersion: apps/v1
kind: Deployment
metadata: {{ name: {name} }}
spec:
  replicas: {replicas}
  selector: {{ matchLabels: {{ app: {name} }} }}
  strategy: {strategy}
  template:
    metadata: {{ labels: {{ app: {name} }} }}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
      - {{ name: logger, image: "local/logger:1.0", imagePullPolicy: Never }}
"#
    )
}

#[test]
fn a_deployment_keeps_its_replicas_through_scale_deletes_and_relabels() {
    let s = Server::start_with_agent();
    s.kubectl_ok(&["create", "deployment", "web", "--image=local/logger:1.0", "--replicas=3"]);
    s.kubectl_ok(&["patch", "deployment", "web", "--type=json", "-p", r#"[{"op":"add","path":"/spec/template/spec/containers/0/imagePullPolicy","value":"Never"}]"#]);
    s.kubectl_ok(&["rollout", "status", "deployment/web", "--timeout=120s"]);
    let running = wait_running(&s, "app=web", 3);
    let owner = running[0]["metadata"]["ownerReferences"][0].clone();
    assert_eq!(owner["kind"], "ReplicaSet");
    assert_eq!(owner["controller"], true);
    assert_eq!(owner["blockOwnerDeletion"], true);
    let rs_name = owner["name"].as_str().expect("an owner name").to_string();
    assert!(rs_name.starts_with("web-") && name(&running[0]).starts_with(&format!("{rs_name}-")), "{rs_name} / {}", name(&running[0]));

    s.kubectl_ok(&["scale", "deployment", "web", "--replicas=5"]);
    wait_running(&s, "app=web", 5);
    s.kubectl_ok(&["scale", "deployment", "web", "--replicas=2"]);
    wait_running(&s, "app=web", 2);
    s.kubectl_ok(&["scale", "deployment", "web", "--replicas=3"]);
    let before = wait_running(&s, "app=web", 3);

    // A deleted pod is replaced.
    let victim = name(&before[0]);
    s.kubectl_ok(&["delete", "pod", &victim, "--wait=false"]);
    let after = wait_running(&s, "app=web", 3);
    assert!(after.iter().all(|p| name(p) != victim), "{victim} was replaced");

    // The relabel trick: out of the ReplicaSet for debugging, a replacement appears.
    let debugged = name(&after[0]);
    s.kubectl_ok(&["label", "pod", &debugged, "app=debug", "--overwrite"]);
    let replaced = wait_running(&s, "app=web", 3);
    assert!(replaced.iter().all(|p| name(p) != debugged));
    wait_for("the relabeled pod to be released", ROLLOUT, || s.kubectl_ok(&["get", "pod", &debugged, "-o", "jsonpath={.metadata.ownerReferences}"]).is_empty().then_some(()));
    // Relabeled back: adopted again, and one pod too many is removed.
    s.kubectl_ok(&["label", "pod", &debugged, "app=web", "--overwrite"]);
    wait_running(&s, "app=web", 3);
    wait_for("the pod to be adopted back", ROLLOUT, || (!s.kubectl(&["get", "pod", &debugged, "-o", "jsonpath={.metadata.ownerReferences[0].name}"]).stdout.is_empty()).then_some(()));
    s.kubectl_ok(&["rollout", "status", "deployment/web", "--timeout=60s"]);

    let described = s.kubectl_ok(&["describe", "deployment", "web"]);
    assert!(described.contains("ScalingReplicaSet") && described.contains("from 0 to 3"), "{described}");
    let rs_events = s.kubectl_ok(&["describe", "rs", &rs_name]);
    assert!(rs_events.contains("SuccessfulCreate") && rs_events.contains("Created pod: "), "{rs_events}");
    assert!(rs_events.contains("SuccessfulDelete"), "{rs_events}");

    // Deleting the Deployment takes its ReplicaSets and pods with it.
    s.kubectl_ok(&["delete", "deployment", "web"]);
    wait_for("the pods to go with the deployment", ROLLOUT, || pods(&s, "app=web").is_empty().then_some(()));
    assert!(s.kubectl_ok(&["get", "rs", "-o", "name"]).trim().is_empty());
}

/// What a pod watch saw, checked on every event.
#[derive(Default)]
struct Observed {
    /// Pods present and not terminating, by name: their pod-template-hash and readiness.
    live: HashMap<String, (String, bool)>,
    max_live: usize,
    /// The least ready pods seen once the first `armed_at` were all ready.
    min_ready_after_start: Option<usize>,
    /// Moments with live pods of two templates at once.
    overlaps: usize,
    events: usize,
}

/// Follows `kubectl get pods -w` and records [`Observed`] after every event.
struct PodWatch {
    child: Child,
    reader: JoinHandle<()>,
    observed: Arc<Mutex<Observed>>,
}

impl PodWatch {
    fn start(s: &Server, selector: &str, armed_at: usize) -> PodWatch {
        let mut child = s.kubectl_spawn(&["get", "pods", "-l", selector, "-w", "--output-watch-events", "-o", "json"]);
        let stdout = child.stdout.take().expect("watch stdout");
        let observed = Arc::new(Mutex::new(Observed::default()));
        let record = observed.clone();
        let reader = std::thread::spawn(move || {
            let events = serde_json::Deserializer::from_reader(BufReader::new(stdout)).into_iter::<Value>();
            for event in events.map_while(Result::ok) {
                let pod = &event["object"];
                let mut o = record.lock().expect("observed");
                o.events += 1;
                if event["type"] == "DELETED" || terminating(pod) {
                    o.live.remove(&name(pod));
                } else {
                    let hash = pod["metadata"]["labels"]["pod-template-hash"].as_str().unwrap_or_default().to_string();
                    o.live.insert(name(pod), (hash, ready(pod)));
                }
                o.max_live = o.max_live.max(o.live.len());
                let ready_now = o.live.values().filter(|(_, r)| *r).count();
                if o.min_ready_after_start.is_some() || ready_now >= armed_at {
                    o.min_ready_after_start = Some(o.min_ready_after_start.map_or(ready_now, |m| m.min(ready_now)));
                }
                let mut hashes: Vec<&String> = o.live.values().map(|(h, _)| h).collect();
                hashes.sort();
                hashes.dedup();
                if hashes.len() > 1 {
                    o.overlaps += 1;
                }
            }
        });
        PodWatch { child, reader, observed }
    }

    fn stop(mut self) -> Observed {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = self.reader.join();
        Arc::try_unwrap(self.observed).ok().expect("the reader is done").into_inner().expect("observed")
    }
}

fn images(s: &Server, selector: &str) -> Vec<String> {
    let live: Vec<Value> = pods(s, selector).into_iter().filter(|p| !terminating(p)).collect();
    let mut images: Vec<String> = live.iter().map(|p| p["spec"]["containers"][0]["image"].as_str().unwrap_or_default().to_string()).collect();
    images.dedup();
    images
}

#[test]
fn a_rolling_update_stays_within_surge_and_unavailability_and_can_be_undone() {
    let s = server_with_two_logger_tags();
    let strategy = "{ type: RollingUpdate, rollingUpdate: { maxSurge: 1, maxUnavailable: 1 } }";
    s.kubectl_stdin_ok(&["apply", "-f", "-"], &deployment_manifest("web", 4, strategy));
    s.kubectl_ok(&["rollout", "status", "deployment/web", "--timeout=120s"]);
    wait_running(&s, "app=web", 4);

    let watch = PodWatch::start(&s, "app=web", 4);
    wait_for("the watch to list the pods", ROLLOUT, || (watch.observed.lock().expect("observed").events >= 4).then_some(()));
    s.kubectl_ok(&["set", "image", "deployment/web", "logger=local/logger:2.0"]);
    s.kubectl_ok(&["annotate", "deployment/web", "kubernetes.io/change-cause=logger 2.0"]);
    s.kubectl_ok(&["rollout", "status", "deployment/web", "--timeout=120s"]);
    wait_running(&s, "app=web", 4);
    std::thread::sleep(Duration::from_millis(500));
    let observed = watch.stop();
    eprintln!("rolling update: {} watch events, at most {} pods live, at least {:?} ready", observed.events, observed.max_live, observed.min_ready_after_start);
    assert!(observed.max_live <= 5, "at most replicas + maxSurge = 5 pods at once, saw {}", observed.max_live);
    assert!(observed.min_ready_after_start.is_some_and(|m| m >= 3), "at least replicas - maxUnavailable = 3 ready, saw {:?}", observed.min_ready_after_start);
    assert!(observed.overlaps > 0, "a rolling update runs old and new pods side by side");
    assert_eq!(images(&s, "app=web"), ["local/logger:2.0"]);

    let history = s.kubectl_ok(&["rollout", "history", "deployment/web"]);
    let revisions: Vec<&str> = history.lines().filter_map(|l| l.split_whitespace().next()).filter(|w| w.parse::<u32>().is_ok()).collect();
    assert_eq!(revisions, ["1", "2"], "{history}");
    wait_for("the change-cause on revision 2", ROLLOUT, || s.kubectl_ok(&["rollout", "history", "deployment/web"]).contains("logger 2.0").then_some(()));
    let status = s.kubectl_ok(&["get", "deployment", "web", "-o", "jsonpath={.status.updatedReplicas}/{.status.availableReplicas}/{.status.conditions[?(@.type==\"Progressing\")].reason}"]);
    assert_eq!(status, "4/4/NewReplicaSetAvailable");

    s.kubectl_ok(&["rollout", "undo", "deployment/web", "--to-revision=1"]);
    s.kubectl_ok(&["rollout", "status", "deployment/web", "--timeout=120s"]);
    wait_for("the first image back", ROLLOUT, || (images(&s, "app=web") == ["local/logger:1.0"]).then_some(()));
    let history = s.kubectl_ok(&["rollout", "history", "deployment/web"]);
    let revisions: Vec<&str> = history.lines().filter_map(|l| l.split_whitespace().next()).filter(|w| w.parse::<u32>().is_ok()).collect();
    assert_eq!(revisions, ["2", "3"], "revision 1 came back as 3: {history}");
    let revision = s.kubectl_ok(&["get", "deployment", "web", "-o", r"jsonpath={.metadata.annotations.deployment\.kubernetes\.io/revision}"]);
    assert_eq!(revision, "3");
    assert_eq!(s.kubectl_ok(&["get", "rs", "-l", "app=web", "-o", "name"]).lines().count(), 2, "the old ReplicaSet was reused");
}

#[test]
fn recreate_never_runs_old_and_new_pods_together() {
    let s = server_with_two_logger_tags();
    s.kubectl_stdin_ok(&["apply", "-f", "-"], &deployment_manifest("batch", 2, "{ type: Recreate }"));
    s.kubectl_ok(&["rollout", "status", "deployment/batch", "--timeout=120s"]);
    let watch = PodWatch::start(&s, "app=batch", 2);
    wait_for("the watch to list the pods", ROLLOUT, || (watch.observed.lock().expect("observed").events >= 2).then_some(()));
    s.kubectl_ok(&["set", "image", "deployment/batch", "logger=local/logger:2.0"]);
    s.kubectl_ok(&["rollout", "status", "deployment/batch", "--timeout=120s"]);
    wait_running(&s, "app=batch", 2);
    let observed = watch.stop();
    assert_eq!(observed.overlaps, 0, "old and new pods never live at once");
    assert_eq!(images(&s, "app=batch"), ["local/logger:2.0"]);
}

#[test]
fn a_paused_deployment_scales_but_does_not_roll_and_old_revisions_are_pruned() {
    let s = server_with_two_logger_tags();
    let manifest = deployment_manifest("paused", 2, "{ type: RollingUpdate }").replace("spec:\n  replicas", "spec:\n  revisionHistoryLimit: 1\n  replicas");
    s.kubectl_stdin_ok(&["apply", "-f", "-"], &manifest);
    s.kubectl_ok(&["rollout", "status", "deployment/paused", "--timeout=120s"]);
    s.kubectl_ok(&["rollout", "pause", "deployment/paused"]);
    s.kubectl_ok(&["set", "image", "deployment/paused", "logger=local/logger:2.0"]);
    s.kubectl_ok(&["scale", "deployment/paused", "--replicas=3"]);
    wait_running(&s, "app=paused", 3);
    assert_eq!(images(&s, "app=paused"), ["local/logger:1.0"], "no rollout while paused");
    assert_eq!(s.kubectl_ok(&["get", "rs", "-l", "app=paused", "-o", "name"]).lines().count(), 1);
    let reason = s.kubectl_ok(&["get", "deployment", "paused", "-o", "jsonpath={.status.conditions[?(@.type==\"Progressing\")].reason}"]);
    assert_eq!(reason, "DeploymentPaused");

    s.kubectl_ok(&["rollout", "resume", "deployment/paused"]);
    s.kubectl_ok(&["rollout", "status", "deployment/paused", "--timeout=120s"]);
    wait_for("the new image", ROLLOUT, || (images(&s, "app=paused") == ["local/logger:2.0"]).then_some(()));
    // A third template: with revisionHistoryLimit 1, only the newest old ReplicaSet stays.
    s.kubectl_ok(&["set", "env", "deployment/paused", "MODE=three"]);
    s.kubectl_ok(&["rollout", "status", "deployment/paused", "--timeout=120s"]);
    wait_for("old ReplicaSets pruned to one", ROLLOUT, || (s.kubectl_ok(&["get", "rs", "-l", "app=paused", "-o", "name"]).lines().count() == 2).then_some(()));
}

#[test]
fn a_rollout_that_makes_no_progress_exceeds_its_deadline() {
    let s = Server::start_with_agent();
    let manifest = deployment_manifest("stuck", 1, "{ type: RollingUpdate }")
        .replace("spec:\n  replicas", "spec:\n  progressDeadlineSeconds: 3\n  replicas")
        .replace("local/logger:1.0", "local/missing:1.0");
    s.kubectl_stdin_ok(&["apply", "-f", "-"], &manifest);
    let out = s.kubectl(&["rollout", "status", "deployment/stuck", "--timeout=60s"]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("exceeded its progress deadline"), "{stderr}");
}

#[test]
fn a_replication_controller_keeps_its_replicas() {
    let s = Server::start_with_agent();
    let manifest = r#"
apiVersion: v1
kind: ReplicationController
metadata: { name: legacy }
spec:
  replicas: 2
  minReadySeconds: 2
  selector: { app: legacy }
  template:
    metadata: { labels: { app: legacy } }
    spec:
      terminationGracePeriodSeconds: 1
      containers:
      - { name: logger, image: "local/logger:1.0", imagePullPolicy: Never }
"#;
    s.kubectl_stdin_ok(&["apply", "-f", "-"], manifest);
    let running = wait_running(&s, "app=legacy", 2);
    assert_eq!(running[0]["metadata"]["ownerReferences"][0]["kind"], "ReplicationController");
    let victim = name(&running[0]);
    s.kubectl_ok(&["delete", "pod", &victim, "--wait=false"]);
    let replaced = wait_running(&s, "app=legacy", 2);
    assert!(replaced.iter().all(|p| name(p) != victim));
    s.kubectl_ok(&["scale", "rc", "legacy", "--replicas=3"]);
    wait_running(&s, "app=legacy", 3);
    // Available only minReadySeconds after Ready: nothing but the controller's own timer says when.
    let status = || s.kubectl_ok(&["get", "rc", "legacy", "-o", "jsonpath={.status.readyReplicas}/{.status.availableReplicas}"]);
    wait_for("the rc status to count 3 available", Duration::from_secs(30), || (status() == "3/3").then_some(()));
}
