//! `spec.ttlSecondsAfterFinished`: when a finished Job is due for deletion.

use std::time::Duration;

use jiff::{SignedDuration, Timestamp};

/// How long until the finished Job must go (zero: now), or None when it has
/// no TTL or has not finished.
pub fn remaining(ttl_seconds: Option<i32>, finished_at: Option<Timestamp>, now: Timestamp) -> Option<Duration> {
    let ttl = ttl_seconds?;
    let expires = finished_at? + SignedDuration::from_secs(i64::from(ttl.max(0)));
    Some(Duration::try_from(expires.duration_since(now)).unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_down_from_the_finish() {
        let done = Timestamp::UNIX_EPOCH;
        let now = done + SignedDuration::from_secs(30);
        assert_eq!(remaining(Some(100), Some(done), now), Some(Duration::from_secs(70)));
        assert_eq!(remaining(Some(10), Some(done), now), Some(Duration::ZERO));
        assert_eq!(remaining(Some(0), Some(done), done), Some(Duration::ZERO));
        assert_eq!(remaining(None, Some(done), now), None);
        assert_eq!(remaining(Some(10), None, now), None);
    }
}
