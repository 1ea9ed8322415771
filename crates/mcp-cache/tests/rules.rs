//! What is cached and for how long, through a real rmcp client and server:
//! the default methods, opted-in read-only tools, errors and oversized
//! results kept out, `ttlMs` honoured, capped and overridden, and
//! `cacheScope` partitioning private results by principal.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests fail loudly"
)]

use std::time::Duration;

use mcp_cache::{CacheBuilder, CacheLayer, Rule};
use mcp_service::{
    CacheScope, McpRequest, Principal,
    rmcp::{RmcpRequest, StackedHandler},
};
use mcp_testkit::{DemoConfig, DemoHandler, Pair, connect};
use rmcp::{
    ClientCacheConfig, ServerHandler,
    model::{
        CallToolRequestParams, GetPromptRequestParams, ReadResourceRequestParams, ResourceContents,
    },
};
use serde_json::json;
use tower::ServiceBuilder;

fn demo_tools(handler: &DemoHandler) -> impl Fn(&str) -> Option<bool> + Send + Sync + 'static {
    let handler = handler.clone();
    move |name: &str| handler.get_tool(name)?.annotations?.read_only_hint
}

fn builder(handler: &DemoHandler) -> CacheBuilder {
    CacheLayer::builder().tool_info(demo_tools(handler))
}

/// A client whose requests reach `handler` through `cache`, as `principal`.
async fn client(cache: &CacheLayer, handler: &DemoHandler, principal: Option<&str>) -> Pair {
    let principal = principal.map(Principal::from_identity);
    let stack = ServiceBuilder::new()
        .map_request(move |mut request: RmcpRequest| {
            if let Some(principal) = principal {
                request.insert_extension(principal);
            }
            request
        })
        .layer(cache.clone());
    let pair = connect(StackedHandler::new(handler.clone(), stack))
        .await
        .unwrap();
    // rmcp's client keeps results too; off, every request reaches the server.
    pair.client
        .peer()
        .set_response_cache_config(ClientCacheConfig::disabled())
        .await;
    pair
}

async fn read(pair: &Pair, uri: &str) -> Result<String, rmcp::ServiceError> {
    let result = pair
        .client
        .read_resource(ReadResourceRequestParams::new(uri))
        .await?;
    match &result.contents[0] {
        ResourceContents::TextResourceContents { text, .. } => Ok(text.clone()),
        other => panic!("expected text, got {other:?}"),
    }
}

