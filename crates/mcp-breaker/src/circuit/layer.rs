//! [`CircuitBreakerLayer`], its builder, and the operator's [`CircuitHandle`].

use std::{borrow::Cow, sync::Arc, time::Duration};

use tokio::time::Instant;
use tower_layer::Layer;

use super::{
    BreakerKey, CircuitBreaker, KeyedCircuitBreakerLayer,
    config::{CircuitBreakerConfig, ConfigError, Window},
    state::{Circuit, State, StateChange},
};
use crate::classify::Classifier;

/// Wraps a service in a circuit breaker. Every service it makes, and every
/// clone of them, shares one breaker.
#[derive(Debug, Clone)]
pub struct CircuitBreakerLayer {
    circuit: Arc<Circuit>,
    classifier: Classifier,
}

impl CircuitBreakerLayer {
    /// A builder with the defaults of [`CircuitBreakerConfig`].
    pub fn builder() -> CircuitBreakerBuilder {
        CircuitBreakerBuilder::default()
    }

    /// A breaker that never opens: it starts, and stays unless forced
    /// otherwise through its handle, in the disabled state, where calls
    /// pass with one atomic load and nothing is judged or reported.
    pub fn disabled() -> Self {
        let builder = Self::builder().name("disabled");
        Self {
            circuit: Arc::new(Circuit::disabled(builder.config, Instant::now())),
            classifier: builder.classifier,
        }
    }

    /// A handle to watch and steer the breaker at run time.
    pub fn handle(&self) -> CircuitHandle {
        CircuitHandle {
            circuit: self.circuit.clone(),
        }
    }
}

impl<S> Layer<S> for CircuitBreakerLayer {
    type Service = CircuitBreaker<S>;

    fn layer(&self, inner: S) -> CircuitBreaker<S> {
        CircuitBreaker::new(inner, self.circuit.clone(), self.classifier)
    }
}

/// Builds a [`CircuitBreakerLayer`]; each setting is documented, with its
/// default, on [`CircuitBreakerConfig`].
#[derive(Debug)]
pub struct CircuitBreakerBuilder {
    config: CircuitBreakerConfig,
    classifier: Classifier,
    max_keys: u64,
    key_idle: Duration,
}

impl Default for CircuitBreakerBuilder {
    fn default() -> Self {
        Self {
            config: CircuitBreakerConfig::default(),
            classifier: Classifier::default(),
            max_keys: 1024,
            key_idle: Duration::from_secs(600),
        }
    }
}

impl CircuitBreakerBuilder {
    /// A name for logs and metrics.
    pub fn name(mut self, name: impl Into<Cow<'static, str>>) -> Self {
        self.config.name = name.into();
        self
    }
    /// The outcomes judged.
    pub fn window(mut self, window: Window) -> Self {
        self.config.window = window;
        self
    }
    /// Calls the window must hold before rates count.
    pub fn minimum_calls(mut self, calls: u32) -> Self {
        self.config.minimum_calls = calls;
        self
    }
    /// Trip at this failure fraction.
    pub fn failure_rate_threshold(mut self, rate: f64) -> Self {
        self.config.failure_rate_threshold = rate;
        self
    }
    /// Trip at this slow-call fraction; turns on measuring durations.
    pub fn slow_call_rate_threshold(mut self, rate: f64) -> Self {
        self.config.slow_call_rate_threshold = Some(rate);
        self
    }
    /// A call slower than this is slow.
    pub fn slow_call_threshold(mut self, threshold: Duration) -> Self {
        self.config.slow_call_threshold = threshold;
        self
    }
    /// Trip after this many failures in a row.
    pub fn consecutive_failures(mut self, failures: u32) -> Self {
        self.config.consecutive_failures = Some(failures);
        self
    }
    /// How long the breaker first stays open.
    pub fn open_duration(mut self, duration: Duration) -> Self {
        self.config.open_duration = duration;
        self
    }
    /// The factor the open duration grows by after each failed probe.
    pub fn backoff_multiplier(mut self, multiplier: f64) -> Self {
        self.config.backoff_multiplier = multiplier;
        self
    }
    /// The longest open duration.
    pub fn max_open_duration(mut self, duration: Duration) -> Self {
        self.config.max_open_duration = duration;
        self
    }
    /// How much open durations vary, as a fraction either way.
    pub fn jitter(mut self, fraction: f64) -> Self {
        self.config.jitter = fraction;
        self
    }
    /// Probes admitted at once when half-open.
    pub fn half_open_calls(mut self, calls: u32) -> Self {
        self.config.half_open_calls = calls;
        self
    }
    /// Count `isError: true` tool results as failures.
    pub fn count_tool_errors(mut self, count: bool) -> Self {
        self.classifier.count_tool_errors = count;
        self
    }
    /// Calls `listener` on every state change.
    pub fn on_state_change(
        mut self,
        listener: impl Fn(&StateChange) + Send + Sync + 'static,
    ) -> Self {
        self.config.listeners.push(Arc::new(listener));
        self
    }

    /// For keyed breakers: how many are kept at most. Default 1024.
    pub fn max_keys(mut self, keys: u64) -> Self {
        self.max_keys = keys;
        self
    }

    /// For keyed breakers: how long an unused one is kept. Default 10 min.
    pub fn key_idle(mut self, idle: Duration) -> Self {
        self.key_idle = idle;
        self
    }

    /// A layer with one breaker per `key`, or which setting is out of range.
    pub fn build_keyed(self, key: BreakerKey) -> Result<KeyedCircuitBreakerLayer, ConfigError> {
        self.config.validate()?;
        if self.max_keys == 0 {
            return Err(ConfigError {
                setting: "max_keys",
                problem: "must be at least 1".into(),
            });
        }
        Ok(KeyedCircuitBreakerLayer::new(
            self.config,
            self.classifier,
            key,
            self.max_keys,
            self.key_idle,
        ))
    }

    /// The layer, or which setting is out of range.
    pub fn build(self) -> Result<CircuitBreakerLayer, ConfigError> {
        self.config.validate()?;
        Ok(CircuitBreakerLayer {
            circuit: Arc::new(Circuit::new(self.config, Instant::now(), false)),
            classifier: self.classifier,
        })
    }
}

/// Watches and steers a breaker at run time. Cheap to clone.
#[derive(Debug, Clone)]
pub struct CircuitHandle {
    circuit: Arc<Circuit>,
}

impl CircuitHandle {
    /// The current state.
    pub fn state(&self) -> State {
        self.circuit.state()
    }

    /// Rejects every call until [`reset`](Self::reset).
    pub fn force_open(&self) {
        self.circuit.force(State::ForcedOpen);
    }

    /// Lets every call through and never trips, until [`reset`](Self::reset).
    pub fn disable(&self) {
        self.circuit.force(State::Disabled);
    }

    /// Closes the breaker with an empty window.
    pub fn reset(&self) {
        self.circuit.force(State::Closed);
    }

    /// The state machine itself.
    pub fn circuit(&self) -> &Arc<Circuit> {
        &self.circuit
    }
}
