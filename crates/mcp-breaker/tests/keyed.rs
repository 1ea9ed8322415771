//! Keyed breakers: one tool's failures open only its breaker, the number of
//! breakers stays bounded under a flood of names, and state changes reach
//! metrics.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests fail loudly"
)]

use std::{sync::Arc, time::Duration};

use mcp_breaker::{BreakerKey, CircuitBreakerLayer, Route, State};
use mcp_service::{
    McpError, McpRequest, RpcError,
    jsonrpc::{JsonRpcRequest, JsonRpcResponse},
};
use metrics_util::debugging::{DebugValue, DebuggingRecorder};
use serde_json::json;
use tower::{ServiceExt, service_fn};

fn call(tool: &str) -> JsonRpcRequest {
    JsonRpcRequest::new(None, "tools/call", Some(&json!({"name": tool}))).unwrap()
}

fn failing_for(
    bad: &'static str,
) -> impl tower::Service<JsonRpcRequest, Response = JsonRpcResponse, Error = McpError, Future: Send>
+ Clone {
    service_fn(move |request: JsonRpcRequest| async move {
        if request.tool_name() == Some(bad) {
            Err(McpError::from(RpcError::internal("down")))
        } else {
            JsonRpcResponse::from_value(&json!({"content": []}))
        }
    })
}

#[tokio::test(start_paused = true)]
async fn one_tools_failures_open_only_its_breaker() {
    let layer = CircuitBreakerLayer::builder()
        .consecutive_failures(2)
        .build_keyed(BreakerKey::Tool)
        .unwrap();
    let handle = layer.handle();
    let service = tower::ServiceBuilder::new()
        .layer(layer)
        .service(failing_for("broken"));
    for _ in 0..2 {
        let _ = service.clone().oneshot(call("broken")).await;
    }
    assert_eq!(handle.state("broken"), Some(State::Open));
    assert!(matches!(
        service.clone().oneshot(call("broken")).await,
        Err(McpError::CircuitOpen { .. })
    ));
    assert!(
        service.clone().oneshot(call("fine")).await.is_ok(),
        "other tools still pass"
    );
    assert_eq!(handle.state("fine"), Some(State::Closed));
    handle.reset("broken");
    assert_eq!(handle.state("broken"), Some(State::Closed));
    handle.force_open("fine");
    assert!(service.oneshot(call("fine")).await.is_err());
}

#[tokio::test(start_paused = true)]
async fn routes_key_a_gateways_upstreams() {
    let layer = CircuitBreakerLayer::builder()
        .consecutive_failures(1)
        .build_keyed(BreakerKey::Route)
        .unwrap();
    let handle = layer.handle();
    let service = tower::ServiceBuilder::new()
        .layer(layer)
        .service(service_fn(|request: JsonRpcRequest| async move {
            match request.extension::<Route>().map(|route| &*route.0) {
                Some("upstream-a") => Err(McpError::unavailable("connection refused")),
                _ => JsonRpcResponse::from_value(&json!({})),
            }
        }));
    let mut to_a = call("x");
    to_a.insert_extension(Route(Arc::from("upstream-a")));
    let mut to_b = call("x");
    to_b.insert_extension(Route(Arc::from("upstream-b")));
    let _ = service.clone().oneshot(to_a).await;
    assert_eq!(handle.state("upstream-a"), Some(State::Open));
    assert!(service.oneshot(to_b).await.is_ok());
    assert_eq!(handle.state("upstream-b"), Some(State::Closed));
}

#[tokio::test(start_paused = true)]
async fn a_flood_of_tool_names_keeps_the_breakers_bounded() {
    let layer = CircuitBreakerLayer::builder()
        .max_keys(100)
        .build_keyed(BreakerKey::Tool)
        .unwrap();
    let handle = layer.handle();
    let service = tower::ServiceBuilder::new()
        .layer(layer)
        .service(failing_for("none"));
    for n in 0..10_000 {
        let _ = service.clone().oneshot(call(&format!("made-up-{n}"))).await;
    }
    assert!(handle.len() <= 100, "{} breakers kept", handle.len());
    assert!(!handle.is_empty());
}

#[tokio::test(start_paused = true)]
async fn state_changes_and_rejections_reach_metrics() {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let layer = metrics::with_local_recorder(&recorder, || {
        CircuitBreakerLayer::builder()
            .name("search-backend")
            .consecutive_failures(1)
            .open_duration(Duration::from_secs(5))
            .build()
            .unwrap()
    });
    let service = tower::ServiceBuilder::new()
        .layer(layer)
        .service(failing_for("broken"));
    let _ = service.clone().oneshot(call("broken")).await;
    let _ = service.clone().oneshot(call("broken")).await;
    let _ = service.oneshot(call("broken")).await;

    let metrics: Vec<_> = snapshotter.snapshot().into_vec();
    let value = |name: &str, state: Option<&str>| {
        metrics
            .iter()
            .find(|(key, ..)| {
                key.key().name() == name
                    && key
                        .key()
                        .labels()
                        .any(|l| l.key() == "breaker" && l.value() == "search-backend")
                    && state.is_none_or(|state| {
                        key.key()
                            .labels()
                            .any(|l| l.key() == "state" && l.value() == state)
                    })
            })
            .map(|(_, _, _, value)| value)
    };
    assert_eq!(
        value("mcp.breaker.transitions", Some("open")),
        Some(&DebugValue::Counter(1))
    );
    assert_eq!(
        value("mcp.breaker.rejections", None),
        Some(&DebugValue::Counter(2))
    );
    assert_eq!(
        value("mcp.breaker.state", None),
        Some(&DebugValue::Gauge(1.0.into())),
        "the gauge shows open"
    );
}
