//! rmcp's typed requests and results through the views layers read: the
//! same request gives the same key whether it came typed or raw, results
//! survive the shared-tier encoding as the variant they were.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests fail loudly"
)]

use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

use mcp_service::{
    CacheKey, CacheScope, McpRequest, McpResponse, Outcome, Partition,
    jsonrpc::{DecodeLimits, JsonRpcRequest},
    rmcp::{RmcpRequest, StackedHandler},
};
use mcp_testkit::{DemoHandler, connect};
use rmcp::model::{
    CallToolRequestParams, CallToolResult, ContentBlock, EmptyResult, GetPromptRequestParams,
    ListToolsResult, PaginatedRequestParams, ReadResourceRequestParams, ServerResult,
};
use serde_json::json;
use tower::ServiceBuilder;

#[derive(Debug, Clone, PartialEq)]
struct Seen {
    method: String,
    tool: Option<String>,
    prompt: Option<String>,
    uri: Option<String>,
    cursor: Option<String>,
    retry: bool,
    version: Option<String>,
    key: Option<CacheKey>,
}

fn recording() -> (Arc<Mutex<Vec<Seen>>>, impl rmcp::ServerHandler) {
    let seen: Arc<Mutex<Vec<Seen>>> = Arc::default();
    let handler = StackedHandler::new(
        DemoHandler::default(),
        ServiceBuilder::new().map_request({
            let seen = seen.clone();
            move |request: RmcpRequest| {
                seen.lock().unwrap().push(Seen {
                    method: request.method().into(),
                    tool: request.tool_name().map(Into::into),
                    prompt: request.prompt_name().map(Into::into),
                    uri: request.resource_uri().map(Into::into),
                    cursor: request.cursor().map(Into::into),
                    retry: request.is_retry(),
                    version: request.protocol_version().map(Into::into),
                    key: request.cache_key(Partition::Public),
                });
                request
            }
        }),
    );
    (seen, handler)
}

fn raw_key(seen: &Seen, params: serde_json::Value) -> Option<CacheKey> {
    let message = json!({"jsonrpc": "2.0", "id": 1, "method": seen.method, "params": params});
    let request = JsonRpcRequest::decode(message.to_string().as_bytes(), &DecodeLimits::default())
        .unwrap()
        .with_session_protocol_version(seen.version.clone().unwrap());
    request.cache_key(Partition::Public)
}

#[tokio::test]
async fn typed_and_raw_requests_read_the_same_and_key_the_same() {
    let (seen, handler) = recording();
    let pair = connect(handler).await.unwrap();
    let client = &pair.client;

    let mut call = CallToolRequestParams::new("echo");
    call.arguments = Some(serde_json::from_value(json!({"text": "hi", "n": [1, 2.5]})).unwrap());
    client.call_tool(call).await.unwrap();
    client
        .list_tools(Some(
            PaginatedRequestParams::default().with_cursor(Some("c1".into())),
        ))
        .await
        .unwrap();
    client
        .read_resource(ReadResourceRequestParams::new("demo://static/readme"))
        .await
        .unwrap();
    client
        .get_prompt(GetPromptRequestParams::new("greet"))
        .await
        .unwrap();

    let seen = seen.lock().unwrap().clone();
    let [init, tool, list, read, prompt] = seen.as_slice() else {
        panic!("{seen:?}");
    };
    assert_eq!(init.method, "initialize");
    // `initialize` speaks the version the client asked for; afterwards every
    // request speaks the negotiated one.
    assert!(init.version.is_some());
    let version = tool.version.clone();
    assert_eq!(version.as_deref(), Some("2025-11-25"));

    assert_eq!(
        (tool.tool.as_deref(), tool.prompt.as_deref()),
        (Some("echo"), None)
    );
    assert!(!tool.retry);
    assert!(
        [list, read, prompt]
            .iter()
            .all(|seen| seen.version == version)
    );
    assert_eq!(
        tool.key,
        raw_key(
            tool,
            json!({"arguments": {"n": [1, 2.5], "text": "hi"}, "name": "echo"})
        ),
        "a typed tools/call and its JSON key the same"
    );

    assert_eq!(list.cursor.as_deref(), Some("c1"));
    assert_eq!(list.key, raw_key(list, json!({"cursor": "c1"})));

    assert_eq!(read.uri.as_deref(), Some("demo://static/readme"));
    assert_eq!(
        read.key,
        raw_key(read, json!({"uri": "demo://static/readme"}))
    );

    assert_eq!(prompt.prompt.as_deref(), Some("greet"));
    assert_eq!(prompt.key, raw_key(prompt, json!({"name": "greet"})));

    let keys: std::collections::HashSet<_> =
        [tool, list, read, prompt].iter().map(|s| s.key).collect();
    assert_eq!(keys.len(), 4);
}

