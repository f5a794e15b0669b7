//! Counting finished pods exactly once, with the tracking finalizer, as
//! upstream does: a finished pod is first written into
//! `status.uncountedTerminatedPods`, only then loses its finalizer (so it may
//! go away), and only once it has lost it (or is gone) does it move from the
//! uncounted lists into `succeeded` / `failed`. Each step is persisted before
//! the next, so a crash or a stale read anywhere in between never counts a
//! pod twice nor loses one.

use std::collections::{BTreeSet, HashSet};

use k8s_openapi::api::batch::v1::{JobStatus, UncountedTerminatedPods};

use super::indexes;
use super::pods::{Outcome, PodView};

/// The Job's counts of finished pods, counted and not yet counted.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Ledger {
    pub succeeded: i32,
    pub failed: i32,
    pub uncounted_succeeded: BTreeSet<String>,
    pub uncounted_failed: BTreeSet<String>,
    /// Indexed Jobs: the indexes that have a succeeded pod.
    pub completed_indexes: BTreeSet<i32>,
}

impl Ledger {
    pub fn from_status(status: Option<&JobStatus>) -> Ledger {
        let Some(s) = status else { return Ledger::default() };
        let uncounted = s.uncounted_terminated_pods.as_ref();
        let set = |v: Option<&Vec<String>>| v.into_iter().flatten().cloned().collect::<BTreeSet<_>>();
        Ledger {
            succeeded: s.succeeded.unwrap_or(0),
            failed: s.failed.unwrap_or(0),
            uncounted_succeeded: set(uncounted.and_then(|u| u.succeeded.as_ref())),
            uncounted_failed: set(uncounted.and_then(|u| u.failed.as_ref())),
            completed_indexes: indexes::parse(s.completed_indexes.as_deref().unwrap_or("")),
        }
    }

    /// Step 1: notes every finished pod that still holds the finalizer and is
    /// not noted yet. `completions` bounds the indexes of an Indexed Job.
    /// Returns whether anything changed (then persist before step 2).
    pub fn record_finished(&mut self, pods: &[PodView], completions: Option<i32>) -> bool {
        let mut changed = false;
        for pod in pods {
            if !pod.tracked || self.is_noted(&pod.uid) {
                continue;
            }
            match pod.outcome {
                Outcome::Active => continue,
                Outcome::Succeeded => {
                    self.uncounted_succeeded.insert(pod.uid.clone());
                    if let (Some(i), Some(c)) = (pod.index, completions) {
                        if i < c {
                            self.completed_indexes.insert(i);
                        }
                    }
                }
                Outcome::Failed => {
                    self.uncounted_failed.insert(pod.uid.clone());
                }
            }
            changed = true;
        }
        changed
    }

