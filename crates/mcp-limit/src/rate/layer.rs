//! [`RateLimitLayer`], its builder, and the shared limiter state.

use std::{
    borrow::Cow,
    collections::HashMap,
    fmt,
    sync::{Arc, atomic::AtomicU64},
    time::Duration,
};

use mcp_metrics::names;
use mcp_service::{ClassSet, Clock, McpRequest, MethodClass, clock::saturating_nanos};
use metrics::Counter;
use tower_layer::Layer;
use xxhash_rust::xxh3::xxh3_64_with_seed;

#[cfg(feature = "redis")]
use mcp_service::redis::ConnectionManager;

#[cfg(feature = "redis")]
use super::redis::{RedisBuckets, WhenUnavailable};
use super::{Decision, Gcra, RateLimit, buckets::Buckets};

/// A user function naming the limit a request draws from; `None` lets the
/// request pass uncounted.
pub type KeyFn = dyn Fn(&dyn McpRequest) -> Option<String> + Send + Sync;

/// Whose requests share a limit.
#[derive(Clone)]
pub enum RateKey {
    /// Everyone's: one limit for the service.
    Global,
    /// Each principal's; requests without one share an anonymous limit.
    Principal,
    /// Each tool's (for `tools/call`; other requests by method).
    Tool,
    /// Each method's.
    Method,
    /// One per name a user function gives, such as a tenant header.
    Custom(Arc<KeyFn>),
}

impl RateKey {
    /// Keys requests by what `key` returns; `None` lets a request pass.
    ///
    /// ```
    /// use std::time::Duration;
    /// use mcp_limit::{RateKey, RateLimitLayer};
    ///
    /// let per_tenant = RateLimitLayer::builder(100, Duration::from_secs(1))
    ///     .key(RateKey::custom(|request| {
    ///         let tenant = request.http_parts()?.headers.get("x-tenant")?;
    ///         Some(tenant.to_str().ok()?.to_owned())
    ///     }))
    ///     .build()?;
    /// # let _ = per_tenant;
    /// # Ok::<(), mcp_limit::ConfigError>(())
    /// ```
    pub fn custom(key: impl Fn(&dyn McpRequest) -> Option<String> + Send + Sync + 'static) -> Self {
        Self::Custom(Arc::new(key))
    }
}

impl fmt::Debug for RateKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Global => "Global",
            Self::Principal => "Principal",
            Self::Tool => "Tool",
            Self::Method => "Method",
            Self::Custom(_) => "Custom",
        })
    }
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
    /// A layer that limits nothing and counts nothing: every call passes
    /// straight through, at the cost of one branch.
    pub fn disabled() -> Self {
        let limiter = Limiter {
            passthrough: true,
            #[cfg(feature = "redis")]
            redis: None,
            #[cfg(feature = "redis")]
            fallbacks: Counter::noop(),
            admissions: Counter::noop(),
            rejections: Counter::noop(),
            gcra: Gcra::new(1, Duration::from_secs(1), 1)
                .unwrap_or_else(|| unreachable!("one a second is a rate")),
            key: RateKey::Global,
            costs: HashMap::new(),
            exempt: ClassSet::ALL,
            max_wait: 0,
            clock: Clock::new(),
            global: AtomicU64::new(0),
            buckets: None,
        };
        Self {
            limiter: Arc::new(limiter),
        }
    }

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
            exempt: ClassSet::of(&[MethodClass::Lifecycle, MethodClass::Notification]),
            max_wait: Duration::ZERO,
            max_keys: 100_000,
            #[cfg(feature = "redis")]
            redis: None,
            #[cfg(feature = "redis")]
            when_unavailable: WhenUnavailable::Local { nodes: 1 },
            #[cfg(feature = "redis")]
            redis_timeout: DEFAULT_REDIS_TIMEOUT,
        }
    }

    /// Decides `request` against the limit now, without a service: the
    /// bucket is charged when the decision admits. A limit kept in Redis is
    /// decided here against this process's local share; its service asks
    /// Redis.
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
    exempt: ClassSet,
    max_wait: Duration,
    max_keys: u64,
    #[cfg(feature = "redis")]
    redis: Option<(ConnectionManager, String)>,
    #[cfg(feature = "redis")]
    when_unavailable: WhenUnavailable,
    #[cfg(feature = "redis")]
    redis_timeout: Duration,
}

