//! The arithmetic of a RollingUpdate, as upstream's reconcileNewReplicaSet and
//! reconcileOldReplicaSets: scale the new ReplicaSet up while the pods (had
//! or planned) stay within replicas + maxSurge, and the old ones down while
//! the available pods stay at least replicas - maxUnavailable, unhealthy old
//! pods first.

use k8s_openapi::api::apps::v1::ReplicaSet;
use kube::ResourceExt;

use super::replica_sets::{available_replicas, pods_or_planned, sort_oldest_first, spec_replicas, sum};

/// A ReplicaSet to bring to `to` replicas.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Scale {
    pub name: String,
    pub to: i32,
}

/// The replicas the new ReplicaSet should have now (upstream's NewRSNewReplicas).
pub fn new_replica_set_target(replicas: i32, surge: i32, all: &[&ReplicaSet], new: &ReplicaSet) -> i32 {
    grow(replicas, surge, sum(all, pods_or_planned), spec_replicas(new))
}

/// The replicas a new ReplicaSet is created with, beside the `old` ones.
pub fn initial_replicas(replicas: i32, surge: i32, old: &[&ReplicaSet]) -> i32 {
    grow(replicas, surge, sum(old, pods_or_planned), 0)
}

/// `current` grown by what room `pods` leave under replicas + surge, never above `replicas`.
fn grow(replicas: i32, surge: i32, pods: i32, current: i32) -> i32 {
    if current >= replicas {
        // Never above the desired count (a scale down of the Deployment).
        return replicas.max(0);
    }
    let max_total = replicas + surge;
    if pods >= max_total {
        return current;
    }
    current + (max_total - pods).min(replicas - current)
}

/// Scale-downs of old ReplicaSets that keep at least `replicas - max_unavailable`
/// pods available. `all` includes `new`.
pub fn old_scale_downs(replicas: i32, max_unavailable: i32, all: &[&ReplicaSet], old: &[&ReplicaSet], new: Option<&ReplicaSet>) -> Vec<Scale> {
    if sum(old, spec_replicas) == 0 {
        return Vec::new();
    }
    let min_available = replicas - max_unavailable;
    let new_unavailable = new.map_or(0, |n| spec_replicas(n) - available_replicas(n));
    let max_scaled_down = sum(all, spec_replicas) - min_available - new_unavailable;
    if max_scaled_down <= 0 {
        return Vec::new();
    }
    let mut oldest_first = old.to_vec();
    sort_oldest_first(&mut oldest_first);
    let mut targets: Vec<(&ReplicaSet, i32)> = oldest_first.iter().map(|rs| (*rs, spec_replicas(rs))).collect();

    // Unavailable old pods first: taking them away costs no availability.
    let mut cleaned = 0;
    for (rs, target) in targets.iter_mut() {
        if cleaned >= max_scaled_down {
            break;
        }
        let unhealthy = (*target - available_replicas(rs)).max(0);
        let down = unhealthy.min(max_scaled_down - cleaned);
        *target -= down;
        cleaned += down;
    }

    // Then available ones, down to the minimum availability.
    let available = sum(all, available_replicas);
    let mut budget = (available - min_available).max(0);
    for (_, target) in targets.iter_mut() {
        if budget == 0 {
            break;
        }
        let down = (*target).min(budget);
        *target -= down;
        budget -= down;
    }
    targets.into_iter().filter(|(rs, to)| *to != spec_replicas(rs)).map(|(rs, to)| Scale { name: rs.name_any(), to }).collect()
}

#[cfg(test)]
mod tests {
    use super::super::replica_sets::tests::rs;
    use super::*;

    fn scale(name: &str, to: i32) -> Scale {
        Scale { name: name.into(), to }
    }

    #[test]
    fn a_new_replica_set_grows_within_the_surge() {
        // 3 replicas, surge 1: the new one gets one pod while the old has 3.
        let old = rs("old", 1, 3, 3, 3);
        let new = rs("new", 2, 0, 0, 0);
        assert_eq!(new_replica_set_target(3, 1, &[&old, &new], &new), 1);
        // Once an old pod is gone (spec and status agree), one more.
        let old = rs("old", 1, 2, 2, 2);
        let new = rs("new", 2, 1, 1, 1);
        assert_eq!(new_replica_set_target(3, 1, &[&old, &new], &new), 2);
    }

