//! What a replica controller reads off a pod: whether it still counts, whether
//! it is ready and since when, who controls it, and which pods are the worst
//! to keep when there are too many. Pure functions over k8s-openapi pods.

use std::cmp::Reverse;

use jiff::{SignedDuration, Timestamp};
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;

/// The owner reference that controls `pod`, if any.
pub fn controller_of(pod: &Pod) -> Option<&OwnerReference> {
    pod.metadata.owner_references.as_ref()?.iter().find(|r| r.controller == Some(true))
}

/// Counts toward the replicas: not being deleted and not finished.
/// Finished (Succeeded/Failed) pods are replaced, as upstream does.
pub fn is_active(pod: &Pod) -> bool {
    pod.metadata.deletion_timestamp.is_none() && !matches!(phase(pod), "Succeeded" | "Failed")
}

fn phase(pod: &Pod) -> &str {
    pod.status.as_ref().and_then(|s| s.phase.as_deref()).unwrap_or("Pending")
}

/// When the pod's Ready condition last turned True; `None` while it is not ready.
pub fn ready_since(pod: &Pod) -> Option<Timestamp> {
    let ready = pod.status.as_ref()?.conditions.as_ref()?.iter().find(|c| c.type_ == "Ready")?;
    if ready.status != "True" {
        return None;
    }
    // A Ready condition without a time counts as ready from the dawn of time:
    // available at once whatever minReadySeconds says.
    Some(ready.last_transition_time.as_ref().map_or(Timestamp::UNIX_EPOCH, |t| t.0))
}

pub fn is_ready(pod: &Pod) -> bool {
    ready_since(pod).is_some()
}

/// Ready for at least `min_ready_seconds` at `now`.
pub fn is_available(pod: &Pod, min_ready_seconds: i32, now: Timestamp) -> bool {
    available_at(pod, min_ready_seconds).is_some_and(|at| at <= now)
}

/// The moment a ready pod becomes available (ready + minReadySeconds).
pub fn available_at(pod: &Pod, min_ready_seconds: i32) -> Option<Timestamp> {
    let since = ready_since(pod)?;
    Some(since.checked_add(SignedDuration::from_secs(i64::from(min_ready_seconds.max(0)))).unwrap_or(Timestamp::MAX))
}

fn restarts(pod: &Pod) -> i32 {
    let statuses = pod.status.as_ref().and_then(|s| s.container_statuses.as_ref());
    statuses.into_iter().flatten().map(|c| c.restart_count).max().unwrap_or(0)
}

/// Orders `pods` worst first: the ones to delete when scaling down. Upstream's
/// ranking: unscheduled before scheduled, Pending < Unknown < Running, not
/// ready before ready, ready for a shorter time first, more restarts first,
/// newer first.
pub fn sort_worst_first(pods: &mut [&Pod]) {
    pods.sort_by_key(|pod| {
        let scheduled = pod.spec.as_ref().and_then(|s| s.node_name.as_deref()).is_some_and(|n| !n.is_empty());
        let phase_rank = match phase(pod) {
            "Pending" => 0,
            "Unknown" => 1,
            "Running" => 2,
            _ => 3,
        };
        let ready = ready_since(pod);
        let created = pod.metadata.creation_timestamp.as_ref().map(|t| t.0);
        (scheduled, phase_rank, ready.is_some(), Reverse(ready), Reverse(restarts(pod)), Reverse(created))
    });
}

#[cfg(test)]
pub(crate) mod tests {
    use k8s_openapi::api::core::v1::{ContainerStatus, PodCondition, PodSpec, PodStatus};
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};

    use super::*;

    pub fn at(secs: i64) -> Timestamp {
        Timestamp::from_second(secs).expect("a valid time")
    }

    /// A pod named `name`, created at `created` seconds, in `phase`, ready since `ready` seconds.
    pub fn pod(name: &str, created: i64, node: Option<&str>, phase: &str, ready: Option<i64>) -> Pod {
        Pod {
            metadata: ObjectMeta { name: Some(name.into()), creation_timestamp: Some(Time(at(created))), ..Default::default() },
            spec: Some(PodSpec { node_name: node.map(str::to_string), ..Default::default() }),
            status: Some(PodStatus {
                phase: Some(phase.into()),
                conditions: Some(vec![PodCondition {
                    type_: "Ready".into(),
                    status: if ready.is_some() { "True" } else { "False" }.into(),
                    last_transition_time: ready.map(|r| Time(at(r))),
                    ..Default::default()
                }]),
                ..Default::default()
            }),
        }
    }

    fn names(pods: &[&Pod]) -> Vec<String> {
        pods.iter().map(|p| p.metadata.name.clone().unwrap_or_default()).collect()
    }

    #[test]
    fn worst_pods_come_first() {
        let unscheduled = pod("unscheduled", 1, None, "Pending", None);
        let pending = pod("pending", 1, Some("n"), "Pending", None);
        let unknown = pod("unknown", 1, Some("n"), "Unknown", None);
        let running_unready = pod("running-unready", 1, Some("n"), "Running", None);
        let ready_recently = pod("ready-recently", 1, Some("n"), "Running", Some(50));
        let ready_long = pod("ready-long", 1, Some("n"), "Running", Some(10));
        let mut pods = vec![&ready_long, &ready_recently, &running_unready, &unknown, &pending, &unscheduled];
        sort_worst_first(&mut pods);
        assert_eq!(names(&pods), ["unscheduled", "pending", "unknown", "running-unready", "ready-recently", "ready-long"]);
    }

    #[test]
    fn among_equals_more_restarts_then_newer_go_first() {
        let old = pod("old", 1, Some("n"), "Running", Some(10));
        let new = pod("new", 5, Some("n"), "Running", Some(10));
        let mut crashy = pod("crashy", 1, Some("n"), "Running", Some(10));
        if let Some(status) = crashy.status.as_mut() {
            status.container_statuses = Some(vec![ContainerStatus { restart_count: 3, ..Default::default() }]);
        }
        let mut pods = vec![&old, &new, &crashy];
        sort_worst_first(&mut pods);
        assert_eq!(names(&pods), ["crashy", "new", "old"]);
    }

    #[test]
    fn finished_and_deleted_pods_are_not_active() {
        assert!(is_active(&pod("p", 1, Some("n"), "Running", None)));
        assert!(!is_active(&pod("p", 1, Some("n"), "Succeeded", None)));
        assert!(!is_active(&pod("p", 1, Some("n"), "Failed", None)));
        let mut deleting = pod("p", 1, Some("n"), "Running", Some(2));
        deleting.metadata.deletion_timestamp = Some(Time(at(5)));
        assert!(!is_active(&deleting));
    }

    #[test]
    fn availability_waits_for_min_ready_seconds() {
        let p = pod("p", 1, Some("n"), "Running", Some(100));
        assert!(is_available(&p, 0, at(100)));
        assert!(!is_available(&p, 10, at(109)));
        assert!(is_available(&p, 10, at(110)));
        assert_eq!(available_at(&p, 10), Some(at(110)));
        assert!(!is_available(&pod("q", 1, Some("n"), "Running", None), 0, at(200)));
    }
}
