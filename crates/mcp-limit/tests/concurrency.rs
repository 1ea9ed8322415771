//! Bulkheads on tokio's paused clock: pools are separate, a slot comes back
//! when its call ends or is dropped, and the queue is bounded in size and time.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests fail loudly"
)]

use std::{sync::Arc, time::Duration};

use mcp_limit::{ConcurrencyLimitLayer, PoolMatch};
use mcp_service::{
    McpError, McpRequest,
    jsonrpc::{JsonRpcRequest, JsonRpcResponse},
};
use serde_json::json;
use tokio::sync::Notify;
use tower::{Layer, ServiceExt, service_fn};

fn tool(name: &str) -> JsonRpcRequest {
    JsonRpcRequest::new(None, "tools/call", Some(&json!({"name": name}))).unwrap()
}

/// Tools named `hold` wait until `release` is notified; others answer at once.
fn holding(
    release: Arc<Notify>,
) -> impl tower::Service<
    JsonRpcRequest,
    Response = JsonRpcResponse,
    Error = McpError,
    Future: Send + 'static,
> + Clone
+ Send
+ 'static {
    service_fn(move |request: JsonRpcRequest| {
        let release = release.clone();
        async move {
            if request
                .tool_name()
                .is_some_and(|name| name.starts_with("hold"))
            {
                release.notified().await;
            }
            JsonRpcResponse::from_value(&json!({}))
        }
    })
}

fn layer() -> ConcurrencyLimitLayer {
    ConcurrencyLimitLayer::builder()
        .pool(
            "expensive",
            1,
            PoolMatch::Tools(vec!["hold".into(), "hold-too".into()]),
        )
        .build()
        .unwrap()
}

#[tokio::test(start_paused = true)]
async fn a_full_pool_sheds_its_own_requests_only() {
    let release = Arc::new(Notify::new());
    let layer = layer();
    let service = layer.layer(holding(release.clone()));
    let held = tokio::spawn(service.clone().oneshot(tool("hold")));
    tokio::task::yield_now().await;
    assert_eq!(layer.available("expensive"), Some(0));
    assert_eq!(
        service.clone().oneshot(tool("hold-too")).await.err(),
        Some(McpError::Overloaded)
    );
    assert!(
        service.clone().oneshot(tool("cheap")).await.is_ok(),
        "other tools are not in the pool"
    );
    let ping = JsonRpcRequest::new(None, "ping", None).unwrap();
    assert!(service.clone().oneshot(ping).await.is_ok());
    release.notify_waiters();
    assert!(held.await.unwrap().is_ok());
    assert_eq!(layer.available("expensive"), Some(1), "the slot came back");
}

#[tokio::test(start_paused = true)]
async fn a_dropped_call_gives_its_slot_back() {
    let layer = layer();
    let service = layer.layer(holding(Arc::new(Notify::new())));
    let mut held = Box::pin(service.clone().oneshot(tool("hold")));
    assert!(futures_poll_once(held.as_mut()).await.is_none());
    assert_eq!(layer.available("expensive"), Some(0));
    drop(held);
    assert_eq!(layer.available("expensive"), Some(1));
}

async fn futures_poll_once<F: std::future::Future + Unpin>(future: F) -> Option<F::Output> {
    tokio::time::timeout(Duration::from_millis(1), future)
        .await
        .ok()
}

#[tokio::test(start_paused = true)]
async fn the_queue_is_bounded_in_size_and_time() {
    let release = Arc::new(Notify::new());
    let layer = ConcurrencyLimitLayer::builder()
        .default_pool(1)
        .queue(1, Duration::from_millis(100))
        .build()
        .unwrap();
    let service = layer.layer(holding(release.clone()));
    let first = tokio::spawn(service.clone().oneshot(tool("hold")));
    tokio::task::yield_now().await;
    let second = tokio::spawn(service.clone().oneshot(tool("quick")));
    tokio::task::yield_now().await;
    assert_eq!(
        service.clone().oneshot(tool("quick")).await.err(),
        Some(McpError::Overloaded),
        "one place in the queue, taken"
    );
    release.notify_waiters();
    assert!(first.await.unwrap().is_ok());
    assert!(second.await.unwrap().is_ok(), "the waiter got the slot");

    let blocker = tokio::spawn(service.clone().oneshot(tool("hold")));
    tokio::task::yield_now().await;
    let started = tokio::time::Instant::now();
    let waited = service.clone().oneshot(tool("quick")).await;
    assert_eq!(waited.err(), Some(McpError::Overloaded));
    assert_eq!(
        started.elapsed(),
        Duration::from_millis(100),
        "the wait is bounded"
    );
    release.notify_waiters();
    assert!(blocker.await.unwrap().is_ok());
}

#[test]
fn bad_pools_are_named() {
    let empty = ConcurrencyLimitLayer::builder()
        .pool("x", 0, PoolMatch::Tools(vec![]))
        .build();
    assert_eq!(empty.unwrap_err().setting, "pool");
    let twice = ConcurrencyLimitLayer::builder()
        .pool("x", 1, PoolMatch::Tools(vec![]))
        .pool("x", 1, PoolMatch::Tools(vec![]))
        .build();
    assert!(twice.unwrap_err().problem.contains("two pools"));
}
