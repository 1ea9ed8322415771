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
