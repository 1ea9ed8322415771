//! [`McpStack`]: every layer's knobs in one builder, with the defaults a
//! careful operator would pick.

use std::{fmt::Write as _, sync::Arc, time::Duration};

use mcp_breaker::{
    CircuitBreakerBuilder, CircuitBreakerLayer, RetryBuilder, RetryLayer, TimeoutLayer,
};
use mcp_cache::{CacheBuilder, CacheLayer};
use mcp_limit::{
    AdaptiveLimitBuilder, AdaptiveLimitLayer, ConcurrencyLimitBuilder, ConcurrencyLimitLayer,
    RateLimitBuilder, RateLimitLayer,
};
use mcp_metrics::{MetricsBuilder, MetricsLayer, Stats, StatsBuilder};
use mcp_stream::{ChunkLayer, ChunkLayerBuilder, PaginationLayer, PaginationLayerBuilder};

use crate::{
    error::StackError,
    layer::{Parts, StackHandler, StackLayer},
};

/// How the stack reaches Redis.
#[derive(Debug, Clone)]
pub(crate) struct RedisSettings {
    pub(crate) url: String,
    #[cfg(feature = "redis")]
    pub(crate) options: mcp_service::redis::RedisOptions,
    #[cfg_attr(not(feature = "redis"), allow(dead_code))]
    pub(crate) prefix: String,
}

/// A stack of mcp-stack layers around an MCP server, configured in one
/// place and composed in the order that works (outermost first): metrics,
/// rate limits, chunked reads, pagination, cache, bulkheads, adaptive
/// limit, circuit breaker, timeout, retry.
///
/// The defaults, each changeable with its method:
///
/// | layer | default |
/// |---|---|
/// | metrics | on: the OpenTelemetry MCP histograms, live [`Stats`] over 60 s, Prometheus installed as the global recorder unless one is |
/// | rate limits | none until [`rate_limit`](Self::rate_limit) |
/// | chunked reads and size guard | on: 4 MiB chunks, no message over 16 MiB |
/// | pagination | on: pages of 100 |
/// | cache | on: 64 MiB in memory, the MCP freshness and scope rules |
/// | bulkheads | on: 512 requests in flight, lifecycle exempt |
/// | adaptive limit | off |
/// | circuit breaker | on: trips at 50 % failures of the last 100 calls (20 at least), open 10 s |
/// | timeout | 30 s |
/// | retry | on: lists, reads and declared read-only tools, within a 20 % budget |
/// | Redis | off; [`redis`](Self::redis) turns on the shared cache tier, its backplane and global rate limits |
///
/// ```
/// use std::time::Duration;
/// use mcp_stack::McpStack;
/// use mcp_limit::{RateKey, RateLimitLayer};
///
/// # #[derive(Clone)] struct MyServer;
/// # impl rmcp::ServerHandler for MyServer {}
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// let handler = McpStack::new()
///     .rate_limit(RateLimitLayer::builder(20, Duration::from_secs(1)).key(RateKey::Principal))
///     .cache(|cache| cache.max_bytes(128 << 20))
///     .wrap(MyServer)?;
/// // `handler` is an rmcp ServerHandler: serve it over stdio or HTTP as before.
/// # let _ = handler;
/// # Ok::<(), mcp_stack::StackError>(())
/// # }).unwrap();
/// ```
pub struct McpStack {
    pub(crate) metrics: Option<MetricsBuilder>,
    pub(crate) stats: Option<StatsBuilder>,
    pub(crate) prometheus: bool,
    pub(crate) rate_limits: Vec<RateLimitBuilder>,
    pub(crate) chunk: Option<ChunkLayerBuilder>,
    pub(crate) pagination: Option<PaginationLayerBuilder>,
    pub(crate) cache: Option<CacheBuilder>,
    pub(crate) concurrency: Option<ConcurrencyLimitBuilder>,
    pub(crate) adaptive: Option<AdaptiveLimitBuilder>,
    pub(crate) breaker: Option<CircuitBreakerBuilder>,
    pub(crate) timeout: Option<TimeoutLayer>,
    pub(crate) retry: Option<RetryBuilder>,
    pub(crate) redis: Option<RedisSettings>,
}

