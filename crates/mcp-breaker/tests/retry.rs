//! Retries: only safe requests, only failures, within the budget, with
//! growing waits on tokio's paused clock.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests fail loudly"
)]

use std::{
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering::SeqCst},
    },
    time::Duration,
};

use mcp_breaker::RetryLayer;
use mcp_service::{
    McpError, RpcError,
    jsonrpc::{JsonRpcRequest, JsonRpcResponse, RequestId},
};
use serde_json::{Value, json};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tower::{ServiceExt, service_fn};

fn request(method: &str, params: Value) -> JsonRpcRequest {
    JsonRpcRequest::new(Some(RequestId::Number(1)), method, Some(&params)).unwrap()
}

/// A service that fails with `error` for its first `failures` calls.
fn flaky(
    failures: usize,
    error: McpError,
) -> (
    Arc<AtomicUsize>,
    impl tower::Service<JsonRpcRequest, Response = JsonRpcResponse, Error = McpError, Future: Send>
    + Clone,
) {
    let calls = Arc::new(AtomicUsize::new(0));
    let counter = calls.clone();
    let service = service_fn(move |_request: JsonRpcRequest| {
        let (counter, error) = (counter.clone(), error.clone());
        async move {
            if counter.fetch_add(1, SeqCst) < failures {
                Err(error)
            } else {
                JsonRpcResponse::from_value(&json!({"ok": true}))
            }
        }
    });
    (calls, service)
}

fn deterministic() -> RetryLayer {
    RetryLayer::builder()
        .max_retries(3)
        .initial_backoff(Duration::from_millis(100))
        .jitter(0.0)
        .read_only_tools(["search"])
        .build()
}

fn server_error() -> McpError {
    RpcError::internal("backend hiccup").into()
}

#[tokio::test(start_paused = true)]
async fn a_failing_read_is_retried_with_growing_waits() {
    let (calls, inner) = flaky(2, server_error());
    let service = tower::ServiceBuilder::new()
        .layer(deterministic())
        .service(inner);
    let started = Instant::now();
    let result = service
        .oneshot(request("resources/read", json!({"uri": "a"})))
        .await;
    assert!(result.is_ok(), "{result:?}");
    assert_eq!(calls.load(SeqCst), 3);
    assert_eq!(started.elapsed(), Duration::from_millis(100 + 200));
}

#[tokio::test(start_paused = true)]
async fn retries_stop_at_the_limit() {
    let (calls, inner) = flaky(usize::MAX, server_error());
    let service = tower::ServiceBuilder::new()
        .layer(deterministic())
        .service(inner);
    let result = service.oneshot(request("tools/list", json!({}))).await;
    assert_eq!(result.unwrap_err(), server_error());
    assert_eq!(calls.load(SeqCst), 4, "one call and three retries");
}

#[tokio::test(start_paused = true)]
async fn only_safe_requests_are_retried() {
    let cases = [
        (request("tools/call", json!({"name": "send_email"})), 1),
        (request("tools/call", json!({"name": "search"})), 4),
        (request("prompts/get", json!({"name": "p"})), 4),
        (request("resources/subscribe", json!({"uri": "a"})), 1),
        (
            request("tools/call", json!({"name": "search", "requestState": "s"})),
            1,
        ),
        (request("vendor/custom", json!({})), 1),
    ];
    for (request, expected) in cases {
        let method = serde_json::to_string(request.params().unwrap()).unwrap();
        let (calls, inner) = flaky(usize::MAX, server_error());
        let service = tower::ServiceBuilder::new()
            .layer(deterministic())
            .service(inner);
        let _ = service.oneshot(request).await;
        assert_eq!(calls.load(SeqCst), expected, "{method}");
    }
}

#[tokio::test(start_paused = true)]
async fn only_failures_are_retried() {
    let not_failures = [
        McpError::RateLimited {
            retry_after: Duration::from_secs(1),
        },
        McpError::Overloaded,
        McpError::CircuitOpen {
            retry_after: Duration::from_secs(1),
        },
        McpError::Cancelled,
        RpcError::invalid_params("bad uri").into(),
        RpcError::method_not_found("x").into(),
    ];
    for error in not_failures {
        let (calls, inner) = flaky(usize::MAX, error.clone());
        let service = tower::ServiceBuilder::new()
            .layer(deterministic())
            .service(inner);
        let _ = service
            .oneshot(request("resources/read", json!({"uri": "a"})))
            .await;
        assert_eq!(calls.load(SeqCst), 1, "{error}");
    }
    let (calls, inner) = flaky(
        1,
        McpError::Timeout {
            after: Duration::from_secs(1),
        },
    );
    let service = tower::ServiceBuilder::new()
        .layer(deterministic())
        .service(inner);
    assert!(
        service
            .oneshot(request("resources/read", json!({"uri": "a"})))
            .await
            .is_ok()
    );
    assert_eq!(calls.load(SeqCst), 2, "timeouts are retried");
}

#[tokio::test(start_paused = true)]
async fn the_budget_keeps_retries_a_fraction_of_requests() {
    let layer = RetryLayer::builder()
        .max_retries(3)
        .jitter(0.0)
        .budget(0.1, 0, Duration::from_secs(10))
        .build();
    let (calls, inner) = flaky(usize::MAX, server_error());
    let service = tower::ServiceBuilder::new().layer(layer).service(inner);
    for _ in 0..100 {
        let _ = service
            .clone()
            .oneshot(request("tools/list", json!({})))
            .await;
    }
    let retries = calls.load(SeqCst) - 100;
    assert!(
        retries <= 10,
        "{retries} retries for 100 requests at a 10 % budget"
    );
    assert!(retries >= 9, "the budget is spent, not hoarded: {retries}");
}

#[tokio::test(start_paused = true)]
async fn a_cancelled_request_stops_retrying() {
    let token = CancellationToken::new();
    let calls = Arc::new(AtomicUsize::new(0));
    let inner = service_fn({
        let (calls, token) = (calls.clone(), token.clone());
        move |_request: JsonRpcRequest| {
            calls.fetch_add(1, SeqCst);
            token.cancel();
            async { Err::<JsonRpcResponse, _>(McpError::from(RpcError::internal("down"))) }
        }
    });
    let service = tower::ServiceBuilder::new()
        .layer(deterministic())
        .service(inner);
    let read = request("resources/read", json!({"uri": "a"})).with_cancellation(token);
    assert!(service.oneshot(read).await.is_err());
    assert_eq!(calls.load(SeqCst), 1);
}