#[test]
fn results_survive_the_shared_tier_as_the_variant_they_were() {
    // Untagged, a tools/list result would come back as whatever variant first
    // fits its JSON; the encoding keeps the variant.
    let results = [
        ServerResult::ListToolsResult(ListToolsResult::with_all_items(vec![]).with_ttl_ms(5)),
        ServerResult::EmptyResult(EmptyResult {}),
        ServerResult::CallToolResult(CallToolResult::error(vec![ContentBlock::text("no")])),
    ];
    for result in results {
        let bytes = result.encode().unwrap();
        let decoded = ServerResult::decode(&bytes).unwrap();
        assert_eq!(
            std::mem::discriminant(&decoded),
            std::mem::discriminant(&result),
            "{result:?}"
        );
        assert_eq!(
            serde_json::to_value(&decoded).unwrap(),
            serde_json::to_value(&result).unwrap()
        );
    }
    assert!(ServerResult::decode(b"").is_err());
    assert!(ServerResult::decode(b"R\x01\xfe{}").is_err());
    assert!(ServerResult::decode(b"R\x01\x0a{not json").is_err());
}

#[test]
fn results_expose_outcome_hints_and_weight() {
    let listed = ServerResult::ListToolsResult(
        ListToolsResult::with_all_items(vec![])
            .with_ttl_ms(1500)
            .with_cache_scope(rmcp::model::CacheScope::Private),
    );
    assert_eq!(listed.outcome(), Outcome::Complete);
    assert_eq!(listed.cache_hint().ttl, Some(Duration::from_millis(1500)));
    assert_eq!(listed.cache_hint().scope, Some(CacheScope::Private));
    assert_eq!(listed.weight(), serde_json::to_vec(&listed).unwrap().len());

    let failed = ServerResult::CallToolResult(CallToolResult::error(vec![ContentBlock::text("x")]));
    assert_eq!(failed.outcome(), Outcome::ToolError);
    let fine = ServerResult::CallToolResult(CallToolResult::success(vec![]));
    assert_eq!(fine.outcome(), Outcome::Complete);
    assert_eq!(
        fine.cache_hint(),
        Default::default(),
        "tool results carry no hints"
    );
}

#[test]
fn meta_can_be_added_to_a_result_without_losing_what_it_had() {
    let mut read = ServerResult::ReadResourceResult(
        rmcp::model::ReadResourceResult::new(vec![rmcp::model::ResourceContents::text(
            "hello", "demo://x",
        )])
        .with_ttl_ms(10),
    );
    assert!(read.insert_meta("dev.mcp-stack/cache", json!({"tier": "l1"})));
    assert!(read.insert_meta("other", json!(1)));
    let value = serde_json::to_value(&read).unwrap();
    assert_eq!(value["_meta"]["dev.mcp-stack/cache"]["tier"], "l1");
    assert_eq!(value["_meta"]["other"], 1);
    assert_eq!(value["contents"][0]["text"], "hello");
    assert_eq!(read.cache_hint().ttl, Some(Duration::from_millis(10)));
    assert!(matches!(read, ServerResult::ReadResourceResult(_)));
}
