//! Circuit breakers, timeouts and budgeted retries for MCP servers, as tower
//! layers that understand MCP outcomes.
//!
//! - [`CircuitBreakerLayer`] (and [`KeyedCircuitBreakerLayer`], one breaker
//!   per tool, method or route) stops calling a failing service;
//! - [`TimeoutLayer`] gives each request its tool's or method's deadline and
//!   cancels the handler when it passes;
//! - [`RetryLayer`] repeats failed lists, reads and read-only tool calls,
//!   within a [`RetryBudget`].
//!
//! In a stack: `... -> CircuitBreakerLayer -> TimeoutLayer -> RetryLayer ->
//! server`, so a timeout counts as a failure and a retried call counts once.
//!
//! # The circuit breaker
//!
//! [`CircuitBreakerLayer`] stops calling a service that keeps failing, and
//! lets a few probes through after a while to see whether it has recovered:
//!
//! - **closed**: calls pass, outcomes are recorded in a sliding window (the
//!   last N calls, or the last duration). It trips to open when, with at
//!   least `minimum_calls` in the window, the failure rate or the slow-call
//!   rate reaches its threshold, or after N failures in a row;
//! - **open**: calls are rejected at once with
//!   [`McpError::CircuitOpen`](mcp_service::McpError::CircuitOpen) and the time
//!   left; the open duration grows after each failed probe, with jitter, up
//!   to a cap;
//! - **half-open**: exactly `half_open_calls` probes pass at once, however
//!   many callers race; as many successes close it, one failure reopens it;
//!   a probe dropped before it finished frees its slot;
//! - **forced open** and **disabled**, set by an operator through a
//!   [`CircuitHandle`].
//!
//! What counts is decided by a [`Classifier`]: timeouts, unreachable
//! upstreams and server-side JSON-RPC errors are failures; our own layers'
//! rejections (an upstream's 429 surfaces as `RateLimited`), client errors
//! and cancellations are not; `isError: true` tool results only if asked.
//!
//! A closed breaker admits with one atomic load and records with a few
//! atomic adds: no lock, no allocation, no boxed future.
//!
//! ```
//! use std::time::Duration;
//! use mcp_breaker::{CircuitBreakerLayer, Window};
//! use mcp_service::{McpError, jsonrpc::{JsonRpcRequest, JsonRpcResponse}};
//! use tower::{ServiceBuilder, service_fn};
//!
//! let breaker = CircuitBreakerLayer::builder()
//!     .name("upstream")
//!     .window(Window::Count(50))
//!     .minimum_calls(10)
//!     .failure_rate_threshold(0.5)
//!     .open_duration(Duration::from_secs(5))
//!     .build()?;
//! let handle = breaker.handle();
//! let service = ServiceBuilder::new().layer(breaker).service(service_fn(
//!     |_request: JsonRpcRequest| async { JsonRpcResponse::from_value(&serde_json::json!({})) },
//! ));
//! # let _ = (service, handle);
//! # Ok::<(), mcp_breaker::ConfigError>(())
//! ```
//!
//! Defaults (see [`CircuitBreakerConfig`]): the last 100 calls, 20 calls
//! minimum, trip at 50 % failures, slow calls not judged, open for 10 s
//! doubling to at most 120 s with 10 % jitter, 3 probes.
//!
//! # Metrics
//!
//! `mcp.breaker.state` (gauge, unkeyed breakers), `mcp.breaker.transitions`
//! (counter, by state entered) and `mcp.breaker.rejections` (counter), all
//! labelled with the breaker's name; names are defined in
//! [`mcp_metrics::names`]. Register the metrics recorder before building the
//! layer: handles are taken once, at build time.

mod circuit;
mod classify;
mod jitter;
mod retry;
mod timeout;

pub use circuit::{
    BreakerKey, Circuit, CircuitBreaker, CircuitBreakerBuilder, CircuitBreakerConfig,
    CircuitBreakerLayer, CircuitHandle, ConfigError, KeyedCircuitBreaker, KeyedCircuitBreakerLayer,
    KeyedCircuitHandle, Permit, ResponseFuture, Route, State, StateChange, StateListener, Window,
};
pub use classify::{Classifier, Verdict};
pub use retry::{ResponseFuture as RetryFuture, Retry, RetryBudget, RetryBuilder, RetryLayer};
pub use timeout::{DeadlineExtender, ResponseFuture as TimeoutFuture, Timeout, TimeoutLayer};
