//! [`AdaptiveLimitLayer`], its builder, and the state clones share.

use std::{
    borrow::Cow,
    sync::{Arc, Mutex, PoisonError},
    time::Duration,
};

use mcp_metrics::names;
use mcp_service::{ClassSet, Clock, McpError, MethodClass, RpcError, error::code};
use metrics::{Counter, Gauge};
use tower_layer::Layer;

use super::{
    AdaptiveLimit,
    gradient::{Gradient, GradientConfig},
};
use crate::{ConfigError, slots::Slots};

/// A concurrency limit that follows the backend's latency: it finds the
/// latency of the backend without load, lets in as many concurrent calls as
/// keep latency within `tolerance` times that, backs off multiplicatively
/// on timeouts and server errors, and sheds the rest at once with
/// [`McpError::Overloaded`]. See the crate docs for the algorithm.
///
/// Clones share the limit. A call's slot comes back when its response
/// future completes or is dropped; a dropped call teaches the controller
/// nothing.
///
/// ```
/// use std::time::Duration;
/// use mcp_limit::AdaptiveLimitLayer;
///
/// let adaptive = AdaptiveLimitLayer::builder()
///     .min_limit(4)
///     .max_limit(256)
///     .tolerance(2.0)
///     .build()?;
/// # let _ = adaptive;
/// # Ok::<(), mcp_limit::ConfigError>(())
/// ```
#[derive(Debug, Clone)]
pub struct AdaptiveLimitLayer {
    adaptive: Arc<Adaptive>,
}

impl AdaptiveLimitLayer {
    /// A layer that limits nothing: every request is exempt and passes
    /// straight through.
    pub fn disabled() -> Self {
        let config = Self::builder().config;
        let clock = Clock::new();
        let controller = Gradient::new(config, clock.nanos());
        Self {
            adaptive: Arc::new(Adaptive {
                slots: Slots::new(controller.limit(), 0, Gauge::noop()),
                controller: Mutex::new(controller),
                clock,
                exempt: ClassSet::ALL,
                admissions: Counter::noop(),
                rejections: Counter::noop(),
                limit_gauge: Gauge::noop(),
            }),
        }
    }

    /// A builder. Defaults: limits 4 to 1,000 starting at 4 (doubling while
    /// latency holds), tolerance 1.5, backoff 0.9, windows of 100 ms with at
    /// least 10 samples, lifecycle methods and notifications exempt.
    pub fn builder() -> AdaptiveLimitBuilder {
        AdaptiveLimitBuilder {
            name: Cow::Borrowed("adaptive"),
            config: GradientConfig {
                min_limit: 4,
                max_limit: 1000,
                initial_limit: 4,
                tolerance: 1.5,
                backoff: 0.9,
                window: Duration::from_millis(100),
                min_samples: 10,
            },
            exempt: ClassSet::of(&[MethodClass::Lifecycle, MethodClass::Notification]),
        }
    }

    /// The limit now.
    pub fn limit(&self) -> usize {
        self.adaptive.slots.limit()
    }

    /// Calls holding a slot now.
    pub fn in_flight(&self) -> usize {
        self.adaptive.slots.in_use()
    }

    /// The estimated latency of the backend without load, once measured.
    pub fn no_load_latency(&self) -> Option<Duration> {
        self.adaptive.controller().no_load()
    }
}

impl<S> Layer<S> for AdaptiveLimitLayer {
    type Service = AdaptiveLimit<S>;

    fn layer(&self, inner: S) -> AdaptiveLimit<S> {
        AdaptiveLimit::new(inner, self.adaptive.clone())
    }
}

/// Builds an [`AdaptiveLimitLayer`].
#[derive(Debug)]
pub struct AdaptiveLimitBuilder {
    name: Cow<'static, str>,
    config: GradientConfig,
    exempt: ClassSet,
}

