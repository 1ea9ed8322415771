//! `mcp_cache::CacheLayer` alone, in a `ServiceBuilder` around an rmcp
//! handler: a slow read made once and then served from memory, a read-only
//! tool opted into caching, a private resource kept per principal, an
//! invalidation, and the cache's counts.
//!
//! ```sh
//! cargo run --example cache
//! ```
//!
//! The server runs in this process; two rmcp clients, alice and bob, talk
//! to it over an in-memory pipe.

use std::{
    error::Error,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use mcp_cache::{CacheLayer, Rule};
use mcp_service::{
    CacheScope, McpRequest, Principal,
    rmcp::{RmcpRequest, StackedHandler, principal_of},
};
use mcp_testkit::{Pair, connect};
use rmcp::{
    ClientCacheConfig, ErrorData, ServerHandler,
    model::{
        self, CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock,
        ListToolsResult, PaginatedRequestParams, ReadResourceRequestParams, ReadResourceResponse,
        ReadResourceResult, ResourceContents, ServerCapabilities, ServerConfig, Tool,
        ToolAnnotations,
    },
    service::{RequestContext, RoleServer},
};
use serde_json::json;
use tower::ServiceBuilder;

const HANDBOOK: &str = "docs://handbook";
const NOTES: &str = "docs://notes";

/// A server whose work is slow: a handbook that takes 300 ms to build, a
/// read-only `forecast` tool that takes 200 ms, and private notes.
#[derive(Clone, Default)]
struct Docs {
    /// Requests that reached the handler, to see what the cache saved.
    calls: Arc<AtomicU64>,
    /// The handbook's edition, raised when it is edited.
    edition: Arc<AtomicU64>,
}

impl Docs {
    fn calls(&self) -> u64 {
        self.calls.load(Ordering::SeqCst)
    }

    fn forecast() -> Tool {
        let schema = json!({ "type": "object", "properties": { "city": { "type": "string" } } });
        let schema = Arc::new(schema.as_object().cloned().unwrap_or_default());
        Tool::new("forecast", "Tomorrow's weather in a city.", schema)
            .annotate(ToolAnnotations::new().read_only(true))
    }
}

impl ServerHandler for Docs {
    fn get_info(&self) -> ServerConfig {
        let capabilities = ServerCapabilities::builder()
            .enable_tools()
            .enable_resources()
            .build();
        ServerConfig::new(capabilities)
    }

    fn get_tool(&self, name: &str) -> Option<Tool> {
        (name == "forecast").then(Self::forecast)
    }

    async fn list_tools(
        &self,
        _: Option<PaginatedRequestParams>,
        _: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        Ok(ListToolsResult::with_all_items(vec![Self::forecast()]))
    }

    async fn call_tool(
        &self,
        params: CallToolRequestParams,
        _: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        tokio::time::sleep(Duration::from_millis(200)).await;
        let city = params
            .arguments
            .as_ref()
            .and_then(|arguments| arguments.get("city"))
            .and_then(|city| city.as_str())
            .unwrap_or("nowhere");
        let text = ContentBlock::text(format!("{city}: sunny, 21 C"));
        Ok(CallToolResponse::Complete(CallToolResult::success(vec![
            text,
        ])))
    }

    async fn read_resource(
        &self,
        params: ReadResourceRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<ReadResourceResponse, ErrorData> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        let uri = params.uri;
        let result = if uri == HANDBOOK {
            tokio::time::sleep(Duration::from_millis(300)).await;
            let edition = self.edition.load(Ordering::SeqCst) + 1;
            let text = format!("the handbook, edition {edition}");
            ReadResourceResult::new(vec![ResourceContents::text(text, uri)])
                .with_ttl_ms(60_000)
                .with_cache_scope(model::CacheScope::Public)
        } else if uri == NOTES {
            // The principal is a hash of the caller's identity, never the
            // identity itself.
            let who: String = principal_of(&context)
                .map_or_else(|| "nobody".into(), |principal| principal.to_string())
                .chars()
                .take(8)
                .collect();
            let text = format!("notes of principal {who}...");
            ReadResourceResult::new(vec![ResourceContents::text(text, uri)])
                .with_ttl_ms(60_000)
                .with_cache_scope(model::CacheScope::Private)
        } else {
            return Err(ErrorData::resource_not_found(uri, None));
        };
        Ok(ReadResourceResponse::Complete(result))
    }
}

/// A client whose requests reach `docs` through `cache` as `user`.
async fn client(docs: &Docs, cache: &CacheLayer, user: &str) -> Result<Pair, Box<dyn Error>> {
    // Over HTTP the principal comes from the `Authorization` header; over
    // this in-memory pipe there is none, so the stack sets it.
    let principal = Principal::from_identity(user);
    let stack = ServiceBuilder::new()
        .map_request(move |mut request: RmcpRequest| {
            request.insert_extension(principal);
            request
        })
        .layer(cache.clone());
    let pair = connect(StackedHandler::new(docs.clone(), stack)).await?;
    // rmcp's client keeps results of its own; off, so the server's cache shows.
    pair.client
        .peer()
        .set_response_cache_config(ClientCacheConfig::disabled())
        .await;
    Ok(pair)
}

async fn read(pair: &Pair, uri: &str) -> Result<String, Box<dyn Error>> {
    let result = pair
        .client
        .read_resource(ReadResourceRequestParams::new(uri))
        .await?;
    let text = result
        .contents
        .into_iter()
        .find_map(|contents| match contents {
            ResourceContents::TextResourceContents { text, .. } => Some(text),
            _ => None,
        });
    Ok(text.unwrap_or_default())
}

async fn forecast(pair: &Pair, city: &str) -> Result<String, Box<dyn Error>> {
    let arguments = json!({ "city": city })
        .as_object()
        .cloned()
        .unwrap_or_default();
    let params = CallToolRequestParams::new("forecast").with_arguments(arguments);
    let result = pair.client.call_tool(params).await?;
    let text = result.content.first().and_then(ContentBlock::as_text);
    Ok(text.map(|text| text.text.clone()).unwrap_or_default())
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error>> {
    let docs = Docs::default();
    let tools = docs.clone();
    let cache = CacheLayer::builder()
        .max_bytes(8 << 20)
        // Tool calls are cached only when opted in *and* declared read-only,
        // which the cache asks the handler. The forecast is the same for
        // everyone, so it is shared.
        .tool(
            "forecast",
            Rule::ttl(Duration::from_secs(60)).with_scope(CacheScope::Public),
        )
        .tool_info(move |name: &str| tools.get_tool(name)?.annotations?.read_only_hint)
        .build()?;
    let alice = client(&docs, &cache, "alice").await?;
    let bob = client(&docs, &cache, "bob").await?;

    for _ in 0..2 {
        let started = Instant::now();
        let text = read(&alice, HANDBOOK).await?;
        println!("read {HANDBOOK}: {text:?} in {:?}", started.elapsed());
    }
    for pair in [&alice, &bob] {
        let started = Instant::now();
        let text = forecast(pair, "Oslo").await?;
        println!("call forecast: {text:?} in {:?}", started.elapsed());
    }
    for (name, pair) in [("alice", &alice), ("bob", &bob), ("alice", &alice)] {
        println!("{name} reads {NOTES}: {:?}", read(pair, NOTES).await?);
    }
    println!("handler calls so far: {}", docs.calls());

    // The handbook changes: drop what was read of it, here and, with
    // Redis, on every node.
    docs.edition.fetch_add(1, Ordering::SeqCst);
    cache.invalidator().resource(HANDBOOK).await;
    let started = Instant::now();
    let text = read(&bob, HANDBOOK).await?;
    println!(
        "after the invalidation, {HANDBOOK}: {text:?} in {:?}",
        started.elapsed()
    );

    let counts = cache.counts();
    println!(
        "cache: {} hits, {} misses, {} bypassed, hit rate {:.0} %; handler calls: {}",
        counts.l1_hits,
        counts.misses,
        counts.bypasses,
        counts.hit_rate() * 100.0,
        docs.calls()
    );
    Ok(())
}
