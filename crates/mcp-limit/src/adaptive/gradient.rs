//! [`Gradient`]: the adaptive limit's controller, with time passed in.
//!
//! Samples are gathered in windows. At the end of each, the window's mean
//! latency is compared with the no-load latency (the lowest window mean
//! seen, or the latency at the minimum limit, where load cannot be the
//! cause):
//!
//! - any overload signal (a timeout or a server error) cuts the limit by
//!   the backoff factor;
//! - latency above `tolerance × no-load` scales the limit by the gradient
//!   `tolerance × no-load / latency` (never below one half);
//! - otherwise, if the window used the limit, it grows: doubling until the
//!   first cut (slow start), then by one.
//!
//! The limit stays within `min..=max`.

use std::time::Duration;

/// The controller's settings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct GradientConfig {
    pub(crate) min_limit: usize,
    pub(crate) max_limit: usize,
    pub(crate) initial_limit: usize,
    pub(crate) tolerance: f64,
    pub(crate) backoff: f64,
    pub(crate) window: Duration,
    pub(crate) min_samples: u32,
}

/// The controller's state.
#[derive(Debug)]
pub(crate) struct Gradient {
    config: GradientConfig,
    limit: usize,
    slow_start: bool,
    no_load: Option<f64>,
    window_started: u64,
    window_nanos: u64,
    rtt_sum: f64,
    samples: u32,
    busiest: usize,
    overloaded: bool,
}

impl Gradient {
    pub(crate) fn new(config: GradientConfig, now: u64) -> Self {
        Self {
            limit: config
                .initial_limit
                .clamp(config.min_limit, config.max_limit),
            slow_start: true,
            no_load: None,
            window_started: now,
            window_nanos: u64::try_from(config.window.as_nanos()).unwrap_or(u64::MAX),
            rtt_sum: 0.0,
            samples: 0,
            busiest: 0,
            overloaded: false,
            config,
        }
    }

    pub(crate) fn limit(&self) -> usize {
        self.limit
    }

    /// The no-load latency estimate, once there is one.
    pub(crate) fn no_load(&self) -> Option<Duration> {
        self.no_load.map(|nanos| Duration::from_nanos(nanos as u64))
    }

    /// Records a finished call: its latency, the calls in flight when it
    /// started (itself included), and whether it signalled overload.
    /// Returns the new limit when a window closes and the limit moved.
    pub(crate) fn sample(
        &mut self,
        now: u64,
        rtt: u64,
        in_flight: usize,
        overloaded: bool,
    ) -> Option<usize> {
        self.rtt_sum += rtt as f64;
        self.samples += 1;
        self.busiest = self.busiest.max(in_flight);
        self.overloaded |= overloaded;
        if now.saturating_sub(self.window_started) < self.window_nanos
            || self.samples < self.config.min_samples
        {
            return None;
        }
        let before = self.limit;
        self.close_window();
        self.window_started = now;
        (self.limit != before).then_some(self.limit)
    }

    fn close_window(&mut self) {
        let mean = self.rtt_sum / f64::from(self.samples);
        let used = self.busiest * 10 >= self.limit * 8;
        let at_min = self.limit <= self.config.min_limit;
        let no_load = match self.no_load {
            // At the floor, load cannot explain latency: the backend's own
            // speed has changed.
            Some(_) if at_min && used => mean,
            Some(no_load) => no_load.min(mean),
            None => mean,
        };
        self.no_load = Some(no_load);
        let threshold = self.config.tolerance * no_load;
        let limit = self.limit as f64;
        let next = if self.overloaded {
            self.slow_start = false;
            limit * self.config.backoff
        } else if mean > threshold {
            self.slow_start = false;
            limit * (threshold / mean).max(0.5)
        } else if used && self.slow_start {
            limit * 2.0
        } else if used {
            limit + 1.0
        } else {
            limit
        };
        self.limit = (next.floor() as usize).clamp(self.config.min_limit, self.config.max_limit);
        self.rtt_sum = 0.0;
        self.samples = 0;
        self.busiest = 0;
        self.overloaded = false;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: u64 = 1_000_000;

    fn config() -> GradientConfig {
        GradientConfig {
            min_limit: 2,
            max_limit: 100,
            initial_limit: 4,
            tolerance: 1.5,
            backoff: 0.9,
            window: Duration::from_millis(100),
            min_samples: 10,
        }
    }

    /// Runs `windows` full windows of samples from a backend taking
    /// `latency(limit)` with the limit saturated; returns the limits.
    fn drive(
        gradient: &mut Gradient,
        windows: usize,
        latency: impl Fn(usize) -> u64,
    ) -> Vec<usize> {
        let mut now = 0;
        let mut limits = Vec::new();
        for _ in 0..windows {
            let limit = gradient.limit();
            // Ten calls 10 ms apart: exactly one window.
            for _ in 0..10 {
                now += 10 * MS;
                gradient.sample(now, latency(limit), limit, false);
            }
            limits.push(gradient.limit());
        }
        limits
    }

    #[test]
    fn settles_near_the_knee_of_a_backend_that_slows_with_load() {
        let mut gradient = Gradient::new(config(), 0);
        // 2 ms, plus 1 ms for each call in flight above 8.
        let limits = drive(&mut gradient, 200, |limit| {
            2 * MS + (limit.saturating_sub(8) as u64) * MS
        });
        // A sawtooth: up by one while latency holds, down by the gradient
        // once it passes 1.5 times 2 ms.
        let settled = &limits[100..];
        assert!(
            settled.iter().all(|limit| (6..=10).contains(limit)),
            "{settled:?}"
        );
        assert_eq!(gradient.no_load(), Some(Duration::from_millis(2)));
    }

    #[test]
    fn grows_to_the_maximum_when_latency_does_not_move() {
        let mut gradient = Gradient::new(config(), 0);
        let limits = drive(&mut gradient, 200, |_| 2 * MS);
        assert_eq!(limits.last(), Some(&100));
    }

    #[test]
    fn overload_cuts_multiplicatively_down_to_the_floor() {
        let mut gradient = Gradient::new(config(), 0);
        drive(&mut gradient, 20, |_| 2 * MS);
        let before = gradient.limit();
        let mut now = 10_000 * MS;
        let mut limits = vec![before];
        for _ in 0..60 {
            for _ in 0..10 {
                now += 10 * MS;
                gradient.sample(now, 2 * MS, gradient.limit(), true);
            }
            limits.push(gradient.limit());
        }
        assert_eq!(limits[1], (before as f64 * 0.9) as usize, "{limits:?}");
        assert_eq!(limits.last(), Some(&2));
    }

    #[test]
    fn a_backend_slower_for_good_is_relearned_at_the_floor() {
        let mut gradient = Gradient::new(config(), 0);
        drive(&mut gradient, 50, |_| 2 * MS);
        // Now 20 ms whatever the load: the limit falls to the floor, then
        // learns 20 ms as the new no-load latency and grows again.
        let limits = drive(&mut gradient, 200, |_| 20 * MS);
        assert_eq!(limits.last(), Some(&100), "{limits:?}");
        assert_eq!(gradient.no_load(), Some(Duration::from_millis(20)));
    }

    #[test]
    fn an_unused_limit_does_not_grow() {
        let mut gradient = Gradient::new(config(), 0);
        let mut now = 0;
        for _ in 0..1000 {
            now += 6 * MS;
            gradient.sample(now, 2 * MS, 1, false);
        }
        assert_eq!(gradient.limit(), 4);
    }
}
