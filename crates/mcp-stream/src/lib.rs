//! Large MCP payloads without memory blow-up: chunked resource reads,
//! progress, list pagination and size guards, as tower layers.
//!
//! MCP has no chunked read, clients drop any message over 16 MiB (rmcp's
//! stdio line and SSE event limits), and base64 grows blobs by a third. This
//! crate serves resources of any size in chunks under that limit, with a
//! convention today's clients can follow, and reads them back whole.
//!
//! - [`ChunkLayer`]: `resources/read` of a resource larger than
//!   `max_chunk_bytes` (4 MiB) is answered a chunk at a time, read from a
//!   [`ResourceSource`] with a bounded buffer (a file, an [`AsyncRead`],
//!   a [`Stream`] of bytes) or cut from the inner service's whole result;
//!   `notifications/progress` follow each chunk when the request asks; every
//!   other response over `max_message_bytes` becomes
//!   [`McpError::TooLarge`](mcp_service::McpError::TooLarge).
//! - [`PaginationLayer`]: lists longer than `page_size` (100) are paged with
//!   signed cursors bound to the principal and to a digest of the list.
//! - [`ResourceReader`] (feature `rmcp`): the client side, which reads a
//!   whole resource, chunked or not, into memory or an [`AsyncWrite`].
//! - [`http::json_compression`] (feature `http`): gzip for plain JSON
//!   responses of the HTTP transport, never for SSE.
//!
//! [`AsyncRead`]: tokio::io::AsyncRead
//! [`AsyncWrite`]: tokio::io::AsyncWrite
//! [`Stream`]: futures::Stream
//!
//! # The chunk convention
//!
//! 1. The client reads the resource as usual: `resources/read { uri }`.
//! 2. A resource that fits one chunk comes back whole, as without the layer.
//!    A larger one comes back as its first chunk: the result's single
//!    content is a piece of the resource (text cut on a UTF-8 boundary, or
//!    the base64 of a whole number of 3-byte groups), and the result's
//!    `_meta["io.github.mcp-stack/chunk"]` ([`ChunkInfo`]) says
//!    `{ index, offset, bytes, totalBytes, chunks, nextUri }`.
//! 3. The client reads `nextUri`, which is the resource URI followed by
//!    `#mcp-chunk=` and an opaque cursor, and so on until a chunk has no
//!    `nextUri`. Decoded and concatenated, the chunks are the resource.
//!
//! The cursor rides in the URI, not in a new params member or in `_meta`:
//! typed SDKs (rmcp's `ReadResourceRequestParams` among them) drop params
//! they do not know, `_meta` is left out of cache keys, and every client,
//! gateway and cache passes a URI through untouched and keys by it. Chunk
//! URIs are not listed as resources or templates; they are only valid as
//! a chunk's `nextUri` gives them. The cursor is signed (HMAC-SHA256 with
//! the layer's [`CursorKey`]) and bound to the principal and the resource,
//! and carries the resource's revision, so it cannot be forged into
//! another principal's data or an offset out of range, and a resource that
//! changes between chunks fails with a stale-cursor error instead of
//! mixing versions. A client that does not know the convention gets the
//! first chunk and the `_meta` saying there is more.
//!
//! # In a stack
//!
//! ```
//! use futures::future::BoxFuture;
//! use mcp_service::{McpError, jsonrpc::{JsonRpcRequest, JsonRpcResponse}};
//! use mcp_stream::{ChunkLayer, ContentKind, OpenRequest, PaginationLayer, ResourceSource, ResourceStream};
//! use tower::{ServiceBuilder, service_fn};
//!
//! /// One large report, generated in memory.
//! struct Reports;
//! impl ResourceSource for Reports {
//!     fn open<'a>(&'a self, request: OpenRequest<'a>)
//!         -> BoxFuture<'a, Result<Option<ResourceStream>, McpError>> {
//!         Box::pin(async move {
//!             Ok((request.uri == "report://yearly")
//!                 .then(|| ResourceStream::bytes(ContentKind::Blob, vec![7u8; 32 << 20])))
//!         })
//!     }
//! }
//!
//! let service = ServiceBuilder::new()
//!     .layer(ChunkLayer::builder().source(Reports).build()?)
//!     .layer(PaginationLayer::builder().page_size(100).build()?)
//!     // .layer(cache) .layer(limits) ...
//!     .service(service_fn(|_request: JsonRpcRequest| async {
//!         JsonRpcResponse::from_value(&serde_json::json!({ "tools": [] }))
//!     }));
//! # let _ = service;
//! # Ok::<(), mcp_stream::ConfigError>(())
//! ```
//!
//! Where they sit in the stack (metrics -> rate limit -> cache ->
//! concurrency -> breaker -> timeout -> retry -> server): just inside the
//! rate limit, `ChunkLayer` outside `PaginationLayer`, both outside the
//! cache:
//!
//! metrics -> rate limit -> **chunk** -> **pagination** -> cache -> ...
//!
//! - Inside metrics and the rate limit, so every page and every chunk is a
//!   request that is counted and limited like any other.
//! - Outside the cache, so the cache keeps whole lists and whole results
//!   (one entry serves every page) and never a 4 MiB chunk; chunks read
//!   from a source do not reach the cache or the handler at all, and a
//!   cursor is checked before anything is served, so a cached entry is
//!   never served to a principal whose cursor fails.
//! - The chunk layer outside pagination, so its size guard sees the page,
//!   not the whole list the page was cut from.
//!
//! Chunks read from a source do not pass the concurrency limit, breaker or
//! timeout below: the chunk layer bounds them itself
//! (`max_concurrent_reads`, `read_timeout`).
//!
//! # Defaults
//!
//! [`ChunkLayer`]: chunks of at most 4 MiB encoded (3 MiB of a blob),
//! responses of at most 16 MiB less 64 KiB, 4 chunks read at once, 30 s to
//! read one, streams that cannot seek kept open between chunks (at most 64,
//! 60 s idle). [`PaginationLayer`]: pages of 100. Both draw a random
//! [`CursorKey`] when built; servers behind a load balancer share one.
//!
//! # Metrics
//!
//! Names from [`mcp_metrics::names`]: `mcp.stream.chunks` and
//! `mcp.stream.bytes` (counters, label `origin`: `source` or `result`),
//! `mcp.stream.pages`, `mcp.stream.cursor_rejections` (label `reason`:
//! `invalid_cursor` or `stale_cursor`) and `mcp.stream.too_large`. Handles
//! are registered when a layer is built, so install the recorder first.
//!
//! # Raw JSON-RPC
//!
//! The layers serve [`JsonRpcRequest`](mcp_service::jsonrpc::JsonRpcRequest)
//! as they serve rmcp's requests. Progress of a JSON-RPC request goes to
//! the [`ProgressSender`] the edge put in its extensions; without one, no
//! progress is sent.

#![cfg_attr(docsrs, feature(doc_auto_cfg))]

mod chunk;
mod chunked;
#[cfg(feature = "rmcp")]
mod client;
mod cursor;
mod error;
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing;
#[cfg(feature = "http")]
pub mod http;
mod key;
mod message;
mod paginate;
mod progress;
mod source;

pub use chunk::{CHUNK_META_KEY, CHUNK_URI_MARKER, ChunkInfo};
pub use chunked::{Chunk, ChunkLayer, ChunkLayerBuilder, ResponseFuture as ChunkFuture};
#[cfg(feature = "rmcp")]
pub use client::{ReadError, ReadSummary, Resource, ResourceReader};
pub use error::{ConfigError, CursorError};
pub use key::CursorKey;
#[cfg(feature = "rmcp")]
pub use message::RmcpList;
pub use message::{
    Content, ListKind, PagedList, RawList, ReadResult, StreamRequest, StreamResponse,
};
pub use paginate::{
    Paginate, PaginationLayer, PaginationLayerBuilder, ResponseFuture as PaginationFuture,
};
pub use progress::{Progress, ProgressSender, ProgressUpdate};
pub use source::{ContentKind, OpenRequest, ResourceSource, ResourceStream};
