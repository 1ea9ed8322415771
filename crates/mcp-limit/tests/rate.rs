//! The rate limit on tokio's paused clock: exact admission counts, exact
//! retry times, shared limits, costs, exemptions, keys, bounded waits and a
//! bounded key store, and a rejected tool call through rmcp.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests fail loudly"
)]

use std::time::Duration;

use mcp_limit::{RateKey, RateLimitLayer};
use mcp_service::{
    McpError, McpRequest, MethodClass, Principal,
    jsonrpc::{JsonRpcRequest, JsonRpcResponse},
    rmcp::StackedHandler,
};
use mcp_testkit::{DemoHandler, connect};
use rmcp::model::CallToolRequestParams;
use serde_json::{Value, json};
use tower::{Service, ServiceExt, service_fn};

type Inner = tower::util::ServiceFn<
    fn(JsonRpcRequest) -> std::future::Ready<Result<JsonRpcResponse, McpError>>,
>;

fn ok(_: JsonRpcRequest) -> std::future::Ready<Result<JsonRpcResponse, McpError>> {
    std::future::ready(JsonRpcResponse::from_value(&json!({})))
}

fn limited(layer: &RateLimitLayer) -> mcp_limit::RateLimit<Inner> {
    tower::Layer::layer(layer, service_fn(ok as fn(_) -> _))
}

fn request(method: &str, params: Value) -> JsonRpcRequest {
    JsonRpcRequest::new(None, method, Some(&params)).unwrap()
}

fn tool(name: &str) -> JsonRpcRequest {
    request("tools/call", json!({"name": name}))
}

async fn outcome(
    service: &mut mcp_limit::RateLimit<Inner>,
    request: JsonRpcRequest,
) -> Result<(), McpError> {
    service.ready().await?.call(request).await.map(drop)
}

async fn admitted(
    service: &mut mcp_limit::RateLimit<Inner>,
    count: usize,
    make: impl Fn() -> JsonRpcRequest,
) -> usize {
    let mut admitted = 0;
    for _ in 0..count {
        if outcome(service, make()).await.is_ok() {
            admitted += 1;
        }
    }
    admitted
}

#[tokio::test(start_paused = true)]
async fn admits_exactly_the_burst_then_the_rate_with_exact_retry_times() {
    let layer = RateLimitLayer::builder(10, Duration::from_secs(1))
        .burst(5)
        .build()
        .unwrap();
    let mut service = limited(&layer);
    assert_eq!(admitted(&mut service, 20, || tool("a")).await, 5);
    assert_eq!(
        outcome(&mut service, tool("a")).await,
        Err(McpError::RateLimited {
            retry_after: Duration::from_millis(100)
        })
    );
    tokio::time::advance(Duration::from_millis(40)).await;
    assert_eq!(
        outcome(&mut service, tool("a")).await,
        Err(McpError::RateLimited {
            retry_after: Duration::from_millis(60)
        })
    );
    // Over one second at the rate: ten more, no more.
    let mut over_a_second = 0;
    for _ in 0..100 {
        tokio::time::advance(Duration::from_millis(10)).await;
        over_a_second += admitted(&mut service, 1, || tool("a")).await;
    }
    assert_eq!(over_a_second, 10);
}

#[tokio::test(start_paused = true)]
async fn clones_share_the_limit() {
    let layer = RateLimitLayer::builder(5, Duration::from_secs(1))
        .build()
        .unwrap();
    let service = limited(&layer);
    let mut total = 0;
    for _ in 0..10 {
        // A fresh clone for every request, as axum makes per connection.
        total += admitted(&mut service.clone(), 3, || tool("a")).await;
    }
    total += admitted(&mut limited(&layer), 3, || tool("a")).await;
    assert_eq!(total, 5);
}

#[tokio::test(start_paused = true)]
async fn costs_count_and_lifecycle_passes_unless_limited() {
    let layer = RateLimitLayer::builder(10, Duration::from_secs(1))
        .cost("report", 4)
        .build()
        .unwrap();
    let mut service = limited(&layer);
    assert_eq!(
        admitted(&mut service, 5, || tool("report")).await,
        2,
        "4 + 4 of 10"
    );
    assert_eq!(
        admitted(&mut service, 5, || tool("cheap")).await,
        2,
        "the last 2 units"
    );
    assert_eq!(
        admitted(&mut service, 50, || request("ping", json!({}))).await,
        50
    );
    assert_eq!(
        admitted(&mut service, 5, || request("initialize", json!({}))).await,
        5
    );

    let strict = RateLimitLayer::builder(1, Duration::from_secs(1))
        .limit(MethodClass::Lifecycle)
        .exempt(MethodClass::List)
        .build()
        .unwrap();
    let mut service = limited(&strict);
    assert_eq!(
        admitted(&mut service, 5, || request("ping", json!({}))).await,
        1
    );
    assert_eq!(
        admitted(&mut service, 5, || request("tools/list", json!({}))).await,
        5
    );

    let too_costly = RateLimitLayer::builder(10, Duration::from_secs(1))
        .burst(3)
        .cost("x", 4)
        .build();
    assert_eq!(too_costly.unwrap_err().setting, "cost");
    assert_eq!(
        RateLimitLayer::builder(0, Duration::from_secs(1))
            .build()
            .unwrap_err()
            .setting,
        "rate"
    );
}

