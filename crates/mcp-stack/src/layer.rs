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
use tower_layer::Layer;

/// The whole stack around `S`, outermost first. Every layer is always
/// there; one that is off is built with its `disabled()` constructor and
/// passes calls straight through. (Optional layers as `Either`s would name
/// the inner service twice a layer: the type, and the compiler's work,
/// would double with each.)
pub type StackService<S> = Metrics<
    RateLimit<
        RateLimit<
            Chunk<
                Paginate<Cache<ConcurrencyLimit<AdaptiveLimit<CircuitBreaker<Timeout<Retry<S>>>>>>>,
            >,
        >,
    >,
>;

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
    pub(crate) metrics: MetricsLayer,
    pub(crate) rate_limits: [RateLimitLayer; 2],
    pub(crate) chunk: ChunkLayer,
    pub(crate) pagination: PaginationLayer,
    pub(crate) cache: CacheLayer,
    pub(crate) concurrency: ConcurrencyLimitLayer,
    pub(crate) adaptive: AdaptiveLimitLayer,
    /// With whether it is on: a disabled breaker still has a handle.
    pub(crate) breaker: (CircuitBreakerLayer, bool),
    pub(crate) timeout: TimeoutLayer,
    pub(crate) retry: RetryLayer,
    pub(crate) stats: Option<Stats>,
    #[cfg(feature = "http")]
    pub(crate) exporter: Option<mcp_metrics::PrometheusExporter>,
    pub(crate) summary: String,
}

impl<S> Layer<S> for StackLayer {
    type Service = StackService<S>;

    fn layer(&self, inner: S) -> StackService<S> {
        let parts = &*self.parts;
        let service = parts.retry.layer(inner);
        let service = parts.timeout.layer(service);
        let service = parts.breaker.0.layer(service);
        let service = parts.adaptive.layer(service);
        let service = parts.concurrency.layer(service);
        let service = parts.cache.layer(service);
        let service = parts.pagination.layer(service);
        let service = parts.chunk.layer(service);
        let service = parts.rate_limits[1].layer(service);
        let service = parts.rate_limits[0].layer(service);
        parts.metrics.layer(service)
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
        let metrics = &self.parts.metrics;
        metrics.is_enabled().then(|| metrics.names())
    }

    /// The cache, for its [`Invalidator`](mcp_cache::Invalidator),
    /// `get_or_load` and counts, when it is on.
    pub fn cache(&self) -> Option<&CacheLayer> {
        let cache = &self.parts.cache;
        cache.is_enabled().then_some(cache)
    }

    /// The circuit breaker's handle, when it is on.
    pub fn breaker(&self) -> Option<CircuitHandle> {
        let (breaker, on) = &self.parts.breaker;
        on.then(|| breaker.handle())
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
