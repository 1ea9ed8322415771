//! Stale serving, the hit marker, outcomes that are never kept, and
//! invalidation, on tokio's paused clock over raw JSON-RPC.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests fail loudly"
)]

mod common;

use std::time::Duration;

use common::{Answer, Backend, call, read, request, text};
use mcp_cache::{CacheLayer, HIT_MARKER, Rule, Tag};
use mcp_service::CacheScope;
use serde_json::{Value, json};
use tower::Layer;

fn answer(ttl_ms: u64) -> Answer {
    Answer::Read {
        ttl_ms: Some(ttl_ms),
        scope: Some("public"),
    }
}

#[tokio::test(start_paused = true)]
async fn stale_while_revalidate_serves_at_once_and_refreshes_once() {
    let backend = Backend::new(Duration::from_millis(100), answer(1000));
    let cache = CacheLayer::builder()
        .stale_while_revalidate(Some(Duration::from_secs(10)))
        .build()
        .unwrap();
    let service = cache.layer(backend.service());
    assert_eq!(
        text(&call(&service, read("demo://a")).await.unwrap()),
        "call 1 for anonymous"
    );

    tokio::time::advance(Duration::from_millis(1500)).await;
    let started = tokio::time::Instant::now();
    for _ in 0..5 {
        let stale = call(&service, read("demo://a")).await.unwrap();
        assert_eq!(text(&stale), "call 1 for anonymous");
    }
    assert_eq!(started.elapsed(), Duration::ZERO, "served without waiting");
    tokio::time::sleep(Duration::from_millis(150)).await;
    assert_eq!(
        backend.calls(),
        2,
        "one background refresh for five stale hits"
    );
    assert_eq!(
        text(&call(&service, read("demo://a")).await.unwrap()),
        "call 2 for anonymous"
    );
    assert_eq!(cache.counts().stale_hits, 5);

    tokio::time::advance(Duration::from_secs(12)).await;
    assert_eq!(
        text(&call(&service, read("demo://a")).await.unwrap()),
        "call 3 for anonymous",
        "past the window, a plain miss"
    );
}

#[tokio::test(start_paused = true)]
async fn stale_if_error_answers_server_failures_within_the_window() {
    let backend = Backend::new(Duration::ZERO, answer(1000));
    let cache = CacheLayer::builder()
        .stale_if_error(Some(Duration::from_secs(60)))
        .hit_marker(true)
        .build()
        .unwrap();
    let service = cache.layer(backend.service());
    call(&service, read("demo://a")).await.unwrap();
    tokio::time::advance(Duration::from_secs(2)).await;

    backend.answer(Answer::Error(-32603));
    let stale = call(&service, read("demo://a")).await.unwrap();
    assert_eq!(text(&stale), "call 1 for anonymous");
    let marker = marker(&stale);
    assert_eq!(marker, json!({"tier": "l1", "ageMs": 2000, "stale": true}));

    backend.answer(Answer::Error(-32602));
    let error = call(&service, read("demo://a")).await.unwrap_err();
    assert_eq!(
        error.code(),
        -32602,
        "a client error is the client's to see"
    );

    backend.answer(Answer::Error(-32603));
    tokio::time::advance(Duration::from_secs(60)).await;
    let error = call(&service, read("demo://a")).await.unwrap_err();
    assert_eq!(error.code(), -32603, "past the window the error shows");
    assert_eq!(cache.counts().stale_hits, 1);
}

fn marker(response: &mcp_service::jsonrpc::JsonRpcResponse) -> Value {
    let value: Value = serde_json::from_str(response.result().get()).unwrap();
    value["_meta"][HIT_MARKER].clone()
}

#[tokio::test(start_paused = true)]
async fn the_hit_marker_tells_tier_and_age_and_is_off_by_default() {
    let backend = Backend::new(Duration::ZERO, answer(60_000));
    let marked = CacheLayer::builder().hit_marker(true).build().unwrap();
    let service = marked.layer(backend.service());
    let first = call(&service, read("demo://a")).await.unwrap();
    assert_eq!(marker(&first), Value::Null, "a miss is not marked");
    tokio::time::advance(Duration::from_millis(250)).await;
    let hit = call(&service, read("demo://a")).await.unwrap();
    assert_eq!(
        marker(&hit),
        json!({"tier": "l1", "ageMs": 250, "stale": false})
    );
    assert_eq!(text(&hit), text(&first));

    let plain = CacheLayer::new().layer(backend.service());
    call(&plain, read("demo://a")).await.unwrap();
    assert_eq!(
        marker(&call(&plain, read("demo://a")).await.unwrap()),
        Value::Null
    );
}

