//! The conditions of `status.conditions` the Job controller writes, with
//! upstream's types, reasons and messages: the interim SuccessCriteriaMet /
//! FailureTarget, the final Complete / Failed, and Suspended.

use jiff::Timestamp;
use k8s_openapi::api::batch::v1::{JobCondition, JobStatus};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

use super::plan::{FailureReason, Verdict};

pub const COMPLETE: &str = "Complete";
pub const FAILED: &str = "Failed";
pub const SUCCESS_CRITERIA_MET: &str = "SuccessCriteriaMet";
pub const FAILURE_TARGET: &str = "FailureTarget";
pub const SUSPENDED: &str = "Suspended";

const COMPLETIONS_REACHED: (&str, &str) = ("CompletionsReached", "Reached expected number of succeeded pods");

/// The condition of type `kind` whose status is True.
pub fn true_condition<'a>(status: Option<&'a JobStatus>, kind: &str) -> Option<&'a JobCondition> {
    status?.conditions.as_ref()?.iter().find(|c| c.type_ == kind && c.status == "True")
}

/// Complete or Failed is True: the Job is over.
pub fn is_finished(status: Option<&JobStatus>) -> bool {
    true_condition(status, COMPLETE).is_some() || true_condition(status, FAILED).is_some()
}

/// The verdict an earlier reconcile reached, from the interim conditions.
pub fn interim_verdict(status: Option<&JobStatus>) -> Option<Verdict> {
    if let Some(target) = true_condition(status, FAILURE_TARGET) {
        let reason = target.reason.as_deref().and_then(FailureReason::parse).unwrap_or(FailureReason::BackoffLimitExceeded);
        return Some(Verdict::Failed(reason));
    }
    true_condition(status, SUCCESS_CRITERIA_MET).map(|_| Verdict::Succeeded)
}

/// When the Job finished (the final condition's transition), if it did.
pub fn finished_at(status: Option<&JobStatus>) -> Option<Timestamp> {
    let final_condition = true_condition(status, COMPLETE).or_else(|| true_condition(status, FAILED))?;
    final_condition.last_transition_time.as_ref().map(|t| t.0)
}

/// Sets condition `kind` to `value` with `reason`/`message`; the transition
/// time moves only when the status flips. Returns whether anything changed.
pub fn set(status: &mut JobStatus, kind: &str, value: bool, reason: &str, message: &str, now: Timestamp) -> bool {
    let value = if value { "True" } else { "False" };
    let conditions = status.conditions.get_or_insert_with(Vec::new);
    if let Some(existing) = conditions.iter_mut().find(|c| c.type_ == kind) {
        if existing.status == value && existing.reason.as_deref() == Some(reason) {
            return false;
        }
        if existing.status != value {
            existing.last_transition_time = Some(Time(now));
        }
        existing.status = value.into();
        existing.reason = Some(reason.into());
        existing.message = Some(message.into());
        existing.last_probe_time = Some(Time(now));
        return true;
    }
    conditions.push(JobCondition {
        type_: kind.into(),
        status: value.into(),
        reason: Some(reason.into()),
        message: Some(message.into()),
        last_probe_time: Some(Time(now)),
        last_transition_time: Some(Time(now)),
    });
    true
}

/// Writes the interim condition of `verdict`, and the final one when `finished`.
pub fn record_verdict(status: &mut JobStatus, verdict: Verdict, finished: bool, now: Timestamp) -> bool {
    let (interim, last, reason, message) = match verdict {
        Verdict::Succeeded => (SUCCESS_CRITERIA_MET, COMPLETE, COMPLETIONS_REACHED.0, COMPLETIONS_REACHED.1),
        Verdict::Failed(why) => (FAILURE_TARGET, FAILED, why.as_str(), why.message()),
    };
    let mut changed = set(status, interim, true, reason, message, now);
    if finished {
        changed |= set(status, last, true, reason, message, now);
    }
    changed
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_verdict_is_interim_until_finished() {
        let mut status = JobStatus::default();
        let failed = Verdict::Failed(FailureReason::DeadlineExceeded);
        assert!(record_verdict(&mut status, failed, false, Timestamp::UNIX_EPOCH));
        assert_eq!(interim_verdict(Some(&status)), Some(failed));
        assert!(!is_finished(Some(&status)));
        assert!(!record_verdict(&mut status, failed, false, Timestamp::UNIX_EPOCH), "idempotent");
        assert!(record_verdict(&mut status, failed, true, Timestamp::UNIX_EPOCH));
        assert!(is_finished(Some(&status)));
        let condition = true_condition(Some(&status), FAILED).expect("Failed");
        assert_eq!(condition.reason.as_deref(), Some("DeadlineExceeded"));
        assert_eq!(finished_at(Some(&status)), Some(Timestamp::UNIX_EPOCH));
    }

    #[test]
    fn flipping_a_condition_moves_its_transition_time() {
        let mut status = JobStatus::default();
        let later = Timestamp::UNIX_EPOCH + jiff::SignedDuration::from_secs(60);
        set(&mut status, SUSPENDED, true, "JobSuspended", "Job suspended", Timestamp::UNIX_EPOCH);
        assert!(set(&mut status, SUSPENDED, false, "JobResumed", "Job resumed", later));
        let conditions = status.conditions.expect("conditions");
        assert_eq!(conditions.len(), 1);
        assert_eq!(conditions[0].last_transition_time.as_ref().map(|t| t.0), Some(later));
    }
}
