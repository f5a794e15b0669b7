//! The pod printer: `Name, Ready, Status, Restarts, Age | IP, Node,
//! Nominated Node, Readiness Gates`, with the Status and Restarts logic of
//! upstream `printPod`.

use jiff::Timestamp;
use k8s_openapi::api::core::v1::{Container, ContainerStatus, Pod, PodCondition};
use serde_json::{json, Value};

use super::duration::since;
use super::format::{age, decode, name_of, or_none};
use super::printer::{cells, Column, Printer, Row};

pub const PODS: Printer = Printer {
    columns: &[
        Column::NAME,
        Column::string("Ready", "The aggregate readiness state of this pod for accepting traffic."),
        Column::string("Status", "The aggregate status of the containers in this pod."),
        Column::string(
            "Restarts",
            "The number of times the containers in this pod have been restarted and when the last container in \
             this pod has restarted.",
        ),
        Column::AGE,
        Column::string("IP", "podIP address allocated to the pod. Routable at least within the cluster.").wide(),
        Column::string("Node", "NodeName indicates in which node this pod is scheduled.").wide(),
        Column::string(
            "Nominated Node",
            "nominatedNodeName is set only when this pod preempts other pods on the node.",
        )
        .wide(),
        Column::string(
            "Readiness Gates",
            "If specified, all readiness gates will be evaluated for pod readiness.",
        )
        .wide(),
    ],
    row: pod_row,
};

/// Reason a pod gets when its node stopped reporting (node lifecycle controller).
const NODE_UNREACHABLE_REASON: &str = "NodeLost";

fn pod_row(obj: &Value, now: Timestamp) -> Row {
    let pod: Pod = decode(obj);
    let summary = summarize(&pod, now);
    let spec = pod.spec.unwrap_or_default();
    let status = pod.status.unwrap_or_default();
    let conditions = status.conditions.as_deref().unwrap_or_default();

    let ip = status.pod_ips.as_deref().unwrap_or_default().first().map(|ip| ip.ip.clone()).unwrap_or_default();
    let gates = spec.readiness_gates.as_deref().unwrap_or_default();
    let readiness_gates = if gates.is_empty() {
        "<none>".to_string()
    } else {
        let passing = gates
            .iter()
            .filter(|gate| {
                conditions.iter().find(|c| c.type_ == gate.condition_type).is_some_and(|c| c.status == "True")
            })
            .count();
        format!("{passing}/{}", gates.len())
    };

    let row_conditions = match status.phase.as_deref() {
        Some("Succeeded") => vec![completed_condition("Succeeded", "The pod has completed successfully.")],
        Some("Failed") => vec![completed_condition("Failed", "The pod failed.")],
        _ => Vec::new(),
    };
    Row {
        cells: cells![
            name_of(obj),
            format!("{}/{}", summary.ready, summary.total),
            summary.status,
            summary.restarts,
            age(&pod.metadata, now),
            or_none(ip),
            or_none(spec.node_name.unwrap_or_default()),
            or_none(status.nominated_node_name.unwrap_or_default()),
            readiness_gates,
        ],
        conditions: row_conditions,
    }
}

fn completed_condition(reason: &str, message: &str) -> Value {
    json!({"type": "Completed", "status": "True", "reason": reason, "message": message})
}

/// The Ready, Status and Restarts cells of a pod.
#[derive(Debug, PartialEq, Eq)]
struct PodSummary {
    ready: usize,
    total: usize,
    status: String,
    restarts: String,
}

/// Sidecars: init containers with `restartPolicy: Always` keep running and
/// count as regular containers.
fn is_sidecar(container: Option<&Container>) -> bool {
    container.and_then(|c| c.restart_policy.as_deref()) == Some("Always")
}

fn condition_true(conditions: &[PodCondition], type_: &str) -> bool {
    conditions.iter().any(|c| c.type_ == type_ && c.status == "True")
}

/// When a container last terminated, if it ever did.
fn last_termination(status: &ContainerStatus) -> Option<Timestamp> {
    status.last_state.as_ref()?.terminated.as_ref()?.finished_at.as_ref().map(|t| t.0)
}

