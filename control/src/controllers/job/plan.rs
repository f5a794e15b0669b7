//! The Job controller's decision, a pure function of the Job's spec, its
//! counts and its pods: which pods to create or delete, and whether the Job
//! has succeeded or failed.

use std::collections::BTreeSet;
use std::time::Duration;

use jiff::Timestamp;
use k8s_openapi::api::batch::v1::JobSpec;

use super::pods::PodView;
use super::tracking::Ledger;

/// Upstream's default `spec.backoffLimit`.
const DEFAULT_BACKOFF_LIMIT: i32 = 6;

/// After a failure, the next pod waits this long, doubling with each
/// failure up to [`MAX_RETRY_DELAY`] (upstream's pod failure backoff).
const RETRY_DELAY: Duration = Duration::from_secs(10);
const MAX_RETRY_DELAY: Duration = Duration::from_secs(360);

/// The parts of `spec` the decision depends on, with upstream's defaults applied.
#[derive(Clone, Debug, PartialEq)]
pub struct Settings {
    pub completions: Option<i32>,
    pub parallelism: i32,
    pub backoff_limit: i32,
    pub active_deadline_seconds: Option<i64>,
    pub suspend: bool,
    pub indexed: bool,
    /// `restartPolicy: OnFailure`: container restarts count as failures.
    pub restarts_count_as_failures: bool,
}

impl Settings {
    pub fn of(spec: &JobSpec) -> Settings {
        let restart_policy = spec.template.spec.as_ref().and_then(|s| s.restart_policy.as_deref());
        Settings {
            completions: spec.completions,
            parallelism: spec.parallelism.unwrap_or(1).max(0),
            backoff_limit: spec.backoff_limit.unwrap_or(DEFAULT_BACKOFF_LIMIT),
            active_deadline_seconds: spec.active_deadline_seconds,
            suspend: spec.suspend.unwrap_or(false),
            indexed: spec.completion_mode.as_deref() == Some("Indexed"),
            restarts_count_as_failures: restart_policy == Some("OnFailure"),
        }
    }
}

/// Why a Job failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FailureReason {
    BackoffLimitExceeded,
    DeadlineExceeded,
}

impl FailureReason {
    pub fn as_str(self) -> &'static str {
        match self {
            FailureReason::BackoffLimitExceeded => "BackoffLimitExceeded",
            FailureReason::DeadlineExceeded => "DeadlineExceeded",
        }
    }

    /// Upstream's condition and Event message.
    pub fn message(self) -> &'static str {
        match self {
            FailureReason::BackoffLimitExceeded => "Job has reached the specified backoff limit",
            FailureReason::DeadlineExceeded => "Job was active longer than specified deadline",
        }
    }

    pub fn parse(reason: &str) -> Option<FailureReason> {
        match reason {
            "BackoffLimitExceeded" => Some(FailureReason::BackoffLimitExceeded),
            "DeadlineExceeded" => Some(FailureReason::DeadlineExceeded),
            _ => None,
        }
    }
}

/// Where a Job ends up: reached first (the interim SuccessCriteriaMet /
/// FailureTarget condition), final once no pod of it runs any more.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    Succeeded,
    Failed(FailureReason),
}

/// What to do in one reconcile.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Plan {
    /// One entry per pod to create: its completion index (Indexed Jobs) or None.
    pub create: Vec<Option<i32>>,
    /// Names of active pods to delete.
    pub delete: Vec<String>,
    pub verdict: Option<Verdict>,
    /// The verdict can be made final: none of the Job's pods runs any more.
    pub finished: bool,
    /// Look again then even if nothing changes (the active deadline).
    pub requeue_after: Option<Duration>,
}

