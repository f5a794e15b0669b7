//! A change of `spec.replicas` alone (a scaling event, also the only change a
//! paused Deployment acts on): which ReplicaSets take the new count. Upstream
//! spreads it proportionally over the active ReplicaSets during a rollout;
//! here the growth goes to the newest and the shrinking comes from the oldest,
//! which keeps the same bounds (replicas + maxSurge in total).

use k8s_openapi::api::apps::v1::ReplicaSet;
use kube::ResourceExt;

use super::replica_sets::{available_replicas, desired_annotation, is_active, sort_oldest_first, spec_replicas, sum};
use super::rolling::Scale;

/// Whether some active ReplicaSet was last scaled for another replica count.
pub fn is_scaling_event(replicas: i32, all: &[&ReplicaSet]) -> bool {
    all.iter().filter(|rs| is_active(rs)).any(|rs| desired_annotation(rs).is_some_and(|d| d != replicas))
}

/// The one active ReplicaSet, or with none active the new one (else the newest
/// old one); `None` when several are active.
fn active_or_latest<'a>(new: Option<&'a ReplicaSet>, old: &[&'a ReplicaSet]) -> Option<&'a ReplicaSet> {
    let mut all: Vec<&ReplicaSet> = old.iter().copied().chain(new).collect();
    sort_oldest_first(&mut all);
    let active: Vec<&ReplicaSet> = all.iter().copied().filter(|rs| is_active(rs)).collect();
    match active.len() {
        0 => new.or(all.last().copied()),
        1 => Some(active[0]),
        _ => None,
    }
}

/// The scales that bring the ReplicaSets to `replicas` (with `surge` room
/// during a rolling update). Every active ReplicaSet is listed, even at its
/// current size, so the caller refreshes its desired-replicas annotation and
/// the scaling event is over.
pub fn scale_to(replicas: i32, surge: i32, rolling: bool, new: Option<&ReplicaSet>, old: &[&ReplicaSet]) -> Vec<Scale> {
    if let Some(only) = active_or_latest(new, old) {
        return vec![Scale { name: only.name_any(), to: replicas }];
    }
    // The new ReplicaSet already runs everything: the old ones are leftovers.
    if let Some(new) = new.filter(|n| spec_replicas(n) == replicas && available_replicas(n) == replicas) {
        let mut scales: Vec<Scale> = old.iter().filter(|rs| is_active(rs)).map(|rs| Scale { name: rs.name_any(), to: 0 }).collect();
        scales.push(Scale { name: new.name_any(), to: replicas });
        return scales;
    }
    if !rolling {
        return Vec::new();
    }
    let mut active: Vec<&ReplicaSet> = old.iter().copied().chain(new).filter(|rs| is_active(rs)).collect();
    sort_oldest_first(&mut active);
    let allowed = if replicas > 0 { replicas + surge } else { 0 };
    let mut to_add = allowed - sum(&active, spec_replicas);
    let mut targets: Vec<(&ReplicaSet, i32)> = active.iter().map(|rs| (*rs, spec_replicas(rs))).collect();
    if to_add > 0 {
        // Growth goes to the new ReplicaSet (else the newest active one).
        let index = new.and_then(|n| targets.iter().position(|(rs, _)| rs.name_any() == n.name_any())).unwrap_or(targets.len().saturating_sub(1));
        if let Some((_, target)) = targets.get_mut(index) {
            *target += to_add;
        }
    } else {
        // Shrinking comes from the oldest first.
        for (_, target) in targets.iter_mut() {
            let down = (*target).min(-to_add);
            *target -= down;
            to_add += down;
        }
    }
    targets.into_iter().map(|(rs, to)| Scale { name: rs.name_any(), to }).collect()
}

#[cfg(test)]
mod tests {
    use super::super::replica_sets::tests::{rs, with_annotation};
    use super::super::replica_sets::DESIRED_REPLICAS;
    use super::*;

    fn scale(name: &str, to: i32) -> Scale {
        Scale { name: name.into(), to }
    }

    #[test]
    fn a_scaling_event_is_a_desired_count_that_changed() {
        let a = with_annotation(rs("a", 1, 3, 3, 3), DESIRED_REPLICAS, "3");
        let idle = with_annotation(rs("idle", 1, 0, 0, 0), DESIRED_REPLICAS, "1");
        assert!(!is_scaling_event(3, &[&a, &idle]), "inactive ones do not count");
        assert!(is_scaling_event(5, &[&a]));
        assert!(!is_scaling_event(5, &[&rs("unannotated", 1, 3, 3, 3)]));
    }

    #[test]
    fn a_single_active_replica_set_takes_the_whole_count() {
        let new = rs("new", 2, 3, 3, 3);
        let old = rs("old", 1, 0, 0, 0);
        assert_eq!(scale_to(5, 2, true, Some(&new), &[&old]), vec![scale("new", 5)]);
        // Nothing active: the new one.
        let new = rs("new", 2, 0, 0, 0);
        assert_eq!(scale_to(2, 1, true, Some(&new), &[&old]), vec![scale("new", 2)]);
        // Paused with no new ReplicaSet: the newest old one.
        let older = rs("older", 0, 0, 0, 0);
        assert_eq!(scale_to(2, 1, true, None, &[&old, &older]), vec![scale("old", 2)]);
    }

    #[test]
    fn mid_rollout_growth_goes_to_the_new_and_shrinking_to_the_old() {
        // 3 replicas surge 1 mid-rollout: old 2 + new 2 = 4. Scale to 6 (surge 2): allowed 8.
        let old = rs("old", 1, 2, 2, 2);
        let new = rs("new", 2, 2, 2, 1);
        assert_eq!(scale_to(6, 2, true, Some(&new), &[&old]), vec![scale("old", 2), scale("new", 6)]);
        // Scale to 1 (surge 1): allowed 2, remove 2 from the oldest first.
        assert_eq!(scale_to(1, 1, true, Some(&new), &[&old]), vec![scale("old", 0), scale("new", 2)]);
        // Recreate with two active: wait for the rollout.
        assert!(scale_to(1, 0, false, Some(&new), &[&old]).is_empty());
    }

    #[test]
    fn a_saturated_new_replica_set_retires_the_old() {
        let old = rs("old", 1, 1, 1, 1);
        let new = rs("new", 2, 3, 3, 3);
        assert_eq!(scale_to(3, 1, true, Some(&new), &[&old]), vec![scale("old", 0), scale("new", 3)]);
    }
}
