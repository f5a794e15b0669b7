//! A latency histogram in microseconds with log-linear buckets (HDR style):
//! exact below 128 µs, then 64 buckets per power of two, so any recorded value
//! is reported within 0.8 % of itself. Fixed memory whatever the run length,
//! and one histogram per load-generator worker, merged at the end.

use std::time::Duration;

/// Values below this are their own bucket.
const LINEAR: u64 = 128;
/// Buckets per power of two above [`LINEAR`].
const PER_OCTAVE: u64 = 64;
/// Largest shift a bucket can have: values up to 2^63 µs fit.
const MAX_SHIFT: u64 = 57;
const BUCKETS: usize = (LINEAR + MAX_SHIFT * PER_OCTAVE) as usize;

#[derive(Clone, Debug)]
pub struct Histogram {
    counts: Vec<u64>,
    total: u64,
    max_us: u64,
}

impl Default for Histogram {
    fn default() -> Self {
        Histogram { counts: vec![0; BUCKETS], total: 0, max_us: 0 }
    }
}

impl Histogram {
    pub fn record(&mut self, latency: Duration) {
        let us = u64::try_from(latency.as_micros()).unwrap_or(u64::MAX);
        self.counts[bucket_of(us)] += 1;
        self.total += 1;
        self.max_us = self.max_us.max(us);
    }

    pub fn merge(&mut self, other: &Histogram) {
        for (mine, theirs) in self.counts.iter_mut().zip(&other.counts) {
            *mine += theirs;
        }
        self.total += other.total;
        self.max_us = self.max_us.max(other.max_us);
    }

    pub fn count(&self) -> u64 {
        self.total
    }

    pub fn max(&self) -> Duration {
        Duration::from_micros(self.max_us)
    }

    /// Samples in buckets that start at or above `limit` (exact below 128 µs, within a
    /// bucket's width above).
    pub fn count_from(&self, limit: Duration) -> u64 {
        let limit = u64::try_from(limit.as_micros()).unwrap_or(u64::MAX);
        self.counts.iter().enumerate().filter(|(idx, _)| bucket_range(*idx).0 >= limit).map(|(_, n)| n).sum()
    }

    /// The nearest-rank p-th percentile (0 < p <= 100): the smallest recorded value that at
    /// least p % of the samples do not exceed, as its bucket's midpoint (never above the
    /// largest sample). Zero when empty.
    pub fn percentile(&self, p: f64) -> Duration {
        if self.total == 0 {
            return Duration::ZERO;
        }
        let rank = ((p.clamp(0.0, 100.0) / 100.0) * self.total as f64).ceil().max(1.0) as u64;
        let mut seen = 0;
        for (idx, count) in self.counts.iter().enumerate() {
            seen += count;
            if seen >= rank {
                let (low, width) = bucket_range(idx);
                return Duration::from_micros((low + width / 2).min(self.max_us));
            }
        }
        Duration::from_micros(self.max_us)
    }
}

/// The bucket holding `us` microseconds.
fn bucket_of(us: u64) -> usize {
    if us < LINEAR {
        return us as usize;
    }
    let msb = 63 - u64::from(us.leading_zeros()); // >= 7
    let shift = msb - 6; // >= 1; keeps the top 7 bits
    let sub = us >> shift; // 64..128
    (LINEAR + (shift - 1) * PER_OCTAVE + (sub - PER_OCTAVE)) as usize
}

/// The lowest value of bucket `idx` and its width, both in microseconds.
fn bucket_range(idx: usize) -> (u64, u64) {
    let idx = idx as u64;
    if idx < LINEAR {
        return (idx, 1);
    }
    let shift = (idx - LINEAR) / PER_OCTAVE + 1;
    let sub = (idx - LINEAR) % PER_OCTAVE + PER_OCTAVE;
    (sub << shift, 1 << shift)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn micros(values: impl IntoIterator<Item = u64>) -> Histogram {
        let mut h = Histogram::default();
        for v in values {
            h.record(Duration::from_micros(v));
        }
        h
    }

    #[test]
    fn small_values_are_exact_and_percentiles_are_nearest_rank() {
        let h = micros((1..=100).rev());
        assert_eq!(h.count(), 100);
        assert_eq!(h.percentile(50.0), Duration::from_micros(50));
        assert_eq!(h.percentile(99.0), Duration::from_micros(99));
        assert_eq!(h.percentile(100.0), Duration::from_micros(100));
        assert_eq!(h.percentile(0.0), Duration::from_micros(1), "p0 is the smallest sample");
        assert_eq!(h.max(), Duration::from_micros(100));
    }

    #[test]
    fn large_values_stay_within_one_percent() {
        for v in [128, 129, 255, 256, 1_000, 1_234, 54_321, 2_000_000, 987_654_321, u64::MAX / 2] {
            // With a larger sample beside it, p50 is v's bucket, not clamped to the max.
            let got = micros([v, u64::MAX]).percentile(50.0).as_micros() as f64;
            let err = (got - v as f64).abs() / v as f64;
            assert!(err <= 0.008, "{v} µs reported as {got} µs ({:.3} %)", err * 100.0);
        }
    }

    #[test]
    fn buckets_tile_the_range_without_gaps() {
        let mut next = 0;
        for idx in 0..BUCKETS {
            let (low, width) = bucket_range(idx);
            assert_eq!(low, next, "bucket {idx}");
            assert_eq!(bucket_of(low), idx);
            assert_eq!(bucket_of(low + (width - 1)), idx);
            next = low.saturating_add(width);
        }
        assert_eq!(bucket_of(u64::MAX), BUCKETS - 1, "the largest value has a bucket");
    }

    #[test]
    fn an_outlier_moves_p99_not_p50() {
        let mut values = vec![1_000; 99];
        values.push(900_000);
        let h = micros(values);
        let p50 = h.percentile(50.0).as_micros() as f64;
        assert!((p50 - 1_000.0).abs() <= 8.0, "p50 {p50}");
        assert_eq!(h.percentile(99.0), h.percentile(50.0), "99 of 100 samples are 1 ms");
        assert!(h.percentile(99.9) > Duration::from_millis(890));
        assert_eq!(h.max(), Duration::from_millis(900));
        assert_eq!(h.count_from(Duration::from_millis(500)), 1);
        assert_eq!(h.count_from(Duration::from_micros(1)), 100);
        assert_eq!(h.count_from(Duration::from_secs(1)), 0);
    }

    #[test]
    fn merged_histograms_count_both() {
        let mut a = micros([10, 20]);
        a.merge(&micros([30, 40]));
        assert_eq!(a.count(), 4);
        assert_eq!(a.percentile(50.0), Duration::from_micros(20));
        assert_eq!(a.percentile(75.0), Duration::from_micros(30));
        assert_eq!(a.max(), Duration::from_micros(40));
    }

    #[test]
    fn empty_is_zero() {
        let h = Histogram::default();
        assert_eq!(h.percentile(50.0), Duration::ZERO);
        assert_eq!(h.max(), Duration::ZERO);
    }
}
