//! `mcp_breaker` alone, in a `ServiceBuilder` around an rmcp handler: a
//! circuit breaker that opens on a failing backend and then fails fast, a
//! timeout with a deadline of its own for one tool, and a retried read.
//!
//! ```sh
//! cargo run --example breaker
//! ```
//!
//! The server runs in this process; an rmcp client talks to it over an
//! in-memory pipe.

use std::{
    error::Error,
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use mcp_breaker::{CircuitBreakerLayer, RetryLayer, TimeoutLayer};
use mcp_service::rmcp::StackedHandler;
use mcp_testkit::{Pair, connect};
use rmcp::{
    ClientCacheConfig, ErrorData, ServerHandler,
    model::{
        CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock,
        ReadResourceRequestParams, ReadResourceResponse, ReadResourceResult, ResourceContents,
        ServerCapabilities, ServerConfig,
    },
    service::{RequestContext, RoleServer},
};
use tower::ServiceBuilder;

/// A server in front of a backend that can go down: tool `stock` asks it
/// (and waits 100 ms for an answer that does not come when it is down),
/// tool `report` takes two seconds, and every other read of
/// `inventory://prices` fails on a transient error.
#[derive(Clone, Default)]
struct Inventory {
    down: Arc<AtomicBool>,
    /// Requests that reached the handler.
    calls: Arc<AtomicU64>,
    price_reads: Arc<AtomicU64>,
}

impl ServerHandler for Inventory {
    fn get_info(&self) -> ServerConfig {
        let capabilities = ServerCapabilities::builder()
            .enable_tools()
            .enable_resources()
            .build();
        ServerConfig::new(capabilities)
    }

    async fn call_tool(
        &self,
        params: CallToolRequestParams,
        _: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        let text = match &*params.name {
            "stock" if self.down.load(Ordering::SeqCst) => {
                // A dead backend is slow to say so.
                tokio::time::sleep(Duration::from_millis(100)).await;
                return Err(ErrorData::internal_error("database unreachable", None));
            }
            "stock" => "42 in stock",
            "report" => {
                tokio::time::sleep(Duration::from_secs(2)).await;
                "the report"
            }
            other => return Err(ErrorData::invalid_params(format!("no tool {other}"), None)),
        };
        let result = CallToolResult::success(vec![ContentBlock::text(text)]);
        Ok(CallToolResponse::Complete(result))
    }

    async fn read_resource(
        &self,
        params: ReadResourceRequestParams,
        _: RequestContext<RoleServer>,
    ) -> Result<ReadResourceResponse, ErrorData> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        let read = self.price_reads.fetch_add(1, Ordering::SeqCst) + 1;
        if read % 2 == 1 {
            return Err(ErrorData::internal_error("connection reset", None));
        }
        let contents = ResourceContents::text("apples 2.10, pears 2.40", params.uri);
        Ok(ReadResourceResponse::Complete(ReadResourceResult::new(
            vec![contents],
        )))
    }
}

/// A tool call as a line, with how long it took.
async fn call(pair: &Pair, tool: &str) -> String {
    let started = Instant::now();
    let outcome = match pair
        .client
        .call_tool(CallToolRequestParams::new(tool.to_owned()))
        .await
    {
        Ok(result) => {
            let text = result.content.first().and_then(ContentBlock::as_text);
            let text = text.map_or("", |text| text.text.as_str());
            match result.is_error {
                // Our layers' rejections of a tool call reach the model as
                // `isError` results, saying why.
                Some(true) => format!("isError: {text}"),
                _ => format!("ok: {text}"),
            }
        }
        Err(error) => format!("error: {error}"),
    };
    format!("{outcome} ({:.1?})", started.elapsed())
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error>> {
    let breaker = CircuitBreakerLayer::builder()
        .name("inventory")
        .consecutive_failures(3)
        .open_duration(Duration::from_millis(300))
        .jitter(0.0)
        .half_open_calls(1)
        .on_state_change(|change| {
            println!(
                "    breaker {}: {} -> {}",
                change.breaker,
                change.from.as_str(),
                change.to.as_str()
            );
        })
        .build()?;
    let state = breaker.handle();
    // Outermost first: a timeout counts as a failure at the breaker, and a
    // read the retry rescued counts once, as a success.
    let stack = ServiceBuilder::new()
        .layer(breaker)
        .layer(
            TimeoutLayer::new(Duration::from_secs(30)).tool("report", Duration::from_millis(200)),
        )
        .layer(
            RetryLayer::builder()
                .initial_backoff(Duration::from_millis(20))
                .build(),
        );
    let inventory = Inventory::default();
    let pair = connect(StackedHandler::new(inventory.clone(), stack)).await?;
    pair.client
        .peer()
        .set_response_cache_config(ClientCacheConfig::disabled())
        .await;

    println!("the backend goes down; 5 calls of `stock`:");
    inventory.down.store(true, Ordering::SeqCst);
    for n in 1..=5 {
        println!("  stock {n}: {}", call(&pair, "stock").await);
    }
    println!(
        "  the handler saw {} of them",
        inventory.calls.load(Ordering::SeqCst)
    );

    println!("the backend is back; after the open duration one probe closes it:");
    inventory.down.store(false, Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(350)).await;
    println!("  stock: {}", call(&pair, "stock").await);
    println!("  breaker now {}", state.state().as_str());

    println!("`report` has a 200 ms deadline (others 30 s); it takes 2 s:");
    println!("  report: {}", call(&pair, "report").await);

    println!("every other read of inventory://prices fails; the retry hides it:");
    let reads_before = inventory.price_reads.load(Ordering::SeqCst);
    let result = pair
        .client
        .read_resource(ReadResourceRequestParams::new("inventory://prices"))
        .await?;
    let text = result
        .contents
        .into_iter()
        .find_map(|contents| match contents {
            ResourceContents::TextResourceContents { text, .. } => Some(text),
            _ => None,
        });
    println!(
        "  read: {:?}, after {} attempts at the handler",
        text.unwrap_or_default(),
        inventory.price_reads.load(Ordering::SeqCst) - reads_before
    );
    Ok(())
}
