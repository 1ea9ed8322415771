//! [`CacheLayer`] and its builder.

use std::{borrow::Cow, sync::Arc, time::Duration};

use mcp_service::{CacheScope, Clock};
use tower_layer::Layer;

use crate::{
    core::Core,
    error::ConfigError,
    flight::Flights,
    freshness::{Policy, Rule},
    generations::Generations,
    invalidate::Invalidator,
    l1::L1,
    plan::{Rules, ToolInfo},
    service::Cache,
    signals::{CacheCounts, Signals},
};

/// A tower layer that caches MCP results; see the [crate docs](crate).
///
/// Clones share one cache: build it once and hand clones to every session.
#[derive(Clone)]
pub struct CacheLayer {
    pub(crate) core: Arc<Core>,
}

impl std::fmt::Debug for CacheLayer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CacheLayer")
            .field("rules", &self.core.rules)
            .field("policy", &self.core.policy)
            .finish_non_exhaustive()
    }
}

impl<S> Layer<S> for CacheLayer {
    type Service = Cache<S>;

    fn layer(&self, inner: S) -> Cache<S> {
        Cache::new(inner, self.core.clone())
    }
}

impl CacheLayer {
    /// A builder with the defaults below.
    pub fn builder() -> CacheBuilder {
        CacheBuilder::default()
    }

    /// A cache with every default: 64 MiB in memory, no Redis.
    pub fn new() -> Self {
        // The defaults are valid by construction.
        match Self::builder().build() {
            Ok(layer) => layer,
            Err(error) => unreachable!("default cache settings are valid: {error}"),
        }
    }

    /// A cache that keeps nothing: every call goes straight to the inner
    /// service, at the cost of one branch.
    pub fn disabled() -> Self {
        let builder = Self::builder().memory(false);
        Self {
            core: Arc::new(builder.core(false, Arc::new(Signals::noop()))),
        }
    }

    /// Whether the cache keeps anything (see [`disabled`](Self::disabled)).
    pub fn is_enabled(&self) -> bool {
        self.core.enabled
    }

    /// The handle that drops entries, here and on every node.
    pub fn invalidator(&self) -> Invalidator {
        Invalidator::new(self.core.clone())
    }

    /// Lookups by outcome since the cache was built.
    pub fn counts(&self) -> CacheCounts {
        self.core.signals.counts()
    }

    /// Bytes held in memory, as weighed (entries plus overhead).
    pub fn weighted_size(&self) -> u64 {
        self.core.l1.as_ref().map_or(0, L1::weighted_size)
    }

    /// Entries held in memory.
    pub fn entry_count(&self) -> u64 {
        self.core.l1.as_ref().map_or(0, L1::entry_count)
    }

    /// Applies pending evictions now, so [`weighted_size`](Self::weighted_size)
    /// and [`entry_count`](Self::entry_count) are exact.
    pub fn sync(&self) {
        if let Some(l1) = &self.core.l1 {
            l1.sync();
        }
    }

    /// Whether the Redis tier is connected and in step with the others.
    #[cfg(feature = "redis")]
    pub fn is_shared(&self) -> bool {
        self.core
            .shared
            .as_ref()
            .is_some_and(crate::shared::Shared::is_connected)
    }
}

impl Default for CacheLayer {
    fn default() -> Self {
        Self::new()
    }
}

/// The knobs of a [`CacheLayer`], each with the default a careful operator
/// would pick.
pub struct CacheBuilder {
    name: Cow<'static, str>,
    max_bytes: u64,
    max_entry_bytes: usize,
    default_ttl: Duration,
    max_ttl: Duration,
    assume_scope: CacheScope,
    stale_while_revalidate: Option<Duration>,
    stale_if_error: Option<Duration>,
    hit_marker: bool,
    flight_timeout: Duration,
    memory: bool,
    rules: Rules,
    #[cfg(feature = "redis")]
    redis: Option<crate::shared::RedisTier>,
}

