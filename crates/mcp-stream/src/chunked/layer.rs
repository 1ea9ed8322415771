//! [`ChunkLayer`] and its builder.

use std::{sync::Arc, time::Duration};

use mcp_metrics::names;
use metrics::Counter;
use tokio::sync::Semaphore;
use tower_layer::Layer;

use super::{Chunk, parked::Parked};
use crate::{error::ConfigError, key::CursorKey, source::ResourceSource};

/// The room a chunk's result needs besides its content (URIs, MIME type,
/// `_meta`), kept free under the message limit.
pub(crate) const CHUNK_OVERHEAD_BYTES: usize = 64 << 10;

/// Serves large resources in chunks and keeps every response under the
/// message limit.
///
/// - **Chunked reads.** A `resources/read` whose content is larger than
///   `max_chunk_bytes` once encoded is answered with its first chunk, and
///   `_meta["io.github.mcp-stack/chunk"]` (a [`ChunkInfo`](crate::ChunkInfo))
///   gives the total size, the chunk count when known, and the URI of the
///   next chunk; see the crate docs for the convention. Resources come
///   from a [`ResourceSource`] (read a bounded buffer at a time, never
///   whole) or, without one, from the inner service's whole result, cut
///   again for each chunk.
/// - **Progress.** A read that carries `_meta.progressToken` gets a
///   `notifications/progress` (bytes done, total) as each chunk is produced.
/// - **Size guard.** Any other response larger than `max_message_bytes`
///   becomes [`McpError::TooLarge`](mcp_service::McpError::TooLarge), never
///   a message the client would drop. Each response is weighed once
///   ([`McpResponse::weight`](mcp_service::McpResponse::weight): the length
///   of a JSON-RPC result, a counting serialization of an rmcp result);
///   lifecycle results are not.
///
/// ```
/// use mcp_service::jsonrpc::{JsonRpcRequest, JsonRpcResponse};
/// use mcp_stream::ChunkLayer;
/// use tower::{ServiceBuilder, service_fn};
///
/// let service = ServiceBuilder::new()
///     .layer(ChunkLayer::builder().max_chunk_bytes(1 << 20).build()?)
///     .service(service_fn(|_request: JsonRpcRequest| async {
///         JsonRpcResponse::from_value(&serde_json::json!({ "contents": [] }))
///     }));
/// # let _ = service;
/// # Ok::<(), mcp_stream::ConfigError>(())
/// ```
#[derive(Clone)]
pub struct ChunkLayer {
    shared: Arc<Shared>,
}

impl ChunkLayer {
    /// A layer that chunks nothing and guards no size: every call passes
    /// straight through. Its cursor key is never used.
    pub fn disabled() -> Self {
        let builder = Self::builder();
        let key = CursorKey::from_secret(&[0; CursorKey::MIN_SECRET_BYTES])
            .unwrap_or_else(|error| unreachable!("a key of the minimum length is valid: {error}"));
        Self {
            shared: Arc::new(Shared {
                enabled: false,
                source: None,
                key,
                max_chunk_bytes: builder.max_chunk_bytes,
                max_message_bytes: builder.max_message_bytes,
                reads: Arc::new(Semaphore::new(1)),
                read_timeout: builder.read_timeout,
                parked: Parked::new(1, builder.parked_idle),
                metrics: Metrics {
                    source_chunks: Counter::noop(),
                    result_chunks: Counter::noop(),
                    source_bytes: Counter::noop(),
                    result_bytes: Counter::noop(),
                    invalid_cursors: Counter::noop(),
                    stale_cursors: Counter::noop(),
                    too_large: Counter::noop(),
                },
            }),
        }
    }

