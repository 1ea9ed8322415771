//! `mcp_limit` alone, in a `ServiceBuilder` around an rmcp handler: a rate
//! limit per principal that rejects a burst and says when to retry, and a
//! bulkhead that keeps an expensive tool to two calls at a time.
//!
//! ```sh
//! cargo run --example limit
//! ```
//!
//! The server is the test kit's demo handler (tools `echo` and `slow`,
//! among others), in this process; rmcp clients talk to it over an
//! in-memory pipe, one per user.

use std::{error::Error, time::Duration};

use futures::future::join_all;
use mcp_limit::{ConcurrencyLimitLayer, PoolMatch, RateKey, RateLimitLayer};
use mcp_service::{
    McpRequest, Principal,
    rmcp::{RmcpRequest, StackedHandler},
};
use mcp_testkit::{DemoHandler, Pair, connect};
use rmcp::{
    ClientCacheConfig, ServiceError,
    model::{CallToolRequestParams, CallToolResult, ReadResourceRequestParams},
};
use serde_json::json;
use tower::ServiceBuilder;

/// A client whose requests pass `rate` and then `bulkheads` as `user`.
async fn client(
    rate: &RateLimitLayer,
    bulkheads: &ConcurrencyLimitLayer,
    user: &str,
) -> Result<Pair, Box<dyn Error>> {
    // Over HTTP the principal comes from the `Authorization` header; over
    // this in-memory pipe there is none, so the stack sets it.
    let principal = Principal::from_identity(user);
    let stack = ServiceBuilder::new()
        .map_request(move |mut request: RmcpRequest| {
            request.insert_extension(principal);
            request
        })
        .layer(rate.clone())
        .layer(bulkheads.clone());
    let pair = connect(StackedHandler::new(DemoHandler::default(), stack)).await?;
    pair.client
        .peer()
        .set_response_cache_config(ClientCacheConfig::disabled())
        .await;
    Ok(pair)
}

async fn call(
    pair: &Pair,
    tool: &str,
    arguments: serde_json::Value,
) -> Result<String, ServiceError> {
    let arguments = arguments.as_object().cloned().unwrap_or_default();
    let params = CallToolRequestParams::new(tool.to_owned()).with_arguments(arguments);
    Ok(describe(&pair.client.call_tool(params).await?))
}

/// A tool result as a line: rejections come back as `isError` results, so
/// the model reads why and when to retry.
fn describe(result: &CallToolResult) -> String {
    let text = result
        .content
        .iter()
        .filter_map(|content| content.as_text())
        .map(|text| text.text.as_str())
        .collect::<Vec<_>>()
        .join(" ");
    match result.is_error {
        Some(true) => format!("isError: {text}"),
        _ => format!("ok: {text}"),
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error>> {
    // Clones share their state, so every connection draws on the same
    // buckets and slots.
    let rate = RateLimitLayer::builder(5, Duration::from_secs(1))
        .key(RateKey::Principal)
        .build()?;
    let bulkheads = ConcurrencyLimitLayer::builder()
        .pool("expensive", 2, PoolMatch::Tools(vec!["slow".into()]))
        .build()?;

    let alice = client(&rate, &bulkheads, "alice").await?;
    println!("alice makes 7 calls in a row (5 a second, burst 5, per principal):");
    for n in 1..=7 {
        let text = format!("hello {n}");
        println!(
            "  echo {n}: {}",
            call(&alice, "echo", json!({ "text": text })).await?
        );
    }
    // Other methods get a JSON-RPC error whose data carries retryAfterMs.
    let read = alice
        .client
        .read_resource(ReadResourceRequestParams::new("demo://static/readme"))
        .await;
    let mut wait = Duration::from_millis(200);
    match read {
        Err(ServiceError::McpError(error)) => {
            let data = error.data.unwrap_or_default();
            let retry_after_ms = data["retryAfterMs"].as_u64().unwrap_or(200);
            println!(
                "  resources/read: error {}: {} (data.retryAfterMs: {retry_after_ms})",
                error.code.0, error.message
            );
            wait = Duration::from_millis(retry_after_ms);
        }
        other => println!("  resources/read: {other:?}"),
    }

    let bob = client(&rate, &bulkheads, "bob").await?;
    let text = call(&bob, "echo", json!({ "text": "hi" })).await?;
    println!("bob has a bucket of his own: {text}");

    tokio::time::sleep(wait).await;
    let text = call(&alice, "echo", json!({ "text": "again" })).await?;
    println!("alice after waiting {wait:?}: {text}");

    // The bulkhead: `slow` gets 2 slots; other tools are not held up by it.
    let carol = client(&rate, &bulkheads, "carol").await?;
    println!("carol starts 4 slow calls at once (2 slots), and an echo:");
    let slow = (1..=4).map(|_| call(&carol, "slow", json!({ "ms": 300 })));
    let (slow, echo) = tokio::join!(
        join_all(slow),
        call(&carol, "echo", json!({ "text": "quick" }))
    );
    for (n, result) in slow.into_iter().enumerate() {
        println!("  slow {}: {}", n + 1, result?);
    }
    println!("  echo: {}", echo?);
    println!(
        "free slots now: {}; keyed buckets kept: {}",
        bulkheads.available("expensive").unwrap_or(0),
        rate.keys()
    );
    Ok(())
}
