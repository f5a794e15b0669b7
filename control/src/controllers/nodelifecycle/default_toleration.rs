//! The default eviction toleration (`--default-eviction-toleration`): how
//! long a pod that states no toleration of its own stays on a not-ready or
//! unreachable node. As Kubernetes' DefaultTolerationSeconds admission does,
//! the API server writes it into every pod it creates, where `kubectl get -o
//! yaml` shows it; the server sets it once at start-up, before serving.

use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

/// Kubernetes' default: five minutes.
pub const DEFAULT_SECONDS: i64 = 300;

static SECONDS: AtomicI64 = AtomicI64::new(DEFAULT_SECONDS);

/// Sets the toleration admission gives pods from now on.
pub fn set(toleration: Duration) {
    SECONDS.store(i64::try_from(toleration.as_secs()).unwrap_or(i64::MAX), Ordering::Relaxed);
}

/// The `tolerationSeconds` admission gives the not-ready and unreachable tolerations.
pub fn seconds() -> i64 {
    SECONDS.load(Ordering::Relaxed)
}
