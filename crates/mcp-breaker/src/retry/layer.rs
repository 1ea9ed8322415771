//! [`RetryLayer`], its builder, and the policy it applies.

use std::{collections::HashSet, sync::Arc, time::Duration};

use mcp_service::{McpRequest, MethodClass};
use tower_layer::Layer;

use super::{Retry, RetryBudget};
use crate::{classify::Classifier, jitter::Jitter};

/// Retries failed requests that are safe to repeat: lists, reads, and calls
/// of the tools named read-only. Other tool calls are never retried, nor
/// requests answering an `input_required` result.
///
/// Only failures are retried, as the [`Classifier`] sees them (timeouts,
/// unreachable upstreams, server errors): never our own rejections, client
/// errors or cancellations. Waits grow exponentially with jitter; a
/// [`RetryBudget`] caps retries at a fraction of recent requests so they
/// cannot multiply an outage; a cancelled request stops retrying.
///
/// ```
/// use std::time::Duration;
/// use mcp_breaker::RetryLayer;
///
/// let retry = RetryLayer::builder()
///     .max_retries(3)
///     .initial_backoff(Duration::from_millis(50))
///     .read_only_tools(["search", "get_weather"])
///     .build();
/// # let _ = retry;
/// ```
#[derive(Debug, Clone)]
pub struct RetryLayer {
    policy: Arc<Policy>,
}

impl RetryLayer {
    /// A builder with the defaults: 2 retries, 100 ms doubling to at most
    /// 2 s with 50 % jitter, a budget of 20 % of requests plus 10 a second
    /// over 10 s.
    pub fn builder() -> RetryBuilder {
        RetryBuilder::default()
    }

    /// Never retries: every call is made once, straight through.
    pub fn disabled() -> Self {
        Self::builder().max_retries(0).build()
    }
}

impl<S> Layer<S> for RetryLayer {
    type Service = Retry<S>;

    fn layer(&self, inner: S) -> Retry<S> {
        Retry::new(inner, self.policy.clone())
    }
}

/// Builds a [`RetryLayer`].
#[derive(Debug)]
pub struct RetryBuilder {
    max_retries: u32,
    initial_backoff: Duration,
    max_backoff: Duration,
    multiplier: f64,
    jitter: f64,
    read_only_tools: HashSet<Box<str>>,
    classifier: Classifier,
    budget_ratio: f64,
    budget_min_per_second: u32,
    budget_window: Duration,
}

impl Default for RetryBuilder {
    fn default() -> Self {
        Self {
            max_retries: 2,
            initial_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(2),
            multiplier: 2.0,
            jitter: 0.5,
            read_only_tools: HashSet::new(),
            classifier: Classifier::default(),
            budget_ratio: 0.2,
            budget_min_per_second: 10,
            budget_window: Duration::from_secs(10),
        }
    }
}

impl RetryBuilder {
    /// Retries after the first attempt. Default 2.
    pub fn max_retries(mut self, retries: u32) -> Self {
        self.max_retries = retries;
        self
    }
    /// The first wait. Default 100 ms.
    pub fn initial_backoff(mut self, wait: Duration) -> Self {
        self.initial_backoff = wait;
        self
    }
    /// The longest wait. Default 2 s.
    pub fn max_backoff(mut self, wait: Duration) -> Self {
        self.max_backoff = wait;
        self
    }
    /// The factor each wait grows by, at least 1. Default 2.
    pub fn multiplier(mut self, multiplier: f64) -> Self {
        self.multiplier = multiplier.max(1.0);
        self
    }
    /// How much shorter than computed a wait may be, as a fraction in
    /// [0, 1]. Default 0.5.
    pub fn jitter(mut self, fraction: f64) -> Self {
        self.jitter = fraction.clamp(0.0, 1.0);
        self
    }
    /// Tools that only read (`readOnlyHint: true`), whose calls may be retried.
    pub fn read_only_tools<I: IntoIterator<Item = T>, T: AsRef<str>>(mut self, tools: I) -> Self {
        self.read_only_tools
            .extend(tools.into_iter().map(|tool| tool.as_ref().into()));
        self
    }
    /// The budget: retries at most `ratio` of requests over `window`, plus
    /// `min_per_second`. Default 0.2, 10, 10 s.
    pub fn budget(mut self, ratio: f64, min_per_second: u32, window: Duration) -> Self {
        self.budget_ratio = ratio;
        self.budget_min_per_second = min_per_second;
        self.budget_window = window;
        self
    }
    /// What counts as a failure worth retrying.
    pub fn classifier(mut self, classifier: Classifier) -> Self {
        self.classifier = classifier;
        self
    }

    /// The layer.
    pub fn build(self) -> RetryLayer {
        RetryLayer {
            policy: Arc::new(Policy {
                max_retries: self.max_retries,
                initial_backoff: self.initial_backoff,
                max_backoff: self.max_backoff.max(self.initial_backoff),
                multiplier: self.multiplier,
                jitter_fraction: self.jitter,
                read_only_tools: self.read_only_tools,
                classifier: self.classifier,
                budget: RetryBudget::new(
                    self.budget_ratio,
                    self.budget_min_per_second,
                    self.budget_window,
                ),
                jitter: Jitter::new(),
            }),
        }
    }
}

#[derive(Debug)]
pub(crate) struct Policy {
    pub(crate) max_retries: u32,
    initial_backoff: Duration,
    max_backoff: Duration,
    multiplier: f64,
    jitter_fraction: f64,
    read_only_tools: HashSet<Box<str>>,
    pub(crate) classifier: Classifier,
    pub(crate) budget: RetryBudget,
    jitter: Jitter,
}

impl Policy {
    /// Whether repeating `request` cannot change anything twice.
    pub(crate) fn is_safe<R: McpRequest>(&self, request: &R) -> bool {
        if request.is_retry() || self.max_retries == 0 {
            return false;
        }
        match request.class() {
            MethodClass::List | MethodClass::Read => true,
            MethodClass::ToolCall => request
                .tool_name()
                .is_some_and(|tool| self.read_only_tools.contains(tool)),
            _ => false,
        }
    }

    /// The wait before retry number `attempt` (0 for the first).
    pub(crate) fn backoff(&self, attempt: u32) -> Duration {
        let grown =
            self.initial_backoff.as_secs_f64() * self.multiplier.powi(attempt.min(64) as i32);
        let capped = grown.min(self.max_backoff.as_secs_f64());
        // Jitter only shortens, so `max_backoff` holds.
        let jittered = capped * (1.0 - self.jitter_fraction * self.jitter.unit());
        Duration::from_secs_f64(jittered.max(0.0))
    }
}