/// Follows upstream `printPod` step by step: the phase (or status reason),
/// overridden by the first unfinished init container, then by the
/// containers' own waiting/terminated reasons, then by deletion.
fn summarize(pod: &Pod, now: Timestamp) -> PodSummary {
    let empty_spec = Default::default();
    let empty_status = Default::default();
    let spec = pod.spec.as_ref().unwrap_or(&empty_spec);
    let status = pod.status.as_ref().unwrap_or(&empty_status);
    let conditions = status.conditions.as_deref().unwrap_or_default();
    let init_specs = spec.init_containers.as_deref().unwrap_or_default();
    let phase = status.phase.as_deref().unwrap_or_default();

    let mut reason = match status.reason.as_deref() {
        Some(r) if !r.is_empty() => r.to_string(),
        _ => phase.to_string(),
    };
    if conditions.iter().any(|c| c.type_ == "PodScheduled" && c.reason.as_deref() == Some("SchedulingGated")) {
        reason = "SchedulingGated".to_string();
    }

    let total = spec.containers.len() + init_specs.iter().filter(|c| is_sidecar(Some(c))).count();
    let mut ready = 0;
    let mut restarts: i64 = 0;
    let mut last_restart: Option<Timestamp> = None;
    let mut sidecar_restarts: i64 = 0;
    let mut last_sidecar_restart: Option<Timestamp> = None;

    let mut initializing = false;
    for (i, container) in status.init_container_statuses.as_deref().unwrap_or_default().iter().enumerate() {
        let sidecar = is_sidecar(init_specs.iter().find(|c| c.name == container.name));
        restarts += i64::from(container.restart_count);
        last_restart = last_restart.max(last_termination(container));
        if sidecar {
            sidecar_restarts += i64::from(container.restart_count);
            last_sidecar_restart = last_sidecar_restart.max(last_termination(container));
        }
        let state = container.state.clone().unwrap_or_default();
        match (&state.terminated, &state.waiting) {
            (Some(t), _) if t.exit_code == 0 => continue,
            _ if sidecar && container.started == Some(true) => {
                if container.ready {
                    ready += 1;
                }
                continue;
            }
            (Some(t), _) => {
                reason = match (t.reason.as_deref(), t.signal) {
                    (Some(r), _) if !r.is_empty() => format!("Init:{r}"),
                    (_, Some(signal)) if signal != 0 => format!("Init:Signal:{signal}"),
                    _ => format!("Init:ExitCode:{}", t.exit_code),
                };
            }
            (None, Some(w)) if w.reason.as_deref().is_some_and(|r| !r.is_empty() && r != "PodInitializing") => {
                reason = format!("Init:{}", w.reason.as_deref().unwrap_or_default());
            }
            _ => reason = format!("Init:{i}/{}", init_specs.len()),
        }
        initializing = true;
        break;
    }

    if !initializing || condition_true(conditions, "Initialized") {
        restarts = sidecar_restarts;
        last_restart = last_sidecar_restart;
        let mut has_running = false;
        // Upstream walks the statuses backwards, so the first container's
        // reason wins.
        for container in status.container_statuses.as_deref().unwrap_or_default().iter().rev() {
            restarts += i64::from(container.restart_count);
            last_restart = last_restart.max(last_termination(container));
            let state = container.state.clone().unwrap_or_default();
            let waiting_reason = state.waiting.as_ref().and_then(|w| w.reason.clone()).filter(|r| !r.is_empty());
            if let Some(r) = waiting_reason {
                reason = r;
            } else if let Some(t) = &state.terminated {
                reason = match (t.reason.as_deref(), t.signal) {
                    (Some(r), _) if !r.is_empty() => r.to_string(),
                    (_, Some(signal)) if signal != 0 => format!("Signal:{signal}"),
                    _ => format!("ExitCode:{}", t.exit_code),
                };
            } else if container.ready && state.running.is_some() {
                has_running = true;
                ready += 1;
            }
        }
        if reason == "Completed" && has_running {
            reason = if condition_true(conditions, "Ready") { "Running" } else { "NotReady" }.to_string();
        }
    }

    if pod.metadata.deletion_timestamp.is_some() {
        if status.reason.as_deref() == Some(NODE_UNREACHABLE_REASON) {
            reason = "Unknown".to_string();
        } else if phase != "Failed" && phase != "Succeeded" {
            reason = "Terminating".to_string();
        }
    }

    let restarts = match last_restart {
        Some(at) if restarts != 0 => format!("{restarts} ({} ago)", since(Some(at), now)),
        _ => restarts.to_string(),
    };
    PodSummary { ready, total, status: reason, restarts }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> Timestamp {
        "2024-05-01T12:00:00Z".parse().unwrap()
    }

    fn pod(v: Value) -> Pod {
        serde_json::from_value(v).unwrap()
    }

    fn status_of(v: Value) -> String {
        summarize(&pod(v), now()).status
    }

    fn running(name: &str, ready: bool) -> Value {
        json!({"name": name, "ready": ready, "restartCount": 0, "image": "x", "imageID": "",
               "state": {"running": {"startedAt": "2024-05-01T11:00:00Z"}}})
    }

    #[test]
    fn pending_pod_shows_phase() {
        let p = json!({"spec": {"containers": [{"name": "a"}]}, "status": {"phase": "Pending"}});
        let s = summarize(&pod(p), now());
        assert_eq!(s, PodSummary { ready: 0, total: 1, status: "Pending".into(), restarts: "0".into() });
    }

    #[test]
    fn waiting_reason_wins() {
        let p = json!({"spec": {"containers": [{"name": "a"}]}, "status": {"phase": "Pending",
            "containerStatuses": [{"name": "a", "ready": false, "restartCount": 0,
                                   "state": {"waiting": {"reason": "ContainerCreating"}}}]}});
        assert_eq!(status_of(p), "ContainerCreating");
    }

    #[test]
    fn running_and_ready_counts() {
        let p = json!({"spec": {"containers": [{"name": "a"}, {"name": "b"}]}, "status": {"phase": "Running",
            "containerStatuses": [running("a", true), running("b", false)]}});
        let s = summarize(&pod(p), now());
        assert_eq!((s.ready, s.total, s.status.as_str()), (1, 2, "Running"));
    }

    #[test]
    fn terminated_reasons() {
        let done = |state: Value| {
            json!({"spec": {"containers": [{"name": "a"}]}, "status": {"phase": "Running",
                "containerStatuses": [{"name": "a", "ready": false, "restartCount": 0, "state": state}]}})
        };
        assert_eq!(status_of(done(json!({"terminated": {"exitCode": 0, "reason": "Completed"}}))), "Completed");
        assert_eq!(status_of(done(json!({"terminated": {"exitCode": 1, "reason": "Error"}}))), "Error");
        assert_eq!(status_of(done(json!({"terminated": {"exitCode": 137, "reason": "OOMKilled"}}))), "OOMKilled");
        assert_eq!(status_of(done(json!({"terminated": {"exitCode": 2}}))), "ExitCode:2");
        assert_eq!(status_of(done(json!({"terminated": {"exitCode": 0, "signal": 9}}))), "Signal:9");
    }

    #[test]
    fn crash_loop_with_restarts_ago() {
        let p = json!({"spec": {"containers": [{"name": "a"}]}, "status": {"phase": "Running",
            "containerStatuses": [{"name": "a", "ready": false, "restartCount": 2,
                "state": {"waiting": {"reason": "CrashLoopBackOff"}},
                "lastState": {"terminated": {"exitCode": 1, "finishedAt": "2024-05-01T11:55:00Z"}}}]}});
        let s = summarize(&pod(p), now());
        assert_eq!(s.status, "CrashLoopBackOff");
        assert_eq!(s.restarts, "2 (5m ago)");
    }

    #[test]
    fn completed_with_a_running_container_is_running_or_not_ready() {
        let base = |ready_condition: &str| {
            json!({"spec": {"containers": [{"name": "a"}, {"name": "b"}]}, "status": {"phase": "Running",
                "conditions": [{"type": "Ready", "status": ready_condition}],
                "containerStatuses": [running("a", true),
                    {"name": "b", "ready": false, "restartCount": 0,
                     "state": {"terminated": {"exitCode": 0, "reason": "Completed"}}}]}})
        };
        assert_eq!(status_of(base("True")), "Running");
        assert_eq!(status_of(base("False")), "NotReady");
    }

    #[test]
    fn init_containers() {
        let init = |state: Value| {
            json!({"spec": {"initContainers": [{"name": "i"}], "containers": [{"name": "a"}]},
                   "status": {"phase": "Pending",
                              "initContainerStatuses": [{"name": "i", "ready": false, "restartCount": 3, "state": state}],
                              "containerStatuses": [{"name": "a", "ready": false, "restartCount": 0,
                                                     "state": {"waiting": {"reason": "PodInitializing"}}}]}})
        };
        assert_eq!(status_of(init(json!({"running": {}}))), "Init:0/1");
        assert_eq!(status_of(init(json!({"waiting": {"reason": "PodInitializing"}}))), "Init:0/1");
        assert_eq!(status_of(init(json!({"waiting": {"reason": "CrashLoopBackOff"}}))), "Init:CrashLoopBackOff");
        assert_eq!(status_of(init(json!({"terminated": {"exitCode": 1, "reason": "Error"}}))), "Init:Error");
        assert_eq!(status_of(init(json!({"terminated": {"exitCode": 3}}))), "Init:ExitCode:3");
        // Once the init container succeeded, the app containers speak.
        let s = summarize(&pod(init(json!({"terminated": {"exitCode": 0, "reason": "Completed"}}))), now());
        assert_eq!(s.status, "PodInitializing");
        assert_eq!(s.restarts, "0", "init restarts do not count once initialized");
    }

    #[test]
    fn sidecars_count_as_containers() {
        let p = json!({"spec": {"initContainers": [{"name": "s", "restartPolicy": "Always"}],
                                "containers": [{"name": "a"}]},
                       "status": {"phase": "Running",
                                  "initContainerStatuses": [{"name": "s", "ready": true, "started": true,
                                                             "restartCount": 1, "state": {"running": {}}}],
                                  "containerStatuses": [running("a", true)]}});
        let s = summarize(&pod(p), now());
        assert_eq!((s.ready, s.total, s.status.as_str(), s.restarts.as_str()), (2, 2, "Running", "1"));
    }

    #[test]
    fn deletion_and_gates() {
        let p = json!({"metadata": {"deletionTimestamp": "2024-05-01T11:59:00Z"},
                       "spec": {"containers": [{"name": "a"}]}, "status": {"phase": "Running",
                       "containerStatuses": [running("a", true)]}});
        assert_eq!(status_of(p), "Terminating");
        let lost = json!({"metadata": {"deletionTimestamp": "2024-05-01T11:59:00Z"},
                          "spec": {"containers": [{"name": "a"}]}, "status": {"phase": "Running", "reason": "NodeLost"}});
        assert_eq!(status_of(lost), "Unknown");
        let done = json!({"metadata": {"deletionTimestamp": "2024-05-01T11:59:00Z"},
                          "spec": {"containers": [{"name": "a"}]}, "status": {"phase": "Succeeded"}});
        assert_eq!(status_of(done), "Succeeded");
        let gated = json!({"spec": {"containers": [{"name": "a"}]}, "status": {"phase": "Pending",
            "conditions": [{"type": "PodScheduled", "status": "False", "reason": "SchedulingGated"}]}});
        assert_eq!(status_of(gated), "SchedulingGated");
    }

    #[test]
    fn full_row_cells_and_conditions() {
        let obj = json!({"metadata": {"name": "web", "creationTimestamp": "2024-05-01T11:50:00Z"},
            "spec": {"nodeName": "n1", "containers": [{"name": "a"}],
                     "readinessGates": [{"conditionType": "x/ready"}]},
            "status": {"phase": "Succeeded", "podIPs": [{"ip": "10.0.0.5"}],
                       "conditions": [{"type": "x/ready", "status": "True"}],
                       "containerStatuses": [{"name": "a", "ready": false, "restartCount": 0,
                           "state": {"terminated": {"exitCode": 0, "reason": "Completed"}}}]}});
        let row = pod_row(&obj, now());
        assert_eq!(
            row.cells,
            vec![json!("web"), json!("0/1"), json!("Completed"), json!("0"), json!("10m"),
                 json!("10.0.0.5"), json!("n1"), json!("<none>"), json!("1/1")]
        );
        assert_eq!(row.conditions[0]["reason"], "Succeeded");
        assert_eq!(row.cells.len(), PODS.columns.len());
    }
}
