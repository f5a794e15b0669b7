//! What the controller reads off its pods: which ordinal each one holds, its
//! revision, whether it is Running and Ready, and since when (for
//! `minReadySeconds`).

use std::time::Duration;

use jiff::Timestamp;
use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::core::v1::Pod;
use kube::ResourceExt;

use super::identity::{controlled_by, ordinal_of, REVISION_LABEL};
use super::plan::{Health, Replica};

/// The health of `pod` as ordering sees it.
pub fn health(pod: &Pod) -> Health {
    let phase = pod.status.as_ref().and_then(|s| s.phase.as_deref());
    if pod.metadata.deletion_timestamp.is_some() {
        Health::Terminating
    } else if matches!(phase, Some("Failed" | "Succeeded")) {
        Health::Finished
    } else if phase == Some("Running") && ready_since(pod).is_some() {
        Health::RunningReady
    } else {
        Health::Unready
    }
}

/// When the pod's Ready condition last became True, if it is True.
pub fn ready_since(pod: &Pod) -> Option<Timestamp> {
    let conditions = pod.status.as_ref()?.conditions.as_ref()?;
    let ready = conditions.iter().find(|c| c.type_ == "Ready" && c.status == "True")?;
    Some(ready.last_transition_time.as_ref().map_or(Timestamp::UNIX_EPOCH, |t| t.0))
}

/// The replicas among `pods`: those `set` controls and whose name is one of its ordinals.
pub fn replicas(set: &StatefulSet, pods: &[Pod]) -> Vec<Replica> {
    let set_name = set.name_any();
    pods.iter()
        .filter(|p| controlled_by(p.owner_references(), set))
        .filter_map(|p| {
            let name = p.name_any();
            Some(Replica {
                ordinal: ordinal_of(&set_name, &name)?,
                revision: p.labels().get(REVISION_LABEL).cloned().unwrap_or_default(),
                health: health(p),
                name,
            })
        })
        .collect()
}

/// How many of `pods` have been Ready for `min_ready` at `now`, and when the
/// next one will have been (to look again then).
pub fn available(pods: &[Pod], min_ready: Duration, now: Timestamp) -> (i32, Option<Duration>) {
    let mut count = 0;
    let mut next: Option<Duration> = None;
    for pod in pods.iter().filter(|p| health(p) == Health::RunningReady) {
        let since = ready_since(pod).unwrap_or(now);
        let ready_for = Duration::try_from(now.duration_since(since)).unwrap_or(Duration::ZERO);
        if ready_for >= min_ready {
            count += 1;
        } else {
            let wait = min_ready - ready_for;
            next = Some(next.map_or(wait, |n| n.min(wait)));
        }
    }
    (count, next)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::controllers::statefulset::identity::tests::set;
    use crate::controllers::statefulset::identity::{controller_ref, new_pod};
    use serde_json::json;

    pub fn pod(name: &str, phase: &str, ready_at: Option<&str>) -> Pod {
        let s = set(3);
        let template = s.spec.as_ref().expect("spec").template.clone();
        let ordinal = ordinal_of("web", name).unwrap_or(99);
        let mut pod = new_pod(&s, &template, ordinal, "web-v1");
        pod.metadata.name = Some(name.into());
        let conditions = ready_at.map(|t| json!([{"type": "Ready", "status": "True", "lastTransitionTime": t}])).unwrap_or(json!([]));
        pod.status = Some(serde_json::from_value(json!({"phase": phase, "conditions": conditions})).expect("status"));
        pod
    }

    #[test]
    fn health_follows_phase_readiness_and_deletion() {
        assert_eq!(health(&pod("web-0", "Running", Some("2026-01-01T00:00:00Z"))), Health::RunningReady);
        assert_eq!(health(&pod("web-0", "Running", None)), Health::Unready);
        assert_eq!(health(&pod("web-0", "Pending", None)), Health::Unready);
        assert_eq!(health(&pod("web-0", "Failed", None)), Health::Finished);
        let mut going = pod("web-0", "Running", Some("2026-01-01T00:00:00Z"));
        going.metadata.deletion_timestamp = Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(Timestamp::UNIX_EPOCH));
        assert_eq!(health(&going), Health::Terminating);
    }

    #[test]
    fn only_pods_the_set_controls_with_ordinal_names_are_replicas() {
        let s = set(3);
        let mut stranger = pod("web-1", "Running", None);
        stranger.metadata.owner_references = Some(vec![{
            let mut other = controller_ref(&s);
            other.uid = "another-set".into();
            other
        }]);
        let odd_name = pod("web-x", "Running", None);
        let found = replicas(&s, &[pod("web-0", "Running", None), stranger, odd_name]);
        assert_eq!(found.len(), 1);
        assert_eq!((found[0].ordinal, found[0].revision.as_str()), (0, "web-v1"));
    }

    #[test]
    fn availability_waits_for_min_ready_seconds() {
        let now: Timestamp = "2026-01-01T00:00:10Z".parse().expect("time");
        let pods = [pod("web-0", "Running", Some("2026-01-01T00:00:00Z")), pod("web-1", "Running", Some("2026-01-01T00:00:07Z"))];
        assert_eq!(available(&pods, Duration::ZERO, now), (2, None));
        assert_eq!(available(&pods, Duration::from_secs(5), now), (1, Some(Duration::from_secs(2))));
    }
}