    #[test]
    fn a_new_replica_set_waits_for_old_pods_still_being_removed() {
        // The old spec says 2 but 3 pods still exist: no room yet.
        let old = rs("old", 1, 2, 3, 3);
        let new = rs("new", 2, 1, 1, 1);
        assert_eq!(new_replica_set_target(3, 1, &[&old, &new], &new), 1);
    }

    #[test]
    fn a_new_replica_set_never_exceeds_the_desired_count() {
        let new = rs("new", 2, 5, 5, 5);
        assert_eq!(new_replica_set_target(3, 1, &[&new], &new), 3);
        let new = rs("new", 2, 0, 0, 0);
        assert_eq!(new_replica_set_target(10, 25, &[&new], &new), 10);
    }

    #[test]
    fn a_first_replica_set_starts_at_full_size_and_a_later_one_within_the_surge() {
        assert_eq!(initial_replicas(3, 1, &[]), 3);
        assert_eq!(initial_replicas(3, 1, &[&rs("old", 1, 3, 3, 3)]), 1);
        assert_eq!(initial_replicas(100, 25, &[&rs("old", 1, 100, 100, 100)]), 25);
        assert_eq!(initial_replicas(3, 0, &[&rs("old", 1, 3, 3, 3)]), 0);
    }

    #[test]
    fn old_pods_go_only_when_new_ones_are_available() {
        // 3 replicas, maxUnavailable 0: nothing goes while the new pod is not available.
        let old = rs("old", 1, 3, 3, 3);
        let new = rs("new", 2, 1, 1, 0);
        assert_eq!(old_scale_downs(3, 0, &[&old, &new], &[&old], Some(&new)), vec![]);
        // It is available: one old pod may go.
        let new = rs("new", 2, 1, 1, 1);
        assert_eq!(old_scale_downs(3, 0, &[&old, &new], &[&old], Some(&new)), vec![scale("old", 2)]);
    }

    #[test]
    fn a_stale_old_status_does_not_scale_down_twice() {
        // Just scaled 3 -> 2; its status still says 3 available.
        let old = rs("old", 1, 2, 3, 3);
        let new = rs("new", 2, 1, 1, 1);
        assert_eq!(old_scale_downs(3, 0, &[&old, &new], &[&old], Some(&new)), vec![]);
        // With maxUnavailable 1 and 4 replicas the bound still holds.
        let old = rs("old", 1, 3, 4, 4);
        let new = rs("new", 2, 1, 1, 1);
        let downs = old_scale_downs(4, 1, &[&old, &new], &[&old], Some(&new));
        assert_eq!(downs, vec![scale("old", 2)], "available counts 3 + 1, minimum 3");
    }

    #[test]
    fn unhealthy_old_pods_go_first_and_oldest_replica_sets_first() {
        // 4 replicas, maxUnavailable 1. Oldest RS has 2 pods, none available; middle 2 available.
        let oldest = rs("oldest", 1, 2, 2, 0);
        let middle = rs("middle", 2, 2, 2, 2);
        let new = rs("new", 3, 1, 1, 1);
        let all = [&oldest, &middle, &new];
        let downs = old_scale_downs(4, 1, &all, &[&middle, &oldest], Some(&new));
        // Budget: spec 5 - min 3 - new unavailable 0 = 2: both unhealthy pods go;
        // available 3 - min 3 = 0 more.
        assert_eq!(downs, vec![scale("oldest", 0)]);
    }

    #[test]
    fn nothing_to_scale_down_without_old_pods() {
        let old = rs("old", 1, 0, 0, 0);
        let new = rs("new", 2, 3, 3, 3);
        assert!(old_scale_downs(3, 0, &[&old, &new], &[&old], Some(&new)).is_empty());
    }
}
