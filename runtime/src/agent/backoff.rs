//! Restart backoff as kubelet does it (CrashLoopBackOff, ImagePullBackOff):
//! 10 s, doubling each time, capped at 300 s, and forgotten once the thing
//! has run well for 10 minutes.

use std::time::Duration;

pub const INITIAL: Duration = Duration::from_secs(10);
pub const MAX: Duration = Duration::from_secs(300);
/// A run at least this long resets the backoff.
pub const RESET_AFTER: Duration = Duration::from_secs(600);

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Backoff {
    /// The delay the next failure will wait; `None` before any failure.
    current: Option<Duration>,
}

impl Backoff {
    /// Records a failure after a run of `ran_for` and returns how long to wait
    /// before the next attempt. The first restart waits no time at all, as
    /// in kubelet: only repeated failures back off.
    pub fn next_delay(&mut self, ran_for: Duration) -> Duration {
        if ran_for >= RESET_AFTER {
            self.current = None;
        }
        let delay = match self.current {
            None => Duration::ZERO,
            Some(previous) if previous.is_zero() => INITIAL,
            Some(previous) => (previous * 2).min(MAX),
        };
        self.current = Some(delay);
        delay
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_to_the_cap() {
        let mut backoff = Backoff::default();
        let delays: Vec<u64> = (0..8).map(|_| backoff.next_delay(Duration::from_secs(1)).as_secs()).collect();
        assert_eq!(delays, [0, 10, 20, 40, 80, 160, 300, 300]);
    }

    #[test]
    fn a_long_good_run_resets() {
        let mut backoff = Backoff::default();
        for _ in 0..5 {
            backoff.next_delay(Duration::from_secs(1));
        }
        assert_eq!(backoff.next_delay(RESET_AFTER), Duration::ZERO);
        assert_eq!(backoff.next_delay(Duration::from_secs(1)), INITIAL);
    }
}
