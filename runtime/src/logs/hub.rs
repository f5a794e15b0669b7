//! Which log files are being written right now. Writers register their file
//! while the container runs; a `follow` reader subscribes to that file's
//! progress, so it wakes on every write and ends when the writer closes,
//! without polling the file system.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::watch;

/// What a writer has done to its file so far, as seen by followers.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LogProgress {
    /// How many times the file was rotated (renamed to `<path>.1`) since the writer opened it.
    pub rotations: u64,
    /// Bumped on every write, so that a follower's `changed()` fires.
    pub writes: u64,
    /// The writer is gone: nothing more will be appended.
    pub closed: bool,
}

/// The registry of live log files, shared by the runtimes (writers) and the agent (readers).
/// Cheap to clone.
#[derive(Clone, Debug, Default)]
pub struct LogHub {
    inner: Arc<HubInner>,
}

#[derive(Debug, Default)]
struct HubInner {
    live: Mutex<HashMap<PathBuf, LiveFile>>,
    next_id: AtomicU64,
}

#[derive(Debug)]
struct LiveFile {
    id: u64,
    progress: watch::Sender<LogProgress>,
}

/// A writer's registration; it identifies the entry so that a late `unregister`
/// of an old writer cannot remove the entry of a newer writer of the same path.
#[derive(Debug)]
pub(crate) struct Registration {
    id: u64,
    pub(crate) progress: watch::Sender<LogProgress>,
}

impl LogHub {
    pub fn new() -> Self {
        Self::default()
    }

    /// Followers of `path`: `None` when nobody is writing it (the container has
    /// exited, or its log was written by an earlier process).
    pub fn subscribe(&self, path: &Path) -> Option<watch::Receiver<LogProgress>> {
        self.live().get(path).map(|file| file.progress.subscribe())
    }

    pub fn is_live(&self, path: &Path) -> bool {
        self.live().contains_key(path)
    }

    pub(crate) fn register(&self, path: &Path) -> Registration {
        let id = self.inner.next_id.fetch_add(1, Ordering::Relaxed);
        let (progress, _) = watch::channel(LogProgress::default());
        let previous = self.live().insert(path.to_owned(), LiveFile { id, progress: progress.clone() });
        if let Some(previous) = previous {
            // Two writers on one path is a bug of the caller; followers of the old one must not hang.
            previous.progress.send_modify(|p| p.closed = true);
        }
        Registration { id, progress }
    }

    pub(crate) fn unregister(&self, path: &Path, registration: &Registration) {
        let mut live = self.live();
        if live.get(path).is_some_and(|file| file.id == registration.id) {
            live.remove(path);
        }
    }

    fn live(&self) -> MutexGuard<'_, HashMap<PathBuf, LiveFile>> {
        // The map stays consistent even if a holder panicked: every update is a single insert/remove.
        self.inner.live.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_newer_writer_is_not_unregistered_by_an_older_one() {
        let hub = LogHub::new();
        let path = Path::new("/logs/c/0.log");
        let old = hub.register(path);
        let old_follower = hub.subscribe(path).expect("live");
        let new = hub.register(path);
        assert!(old_follower.borrow().closed, "followers of the replaced writer are released");
        hub.unregister(path, &old);
        assert!(hub.is_live(path));
        hub.unregister(path, &new);
        assert!(!hub.is_live(path));
        assert!(hub.subscribe(path).is_none());
    }
}