/// Decides for a Job that has no final condition yet. `verdict` is the one an
/// earlier reconcile reached (from the interim condition); `start` is
/// `status.startTime`.
pub fn plan(settings: &Settings, ledger: &Ledger, pods: &[PodView], verdict: Option<Verdict>, start: Option<Timestamp>, now: Timestamp) -> Plan {
    let active: Vec<&PodView> = pods.iter().filter(|p| p.is_active()).collect();
    let mut plan = Plan::default();
    let deadline = settings.active_deadline_seconds.zip(start).filter(|_| !settings.suspend).map(|(secs, start)| start + jiff::SignedDuration::from_secs(secs));
    let verdict = verdict.or_else(|| failure(settings, ledger, &active, deadline, now)).or_else(|| success(settings, ledger, &active));
    if let Some(verdict) = verdict {
        plan.verdict = Some(verdict);
        plan.delete = active.iter().map(|p| p.name.clone()).collect();
        plan.finished = active.is_empty() && !pods.iter().any(|p| p.terminating);
        return plan;
    }
    if settings.suspend {
        plan.delete = active.iter().map(|p| p.name.clone()).collect();
        return plan;
    }
    if let Some(deadline) = deadline {
        plan.requeue_after = Some(Duration::try_from(deadline.duration_since(now)).unwrap_or_default());
    }
    if settings.indexed {
        if let Some(completions) = settings.completions {
            plan_indexed(settings.parallelism, completions, ledger, &active, &mut plan);
            hold_back_after_failure(ledger, pods, now, &mut plan);
            return plan;
        }
    }
    let succeeded = ledger.total_succeeded();
    let wanted = match settings.completions {
        Some(completions) => settings.parallelism.min(completions - succeeded).max(0),
        // A work queue: once one pod succeeded, the rest only finish.
        None if succeeded > 0 => 0,
        None => settings.parallelism,
    } as usize;
    if wanted > active.len() {
        plan.create = vec![None; wanted - active.len()];
    } else {
        plan.delete = surplus(&active, active.len() - wanted);
    }
    hold_back_after_failure(ledger, pods, now, &mut plan);
    plan
}

/// Delays new pods after the latest failure, so a crashing Job retries
/// ever more slowly instead of spinning through its backoff limit.
fn hold_back_after_failure(ledger: &Ledger, pods: &[PodView], now: Timestamp, plan: &mut Plan) {
    let failures = ledger.total_failed();
    let Some(last_failure) = pods.iter().filter_map(|p| p.failed_at).max() else { return };
    if plan.create.is_empty() || failures == 0 {
        return;
    }
    let doublings = (failures - 1).clamp(0, 16) as u32;
    let delay = RETRY_DELAY.saturating_mul(1 << doublings).min(MAX_RETRY_DELAY);
    let retry_at = last_failure + jiff::SignedDuration::try_from(delay).unwrap_or_default();
    if let Ok(wait) = Duration::try_from(retry_at.duration_since(now)) {
        if !wait.is_zero() {
            plan.create.clear();
            plan.requeue_after = Some(plan.requeue_after.map_or(wait, |r| r.min(wait)));
        }
    }
}

fn failure(settings: &Settings, ledger: &Ledger, active: &[&PodView], deadline: Option<Timestamp>, now: Timestamp) -> Option<Verdict> {
    let restarts: i32 = if settings.restarts_count_as_failures { active.iter().map(|p| p.restarts).sum() } else { 0 };
    if ledger.total_failed() + restarts > settings.backoff_limit {
        return Some(Verdict::Failed(FailureReason::BackoffLimitExceeded));
    }
    deadline.filter(|d| now >= *d).map(|_| Verdict::Failed(FailureReason::DeadlineExceeded))
}

fn success(settings: &Settings, ledger: &Ledger, active: &[&PodView]) -> Option<Verdict> {
    let done = match (settings.indexed, settings.completions) {
        (true, Some(completions)) => ledger.completed_indexes.len() as i32 >= completions,
        (false, Some(completions)) => ledger.total_succeeded() >= completions,
        (_, None) => ledger.total_succeeded() > 0 && active.is_empty(),
    };
    done.then_some(Verdict::Succeeded)
}