impl std::fmt::Debug for McpStack {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("McpStack")
            .field("metrics", &self.metrics.is_some())
            .field("rate_limits", &self.rate_limits.len())
            .field("cache", &self.cache.is_some())
            .field(
                "redis",
                &self.redis.as_ref().map(|redis| redact(&redis.url)),
            )
            .finish_non_exhaustive()
    }
}

impl Default for McpStack {
    fn default() -> Self {
        Self::new()
    }
}

/// In-flight requests the default bulkhead admits.
pub const DEFAULT_MAX_IN_FLIGHT: usize = 512;

/// The deadline of a request without one of its own.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

impl McpStack {
    /// A stack with the defaults above.
    pub fn new() -> Self {
        Self {
            metrics: Some(MetricsLayer::builder()),
            stats: Some(Stats::builder()),
            prometheus: true,
            rate_limits: Vec::new(),
            chunk: Some(ChunkLayer::builder()),
            pagination: Some(PaginationLayer::builder()),
            cache: Some(CacheLayer::builder()),
            concurrency: Some(ConcurrencyLimitLayer::builder().default_pool(DEFAULT_MAX_IN_FLIGHT)),
            adaptive: None,
            breaker: Some(CircuitBreakerLayer::builder()),
            timeout: Some(TimeoutLayer::new(DEFAULT_TIMEOUT)),
            retry: Some(RetryLayer::builder()),
            redis: None,
        }
    }

    /// A stack with every layer off: add what you want.
    pub fn bare() -> Self {
        Self {
            metrics: None,
            stats: None,
            prometheus: false,
            rate_limits: Vec::new(),
            chunk: None,
            pagination: None,
            cache: None,
            concurrency: None,
            adaptive: None,
            breaker: None,
            timeout: None,
            retry: None,
            redis: None,
        }
    }

    /// Configures the metrics layer (turning it on).
    #[must_use]
    pub fn metrics(mut self, configure: impl FnOnce(MetricsBuilder) -> MetricsBuilder) -> Self {
        self.metrics = Some(configure(
            self.metrics.take().unwrap_or_else(MetricsLayer::builder),
        ));
        self
    }

    /// Turns metrics, statistics and Prometheus off.
    #[must_use]
    pub fn no_metrics(mut self) -> Self {
        self.metrics = None;
        self.stats = None;
        self.prometheus = false;
        self
    }

    /// Configures the live statistics (window, latency objectives).
    #[must_use]
    pub fn stats(mut self, configure: impl FnOnce(StatsBuilder) -> StatsBuilder) -> Self {
        self.stats = Some(configure(self.stats.take().unwrap_or_else(Stats::builder)));
        self
    }

    /// Whether to install the Prometheus recorder as the process's global
    /// `metrics` recorder (once per process; skipped when another recorder
    /// is installed). Default on.
    #[must_use]
    pub fn prometheus(mut self, install: bool) -> Self {
        self.prometheus = install;
        self
    }

    /// Adds a rate limit; at most two (say, one per principal and one for
    /// everyone), applied in the order added. Compose more with
    /// `tower::ServiceBuilder`.
    #[must_use]
    pub fn rate_limit(mut self, limit: RateLimitBuilder) -> Self {
        self.rate_limits.push(limit);
        self
    }

    /// Configures chunked reads and the size guard (turning them on).
    #[must_use]
    pub fn chunking(
        mut self,
        configure: impl FnOnce(ChunkLayerBuilder) -> ChunkLayerBuilder,
    ) -> Self {
        self.chunk = Some(configure(
            self.chunk.take().unwrap_or_else(ChunkLayer::builder),
        ));
        self
    }

    /// Turns chunked reads and the size guard off.
    #[must_use]
    pub fn no_chunking(mut self) -> Self {
        self.chunk = None;
        self
    }

    /// Configures list pagination (turning it on).
    #[must_use]
    pub fn pagination(
        mut self,
        configure: impl FnOnce(PaginationLayerBuilder) -> PaginationLayerBuilder,
    ) -> Self {
        self.pagination = Some(configure(
            self.pagination
                .take()
                .unwrap_or_else(PaginationLayer::builder),
        ));
        self
    }

