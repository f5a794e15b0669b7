//! A keyed work queue and its worker, as the endpoint controllers use them:
//! a key waits in the queue at most once however often it is pushed (a burst
//! of pod events becomes one reconcile), one worker handles keys one at a
//! time (never two reconciles of one Service at once), and a failed key comes
//! back after a backoff.

use std::collections::{HashMap, HashSet, VecDeque};
use std::fmt::Display;
use std::future::Future;
use std::hash::Hash;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::Notify;

use crate::controllers::ControllerError;

/// After a conflict the object is simply re-read: retry almost at once.
const CONFLICT_RETRY: Duration = Duration::from_millis(50);
const FIRST_RETRY: Duration = Duration::from_millis(200);
const MAX_RETRY: Duration = Duration::from_secs(60);

/// Keys waiting to be reconciled, each at most once.
pub struct WorkQueue<K> {
    waiting: Mutex<Waiting<K>>,
    pushed: Notify,
}

struct Waiting<K> {
    order: VecDeque<K>,
    queued: HashSet<K>,
}

impl<K: Clone + Eq + Hash + Send + 'static> WorkQueue<K> {
    pub fn new() -> Arc<Self> {
        Arc::new(WorkQueue { waiting: Mutex::new(Waiting { order: VecDeque::new(), queued: HashSet::new() }), pushed: Notify::new() })
    }

    /// Queues `key` unless it is already waiting.
    pub fn push(&self, key: K) {
        let Ok(mut waiting) = self.waiting.lock() else { return };
        if waiting.queued.insert(key.clone()) {
            waiting.order.push_back(key);
            // One consumer: a stored permit wakes it even if it is not waiting yet.
            self.pushed.notify_one();
        }
    }

    /// Queues `key` after `delay`.
    pub fn push_after(self: &Arc<Self>, key: K, delay: Duration) {
        let queue = Arc::downgrade(self);
        tokio::spawn(async move {
            tokio::time::sleep(delay).await;
            // The controller may have stopped meanwhile; then there is nothing to do.
            if let Some(queue) = queue.upgrade() {
                queue.push(key);
            }
        });
    }

    /// The next key, waiting for one if the queue is empty.
    pub async fn pop(&self) -> K {
        loop {
            if let Some(key) = self.try_pop() {
                return key;
            }
            self.pushed.notified().await;
        }
    }

    fn try_pop(&self) -> Option<K> {
        let mut waiting = self.waiting.lock().ok()?;
        let key = waiting.order.pop_front()?;
        waiting.queued.remove(&key);
        Some(key)
    }
}

/// The wait before the `failures`-th retry: doubling from 200 ms up to a minute.
pub fn backoff(failures: u32) -> Duration {
    let doublings = failures.saturating_sub(1).min(16);
    FIRST_RETRY.saturating_mul(1 << doublings).min(MAX_RETRY)
}

/// Reconciles the keys of `queue` one by one, forever; failures come back
/// after a backoff (a conflict at once), and are logged as `controller`'s.
pub async fn work<K, F, Fut>(controller: &'static str, queue: Arc<WorkQueue<K>>, mut reconcile: F)
where
    K: Clone + Eq + Hash + Display + Send + 'static,
    F: FnMut(K) -> Fut,
    Fut: Future<Output = Result<(), ControllerError>>,
{
    let mut failures: HashMap<K, u32> = HashMap::new();
    loop {
        let key = queue.pop().await;
        match reconcile(key.clone()).await {
            Ok(()) => {
                failures.remove(&key);
            }
            Err(err) => {
                let count = failures.entry(key.clone()).or_default();
                *count += 1;
                let delay = if err.is_conflict() { CONFLICT_RETRY } else { backoff(*count) };
                tracing::warn!(controller, key = %key, error = %err, retry_in = ?delay, "reconcile failed");
                queue.push_after(key, delay);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_key_pushed_twice_waits_once_and_order_is_kept() {
        let queue = WorkQueue::new();
        queue.push("a");
        queue.push("b");
        queue.push("a");
        assert_eq!(queue.pop().await, "a");
        assert_eq!(queue.pop().await, "b");
        assert!(queue.try_pop().is_none());
        queue.push("a");
        assert_eq!(queue.pop().await, "a", "a popped key can be queued again");
    }

    #[tokio::test]
    async fn a_delayed_push_arrives_after_its_delay() {
        let queue = WorkQueue::new();
        let started = std::time::Instant::now();
        queue.push_after("late", Duration::from_millis(100));
        assert!(queue.try_pop().is_none());
        let popped = tokio::time::timeout(Duration::from_secs(5), queue.pop()).await;
        assert_eq!(popped.ok(), Some("late"));
        assert!(started.elapsed() >= Duration::from_millis(100));
    }

    #[test]
    fn backoff_doubles_up_to_a_minute() {
        assert_eq!(backoff(1), Duration::from_millis(200));
        assert_eq!(backoff(2), Duration::from_millis(400));
        assert_eq!(backoff(4), Duration::from_millis(1600));
        assert_eq!(backoff(40), MAX_RETRY);
    }
}