/// Indexed Jobs: one pod per index not completed yet, lowest first; active
/// pods without a valid, still needed, unique index are deleted.
fn plan_indexed(parallelism: i32, completions: i32, ledger: &Ledger, active: &[&PodView], plan: &mut Plan) {
    let mut running = BTreeSet::new();
    let mut keep = Vec::new();
    for pod in active {
        match pod.index {
            Some(i) if i < completions && !ledger.completed_indexes.contains(&i) && running.insert(i) => keep.push(*pod),
            _ => plan.delete.push(pod.name.clone()),
        }
    }
    let remaining = completions - ledger.completed_indexes.len() as i32;
    let wanted = parallelism.min(remaining).max(0) as usize;
    if wanted > keep.len() {
        let free = (0..completions).filter(|i| !ledger.completed_indexes.contains(i) && !running.contains(i));
        plan.create = free.take(wanted - keep.len()).map(Some).collect();
    } else {
        plan.delete.extend(surplus(&keep, keep.len() - wanted));
    }
}

/// The `count` active pods to give up first: not ready before ready, newest first.
fn surplus(active: &[&PodView], count: usize) -> Vec<String> {
    let mut order: Vec<&&PodView> = active.iter().collect();
    order.sort_by(|a, b| a.ready.cmp(&b.ready).then(b.created.cmp(&a.created)));
    order.into_iter().take(count).map(|p| p.name.clone()).collect()
}

#[cfg(test)]
mod tests {
    use super::super::pods::Outcome;
    use super::*;

    fn settings(completions: Option<i32>, parallelism: i32) -> Settings {
        Settings {
            completions,
            parallelism,
            backoff_limit: 1,
            active_deadline_seconds: None,
            suspend: false,
            indexed: false,
            restarts_count_as_failures: false,
        }
    }

    fn active(name: &str) -> PodView {
        PodView {
            name: name.into(),
            uid: name.into(),
            outcome: Outcome::Active,
            terminating: false,
            ready: false,
            tracked: true,
            index: None,
            restarts: 0,
            created: None,
            failed_at: None,
        }
    }

    fn ledger(succeeded: i32, failed: i32) -> Ledger {
        Ledger { succeeded, failed, ..Default::default() }
    }

    const NOW: Timestamp = Timestamp::UNIX_EPOCH;

    #[test]
    fn never_runs_more_than_parallelism_nor_more_than_remaining_completions() {
        let p = plan(&settings(Some(5), 2), &ledger(0, 0), &[], None, None, NOW);
        assert_eq!(p.create.len(), 2);
        let p = plan(&settings(Some(5), 2), &ledger(0, 0), &[active("a")], None, None, NOW);
        assert_eq!(p.create.len(), 1);
        let p = plan(&settings(Some(5), 2), &ledger(4, 0), &[active("a")], None, None, NOW);
        assert!(p.create.is_empty() && p.delete.is_empty());
        // Running it again with the same inputs asks for the same thing: nothing more.
        let p = plan(&settings(Some(5), 2), &ledger(0, 0), &[active("a"), active("b")], None, None, NOW);
        assert_eq!(p, Plan::default());
    }

    #[test]
    fn lowering_parallelism_deletes_not_ready_pods_first() {
        let mut ready = active("ready");
        ready.ready = true;
        let p = plan(&settings(Some(5), 1), &ledger(0, 0), &[ready, active("slow")], None, None, NOW);
        assert_eq!(p.delete, ["slow"]);
    }

    #[test]
    fn completes_when_completions_are_reached_and_nothing_runs() {
        let p = plan(&settings(Some(5), 2), &ledger(5, 0), &[], None, None, NOW);
        assert_eq!(p.verdict, Some(Verdict::Succeeded));
        assert!(p.finished && p.create.is_empty());
    }

    #[test]
    fn without_completions_one_success_ends_the_job_once_the_rest_finish() {
        let p = plan(&settings(None, 3), &ledger(0, 0), &[], None, None, NOW);
        assert_eq!(p.create.len(), 3);
        let p = plan(&settings(None, 3), &ledger(1, 0), &[active("a")], None, None, NOW);
        assert_eq!((p.verdict, p.create.len()), (None, 0));
        let p = plan(&settings(None, 3), &ledger(1, 0), &[], None, None, NOW);
        assert_eq!(p.verdict, Some(Verdict::Succeeded));
    }

