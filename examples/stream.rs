//! `mcp_stream` alone, in a `ServiceBuilder` around an rmcp handler: a
//! `ChunkLayer` serving a generated 20 MiB blob (too large for one MCP
//! message) in chunks that `ResourceReader` reads back whole, and a
//! `PaginationLayer` paging a list of 250 tools.
//!
//! ```sh
//! cargo run --example stream
//! ```
//!
//! The server runs in this process; an rmcp client talks to it over an
//! in-memory pipe. For the memory a chunked read costs, see the
//! `stream_memory` example.

use std::{error::Error, sync::Arc, time::Instant};

use bytes::Bytes;
use futures::future::BoxFuture;
use mcp_service::{McpError, rmcp::StackedHandler};
use mcp_stream::{
    ChunkLayer, ContentKind, OpenRequest, PaginationLayer, ResourceReader, ResourceSource,
    ResourceStream,
};
use mcp_testkit::connect;
use rmcp::{
    ClientCacheConfig, ErrorData, ServerHandler,
    model::{ListToolsResult, PaginatedRequestParams, ServerCapabilities, ServerConfig, Tool},
    service::{RequestContext, RoleServer},
};
use serde_json::json;
use tower::ServiceBuilder;
use xxhash_rust::xxh3::xxh3_64;

const BLOB: &str = "blob://generated";
const BLOB_BYTES: usize = 20 << 20;

/// Where the chunk layer finds the blob: a source opens large resources
/// as streams, so the handler never builds a 20 MiB result.
struct Blobs(Bytes);

impl ResourceSource for Blobs {
    fn open<'a>(
        &'a self,
        request: OpenRequest<'a>,
    ) -> BoxFuture<'a, Result<Option<ResourceStream>, McpError>> {
        Box::pin(async move {
            // `None`: not ours, the request goes on to the handler.
            Ok((request.uri == BLOB).then(|| {
                ResourceStream::bytes(ContentKind::Blob, self.0.clone())
                    .with_mime_type("application/octet-stream")
            }))
        })
    }
}

/// A server with 250 tools, which it lists all at once.
#[derive(Clone)]
struct Catalog;

impl ServerHandler for Catalog {
    fn get_info(&self) -> ServerConfig {
        let capabilities = ServerCapabilities::builder()
            .enable_tools()
            .enable_resources()
            .build();
        ServerConfig::new(capabilities)
    }

    async fn list_tools(
        &self,
        _: Option<PaginatedRequestParams>,
        _: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        let schema = Arc::new(
            json!({ "type": "object" })
                .as_object()
                .cloned()
                .unwrap_or_default(),
        );
        let tools = (1..=250)
            .map(|n| Tool::new(format!("tool-{n:03}"), "A tool.", schema.clone()))
            .collect();
        Ok(ListToolsResult::with_all_items(tools))
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error>> {
    let blob: Bytes = (0..BLOB_BYTES).map(|i| (i % 251) as u8).collect();
    let checksum = xxh3_64(&blob);

    // Chunks of at most 4 MiB of base64 by default, under the 16 MiB that
    // clients accept in one message.
    let chunks = ChunkLayer::builder().source(Blobs(blob)).build()?;
    let pages = PaginationLayer::builder().page_size(100).build()?;
    let stack = ServiceBuilder::new().layer(chunks).layer(pages);
    let pair = connect(StackedHandler::new(Catalog, stack)).await?;
    let peer = pair.client.peer();
    peer.set_response_cache_config(ClientCacheConfig::disabled())
        .await;

    let started = Instant::now();
    let resource = ResourceReader::new(peer).read(BLOB).await?;
    let received = xxh3_64(&resource.bytes);
    println!(
        "read {BLOB}: {} bytes in {} chunks in {:.1?}",
        resource.bytes.len(),
        resource.chunks,
        started.elapsed()
    );
    if received != checksum {
        return Err(format!("checksum {received:016x}, expected {checksum:016x}").into());
    }
    println!("xxh3 checksum {received:016x}, the same as the blob's");

    let mut cursor = None;
    let mut page = 0;
    loop {
        let params = PaginatedRequestParams::default().with_cursor(cursor);
        let list = peer.list_tools(Some(params)).await?;
        page += 1;
        let first = list.tools.first().map_or("", |tool| &tool.name);
        let last = list.tools.last().map_or("", |tool| &tool.name);
        println!(
            "tools/list page {page}: {} tools, {first} to {last}, {}",
            list.tools.len(),
            if list.next_cursor.is_some() {
                "nextCursor set"
            } else {
                "the last page"
            }
        );
        cursor = list.next_cursor;
        if cursor.is_none() {
            break;
        }
    }
    Ok(())
}
