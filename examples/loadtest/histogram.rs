//! A log-linear latency histogram, in the manner of HdrHistogram.
//!
//! Values (microseconds) below 256 are counted exactly. Above, each power of
//! two is split into 128 equal buckets, so a bucket is at most 1/128 of its
//! lower bound wide; quantiles report the bucket's midpoint, which is within
//! 1/256 (0.4 %) of every value in it. Memory grows with the largest value
//! seen: about 14 KiB for latencies up to a second, 27 KiB up to an hour.

/// Linear buckets per power of two, as a power of two.
const SUB_BITS: u32 = 7;
/// Values below this are their own bucket.
const EXACT_BELOW: u64 = 2 << SUB_BITS;

/// Counts of latencies in microseconds, with exact count, minimum, maximum
/// and sum beside the buckets.
#[derive(Debug, Clone, Default)]
pub(crate) struct Histogram {
    buckets: Vec<u64>,
    count: u64,
    sum: u128,
    min: u64,
    max: u64,
}

impl Histogram {
    /// Counts one value.
    pub(crate) fn record(&mut self, micros: u64) {
        let index = bucket_of(micros);
        if index >= self.buckets.len() {
            self.buckets.resize(index + 1, 0);
        }
        self.buckets[index] += 1;
        self.min = if self.count == 0 {
            micros
        } else {
            self.min.min(micros)
        };
        self.max = self.max.max(micros);
        self.count += 1;
        self.sum += u128::from(micros);
    }

    /// Adds every value counted in `other`.
    pub(crate) fn merge(&mut self, other: &Histogram) {
        if other.count == 0 {
            return;
        }
        if other.buckets.len() > self.buckets.len() {
            self.buckets.resize(other.buckets.len(), 0);
        }
        for (mine, theirs) in self.buckets.iter_mut().zip(&other.buckets) {
            *mine += theirs;
        }
        self.min = if self.count == 0 {
            other.min
        } else {
            self.min.min(other.min)
        };
        self.max = self.max.max(other.max);
        self.count += other.count;
        self.sum += other.sum;
    }

    /// The largest value, exact; `None` when empty.
    pub(crate) fn max(&self) -> Option<u64> {
        (self.count > 0).then_some(self.max)
    }

    /// The mean, exact; `None` when empty.
    pub(crate) fn mean(&self) -> Option<f64> {
        (self.count > 0).then(|| self.sum as f64 / self.count as f64)
    }

    /// The value at quantile `q` (0..=1) by nearest rank, within 0.4 %,
    /// clamped to the exact minimum and maximum; `None` when empty.
    pub(crate) fn quantile(&self, q: f64) -> Option<u64> {
        if self.count == 0 {
            return None;
        }
        let rank = ((q.clamp(0.0, 1.0) * self.count as f64).ceil() as u64).max(1);
        let mut seen = 0;
        for (index, &n) in self.buckets.iter().enumerate() {
            seen += n;
            if seen >= rank {
                return Some(midpoint(index).clamp(self.min, self.max));
            }
        }
        Some(self.max)
    }
}

/// The bucket holding `value`.
fn bucket_of(value: u64) -> usize {
    if value < EXACT_BELOW {
        return value as usize;
    }
    let magnitude = 63 - value.leading_zeros();
    let shift = magnitude - SUB_BITS;
    // In 128..256: the top eight bits of the value.
    let mantissa = (value >> shift) as usize;
    ((shift as usize + 1) << SUB_BITS) + mantissa - (1 << SUB_BITS)
}

/// The middle of bucket `index`'s range (its value when exact).
fn midpoint(index: usize) -> u64 {
    let index = index as u64;
    if index < EXACT_BELOW {
        return index;
    }
    let shift = (index >> SUB_BITS) - 1;
    let mantissa = (index & ((1 << SUB_BITS) - 1)) + (1 << SUB_BITS);
    let low = mantissa << shift;
    low + ((1 << shift) >> 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Exact nearest-rank quantile of a sorted slice.
    fn exact(sorted: &[u64], q: f64) -> u64 {
        let rank = ((q * sorted.len() as f64).ceil() as usize).max(1);
        sorted[rank - 1]
    }

    #[test]
    fn small_values_are_exact() {
        let mut histogram = Histogram::default();
        for value in 1..=200 {
            histogram.record(value);
        }
        assert_eq!(histogram.quantile(0.5), Some(100));
        assert_eq!(histogram.quantile(0.99), Some(198));
        assert_eq!(histogram.quantile(1.0), Some(200));
        assert_eq!(histogram.quantile(0.0), Some(1));
        assert_eq!(histogram.max(), Some(200));
        assert_eq!(histogram.mean(), Some(100.5));
    }

    #[test]
    fn buckets_are_contiguous_and_hold_their_values() {
        let mut previous = 0;
        for value in 1..200_000u64 {
            let index = bucket_of(value);
            assert!(index == previous || index == previous + 1, "gap at {value}");
            previous = index;
            let mid = midpoint(index);
            let error = mid.abs_diff(value) as f64 / value as f64;
            assert!(error <= 1.0 / 256.0, "{value} reads as {mid}");
        }
        assert!(bucket_of(u64::MAX) < 8_000);
    }

    #[test]
    fn quantiles_stay_within_the_stated_error() {
        // A spread of latencies from 50 µs to 3 s, skewed like real ones.
        let mut values: Vec<u64> = (0..20_000u64)
            .map(|i| 50 + (i * i * 7919) % 3_000_000)
            .collect();
        let mut histogram = Histogram::default();
        for &value in &values {
            histogram.record(value);
        }
        values.sort_unstable();
        for q in [0.5, 0.9, 0.95, 0.99, 0.999] {
            let want = exact(&values, q);
            let got = histogram.quantile(q).unwrap_or_default();
            let error = got.abs_diff(want) as f64 / want as f64;
            assert!(error <= 1.0 / 256.0, "q{q}: {got} vs exact {want}");
        }
        assert_eq!(histogram.max(), values.last().copied());
        assert_eq!(histogram.quantile(1.0), values.last().copied());
    }

    #[test]
    fn merge_equals_recording_everything_in_one() {
        let mut one = Histogram::default();
        let mut left = Histogram::default();
        let mut right = Histogram::default();
        for value in (1..5_000u64).map(|i| i * 37) {
            one.record(value);
            if value % 3 == 0 {
                left.record(value);
            } else {
                right.record(value);
            }
        }
        let mut merged = Histogram::default();
        merged.merge(&left);
        merged.merge(&right);
        assert_eq!(merged.count, one.count);
        for q in [0.5, 0.95, 0.99] {
            assert_eq!(merged.quantile(q), one.quantile(q));
        }
        assert_eq!(merged.max(), one.max());
        assert_eq!(merged.mean(), one.mean());
    }

    #[test]
    fn empty_histogram_has_no_quantiles() {
        let histogram = Histogram::default();
        assert_eq!(histogram.quantile(0.5), None);
        assert_eq!(histogram.max(), None);
        assert_eq!(histogram.mean(), None);
    }
}
