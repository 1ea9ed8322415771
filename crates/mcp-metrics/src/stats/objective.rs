//! [`LatencyObjective`]: a latency a method or a tool should keep to, and
//! how the window measures up to it.

use std::{
    sync::atomic::{AtomicU64, Ordering::Relaxed},
    time::Duration,
};

use mcp_service::clock::saturating_nanos;

use super::window::{Sample, Window};
use crate::ConfigError;

/// What an objective covers.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Scope {
    Method(String),
    Tool(String),
}

/// A latency objective: the `quantile` (say p95) of a method's or a tool's
/// latency over the stats window should stay at or under `threshold`.
///
/// ```
/// use std::time::Duration;
/// use mcp_metrics::{LatencyObjective, Stats};
///
/// let stats = Stats::builder()
///     .objective(LatencyObjective::method("tools/list").p95(Duration::from_millis(50)))
///     .objective(LatencyObjective::tool("search").p99(Duration::from_millis(800)))
///     .build()?;
/// # let _ = stats;
/// # Ok::<(), mcp_metrics::ConfigError>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct LatencyObjective {
    scope: Scope,
    quantile: f64,
    threshold: Duration,
}

/// The first half of a [`LatencyObjective`]: what it covers.
#[derive(Debug, Clone, PartialEq, Eq)]
#[must_use = "an objective needs a quantile and a threshold"]
pub struct ObjectiveScope(Scope);

impl LatencyObjective {
    /// An objective for every request of `method`, such as `tools/list`.
    pub fn method(method: impl Into<String>) -> ObjectiveScope {
        ObjectiveScope(Scope::Method(method.into()))
    }

    /// An objective for the `tools/call`s of the tool `name`.
    pub fn tool(name: impl Into<String>) -> ObjectiveScope {
        ObjectiveScope(Scope::Tool(name.into()))
    }

    /// The method it covers, for method objectives.
    pub fn method_name(&self) -> Option<&str> {
        match &self.scope {
            Scope::Method(method) => Some(method),
            Scope::Tool(_) => None,
        }
    }

    /// The tool it covers, for tool objectives.
    pub fn tool_name(&self) -> Option<&str> {
        match &self.scope {
            Scope::Tool(tool) => Some(tool),
            Scope::Method(_) => None,
        }
    }

    /// The quantile judged, in (0, 1].
    pub fn quantile(&self) -> f64 {
        self.quantile
    }

    /// The latency the quantile should keep to.
    pub fn threshold(&self) -> Duration {
        self.threshold
    }

    /// Whether the objective covers a request of `method` (and `tool`).
    pub(crate) fn covers(&self, method: &str, tool: Option<&str>) -> bool {
        match &self.scope {
            Scope::Method(covered) => covered == method,
            Scope::Tool(covered) => tool == Some(covered.as_str()),
        }
    }

    pub(crate) fn validate(&self) -> Result<(), ConfigError> {
        let problem = if !(self.quantile > 0.0 && self.quantile <= 1.0) {
            format!("quantile {} is not in (0, 1]", self.quantile)
        } else if self.threshold.is_zero() {
            "the threshold is zero".to_owned()
        } else {
            return Ok(());
        };
        Err(ConfigError {
            setting: "objective",
            problem,
        })
    }
}

impl ObjectiveScope {
    /// The 95th percentile should stay at or under `threshold`.
    pub fn p95(self, threshold: Duration) -> LatencyObjective {
        self.quantile(0.95, threshold)
    }

    /// The 99th percentile should stay at or under `threshold`.
    pub fn p99(self, threshold: Duration) -> LatencyObjective {
        self.quantile(0.99, threshold)
    }

    /// The `quantile` (in (0, 1], say 0.999) should stay at or under
    /// `threshold`.
    pub fn quantile(self, quantile: f64, threshold: Duration) -> LatencyObjective {
        LatencyObjective {
            scope: self.0,
            quantile,
            threshold,
        }
    }
}

/// An objective with its own window and its count of slow requests.
pub(crate) struct ObjectiveState {
    pub(crate) objective: LatencyObjective,
    threshold: u64,
    pub(crate) window: Window,
    over_threshold: AtomicU64,
}

impl ObjectiveState {
    pub(crate) fn new(objective: LatencyObjective, window_seconds: usize) -> Self {
        Self {
            threshold: saturating_nanos(objective.threshold),
            objective,
            window: Window::new(window_seconds),
            over_threshold: AtomicU64::new(0),
        }
    }

    /// Counts a request of `latency` nanoseconds that ended in `second`.
    pub(crate) fn record(&self, second: u64, latency: u64) {
        self.window.record(
            second,
            Sample {
                latency: Some(latency),
                server_error: false,
                cancelled: false,
            },
        );
        if latency > self.threshold {
            self.over_threshold.fetch_add(1, Relaxed);
        }
    }

    /// Requests slower than the threshold since the start.
    pub(crate) fn over_threshold(&self) -> u64 {
        self.over_threshold.load(Relaxed)
    }
}