impl AdaptiveLimitBuilder {
    /// A name for metrics. Default `"adaptive"`.
    pub fn name(mut self, name: impl Into<Cow<'static, str>>) -> Self {
        self.name = name.into();
        self
    }
    /// The lowest the limit goes. Default 4.
    pub fn min_limit(mut self, limit: usize) -> Self {
        self.config.min_limit = limit;
        self
    }
    /// The highest the limit goes. Default 1,000.
    pub fn max_limit(mut self, limit: usize) -> Self {
        self.config.max_limit = limit;
        self
    }
    /// The limit before any measurement. Default 4 (it doubles each window
    /// while latency holds, so it finds its level quickly).
    pub fn initial_limit(mut self, limit: usize) -> Self {
        self.config.initial_limit = limit;
        self
    }
    /// How many times the no-load latency is tolerated before the limit
    /// comes down. Default 1.5.
    pub fn tolerance(mut self, tolerance: f64) -> Self {
        self.config.tolerance = tolerance;
        self
    }
    /// The factor the limit is multiplied by after a window with a timeout
    /// or a server error. Default 0.9.
    pub fn backoff(mut self, backoff: f64) -> Self {
        self.config.backoff = backoff;
        self
    }
    /// How long a measurement window lasts at least, and how many calls it
    /// needs. Default 100 ms and 10 calls.
    pub fn window(mut self, window: Duration, min_samples: u32) -> Self {
        self.config.window = window;
        self.config.min_samples = min_samples;
        self
    }
    /// Requests of `class` take no slot.
    pub fn exempt(mut self, class: MethodClass) -> Self {
        self.exempt = self.exempt.with(class);
        self
    }

    /// The layer, or which setting is out of range.
    pub fn build(self) -> Result<AdaptiveLimitLayer, ConfigError> {
        let config = self.config;
        let fail = |setting, problem: String| Err(ConfigError { setting, problem });
        if config.min_limit == 0 || config.min_limit > config.max_limit {
            return fail(
                "min_limit",
                format!(
                    "{} must be at least 1 and at most max_limit {}",
                    config.min_limit, config.max_limit
                ),
            );
        }
        if !(config.tolerance >= 1.0 && config.tolerance.is_finite()) {
            return fail("tolerance", format!("{} is below 1", config.tolerance));
        }
        if !(config.backoff > 0.0 && config.backoff < 1.0) {
            return fail("backoff", format!("{} is outside (0, 1)", config.backoff));
        }
        if config.window.is_zero() || config.min_samples == 0 {
            return fail("window", "needs a length and at least one sample".into());
        }
        let clock = Clock::new();
        let controller = Gradient::new(config, clock.nanos());
        let name = self.name.to_string();
        let limit_gauge = metrics::gauge!(names::LIMIT_LIMIT, names::LIMITER => name.clone());
        limit_gauge.set(controller.limit() as f64);
        Ok(AdaptiveLimitLayer {
            adaptive: Arc::new(Adaptive {
                slots: Slots::new(
                    controller.limit(),
                    0,
                    metrics::gauge!(names::LIMIT_IN_FLIGHT, names::LIMITER => name.clone()),
                ),
                controller: Mutex::new(controller),
                clock,
                exempt: self.exempt,
                admissions: metrics::counter!(names::LIMIT_ADMISSIONS, names::LIMITER => name.clone()),
                rejections: metrics::counter!(
                    names::LIMIT_REJECTIONS,
                    names::LIMITER => name.clone(),
                    names::REASON => names::REASON_OVERLOADED,
                ),
                limit_gauge,
            }),
        })
    }
}

/// The state every clone shares.
#[derive(Debug)]
pub(crate) struct Adaptive {
    pub(crate) slots: Arc<Slots>,
    controller: Mutex<Gradient>,
    pub(crate) clock: Clock,
    pub(crate) exempt: ClassSet,
    pub(crate) admissions: Counter,
    pub(crate) rejections: Counter,
    limit_gauge: Gauge,
}

impl Adaptive {
    fn controller(&self) -> std::sync::MutexGuard<'_, Gradient> {
        self.controller
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Feeds a finished call to the controller and moves the limit.
    pub(crate) fn record(&self, started: u64, in_flight: usize, overloaded: bool) {
        let now = self.clock.nanos();
        let moved =
            self.controller()
                .sample(now, now.saturating_sub(started), in_flight, overloaded);
        if let Some(limit) = moved {
            self.slots.set_limit(limit);
            self.limit_gauge.set(limit as f64);
        }
    }
}

/// Whether an error says the backend is overloaded: a timeout, a shed
/// call, an unavailable backend or an internal error. A client's mistake
/// says nothing about load.
pub(crate) fn signals_overload(error: &McpError) -> bool {
    match error {
        McpError::Timeout { .. } | McpError::Overloaded | McpError::Unavailable { .. } => true,
        McpError::Rpc(RpcError { code, .. }) => *code == code::INTERNAL_ERROR,
        _ => false,
    }
}