/// How long a request waits for Redis's decision by default: the default
/// response timeout of [`mcp_service::redis::RedisOptions`].
#[cfg(feature = "redis")]
pub const DEFAULT_REDIS_TIMEOUT: Duration = Duration::from_millis(250);

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
        self.exempt = self.exempt.with(class);
        self
    }
    /// Requests of `class` count, even lifecycle ones.
    pub fn limit(mut self, class: MethodClass) -> Self {
        self.exempt = self.exempt.without(class);
        self
    }
    /// Wait up to this long for the limit instead of rejecting. Default zero.
    pub fn max_wait(mut self, wait: Duration) -> Self {
        self.max_wait = wait;
        self
    }
    /// For keyed limits: how many keys are kept at most (about 40 bytes
    /// each). Default 100,000.
    pub fn max_keys(mut self, keys: u64) -> Self {
        self.max_keys = keys;
        self
    }

    /// Keeps the limit in Redis, shared by every process that uses the same
    /// `namespace` and limiter [`name`](Self::name): decided atomically on
    /// the server, by the server's clock. Without it the limit is this
    /// process's own. See [`mcp_service::redis::connect`] for the connection.
    #[cfg(feature = "redis")]
    pub fn redis(mut self, connection: ConnectionManager, namespace: impl Into<String>) -> Self {
        self.redis = Some((connection, namespace.into()));
        self
    }
    /// What a Redis-kept limit does while Redis cannot answer. Default:
    /// [`WhenUnavailable::Local`] with one node, the whole limit locally.
    #[cfg(feature = "redis")]
    pub fn when_redis_unavailable(mut self, when: WhenUnavailable) -> Self {
        self.when_unavailable = when;
        self
    }

    /// How long a request waits for Redis's decision, reconnection
    /// included, before it is decided as
    /// [`when_redis_unavailable`](Self::when_redis_unavailable) says; after
    /// three such failures in a row Redis is not asked for a second or two.
    /// Default [`DEFAULT_REDIS_TIMEOUT`]; give it the connection's response
    /// timeout.
    #[cfg(feature = "redis")]
    pub fn redis_timeout(mut self, timeout: Duration) -> Self {
        self.redis_timeout = timeout;
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
        let buckets = (!matches!(self.key, RateKey::Global)).then(|| Buckets::new(self.max_keys));
        let name = self.name.to_string();
        #[cfg(feature = "redis")]
        let (redis, gcra) = match self.redis {
            None => (None, gcra),
            Some((connection, namespace)) => {
                let interval_micros = self.period.as_micros() / u128::from(self.requests);
                let Ok(interval_micros @ 1..) = u64::try_from(interval_micros) else {
                    return fail(
                        "rate",
                        "a limit kept in Redis has microsecond resolution: at most \
                         1,000,000 requests a second"
                            .into(),
                    );
                };
                let remote = match RedisBuckets::new(
                    connection,
                    format!("{namespace}:rate:{name}"),
                    &name,
                    interval_micros,
                    self.burst,
                    self.max_wait,
                    self.redis_timeout,
                ) {
                    Ok(remote) => remote,
                    Err(error) => return fail("redis", error.to_string()),
                };
                // Locally, this process's share is the fallback.
                let local = match self.when_unavailable {
                    WhenUnavailable::Local { nodes: nodes @ 2.. } => Gcra::new(
                        self.requests,
                        self.period.saturating_mul(nodes),
                        (self.burst / nodes).max(1),
                    ),
                    _ => Some(gcra),
                };
                let Some(local) = local else {
                    return fail("when_redis_unavailable", "no usable local share".into());
                };
                (Some((remote, self.when_unavailable)), local)
            }
        };
        Ok(RateLimitLayer {
            limiter: Arc::new(Limiter {
                #[cfg(feature = "redis")]
                redis,
                #[cfg(feature = "redis")]
                fallbacks: metrics::counter!(names::LIMIT_FALLBACKS, names::LIMITER => name.clone()),
                admissions: metrics::counter!(names::LIMIT_ADMISSIONS, names::LIMITER => name.clone()),
                rejections: metrics::counter!(
                    names::LIMIT_REJECTIONS,
                    names::LIMITER => name,
                    names::REASON => names::REASON_RATE_LIMITED,
                ),
                passthrough: false,
                gcra,
                key: self.key,
                costs: self.costs,
                exempt: self.exempt,
                max_wait: saturating_nanos(self.max_wait),
                clock: Clock::new(),
                global: AtomicU64::new(0),
                buckets,
            }),
        })
    }
}

