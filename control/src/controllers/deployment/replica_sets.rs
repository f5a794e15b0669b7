//! What the Deployment controller reads off its ReplicaSets: counts, the
//! annotations it keeps on them, their age.

use k8s_openapi::api::apps::v1::ReplicaSet;
use kube::ResourceExt;

/// The revision of the Deployment a ReplicaSet holds.
pub const REVISION: &str = "deployment.kubernetes.io/revision";
/// Earlier revisions a ReplicaSet held (it was rolled back to).
pub const REVISION_HISTORY: &str = "deployment.kubernetes.io/revision-history";
/// The Deployment's replicas when it last scaled this ReplicaSet.
pub const DESIRED_REPLICAS: &str = "deployment.kubernetes.io/desired-replicas";
/// The Deployment's replicas + maxSurge when it last scaled this ReplicaSet.
pub const MAX_REPLICAS: &str = "deployment.kubernetes.io/max-replicas";

pub fn spec_replicas(rs: &ReplicaSet) -> i32 {
    rs.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1)
}

pub fn status_replicas(rs: &ReplicaSet) -> i32 {
    rs.status.as_ref().map_or(0, |s| s.replicas)
}

pub fn ready_replicas(rs: &ReplicaSet) -> i32 {
    rs.status.as_ref().and_then(|s| s.ready_replicas).unwrap_or(0)
}

/// Available pods, never more than the spec asks for: right after a scale
/// down the status still counts pods the ReplicaSet is about to delete, and
/// trusting it would let a rollout take down more pods than maxUnavailable.
pub fn available_replicas(rs: &ReplicaSet) -> i32 {
    rs.status.as_ref().and_then(|s| s.available_replicas).unwrap_or(0).min(spec_replicas(rs))
}

/// Pods the ReplicaSet has or is about to have: the more of spec and status,
/// so surge counts pods still being scaled away.
pub fn pods_or_planned(rs: &ReplicaSet) -> i32 {
    spec_replicas(rs).max(status_replicas(rs))
}

pub fn revision(rs: &ReplicaSet) -> i64 {
    rs.annotations().get(REVISION).and_then(|r| r.parse().ok()).unwrap_or(0)
}

pub fn desired_annotation(rs: &ReplicaSet) -> Option<i32> {
    rs.annotations().get(DESIRED_REPLICAS)?.parse().ok()
}

pub fn is_active(rs: &ReplicaSet) -> bool {
    spec_replicas(rs) > 0
}

/// Oldest first (by creation, then name), as upstream's ReplicaSetsByCreationTimestamp.
pub fn sort_oldest_first(rss: &mut [&ReplicaSet]) {
    rss.sort_by(|a, b| {
        let key = |rs: &ReplicaSet| (rs.creation_timestamp().map(|t| t.0), rs.name_any());
        key(a).cmp(&key(b))
    });
}

pub fn sum(rss: &[&ReplicaSet], count: fn(&ReplicaSet) -> i32) -> i32 {
    rss.iter().map(|rs| count(rs)).sum()
}

#[cfg(test)]
pub(crate) mod tests {
    use std::collections::BTreeMap;

    use k8s_openapi::api::apps::v1::{ReplicaSetSpec, ReplicaSetStatus};
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};

    use super::*;

    /// A ReplicaSet `name` created at `created` s with `spec` replicas of which
    /// `status` exist and `available` are available, at `revision`.
    pub fn rs(name: &str, created: i64, spec: i32, status: i32, available: i32) -> ReplicaSet {
        ReplicaSet {
            metadata: ObjectMeta {
                name: Some(name.into()),
                uid: Some(format!("uid-{name}")),
                creation_timestamp: Some(Time(jiff::Timestamp::from_second(created).expect("time"))),
                annotations: Some(BTreeMap::new()),
                ..Default::default()
            },
            spec: Some(ReplicaSetSpec { replicas: Some(spec), ..Default::default() }),
            status: Some(ReplicaSetStatus { replicas: status, available_replicas: Some(available), ready_replicas: Some(available), ..Default::default() }),
        }
    }

    pub fn with_annotation(mut rs: ReplicaSet, key: &str, value: &str) -> ReplicaSet {
        rs.metadata.annotations.get_or_insert_with(BTreeMap::new).insert(key.into(), value.into());
        rs
    }

    #[test]
    fn counts_guard_against_a_stale_status() {
        let shrinking = rs("old", 1, 2, 3, 3);
        assert_eq!(available_replicas(&shrinking), 2);
        assert_eq!(pods_or_planned(&shrinking), 3);
        let growing = rs("new", 2, 3, 1, 1);
        assert_eq!(pods_or_planned(&growing), 3);
    }

    #[test]
    fn revisions_and_order() {
        let a = with_annotation(rs("a", 5, 1, 1, 1), REVISION, "3");
        let b = rs("b", 2, 1, 1, 1);
        assert_eq!((revision(&a), revision(&b)), (3, 0));
        let mut all = vec![&a, &b];
        sort_oldest_first(&mut all);
        assert_eq!(all[0].name_any(), "b");
    }
}
