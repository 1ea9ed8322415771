//! An MCP Streamable HTTP client, for gateways and tests: rmcp's client
//! transport over pooled keep-alive HTTP/1.1 connections of its own (the
//! head parsed by `httparse`), with no TLS stack and no reqwest.
//!
//! [`HttpClient`] implements rmcp's `StreamableHttpClient`: it POSTs
//! JSON-RPC messages and reads their answers (202, JSON, or an SSE stream),
//! GETs the server's own event stream (resuming with `Last-Event-ID`), and
//! DELETEs the session when the client closes. Every response is read within
//! the limits rmcp's transport passes down (one SSE event, one JSON body, an
//! error's text), so a huge or endless answer ends in an error, not in
//! memory use.
//!
//! One client per upstream, cloned into every session to it, keeps their
//! connections in one pool:
//!
//! ```no_run
//! use std::time::Duration;
//! use mcp_stack::client::HttpClient;
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let upstream = HttpClient::builder()
//!     .max_idle_per_host(16)
//!     .idle_timeout(Duration::from_secs(20))
//!     .build();
//! // One MCP session per downstream client, all over the same connections.
//! let session = upstream
//!     .endpoint("http://127.0.0.1:8080/mcp")?
//!     .bearer_token("alice")
//!     .connect(())
//!     .await?;
//! let tools = session.peer().list_all_tools().await?;
//! println!("{} tools", tools.len());
//! session.cancel().await?;
//! # Ok(())
//! # }
//! ```
//!
//! Or in one call, with a pool of its own: [`connect`].
//!
//! Defaults: [`DEFAULT_MAX_IDLE_PER_HOST`] idle connections per host,
//! [`DEFAULT_IDLE_TIMEOUT`], [`DEFAULT_CONNECT_TIMEOUT`],
//! [`DEFAULT_REQUEST_TIMEOUT`], `TCP_NODELAY` on.
//!
//! Not built in: TLS (`https://` is refused with
//! [`HttpClientError::TlsNotSupported`]; terminate TLS beside the gateway),
//! HTTP/2, proxies, redirects and response compression.

pub(crate) mod body;
mod endpoint;
mod error;
mod h1;
pub(crate) mod http_client;
pub(crate) mod pool;
pub(crate) mod sse;
mod streamable;

use rmcp::{ClientHandler, RoleClient, service::RunningService};

pub use endpoint::{Endpoint, HttpTransport};
pub use error::{ConnectError, HttpClientError};
pub use http_client::{
    DEFAULT_CONNECT_TIMEOUT, DEFAULT_IDLE_TIMEOUT, DEFAULT_MAX_IDLE_PER_HOST,
    DEFAULT_REQUEST_TIMEOUT, HttpClient, HttpClientBuilder,
};

/// Connects `handler` as an MCP client to the server at `url` over a new
/// [`HttpClient`] with the default settings, and runs the handshake.
///
/// Each call makes its own connection pool; to reach one server many times,
/// or to send a token, use [`HttpClient::endpoint`].
pub async fn connect<H: ClientHandler>(
    url: &str,
    handler: H,
) -> Result<RunningService<RoleClient, H>, ConnectError> {
    HttpClient::new().endpoint(url)?.connect(handler).await
}