/// The state every clone shares.
#[derive(Debug)]
pub(crate) struct Limiter {
    /// True for [`RateLimitLayer::disabled`]: nothing is counted.
    pub(crate) passthrough: bool,
    gcra: Gcra,
    key: RateKey,
    costs: HashMap<Box<str>, u32>,
    exempt: ClassSet,
    max_wait: u64,
    clock: Clock,
    global: AtomicU64,
    buckets: Option<Buckets>,
    #[cfg(feature = "redis")]
    redis: Option<(RedisBuckets, WhenUnavailable)>,
    #[cfg(feature = "redis")]
    fallbacks: Counter,
    pub(crate) admissions: Counter,
    pub(crate) rejections: Counter,
}

/// How a request meets the limit.
pub(crate) enum Route {
    /// Decided here and now.
    Decided(Decision),
    /// Decided by Redis; the future resolves to the decision.
    #[cfg(feature = "redis")]
    Remote(std::pin::Pin<Box<dyn Future<Output = Decision> + Send>>),
}

impl Limiter {
    /// Decides `request` now; exempt requests are admitted uncounted. A
    /// limit kept in Redis is decided against the local share.
    #[inline]
    pub(crate) fn decide<R: McpRequest>(&self, request: &R) -> Decision {
        match self.charge(request) {
            Some((key, cost)) => self.decide_locally(key, cost),
            None => Decision::Admit,
        }
    }

    /// Where `request` is decided: here, or by Redis.
    #[inline]
    pub(crate) fn route<R: McpRequest>(self: &Arc<Self>, request: &R) -> Route {
        let Some((key, cost)) = self.charge(request) else {
            return Route::Decided(Decision::Admit);
        };
        #[cfg(feature = "redis")]
        if let Some((remote, _)) = &self.redis {
            let (remote, limiter) = (remote.clone(), self.clone());
            return Route::Remote(Box::pin(async move {
                match remote.check(key, cost).await {
                    Ok(decision) => decision,
                    Err(_) => limiter.unavailable(key, cost),
                }
            }));
        }
        Route::Decided(self.decide_locally(key, cost))
    }

    /// The bucket key and cost of `request`; `None` when it passes uncounted.
    #[inline]
    fn charge<R: McpRequest>(&self, request: &R) -> Option<(u64, u32)> {
        if self.exempt.contains(request.class()) {
            return None;
        }
        let cost = match request.tool_name() {
            Some(tool) if !self.costs.is_empty() => self.costs.get(tool).copied().unwrap_or(1),
            _ => 1,
        };
        Some((self.bucket_key(request)?, cost))
    }

    #[inline]
    fn decide_locally(&self, key: u64, cost: u32) -> Decision {
        let now = self.clock.nanos();
        let check = |bucket: &AtomicU64| self.gcra.check(bucket, now, cost, self.max_wait);
        match &self.buckets {
            None => check(&self.global),
            Some(buckets) => buckets.with(key, now, check),
        }
    }

    /// Redis did not answer: admit, or decide against the local share.
    #[cfg(feature = "redis")]
    fn unavailable(&self, key: u64, cost: u32) -> Decision {
        self.fallbacks.increment(1);
        match self.redis.as_ref().map(|(_, when)| when) {
            Some(WhenUnavailable::FailOpen) => Decision::Admit,
            _ => self.decide_locally(key, cost),
        }
    }

    /// The 64-bit name of the bucket `request` draws from; `None` when it
    /// is not limited.
    fn bucket_key<R: McpRequest>(&self, request: &R) -> Option<u64> {
        // Seeds keep principals, tools, methods and user keys apart.
        let named = |seed: u64, name: &str| xxh3_64_with_seed(name.as_bytes(), seed);
        Some(match &self.key {
            RateKey::Global => 0,
            RateKey::Principal => request.principal().map_or(0, |principal| {
                let [a, b, c, d, e, f, g, h, ..] = *principal.as_bytes();
                u64::from_le_bytes([a, b, c, d, e, f, g, h])
            }),
            RateKey::Tool => match request.tool_name() {
                Some(tool) => named(1, tool),
                None => named(2, request.method()),
            },
            RateKey::Method => named(2, request.method()),
            RateKey::Custom(key) => named(3, &key(request)?),
        })
    }

    /// How many keyed limits are kept now.
    pub(crate) fn keys(&self) -> u64 {
        self.buckets
            .as_ref()
            .map_or(0, |buckets| buckets.len() as u64)
    }
}
