//! [`Gcra`]: the generic cell rate algorithm on one atomic, with time passed in.
//!
//! A bucket is one `u64`: its theoretical arrival time (TAT), in nanoseconds
//! since the limiter's origin. A request of cost `n` at time `t` is admitted
//! when `max(TAT, t) + n·T − B ≤ t`, where `T` is the interval one unit
//! earns back and `B = burst·T`; admitting moves the TAT to `max(TAT, t) + n·T`.
//! One compare-and-swap decides, so clones and threads share a limit exactly.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

/// A rate with a burst.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Gcra {
    /// Nanoseconds one unit of cost earns back.
    interval: u64,
    /// Nanoseconds of credit a full bucket holds (`burst × interval`).
    capacity: u64,
}

/// A decision against a bucket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Admitted now.
    Admit,
    /// Admitted once this much time has passed; the bucket is already
    /// charged, so the caller must wait before going on.
    AdmitAfter(Duration),
    /// Refused; it could be admitted after this long.
    Reject(Duration),
}

impl Gcra {
    /// `requests` per `period`, with up to `burst` at once. `None` when a
    /// number is zero or the interval would round to nothing.
    pub fn new(requests: u32, period: Duration, burst: u32) -> Option<Self> {
        if requests == 0 || burst == 0 {
            return None;
        }
        let interval = u64::try_from(period.as_nanos() / u128::from(requests)).ok()?;
        (interval > 0).then(|| Self {
            interval,
            capacity: interval.saturating_mul(u64::from(burst)),
        })
    }

    /// The burst: the most cost admitted at once.
    pub fn burst(&self) -> u64 {
        self.capacity / self.interval
    }

    /// Decides a request of `cost` at `now` (nanoseconds since the origin),
    /// admitting it after at most `max_wait`.
    pub fn check(&self, bucket: &AtomicU64, now: u64, cost: u32, max_wait: u64) -> Decision {
        let increment = self.interval.saturating_mul(u64::from(cost));
        let mut tat = bucket.load(Relaxed);
        loop {
            let next = tat.max(now).saturating_add(increment);
            let allowed_at = next.saturating_sub(self.capacity);
            if allowed_at > now.saturating_add(max_wait) {
                return Decision::Reject(Duration::from_nanos(allowed_at - now));
            }
            match bucket.compare_exchange_weak(tat, next, Relaxed, Relaxed) {
                Ok(_) if allowed_at <= now => return Decision::Admit,
                Ok(_) => return Decision::AdmitAfter(Duration::from_nanos(allowed_at - now)),
                Err(actual) => tat = actual,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: u64 = 1_000_000;

    #[test]
    fn admits_the_burst_then_the_rate() {
        // 10 a second, bursts of 3.
        let gcra = Gcra::new(10, Duration::from_secs(1), 3).unwrap();
        let bucket = AtomicU64::new(0);
        let decisions: Vec<_> = (0..5).map(|_| gcra.check(&bucket, 0, 1, 0)).collect();
        assert_eq!(&decisions[..3], [Decision::Admit; 3]);
        assert_eq!(decisions[3], Decision::Reject(Duration::from_millis(100)));
        assert_eq!(
            gcra.check(&bucket, 99 * MS, 1, 0),
            Decision::Reject(Duration::from_millis(1))
        );
        assert_eq!(gcra.check(&bucket, 100 * MS, 1, 0), Decision::Admit);
        assert_eq!(
            gcra.check(&bucket, 100 * MS, 1, 0),
            Decision::Reject(Duration::from_millis(100))
        );
        // A long pause refills the burst, no more.
        let admitted = (0..10)
            .filter(|_| gcra.check(&bucket, 10_000 * MS, 1, 0) == Decision::Admit)
            .count();
        assert_eq!(admitted, 3);
    }

    #[test]
    fn cost_counts_and_cannot_exceed_the_burst() {
        let gcra = Gcra::new(10, Duration::from_secs(1), 5).unwrap();
        let bucket = AtomicU64::new(0);
        assert_eq!(gcra.check(&bucket, 0, 3, 0), Decision::Admit);
        assert_eq!(
            gcra.check(&bucket, 0, 3, 0),
            Decision::Reject(Duration::from_millis(100))
        );
        assert_eq!(gcra.check(&bucket, 0, 2, 0), Decision::Admit);
        assert!(matches!(
            gcra.check(&AtomicU64::new(0), 0, 6, 0),
            Decision::Reject(_)
        ));
    }

    #[test]
    fn a_bounded_wait_charges_and_says_how_long() {
        let gcra = Gcra::new(10, Duration::from_secs(1), 1).unwrap();
        let bucket = AtomicU64::new(0);
        assert_eq!(gcra.check(&bucket, 0, 1, 150 * MS), Decision::Admit);
        assert_eq!(
            gcra.check(&bucket, 0, 1, 150 * MS),
            Decision::AdmitAfter(Duration::from_millis(100))
        );
        assert_eq!(
            gcra.check(&bucket, 0, 1, 150 * MS),
            Decision::Reject(Duration::from_millis(200))
        );
    }

    #[test]
    fn threads_share_one_limit_exactly() {
        let gcra = Gcra::new(1, Duration::from_secs(1), 1000).unwrap();
        let bucket = std::sync::Arc::new(AtomicU64::new(0));
        let admitted = std::sync::Arc::new(AtomicU64::new(0));
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let (bucket, admitted) = (bucket.clone(), admitted.clone());
                std::thread::spawn(move || {
                    for _ in 0..1000 {
                        if gcra.check(&bucket, 0, 1, 0) == Decision::Admit {
                            admitted.fetch_add(1, Relaxed);
                        }
                    }
                })
            })
            .collect();
        threads
            .into_iter()
            .for_each(|thread| thread.join().unwrap());
        assert_eq!(admitted.load(Relaxed), 1000);
    }

    #[test]
    fn zero_rates_are_refused() {
        assert_eq!(Gcra::new(0, Duration::from_secs(1), 1), None);
        assert_eq!(Gcra::new(1, Duration::from_secs(1), 0), None);
        assert_eq!(Gcra::new(10, Duration::from_nanos(5), 1), None);
    }
}
