//! The Deployment's status, what `kubectl rollout status` reads: counts summed
//! over its ReplicaSets, the Available condition, and the Progressing
//! condition with upstream's reasons and its progress deadline.

use std::time::Duration;

use jiff::{SignedDuration, Timestamp};
use k8s_openapi::api::apps::v1::{Deployment, DeploymentCondition, DeploymentStatus, ReplicaSet};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

use super::params::desired_replicas;
use super::replica_sets::{ready_replicas, spec_replicas, status_replicas, sum};

pub const AVAILABLE: &str = "Available";
pub const PROGRESSING: &str = "Progressing";
pub const NEW_RS_CREATED: &str = "NewReplicaSetCreated";
pub const FOUND_NEW_RS: &str = "FoundNewReplicaSet";
pub const RS_UPDATED: &str = "ReplicaSetUpdated";
pub const NEW_RS_AVAILABLE: &str = "NewReplicaSetAvailable";
pub const DEADLINE_EXCEEDED: &str = "ProgressDeadlineExceeded";
const PAUSED: &str = "DeploymentPaused";
const RESUMED: &str = "DeploymentResumed";

/// Available pods as the ReplicaSets report them (not capped: this is what the user sees).
fn reported_available(rs: &ReplicaSet) -> i32 {
    rs.status.as_ref().and_then(|s| s.available_replicas).unwrap_or(0)
}

/// Counts over `all` ReplicaSets and the Available condition; other
/// conditions and the collision count are carried over from `d`.
pub fn calculate(d: &Deployment, all: &[&ReplicaSet], new: Option<&ReplicaSet>, max_unavailable: i32, now: Timestamp) -> DeploymentStatus {
    let previous = d.status.clone().unwrap_or_default();
    let available = sum(all, reported_available);
    let mut status = DeploymentStatus {
        observed_generation: d.metadata.generation,
        replicas: Some(sum(all, status_replicas)),
        updated_replicas: Some(new.map_or(0, status_replicas)),
        ready_replicas: Some(sum(all, ready_replicas)),
        available_replicas: Some(available),
        unavailable_replicas: Some((sum(all, spec_replicas) - available).max(0)),
        // Conditions, the collision count and fields this controller does not
        // own are carried over, so an unchanged status compares equal.
        ..previous
    };
    let condition = if available >= desired_replicas(d) - max_unavailable {
        new_condition(AVAILABLE, "True", "MinimumReplicasAvailable", "Deployment has minimum availability.", now)
    } else {
        new_condition(AVAILABLE, "False", "MinimumReplicasUnavailable", "Deployment does not have minimum availability.", now)
    };
    set_condition(&mut status, condition);
    status
}

pub fn new_condition(type_: &str, status: &str, reason: &str, message: &str, now: Timestamp) -> DeploymentCondition {
    DeploymentCondition {
        type_: type_.into(),
        status: status.into(),
        reason: Some(reason.into()),
        message: Some(message.into()),
        last_update_time: Some(Time(now)),
        last_transition_time: Some(Time(now)),
    }
}

pub fn get_condition<'a>(status: &'a DeploymentStatus, type_: &str) -> Option<&'a DeploymentCondition> {
    status.conditions.as_ref()?.iter().find(|c| c.type_ == type_)
}

/// Sets `condition` as upstream: unchanged if status and reason are; the
/// transition time kept if only the reason changed.
pub fn set_condition(status: &mut DeploymentStatus, mut condition: DeploymentCondition) {
    if let Some(current) = get_condition(status, &condition.type_) {
        if current.status == condition.status && current.reason == condition.reason {
            return;
        }
        if current.status == condition.status {
            condition.last_transition_time = current.last_transition_time.clone();
        }
    }
    remove_condition(status, &condition.type_);
    status.conditions.get_or_insert_with(Vec::new).push(condition);
}

fn remove_condition(status: &mut DeploymentStatus, type_: &str) {
    if let Some(conditions) = status.conditions.as_mut() {
        conditions.retain(|c| c.type_ != type_);
    }
}

/// `spec.progressDeadlineSeconds`, unless unset or "never" (MaxInt32).
pub fn progress_deadline(d: &Deployment) -> Option<i32> {
    d.spec.as_ref().and_then(|s| s.progress_deadline_seconds).filter(|s| *s != i32::MAX)
}

/// The rollout is done: every desired pod updated and available, none old.
pub fn is_complete(d: &Deployment, status: &DeploymentStatus) -> bool {
    let replicas = desired_replicas(d);
    status.updated_replicas == Some(replicas)
        && status.replicas == Some(replicas)
        && status.available_replicas == Some(replicas)
        && status.observed_generation >= d.metadata.generation
}