impl Default for CacheBuilder {
    fn default() -> Self {
        Self {
            name: Cow::Borrowed("cache"),
            max_bytes: 64 << 20,
            max_entry_bytes: 1 << 20,
            default_ttl: Duration::from_secs(30),
            max_ttl: Duration::from_secs(3600),
            assume_scope: CacheScope::Private,
            stale_while_revalidate: None,
            stale_if_error: Some(Duration::from_secs(300)),
            hit_marker: false,
            flight_timeout: Duration::from_secs(30),
            memory: true,
            rules: Rules::default(),
            #[cfg(feature = "redis")]
            redis: None,
        }
    }
}

impl std::fmt::Debug for CacheBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CacheBuilder")
            .field("name", &self.name)
            .field("max_bytes", &self.max_bytes)
            .field("rules", &self.rules)
            .finish_non_exhaustive()
    }
}

impl CacheBuilder {
    /// The name in metrics (label `cache`) and logs. Default `"cache"`.
    #[must_use]
    pub fn name(mut self, name: impl Into<Cow<'static, str>>) -> Self {
        self.name = name.into();
        self
    }

    /// The bound of the in-memory tier, in bytes of results (plus about 160
    /// bytes an entry). Default 64 MiB.
    #[must_use]
    pub fn max_bytes(mut self, bytes: u64) -> Self {
        self.max_bytes = bytes;
        self
    }

    /// Results larger than this (their JSON) are never kept. Default 1 MiB.
    #[must_use]
    pub fn max_entry_bytes(mut self, bytes: usize) -> Self {
        self.max_entry_bytes = bytes;
        self
    }

    /// How long results without `ttlMs` stay fresh. Default 30 s.
    #[must_use]
    pub fn default_ttl(mut self, ttl: Duration) -> Self {
        self.default_ttl = ttl;
        self
    }

    /// No result stays fresh longer than this, whatever it or a rule says.
    /// Default 1 h.
    #[must_use]
    pub fn max_ttl(mut self, ttl: Duration) -> Self {
        self.max_ttl = ttl;
        self
    }

    /// The scope of results without `cacheScope` (older servers, tool
    /// results). Default private: kept per principal, and not at all for
    /// anonymous askers, so nothing leaks between callers unless the server
    /// or a rule says it may.
    #[must_use]
    pub fn assume_scope(mut self, scope: CacheScope) -> Self {
        self.assume_scope = scope;
        self
    }

    /// Serve a result this long past its freshness while one background
    /// call refreshes it. Default off.
    #[must_use]
    pub fn stale_while_revalidate(mut self, window: Option<Duration>) -> Self {
        self.stale_while_revalidate = window;
        self
    }

    /// Serve a result this long past its freshness when the inner service
    /// fails or times out (server errors only, never the client's own).
    /// Default 5 min.
    #[must_use]
    pub fn stale_if_error(mut self, window: Option<Duration>) -> Self {
        self.stale_if_error = window;
        self
    }

    /// Mark served results with `_meta["dev.mcp-stack/cache"]`: tier, age
    /// in milliseconds, stale. Default off.
    #[must_use]
    pub fn hit_marker(mut self, on: bool) -> Self {
        self.hit_marker = on;
        self
    }

    /// Requests waiting for another's call of the same key give up this
    /// long after that call started, with `McpError::Timeout`. Default 30 s.
    #[must_use]
    pub fn flight_timeout(mut self, timeout: Duration) -> Self {
        self.flight_timeout = timeout;
        self
    }

    /// Whether the in-memory tier is on. Default on; off leaves Redis and
    /// single-flight.
    #[must_use]
    pub fn memory(mut self, on: bool) -> Self {
        self.memory = on;
        self
    }

    /// Caches `method` (or changes its rule): `prompts/get` and
    /// `completion/complete` are off by default. The defaults are in
    /// [`DEFAULT_METHODS`](crate::DEFAULT_METHODS).
    #[must_use]
    pub fn method(mut self, method: &str, rule: Rule) -> Self {
        match self
            .rules
            .methods
            .iter_mut()
            .find(|(name, _)| &**name == method)
        {
            Some((_, existing)) => *existing = rule,
            None => self.rules.methods.push((method.into(), rule)),
        }
        self
    }

