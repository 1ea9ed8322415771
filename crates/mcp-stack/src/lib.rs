//! The mcp-stack facade: one builder that puts caching, rate limits,
//! circuit breakers, chunked reads and metrics around any MCP server.
//!
//! ```
//! # #[derive(Clone)] struct MyServer;
//! # impl rmcp::ServerHandler for MyServer {}
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! let handler = mcp_stack::McpStack::new().wrap(MyServer)?;
//! # let _ = handler;
//! # Ok::<(), mcp_stack::StackError>(())
//! # }).unwrap();
//! ```

mod builder;
#[cfg(feature = "client")]
pub mod client;
pub mod config;
mod error;
mod layer;

#[cfg(feature = "http")]
pub use builder::prometheus_exporter;
pub use builder::{DEFAULT_MAX_IN_FLIGHT, DEFAULT_TIMEOUT, McpStack, redact};
pub use config::StackConfig;
pub use error::StackError;
pub use layer::{
    Adapted, Bulkheaded, Cached, Chunked, Guarded, Limited, LimitedTwice, Paged, Retried,
    StackHandler, StackLayer, StackService, Timed,
};