/// Some count moved forward since the recorded status.
fn is_progressing(old: &DeploymentStatus, new: &DeploymentStatus) -> bool {
    let n = |v: Option<i32>| v.unwrap_or(0);
    let old_pods = |s: &DeploymentStatus| n(s.replicas) - n(s.updated_replicas);
    n(new.updated_replicas) > n(old.updated_replicas)
        || old_pods(new) < old_pods(old)
        || n(new.ready_replicas) > n(old.ready_replicas)
        || n(new.available_replicas) > n(old.available_replicas)
}

fn deadline_passed(d: &Deployment, status: &DeploymentStatus, now: Timestamp) -> bool {
    let (Some(deadline), Some(cond)) = (progress_deadline(d), get_condition(status, PROGRESSING)) else { return false };
    match cond.reason.as_deref() {
        Some(DEADLINE_EXCEEDED) => true,
        Some(NEW_RS_AVAILABLE) => false,
        _ => cond.last_update_time.as_ref().is_some_and(|t| t.0 + SignedDuration::from_secs(i64::from(deadline)) < now),
    }
}

/// The Progressing condition after a rollout step (upstream's syncRolloutStatus).
pub fn update_progress(d: &Deployment, status: &mut DeploymentStatus, new_rs: Option<&str>, now: Timestamp) {
    if progress_deadline(d).is_none() {
        remove_condition(status, PROGRESSING);
        return;
    }
    let current = get_condition(status, PROGRESSING).cloned();
    let already_complete = status.replicas == status.updated_replicas && current.as_ref().and_then(|c| c.reason.as_deref()) == Some(NEW_RS_AVAILABLE);
    if already_complete {
        return;
    }
    let old = d.status.clone().unwrap_or_default();
    let subject = match new_rs {
        Some(name) => format!("ReplicaSet {name:?}"),
        None => format!("Deployment {:?}", d.metadata.name.as_deref().unwrap_or_default()),
    };
    if is_complete(d, status) {
        let message = format!("{subject} has successfully progressed.");
        set_condition(status, new_condition(PROGRESSING, "True", NEW_RS_AVAILABLE, &message, now));
    } else if is_progressing(&old, status) {
        let mut condition = new_condition(PROGRESSING, "True", RS_UPDATED, &format!("{subject} is progressing."), now);
        // Progress moves the deadline (lastUpdateTime), not the transition time.
        if let Some(current) = current.filter(|c| c.status == "True") {
            condition.last_transition_time = current.last_transition_time;
        }
        remove_condition(status, PROGRESSING);
        set_condition(status, condition);
    } else if deadline_passed(d, status, now) {
        let message = format!("{subject} has timed out progressing.");
        set_condition(status, new_condition(PROGRESSING, "False", DEADLINE_EXCEEDED, &message, now));
    }
}

/// Progressing Unknown while paused (DeploymentPaused), and once more when
/// resumed (DeploymentResumed), unless the deadline already passed.
pub fn update_paused(d: &Deployment, status: &mut DeploymentStatus, now: Timestamp) {
    if progress_deadline(d).is_none() {
        return;
    }
    let reason = get_condition(status, PROGRESSING).and_then(|c| c.reason.clone());
    if reason.as_deref() == Some(DEADLINE_EXCEEDED) {
        return;
    }
    let paused = d.spec.as_ref().and_then(|s| s.paused).unwrap_or(false);
    let marked = reason.as_deref() == Some(PAUSED);
    if paused && !marked {
        set_condition(status, new_condition(PROGRESSING, "Unknown", PAUSED, "Deployment is paused", now));
    } else if !paused && marked {
        set_condition(status, new_condition(PROGRESSING, "Unknown", RESUMED, "Deployment is resumed", now));
    }
}

/// How long until a rollout in progress would pass its deadline, so the
/// controller looks again then even if nothing else happens.
pub fn deadline_recheck(d: &Deployment, status: &DeploymentStatus, now: Timestamp) -> Option<Duration> {
    let deadline = progress_deadline(d)?;
    let cond = get_condition(status, PROGRESSING)?;
    if is_complete(d, status) || matches!(cond.reason.as_deref(), Some(NEW_RS_AVAILABLE | DEADLINE_EXCEEDED)) {
        return None;
    }
    let at = cond.last_update_time.as_ref()?.0 + SignedDuration::from_secs(i64::from(deadline));
    let left = Duration::try_from(at.duration_since(now)).unwrap_or_default();
    Some(left + Duration::from_secs(1))
}

#[cfg(test)]
mod tests {
    use k8s_openapi::api::apps::v1::DeploymentSpec;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

    use super::super::replica_sets::tests::rs;
    use super::*;

    fn at(secs: i64) -> Timestamp {
        Timestamp::from_second(secs).expect("time")
    }

    fn deployment(replicas: i32, generation: i64, status: DeploymentStatus) -> Deployment {
        Deployment {
            metadata: ObjectMeta { name: Some("web".into()), generation: Some(generation), ..Default::default() },
            spec: Some(DeploymentSpec { replicas: Some(replicas), progress_deadline_seconds: Some(600), ..Default::default() }),
            status: Some(status),
        }
    }

