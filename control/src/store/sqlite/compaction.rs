//! Compaction of the change log, run by a background task.
//!
//! The retention policy keeps at least `min_revisions` and everything younger
//! than `retain_for`, but never more than `max_revisions`: the log is bounded
//! whatever the write rate, so Lease churn cannot grow the file without
//! limit. The task wakes on a timer and also when the writer sees the log
//! exceed its bound, so compaction cannot fall behind. It deletes in small
//! steps, each one request to the writer, so no step holds the write
//! transaction for long and writes interleave with compaction.

use std::collections::VecDeque;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, oneshot};
use tokio::time::MissedTickBehavior;

use super::error::SqliteError;
use super::writer::Request;
use super::Shared;
use crate::store::{Revision, StoreError};

/// How much history to keep (see the module doc).
#[derive(Clone, Copy, Debug)]
pub(super) struct Retention {
    pub retain_for: Duration,
    pub min_revisions: Revision,
    pub max_revisions: Revision,
}

impl Retention {
    /// The revision to compact up to, given the head and when past heads
    /// were seen. Everything at or below a head sampled before `now -
    /// retain_for` is older than `retain_for`.
    fn target(&self, head: Revision, history: &HeadHistory, now: Instant) -> Revision {
        let aged_out = now
            .checked_sub(self.retain_for)
            .and_then(|cutoff| history.head_at(cutoff))
            .unwrap_or(0);
        let by_age = aged_out.min(head - self.min_revisions);
        let by_count = head - self.max_revisions.max(self.min_revisions);
        by_age.max(by_count).max(0)
    }
}

/// Heads sampled at each compactor wake-up, oldest first.
#[derive(Default)]
struct HeadHistory {
    samples: VecDeque<(Instant, Revision)>,
}

impl HeadHistory {
    fn record(&mut self, at: Instant, head: Revision) {
        self.samples.push_back((at, head));
    }

    /// The newest head sampled at or before `cutoff`.
    fn head_at(&self, cutoff: Instant) -> Option<Revision> {
        self.samples
            .iter()
            .take_while(|(at, _)| *at <= cutoff)
            .last()
            .map(|(_, head)| *head)
    }

    /// Drop samples that can no longer be `head_at` a cutoff (cutoffs only
    /// move forward), keeping memory bounded.
    fn forget_before(&mut self, cutoff: Instant) {
        while self.samples.get(1).is_some_and(|(at, _)| *at <= cutoff) {
            self.samples.pop_front();
        }
    }
}

/// Drop log rows from `from` up to `to` in steps of `step` revisions, each
/// step its own request (and so a short part of one write transaction).
pub(super) async fn compact_in_steps(
    writer: &mpsc::Sender<Request>,
    from: Revision,
    to: Revision,
    step: Revision,
) -> Result<(), StoreError> {
    let mut done = from;
    while done < to {
        done = done.saturating_add(step.max(1)).min(to);
        let (reply, answer) = oneshot::channel();
        writer
            .send(Request::Compact(done, reply))
            .await
            .map_err(|_| SqliteError::Closed)?;
        answer.await.map_err(|_| SqliteError::Closed)??;
    }
    Ok(())
}

/// The background compactor; it stops when `stop` fires or is dropped.
pub(super) struct Compactor {
    pub writer: mpsc::Sender<Request>,
    pub shared: Arc<Shared>,
    pub retention: Retention,
    pub interval: Duration,
    pub step: Revision,
}

impl Compactor {
    pub(super) async fn run(self, mut stop: oneshot::Receiver<()>) {
        let period = self.interval.max(Duration::from_millis(10));
        let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
        ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let mut history = HeadHistory::default();
        history.record(Instant::now(), self.shared.index.revision());
        loop {
            tokio::select! {
                _ = &mut stop => return,
                _ = ticks.tick() => {}
                _ = self.shared.compaction_wanted.notified() => {}
            }
            let now = Instant::now();
            let head = self.shared.index.revision();
            history.record(now, head);
            if let Some(cutoff) = now.checked_sub(self.retention.retain_for) {
                history.forget_before(cutoff);
            }
            let target = self.retention.target(head, &history, now);
            let compacted = self.shared.compacted.load(Ordering::Acquire);
            if target > compacted {
                if let Err(error) =
                    compact_in_steps(&self.writer, compacted, target, self.step).await
                {
                    tracing::warn!(%error, target, "store compaction failed; retrying at the next wake-up");
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const POLICY: Retention = Retention {
        retain_for: Duration::from_secs(300),
        min_revisions: 1_000,
        max_revisions: 10_000,
    };

    fn history(samples: &[(Instant, Revision)]) -> HeadHistory {
        HeadHistory {
            samples: samples.iter().copied().collect(),
        }
    }

    #[test]
    fn young_history_is_kept_up_to_the_count_bound() {
        let now = Instant::now();
        let recent = history(&[(now, 5_000)]);
        assert_eq!(
            POLICY.target(5_000, &recent, now),
            0,
            "all young and under the bound"
        );
        assert_eq!(
            POLICY.target(25_000, &recent, now),
            15_000,
            "max_revisions bounds the log"
        );
    }

    #[test]
    fn old_history_goes_but_the_minimum_stays() {
        let Some(then) = Instant::now().checked_sub(Duration::from_secs(400)) else {
            return;
        };
        let now = then + Duration::from_secs(400);
        let samples = history(&[(then, 3_000), (now, 3_500)]);
        assert_eq!(
            POLICY.target(3_500, &samples, now),
            2_500,
            "aged out at 3,000 but keep 1,000"
        );
        assert_eq!(
            POLICY.target(9_000, &samples, now),
            3_000,
            "aged out part only"
        );
    }

    #[test]
    fn forgetting_keeps_the_newest_sample_before_the_cutoff() {
        let Some(start) = Instant::now().checked_sub(Duration::from_secs(30)) else {
            return;
        };
        let at = |s| start + Duration::from_secs(s);
        let mut samples = history(&[(at(0), 10), (at(10), 20), (at(20), 30)]);
        samples.forget_before(at(15));
        assert_eq!(samples.head_at(at(15)), Some(20));
        assert_eq!(samples.samples.len(), 2);
        assert_eq!(samples.head_at(at(5)), None, "no sample that old is left");
    }
}