    /// Step 2: the pods whose outcome is noted and may now lose the finalizer.
    pub fn releasable<'a>(&self, pods: &'a [PodView]) -> Vec<&'a PodView> {
        pods.iter().filter(|p| p.tracked && self.is_noted(&p.uid)).collect()
    }

    /// Step 3: counts the noted pods that no longer hold the finalizer (or are
    /// gone); `still_tracked` are the uids that do. Returns whether anything moved.
    pub fn flush(&mut self, still_tracked: &HashSet<String>) -> bool {
        let before = (self.succeeded, self.failed);
        let keep = |uid: &String| still_tracked.contains(uid);
        let (kept_ok, done_ok): (BTreeSet<_>, BTreeSet<_>) = std::mem::take(&mut self.uncounted_succeeded).into_iter().partition(keep);
        let (kept_failed, done_failed): (BTreeSet<_>, BTreeSet<_>) = std::mem::take(&mut self.uncounted_failed).into_iter().partition(keep);
        self.succeeded += done_ok.len() as i32;
        self.failed += done_failed.len() as i32;
        self.uncounted_succeeded = kept_ok;
        self.uncounted_failed = kept_failed;
        before != (self.succeeded, self.failed)
    }

    /// Succeeded pods, counted or only noted.
    pub fn total_succeeded(&self) -> i32 {
        self.succeeded + self.uncounted_succeeded.len() as i32
    }

    /// Failed pods, counted or only noted.
    pub fn total_failed(&self) -> i32 {
        self.failed + self.uncounted_failed.len() as i32
    }

    fn is_noted(&self, uid: &str) -> bool {
        self.uncounted_succeeded.contains(uid) || self.uncounted_failed.contains(uid)
    }

    /// Writes the counts into `status`, in the shape upstream reports them.
    pub fn write_into(&self, status: &mut JobStatus, indexed: bool) {
        status.succeeded = Some(self.succeeded);
        status.failed = Some(self.failed);
        // Empty lists are left out, as upstream's `omitempty` does.
        let listed = |uids: &BTreeSet<String>| (!uids.is_empty()).then(|| uids.iter().cloned().collect());
        status.uncounted_terminated_pods = Some(UncountedTerminatedPods { succeeded: listed(&self.uncounted_succeeded), failed: listed(&self.uncounted_failed) });
        if indexed {
            status.completed_indexes = Some(indexes::format(&self.completed_indexes));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn view(uid: &str, outcome: Outcome, tracked: bool) -> PodView {
        PodView {
            name: format!("pod-{uid}"),
            uid: uid.into(),
            outcome,
            terminating: false,
            ready: false,
            tracked,
            index: None,
            restarts: 0,
            created: None,
            failed_at: None,
        }
    }

    #[test]
    fn a_finished_pod_goes_through_three_steps_and_counts_once() {
        let mut ledger = Ledger::default();
        let mut pods = vec![view("a", Outcome::Succeeded, true), view("b", Outcome::Active, true), view("c", Outcome::Failed, true)];
        assert!(ledger.record_finished(&pods, None));
        assert_eq!(ledger.total_succeeded(), 1);
        assert_eq!(ledger.total_failed(), 1);
        // Recording again (a second reconcile) changes nothing.
        assert!(!ledger.record_finished(&pods, None));
        let names: Vec<_> = ledger.releasable(&pods).iter().map(|p| p.uid.clone()).collect();
        assert_eq!(names, ["a", "c"]);
        // Only "a" lost its finalizer so far: only it is counted.
        pods[0].tracked = false;
        assert!(ledger.flush(&["c".to_string()].into()));
        assert_eq!((ledger.succeeded, ledger.failed), (1, 0));
        assert_eq!(ledger.total_failed(), 1);
        // "a" is untracked and counted: it is never noted again.
        assert!(!ledger.record_finished(&pods, None));
        assert_eq!(ledger.total_succeeded(), 1);
        // "c" is gone: counted now.
        assert!(ledger.flush(&HashSet::new()));
        assert_eq!((ledger.succeeded, ledger.failed), (1, 1));
        assert!(ledger.uncounted_failed.is_empty() && ledger.uncounted_succeeded.is_empty());
    }

    #[test]
    fn survives_a_round_trip_through_the_status() {
        let mut ledger = Ledger { succeeded: 2, failed: 1, ..Default::default() };
        ledger.uncounted_failed.insert("x".into());
        ledger.completed_indexes.extend([0, 1, 2, 5]);
        let mut status = JobStatus::default();
        ledger.write_into(&mut status, true);
        assert_eq!(status.completed_indexes.as_deref(), Some("0-2,5"));
        assert_eq!(Ledger::from_status(Some(&status)), ledger);
    }

    #[test]
    fn indexed_successes_mark_their_index_within_completions() {
        let mut ledger = Ledger::default();
        let mut ok = view("a", Outcome::Succeeded, true);
        ok.index = Some(1);
        let mut beyond = view("b", Outcome::Succeeded, true);
        beyond.index = Some(7);
        ledger.record_finished(&[ok, beyond], Some(3));
        assert_eq!(ledger.completed_indexes, [1].into());
    }
}
