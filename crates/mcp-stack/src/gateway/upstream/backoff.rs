//! [`Backoff`]: how long to wait before starting a dead child again, or
//! before listening to an upstream's event stream again.

use std::time::Duration;

/// Doubling delays from `initial` up to `max`; a run that lasted
/// `stable_after` counts as healthy and starts the doubling over.
#[derive(Debug, Clone)]
pub(crate) struct Backoff {
    initial: Duration,
    max: Duration,
    stable_after: Duration,
    next: Duration,
}

impl Backoff {
    pub(crate) fn new(initial: Duration, max: Duration, stable_after: Duration) -> Self {
        Self {
            initial,
            max: max.max(initial),
            stable_after,
            next: initial,
        }
    }

    /// The delay before the next attempt, given how long the last one ran.
    pub(crate) fn after_run(&mut self, ran_for: Duration) -> Duration {
        if ran_for >= self.stable_after {
            self.next = self.initial;
        }
        let delay = self.next;
        self.next = self.next.saturating_mul(2).min(self.max);
        delay
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_double_to_the_cap_and_reset_after_a_stable_run() {
        let mut backoff = Backoff::new(
            Duration::from_millis(100),
            Duration::from_millis(500),
            Duration::from_secs(10),
        );
        let quick = Duration::from_millis(1);
        let delays: Vec<u128> = (0..5)
            .map(|_| backoff.after_run(quick).as_millis())
            .collect();
        assert_eq!(delays, [100, 200, 400, 500, 500]);
        assert_eq!(backoff.after_run(Duration::from_secs(60)).as_millis(), 100);
        assert_eq!(backoff.after_run(quick).as_millis(), 200);
    }
}
