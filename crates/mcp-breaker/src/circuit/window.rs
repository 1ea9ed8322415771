//! Sliding windows of outcomes, recorded with atomics only: two cores
//! recording at once never wait on each other.

use std::sync::atomic::{AtomicU8, AtomicU32, AtomicU64, Ordering::Relaxed};

/// What a window holds right now.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Snapshot {
    pub(crate) calls: u32,
    pub(crate) failures: u32,
    pub(crate) slow: u32,
}

/// One recorded outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Sample {
    pub(crate) failed: bool,
    pub(crate) slow: bool,
}

/// The last `size` outcomes.
///
/// Each slot holds one outcome; a writer takes the next slot with one
/// `fetch_add`, swaps its outcome in, and adjusts the failure and slow totals
/// only when they change, so totals stay exact once writers finish and a
/// success that replaces a success writes nothing shared but its slot.
#[derive(Debug)]
pub(crate) struct CountWindow {
    slots: Box<[AtomicU8]>,
    /// Writes so far, wrapping at 2^32: the slot sequence then restarts once
    /// every four billion calls, which shifts a few slots and nothing else.
    next: AtomicU32,
    /// Lemire's constant for `% slots.len()` without a division, which would
    /// cost more than the rest of a record.
    modulo: u64,
    totals: Totals,
}

const EMPTY: u8 = 0;
const RECORDED: u8 = 1;
const FAILED: u8 = 2;
const SLOW: u8 = 4;

impl CountWindow {
    pub(crate) fn new(size: u32) -> Self {
        let size = size.max(1);
        Self {
            slots: (0..size).map(|_| AtomicU8::new(EMPTY)).collect(),
            next: AtomicU32::new(0),
            modulo: (u64::MAX / u64::from(size)).wrapping_add(1),
            totals: Totals::default(),
        }
    }

    /// `written % len`, exact for every `u32` (Lemire, "Faster remainder by
    /// direct computation", 2019).
    fn slot(&self, written: u32) -> usize {
        let low = self.modulo.wrapping_mul(u64::from(written));
        ((u128::from(low) * self.slots.len() as u128) >> 64) as usize
    }

    pub(crate) fn record(&self, sample: Sample) -> Snapshot {
        let size = self.slots.len() as u32;
        if !sample.failed && !sample.slow {
            // A full window of successes stays one whichever slot a new
            // success would replace, so the healthy path only reads.
            let clean = Snapshot {
                calls: size,
                failures: self.totals.failures.load(Relaxed),
                slow: self.totals.slow.load(Relaxed),
            };
            if clean.failures == 0 && clean.slow == 0 && self.next.load(Relaxed) >= size {
                return clean;
            }
        }
        let code =
            RECORDED | if sample.failed { FAILED } else { 0 } | if sample.slow { SLOW } else { 0 };
        let written = self.next.fetch_add(1, Relaxed);
        let old = self.slots[self.slot(written)].swap(code, Relaxed);
        self.totals.replace(old, code);
        Snapshot {
            calls: written.saturating_add(1).min(size),
            failures: self.totals.failures.load(Relaxed),
            slow: self.totals.slow.load(Relaxed),
        }
    }

    pub(crate) fn reset(&self) {
        for slot in self.slots.iter() {
            let old = slot.swap(EMPTY, Relaxed);
            self.totals.replace(old, EMPTY);
        }
        self.next.store(0, Relaxed);
    }
}

/// Running totals of a window, adjusted by differences.
#[derive(Debug, Default)]
struct Totals {
    failures: AtomicU32,
    slow: AtomicU32,
}

impl Totals {
    fn replace(&self, old: u8, new: u8) {
        adjust(&self.failures, old & FAILED != 0, new & FAILED != 0);
        adjust(&self.slow, old & SLOW != 0, new & SLOW != 0);
    }
}