#[tokio::test]
async fn tool_errors_input_required_and_retries_are_never_kept() {
    let backend = Backend::new(
        Duration::ZERO,
        Answer::Result(json!({"content": [{"type": "text", "text": "no"}], "isError": true})),
    );
    let cache = CacheLayer::builder()
        .tool(
            "lookup",
            Rule::ttl(Duration::from_secs(60)).with_scope(CacheScope::Public),
        )
        .tool_info(|tool: &str| Some(tool == "lookup"))
        .method("prompts/get", Rule::HINTED)
        .assume_scope(CacheScope::Public)
        .build()
        .unwrap();
    let service = cache.layer(backend.service());
    let lookup = || {
        request(
            "tools/call",
            json!({"name": "lookup", "arguments": {"q": 1}}),
            None,
        )
    };
    call(&service, lookup()).await.unwrap();
    call(&service, lookup()).await.unwrap();
    assert_eq!(backend.calls(), 2, "isError: true is not kept");

    backend.answer(Answer::Result(
        json!({"resultType": "input_required", "inputRequests": {}}),
    ));
    call(&service, lookup()).await.unwrap();
    call(&service, lookup()).await.unwrap();
    assert_eq!(backend.calls(), 4, "input_required is not kept");

    backend.answer(Answer::Result(json!({"content": [], "isError": false})));
    let retry = || {
        request(
            "tools/call",
            json!({"name": "lookup", "arguments": {"q": 1}, "inputResponses": {"a": {}}}),
            None,
        )
    };
    call(&service, retry()).await.unwrap();
    call(&service, retry()).await.unwrap();
    assert_eq!(
        backend.calls(),
        6,
        "a retry with inputResponses is not cached"
    );
    call(&service, lookup()).await.unwrap();
    call(&service, lookup()).await.unwrap();
    assert_eq!(backend.calls(), 7, "the plain call is");

    backend.answer(Answer::Result(json!({"messages": []})));
    let prompt = || request("prompts/get", json!({"name": "greet"}), None);
    call(&service, prompt()).await.unwrap();
    call(&service, prompt()).await.unwrap();
    assert_eq!(backend.calls(), 8, "prompts/get once opted in");
}

#[tokio::test]
async fn invalidations_drop_what_they_name_and_notifications_map_onto_them() {
    let backend = Backend::new(Duration::ZERO, answer(60_000));
    let cache = CacheLayer::builder()
        .tool(
            "lookup",
            Rule::ttl(Duration::from_secs(60)).with_scope(CacheScope::Public),
        )
        .tool_info(|_: &str| Some(true))
        .build()
        .unwrap();
    let invalidator = cache.invalidator();
    let service = cache.layer(backend.service());
    let list = || request("tools/list", json!({}), None);
    let lookup = || request("tools/call", json!({"name": "lookup"}), None);
    let warm = || async {
        for request in [read("demo://a"), read("demo://b"), list(), lookup()] {
            call(&service, request).await.unwrap();
        }
        backend.calls()
    };
    assert_eq!(warm().await, 4);
    assert_eq!(warm().await, 4, "all four kept");

    invalidator.resource("demo://a").await;
    assert_eq!(warm().await, 5, "only demo://a was dropped");
    assert!(
        invalidator
            .notification(
                "notifications/resources/updated",
                Some(&json!({"uri": "demo://b"}))
            )
            .await
    );
    assert_eq!(warm().await, 6);
    assert!(
        invalidator
            .notification("notifications/tools/list_changed", None)
            .await
    );
    assert_eq!(warm().await, 7);
    invalidator.tool("lookup").await;
    assert_eq!(warm().await, 8);
    invalidator.request(&read("demo://a")).await;
    assert_eq!(warm().await, 9);
    invalidator.all().await;
    assert_eq!(warm().await, 13);
    assert!(
        !invalidator
            .notification("notifications/progress", None)
            .await
    );
    invalidator.tags(&[Tag::Method("resources/read")]).await;
    assert_eq!(warm().await, 15);
}

#[tokio::test(start_paused = true)]
async fn a_fill_that_started_before_an_invalidation_is_not_stored_after_it() {
    let backend = Backend::new(Duration::from_millis(100), answer(60_000));
    let cache = CacheLayer::new();
    let invalidator = cache.invalidator();
    let service = cache.layer(backend.service());
    let slow = {
        let service = service.clone();
        tokio::spawn(async move { call(&service, read("demo://a")).await })
    };
    tokio::time::sleep(Duration::from_millis(50)).await;
    invalidator.resource("demo://a").await;
    let answered = slow.await.unwrap().unwrap();
    assert_eq!(
        text(&answered),
        "call 1 for anonymous",
        "the caller still gets its answer"
    );
    assert_eq!(
        text(&call(&service, read("demo://a")).await.unwrap()),
        "call 2 for anonymous",
        "but it was not kept"
    );
    assert_eq!(
        text(&call(&service, read("demo://a")).await.unwrap()),
        "call 2 for anonymous"
    );
}
