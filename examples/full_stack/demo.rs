//! The demo MCP server: a handful of tools and resources that show what
//! each layer does (slow calls to cache, failures to break on, per-user
//! resources to keep apart, large blobs to stream).

use std::{
    pin::Pin,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    task::{Context, Poll},
    time::Duration,
};

use base64::Engine as _;
use futures::future::BoxFuture;
use mcp_service::{McpError, rmcp::principal_of};
use mcp_stream::{ContentKind, OpenRequest, ResourceSource, ResourceStream};
use rmcp::{
    ErrorData, ServerHandler,
    model::{
        CacheScope, CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock,
        JsonObject, ListResourceTemplatesResult, ListResourcesResult, ListToolsResult,
        PaginatedRequestParams, ReadResourceRequestParams, ReadResourceResponse,
        ReadResourceResult, Resource, ResourceContents, ResourceTemplate, ServerCapabilities,
        ServerConfig, Tool, ToolAnnotations,
    },
    service::{RequestContext, RoleServer},
};
use serde_json::{Value, json};
use tokio::io::{AsyncRead, ReadBuf};

/// Blobs larger than this are refused when served without the stack,
/// which would build them whole in memory.
const LARGEST_WHOLE_BLOB: u64 = 8 << 20;

/// How long public results stay fresh.
const TTL_MS: u64 = 60_000;

/// The demo server. Clones share the failure dice.
#[derive(Debug, Clone, Default)]
pub struct DemoServer {
    dice: Arc<AtomicU64>,
}

fn schema(properties: Value) -> Arc<JsonObject> {
    let schema = json!({ "type": "object", "properties": properties });
    Arc::new(schema.as_object().cloned().unwrap_or_default())
}

fn tools() -> Vec<Tool> {
    vec![
        Tool::new(
            "echo",
            "Returns its text.",
            schema(json!({"text": {"type": "string"}})),
        )
        .annotate(ToolAnnotations::new().read_only(true)),
        Tool::new(
            "slow",
            "Sleeps `ms` milliseconds, then answers: a slow backend worth caching.",
            schema(json!({"ms": {"type": "integer", "minimum": 0, "maximum": 60000}})),
        )
        .annotate(ToolAnnotations::new().read_only(true)),
        Tool::new(
            "flaky",
            "Fails with probability `fail_rate` (0 to 1), as a flaky backend.",
            schema(json!({"fail_rate": {"type": "number", "minimum": 0, "maximum": 1}})),
        ),
        Tool::new(
            "whoami",
            "Returns the caller's principal.",
            schema(json!({})),
        )
        .annotate(ToolAnnotations::new().read_only(true)),
    ]
}

fn text(text: impl Into<String>) -> CallToolResult {
    CallToolResult::success(vec![ContentBlock::text(text)])
}

fn who(context: &RequestContext<RoleServer>) -> String {
    principal_of(context).map_or_else(|| "anonymous".into(), |principal| principal.to_string())
}

fn number<'a>(params: &'a CallToolRequestParams, key: &str) -> Option<&'a Value> {
    params
        .arguments
        .as_ref()
        .and_then(|arguments| arguments.get(key))
}

/// `demo://{kind}/{number}`'s number, or a clear error.
fn size_in(uri: &str, prefix: &str) -> Result<Option<u64>, ErrorData> {
    let Some(rest) = uri.strip_prefix(prefix) else {
        return Ok(None);
    };
    rest.parse()
        .map(Some)
        .map_err(|_| ErrorData::invalid_params(format!("`{rest}` in {uri} is not a number"), None))
}

impl DemoServer {
    /// A demo server.
    pub fn new() -> Self {
        Self::default()
    }

    /// The tool names, for metrics labels.
    pub fn tool_names() -> Vec<String> {
        tools()
            .into_iter()
            .map(|tool| tool.name.to_string())
            .collect()
    }

    /// A roll of the dice in [0, 1): a counter through a mixing function,
    /// so runs are reproducible and no random source is needed.
    fn roll(&self) -> f64 {
        let mut x = self
            .dice
            .fetch_add(1, Ordering::Relaxed)
            .wrapping_add(0x9e37_79b9_7f4a_7c15);
        x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        x ^= x >> 31;
        (x >> 11) as f64 / (1u64 << 53) as f64
    }
}