fn as_principal(name: &str) -> JsonRpcRequest {
    let mut request = tool("search");
    request.insert_extension(Principal::from_identity(name));
    request
}

#[tokio::test(start_paused = true)]
async fn keys_give_each_principal_or_tool_its_own_limit() {
    let layer = RateLimitLayer::builder(2, Duration::from_secs(1))
        .key(RateKey::Principal)
        .build()
        .unwrap();
    let mut service = limited(&layer);
    assert_eq!(admitted(&mut service, 5, || as_principal("alice")).await, 2);
    assert_eq!(
        admitted(&mut service, 5, || as_principal("bob")).await,
        2,
        "bob is not slowed by alice"
    );
    assert_eq!(
        admitted(&mut service, 5, || tool("search")).await,
        2,
        "anonymous requests share one limit"
    );
    assert_eq!(layer.keys(), 3);

    let layer = RateLimitLayer::builder(2, Duration::from_secs(1))
        .key(RateKey::Tool)
        .build()
        .unwrap();
    let mut service = limited(&layer);
    assert_eq!(admitted(&mut service, 5, || tool("a")).await, 2);
    assert_eq!(admitted(&mut service, 5, || tool("b")).await, 2);
    assert_eq!(
        admitted(&mut service, 5, || request("tools/list", json!({}))).await,
        2
    );
}

#[tokio::test(start_paused = true)]
async fn a_bounded_wait_admits_late_and_rejects_beyond_it() {
    let layer = RateLimitLayer::builder(10, Duration::from_secs(1))
        .burst(1)
        .max_wait(Duration::from_millis(250))
        .build()
        .unwrap();
    let service = limited(&layer);
    let started = tokio::time::Instant::now();
    let results: Vec<_> = futures_join(service, 4).await;
    assert_eq!(
        results.iter().filter(|r| r.is_ok()).count(),
        3,
        "{results:?}"
    );
    assert!(matches!(results[3], Err(McpError::RateLimited { .. })));
    assert_eq!(
        started.elapsed(),
        Duration::from_millis(200),
        "the third waited 200 ms"
    );
}

async fn futures_join(
    service: mcp_limit::RateLimit<Inner>,
    count: usize,
) -> Vec<Result<(), McpError>> {
    let calls: Vec<_> = (0..count)
        .map(|_| tokio::spawn(service.clone().oneshot(tool("a"))))
        .collect();
    let mut results = Vec::new();
    for call in calls {
        results.push(call.await.unwrap().map(drop));
    }
    results
}

#[tokio::test(start_paused = true)]
async fn a_flood_of_keys_stays_within_the_bound_and_cannot_free_a_busy_key() {
    let layer = RateLimitLayer::builder(1, Duration::from_secs(1))
        .burst(5)
        .key(RateKey::Tool)
        .max_keys(1000)
        .build()
        .unwrap();
    let mut service = limited(&layer);
    assert_eq!(admitted(&mut service, 10, || tool("heavy")).await, 5);
    let flood = 1_000_000;
    let names: Vec<String> = (0..flood).map(|n| format!("t{n}")).collect();
    let mut admitted_flood = 0;
    for (n, name) in names.iter().enumerate() {
        if outcome(&mut service, tool(name)).await.is_ok() {
            admitted_flood += 1;
        }
        if n % 100_000 == 0 {
            assert!(
                outcome(&mut service, tool("heavy")).await.is_err(),
                "the busy key was forgotten after {n} flood keys"
            );
        }
    }
    assert_eq!(admitted_flood, flood, "each new key has its own burst");
    assert!(layer.keys() <= 1000, "{} keys kept", layer.keys());
    assert!(outcome(&mut service, tool("heavy")).await.is_err());
}

#[tokio::test(start_paused = true)]
async fn a_rejected_tool_call_tells_the_model_when_to_retry() {
    let inner = DemoHandler::default();
    let layer = RateLimitLayer::builder(1, Duration::from_secs(2))
        .build()
        .unwrap();
    let pair = connect(StackedHandler::new(inner.clone(), layer))
        .await
        .unwrap();
    let first = pair
        .client
        .call_tool(CallToolRequestParams::new("counter"))
        .await
        .unwrap();
    assert_ne!(first.is_error, Some(true));
    let second = pair
        .client
        .call_tool(CallToolRequestParams::new("counter"))
        .await
        .unwrap();
    assert_eq!(second.is_error, Some(true));
    let text = serde_json::to_value(&second.content).unwrap()[0]["text"].clone();
    assert_eq!(text, "rate limit exceeded; retry after 2000 ms");
    assert_eq!(inner.calls("tools/call"), 1);
    // `initialize` and `ping` are lifecycle: the limit of one never touched them.
    pair.client
        .peer()
        .send_request(rmcp::model::ClientRequest::PingRequest(Default::default()))
        .await
        .unwrap();
}