fn adjust(counter: &AtomicU32, was: bool, is: bool) {
    match (was, is) {
        (false, true) => {
            counter.fetch_add(1, Relaxed);
        }
        (true, false) => {
            counter.fetch_sub(1, Relaxed);
        }
        _ => {}
    }
}

/// The outcomes of the last `duration`, in `buckets` slices of time.
///
/// A bucket is claimed for its slice by swapping in the slice's number; the
/// claimer zeroes it. Writers that race a claim may lose a sample to it, an
/// error of at most a few samples per bucket turnover, never a stall.
#[derive(Debug)]
pub(crate) struct TimeWindow {
    buckets: Box<[Bucket]>,
    bucket_nanos: u64,
}

#[derive(Debug, Default)]
struct Bucket {
    slice: AtomicU64,
    calls: AtomicU32,
    failures: AtomicU32,
    slow: AtomicU32,
}

/// Claims a ring slot for time slice `number`: true for the one caller that
/// moved the slot on from an older slice, which must zero its counters.
/// Writers racing the claim may lose a sample to the zeroing; nobody waits.
pub(crate) fn claim(slot: &AtomicU64, number: u64) -> bool {
    let claimed = slot.load(Relaxed);
    claimed != number
        && slot
            .compare_exchange(claimed, number, Relaxed, Relaxed)
            .is_ok()
}

/// Slice numbers start at 1 so a fresh bucket (slice 0) never looks current.
const FIRST_SLICE: u64 = 1;

impl TimeWindow {
    pub(crate) fn new(duration_nanos: u64, buckets: u32) -> Self {
        let buckets = buckets.max(1);
        Self {
            buckets: (0..buckets).map(|_| Bucket::default()).collect(),
            bucket_nanos: (duration_nanos / u64::from(buckets)).max(1),
        }
    }

    pub(crate) fn record(&self, sample: Sample, now_nanos: u64) -> Snapshot {
        let slice = now_nanos / self.bucket_nanos + FIRST_SLICE;
        let bucket = &self.buckets[(slice % self.buckets.len() as u64) as usize];
        if claim(&bucket.slice, slice) {
            bucket.calls.store(0, Relaxed);
            bucket.failures.store(0, Relaxed);
            bucket.slow.store(0, Relaxed);
        }
        bucket.calls.fetch_add(1, Relaxed);
        if sample.failed {
            bucket.failures.fetch_add(1, Relaxed);
        }
        if sample.slow {
            bucket.slow.fetch_add(1, Relaxed);
        }
        self.snapshot(slice)
    }

    fn snapshot(&self, current: u64) -> Snapshot {
        let oldest = current.saturating_sub(self.buckets.len() as u64 - 1);
        self.buckets
            .iter()
            .filter(|bucket| (oldest..=current).contains(&bucket.slice.load(Relaxed)))
            .fold(Snapshot::default(), |total, bucket| Snapshot {
                calls: total.calls + bucket.calls.load(Relaxed),
                failures: total.failures + bucket.failures.load(Relaxed),
                slow: total.slow + bucket.slow.load(Relaxed),
            })
    }

