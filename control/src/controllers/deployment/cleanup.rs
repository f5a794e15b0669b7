//! revisionHistoryLimit: old ReplicaSets scaled to zero beyond the limit are
//! deleted, lowest revision first, as upstream's cleanupDeployment.

use k8s_openapi::api::apps::v1::ReplicaSet;

use super::replica_sets::{revision, spec_replicas, status_replicas};

/// The API default when unset.
const DEFAULT_HISTORY_LIMIT: i32 = 10;

/// The old ReplicaSets to delete so at most `limit` remain.
pub fn beyond_history_limit<'a>(old: &[&'a ReplicaSet], limit: Option<i32>) -> Vec<&'a ReplicaSet> {
    let limit = usize::try_from(limit.unwrap_or(DEFAULT_HISTORY_LIMIT)).unwrap_or(0);
    let mut alive: Vec<&ReplicaSet> = old.iter().copied().filter(|rs| rs.metadata.deletion_timestamp.is_none()).collect();
    if alive.len() <= limit {
        return Vec::new();
    }
    alive.sort_by_key(|rs| (revision(rs), rs.metadata.creation_timestamp.as_ref().map(|t| t.0)));
    let excess = alive.len() - limit;
    alive
        .into_iter()
        .take(excess)
        // Only ones fully scaled down whose status has caught up with their spec.
        .filter(|rs| {
            let synced = rs.status.as_ref().and_then(|s| s.observed_generation) >= rs.metadata.generation;
            spec_replicas(rs) == 0 && status_replicas(rs) == 0 && synced
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use kube::ResourceExt;

    use super::super::replica_sets::tests::{rs, with_annotation};
    use super::super::replica_sets::REVISION;
    use super::*;

    #[test]
    fn deletes_the_lowest_idle_revisions_beyond_the_limit() {
        let r1 = with_annotation(rs("r1", 1, 0, 0, 0), REVISION, "1");
        let r2 = with_annotation(rs("r2", 2, 0, 0, 0), REVISION, "2");
        let r3 = with_annotation(rs("r3", 3, 0, 0, 0), REVISION, "3");
        let names = |v: Vec<&ReplicaSet>| v.into_iter().map(|rs| rs.name_any()).collect::<Vec<_>>();
        assert_eq!(names(beyond_history_limit(&[&r3, &r1, &r2], Some(1))), ["r1", "r2"]);
        assert!(beyond_history_limit(&[&r3, &r1, &r2], None).is_empty());
        // A ReplicaSet still running pods is kept, and does not make room for another.
        let busy = with_annotation(rs("busy", 0, 1, 1, 1), REVISION, "0");
        assert!(beyond_history_limit(&[&busy, &r3], Some(1)).is_empty());
    }
}
