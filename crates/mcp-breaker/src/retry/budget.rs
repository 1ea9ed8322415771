//! [`RetryBudget`]: retries may be at most a fraction of recent requests.

use std::{
    sync::atomic::{AtomicU32, AtomicU64, Ordering::Relaxed},
    time::Duration,
};

use mcp_service::Clock;

use crate::circuit::claim;

/// Allows a retry only while retries over the last `window` stay under
/// `ratio` of the requests in it, plus `min_per_second` so a quiet service
/// can still retry. Recorded with atomics only.
#[derive(Debug)]
pub struct RetryBudget {
    ratio: f64,
    floor: f64,
    /// Read on every request: the fast clock (tokio's when paused in tests).
    clock: Clock,
    slice_nanos: u64,
    slices: Box<[Slice]>,
}

#[derive(Debug, Default)]
struct Slice {
    number: AtomicU64,
    requests: AtomicU32,
    retries: AtomicU32,
}

const SLICES: u64 = 10;

impl RetryBudget {
    /// A budget of `ratio` retries per request over `window`, plus
    /// `min_per_second`.
    pub fn new(ratio: f64, min_per_second: u32, window: Duration) -> Self {
        let window_nanos = u64::try_from(window.as_nanos())
            .unwrap_or(u64::MAX)
            .max(SLICES);
        Self {
            ratio: ratio.max(0.0),
            floor: f64::from(min_per_second) * window.as_secs_f64(),
            clock: Clock::new(),
            slice_nanos: window_nanos / SLICES,
            slices: (0..SLICES).map(|_| Slice::default()).collect(),
        }
    }

    /// Counts a request.
    pub fn deposit(&self) {
        self.current().requests.fetch_add(1, Relaxed);
    }

    /// Takes one retry if the budget allows it.
    pub fn withdraw(&self) -> bool {
        let number = self.slice_number();
        let (requests, retries) = self
            .slices
            .iter()
            .filter(|slice| slice.number.load(Relaxed) + SLICES > number)
            .fold((0u64, 0u64), |(requests, retries), slice| {
                (
                    requests + u64::from(slice.requests.load(Relaxed)),
                    retries + u64::from(slice.retries.load(Relaxed)),
                )
            });
        if retries as f64 >= self.floor + self.ratio * requests as f64 {
            return false;
        }
        self.current().retries.fetch_add(1, Relaxed);
        true
    }

    fn slice_number(&self) -> u64 {
        // Numbers start at SLICES so a fresh slot (number 0) is never current.
        self.clock.nanos() / self.slice_nanos + SLICES
    }

    fn current(&self) -> &Slice {
        let number = self.slice_number();
        let slice = &self.slices[(number % SLICES) as usize];
        if claim(&slice.number, number) {
            slice.requests.store(0, Relaxed);
            slice.retries.store(0, Relaxed);
        }
        slice
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn retries_are_a_fraction_of_requests_plus_a_floor() {
        let budget = RetryBudget::new(0.2, 1, Duration::from_secs(10));
        // The floor: 1 per second over 10 s.
        assert_eq!((0..20).filter(|_| budget.withdraw()).count(), 10);
        for _ in 0..50 {
            budget.deposit();
        }
        // 20 % of 50 more.
        assert_eq!((0..20).filter(|_| budget.withdraw()).count(), 10);
        // Once the window has passed, it all starts again.
        tokio::time::advance(Duration::from_secs(11)).await;
        assert_eq!((0..20).filter(|_| budget.withdraw()).count(), 10);
    }
}
