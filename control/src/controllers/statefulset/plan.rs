//! The pure heart of the StatefulSet controller: given the replicas that
//! exist, what to create and delete now.
//!
//! As upstream: missing replicas are created lowest ordinal first and
//! replicas beyond `spec.replicas` deleted highest first. `OrderedReady` does
//! one thing at a time and only moves on when every lower replica is Running
//! and Ready; `Parallel` does them all at once. A RollingUpdate then replaces
//! replicas at or above the partition whose revision is not the update
//! revision, highest ordinal first, one at a time, each waiting for the
//! previous replacement to be Ready. OnDelete replaces nothing: a replica the
//! user deletes comes back at the update revision.

use std::collections::BTreeMap;

/// What a replica is doing, as far as ordering cares.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Health {
    /// Running with the Ready condition True.
    RunningReady,
    /// Created, not (yet or any more) Running and Ready.
    Unready,
    /// Being deleted.
    Terminating,
    /// Failed or Succeeded: it will not run again and must be replaced.
    Finished,
}

/// One existing pod of the set.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Replica {
    pub ordinal: i32,
    pub name: String,
    /// The ControllerRevision it was made from.
    pub revision: String,
    pub health: Health,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Strategy {
    RollingUpdate { partition: i32 },
    OnDelete,
}

/// Everything the plan depends on.
#[derive(Clone, Debug)]
pub struct Desired<'a> {
    pub replicas: i32,
    pub start: i32,
    /// `podManagementPolicy: Parallel`.
    pub parallel: bool,
    pub strategy: Strategy,
    pub current_revision: &'a str,
    pub update_revision: &'a str,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DeleteReason {
    /// Its ordinal is beyond `spec.replicas`.
    ScaleDown,
    /// It failed or completed and is replaced with the same identity.
    Finished,
    /// It runs an old revision.
    Update,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Step {
    Create { ordinal: i32, revision: String },
    Delete { name: String, reason: DeleteReason },
}

impl Desired<'_> {
    fn is_replica(&self, ordinal: i32) -> bool {
        ordinal >= self.start && ordinal - self.start < self.replicas
    }

    /// The revision a newly made replica gets: below the partition the
    /// current one, else the update one.
    pub fn revision_for(&self, ordinal: i32) -> &str {
        match self.strategy {
            Strategy::RollingUpdate { partition } if ordinal - self.start < partition => self.current_revision,
            _ => self.update_revision,
        }
    }
}

/// The steps to take now; empty when the set is as it should be or must wait.
pub fn plan(desired: &Desired, replicas: &[Replica]) -> Vec<Step> {
    let by_ordinal: BTreeMap<i32, &Replica> = replicas.iter().map(|r| (r.ordinal, r)).collect();
    let one_at_a_time = !desired.parallel;
    let mut steps = Vec::new();

    for offset in 0..desired.replicas.max(0) {
        let ordinal = desired.start + offset;
        match by_ordinal.get(&ordinal) {
            None => steps.push(Step::Create { ordinal, revision: desired.revision_for(ordinal).to_string() }),
            Some(r) if r.health == Health::Finished => {
                steps.push(Step::Delete { name: r.name.clone(), reason: DeleteReason::Finished })
            }
            Some(r) if r.health == Health::RunningReady => continue,
            // Unready or terminating: ordered sets wait for it.
            Some(_) if one_at_a_time => return steps,
            Some(_) => continue,
        }
        if one_at_a_time {
            return steps;
        }
    }

    let mut condemned: Vec<&Replica> = replicas.iter().filter(|r| !desired.is_replica(r.ordinal)).collect();
    condemned.sort_by_key(|r| std::cmp::Reverse(r.ordinal));
    for r in condemned {
        if r.health == Health::Terminating {
            if one_at_a_time {
                return steps;
            }
            continue;
        }
        steps.push(Step::Delete { name: r.name.clone(), reason: DeleteReason::ScaleDown });
        if one_at_a_time {
            return steps;
        }
    }
    if !steps.is_empty() {
        return steps;
    }

    let Strategy::RollingUpdate { partition } = desired.strategy else { return steps };
    for offset in (partition.max(0)..desired.replicas).rev() {
        let Some(r) = by_ordinal.get(&(desired.start + offset)) else { return steps };
        if r.revision != desired.update_revision && r.health != Health::Terminating {
            steps.push(Step::Delete { name: r.name.clone(), reason: DeleteReason::Update });
            return steps;
        }
        if r.health != Health::RunningReady {
            return steps;
        }
    }
    steps
}

#[cfg(test)]
mod tests {
    use super::*;

    fn replica(ordinal: i32, revision: &str, health: Health) -> Replica {
        Replica { ordinal, name: format!("web-{ordinal}"), revision: revision.into(), health }
    }

