//! What the Job controller sees of one pod: whether it is still running, has
//! succeeded or has failed, whether it still carries the tracking finalizer,
//! and its completion index. Everything else in the controller works on
//! these views, so the decisions stay pure and testable.

use jiff::Timestamp;
use k8s_openapi::api::core::v1::Pod;

/// Held by every pod a Job creates until the Job has counted its outcome, so
/// a finished pod can never disappear before it is counted (upstream's name).
pub const TRACKING_FINALIZER: &str = "batch.kubernetes.io/job-tracking";

/// The completion index of a pod of an Indexed Job (annotation and label).
pub const COMPLETION_INDEX_KEY: &str = "batch.kubernetes.io/job-completion-index";

/// Where a pod stands, as the Job counts it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Pending or running, and not being deleted.
    Active,
    Succeeded,
    /// Failed, or deleted before it succeeded (upstream counts both as failures).
    Failed,
}

/// One pod of a Job, reduced to what the controller decides on.
#[derive(Clone, Debug, PartialEq)]
pub struct PodView {
    pub name: String,
    pub uid: String,
    pub outcome: Outcome,
    /// Has a deletionTimestamp but has not stopped yet.
    pub terminating: bool,
    /// The Ready condition is True.
    pub ready: bool,
    pub tracked: bool,
    pub index: Option<i32>,
    /// Container restarts (restartPolicy OnFailure counts them as failures).
    pub restarts: i32,
    pub created: Option<Timestamp>,
    /// When its last container stopped, for a pod that failed.
    pub failed_at: Option<Timestamp>,
}

impl PodView {
    pub fn of(pod: &Pod) -> PodView {
        let meta = &pod.metadata;
        let status = pod.status.as_ref();
        let phase = status.and_then(|s| s.phase.as_deref()).unwrap_or("Pending");
        let deleting = meta.deletion_timestamp.is_some();
        let outcome = match phase {
            "Succeeded" => Outcome::Succeeded,
            "Failed" => Outcome::Failed,
            _ if deleting => Outcome::Failed,
            _ => Outcome::Active,
        };
        let ready = status
            .and_then(|s| s.conditions.as_ref())
            .is_some_and(|cs| cs.iter().any(|c| c.type_ == "Ready" && c.status == "True"));
        let failed_at = status
            .and_then(|s| s.container_statuses.as_ref())
            .and_then(|cs| cs.iter().filter_map(|c| c.state.as_ref()?.terminated.as_ref()?.finished_at.as_ref()).map(|t| t.0).max())
            .filter(|_| outcome == Outcome::Failed);
        let restarts = status
            .and_then(|s| s.container_statuses.as_ref())
            .map(|cs| cs.iter().map(|c| c.restart_count).sum())
            .unwrap_or(0);
        PodView {
            name: meta.name.clone().unwrap_or_default(),
            uid: meta.uid.clone().unwrap_or_default(),
            outcome,
            terminating: deleting && !matches!(phase, "Succeeded" | "Failed"),
            ready,
            tracked: meta.finalizers.as_ref().is_some_and(|f| f.iter().any(|f| f == TRACKING_FINALIZER)),
            index: completion_index(pod),
            restarts,
            created: meta.creation_timestamp.as_ref().map(|t| t.0),
            failed_at,
        }
    }

    pub fn is_active(&self) -> bool {
        self.outcome == Outcome::Active
    }
}

/// The completion index a pod was created for, from its annotation (or label).
fn completion_index(pod: &Pod) -> Option<i32> {
    let meta = &pod.metadata;
    let from = |m: &Option<std::collections::BTreeMap<String, String>>| m.as_ref()?.get(COMPLETION_INDEX_KEY)?.parse::<i32>().ok();
    from(&meta.annotations).or_else(|| from(&meta.labels)).filter(|i| *i >= 0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::{PodCondition, PodStatus};
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};

    fn pod(phase: &str, deleting: bool) -> Pod {
        Pod {
            metadata: ObjectMeta {
                name: Some("p".into()),
                uid: Some("u".into()),
                finalizers: Some(vec![TRACKING_FINALIZER.into()]),
                deletion_timestamp: deleting.then_some(Time(Timestamp::UNIX_EPOCH)),
                annotations: Some([(COMPLETION_INDEX_KEY.to_string(), "3".to_string())].into()),
                ..Default::default()
            },
            status: Some(PodStatus {
                phase: Some(phase.into()),
                conditions: Some(vec![PodCondition { type_: "Ready".into(), status: "True".into(), ..Default::default() }]),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    #[test]
    fn phases_map_to_outcomes() {
        assert_eq!(PodView::of(&pod("Running", false)).outcome, Outcome::Active);
        assert_eq!(PodView::of(&pod("Pending", false)).outcome, Outcome::Active);
        assert_eq!(PodView::of(&pod("Succeeded", false)).outcome, Outcome::Succeeded);
        assert_eq!(PodView::of(&pod("Failed", false)).outcome, Outcome::Failed);
    }

    #[test]
    fn a_pod_deleted_before_success_is_a_failure_still_terminating() {
        let view = PodView::of(&pod("Running", true));
        assert_eq!(view.outcome, Outcome::Failed);
        assert!(view.terminating);
        let done = PodView::of(&pod("Succeeded", true));
        assert_eq!(done.outcome, Outcome::Succeeded);
        assert!(!done.terminating);
    }

    #[test]
    fn reads_finalizer_readiness_and_index() {
        let view = PodView::of(&pod("Running", false));
        assert!(view.tracked && view.ready);
        assert_eq!(view.index, Some(3));
    }
}
