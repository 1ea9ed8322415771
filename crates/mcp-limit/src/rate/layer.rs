//! [`RateLimitLayer`], its builder, and the shared limiter state.

use std::{
    borrow::Cow,
    collections::HashMap,
    sync::{Arc, atomic::AtomicU64},
    time::Duration,
};

use mcp_metrics::names;
use mcp_service::{McpRequest, MethodClass};
use metrics::Counter;
use moka::sync::Cache;
use tokio::time::Instant;
use tower_layer::Layer;
use xxhash_rust::xxh3::xxh3_128_with_seed;

use super::{Decision, Gcra, RateLimit};

/// Whose requests share a limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RateKey {
    /// Everyone's: one limit for the service.
    Global,
    /// Each principal's; requests without one share an anonymous limit.
    Principal,
    /// Each tool's (for `tools/call`; other requests by method).
    Tool,
    /// Each method's.
    Method,
}

/// A setting out of its range.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid rate limit setting `{setting}`: {problem}")]
pub struct ConfigError {
    /// The setting, by its builder name.
    pub setting: &'static str,
    /// What is wrong with it.
    pub problem: String,
}

/// Limits the rate of requests with GCRA: `requests` per `period`, bursts
/// of up to `burst`. Decides in `call`: a request over the limit is
/// rejected at once with [`McpError::RateLimited`](mcp_service::McpError::RateLimited)
/// and the time after which it would pass, or, with
/// [`max_wait`](RateLimitBuilder::max_wait), waits that long at most.
///
/// Every service the layer makes, and every clone, shares the limit.
/// Several layers stack: one per principal inside one global, for example.
///
/// ```
/// use std::time::Duration;
/// use mcp_limit::{RateKey, RateLimitLayer};
///
/// let per_user = RateLimitLayer::builder(20, Duration::from_secs(1))
///     .burst(40)
///     .key(RateKey::Principal)
///     .cost("generate_report", 10)
///     .build()?;
/// # let _ = per_user;
/// # Ok::<(), mcp_limit::ConfigError>(())
/// ```
#[derive(Debug, Clone)]
pub struct RateLimitLayer {
    limiter: Arc<Limiter>,
}

impl RateLimitLayer {
    /// A builder for `requests` per `period`. Defaults: burst equal to
    /// `requests`, one global limit, lifecycle methods and notifications
    /// exempt, no waiting, at most 100,000 keyed limits kept.
    pub fn builder(requests: u32, period: Duration) -> RateLimitBuilder {
        RateLimitBuilder {
            name: Cow::Borrowed("default"),
            requests,
            period,
            burst: requests,
            key: RateKey::Global,
            costs: HashMap::new(),
            exempt: vec![MethodClass::Lifecycle, MethodClass::Notification],
            max_wait: Duration::ZERO,
            max_keys: 100_000,
        }
    }

    /// Decides `request` against the limit now, without a service: the
    /// bucket is charged when the decision admits.
    pub fn check<R: McpRequest>(&self, request: &R) -> Decision {
        self.limiter.decide(request)
    }

    /// How many keyed limits are kept now (0 for a global limit).
    pub fn keys(&self) -> u64 {
        self.limiter.keys()
    }
}

impl<S> Layer<S> for RateLimitLayer {
    type Service = RateLimit<S>;

    fn layer(&self, inner: S) -> RateLimit<S> {
        RateLimit::new(inner, self.limiter.clone())
    }
}

/// Builds a [`RateLimitLayer`].
#[derive(Debug)]
pub struct RateLimitBuilder {
    name: Cow<'static, str>,
    requests: u32,
    period: Duration,
    burst: u32,
    key: RateKey,
    costs: HashMap<Box<str>, u32>,
    exempt: Vec<MethodClass>,
    max_wait: Duration,
    max_keys: u64,
}

impl RateLimitBuilder {
    /// A name for metrics. Default `"default"`.
    pub fn name(mut self, name: impl Into<Cow<'static, str>>) -> Self {
        self.name = name.into();
        self
    }
    /// The most cost admitted at once. Default: the rate's `requests`.
    pub fn burst(mut self, burst: u32) -> Self {
        self.burst = burst;
        self
    }
    /// Whose requests share a limit. Default [`RateKey::Global`].
    pub fn key(mut self, key: RateKey) -> Self {
        self.key = key;
        self
    }
    /// A call of `tool` costs `cost` instead of 1.
    pub fn cost(mut self, tool: &str, cost: u32) -> Self {
        self.costs.insert(tool.into(), cost);
        self
    }
    /// Requests of `class` pass without counting.
    pub fn exempt(mut self, class: MethodClass) -> Self {
        if !self.exempt.contains(&class) {
            self.exempt.push(class);
        }
        self
    }
    /// Requests of `class` count, even lifecycle ones.
    pub fn limit(mut self, class: MethodClass) -> Self {
        self.exempt.retain(|exempt| *exempt != class);
        self
    }
    /// Wait up to this long for the limit instead of rejecting. Default zero.
    pub fn max_wait(mut self, wait: Duration) -> Self {
        self.max_wait = wait;
        self
    }
    /// For keyed limits: how many keys are kept at most. Default 100,000.
    pub fn max_keys(mut self, keys: u64) -> Self {
        self.max_keys = keys;
        self
    }

