//! Log-linear latency buckets: 128 ns wide below 2 µs, then 16 buckets per
//! power of two, so a bucket is at most 1/16 of its lower bound wide and its
//! midpoint is within 1/32 of any value in it.

/// Latencies are counted in units of 2^UNIT_SHIFT nanoseconds (128 ns).
const UNIT_SHIFT: u32 = 7;
/// 2^SUB_BITS buckets per power of two.
const SUB_BITS: u32 = 4;
const SUB: u64 = 1 << SUB_BITS;
/// Units up to 2^(MAX_EXPONENT + 1) (2^41 ns, about 36 minutes) have buckets
/// of their own; longer latencies share the last one.
const MAX_EXPONENT: u32 = 33;

/// How many buckets a histogram has.
pub(crate) const BUCKETS: usize = ((MAX_EXPONENT - SUB_BITS + 2) as usize) * SUB as usize;

/// The bucket of a latency in nanoseconds.
#[inline]
pub(crate) fn index(nanos: u64) -> usize {
    let units = nanos >> UNIT_SHIFT;
    if units < SUB {
        return units as usize;
    }
    let exponent = 63 - units.leading_zeros();
    if exponent > MAX_EXPONENT {
        return BUCKETS - 1;
    }
    let shift = exponent - SUB_BITS;
    // The group (one per power of two) and the top SUB_BITS bits below the
    // leading one, which pick the bucket in the group.
    ((u64::from(shift) + 1) * SUB + (units >> shift) - SUB) as usize
}

/// The nanoseconds bucket `index` holds: from the first, up to but not
/// including the second.
pub(crate) fn bounds(index: usize) -> (u64, u64) {
    let index = index as u64;
    let (low, width) = if index < SUB {
        (index, 1)
    } else {
        let shift = index / SUB - 1;
        ((SUB + index % SUB) << shift, 1 << shift)
    };
    (low << UNIT_SHIFT, (low + width) << UNIT_SHIFT)
}

/// The value a bucket reports: its midpoint.
pub(crate) fn midpoint(index: usize) -> u64 {
    let (low, high) = bounds(index);
    low + (high - low) / 2
}

/// The nearest-rank `quantile` (0 < q ≤ 1) of the samples counted in
/// `counts`, as a bucket midpoint; `None` with no samples.
pub(crate) fn quantile(counts: &[u64], quantile: f64) -> Option<u64> {
    let total: u64 = counts.iter().sum();
    if total == 0 {
        return None;
    }
    // The rank of the sample that is the quantile, 1-based, as an exact
    // sort of the samples would pick it.
    let rank = ((quantile * total as f64).ceil() as u64).clamp(1, total);
    let mut seen = 0;
    counts.iter().enumerate().find_map(|(index, count)| {
        seen += count;
        (seen >= rank).then(|| midpoint(index))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_value_falls_in_the_bucket_whose_bounds_hold_it() {
        let mut values: Vec<u64> = (0..5_000).collect();
        values.extend((0..60).map(|bit| 1u64 << bit));
        values.extend((1..60).map(|bit| (1u64 << bit) - 1));
        values.extend((0..2_000).map(|i| i * 7_919_003));
        for value in values {
            let index = index(value);
            assert!(index < BUCKETS, "{value}");
            let (low, high) = bounds(index);
            if index < BUCKETS - 1 {
                assert!(
                    low <= value && value < high,
                    "{value} not in [{low}, {high})"
                );
            } else {
                assert!(low <= value, "{value} below the last bucket");
            }
        }
    }

    #[test]
    fn buckets_are_contiguous_and_at_most_a_sixteenth_wide() {
        for index in 1..BUCKETS {
            assert_eq!(bounds(index - 1).1, bounds(index).0, "gap before {index}");
            let (low, high) = bounds(index);
            if low >= 2_048 {
                assert!(
                    (high - low) * 16 <= low,
                    "bucket {index} is [{low}, {high})"
                );
            } else {
                assert_eq!(high - low, 128);
            }
        }
        // The last bucket with its own bounds starts past half an hour.
        assert!(bounds(BUCKETS - 1).0 > 30 * 60 * 1_000_000_000);
    }

    #[test]
    fn quantiles_pick_the_nearest_rank() {
        let mut counts = vec![0; BUCKETS];
        for nanos in [1_000_000, 2_000_000, 3_000_000, 4_000_000] {
            counts[index(nanos)] += 1;
        }
        let near = |got: Option<u64>, want: u64| {
            let got = got.unwrap() as f64;
            assert!(
                (got - want as f64).abs() <= want as f64 / 32.0,
                "{got} vs {want}"
            );
        };
        near(quantile(&counts, 0.5), 2_000_000);
        near(quantile(&counts, 0.75), 3_000_000);
        near(quantile(&counts, 0.76), 4_000_000);
        near(quantile(&counts, 1.0), 4_000_000);
        assert_eq!(quantile(&vec![0; BUCKETS], 0.5), None);
    }
}
