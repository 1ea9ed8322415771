//! A sliding window of per-second slots: request counts and a latency
//! histogram of atomic buckets per second, in a ring that reuses a slot
//! when its second has left the window.
//!
//! Recording is lock-free: a few atomic adds into the slot of the current
//! second. The first request of a new second claims the slot and clears
//! it; a request that meets a slot being cleared waits for it (a few
//! hundred nanoseconds) or, after a bound, skips the window for that one
//! sample rather than block.

use std::sync::atomic::{
    AtomicU32, AtomicU64,
    Ordering::{AcqRel, Acquire, Relaxed, Release},
};

use super::buckets::{self, BUCKETS};

/// The tag of a slot being cleared by the request that claimed it.
const CLEARING: u64 = u64::MAX;
/// How long a request waits for a slot to be cleared, in spins.
const CLEARING_SPINS: u32 = 10_000;

/// How one request counts in the window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Sample {
    /// Its latency, when it belongs in the latency histogram.
    pub(crate) latency: Option<u64>,
    /// Whether it failed on the server's side.
    pub(crate) server_error: bool,
    /// Whether it was cancelled.
    pub(crate) cancelled: bool,
}

struct Slot {
    /// The second this slot counts, plus one (0: never used), or [`CLEARING`].
    tag: AtomicU64,
    requests: AtomicU64,
    server_errors: AtomicU64,
    cancelled: AtomicU64,
    max: AtomicU64,
    buckets: Box<[AtomicU32]>,
}

impl Slot {
    fn new() -> Self {
        Self {
            tag: AtomicU64::new(0),
            requests: AtomicU64::new(0),
            server_errors: AtomicU64::new(0),
            cancelled: AtomicU64::new(0),
            max: AtomicU64::new(0),
            buckets: (0..BUCKETS).map(|_| AtomicU32::new(0)).collect(),
        }
    }

    fn clear(&self) {
        self.requests.store(0, Relaxed);
        self.server_errors.store(0, Relaxed);
        self.cancelled.store(0, Relaxed);
        self.max.store(0, Relaxed);
        self.buckets
            .iter()
            .for_each(|bucket| bucket.store(0, Relaxed));
    }
}

/// What the window holds, summed over its slots.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Summary {
    /// Requests counted.
    pub(crate) requests: u64,
    /// Of which failed on the server's side.
    pub(crate) server_errors: u64,
    /// Of which were cancelled.
    pub(crate) cancelled: u64,
    /// The largest latency, in nanoseconds (0 with no samples).
    pub(crate) max: u64,
    /// Latency samples per bucket.
    pub(crate) counts: Vec<u64>,
}

impl Summary {
    /// Latency samples.
    pub(crate) fn samples(&self) -> u64 {
        self.counts.iter().sum()
    }

    /// The nearest-rank `q` quantile of the latency, in nanoseconds, as a
    /// bucket midpoint no larger than the largest sample.
    pub(crate) fn quantile(&self, q: f64) -> Option<u64> {
        buckets::quantile(&self.counts, q).map(|value| value.min(self.max))
    }
}

/// A ring of one slot per second.
pub(crate) struct Window {
    slots: Box<[Slot]>,
}

impl Window {
    /// A window of `seconds` slots (at least one): the current second and
    /// the `seconds - 1` before it.
    pub(crate) fn new(seconds: usize) -> Self {
        Self {
            slots: (0..seconds.max(1)).map(|_| Slot::new()).collect(),
        }
    }

    /// How many seconds the window spans.
    pub(crate) fn seconds(&self) -> u64 {
        self.slots.len() as u64
    }

    /// Counts a request that ended in `second`.
    pub(crate) fn record(&self, second: u64, sample: Sample) {
        let Some(slot) = self.slot(second) else {
            return;
        };
        slot.requests.fetch_add(1, Relaxed);
        if sample.server_error {
            slot.server_errors.fetch_add(1, Relaxed);
        }
        if sample.cancelled {
            slot.cancelled.fetch_add(1, Relaxed);
        }
        if let Some(latency) = sample.latency {
            slot.buckets[buckets::index(latency)].fetch_add(1, Relaxed);
            // A load first: most samples are not a new maximum, and a load
            // does not take the cache line from other cores.
            if latency > slot.max.load(Relaxed) {
                slot.max.fetch_max(latency, Relaxed);
            }
        }
    }

