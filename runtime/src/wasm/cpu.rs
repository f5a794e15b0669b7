//! `limits.cpu` for wasm containers, in the manner of the CFS quota: each
//! container may use `millicores × 100 µs` of CPU time per 100 ms period.
//! [`Metered`] wraps the container's future, reads the thread's CPU clock
//! around every poll (the guest runs on the polling thread, and epoch ticks
//! make it yield every 10 ms), and once the period's budget is spent it stops
//! polling until the period in which the balance is positive again. The guest
//! is throttled, never killed. It also counts the CPU time for `stats()`.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use nix::time::{clock_gettime, ClockId};
use tokio::time::{sleep_until, Instant, Sleep};

/// The accounting period, as the CFS default `cpu.cfs_period_us` = 100 ms.
pub const PERIOD: Duration = Duration::from_millis(100);

/// A WASI guest (preview 1 module or preview 2 component) runs on one thread, so it can never
/// use more than one core: limits from here up need no throttling, which would only add pauses.
pub const UNTHROTTLED_MILLIS: u64 = 1000;

/// CPU time consumed by the calling thread, in nanoseconds.
pub fn thread_cpu_nanos() -> u64 {
    // The clock exists on every Linux; should it fail, the poll simply counts as free.
    clock_gettime(ClockId::CLOCK_THREAD_CPUTIME_ID)
        .map(|t| u64::try_from(t.tv_sec()).unwrap_or(0) * 1_000_000_000 + u64::try_from(t.tv_nsec()).unwrap_or(0))
        .unwrap_or(0)
}

/// A future whose polls are charged CPU time, and withheld while its budget is spent.
pub struct Metered<F> {
    inner: Pin<Box<F>>,
    quota: Option<Quota>,
    used_nanos: Arc<AtomicU64>,
}

impl<F: Future> Metered<F> {
    /// `limit_millis` of `None` (or ≥ 1000) only measures. CPU time is added to `used_nanos`.
    pub fn new(inner: F, limit_millis: Option<u64>, used_nanos: Arc<AtomicU64>) -> Self {
        let quota = limit_millis.filter(|m| *m < UNTHROTTLED_MILLIS).map(Quota::new);
        Metered { inner: Box::pin(inner), quota, used_nanos }
    }
}

impl<F: Future> Future for Metered<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = self.get_mut();
        if let Some(quota) = this.quota.as_mut() {
            if quota.throttled(cx) {
                return Poll::Pending;
            }
        }
        let before = thread_cpu_nanos();
        let result = this.inner.as_mut().poll(cx);
        let used = thread_cpu_nanos().saturating_sub(before);
        this.used_nanos.fetch_add(used, Ordering::Relaxed);
        if let (Some(quota), Poll::Pending) = (this.quota.as_mut(), &result) {
            quota.charge(used, cx);
        }
        result
    }
}

/// The CPU-time account of one throttled future.
struct Quota {
    per_period: i64,
    /// Nanoseconds left in the current period; negative after a poll overran it (the debt is carried).
    balance: i64,
    period_start: Instant,
    /// Set while throttled: fires at the start of the first period with a positive balance.
    wake: Option<Pin<Box<Sleep>>>,
}

impl Quota {
    fn new(millicores: u64) -> Self {
        // millicores / 1000 of a 100 ms period = millicores × 100 µs.
        let per_period = i64::try_from(millicores.max(1) * 100_000).unwrap_or(i64::MAX);
        Quota { per_period, balance: per_period, period_start: Instant::now(), wake: None }
    }

    /// True while the budget is spent (the waker is registered with the timer).
    fn throttled(&mut self, cx: &mut Context<'_>) -> bool {
        if let Some(wake) = self.wake.as_mut() {
            if wake.as_mut().poll(cx).is_pending() {
                return true;
            }
            self.wake = None;
        }
        self.refill(Instant::now());
        false
    }

    /// Credits the periods that have begun since `period_start`; an unused balance is not saved
    /// up beyond one period's quota, as with CFS.
    fn refill(&mut self, now: Instant) {
        let elapsed = now.saturating_duration_since(self.period_start);
        let periods = (elapsed.as_nanos() / PERIOD.as_nanos()) as u32;
        if periods > 0 {
            self.period_start += PERIOD * periods;
            self.balance = self.balance.saturating_add(self.per_period.saturating_mul(i64::from(periods))).min(self.per_period);
        }
    }

    fn charge(&mut self, used_nanos: u64, cx: &mut Context<'_>) {
        self.balance = self.balance.saturating_sub(i64::try_from(used_nanos).unwrap_or(i64::MAX));
        if self.balance > 0 {
            return;
        }
        // The first period whose refill makes the balance positive again.
        let periods = u32::try_from(-self.balance / self.per_period + 1).unwrap_or(u32::MAX);
        let mut wake = Box::pin(sleep_until(self.period_start + PERIOD * periods));
        if wake.as_mut().poll(cx).is_ready() {
            cx.waker().wake_by_ref();
        } else {
            self.wake = Some(wake);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Burns `slice` of CPU per poll and asks to be polled again, like a guest that yields at each epoch tick.
    struct Spinner {
        slice: Duration,
        until: std::time::Instant,
    }

    impl Future for Spinner {
        type Output = ();
        fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
            if std::time::Instant::now() >= self.until {
                return Poll::Ready(());
            }
            let start = thread_cpu_nanos();
            while thread_cpu_nanos() - start < self.slice.as_nanos() as u64 {}
            cx.waker().wake_by_ref();
            Poll::Pending
        }
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_200m_limit_gets_about_a_fifth_of_a_core() {
        let used = Arc::new(AtomicU64::new(0));
        let wall = Duration::from_millis(800);
        let spinner = Spinner { slice: Duration::from_millis(2), until: std::time::Instant::now() + wall };
        Metered::new(spinner, Some(200), used.clone()).await;
        let share = used.load(Ordering::Relaxed) as f64 / wall.as_nanos() as f64;
        // The budget allows 20 % plus at most one overrunning slice per period (2 %); a loaded
        // machine can only lower the share, never raise it.
        assert!(share <= 0.25, "used {share:.3} of a core");
        assert!(share >= 0.05, "used {share:.3} of a core");
    }

    #[tokio::test(flavor = "current_thread")]
    async fn without_a_limit_it_only_measures() {
        // A whole core or more cannot be exceeded by a single-threaded guest:
        // no quota at all, so nothing ever withholds a poll; time is still counted.
        assert!(Metered::new(std::future::ready(()), Some(1000), Arc::new(AtomicU64::new(0))).quota.is_none());
        assert!(Metered::new(std::future::ready(()), None, Arc::new(AtomicU64::new(0))).quota.is_none());
        assert!(Metered::new(std::future::ready(()), Some(999), Arc::new(AtomicU64::new(0))).quota.is_some());
        let used = Arc::new(AtomicU64::new(0));
        let spinner = Spinner { slice: Duration::from_millis(2), until: std::time::Instant::now() + Duration::from_millis(50) };
        Metered::new(spinner, Some(1000), used.clone()).await;
        assert!(used.load(Ordering::Relaxed) > 0, "CPU time is measured even without a limit");
    }

    #[test]
    fn debt_from_an_overrun_is_repaid_in_later_periods() {
        let mut quota = Quota::new(200);
        let start = quota.period_start;
        quota.balance = -50_000_000; // 70 ms spent against a 20 ms quota
        quota.refill(start + PERIOD);
        assert_eq!(quota.balance, -30_000_000);
        quota.refill(start + PERIOD * 5);
        assert_eq!(quota.balance, 20_000_000, "capped at one quota");
    }
}
