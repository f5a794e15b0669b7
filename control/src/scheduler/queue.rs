//! The pods waiting to be placed. Active pods are tried by priority
//! (`spec.priority`, highest first), then in the order they became active;
//! a pod that fits nowhere waits as *unschedulable* until the cluster changes
//! (a node added or updated, a pod gone) or `UNSCHEDULABLE_RETRY` passes; a
//! pod whose binding failed waits out a per-pod backoff (1 s doubling to
//! 10 s). A cluster change does not cut a pod's backoff short either: a pod
//! tried and failed many times is retried at most once per backoff, however
//! busy the cluster. Each pod is in the queue once, however often it is
//! updated.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::pod_info::{PodInfo, PodKey};

/// The longest an unschedulable pod waits before being tried again.
pub const UNSCHEDULABLE_RETRY: Duration = Duration::from_secs(30);
const INITIAL_BACKOFF: Duration = Duration::from_secs(1);
const MAX_BACKOFF: Duration = Duration::from_secs(10);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Waiting {
    Active,
    /// Being scheduled or bound right now.
    InFlight,
    Backoff { until: Instant },
    Unschedulable { since: Instant },
}

#[derive(Debug)]
struct Entry {
    pod: Arc<PodInfo>,
    waiting: Waiting,
    /// Failed attempts (no fit, failed binding) in a row, for the backoff.
    failures: u32,
}

/// How long a pod waits after `failures` failed attempts in a row.
fn backoff_after(failures: u32) -> Duration {
    let doublings = failures.saturating_sub(1).min(8);
    (INITIAL_BACKOFF * 2u32.pow(doublings)).min(MAX_BACKOFF)
}

/// A place in line: higher priority first, then earlier arrival.
type Turn = (i32, Reverse<u64>);

#[derive(Default)]
pub struct Queue {
    entries: HashMap<PodKey, Entry>,
    /// Keys by turn; entries no longer active when their turn comes are skipped.
    active: BinaryHeap<(Turn, PodKey)>,
    arrivals: u64,
}

/// Makes `key` wait in line for its turn.
fn line_up(active: &mut BinaryHeap<(Turn, PodKey)>, arrivals: &mut u64, key: PodKey, pod: &PodInfo) {
    let priority = pod.pod.spec.as_ref().and_then(|s| s.priority).unwrap_or(0);
    *arrivals += 1;
    active.push(((priority, Reverse(*arrivals)), key));
}

impl Queue {
    /// Adds a pending pod, or refreshes the copy of one already waiting. An
    /// unschedulable pod whose spec or labels changed is tried again at once.
    pub fn add_or_update(&mut self, pod: Arc<PodInfo>) {
        let key = pod.key.clone();
        match self.entries.get_mut(&key) {
            None => {
                line_up(&mut self.active, &mut self.arrivals, key.clone(), &pod);
                self.entries.insert(key, Entry { pod, waiting: Waiting::Active, failures: 0 });
            }
            Some(entry) => {
                let changed = entry.pod.pod.spec != pod.pod.spec || entry.pod.pod.metadata.labels != pod.pod.metadata.labels;
                entry.pod = pod;
                if changed && matches!(entry.waiting, Waiting::Unschedulable { .. }) {
                    entry.waiting = Waiting::Active;
                    line_up(&mut self.active, &mut self.arrivals, key, &entry.pod);
                }
            }
        }
    }

    /// Drops a pod that is bound, deleted or no longer ours.
    pub fn remove(&mut self, key: &PodKey) {
        self.entries.remove(key);
    }

    /// The next pod to schedule, now marked in flight.
    pub fn pop(&mut self) -> Option<Arc<PodInfo>> {
        while let Some((_, key)) = self.active.pop() {
            if let Some(entry) = self.entries.get_mut(&key).filter(|e| e.waiting == Waiting::Active) {
                entry.waiting = Waiting::InFlight;
                return Some(entry.pod.clone());
            }
        }
        None
    }

    /// The pod fits nowhere now.
    pub fn unschedulable(&mut self, key: &PodKey, now: Instant) {
        if let Some(entry) = self.entries.get_mut(key) {
            entry.failures = entry.failures.saturating_add(1);
            entry.waiting = Waiting::Unschedulable { since: now };
        }
    }

    /// Scheduling or binding the pod failed: retry after its backoff.
    pub fn backoff(&mut self, key: &PodKey, now: Instant) {
        if let Some(entry) = self.entries.get_mut(key) {
            entry.failures = entry.failures.saturating_add(1);
            entry.waiting = Waiting::Backoff { until: now + backoff_after(entry.failures) };
        }
    }