    /// The layer, or which setting is out of range.
    pub fn build(self) -> Result<RateLimitLayer, ConfigError> {
        let fail = |setting, problem: String| Err(ConfigError { setting, problem });
        let Some(gcra) = Gcra::new(self.requests, self.period, self.burst) else {
            return fail(
                "rate",
                format!(
                    "{} per {:?} with burst {} is not a usable rate",
                    self.requests, self.period, self.burst
                ),
            );
        };
        if let Some((tool, cost)) = self
            .costs
            .iter()
            .find(|(_, cost)| u64::from(**cost) > gcra.burst() || **cost == 0)
        {
            return fail(
                "cost",
                format!("{tool} costs {cost}, outside 1..={}", gcra.burst()),
            );
        }
        if self.max_keys == 0 {
            return fail("max_keys", "must be at least 1".into());
        }
        // A key idle longer than its bucket takes to refill holds nothing,
        // so forgetting it then cannot let anyone burst twice.
        let refill = self.period.saturating_mul(self.burst) / self.requests.max(1);
        let buckets = (self.key != RateKey::Global).then(|| {
            Cache::builder()
                .max_capacity(self.max_keys)
                .time_to_idle(refill.max(Duration::from_secs(1)))
                .build()
        });
        let rejections =
            metrics::counter!(names::LIMIT_REJECTIONS, names::LIMITER => self.name.to_string());
        Ok(RateLimitLayer {
            limiter: Arc::new(Limiter {
                gcra,
                key: self.key,
                costs: self.costs,
                exempt: self.exempt,
                max_wait: nanos(self.max_wait),
                origin: Instant::now(),
                global: AtomicU64::new(0),
                buckets,
                rejections,
            }),
        })
    }
}

/// The state every clone shares.
#[derive(Debug)]
pub(crate) struct Limiter {
    gcra: Gcra,
    key: RateKey,
    costs: HashMap<Box<str>, u32>,
    exempt: Vec<MethodClass>,
    max_wait: u64,
    origin: Instant,
    global: AtomicU64,
    buckets: Option<Cache<u128, Arc<AtomicU64>>>,
    pub(crate) rejections: Counter,
}

impl Limiter {
    /// Decides `request` now; exempt requests are admitted uncounted.
    pub(crate) fn decide<R: McpRequest>(&self, request: &R) -> Decision {
        if self.exempt.contains(&request.class()) {
            return Decision::Admit;
        }
        let cost = request
            .tool_name()
            .and_then(|tool| self.costs.get(tool))
            .copied()
            .unwrap_or(1);
        let now = nanos(Instant::now().saturating_duration_since(self.origin));
        match (&self.buckets, self.bucket_key(request)) {
            (Some(buckets), Some(key)) => {
                let bucket = buckets.get_with(key, || Arc::new(AtomicU64::new(0)));
                self.gcra.check(&bucket, now, cost, self.max_wait)
            }
            _ => self.gcra.check(&self.global, now, cost, self.max_wait),
        }
    }

    /// The 128-bit name of the bucket `request` draws from; `None` for global.
    fn bucket_key<R: McpRequest>(&self, request: &R) -> Option<u128> {
        // Seeds keep principals, tools and methods apart.
        let named = |seed: u64, name: &str| xxh3_128_with_seed(name.as_bytes(), seed);
        match self.key {
            RateKey::Global => None,
            RateKey::Principal => Some(
                request
                    .principal()
                    .map_or(0, |principal| u128::from_le_bytes(*principal.as_bytes())),
            ),
            RateKey::Tool => Some(match request.tool_name() {
                Some(tool) => named(1, tool),
                None => named(2, request.method()),
            }),
            RateKey::Method => Some(named(2, request.method())),
        }
    }

    /// How many keyed limits are kept now.
    pub(crate) fn keys(&self) -> u64 {
        self.buckets.as_ref().map_or(0, |buckets| {
            buckets.run_pending_tasks();
            buckets.entry_count()
        })
    }
}

fn nanos(duration: Duration) -> u64 {
    u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX)
}