    /// Turns pagination off: lists pass as the server makes them.
    #[must_use]
    pub fn no_pagination(mut self) -> Self {
        self.pagination = None;
        self
    }

    /// Configures the cache (turning it on).
    #[must_use]
    pub fn cache(mut self, configure: impl FnOnce(CacheBuilder) -> CacheBuilder) -> Self {
        self.cache = Some(configure(
            self.cache.take().unwrap_or_else(CacheLayer::builder),
        ));
        self
    }

    /// Turns the cache off.
    #[must_use]
    pub fn no_cache(mut self) -> Self {
        self.cache = None;
        self
    }

    /// Configures the bulkheads (turning them on). The default has one pool
    /// of [`DEFAULT_MAX_IN_FLIGHT`] slots.
    #[must_use]
    pub fn concurrency(
        mut self,
        configure: impl FnOnce(ConcurrencyLimitBuilder) -> ConcurrencyLimitBuilder,
    ) -> Self {
        self.concurrency = Some(configure(
            self.concurrency
                .take()
                .unwrap_or_else(ConcurrencyLimitLayer::builder),
        ));
        self
    }

    /// Turns the bulkheads off.
    #[must_use]
    pub fn no_concurrency(mut self) -> Self {
        self.concurrency = None;
        self
    }

    /// Configures the adaptive concurrency limit (turning it on).
    #[must_use]
    pub fn adaptive(
        mut self,
        configure: impl FnOnce(AdaptiveLimitBuilder) -> AdaptiveLimitBuilder,
    ) -> Self {
        self.adaptive = Some(configure(
            self.adaptive
                .take()
                .unwrap_or_else(AdaptiveLimitLayer::builder),
        ));
        self
    }

    /// Configures the circuit breaker (turning it on).
    #[must_use]
    pub fn breaker(
        mut self,
        configure: impl FnOnce(CircuitBreakerBuilder) -> CircuitBreakerBuilder,
    ) -> Self {
        self.breaker = Some(configure(
            self.breaker
                .take()
                .unwrap_or_else(CircuitBreakerLayer::builder),
        ));
        self
    }

    /// Turns the circuit breaker off.
    #[must_use]
    pub fn no_breaker(mut self) -> Self {
        self.breaker = None;
        self
    }

    /// Sets the deadlines (default [`DEFAULT_TIMEOUT`] for every request).
    #[must_use]
    pub fn timeout(mut self, timeout: TimeoutLayer) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// Turns deadlines off.
    #[must_use]
    pub fn no_timeout(mut self) -> Self {
        self.timeout = None;
        self
    }

    /// Configures retries (turning them on).
    #[must_use]
    pub fn retry(mut self, configure: impl FnOnce(RetryBuilder) -> RetryBuilder) -> Self {
        self.retry = Some(configure(
            self.retry.take().unwrap_or_else(RetryLayer::builder),
        ));
        self
    }

    /// Turns retries off.
    #[must_use]
    pub fn no_retry(mut self) -> Self {
        self.retry = None;
        self
    }

    /// Shares the stack through Redis at `url` (`redis://host:port/db`):
    /// the cache gains its shared tier and backplane, and every rate limit
    /// becomes global. One connection carries all of it. Keys live under
    /// `mcp-stack:`.
    #[must_use]
    pub fn redis(mut self, url: impl Into<String>) -> Self {
        self.redis = Some(RedisSettings {
            url: url.into(),
            #[cfg(feature = "redis")]
            options: mcp_service::redis::RedisOptions::default(),
            prefix: "mcp-stack".into(),
        });
        self
    }

    /// The connection settings and key prefix for [`redis`](Self::redis).
    #[cfg(feature = "redis")]
    #[must_use]
    pub fn redis_settings(
        mut self,
        options: mcp_service::redis::RedisOptions,
        prefix: impl Into<String>,
    ) -> Self {
        if let Some(redis) = &mut self.redis {
            redis.options = options;
            redis.prefix = prefix.into();
        }
        self
    }