    fn desired(replicas: i32, parallel: bool, strategy: Strategy) -> Desired<'static> {
        Desired { replicas, start: 0, parallel, strategy, current_revision: "v1", update_revision: "v2" }
    }

    const ROLLING: Strategy = Strategy::RollingUpdate { partition: 0 };

    fn create(ordinal: i32, revision: &str) -> Step {
        Step::Create { ordinal, revision: revision.into() }
    }

    fn delete(ordinal: i32, reason: DeleteReason) -> Step {
        Step::Delete { name: format!("web-{ordinal}"), reason }
    }

    #[test]
    fn ordered_ready_creates_one_replica_after_the_previous_is_ready() {
        let d = desired(3, false, ROLLING);
        assert_eq!(plan(&d, &[]), vec![create(0, "v2")]);
        assert_eq!(plan(&d, &[replica(0, "v2", Health::Unready)]), vec![], "web-1 waits for web-0 to be Ready");
        assert_eq!(plan(&d, &[replica(0, "v2", Health::RunningReady)]), vec![create(1, "v2")]);
        let all: Vec<Replica> = (0..3).map(|o| replica(o, "v2", Health::RunningReady)).collect();
        assert_eq!(plan(&d, &all), vec![], "nothing to do twice in a row");
    }

    #[test]
    fn a_deleted_replica_is_recreated_with_the_same_ordinal() {
        let d = desired(3, false, ROLLING);
        let replicas = [replica(0, "v2", Health::RunningReady), replica(2, "v2", Health::RunningReady)];
        assert_eq!(plan(&d, &replicas), vec![create(1, "v2")]);
        let terminating = [replica(0, "v2", Health::RunningReady), replica(1, "v2", Health::Terminating)];
        assert_eq!(plan(&d, &terminating), vec![], "the old web-1 must be gone before the new one comes");
    }

    #[test]
    fn parallel_creates_and_deletes_everything_at_once() {
        let d = desired(3, true, ROLLING);
        assert_eq!(plan(&d, &[replica(1, "v2", Health::Unready)]), vec![create(0, "v2"), create(2, "v2")]);
        let d = desired(1, true, ROLLING);
        let replicas: Vec<Replica> = (0..3).map(|o| replica(o, "v2", Health::Unready)).collect();
        assert_eq!(plan(&d, &replicas), vec![delete(2, DeleteReason::ScaleDown), delete(1, DeleteReason::ScaleDown)]);
    }

    #[test]
    fn scale_down_removes_the_highest_ordinal_first_one_at_a_time() {
        let d = desired(1, false, ROLLING);
        let replicas: Vec<Replica> = (0..3).map(|o| replica(o, "v2", Health::RunningReady)).collect();
        assert_eq!(plan(&d, &replicas), vec![delete(2, DeleteReason::ScaleDown)]);
        let mut going = replicas.clone();
        going[2].health = Health::Terminating;
        assert_eq!(plan(&d, &going), vec![], "waits for web-2 to go before deleting web-1");
        assert_eq!(plan(&d, &replicas[..2]), vec![delete(1, DeleteReason::ScaleDown)]);
    }

    #[test]
    fn a_finished_replica_is_replaced() {
        let d = desired(2, false, ROLLING);
        let replicas = [replica(0, "v2", Health::Finished), replica(1, "v2", Health::RunningReady)];
        assert_eq!(plan(&d, &replicas), vec![delete(0, DeleteReason::Finished)]);
    }

    #[test]
    fn rolling_update_goes_from_the_highest_ordinal_down_to_the_partition() {
        let d = desired(3, false, Strategy::RollingUpdate { partition: 1 });
        let old: Vec<Replica> = (0..3).map(|o| replica(o, "v1", Health::RunningReady)).collect();
        assert_eq!(plan(&d, &old), vec![delete(2, DeleteReason::Update)]);
        let mut step2 = old[..2].to_vec();
        assert_eq!(plan(&d, &step2), vec![create(2, "v2")], "the replaced replica comes back at the update revision");
        step2.push(replica(2, "v2", Health::Unready));
        assert_eq!(plan(&d, &step2), vec![], "waits for web-2 to be Ready");
        step2[2].health = Health::RunningReady;
        assert_eq!(plan(&d, &step2), vec![delete(1, DeleteReason::Update)]);
        let done = [replica(0, "v1", Health::RunningReady), replica(1, "v2", Health::RunningReady), replica(2, "v2", Health::RunningReady)];
        assert_eq!(plan(&d, &done), vec![], "web-0 is below the partition");
        assert_eq!(d.revision_for(0), "v1");
        assert_eq!(d.revision_for(1), "v2");
    }

    #[test]
    fn on_delete_never_replaces_a_running_replica() {
        let d = desired(2, false, Strategy::OnDelete);
        let old: Vec<Replica> = (0..2).map(|o| replica(o, "v1", Health::RunningReady)).collect();
        assert_eq!(plan(&d, &old), vec![]);
        assert_eq!(plan(&d, &old[1..]), vec![create(0, "v2")]);
    }

    #[test]
    fn ordinals_start_where_the_spec_says() {
        let d = Desired { start: 5, ..desired(2, false, ROLLING) };
        assert_eq!(plan(&d, &[]), vec![create(5, "v2")]);
        let replicas = [replica(5, "v2", Health::RunningReady), replica(6, "v2", Health::RunningReady), replica(0, "v2", Health::RunningReady)];
        assert_eq!(plan(&d, &replicas), vec![delete(0, DeleteReason::ScaleDown)]);
    }
}