    /// The slot of `second`, claimed and cleared if it still holds an older
    /// second; `None` if it already holds a newer one (the caller read the
    /// clock a whole window ago) or stays being cleared for too long.
    fn slot(&self, second: u64) -> Option<&Slot> {
        let slot = &self.slots[(second % self.seconds()) as usize];
        let tag = second + 1;
        let mut spins = 0;
        loop {
            let current = slot.tag.load(Acquire);
            if current == tag {
                return Some(slot);
            }
            if current == CLEARING {
                spins += 1;
                if spins > CLEARING_SPINS {
                    return None;
                }
                std::hint::spin_loop();
                continue;
            }
            if current > tag {
                return None;
            }
            if slot
                .tag
                .compare_exchange(current, CLEARING, AcqRel, Acquire)
                .is_ok()
            {
                slot.clear();
                slot.tag.store(tag, Release);
                return Some(slot);
            }
        }
    }

    /// The sum of the slots of the window that ends with `second`.
    pub(crate) fn read(&self, second: u64) -> Summary {
        let oldest = (second + 1).saturating_sub(self.seconds());
        let mut summary = Summary {
            requests: 0,
            server_errors: 0,
            cancelled: 0,
            max: 0,
            counts: vec![0; BUCKETS],
        };
        for slot in self.slots.iter() {
            let tag = slot.tag.load(Acquire);
            if tag == CLEARING || tag == 0 || tag - 1 < oldest || tag - 1 > second {
                continue;
            }
            summary.requests += slot.requests.load(Relaxed);
            summary.server_errors += slot.server_errors.load(Relaxed);
            summary.cancelled += slot.cancelled.load(Relaxed);
            summary.max = summary.max.max(slot.max.load(Relaxed));
            for (total, bucket) in summary.counts.iter_mut().zip(slot.buckets.iter()) {
                *total += u64::from(bucket.load(Relaxed));
            }
        }
        summary
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answered(latency: u64) -> Sample {
        Sample {
            latency: Some(latency),
            server_error: false,
            cancelled: false,
        }
    }

    #[test]
    fn seconds_leave_the_window_when_it_slides_past_them() {
        let window = Window::new(3);
        window.record(10, answered(1_000_000));
        window.record(11, answered(2_000_000));
        window.record(
            12,
            Sample {
                latency: None,
                server_error: true,
                cancelled: false,
            },
        );
        let summary = window.read(12);
        assert_eq!((summary.requests, summary.server_errors), (3, 1));
        assert_eq!(summary.samples(), 2);
        assert_eq!(summary.max, 2_000_000);

        // Second 13 reuses the slot of second 10.
        window.record(13, answered(5_000_000));
        let summary = window.read(13);
        assert_eq!((summary.requests, summary.samples()), (3, 2));
        assert_eq!(summary.max, 5_000_000);
        // Read later, without new requests, old seconds are not counted.
        assert_eq!(window.read(15).requests, 1);
        assert_eq!(window.read(100).requests, 0);
    }

    #[test]
    fn a_late_sample_for_a_second_already_reused_is_dropped() {
        let window = Window::new(2);
        window.record(7, answered(1_000));
        window.record(5, answered(1_000));
        assert_eq!(window.read(7).requests, 1);
    }

    #[test]
    fn threads_recording_into_one_second_lose_nothing() {
        let window = Window::new(4);
        std::thread::scope(|scope| {
            for thread in 0..4u64 {
                let window = &window;
                scope.spawn(move || {
                    for i in 0..10_000u64 {
                        window.record(50 + i % 2, answered(thread * 1_000 + i));
                    }
                });
            }
        });
        let summary = window.read(51);
        assert_eq!(summary.requests, 40_000);
        assert_eq!(summary.samples(), 40_000);
    }
}