    /// A builder with the defaults: chunks of 4 MiB, messages of at most
    /// 16 MiB less 64 KiB, 4 chunks built at once, 30 s to read a chunk,
    /// a random cursor key, and no resource source.
    pub fn builder() -> ChunkLayerBuilder {
        ChunkLayerBuilder {
            source: None,
            max_chunk_bytes: 4 << 20,
            max_message_bytes: (16 << 20) - CHUNK_OVERHEAD_BYTES,
            max_concurrent_reads: 4,
            read_timeout: Duration::from_secs(30),
            cursor_key: None,
            max_parked: 64,
            parked_idle: Duration::from_secs(60),
        }
    }

    /// The most bytes one chunk's content takes once encoded.
    pub fn max_chunk_bytes(&self) -> usize {
        self.shared.max_chunk_bytes
    }

    /// The largest response that leaves the layer, in bytes.
    pub fn max_message_bytes(&self) -> usize {
        self.shared.max_message_bytes
    }
}

impl std::fmt::Debug for ChunkLayer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChunkLayer")
            .field("max_chunk_bytes", &self.shared.max_chunk_bytes)
            .field("max_message_bytes", &self.shared.max_message_bytes)
            .field("source", &self.shared.source.is_some())
            .finish_non_exhaustive()
    }
}

impl<S> Layer<S> for ChunkLayer {
    type Service = Chunk<S>;

    fn layer(&self, inner: S) -> Chunk<S> {
        Chunk::new(inner, self.shared.clone())
    }
}

/// Builds a [`ChunkLayer`].
pub struct ChunkLayerBuilder {
    source: Option<Arc<dyn ResourceSource>>,
    max_chunk_bytes: usize,
    max_message_bytes: usize,
    max_concurrent_reads: usize,
    read_timeout: Duration,
    cursor_key: Option<CursorKey>,
    max_parked: u64,
    parked_idle: Duration,
}

impl ChunkLayerBuilder {
    /// Where large resources are opened as streams. Every `resources/read`
    /// asks it first; the URIs it does not serve go to the inner service.
    /// Default: none, so only the inner service's whole results are chunked.
    pub fn source(mut self, source: impl ResourceSource) -> Self {
        self.source = Some(Arc::new(source));
        self
    }

    /// The most bytes one chunk's content may take once encoded (the base64
    /// of a blob, the JSON string of a text). Default 4 MiB: with the
    /// base64 growth, a blob chunk holds 3 MiB.
    pub fn max_chunk_bytes(mut self, bytes: usize) -> Self {
        self.max_chunk_bytes = bytes;
        self
    }

    /// The largest response the layer lets out, as its JSON `result`.
    /// Default 16 MiB (the cap of rmcp's stdio lines and SSE events, and
    /// of other clients) less 64 KiB for the JSON-RPC envelope.
    pub fn max_message_bytes(mut self, bytes: usize) -> Self {
        self.max_message_bytes = bytes;
        self
    }

    /// How many chunks are read from the source at once; more wait. Each
    /// holds about `2 * max_chunk_bytes` while it is built, so this bounds
    /// the layer's memory. Default 4.
    pub fn max_concurrent_reads(mut self, reads: usize) -> Self {
        self.max_concurrent_reads = reads;
        self
    }

    /// How long opening the source and reading one chunk may take before
    /// the read fails with `Timeout`. Default 30 s.
    pub fn read_timeout(mut self, timeout: Duration) -> Self {
        self.read_timeout = timeout;
        self
    }

    /// The key chunk cursors are signed with. Default: a random key per
    /// layer; give every node the same key when clients may reach another
    /// node for the next chunk.
    pub fn cursor_key(mut self, key: CursorKey) -> Self {
        self.cursor_key = Some(key);
        self
    }

    /// Streams that cannot seek (a source that ignores
    /// [`OpenRequest::offset`](crate::OpenRequest::offset)) stay open
    /// between chunks; at most this many, each for at most
    /// [`parked_idle`](Self::parked_idle). A chunk request that finds none
    /// reopens the stream and skips to its offset. Default 64.
    pub fn max_parked(mut self, streams: u64) -> Self {
        self.max_parked = streams;
        self
    }