impl ServerHandler for DemoServer {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(
            ServerCapabilities::builder()
                .enable_tools()
                .enable_resources()
                .build(),
        )
    }

    async fn list_tools(
        &self,
        _: Option<PaginatedRequestParams>,
        _: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        Ok(ListToolsResult::with_all_items(tools())
            .with_ttl_ms(TTL_MS)
            .with_cache_scope(CacheScope::Public))
    }

    fn get_tool(&self, name: &str) -> Option<Tool> {
        tools().into_iter().find(|tool| tool.name == name)
    }

    async fn call_tool(
        &self,
        params: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        let result = match &*params.name {
            "echo" => text(
                number(&params, "text")
                    .and_then(Value::as_str)
                    .unwrap_or_default(),
            ),
            "slow" => {
                let ms = number(&params, "ms")
                    .and_then(Value::as_u64)
                    .unwrap_or(100)
                    .min(60_000);
                tokio::time::sleep(Duration::from_millis(ms)).await;
                text(format!("slept {ms} ms"))
            }
            "flaky" => {
                let rate = number(&params, "fail_rate")
                    .and_then(Value::as_f64)
                    .unwrap_or(0.5);
                if !(0.0..=1.0).contains(&rate) {
                    return Err(ErrorData::invalid_params(
                        format!("fail_rate must be between 0 and 1, not {rate}"),
                        None,
                    ));
                }
                if self.roll() < rate {
                    return Err(ErrorData::internal_error("the flaky backend failed", None));
                }
                text("the flaky backend answered")
            }
            "whoami" => text(who(&context)),
            other => {
                return Err(ErrorData::invalid_params(
                    format!("no tool named {other}"),
                    None,
                ));
            }
        };
        Ok(CallToolResponse::Complete(result))
    }

    async fn list_resources(
        &self,
        _: Option<PaginatedRequestParams>,
        _: RequestContext<RoleServer>,
    ) -> Result<ListResourcesResult, ErrorData> {
        Ok(ListResourcesResult::with_all_items(vec![
            Resource::new("demo://static/hello", "hello"),
            Resource::new("demo://private/profile", "profile"),
        ])
        .with_ttl_ms(TTL_MS)
        .with_cache_scope(CacheScope::Public))
    }

    async fn list_resource_templates(
        &self,
        _: Option<PaginatedRequestParams>,
        _: RequestContext<RoleServer>,
    ) -> Result<ListResourceTemplatesResult, ErrorData> {
        Ok(ListResourceTemplatesResult::with_all_items(vec![
            ResourceTemplate::new("demo://blob/{bytes}", "blob"),
            ResourceTemplate::new("demo://slow/{ms}", "slow"),
        ]))
    }

    async fn read_resource(
        &self,
        params: ReadResourceRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<ReadResourceResponse, ErrorData> {
        let uri = params.uri;
        let result = if uri == "demo://static/hello" {
            ReadResourceResult::new(vec![ResourceContents::text(
                "Hello from the mcp-stack demo.",
                uri,
            )])
            .with_ttl_ms(TTL_MS)
            .with_cache_scope(CacheScope::Public)
        } else if uri == "demo://private/profile" {
            let contents = ResourceContents::text(format!("profile of {}", who(&context)), uri);
            ReadResourceResult::new(vec![contents])
                .with_ttl_ms(TTL_MS)
                .with_cache_scope(CacheScope::Private)
        } else if let Some(ms) = size_in(&uri, "demo://slow/")? {
            let ms = ms.min(60_000);
            tokio::time::sleep(Duration::from_millis(ms)).await;
            ReadResourceResult::new(vec![ResourceContents::text(format!("took {ms} ms"), uri)])
                .with_ttl_ms(TTL_MS)
                .with_cache_scope(CacheScope::Public)
        } else if let Some(bytes) = size_in(&uri, "demo://blob/")? {
            // Served whole only without the stack: with it, `Blobs` streams it.
            if bytes > LARGEST_WHOLE_BLOB {
                return Err(ErrorData::invalid_params(
                    format!(
                        "{uri} is over {LARGEST_WHOLE_BLOB} bytes: read it through the stack, which streams it in chunks"
                    ),
                    None,
                ));
            }
            let mut blob = vec![0; bytes as usize];
            fill(&mut blob, 0);
            let blob = base64::engine::general_purpose::STANDARD.encode(blob);
            ReadResourceResult::new(vec![ResourceContents::blob(blob, uri)])
                .with_ttl_ms(TTL_MS)
                .with_cache_scope(CacheScope::Public)
        } else {
            return Err(ErrorData::resource_not_found(
                format!("no resource {uri}"),
                None,
            ));
        };
        Ok(ReadResourceResponse::Complete(result))
    }
}

/// The byte at `position` of every generated blob.
fn byte_at(position: u64) -> u8 {
    (position.wrapping_mul(31) ^ (position >> 8)) as u8
}

fn fill(buffer: &mut [u8], start: u64) {
    for (offset, byte) in buffer.iter_mut().enumerate() {
        *byte = byte_at(start + offset as u64);
    }
}

/// `demo://blob/{bytes}` as a stream: generated as it is read, from any
/// offset, so a gigabyte never sits in memory.
#[derive(Debug, Clone, Copy, Default)]
pub struct Blobs;

impl ResourceSource for Blobs {
    fn open<'a>(
        &'a self,
        request: OpenRequest<'a>,
    ) -> BoxFuture<'a, Result<Option<ResourceStream>, McpError>> {
        Box::pin(async move {
            let Some(len) = size_in(request.uri, "demo://blob/").map_err(McpError::from)? else {
                return Ok(None);
            };
            let start = request.offset.min(len);
            let reader = Generated {
                position: start,
                end: len,
            };
            Ok(Some(
                ResourceStream::reader(ContentKind::Blob, reader)
                    .with_len(len)
                    .starting_at(start)
                    .with_mime_type("application/octet-stream"),
            ))
        })
    }
}

/// Generated bytes from `position` to `end`.
struct Generated {
    position: u64,
    end: u64,
}

impl AsyncRead for Generated {
    fn poll_read(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buffer: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let left = self.end - self.position;
        let take = usize::try_from(left)
            .unwrap_or(usize::MAX)
            .min(buffer.remaining());
        let start = self.position;
        fill(buffer.initialize_unfilled_to(take), start);
        buffer.advance(take);
        self.position += take as u64;
        Poll::Ready(Ok(()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_blobs_are_the_same_from_any_offset() {
        let mut whole = vec![0; 1000];
        fill(&mut whole, 0);
        let mut tail = vec![0; 400];
        fill(&mut tail, 600);
        assert_eq!(&whole[600..], &tail[..]);
        assert_ne!(whole[..256], whole[256..512], "not a short cycle");
    }

    #[test]
    fn the_dice_land_in_range_and_follow_the_rate() {
        let server = DemoServer::new();
        let rolls: Vec<f64> = (0..10_000).map(|_| server.roll()).collect();
        assert!(rolls.iter().all(|roll| (0.0..1.0).contains(roll)));
        let below = rolls.iter().filter(|roll| **roll < 0.3).count();
        assert!((2_700..3_300).contains(&below), "{below}");
    }
}