    /// The cluster changed: every unschedulable pod may fit now, once its
    /// backoff since the last attempt is over.
    pub fn cluster_changed(&mut self, now: Instant) {
        for (key, entry) in &mut self.entries {
            let Waiting::Unschedulable { since } = entry.waiting else { continue };
            let until = since + backoff_after(entry.failures);
            if until <= now {
                entry.waiting = Waiting::Active;
                line_up(&mut self.active, &mut self.arrivals, key.clone(), &entry.pod);
            } else {
                entry.waiting = Waiting::Backoff { until };
            }
        }
    }

    /// Moves pods whose backoff or unschedulable wait is over back to active;
    /// true if any did.
    pub fn tick(&mut self, now: Instant) -> bool {
        let mut moved = false;
        for (key, entry) in &mut self.entries {
            let due = match entry.waiting {
                Waiting::Backoff { until } => until <= now,
                Waiting::Unschedulable { since } => now.duration_since(since) >= UNSCHEDULABLE_RETRY,
                Waiting::Active | Waiting::InFlight => false,
            };
            if due {
                entry.waiting = Waiting::Active;
                line_up(&mut self.active, &mut self.arrivals, key.clone(), &entry.pod);
                moved = true;
            }
        }
        moved
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scheduler::testing::pod;

    fn info(name: &str) -> Arc<PodInfo> {
        Arc::new(PodInfo::new(Arc::new(pod(name, "1", "1Gi"))))
    }

    #[test]
    fn pods_come_out_once_in_arrival_order() {
        let mut q = Queue::default();
        q.add_or_update(info("a"));
        q.add_or_update(info("b"));
        q.add_or_update(info("a"));
        assert_eq!(q.pop().map(|p| p.name().to_string()).as_deref(), Some("a"));
        assert_eq!(q.pop().map(|p| p.name().to_string()).as_deref(), Some("b"));
        assert!(q.pop().is_none());
    }

    #[test]
    fn higher_priority_goes_first() {
        let mut q = Queue::default();
        q.add_or_update(info("low"));
        let mut urgent = pod("urgent", "1", "1Gi");
        urgent.spec.get_or_insert_default().priority = Some(1000);
        q.add_or_update(Arc::new(PodInfo::new(Arc::new(urgent))));
        assert_eq!(q.pop().map(|p| p.name().to_string()).as_deref(), Some("urgent"));
        assert_eq!(q.pop().map(|p| p.name().to_string()).as_deref(), Some("low"));
    }

    #[test]
    fn unschedulable_pods_wait_for_a_change_or_the_retry_period() {
        let mut q = Queue::default();
        let now = Instant::now();
        q.add_or_update(info("a"));
        let a = q.pop().expect("a");
        q.unschedulable(&a.key, now);
        assert!(!q.tick(now + Duration::from_secs(29)));
        assert!(q.tick(now + UNSCHEDULABLE_RETRY));
        let a = q.pop().expect("a again");
        q.unschedulable(&a.key, now);
        // Second failure: a change retries it once 2 s have passed since the attempt.
        q.cluster_changed(now + Duration::from_secs(1));
        assert!(q.pop().is_none());
        assert!(q.tick(now + Duration::from_secs(2)));
        let a = q.pop().expect("a after its backoff");
        q.unschedulable(&a.key, now);
        q.cluster_changed(now + MAX_BACKOFF);
        assert!(q.pop().is_some());
    }

    #[test]
    fn errors_back_off_doubling_up_to_ten_seconds() {
        let mut q = Queue::default();
        let now = Instant::now();
        q.add_or_update(info("a"));
        let a = q.pop().expect("a");
        for _ in 0..4 {
            q.backoff(&a.key, now);
        }
        // Fourth failure: 8 s.
        assert!(!q.tick(now + Duration::from_secs(7)));
        assert!(q.tick(now + Duration::from_secs(8)));
        q.pop();
        for _ in 0..6 {
            q.backoff(&a.key, now);
        }
        assert!(!q.tick(now + Duration::from_millis(9_999)));
        assert!(q.tick(now + MAX_BACKOFF));
    }

    #[test]
    fn a_changed_spec_retries_an_unschedulable_pod_but_a_status_update_does_not() {
        let mut q = Queue::default();
        q.add_or_update(info("a"));
        let a = q.pop().expect("a");
        q.unschedulable(&a.key, Instant::now());
        let mut status_only = pod("a", "1", "1Gi");
        status_only.status = Some(Default::default());
        q.add_or_update(Arc::new(PodInfo::new(Arc::new(status_only))));
        assert!(q.pop().is_none());
        q.add_or_update(Arc::new(PodInfo::new(Arc::new(pod("a", "500m", "1Gi")))));
        assert!(q.pop().is_some());
    }
}
