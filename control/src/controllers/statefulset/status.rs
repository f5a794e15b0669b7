//! The StatefulSet's status as upstream computes it, which `kubectl get sts`
//! (READY) and `kubectl rollout status sts` read.

use k8s_openapi::api::apps::v1::{StatefulSet, StatefulSetStatus};

use super::plan::{Health, Replica};

/// The revisions and counts the status reports.
pub struct Revisions<'a> {
    pub current: &'a str,
    pub update: &'a str,
    pub collisions: i32,
}

/// The status of `set` with these replicas, `available` of them available.
pub fn compute(set: &StatefulSet, replicas: &[Replica], available: i32, revisions: &Revisions) -> StatefulSetStatus {
    let count = |f: &dyn Fn(&Replica) -> bool| i32::try_from(replicas.iter().filter(|r| f(r)).count()).unwrap_or(i32::MAX);
    let live = |r: &Replica| r.health != Health::Terminating;
    let total = count(&|_| true);
    let ready = count(&|r| r.health == Health::RunningReady);
    let mut current = count(&|r| live(r) && r.revision == revisions.current);
    let updated = count(&|r| live(r) && r.revision == revisions.update);
    let mut current_revision = revisions.current.to_string();
    // Every replica updated and ready: the update revision becomes current (upstream's completeRollingUpdate).
    if updated == total && ready == total {
        current = updated;
        current_revision = revisions.update.to_string();
    }
    StatefulSetStatus {
        observed_generation: set.metadata.generation,
        replicas: total,
        ready_replicas: Some(ready),
        available_replicas: Some(available),
        current_replicas: Some(current),
        updated_replicas: Some(updated),
        current_revision: Some(current_revision),
        update_revision: Some(revisions.update.to_string()),
        collision_count: Some(revisions.collisions),
        conditions: set.status.as_ref().and_then(|s| s.conditions.clone()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::controllers::statefulset::identity::tests::set;

    fn replica(ordinal: i32, revision: &str, health: Health) -> Replica {
        Replica { ordinal, name: format!("web-{ordinal}"), revision: revision.into(), health }
    }

    #[test]
    fn a_rollout_in_progress_counts_both_revisions() {
        let replicas = [replica(0, "v1", Health::RunningReady), replica(1, "v1", Health::RunningReady), replica(2, "v2", Health::Unready)];
        let status = compute(&set(3), &replicas, 2, &Revisions { current: "v1", update: "v2", collisions: 0 });
        assert_eq!(status.replicas, 3);
        assert_eq!(status.ready_replicas, Some(2));
        assert_eq!(status.available_replicas, Some(2));
        assert_eq!(status.current_replicas, Some(2));
        assert_eq!(status.updated_replicas, Some(1));
        assert_eq!(status.current_revision.as_deref(), Some("v1"));
        assert_eq!(status.update_revision.as_deref(), Some("v2"));
        assert_eq!(status.observed_generation, Some(2));
    }

    #[test]
    fn a_finished_rollout_makes_the_update_revision_current() {
        let replicas = [replica(0, "v2", Health::RunningReady), replica(1, "v2", Health::RunningReady)];
        let status = compute(&set(2), &replicas, 2, &Revisions { current: "v1", update: "v2", collisions: 1 });
        assert_eq!(status.current_revision.as_deref(), Some("v2"));
        assert_eq!(status.current_replicas, Some(2));
        assert_eq!(status.collision_count, Some(1));
    }

    #[test]
    fn terminating_replicas_count_as_replicas_but_not_as_any_revision() {
        let replicas = [replica(0, "v1", Health::RunningReady), replica(1, "v1", Health::Terminating)];
        let status = compute(&set(1), &replicas, 1, &Revisions { current: "v1", update: "v1", collisions: 0 });
        assert_eq!((status.replicas, status.current_replicas, status.updated_replicas), (2, Some(1), Some(1)));
    }
}