    /// Builds every layer. With Redis, call it inside a Tokio runtime.
    pub fn build(self) -> Result<StackLayer, StackError> {
        if self.rate_limits.len() > 2 {
            return Err(StackError::TooManyRateLimits(self.rate_limits.len()));
        }
        let mut summary = String::new();
        // Metric handles are taken when a layer is built: the recorder first.
        #[cfg(feature = "http")]
        let exporter = if self.prometheus && self.metrics.is_some() {
            prometheus_exporter()
        } else {
            None
        };
        let line = |summary: &mut String, name: &str, state: &str| {
            let _ = writeln!(summary, "{name:<16} {state}");
        };

        #[cfg(feature = "redis")]
        let redis = match &self.redis {
            Some(settings) => {
                let refused = |error: mcp_service::redis::RedisError| {
                    StackError::Redis(format!("{}: {error}", redact(&settings.url)))
                };
                // Commands for the cache and the limits on one connection;
                // the backplane's subscription on a second, which answers a
                // hop slower, so only it should hear pushes.
                let connection = mcp_service::redis::connect(&settings.url, settings.options)
                    .map_err(refused)?;
                let subscriber = match &self.cache {
                    Some(_) => Some(
                        mcp_service::redis::connect_with_pushes(
                            &settings.url,
                            settings.options,
                            1024,
                        )
                        .map_err(refused)?,
                    ),
                    None => None,
                };
                Some((connection, subscriber, settings.prefix.clone()))
            }
            None => None,
        };
        #[cfg(not(feature = "redis"))]
        if let Some(settings) = &self.redis {
            return Err(StackError::Redis(format!(
                "{}: this build has no `redis` feature",
                redact(&settings.url)
            )));
        }

        let stats = match (&self.metrics, self.stats) {
            (Some(_), Some(stats)) => Some(stats.build().map_err(StackError::layer("stats"))?),
            _ => None,
        };
        let metrics = match self.metrics {
            Some(builder) => {
                let builder = match &stats {
                    Some(stats) => builder.stats(stats.clone()),
                    None => builder,
                };
                line(
                    &mut summary,
                    "metrics",
                    if stats.is_some() {
                        "on, with live stats"
                    } else {
                        "on"
                    },
                );
                Some(builder.build().map_err(StackError::layer("metrics"))?)
            }
            None => {
                line(&mut summary, "metrics", "off");
                None
            }
        };

        let mut rate_limits = [None, None];
        for (index, builder) in self.rate_limits.into_iter().enumerate() {
            #[cfg(feature = "redis")]
            let builder = match &redis {
                Some((connection, _, prefix)) => {
                    let builder =
                        builder.redis(connection.clone(), format!("{prefix}:limit:{index}"));
                    // A request waits for a decision no longer than for any command.
                    match &self.redis {
                        Some(settings) => builder.redis_timeout(settings.options.response_timeout),
                        None => builder,
                    }
                }
                None => builder,
            };
            rate_limits[index] = Some(builder.build().map_err(StackError::layer("rate limit"))?);
        }
        let limits = rate_limits.iter().flatten().count();
        line(
            &mut summary,
            "rate limits",
            &match (limits, self.redis.is_some()) {
                (0, _) => "off".to_owned(),
                (n, true) => format!("{n}, global through Redis"),
                (n, false) => format!("{n}, in this process"),
            },
        );

        let chunk = self
            .chunk
            .map(ChunkLayerBuilder::build)
            .transpose()
            .map_err(StackError::layer("chunking"))?;
        line(
            &mut summary,
            "chunked reads",
            &chunk.as_ref().map_or("off".to_owned(), |chunk| {
                format!(
                    "on, chunks of {} KiB, messages of at most {} KiB",
                    chunk.max_chunk_bytes() >> 10,
                    chunk.max_message_bytes() >> 10
                )
            }),
        );
        let pagination = self
            .pagination
            .map(PaginationLayerBuilder::build)
            .transpose()
            .map_err(StackError::layer("pagination"))?;
        line(
            &mut summary,
            "pagination",
            &pagination.as_ref().map_or("off".to_owned(), |pages| {
                format!("on, pages of {}", pages.page_size())
            }),
        );

        #[cfg(feature = "redis")]
        let cache = match (self.cache, redis) {
            (Some(builder), Some((connection, Some((subscriber, pushes)), prefix))) => Some(
                builder.redis(
                    mcp_cache::RedisTier::new(connection, subscriber, pushes)
                        .prefix(format!("{prefix}:cache")),
                ),
            ),
            (cache, _) => cache,
        };
        #[cfg(not(feature = "redis"))]
        let cache = self.cache;
        let cache = cache
            .map(CacheBuilder::build)
            .transpose()
            .map_err(StackError::layer("cache"))?;
        line(
            &mut summary,
            "cache",
            match (&cache, self.redis.is_some()) {
                (None, _) => "off",
                (Some(_), true) => "on, in memory and in Redis, with the invalidation backplane",
                (Some(_), false) => "on, in memory",
            },
        );

        let concurrency = self
            .concurrency
            .map(ConcurrencyLimitBuilder::build)
            .transpose()
            .map_err(StackError::layer("bulkheads"))?;
        line(
            &mut summary,
            "bulkheads",
            if concurrency.is_some() { "on" } else { "off" },
        );
        let adaptive = self
            .adaptive
            .map(AdaptiveLimitBuilder::build)
            .transpose()
            .map_err(StackError::layer("adaptive limit"))?;
        line(
            &mut summary,
            "adaptive limit",
            if adaptive.is_some() { "on" } else { "off" },
        );
        let breaker = self
            .breaker
            .map(CircuitBreakerBuilder::build)
            .transpose()
            .map_err(StackError::layer("circuit breaker"))?;
        line(
            &mut summary,
            "circuit breaker",
            if breaker.is_some() { "on" } else { "off" },
        );
        line(
            &mut summary,
            "timeout",
            if self.timeout.is_some() { "on" } else { "off" },
        );
        let retry = self.retry.map(RetryBuilder::build);
        line(
            &mut summary,
            "retry",
            if retry.is_some() {
                "on, budgeted"
            } else {
                "off"
            },
        );
        if let Some(settings) = &self.redis {
            line(&mut summary, "redis", &redact(&settings.url));
        }

        if let Some(stats) = &stats {
            watch(stats, cache.as_ref(), breaker.as_ref());
        }
        let [first, second] = rate_limits;
        Ok(StackLayer {
            parts: Arc::new(Parts {
                metrics: metrics.unwrap_or_else(MetricsLayer::disabled),
                rate_limits: [
                    first.unwrap_or_else(RateLimitLayer::disabled),
                    second.unwrap_or_else(RateLimitLayer::disabled),
                ],
                chunk: chunk.unwrap_or_else(ChunkLayer::disabled),
                pagination: pagination.unwrap_or_else(PaginationLayer::disabled),
                cache: cache.unwrap_or_else(CacheLayer::disabled),
                concurrency: concurrency.unwrap_or_else(ConcurrencyLimitLayer::disabled),
                adaptive: adaptive.unwrap_or_else(AdaptiveLimitLayer::disabled),
                breaker: match breaker {
                    Some(breaker) => (breaker, true),
                    None => (CircuitBreakerLayer::disabled(), false),
                },
                timeout: self.timeout.unwrap_or_else(TimeoutLayer::disabled),
                retry: retry.unwrap_or_else(RetryLayer::disabled),
                stats,
                #[cfg(feature = "http")]
                exporter,
                summary,
            }),
        })
    }

