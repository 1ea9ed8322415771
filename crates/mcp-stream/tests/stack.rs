//! The stream layers where the crate docs put them, outside the cache: the
//! cache keeps the whole list or result, and every page or chunk is cut
//! from that one entry.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests fail loudly"
)]

use std::sync::{
    Arc,
    atomic::{AtomicU64, Ordering::SeqCst},
};

use mcp_cache::CacheLayer;
use mcp_service::{
    McpError, McpRequest,
    jsonrpc::{JsonRpcRequest, JsonRpcResponse, RequestId},
};
use mcp_stream::{CHUNK_META_KEY, ChunkLayer, PaginationLayer};
use serde_json::{Value, json};
use tower::{Service, ServiceBuilder, ServiceExt, service_fn};

fn request(method: &str, params: Value) -> JsonRpcRequest {
    JsonRpcRequest::new(Some(RequestId::Number(1)), method, Some(&params)).unwrap()
}

fn value(response: &JsonRpcResponse) -> Value {
    serde_json::from_str(response.result().get()).unwrap()
}

#[tokio::test]
async fn pages_and_chunks_are_cut_from_one_cached_entry() {
    let calls = Arc::new(AtomicU64::new(0));
    let counted = calls.clone();
    let upstream = service_fn(move |request: JsonRpcRequest| {
        counted.fetch_add(1, SeqCst);
        let result = match request.method() {
            "tools/list" => {
                let tools: Vec<Value> = (0..1_000)
                    .map(|n| json!({ "name": format!("t{n}") }))
                    .collect();
                json!({ "tools": tools, "ttlMs": 60_000, "cacheScope": "public" })
            }
            _ => {
                let text = "0123456789abcdef".repeat(20_000);
                let uri = request.resource_uri().unwrap();
                json!({ "contents": [{ "uri": uri, "text": text }], "ttlMs": 60_000, "cacheScope": "public" })
            }
        };
        async move { JsonRpcResponse::from_value(&result) }
    });
    let cache = CacheLayer::builder().max_bytes(16 << 20).build().unwrap();
    let mut service = ServiceBuilder::new()
        .layer(
            ChunkLayer::builder()
                .max_chunk_bytes(64 << 10)
                .build()
                .unwrap(),
        )
        .layer(PaginationLayer::builder().page_size(100).build().unwrap())
        .layer(cache.clone())
        .service(upstream)
        .map_err(Into::<McpError>::into);

    let mut names = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let params = cursor
            .as_ref()
            .map_or(json!({}), |cursor| json!({ "cursor": cursor }));
        let page = service
            .ready()
            .await
            .unwrap()
            .call(request("tools/list", params))
            .await
            .unwrap();
        let page = value(&page);
        names.extend(
            page["tools"]
                .as_array()
                .unwrap()
                .iter()
                .map(|tool| tool["name"].clone()),
        );
        match page["nextCursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }
    assert_eq!(names.len(), 1_000);
    assert_eq!(calls.load(SeqCst), 1, "ten pages, one upstream list");

    let mut text = String::new();
    let mut uri = Some("up://big".to_owned());
    let mut chunks = 0;
    while let Some(next) = uri {
        let chunk = service
            .ready()
            .await
            .unwrap()
            .call(request("resources/read", json!({ "uri": next })))
            .await
            .unwrap();
        let chunk = value(&chunk);
        text.push_str(chunk["contents"][0]["text"].as_str().unwrap());
        uri = chunk["_meta"][CHUNK_META_KEY]["nextUri"]
            .as_str()
            .map(ToOwned::to_owned);
        chunks += 1;
    }
    assert_eq!(text, "0123456789abcdef".repeat(20_000));
    assert_eq!(chunks, 5);
    assert_eq!(calls.load(SeqCst), 2, "five chunks, one upstream read");
    let counts = cache.counts();
    assert_eq!(counts.misses, 2, "the whole list and the whole resource");
    assert_eq!(counts.l1_hits, 9 + 4, "every later page and chunk");
}