async fn call(pair: &Pair, tool: &str, arguments: serde_json::Value) -> String {
    let params = CallToolRequestParams::new(tool.to_owned())
        .with_arguments(arguments.as_object().cloned().unwrap_or_default());
    let result = pair.client.call_tool(params).await.unwrap();
    serde_json::to_value(&result.content).unwrap()[0]["text"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

#[tokio::test]
async fn lists_and_reads_are_kept_and_unhinted_results_stay_private() {
    let handler = DemoHandler::default();
    let cache = builder(&handler).build().unwrap();
    let pair = client(&cache, &handler, None).await;

    for _ in 0..3 {
        pair.client.list_tools(None).await.unwrap();
        assert_eq!(
            read(&pair, "demo://static/readme").await.unwrap(),
            "mcp-stack demo server"
        );
        pair.client.list_resources(None).await.unwrap();
        // No cacheScope: private by default, and this client is anonymous.
        pair.client.list_prompts(None).await.unwrap();
        // Not a default method.
        pair.client
            .get_prompt(GetPromptRequestParams::new("greet"))
            .await
            .unwrap();
    }
    assert_eq!(handler.calls("tools/list"), 1);
    assert_eq!(handler.calls("resources/read"), 1);
    assert_eq!(handler.calls("resources/list"), 1);
    assert_eq!(handler.calls("prompts/list"), 3);
    assert_eq!(handler.calls("prompts/get"), 3);
    let counts = cache.counts();
    assert_eq!((counts.l1_hits, counts.misses), (6, 4));
    assert_eq!(
        counts.bypasses,
        1 + 2 + 3,
        "initialize; prompts/list missed once, then bypassed; prompts/get always"
    );
}

#[tokio::test]
async fn only_opted_in_read_only_tools_are_kept() {
    let handler = DemoHandler::default();
    let cache = builder(&handler)
        .tool(
            "echo",
            Rule::ttl(Duration::from_secs(60)).with_scope(CacheScope::Public),
        )
        // Opted in, but the server does not declare it read-only.
        .tool(
            "slow",
            Rule::ttl(Duration::from_secs(60)).with_scope(CacheScope::Public),
        )
        // Read-only and opted in, but its results are the caller's own.
        .tool("whoami", Rule::ttl(Duration::from_secs(60)))
        .build()
        .unwrap();
    let pair = client(&cache, &handler, None).await;

    for _ in 0..2 {
        assert_eq!(call(&pair, "echo", json!({"text": "hi"})).await, "hi");
        assert_eq!(call(&pair, "slow", json!({"ms": 1})).await, "slept 1 ms");
        call(&pair, "counter", json!({})).await;
        assert_eq!(call(&pair, "whoami", json!({})).await, "anonymous");
    }
    assert_eq!(call(&pair, "echo", json!({"text": "other"})).await, "other");
    assert_eq!(
        handler.calls("tools/call:echo"),
        2,
        "one call per distinct arguments"
    );
    assert_eq!(handler.calls("tools/call:slow"), 2);
    assert_eq!(handler.calls("tools/call:counter"), 2);
    assert_eq!(handler.calls("tools/call:whoami"), 2);

    let error = CacheLayer::builder()
        .tool("echo", Rule::HINTED)
        .build()
        .unwrap_err();
    assert_eq!(
        error.to_string(),
        "caching tool `echo` needs a tool_info lookup to check its readOnlyHint"
    );
}

#[tokio::test]
async fn errors_and_oversized_results_are_never_kept() {
    let handler = DemoHandler::default();
    let cache = builder(&handler).max_entry_bytes(4096).build().unwrap();
    let pair = client(&cache, &handler, None).await;

    handler.set_failing(true);
    let error = read(&pair, "demo://generated/100").await.unwrap_err();
    assert!(error.to_string().contains("backend down"), "{error}");
    handler.set_failing(false);
    assert_eq!(
        read(&pair, "demo://generated/100").await.unwrap().len(),
        100
    );
    assert_eq!(
        read(&pair, "demo://generated/100").await.unwrap().len(),
        100
    );
    assert_eq!(handler.calls("resources/read"), 2, "the error was not kept");

    for _ in 0..2 {
        assert_eq!(
            read(&pair, "demo://generated/8192").await.unwrap().len(),
            8192
        );
    }
    assert_eq!(
        handler.calls("resources/read"),
        4,
        "8 KiB is over max_entry_bytes"
    );
}

#[tokio::test(start_paused = true)]
async fn ttl_ms_is_honoured_capped_and_overridden() {
    let second = Duration::from_secs(1);
    let short = DemoHandler::new(DemoConfig {
        ttl_ms: Some(1000),
        ..DemoConfig::default()
    });
    let cache = builder(&short)
        .max_ttl(Duration::from_secs(3600))
        .build()
        .unwrap();
    let pair = client(&cache, &short, None).await;
    read(&pair, "demo://static/readme").await.unwrap();
    tokio::time::advance(second - Duration::from_millis(1)).await;
    read(&pair, "demo://static/readme").await.unwrap();
    assert_eq!(short.calls("resources/read"), 1, "fresh for its ttlMs");
    tokio::time::advance(Duration::from_millis(2)).await;
    read(&pair, "demo://static/readme").await.unwrap();
    assert_eq!(short.calls("resources/read"), 2, "stale after it");

    let long = DemoHandler::new(DemoConfig::default());
    let capped = builder(&long)
        .max_ttl(Duration::from_secs(10))
        .build()
        .unwrap();
    let pair = client(&capped, &long, None).await;
    read(&pair, "demo://static/readme").await.unwrap();
    tokio::time::advance(Duration::from_secs(11)).await;
    read(&pair, "demo://static/readme").await.unwrap();
    assert_eq!(long.calls("resources/read"), 2, "max_ttl caps a 60 s ttlMs");

    let zero = DemoHandler::new(DemoConfig {
        ttl_ms: Some(0),
        ..DemoConfig::default()
    });
    let plain = builder(&zero).build().unwrap();
    let pair = client(&plain, &zero, None).await;
    read(&pair, "demo://static/readme").await.unwrap();
    read(&pair, "demo://static/readme").await.unwrap();
    assert_eq!(zero.calls("resources/read"), 2, "ttlMs: 0 is not kept");
    let overridden = builder(&zero)
        .method("resources/read", Rule::ttl(Duration::from_secs(5)))
        .build()
        .unwrap();
    let pair = client(&overridden, &zero, None).await;
    read(&pair, "demo://static/readme").await.unwrap();
    tokio::time::advance(Duration::from_secs(4)).await;
    read(&pair, "demo://static/readme").await.unwrap();
    assert_eq!(zero.calls("resources/read"), 3, "the operator's rule wins");

    let unhinted = DemoHandler::new(DemoConfig {
        ttl_ms: None,
        ..DemoConfig::default()
    });
    let defaulted = builder(&unhinted)
        .default_ttl(Duration::from_secs(2))
        .build()
        .unwrap();
    let pair = client(&defaulted, &unhinted, None).await;
    read(&pair, "demo://static/readme").await.unwrap();
    tokio::time::advance(Duration::from_millis(1900)).await;
    read(&pair, "demo://static/readme").await.unwrap();
    assert_eq!(unhinted.calls("resources/read"), 1);
    tokio::time::advance(Duration::from_millis(200)).await;
    read(&pair, "demo://static/readme").await.unwrap();
    assert_eq!(unhinted.calls("resources/read"), 2, "the default ttl");
}

#[tokio::test]
async fn a_principal_never_receives_another_principals_private_entry() {
    let handler = DemoHandler::default();
    let cache = builder(&handler).build().unwrap();
    let alice = client(&cache, &handler, Some("alice")).await;
    let bob = client(&cache, &handler, Some("bob")).await;
    let anonymous = client(&cache, &handler, None).await;
    let alice_profile = format!("profile of {}", Principal::from_identity("alice"));
    let bob_profile = format!("profile of {}", Principal::from_identity("bob"));

    for _ in 0..3 {
        assert_eq!(
            read(&alice, "demo://private/profile").await.unwrap(),
            alice_profile
        );
        assert_eq!(
            read(&bob, "demo://private/profile").await.unwrap(),
            bob_profile
        );
        assert_eq!(
            read(&anonymous, "demo://private/profile").await.unwrap(),
            "profile of anonymous"
        );
    }
    // One call each for alice and bob, then their own entries; the
    // anonymous client is never cached.
    assert_eq!(handler.calls("resources/read"), 2 + 3);

    // Public results are shared by all of them.
    for pair in [&alice, &bob, &anonymous] {
        read(pair, "demo://static/readme").await.unwrap();
    }
    assert_eq!(handler.calls("resources/read"), 2 + 3 + 1);
}
