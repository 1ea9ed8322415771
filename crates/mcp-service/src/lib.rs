//! The shared Model Context Protocol model that every mcp-stack layer is
//! generic over.
//!
//! Layers need MCP meaning (the method, the tool name, the resource URI, who
//! is asking) without converting every request. This crate defines it once:
//!
//! - [`McpRequest`] and [`McpResponse`]: the views layers read, the way
//!   tower-http is generic over bodies. Implemented for rmcp's typed
//!   requests and results ([`rmcp`], feature `rmcp`, on by default) and for
//!   raw JSON-RPC ([`jsonrpc`]), whose params stay raw.
//! - [`MethodClass`]: lifecycle, list, read, tool call, subscription, task,
//!   callback, notification, or unknown, for every method of MCP 2025-06-18,
//!   2025-11-25 and 2026-07-28.
//! - [`CacheKey`]: a deterministic 128-bit key of method, canonical params
//!   (member order and `_meta` ignored), protocol version and [`Partition`];
//!   the same on every node and across restarts.
//! - [`Principal`]: who is asking, as a hash; never the raw identity.
//! - [`Clock`]: the monotonic clock limiters read, a few nanoseconds a
//!   read, following tokio's paused clock in tests.
//! - [`McpError`]: the one error type, with our rejections
//!   (`RateLimited`, `Overloaded`, `CircuitOpen`, `Timeout`, `TooLarge`, ...)
//!   and their JSON-RPC mapping (codes -32010..-32016, `data.retryAfterMs`).
//!
//! # Wrapping an rmcp server
//!
//! ```
//! use mcp_service::{McpRequest, MethodClass, rmcp::{RmcpRequest, StackedHandler}};
//! use rmcp::{ServerHandler, model::ServerConfig};
//! use tower::ServiceBuilder;
//!
//! #[derive(Clone)]
//! struct Hello;
//! impl ServerHandler for Hello {
//!     fn get_info(&self) -> ServerConfig {
//!         ServerConfig::default()
//!     }
//! }
//!
//! // Every request of the served handler now passes through the stack.
//! let handler = StackedHandler::new(
//!     Hello,
//!     ServiceBuilder::new().map_request(|request: RmcpRequest| {
//!         if request.class() == MethodClass::ToolCall {
//!             println!("tool {:?} called by {:?}", request.tool_name(), request.principal());
//!         }
//!         request
//!     }),
//! );
//! # let _ = handler;
//! ```
//!
//! # Writing a layer
//!
//! A layer is generic over `Req: McpRequest` and an inner service whose
//! error converts `Into<McpError>`; it reads the request through the trait
//! and rejects with an [`McpError`] variant. The same layer then works in an
//! rmcp server and in a JSON-RPC gateway.

#![cfg_attr(docsrs, feature(doc_auto_cfg))]

pub mod clock;
mod copies;
pub mod error;
pub mod jsonrpc;
pub mod key;
pub mod method;
pub mod principal;
#[cfg(feature = "redis")]
pub mod redis;
pub mod request;
pub mod response;
#[cfg(feature = "rmcp")]
pub mod rmcp;

pub use clock::Clock;
pub use copies::{CopyCall, ThreadCopies};
pub use error::{EdgeReply, McpError, RpcError};
pub use key::{CacheKey, ParamsDigest, Partition};
pub use method::{ClassSet, MethodClass};
pub use principal::Principal;
pub use request::McpRequest;
pub use response::{CacheHint, CacheScope, McpResponse, Outcome};
