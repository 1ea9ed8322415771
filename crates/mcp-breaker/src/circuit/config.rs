//! The knobs of a circuit breaker and their checks.

use std::{borrow::Cow, fmt, sync::Arc, time::Duration};

use super::state::StateChange;

/// Which outcomes a breaker judges by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Window {
    /// The last N calls.
    Count(u32),
    /// The calls of the last duration, kept in ten slices.
    Time(Duration),
}

/// A callback told of every state change.
pub type StateListener = Arc<dyn Fn(&StateChange) + Send + Sync>;

/// The configuration of a circuit breaker. Build it with
/// [`CircuitBreakerLayer::builder`](super::CircuitBreakerLayer::builder).
#[derive(Clone)]
pub struct CircuitBreakerConfig {
    /// A name for logs and metrics. Default `"default"`.
    pub name: Cow<'static, str>,
    /// The outcomes judged. Default the last 100 calls.
    pub window: Window,
    /// Calls the window must hold before rates count. Default 20.
    pub minimum_calls: u32,
    /// Trip when at least this fraction of the window failed. Default 0.5.
    pub failure_rate_threshold: f64,
    /// Trip when at least this fraction of the window was slow. Default
    /// none: durations are then not measured at all, which saves two clock
    /// reads a call.
    pub slow_call_rate_threshold: Option<f64>,
    /// A call slower than this is slow. Default 10 s.
    pub slow_call_threshold: Duration,
    /// Trip after this many failures in a row, whatever the window says.
    /// Default none.
    pub consecutive_failures: Option<u32>,
    /// How long the breaker stays open the first time. Default 10 s.
    pub open_duration: Duration,
    /// Each time a probe fails, the open duration grows by this factor.
    /// Default 2.
    pub backoff_multiplier: f64,
    /// The open duration never exceeds this. Default 120 s.
    pub max_open_duration: Duration,
    /// Open durations vary by up to this fraction either way, so breakers
    /// on many nodes do not probe in step. Default 0.1.
    pub jitter: f64,
    /// Probes admitted at once when half-open; that many successes close
    /// the breaker. Default 3.
    pub half_open_calls: u32,
    /// Told of every state change.
    pub listeners: Vec<StateListener>,
}

impl Default for CircuitBreakerConfig {
    fn default() -> Self {
        Self {
            name: Cow::Borrowed("default"),
            window: Window::Count(100),
            minimum_calls: 20,
            failure_rate_threshold: 0.5,
            slow_call_rate_threshold: None,
            slow_call_threshold: Duration::from_secs(10),
            consecutive_failures: None,
            open_duration: Duration::from_secs(10),
            backoff_multiplier: 2.0,
            max_open_duration: Duration::from_secs(120),
            jitter: 0.1,
            half_open_calls: 3,
            listeners: Vec::new(),
        }
    }
}

impl fmt::Debug for CircuitBreakerConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CircuitBreakerConfig")
            .field("name", &self.name)
            .field("window", &self.window)
            .field("minimum_calls", &self.minimum_calls)
            .field("failure_rate_threshold", &self.failure_rate_threshold)
            .field("slow_call_rate_threshold", &self.slow_call_rate_threshold)
            .field("slow_call_threshold", &self.slow_call_threshold)
            .field("consecutive_failures", &self.consecutive_failures)
            .field("open_duration", &self.open_duration)
            .field("backoff_multiplier", &self.backoff_multiplier)
            .field("max_open_duration", &self.max_open_duration)
            .field("jitter", &self.jitter)
            .field("half_open_calls", &self.half_open_calls)
            .field("listeners", &self.listeners.len())
            .finish()
    }
}

/// A configuration value out of its range.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid circuit breaker setting `{setting}`: {problem}")]
pub struct ConfigError {
    /// The setting, by its builder name.
    pub setting: &'static str,
    /// What is wrong with it.
    pub problem: String,
}

impl CircuitBreakerConfig {
    pub(crate) fn validate(&self) -> Result<(), ConfigError> {
        let fail = |setting, problem: String| Err(ConfigError { setting, problem });
        for (setting, rate) in [
            ("failure_rate_threshold", Some(self.failure_rate_threshold)),
            ("slow_call_rate_threshold", self.slow_call_rate_threshold),
        ] {
            let Some(rate) = rate else { continue };
            if !(rate > 0.0 && rate <= 1.0) {
                return fail(setting, format!("{rate} is not a fraction in (0, 1]"));
            }
        }
        if !(0.0..1.0).contains(&self.jitter) {
            return fail(
                "jitter",
                format!("{} is not a fraction in [0, 1)", self.jitter),
            );
        }
        if !(self.backoff_multiplier >= 1.0 && self.backoff_multiplier.is_finite()) {
            return fail(
                "backoff_multiplier",
                format!("{} is below 1", self.backoff_multiplier),
            );
        }
        match self.window {
            Window::Count(0) => {
                return fail("window", "a count window needs at least one call".into());
            }
            Window::Time(duration) if duration.is_zero() => {
                return fail("window", "a time window needs a duration".into());
            }
            _ => {}
        }
        if self.minimum_calls == 0 {
            return fail("minimum_calls", "must be at least 1".into());
        }
        if !(1..=u32::from(u16::MAX)).contains(&self.half_open_calls) {
            return fail(
                "half_open_calls",
                format!("{} is not in 1..=65535", self.half_open_calls),
            );
        }
        if self.consecutive_failures == Some(0) {
            return fail("consecutive_failures", "must be at least 1".into());
        }
        if self.open_duration.is_zero() {
            return fail("open_duration", "must be positive".into());
        }
        if self.max_open_duration < self.open_duration {
            return fail("max_open_duration", "is shorter than open_duration".into());
        }
        Ok(())
    }
}