    #[test]
    fn failures_beyond_the_backoff_limit_fail_the_job_and_stop_its_pods() {
        let p = plan(&settings(Some(5), 2), &ledger(0, 1), &[active("a")], None, None, NOW);
        assert_eq!((p.verdict, p.create.len()), (None, 1));
        let p = plan(&settings(Some(5), 2), &ledger(0, 2), &[active("a")], None, None, NOW);
        assert_eq!(p.verdict, Some(Verdict::Failed(FailureReason::BackoffLimitExceeded)));
        assert_eq!(p.delete, ["a"]);
        assert!(!p.finished, "a pod still runs");
    }

    #[test]
    fn retries_wait_longer_after_each_failure() {
        let mut failed = active("f");
        failed.outcome = Outcome::Failed;
        failed.failed_at = Some(NOW);
        let mut s = settings(Some(1), 1);
        s.backoff_limit = 6;
        let soon = NOW + jiff::SignedDuration::from_secs(4);
        let p = plan(&s, &ledger(0, 1), std::slice::from_ref(&failed), None, None, soon);
        assert_eq!((p.create.len(), p.requeue_after), (0, Some(Duration::from_secs(6))));
        let later = NOW + jiff::SignedDuration::from_secs(10);
        assert_eq!(plan(&s, &ledger(0, 1), std::slice::from_ref(&failed), None, None, later).create.len(), 1);
        // A third failure waits 40 s.
        let p = plan(&s, &ledger(0, 3), std::slice::from_ref(&failed), None, None, later);
        assert_eq!((p.create.len(), p.requeue_after), (0, Some(Duration::from_secs(30))));
    }

    #[test]
    fn restarts_count_under_on_failure() {
        let mut s = settings(Some(1), 1);
        s.restarts_count_as_failures = true;
        let mut crashing = active("a");
        crashing.restarts = 2;
        let p = plan(&s, &ledger(0, 0), &[crashing], None, None, NOW);
        assert_eq!(p.verdict, Some(Verdict::Failed(FailureReason::BackoffLimitExceeded)));
    }

    #[test]
    fn the_active_deadline_fails_the_job_and_is_requeued_for_before() {
        let mut s = settings(Some(1), 1);
        s.active_deadline_seconds = Some(10);
        let start = NOW;
        let early = NOW + jiff::SignedDuration::from_secs(4);
        let p = plan(&s, &ledger(0, 0), &[active("a")], None, Some(start), early);
        assert_eq!(p.requeue_after, Some(Duration::from_secs(6)));
        assert_eq!(p.verdict, None);
        let late = NOW + jiff::SignedDuration::from_secs(10);
        let p = plan(&s, &ledger(0, 0), &[active("a")], None, Some(start), late);
        assert_eq!(p.verdict, Some(Verdict::Failed(FailureReason::DeadlineExceeded)));
        assert_eq!(p.delete, ["a"]);
    }

    #[test]
    fn an_earlier_verdict_sticks() {
        let failed = Some(Verdict::Failed(FailureReason::DeadlineExceeded));
        let p = plan(&settings(Some(5), 2), &ledger(0, 0), &[], failed, None, NOW);
        assert_eq!(p.verdict, failed);
        assert!(p.finished && p.create.is_empty());
    }

    #[test]
    fn suspended_jobs_stop_their_pods_and_start_none() {
        let mut s = settings(Some(5), 2);
        s.suspend = true;
        let p = plan(&s, &ledger(0, 0), &[active("a")], None, None, NOW);
        assert_eq!((p.delete.len(), p.create.len(), p.verdict), (1, 0, None));
    }

    #[test]
    fn indexed_jobs_fill_the_lowest_missing_indexes_and_drop_duplicates() {
        let mut s = settings(Some(4), 2);
        s.indexed = true;
        let mut l = ledger(1, 0);
        l.completed_indexes.insert(0);
        let mut one = active("one");
        one.index = Some(1);
        let mut dup = active("dup");
        dup.index = Some(1);
        let p = plan(&s, &l, &[one, dup], None, None, NOW);
        assert_eq!(p.delete, ["dup"]);
        assert_eq!(p.create, [Some(2)]);
        l.completed_indexes.extend([1, 2, 3]);
        let p = plan(&s, &l, &[], None, None, NOW);
        assert_eq!(p.verdict, Some(Verdict::Succeeded));
    }
}
