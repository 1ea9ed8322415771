//! Circuit breakers for MCP servers, as tower layers that understand MCP
//! outcomes.
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
//! minimum, trip at 50 % failures, open for 10 s doubling to at most 120 s
//! with 10 % jitter, 3 probes.

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
