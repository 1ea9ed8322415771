//! The fill rules through a real rmcp client and server: single-flight,
//! stale-if-error with the hit marker, stale-while-revalidate, and MCP's
//! change notifications dropping what they change.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests fail loudly"
)]

use std::{sync::Arc, time::Duration};

use mcp_cache::{CacheLayer, HIT_MARKER, Rule};
use mcp_service::{CacheScope, rmcp::StackedHandler};
use mcp_testkit::{DemoConfig, DemoHandler, Pair, connect};
use rmcp::{
    ClientCacheConfig, ServerHandler,
    model::{CallToolRequestParams, ReadResourceRequestParams, ResourceContents},
};
use serde_json::json;

async fn pair(cache: &CacheLayer, handler: &DemoHandler) -> Pair {
    let pair = connect(StackedHandler::new(handler.clone(), cache.clone()))
        .await
        .unwrap();
    pair.client
        .peer()
        .set_response_cache_config(ClientCacheConfig::disabled())
        .await;
    pair
}

fn text_of(result: &rmcp::model::ReadResourceResult) -> &str {
    match &result.contents[0] {
        ResourceContents::TextResourceContents { text, .. } => text,
        other => panic!("expected text, got {other:?}"),
    }
}

#[tokio::test(start_paused = true)]
async fn a_thousand_concurrent_identical_tool_calls_make_one_call() {
    let handler = DemoHandler::new(DemoConfig {
        tool_delay: Duration::from_millis(50),
        ..DemoConfig::default()
    });
    let lookup = handler.clone();
    let cache = CacheLayer::builder()
        .tool(
            "echo",
            Rule::ttl(Duration::from_secs(60)).with_scope(CacheScope::Public),
        )
        .tool_info(move |name: &str| lookup.get_tool(name)?.annotations?.read_only_hint)
        .build()
        .unwrap();
    let pair = Arc::new(pair(&cache, &handler).await);
    let calls: Vec<_> = (0..1000)
        .map(|_| {
            let pair = pair.clone();
            tokio::spawn(async move {
                let params = CallToolRequestParams::new("echo")
                    .with_arguments(json!({"text": "once"}).as_object().cloned().unwrap());
                pair.client.call_tool(params).await
            })
        })
        .collect();
    for call in calls {
        let result = call.await.unwrap().unwrap();
        assert_eq!(
            serde_json::to_value(&result.content).unwrap()[0]["text"],
            "once"
        );
    }
    assert_eq!(
        handler.calls("tools/call:echo"),
        1,
        "one call for a thousand"
    );
    assert_eq!(cache.counts().coalesced, 999);
}

#[tokio::test(start_paused = true)]
async fn a_failing_server_is_answered_with_the_stale_entry_marked_stale() {
    let handler = DemoHandler::new(DemoConfig {
        ttl_ms: Some(1000),
        ..DemoConfig::default()
    });
    let cache = CacheLayer::builder()
        .stale_if_error(Some(Duration::from_secs(60)))
        .hit_marker(true)
        .build()
        .unwrap();
    let pair = pair(&cache, &handler).await;
    let read = || {
        pair.client
            .read_resource(ReadResourceRequestParams::new("demo://static/readme"))
    };
    let fresh = read().await.unwrap();
    assert!(fresh.meta.is_none(), "a miss carries no marker");
    tokio::time::advance(Duration::from_millis(500)).await;
    let hit = read().await.unwrap();
    let marker = &hit.meta.as_ref().unwrap().0[HIT_MARKER];
    assert_eq!(marker, &json!({"tier": "l1", "ageMs": 500, "stale": false}));

    tokio::time::advance(Duration::from_secs(2)).await;
    handler.set_failing(true);
    let stale = read().await.unwrap();
    assert_eq!(text_of(&stale), "mcp-stack demo server");
    let marker = &stale.meta.as_ref().unwrap().0[HIT_MARKER];
    assert_eq!(marker["stale"], true);
    assert_eq!(
        handler.calls("resources/read"),
        2,
        "the server was asked, and failed"
    );

    tokio::time::advance(Duration::from_secs(60)).await;
    let error = read().await.unwrap_err();
    assert!(error.to_string().contains("backend down"), "{error}");
}

#[tokio::test(start_paused = true)]
async fn a_stale_entry_is_served_while_one_refresh_runs() {
    let handler = DemoHandler::new(DemoConfig {
        ttl_ms: Some(1000),
        ..DemoConfig::default()
    });
    let cache = CacheLayer::builder()
        .stale_while_revalidate(Some(Duration::from_secs(30)))
        .build()
        .unwrap();
    let pair = pair(&cache, &handler).await;
    let read = || {
        pair.client
            .read_resource(ReadResourceRequestParams::new("demo://static/readme"))
    };
    read().await.unwrap();
    tokio::time::advance(Duration::from_secs(2)).await;
    for _ in 0..5 {
        read().await.unwrap();
    }
    // Let the background refresh run.
    tokio::time::sleep(Duration::from_millis(10)).await;
    assert_eq!(
        handler.calls("resources/read"),
        2,
        "five stale reads, one refresh"
    );
    read().await.unwrap();
    assert_eq!(
        handler.calls("resources/read"),
        2,
        "the refreshed entry is fresh"
    );
}

#[tokio::test]
async fn change_notifications_drop_what_they_change() {
    let handler = DemoHandler::default();
    let cache = CacheLayer::new();
    let invalidator = cache.invalidator();
    let pair = pair(&cache, &handler).await;
    for _ in 0..2 {
        pair.client.list_tools(None).await.unwrap();
        pair.client.list_resources(None).await.unwrap();
        pair.client
            .read_resource(ReadResourceRequestParams::new("demo://static/readme"))
            .await
            .unwrap();
    }
    assert_eq!(
        (
            handler.calls("tools/list"),
            handler.calls("resources/list"),
            handler.calls("resources/read")
        ),
        (1, 1, 1)
    );
    invalidator
        .notification("notifications/tools/list_changed", None)
        .await;
    invalidator
        .notification(
            "notifications/resources/updated",
            Some(&json!({"uri": "demo://static/readme"})),
        )
        .await;
    pair.client.list_tools(None).await.unwrap();
    pair.client.list_resources(None).await.unwrap();
    pair.client
        .read_resource(ReadResourceRequestParams::new("demo://static/readme"))
        .await
        .unwrap();
    assert_eq!(
        (
            handler.calls("tools/list"),
            handler.calls("resources/list"),
            handler.calls("resources/read")
        ),
        (2, 1, 2),
        "tools/list and the updated resource were dropped; resources/list was not"
    );
}
