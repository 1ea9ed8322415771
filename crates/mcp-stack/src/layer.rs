//! [`StackLayer`]: the built layers, composed in the one order that works.

use std::sync::Arc;

use mcp_breaker::{
    CircuitBreaker, CircuitBreakerLayer, CircuitHandle, Retry, RetryLayer, Timeout, TimeoutLayer,
};
use mcp_cache::{Cache, CacheLayer};
use mcp_limit::{
    AdaptiveLimit, AdaptiveLimitLayer, ConcurrencyLimit, ConcurrencyLimitLayer, RateLimit,
    RateLimitLayer,
};
use mcp_metrics::{Metrics, MetricsLayer, NameRegistry, Stats};
use mcp_service::rmcp::{HandlerService, StackedHandler};
use mcp_stream::{Chunk, ChunkLayer, Paginate, PaginationLayer};
use tower::util::Either;
use tower_layer::Layer;

/// The retry layer around the service.
pub type Retried<S> = Either<Retry<S>, S>;
/// The deadline, around [`Retried`].
pub type Timed<S> = Either<Timeout<Retried<S>>, Retried<S>>;
/// The circuit breaker, around [`Timed`].
pub type Guarded<S> = Either<CircuitBreaker<Timed<S>>, Timed<S>>;
/// The adaptive concurrency limit, around [`Guarded`].
pub type Adapted<S> = Either<AdaptiveLimit<Guarded<S>>, Guarded<S>>;
/// The bulkheads, around [`Adapted`].
pub type Bulkheaded<S> = Either<ConcurrencyLimit<Adapted<S>>, Adapted<S>>;
/// The cache, around [`Bulkheaded`].
pub type Cached<S> = Either<Cache<Bulkheaded<S>>, Bulkheaded<S>>;
/// List pagination, around [`Cached`].
pub type Paged<S> = Either<Paginate<Cached<S>>, Cached<S>>;
/// Chunked reads and the size guard, around [`Paged`].
pub type Chunked<S> = Either<Chunk<Paged<S>>, Paged<S>>;
/// The second rate limit, around [`Chunked`].
pub type LimitedTwice<S> = Either<RateLimit<Chunked<S>>, Chunked<S>>;
/// The first rate limit, around [`LimitedTwice`].
pub type Limited<S> = Either<RateLimit<LimitedTwice<S>>, LimitedTwice<S>>;
/// The whole stack around `S`: metrics outermost.
pub type StackService<S> = Either<Metrics<Limited<S>>, Limited<S>>;

/// What a stack's rmcp handler is: `H` behind the whole stack.
pub type StackHandler<H> = StackedHandler<H, StackService<HandlerService<H>>>;

/// The layers of an [`McpStack`](crate::McpStack), built and ready to wrap
/// any number of services. Clones share every limit, breaker, cache and
/// statistic, so build once and wrap every session's handler with it.
///
/// Outermost first: metrics, rate limits, chunked reads, pagination, cache,
/// bulkheads, adaptive limit, circuit breaker, timeout, retry, the service.
/// A layer that is off is a pass-through.
#[derive(Clone)]
pub struct StackLayer {
    pub(crate) parts: Arc<Parts>,
}

/// The built layers, and the handles that observe them.
pub(crate) struct Parts {
    pub(crate) metrics: Option<MetricsLayer>,
    pub(crate) rate_limits: [Option<RateLimitLayer>; 2],
    pub(crate) chunk: Option<ChunkLayer>,
    pub(crate) pagination: Option<PaginationLayer>,
    pub(crate) cache: Option<CacheLayer>,
    pub(crate) concurrency: Option<ConcurrencyLimitLayer>,
    pub(crate) adaptive: Option<AdaptiveLimitLayer>,
    pub(crate) breaker: Option<CircuitBreakerLayer>,
    pub(crate) timeout: Option<TimeoutLayer>,
    pub(crate) retry: Option<RetryLayer>,
    pub(crate) stats: Option<Stats>,
    #[cfg(feature = "http")]
    pub(crate) exporter: Option<mcp_metrics::PrometheusExporter>,
    pub(crate) summary: String,
}

fn wrap<L: Layer<S>, S>(layer: Option<&L>, inner: S) -> Either<L::Service, S> {
    match layer {
        Some(layer) => Either::Left(layer.layer(inner)),
        None => Either::Right(inner),
    }
}

impl<S> Layer<S> for StackLayer {
    type Service = StackService<S>;

    fn layer(&self, inner: S) -> StackService<S> {
        let parts = &*self.parts;
        let service = wrap(parts.retry.as_ref(), inner);
        let service = wrap(parts.timeout.as_ref(), service);
        let service = wrap(parts.breaker.as_ref(), service);
        let service = wrap(parts.adaptive.as_ref(), service);
        let service = wrap(parts.concurrency.as_ref(), service);
        let service = wrap(parts.cache.as_ref(), service);
        let service = wrap(parts.pagination.as_ref(), service);
        let service = wrap(parts.chunk.as_ref(), service);
        let service = wrap(parts.rate_limits[1].as_ref(), service);
        let service = wrap(parts.rate_limits[0].as_ref(), service);
        wrap(parts.metrics.as_ref(), service)
    }
}

impl StackLayer {
    /// `handler` behind the stack, as an rmcp `ServerHandler` to serve as
    /// usual (stdio, Streamable HTTP).
    pub fn wrap<H: rmcp::ServerHandler>(&self, handler: H) -> StackHandler<H> {
        StackedHandler::new(handler, self.clone())
    }

    /// The live statistics the metrics layer feeds, when metrics are on.
    pub fn stats(&self) -> Option<&Stats> {
        self.parts.stats.as_ref()
    }

    /// The tool and prompt names metrics label by; add the server's own.
    pub fn names(&self) -> Option<NameRegistry> {
        self.parts.metrics.as_ref().map(MetricsLayer::names)
    }

    /// The cache, for its [`Invalidator`](mcp_cache::Invalidator),
    /// `get_or_load` and counts, when it is on.
    pub fn cache(&self) -> Option<&CacheLayer> {
        self.parts.cache.as_ref()
    }

    /// The circuit breaker's handle, when it is on.
    pub fn breaker(&self) -> Option<CircuitHandle> {
        self.parts.breaker.as_ref().map(CircuitBreakerLayer::handle)
    }

    /// The Prometheus exporter this stack installed, if it did.
    #[cfg(feature = "http")]
    pub fn exporter(&self) -> Option<&mcp_metrics::PrometheusExporter> {
        self.parts.exporter.as_ref()
    }

    /// One line per layer saying what is on, for a server's start-up log.
    pub fn summary(&self) -> &str {
        &self.parts.summary
    }
}

impl std::fmt::Debug for StackLayer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StackLayer")
            .field("summary", &self.parts.summary)
            .finish_non_exhaustive()
    }
}