    fn reason(status: &DeploymentStatus, type_: &str) -> Option<String> {
        get_condition(status, type_).and_then(|c| c.reason.clone())
    }

    #[test]
    fn counts_sum_over_replica_sets() {
        let d = deployment(3, 2, DeploymentStatus::default());
        let old = rs("old", 1, 2, 2, 2);
        let new = rs("new", 2, 2, 1, 0);
        let status = calculate(&d, &[&old, &new], Some(&new), 0, at(10));
        assert_eq!(status.replicas, Some(3));
        assert_eq!(status.updated_replicas, Some(1));
        assert_eq!(status.available_replicas, Some(2));
        assert_eq!(status.unavailable_replicas, Some(2), "spec 4 - available 2");
        assert_eq!(status.observed_generation, Some(2));
        assert_eq!(reason(&status, AVAILABLE).as_deref(), Some("MinimumReplicasUnavailable"));
    }

    #[test]
    fn progressing_moves_through_its_reasons() {
        let mut started = DeploymentStatus::default();
        set_condition(&mut started, new_condition(PROGRESSING, "True", NEW_RS_CREATED, "Created new replica set \"web-1\"", at(0)));
        let d = deployment(3, 1, started.clone());
        let new = rs("web-1", 1, 3, 1, 1);
        // One pod more than recorded: progressing, deadline moved.
        let mut status = calculate(&d, &[&new], Some(&new), 0, at(5));
        update_progress(&d, &mut status, Some("web-1"), at(5));
        let cond = get_condition(&status, PROGRESSING).cloned().expect("progressing");
        assert_eq!(cond.reason.as_deref(), Some(RS_UPDATED));
        assert_eq!(cond.last_update_time.map(|t| t.0), Some(at(5)));
        assert_eq!(cond.last_transition_time.map(|t| t.0), Some(at(0)));
        // All there: complete.
        let d = deployment(3, 1, status);
        let done = rs("web-1", 1, 3, 3, 3);
        let mut status = calculate(&d, &[&done], Some(&done), 0, at(9));
        update_progress(&d, &mut status, Some("web-1"), at(9));
        assert_eq!(reason(&status, PROGRESSING).as_deref(), Some(NEW_RS_AVAILABLE));
        assert!(is_complete(&d, &status));
        assert_eq!(deadline_recheck(&d, &status, at(9)), None);
    }

    #[test]
    fn no_progress_past_the_deadline_fails_the_rollout() {
        let mut recorded = DeploymentStatus { replicas: Some(1), updated_replicas: Some(1), ..Default::default() };
        set_condition(&mut recorded, new_condition(PROGRESSING, "True", RS_UPDATED, "", at(0)));
        let d = deployment(3, 1, recorded);
        let stuck = rs("web-1", 1, 3, 1, 0);
        let mut status = calculate(&d, &[&stuck], Some(&stuck), 0, at(100));
        update_progress(&d, &mut status, Some("web-1"), at(100));
        assert_eq!(reason(&status, PROGRESSING).as_deref(), Some(RS_UPDATED), "within the deadline");
        assert_eq!(deadline_recheck(&d, &status, at(100)), Some(Duration::from_secs(501)));
        update_progress(&d, &mut status, Some("web-1"), at(601));
        let cond = get_condition(&status, PROGRESSING).expect("progressing");
        assert_eq!((cond.status.as_str(), cond.reason.as_deref()), ("False", Some(DEADLINE_EXCEEDED)));
    }

    #[test]
    fn a_condition_with_the_same_status_and_reason_is_left_alone() {
        let mut status = DeploymentStatus::default();
        set_condition(&mut status, new_condition(AVAILABLE, "True", "MinimumReplicasAvailable", "", at(1)));
        set_condition(&mut status, new_condition(AVAILABLE, "True", "MinimumReplicasAvailable", "", at(2)));
        assert_eq!(get_condition(&status, AVAILABLE).and_then(|c| c.last_update_time.clone()).map(|t| t.0), Some(at(1)));
    }

    #[test]
    fn pausing_and_resuming_are_recorded() {
        let mut d = deployment(1, 1, DeploymentStatus::default());
        if let Some(spec) = d.spec.as_mut() {
            spec.paused = Some(true);
        }
        let mut status = DeploymentStatus::default();
        update_paused(&d, &mut status, at(1));
        assert_eq!(reason(&status, PROGRESSING).as_deref(), Some(PAUSED));
        if let Some(spec) = d.spec.as_mut() {
            spec.paused = Some(false);
        }
        update_paused(&d, &mut status, at(2));
        assert_eq!(reason(&status, PROGRESSING).as_deref(), Some(RESUMED));
    }
}