    /// How long a stream kept open between chunks waits for its next chunk
    /// request. Default 60 s.
    pub fn parked_idle(mut self, idle: Duration) -> Self {
        self.parked_idle = idle;
        self
    }

    /// The layer, or which setting is out of range.
    pub fn build(self) -> Result<ChunkLayer, ConfigError> {
        let fail = |setting, problem: String| Err(ConfigError { setting, problem });
        if self.max_chunk_bytes < 1024 {
            return fail(
                "max_chunk_bytes",
                format!(
                    "{} bytes is below the minimum of 1024",
                    self.max_chunk_bytes
                ),
            );
        }
        if self.max_chunk_bytes.saturating_add(CHUNK_OVERHEAD_BYTES) > self.max_message_bytes {
            return fail(
                "max_chunk_bytes",
                format!(
                    "chunks of {} bytes do not fit messages of {} bytes with {} bytes to spare",
                    self.max_chunk_bytes, self.max_message_bytes, CHUNK_OVERHEAD_BYTES
                ),
            );
        }
        if self.max_concurrent_reads == 0 {
            return fail("max_concurrent_reads", "must be at least 1".into());
        }
        if self.read_timeout.is_zero() {
            return fail("read_timeout", "must be longer than zero".into());
        }
        let key = match self.cursor_key {
            Some(key) => key,
            None => CursorKey::random()?,
        };
        let counter = |name: &'static str, origin: &'static str| metrics::counter!(name, names::ORIGIN => origin);
        let rejections = |reason: &'static str| metrics::counter!(names::STREAM_CURSOR_REJECTIONS, names::REASON => reason);
        Ok(ChunkLayer {
            shared: Arc::new(Shared {
                enabled: true,
                source: self.source,
                key,
                max_chunk_bytes: self.max_chunk_bytes,
                max_message_bytes: self.max_message_bytes,
                reads: Arc::new(Semaphore::new(self.max_concurrent_reads)),
                read_timeout: self.read_timeout,
                parked: Parked::new(self.max_parked, self.parked_idle),
                metrics: Metrics {
                    source_chunks: counter(names::STREAM_CHUNKS, names::ORIGIN_SOURCE),
                    result_chunks: counter(names::STREAM_CHUNKS, names::ORIGIN_RESULT),
                    source_bytes: counter(names::STREAM_BYTES, names::ORIGIN_SOURCE),
                    result_bytes: counter(names::STREAM_BYTES, names::ORIGIN_RESULT),
                    invalid_cursors: rejections(names::REASON_INVALID_CURSOR),
                    stale_cursors: rejections(names::REASON_STALE_CURSOR),
                    too_large: metrics::counter!(names::STREAM_TOO_LARGE),
                },
            }),
        })
    }
}

impl std::fmt::Debug for ChunkLayerBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChunkLayerBuilder")
            .field("max_chunk_bytes", &self.max_chunk_bytes)
            .field("max_message_bytes", &self.max_message_bytes)
            .finish_non_exhaustive()
    }
}

/// What every clone of the layer and its services share.
pub(crate) struct Shared {
    /// False for [`ChunkLayer::disabled`]: calls pass through unweighed.
    pub(crate) enabled: bool,
    pub(crate) source: Option<Arc<dyn ResourceSource>>,
    pub(crate) key: CursorKey,
    pub(crate) max_chunk_bytes: usize,
    pub(crate) max_message_bytes: usize,
    pub(crate) reads: Arc<Semaphore>,
    pub(crate) read_timeout: Duration,
    pub(crate) parked: Parked,
    pub(crate) metrics: Metrics,
}

pub(crate) struct Metrics {
    pub(crate) source_chunks: Counter,
    pub(crate) result_chunks: Counter,
    pub(crate) source_bytes: Counter,
    pub(crate) result_bytes: Counter,
    pub(crate) invalid_cursors: Counter,
    pub(crate) stale_cursors: Counter,
    pub(crate) too_large: Counter,
}
