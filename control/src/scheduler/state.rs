//! What the watches and the scheduling loop share: the cache, the queue and
//! the picker behind one lock, so a decision and the assumption it makes
//! are atomic with respect to every cluster change.

use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::Notify;

use super::cache::Cache;
use super::queue::Queue;
use super::schedule::Picker;

#[derive(Default)]
pub struct State {
    pub cache: Cache,
    pub queue: Queue,
    pub picker: Picker,
    /// The first full lists of nodes and pods are in: decisions may start.
    pub nodes_synced: bool,
    pub pods_synced: bool,
}

/// The shared state and the bell that wakes the scheduling loop.
#[derive(Clone, Default)]
pub struct Shared {
    state: Arc<Mutex<State>>,
    bell: Arc<Notify>,
}

impl Shared {
    pub fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock would be a bug; the state is still
        // the best picture there is, so keep using it.
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub fn wake(&self) {
        self.bell.notify_one();
    }

    pub async fn woken(&self) {
        self.bell.notified().await
    }
}
