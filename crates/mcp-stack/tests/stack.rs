//! The whole stack around a real rmcp server: every layer in its place.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests fail loudly"
)]

use mcp_stack::McpStack;
use mcp_testkit::{DemoHandler, connect};
use rmcp::{ClientCacheConfig, model::ReadResourceRequestParams};

#[tokio::test]
async fn the_default_stack_serves_and_caches_a_real_server() {
    let handler = DemoHandler::default();
    let stack = McpStack::new().prometheus(false).build().unwrap();
    let pair = connect(stack.wrap(handler.clone())).await.unwrap();
    pair.client
        .peer()
        .set_response_cache_config(ClientCacheConfig::disabled())
        .await;
    for _ in 0..3 {
        pair.client.list_tools(None).await.unwrap();
        pair.client
            .read_resource(ReadResourceRequestParams::new("demo://static/readme"))
            .await
            .unwrap();
    }
    assert_eq!(handler.calls("tools/list"), 1);
    assert_eq!(handler.calls("resources/read"), 1);
    let snapshot = stack.stats().unwrap().snapshot();
    assert!(snapshot.requests >= 6, "{snapshot:?}");
    print!("{}", stack.summary());
}

#[tokio::test]
async fn a_bare_stack_passes_everything_through_and_records_nothing() {
    use metrics_util::debugging::DebuggingRecorder;
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let handler = DemoHandler::new(mcp_testkit::DemoConfig {
        fail_every: 1,
        ..mcp_testkit::DemoConfig::default()
    });
    let stack = metrics::with_local_recorder(&recorder, || McpStack::bare().build().unwrap());
    assert!(stack.stats().is_none() && stack.cache().is_none() && stack.breaker().is_none());
    let pair = connect(stack.wrap(handler.clone())).await.unwrap();
    pair.client
        .peer()
        .set_response_cache_config(ClientCacheConfig::disabled())
        .await;
    for _ in 0..30 {
        pair.client.list_tools(None).await.unwrap();
        let failed = pair
            .client
            .call_tool(rmcp::model::CallToolRequestParams::new("flaky"))
            .await;
        let error = failed.unwrap_err().to_string();
        assert!(
            error.contains("flaky failure"),
            "the backend's own error, never a breaker's: {error}"
        );
    }
    assert_eq!(handler.calls("tools/list"), 30, "no cache");
    assert_eq!(
        handler.calls("tools/call:flaky"),
        30,
        "no breaker, no retry"
    );
    let recorded: Vec<String> = snapshotter
        .snapshot()
        .into_vec()
        .into_iter()
        .map(|(key, ..)| format!("{:?}", key.key()))
        .collect();
    assert!(
        recorded.is_empty(),
        "disabled layers register and record nothing: {recorded:#?}"
    );
    assert_eq!(
        stack
            .summary()
            .lines()
            .filter(|line| line.ends_with("off"))
            .count(),
        10
    );
}
