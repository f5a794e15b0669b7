//! The CronJob controller's decision, a pure function of the CronJob, its Jobs
//! and the clock: whether to start a Job for the latest schedule time, which
//! running Jobs to replace and which finished ones fall out of the history.

use jiff::{SignedDuration, Timestamp};
use k8s_openapi::api::batch::v1::CronJobSpec;

use super::children::{ChildJob, JobState};
use super::schedule::Schedule;

/// `spec.concurrencyPolicy`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConcurrencyPolicy {
    Allow,
    Forbid,
    Replace,
}

/// The parts of `spec` the decision depends on, with upstream's defaults.
#[derive(Clone, Debug, PartialEq)]
pub struct Settings {
    pub suspend: bool,
    pub concurrency: ConcurrencyPolicy,
    pub starting_deadline_seconds: Option<i64>,
    pub successful_history: usize,
    pub failed_history: usize,
}

impl Settings {
    pub fn of(spec: &CronJobSpec) -> Settings {
        let concurrency = match spec.concurrency_policy.as_deref() {
            Some("Forbid") => ConcurrencyPolicy::Forbid,
            Some("Replace") => ConcurrencyPolicy::Replace,
            _ => ConcurrencyPolicy::Allow,
        };
        Settings {
            suspend: spec.suspend.unwrap_or(false),
            concurrency,
            starting_deadline_seconds: spec.starting_deadline_seconds,
            successful_history: spec.successful_jobs_history_limit.unwrap_or(3).max(0) as usize,
            failed_history: spec.failed_jobs_history_limit.unwrap_or(1).max(0) as usize,
        }
    }
}

/// Why a schedule time passed without a Job.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Skip {
    /// Forbid, and a Job still runs: tried again when it finishes.
    AlreadyActive,
    /// Later than `startingDeadlineSeconds` after the schedule time.
    MissedDeadline(Timestamp),
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct Plan {
    /// Start a Job for this schedule time.
    pub start: Option<Timestamp>,
    /// Running Jobs to delete first (Replace).
    pub replace: Vec<String>,
    /// Finished Jobs beyond the history limits.
    pub prune: Vec<String>,
    pub skip: Option<Skip>,
    /// More than 100 schedule times were missed (upstream warns).
    pub too_many_missed: bool,
    /// The next schedule time, to come back at (None while suspended).
    pub next: Option<Timestamp>,
}

/// Decides at `now`. `active` are the running Jobs the CronJob started,
/// `children` all of its Jobs; `created` is the CronJob's creation time.
pub fn plan(
    settings: &Settings,
    schedule: &Schedule,
    last_schedule: Option<Timestamp>,
    created: Timestamp,
    active: &[&ChildJob],
    children: &[ChildJob],
    now: Timestamp,
) -> Plan {
    let mut plan = Plan { prune: beyond_history(children, settings), ..Default::default() };
    if settings.suspend {
        return plan;
    }
    plan.next = schedule.next_after(now);
    let mut earliest = last_schedule.unwrap_or(created);
    let deadline = settings.starting_deadline_seconds.map(SignedDuration::from_secs);
    if let Some(deadline) = deadline {
        earliest = earliest.max(now - deadline);
    }
    let Some(missed) = schedule.missed(earliest, now) else { return plan };
    plan.too_many_missed = missed.too_many;
    let scheduled = missed.latest;
    if deadline.is_some_and(|d| scheduled + d < now) {
        plan.skip = Some(Skip::MissedDeadline(scheduled));
        return plan;
    }
    if children.iter().any(|c| c.scheduled == Some(scheduled)) {
        return plan;
    }
    match settings.concurrency {
        ConcurrencyPolicy::Forbid if !active.is_empty() => {
            plan.skip = Some(Skip::AlreadyActive);
            return plan;
        }
        ConcurrencyPolicy::Replace => plan.replace = active.iter().map(|j| j.name.clone()).collect(),
        _ => {}
    }
    plan.start = Some(scheduled);
    plan
}

