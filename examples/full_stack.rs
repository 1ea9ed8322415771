//! The mcp-stack demo server: the demo MCP handler behind a tower stack,
//! served over Streamable HTTP on loopback.
//!
//! ```text
//! cargo run --release --example full_stack            # http://127.0.0.1:3000/mcp
//! cargo run --release --example full_stack -- 127.0.0.1:4000
//! ```
//!
//! Routes: `/mcp` (MCP Streamable HTTP), `/healthz`. Ctrl-C stops it after
//! in-flight requests finish.
//!
//! The stack grows as the layer crates land. Today, outermost first: a
//! concurrency limit, a circuit breaker, per-tool deadlines, and retries of
//! safe requests, around mcp-service's rmcp adapter.

use std::{net::SocketAddr, sync::Arc, time::Duration};

use axum::{Router, routing::get};
use mcp_breaker::{CircuitBreakerLayer, RetryLayer, TimeoutLayer};
use mcp_service::rmcp::StackedHandler;
use mcp_testkit::{DemoConfig, DemoHandler};
use rmcp::transport::streamable_http_server::{
    StreamableHttpServerConfig, StreamableHttpService, session::local::LocalSessionManager,
};
use tower::ServiceBuilder;

/// In-flight requests allowed at once before callers wait.
const MAX_IN_FLIGHT: usize = 256;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let addr: SocketAddr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:3000".into())
        .parse()
        .map_err(|error| {
            format!("the first argument must be an address like 127.0.0.1:3000: {error}")
        })?;

    let handler = DemoHandler::new(DemoConfig::default());
    // Built once, so every session shares one breaker and one retry budget.
    let breaker = CircuitBreakerLayer::builder().name("demo").build()?;
    let timeout = TimeoutLayer::new(Duration::from_secs(30)).tool("slow", Duration::from_secs(10));
    let retry = RetryLayer::builder()
        .read_only_tools(["echo", "whoami"])
        .build();
    let mcp = StreamableHttpService::new(
        move || {
            Ok(StackedHandler::new(
                handler.clone(),
                ServiceBuilder::new()
                    .concurrency_limit(MAX_IN_FLIGHT)
                    .layer(breaker.clone())
                    .layer(timeout.clone())
                    .layer(retry.clone()),
            ))
        },
        Arc::new(LocalSessionManager::default()),
        StreamableHttpServerConfig::default(),
    );
    let app = Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .nest_service("/mcp", mcp);

    let listener = tokio::net::TcpListener::bind(addr).await?;
    println!(
        "mcp-stack demo server on http://{}/mcp (Ctrl-C to stop)",
        listener.local_addr()?
    );
    axum::serve(listener, app)
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await?;
    Ok(())
}