    /// Lets the cache learn from `handler` which tools are declared
    /// read-only (`readOnlyHint`), as tools opted in with
    /// [`CacheBuilder::tool`] must be.
    #[must_use]
    pub fn tools_of<H>(mut self, handler: &H) -> Self
    where
        H: rmcp::ServerHandler + Clone,
    {
        if let Some(cache) = self.cache.take() {
            let lookup = handler.clone();
            self.cache =
                Some(cache.tool_info(move |name: &str| {
                    lookup.get_tool(name)?.annotations?.read_only_hint
                }));
        }
        self
    }

    /// Builds the stack around `handler`, whose declared read-only tools the
    /// cache may then keep (see [`tools_of`](Self::tools_of)). To serve its
    /// statistics too, [`build`](Self::build) and [`StackLayer::wrap`]
    /// instead, and keep the layer.
    pub fn wrap<H>(self, handler: H) -> Result<StackHandler<H>, StackError>
    where
        H: rmcp::ServerHandler + Clone,
    {
        Ok(self.tools_of(&handler).build()?.wrap(handler))
    }
}

/// Wires the cache's counts and the breaker's state into the statistics.
fn watch(stats: &Stats, cache: Option<&CacheLayer>, breaker: Option<&CircuitBreakerLayer>) {
    if let Some(cache) = cache {
        let cache = cache.clone();
        stats.watch_cache(move || {
            let counts = cache.counts();
            mcp_metrics::CacheCounts {
                hits: counts.l1_hits + counts.l2_hits + counts.coalesced,
                stale_hits: counts.stale_hits,
                misses: counts.misses,
                bypasses: counts.bypasses,
            }
        });
    }
    if let Some(breaker) = breaker {
        let handle = breaker.handle();
        let name = handle.circuit().config().name.clone();
        stats.watch_breaker(name, move || handle.state().as_str());
    }
}