/// Finished Jobs past `successfulJobsHistoryLimit` / `failedJobsHistoryLimit`, oldest first.
fn beyond_history(children: &[ChildJob], settings: &Settings) -> Vec<String> {
    let mut prune = Vec::new();
    for (wanted, limit) in [(true, settings.successful_history), (false, settings.failed_history)] {
        let mut finished: Vec<&ChildJob> = children
            .iter()
            .filter(|c| match c.state {
                JobState::Succeeded => wanted,
                JobState::Failed => !wanted,
                JobState::Active => false,
            })
            .collect();
        finished.sort_by_key(|c| (c.started, c.created));
        let excess = finished.len().saturating_sub(limit);
        prune.extend(finished.iter().take(excess).map(|c| c.name.clone()));
    }
    prune
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> Timestamp {
        text.parse().expect("timestamp")
    }

    fn settings(concurrency: ConcurrencyPolicy) -> Settings {
        Settings { suspend: false, concurrency, starting_deadline_seconds: None, successful_history: 3, failed_history: 1 }
    }

    fn child(name: &str, state: JobState, scheduled: Option<&str>) -> ChildJob {
        let scheduled = scheduled.map(at);
        ChildJob { name: name.into(), uid: name.into(), state, scheduled, started: scheduled, created: scheduled, finished: None }
    }

    fn every_minute() -> Schedule {
        Schedule::parse("*/1 * * * *", Some("UTC")).expect("schedule")
    }

    const CREATED: &str = "2024-01-01T10:00:10Z";

    #[test]
    fn starts_the_latest_schedule_time_once() {
        let s = every_minute();
        let p = plan(&settings(ConcurrencyPolicy::Allow), &s, None, at(CREATED), &[], &[], at("2024-01-01T10:01:02Z"));
        assert_eq!(p.start, Some(at("2024-01-01T10:01:00Z")));
        assert_eq!(p.next, Some(at("2024-01-01T10:02:00Z")));
        // Recorded as lastScheduleTime: nothing more until the next minute.
        let p = plan(&settings(ConcurrencyPolicy::Allow), &s, Some(at("2024-01-01T10:01:00Z")), at(CREATED), &[], &[], at("2024-01-01T10:01:30Z"));
        assert_eq!(p.start, None);
        // Its Job exists though the status write was lost: still nothing.
        let job = child("x", JobState::Active, Some("2024-01-01T10:01:00Z"));
        let p = plan(&settings(ConcurrencyPolicy::Allow), &s, None, at(CREATED), &[&job], std::slice::from_ref(&job), at("2024-01-01T10:01:30Z"));
        assert_eq!(p.start, None);
    }

    #[test]
    fn many_missed_times_start_only_the_latest_and_warn() {
        let p = plan(&settings(ConcurrencyPolicy::Allow), &every_minute(), None, at(CREATED), &[], &[], at("2024-01-02T10:00:30Z"));
        assert_eq!(p.start, Some(at("2024-01-02T10:00:00Z")));
        assert!(p.too_many_missed);
    }

    #[test]
    fn the_starting_deadline_limits_catching_up() {
        let mut s = settings(ConcurrencyPolicy::Allow);
        s.starting_deadline_seconds = Some(20);
        let p = plan(&s, &every_minute(), None, at(CREATED), &[], &[], at("2024-01-02T10:00:30Z"));
        assert_eq!((p.start, p.too_many_missed), (None, false), "the window holds no schedule time");
        let p = plan(&s, &every_minute(), None, at(CREATED), &[], &[], at("2024-01-02T10:00:15Z"));
        assert_eq!(p.start, Some(at("2024-01-02T10:00:00Z")));
    }

    #[test]
    fn forbid_skips_while_a_job_runs_and_replace_deletes_it() {
        let running = child("old", JobState::Active, Some("2024-01-01T10:01:00Z"));
        let now = at("2024-01-01T10:02:01Z");
        let last = Some(at("2024-01-01T10:01:00Z"));
        let p = plan(&settings(ConcurrencyPolicy::Forbid), &every_minute(), last, at(CREATED), &[&running], std::slice::from_ref(&running), now);
        assert_eq!((p.start, p.skip), (None, Some(Skip::AlreadyActive)));
        let p = plan(&settings(ConcurrencyPolicy::Replace), &every_minute(), last, at(CREATED), &[&running], std::slice::from_ref(&running), now);
        assert_eq!(p.start, Some(at("2024-01-01T10:02:00Z")));
        assert_eq!(p.replace, ["old"]);
        let p = plan(&settings(ConcurrencyPolicy::Allow), &every_minute(), last, at(CREATED), &[&running], std::slice::from_ref(&running), now);
        assert!(p.start.is_some() && p.replace.is_empty());
    }

    #[test]
    fn suspended_cronjobs_start_nothing_and_need_no_wakeup() {
        let mut s = settings(ConcurrencyPolicy::Allow);
        s.suspend = true;
        let p = plan(&s, &every_minute(), None, at(CREATED), &[], &[], at("2024-01-01T10:05:00Z"));
        assert_eq!((p.start, p.next), (None, None));
    }

    #[test]
    fn history_keeps_the_newest_finished_jobs() {
        let children = vec![
            child("ok1", JobState::Succeeded, Some("2024-01-01T10:01:00Z")),
            child("ok2", JobState::Succeeded, Some("2024-01-01T10:02:00Z")),
            child("ok3", JobState::Succeeded, Some("2024-01-01T10:03:00Z")),
            child("ok4", JobState::Succeeded, Some("2024-01-01T10:04:00Z")),
            child("bad1", JobState::Failed, Some("2024-01-01T10:05:00Z")),
            child("bad2", JobState::Failed, Some("2024-01-01T10:06:00Z")),
            child("run", JobState::Active, Some("2024-01-01T10:07:00Z")),
        ];
        let p = plan(&settings(ConcurrencyPolicy::Allow), &every_minute(), Some(at("2024-01-01T10:07:00Z")), at(CREATED), &[], &children, at("2024-01-01T10:07:30Z"));
        assert_eq!(p.prune, ["ok1", "bad1"]);
    }
}
