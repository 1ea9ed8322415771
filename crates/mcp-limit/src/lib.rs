//! Rate limits for MCP servers, as tower layers that see the tool name, the
//! method and who is asking.
//!
//! [`RateLimitLayer`] limits requests with GCRA on one atomic per bucket:
//! `requests` per `period` with a `burst`, globally or per principal, tool
//! or method; tools can cost more than one; lifecycle methods pass by
//! default. It decides in `call` and rejects at once with
//! [`McpError::RateLimited`](mcp_service::McpError::RateLimited) and the
//! exact time after which the request would pass (a rejected `tools/call`
//! reaches the model as an `isError` result saying so), or waits up to
//! `max_wait`. Clones share the limit. Keyed limits are kept in a bounded
//! cache: a key idle until its bucket has refilled is forgotten, which loses
//! nothing; beyond `max_keys` active keys, moka's frequency-aware eviction
//! drops the rarest, and an evicted key that returns starts with a full burst.
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
//! Metrics: `mcp.limit.rejections` (counter, label `limiter`).
//!
//! [`ConcurrencyLimitLayer`] gives requests slots from named pools
//! (bulkheads), chosen by tool, method or class, rejecting with
//! [`McpError::Overloaded`](mcp_service::McpError::Overloaded) when a pool
//! is full, or queueing a bounded number for a bounded time.
//!
//! Global limits over Redis and adaptive concurrency are planned in this
//! crate.

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
#[cfg(feature = "redis")]
pub use rate::WhenUnavailable;
pub use rate::{
    ConfigError, Decision, Gcra, KeyFn, RateKey, RateLimit, RateLimitBuilder, RateLimitLayer,
    ResponseFuture,
};
