//! Jitter for backoffs: a shared splitmix64 sequence, so breakers and
//! retries on many nodes do not act in step. Not for anything secret.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

const GOLDEN: u64 = 0x9e37_79b9_7f4a_7c15;

/// A source of numbers in [0, 1), safe to share between threads.
#[derive(Debug)]
pub(crate) struct Jitter(AtomicU64);

impl Jitter {
    pub(crate) fn new() -> Self {
        // Seeded from the wall clock and a process-wide count, so breakers in
        // one process, and processes started together, differ.
        static CREATED: AtomicU64 = AtomicU64::new(0);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |since| since.as_nanos() as u64);
        Self(AtomicU64::new(nanos ^ CREATED.fetch_add(GOLDEN, Relaxed)))
    }

    pub(crate) fn unit(&self) -> f64 {
        let mut z = self.0.fetch_add(GOLDEN, Relaxed);
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^= z >> 31;
        (z >> 11) as f64 / (1u64 << 53) as f64
    }

    /// `value` varied by up to `fraction` either way.
    pub(crate) fn spread(&self, value: f64, fraction: f64) -> f64 {
        if fraction > 0.0 {
            value * (1.0 + fraction * (2.0 * self.unit() - 1.0))
        } else {
            value
        }
    }
}