/// The process's Prometheus exporter: installed once, on first use, as the
/// global recorder; `None` when another recorder was there first.
#[cfg(feature = "http")]
pub fn prometheus_exporter() -> Option<mcp_metrics::PrometheusExporter> {
    static EXPORTER: std::sync::OnceLock<Option<mcp_metrics::PrometheusExporter>> =
        std::sync::OnceLock::new();
    EXPORTER
        .get_or_init(|| mcp_metrics::PrometheusExporter::builder().install().ok())
        .clone()
}

/// `url` without its password, for logs: the credentials before the host
/// (up to the last `@`, since a password may hold one) and the `pass` or
/// `password` query parameters (`redis+unix:///run/redis.sock?pass=...`).
pub fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let (before_query, query) = match rest.find(['?', '#']) {
        Some(at) => rest.split_at(at),
        None => (rest, ""),
    };
    let address = match before_query.rsplit_once('@') {
        Some((credentials, host)) => {
            let user = credentials.split(':').next().unwrap_or_default();
            format!("{user}:***@{host}")
        }
        None => before_query.to_owned(),
    };
    format!("{scheme}://{address}{}", redact_query(query))
}

/// `?a=1&pass=x#f` with the values of `pass` and `password` hidden.
fn redact_query(query: &str) -> String {
    let Some(parameters) = query.strip_prefix('?') else {
        return query.to_owned();
    };
    let (parameters, fragment) = match parameters.split_once('#') {
        Some((parameters, fragment)) => (parameters, format!("#{fragment}")),
        None => (parameters, String::new()),
    };
    let parameters: Vec<String> = parameters
        .split('&')
        .map(|parameter| match parameter.split_once('=') {
            Some((name, _))
                if name.eq_ignore_ascii_case("pass") || name.eq_ignore_ascii_case("password") =>
            {
                format!("{name}=***")
            }
            _ => parameter.to_owned(),
        })
        .collect();
    format!("?{}{fragment}", parameters.join("&"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_never_reach_logs() {
        assert_eq!(
            redact("redis://:hunter2@cache:6379/0"),
            "redis://:***@cache:6379/0"
        );
        assert_eq!(
            redact("redis://app:hunter2@cache/"),
            "redis://app:***@cache/"
        );
        assert_eq!(redact("redis://127.0.0.1:6379/"), "redis://127.0.0.1:6379/");
        assert_eq!(redact("not a url"), "not a url");
        assert_eq!(
            redact("redis://:p@ss@cache:6379/"),
            "redis://:***@cache:6379/",
            "a password holding an @"
        );
        assert_eq!(
            redact("redis+unix:///run/redis.sock?db=1&pass=hunter2"),
            "redis+unix:///run/redis.sock?db=1&pass=***"
        );
        assert_eq!(
            redact("redis://cache/?password=hunter2#x"),
            "redis://cache/?password=***#x"
        );
        assert_eq!(
            redact("redis://:hunter2@cache/0?protocol=resp3"),
            "redis://:***@cache/0?protocol=resp3"
        );
    }
}