    pub(crate) fn reset(&self) {
        for bucket in self.buckets.iter() {
            bucket.slice.store(0, Relaxed);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const OK: Sample = Sample {
        failed: false,
        slow: false,
    };
    const FAIL: Sample = Sample {
        failed: true,
        slow: false,
    };
    const SLOW_OK: Sample = Sample {
        failed: false,
        slow: true,
    };

    #[test]
    fn a_count_window_keeps_the_last_n() {
        let window = CountWindow::new(4);
        assert_eq!(
            window.record(FAIL),
            Snapshot {
                calls: 1,
                failures: 1,
                slow: 0
            }
        );
        window.record(FAIL);
        window.record(SLOW_OK);
        assert_eq!(
            window.record(OK),
            Snapshot {
                calls: 4,
                failures: 2,
                slow: 1
            }
        );
        // The two failures age out.
        window.record(OK);
        assert_eq!(
            window.record(OK),
            Snapshot {
                calls: 4,
                failures: 0,
                slow: 1
            }
        );
        window.reset();
        assert_eq!(
            window.record(OK),
            Snapshot {
                calls: 1,
                failures: 0,
                slow: 0
            }
        );
    }

    #[test]
    fn a_time_window_forgets_what_is_older_than_it() {
        let second = 1_000_000_000;
        let window = TimeWindow::new(10 * second, 10);
        window.record(FAIL, 0);
        window.record(FAIL, 3 * second);
        assert_eq!(
            window.record(OK, 9 * second),
            Snapshot {
                calls: 3,
                failures: 2,
                slow: 0
            }
        );
        // At 10.5 s the first second's bucket has left the window.
        assert_eq!(
            window.record(OK, 10 * second + second / 2),
            Snapshot {
                calls: 3,
                failures: 1,
                slow: 0
            }
        );
        // Far later everything has left it.
        assert_eq!(
            window.record(SLOW_OK, 100 * second),
            Snapshot {
                calls: 1,
                failures: 0,
                slow: 1
            }
        );
        window.reset();
        assert_eq!(
            window.record(OK, 100 * second),
            Snapshot {
                calls: 1,
                failures: 0,
                slow: 0
            }
        );
    }

    #[test]
    fn a_clean_window_skips_writes_without_changing_what_it_holds() {
        let window = CountWindow::new(3);
        window.record(OK);
        window.record(OK);
        window.record(OK);
        let written = window.next.load(Relaxed);
        assert_eq!(
            window.record(OK),
            Snapshot {
                calls: 3,
                failures: 0,
                slow: 0
            }
        );
        assert_eq!(window.next.load(Relaxed), written, "nothing written");
        // A failure still lands and ages out after exactly three more calls.
        assert_eq!(window.record(FAIL).failures, 1);
        assert_eq!(window.record(OK).failures, 1);
        assert_eq!(window.record(OK).failures, 1);
        assert_eq!(window.record(OK).failures, 0);
    }

    #[test]
    fn the_slot_is_the_remainder() {
        for size in [1, 2, 3, 7, 10, 64, 100, 1000, 65_537, u32::MAX] {
            let window = CountWindow {
                slots: Box::new([]),
                next: AtomicU32::new(0),
                modulo: (u64::MAX / u64::from(size)).wrapping_add(1),
                totals: Totals::default(),
            };
            // `slot` reads the length from `slots`; check the arithmetic alone.
            let remainder = |written: u32| {
                let low = window.modulo.wrapping_mul(u64::from(written));
                ((u128::from(low) * u128::from(size)) >> 64) as u32
            };
            for written in [
                0,
                1,
                2,
                size - 1,
                size,
                size.wrapping_add(1),
                12_345_678,
                u32::MAX - 1,
                u32::MAX,
            ] {
                assert_eq!(remainder(written), written % size, "{written} % {size}");
            }
        }
        let window = CountWindow::new(7);
        assert!((0..100).all(|written| window.slot(written) == (written % 7) as usize));
    }

    #[test]
    fn concurrent_writers_leave_exact_totals() {
        let window = std::sync::Arc::new(CountWindow::new(64));
        let threads: Vec<_> = (0..4)
            .map(|t| {
                let window = window.clone();
                std::thread::spawn(move || {
                    for i in 0..10_000 {
                        window.record(if (i + t) % 2 == 0 { FAIL } else { OK });
                    }
                })
            })
            .collect();
        threads
            .into_iter()
            .for_each(|thread| thread.join().unwrap());
        let snapshot = window.record(OK);
        let failures = window
            .slots
            .iter()
            .filter(|slot| slot.load(Relaxed) & FAILED != 0)
            .count();
        assert_eq!(snapshot.calls, 64);
        assert_eq!(snapshot.failures as usize, failures);
    }
}
