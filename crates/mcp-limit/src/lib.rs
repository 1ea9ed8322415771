//! Rate limits, bulkheads and adaptive concurrency for MCP servers, as
//! tower layers that see the tool name, the method and who is asking.
//!
//! Every layer decides in `call`, never reserves anything in `poll_ready`,
//! spawns no task, and shares its state with its clones (tower's
//! `RateLimit` does not, so each axum connection got its own limit).
//!
//! # Rate limits
//!
//! [`RateLimitLayer`] limits requests with GCRA on one atomic per bucket:
//! `requests` per `period` with a `burst`, globally or per principal, tool,
//! method, or a name of your own ([`RateKey::custom`]); tools can cost more
//! than one; lifecycle methods pass by default. It rejects at once with
//! [`McpError::RateLimited`](mcp_service::McpError::RateLimited) and the
//! exact time after which the request would pass (a rejected `tools/call`
//! reaches the model as an `isError` result saying so), or waits up to
//! `max_wait`.
//!
//! Keyed buckets live in a bounded store (`max_keys`, about 40 bytes a key).
//! A bucket that has refilled is forgotten first, which loses nothing; when
//! that is not enough, the buckets owing least go, so a flood of new keys
//! cannot free a busy key, and a key that returns after eviction gains at
//! most one burst.
//!
//! With [`RateLimitBuilder::redis`] (feature `redis`, on by default) the
//! buckets live in Redis and every process shares the limit: one Lua script,
//! run by hash, decides on the server by the server's clock. While Redis
//! cannot answer, the limit fails open or falls back to this process's
//! share ([`WhenUnavailable`]); a request waits for Redis at most
//! [`RateLimitBuilder::redis_timeout`], and a breaker stops asking a Redis
//! that keeps failing until a probe finds it back.
//!
//! ```
//! use std::time::Duration;
//! use mcp_limit::{RateKey, RateLimitLayer};
//! use mcp_service::jsonrpc::{JsonRpcRequest, JsonRpcResponse};
//! use tower::{ServiceBuilder, service_fn};
//!
//! let service = ServiceBuilder::new()
//!     // Stacked: 100 a second for everyone, 10 a second for each principal.
//!     .layer(RateLimitLayer::builder(100, Duration::from_secs(1)).build()?)
//!     .layer(RateLimitLayer::builder(10, Duration::from_secs(1)).key(RateKey::Principal).build()?)
//!     .service(service_fn(|_request: JsonRpcRequest| async {
//!         JsonRpcResponse::from_value(&serde_json::json!({}))
//!     }));
//! # let _ = service;
//! # Ok::<(), mcp_limit::ConfigError>(())
//! ```
//!
//! # Bulkheads
//!
//! [`ConcurrencyLimitLayer`] gives requests slots from named pools, chosen
//! by tool, method or class, rejecting with
//! [`McpError::Overloaded`](mcp_service::McpError::Overloaded) when a pool
//! is full, or queueing a bounded number for a bounded time. A slot comes
//! back when the response future completes or is dropped.
//!
//! # Adaptive concurrency
//!
//! [`AdaptiveLimitLayer`] finds the backend's latency without load and
//! admits as many concurrent calls as keep latency within a tolerance of it
//! (1.5 times by default): the limit doubles while latency holds, then
//! grows by one a window; latency over the tolerance scales it down by the
//! gradient, and timeouts or server errors cut it by the backoff factor.
//! The rest is shed at once with `Overloaded`.
//!
//! # Metrics
//!
//! Names from [`mcp_metrics::names`], label `limiter` (the configured name)
//! and, for bulkheads, `pool`: `mcp.limit.admissions` and
//! `mcp.limit.rejections` (label `reason`: `rate_limited`, `overloaded`,
//! `queue_timeout`) counters; `mcp.limit.in_flight` and `mcp.limit.limit`
//! gauges for bulkheads and the adaptive limit; `mcp.limit.fallbacks`
//! counts decisions made without Redis. Metric handles are registered when
//! a layer is built, so install the recorder first.

mod adaptive;
mod concurrency;
mod deferred;
mod rate;
mod slots;

pub use adaptive::{
    AdaptiveLimit, AdaptiveLimitBuilder, AdaptiveLimitLayer, ResponseFuture as AdaptiveFuture,
};
pub use concurrency::{
    ConcurrencyLimit, ConcurrencyLimitBuilder, ConcurrencyLimitLayer, PoolMatch,
    ResponseFuture as ConcurrencyFuture,
};
pub use rate::{
    ConfigError, Decision, Gcra, KeyFn, RateKey, RateLimit, RateLimitBuilder, RateLimitLayer,
    ResponseFuture,
};
#[cfg(feature = "redis")]
pub use rate::{DEFAULT_REDIS_TIMEOUT, WhenUnavailable};
