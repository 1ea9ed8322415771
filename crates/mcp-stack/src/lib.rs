//! The mcp-stack facade: one builder that puts caching, rate limits,
//! bulkheads, circuit breaking, deadlines, retries, chunked reads and
//! metrics around any MCP server, in the one order that works.
//!
//! - [`McpStack`]: every layer's knobs, with defaults a careful operator
//!   would pick (the table is on [`McpStack`]); [`McpStack::build`] makes a
//!   [`StackLayer`], a `tower::Layer` for any service built on mcp-service,
//!   and [`StackLayer::wrap`] (or [`McpStack::wrap`]) an rmcp
//!   `ServerHandler` in one call.
//! - [`StackConfig`] ([`config`]): the same knobs from TOML and the
//!   environment, with errors that name the bad key and value.
//! - [`serve`]: Streamable HTTP at `/mcp` with `/metrics`, `/stats` and
//!   `/healthz` and a draining shutdown; or stdio.
//! - [`client`] (feature `client`): rmcp's client transport on pooled
//!   HTTP/1.1 connections of its own, for gateways and tests.
//! - [`gateway`] (feature `gateway`): the stack in front of upstream MCP
//!   servers in any language, over Streamable HTTP or stdio, forwarding
//!   raw JSON-RPC.
//!
//! Outermost first: metrics, rate limits, chunked reads and the size guard,
//! pagination, cache, bulkheads, adaptive limit, circuit breaker, timeout,
//! retry, the server. One Redis URL ([`McpStack::redis`]) gives the cache
//! its shared tier and backplane and makes the rate limits global.
//!
//! ```
//! # #[derive(Clone)] struct MyServer;
//! # impl rmcp::ServerHandler for MyServer {}
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! use mcp_stack::McpStack;
//!
//! let stack = McpStack::new()
//!     .cache(|cache| cache.max_bytes(128 << 20))
//!     .prometheus(false)
//!     .build()?;
//! let handler = stack.wrap(MyServer);
//! // Serve `handler` as any rmcp handler; `stack.stats()` is live.
//! # let _ = handler;
//! # Ok::<(), mcp_stack::StackError>(())
//! # }).unwrap();
//! ```

mod builder;
#[cfg(feature = "client")]
pub mod client;
pub mod config;
mod error;
#[cfg(feature = "gateway")]
pub mod gateway;
mod layer;
pub mod serve;

#[cfg(feature = "http")]
pub use builder::prometheus_exporter;
pub use builder::{DEFAULT_MAX_IN_FLIGHT, DEFAULT_TIMEOUT, McpStack, redact};
pub use config::StackConfig;
pub use error::StackError;
pub use layer::{StackHandler, StackLayer, StackService};