    /// Never caches `method`.
    #[must_use]
    pub fn without_method(mut self, method: &str) -> Self {
        self.rules.methods.retain(|(name, _)| &**name != method);
        self
    }

    /// Caches `tools/call` of `tool` under `rule`, when
    /// [`tool_info`](Self::tool_info) says it is read-only.
    #[must_use]
    pub fn tool(mut self, tool: &str, rule: Rule) -> Self {
        self.rules.tools.insert(tool.into(), rule);
        self
    }

    /// Where the cache learns whether a tool is read-only.
    #[must_use]
    pub fn tool_info(mut self, info: impl ToolInfo) -> Self {
        self.rules.tool_info = Some(Arc::new(info));
        self
    }

    /// The shared Redis tier and backplane. Without it the cache is
    /// in-process only.
    #[cfg(feature = "redis")]
    #[must_use]
    pub fn redis(mut self, tier: crate::shared::RedisTier) -> Self {
        self.redis = Some(tier);
        self
    }

    /// The layer, or what is wrong with the settings.
    pub fn build(self) -> Result<CacheLayer, ConfigError> {
        if self.max_bytes == 0 {
            return Err(ConfigError::NoCapacity);
        }
        if self.max_entry_bytes as u64 > self.max_bytes {
            return Err(ConfigError::EntryOverCapacity {
                entry: self.max_entry_bytes,
                total: self.max_bytes,
            });
        }
        if self.max_ttl.is_zero() {
            return Err(ConfigError::NoTtl);
        }
        if let Some((method, _)) = self
            .rules
            .methods
            .iter()
            .find(|(name, _)| name.is_empty() || &**name == "tools/call")
        {
            return Err(ConfigError::BadMethod(method.to_string()));
        }
        if self.rules.tool_info.is_none()
            && let Some(tool) = self.rules.tools.keys().next()
        {
            return Err(ConfigError::ToolWithoutInfo(tool.to_string()));
        }
        let signals = Arc::new(Signals::new(&self.name));
        #[cfg(feature = "redis")]
        #[cfg(feature = "redis")]
        let (tier, builder) = self.take_redis();
        #[cfg(feature = "redis")]
        let (shared, tasks) = match tier {
            Some(tier) => {
                if tokio::runtime::Handle::try_current().is_err() {
                    return Err(ConfigError::NoRuntime);
                }
                let (shared, tasks) = crate::shared::Shared::new(
                    tier,
                    &builder.name,
                    builder.max_entry_bytes,
                    signals.clone(),
                )
                .map_err(|error| ConfigError::Breaker(error.to_string()))?;
                (Some(shared), Some(tasks))
            }
            None => (None, None),
        };
        #[cfg(not(feature = "redis"))]
        let builder = self;
        let core = builder.core(true, signals);
        #[cfg(feature = "redis")]
        let core = Core { shared, ..core };
        let core = Arc::new(core);
        #[cfg(feature = "redis")]
        if let Some(tasks) = tasks {
            tasks.start(Arc::downgrade(&core));
        }
        Ok(CacheLayer { core })
    }

    /// The Redis tier, taken out of the settings.
    #[cfg(feature = "redis")]
    fn take_redis(mut self) -> (Option<crate::shared::RedisTier>, Self) {
        (self.redis.take(), self)
    }

    /// The core these settings describe, without a shared tier.
    fn core(self, enabled: bool, signals: Arc<Signals>) -> Core {
        Core {
            enabled,
            rules: self.rules,
            policy: Policy {
                default_ttl: self.default_ttl,
                max_ttl: self.max_ttl,
                assume_scope: self.assume_scope,
                stale_while_revalidate: self.stale_while_revalidate.unwrap_or_default(),
                stale_if_error: self.stale_if_error.unwrap_or_default(),
            },
            max_entry_bytes: self.max_entry_bytes,
            hit_marker: self.hit_marker,
            flight_timeout: self.flight_timeout,
            clock: Clock::new(),
            l1: self
                .memory
                .then(|| L1::new(self.max_bytes, signals.clone())),
            flights: Flights::new(),
            generations: Generations::new(),
            signals,
            #[cfg(feature = "redis")]
            shared: None,
        }
    }
}
