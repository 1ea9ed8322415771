//! Chunked reads through a real rmcp client and server: large resources
//! arrive whole, byte for byte, in chunks under the message limit, with
//! progress in order; changed resources and foreign cursors are refused.

#![cfg(feature = "rmcp")]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests fail loudly"
)]

use std::{
    sync::{
        Arc, Mutex,
        atomic::{AtomicU64, Ordering::SeqCst},
    },
    time::Duration,
};

use bytes::Bytes;
use futures::future::BoxFuture;
use mcp_service::{McpError, rmcp::StackedHandler};
use mcp_stream::{
    CHUNK_META_KEY, ChunkInfo, ChunkLayer, ContentKind, OpenRequest, ResourceReader,
    ResourceSource, ResourceStream,
};
use mcp_testkit::{DemoHandler, connect, connect_with};
use rmcp::{
    ClientHandler, ClientLifecycleMode,
    model::{
        CallToolRequestParams, ProgressNotificationParam, ReadResourceRequestParams,
        ReadResourceResult, ServerResult,
    },
    service::{NotificationContext, RoleClient},
};
use serde_json::json;
use tokio::sync::mpsc;
use tower::ServiceBuilder;

/// Deterministic bytes that do not compress or repeat at chunk boundaries.
fn generated(len: usize) -> Vec<u8> {
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let mut bytes = Vec::with_capacity(len + 8);
    while bytes.len() < len {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        bytes.extend_from_slice(&state.to_le_bytes());
    }
    bytes.truncate(len);
    bytes
}

/// Serves resources from memory, and counts the opens. Each replacement
/// is a new revision.
#[derive(Clone, Default)]
struct Memory {
    resources: Arc<Mutex<Vec<(String, ContentKind, Bytes)>>>,
    opens: Arc<AtomicU64>,
    revision: Arc<AtomicU64>,
}

impl Memory {
    fn with(self, uri: &str, kind: ContentKind, bytes: impl Into<Bytes>) -> Self {
        self.resources
            .lock()
            .unwrap()
            .push((uri.into(), kind, bytes.into()));
        self
    }

    fn replace(&self, uri: &str, bytes: impl Into<Bytes>) {
        let mut resources = self.resources.lock().unwrap();
        let entry = resources.iter_mut().find(|(u, ..)| u == uri).unwrap();
        entry.2 = bytes.into();
        self.revision.fetch_add(1, SeqCst);
    }
}

impl ResourceSource for Memory {
    fn open<'a>(
        &'a self,
        request: OpenRequest<'a>,
    ) -> BoxFuture<'a, Result<Option<ResourceStream>, McpError>> {
        self.opens.fetch_add(1, SeqCst);
        let revision = self.revision.load(SeqCst);
        let found = self
            .resources
            .lock()
            .unwrap()
            .iter()
            .find(|(uri, ..)| uri == request.uri)
            .map(|(_, kind, bytes)| {
                ResourceStream::bytes(*kind, bytes.clone())
                    .with_mime_type("application/octet-stream")
                    .with_revision(revision)
            });
        Box::pin(async move { Ok(found) })
    }
}

/// Records the `notifications/progress` the client receives, in order.
#[derive(Clone)]
struct Progress(mpsc::UnboundedSender<ProgressNotificationParam>);

impl ClientHandler for Progress {
    async fn on_progress(
        &self,
        params: ProgressNotificationParam,
        _: NotificationContext<RoleClient>,
    ) {
        let _ = self.0.send(params);
    }
}

/// The weight of every result that leaves the stack, seen from outside it.
type Weights = Arc<Mutex<Vec<usize>>>;

fn stacked(
    source: Option<Memory>,
    layer: mcp_stream::ChunkLayerBuilder,
    weights: Weights,
) -> impl rmcp::ServerHandler {
    let layer = match source {
        Some(source) => layer.source(source),
        None => layer,
    }
    .build()
    .unwrap();
    StackedHandler::new(
        DemoHandler::default(),
        ServiceBuilder::new()
            .map_response(move |result: ServerResult| {
                if let ServerResult::ReadResourceResult(_) = &result {
                    let weight = mcp_service::McpResponse::weight(&result);
                    weights.lock().unwrap().push(weight);
                }
                result
            })
            .layer(layer),
    )
}

fn chunk_info(result: &ReadResourceResult) -> Option<ChunkInfo> {
    let value = result.meta.as_ref()?.0.get(CHUNK_META_KEY)?;
    Some(serde_json::from_value(value.clone()).unwrap())
}

#[tokio::test]
async fn a_64_mib_blob_is_read_whole_in_chunks_with_ordered_progress() {
    let resource = generated(64 << 20);
    let source = Memory::default().with("mem://big.bin", ContentKind::Blob, resource.clone());
    let weights = Weights::default();
    let layer = ChunkLayer::builder();
    let limit = layer_limits();
    let (sender, mut progress) = mpsc::unbounded_channel();
    let pair = connect_with(
        stacked(Some(source.clone()), layer, weights.clone()),
        Progress(sender),
        ClientLifecycleMode::Initialize,
    )
    .await
    .unwrap();

    let read = ResourceReader::new(pair.client.peer())
        .read("mem://big.bin")
        .await
        .unwrap();

    assert_eq!(read.kind, ContentKind::Blob);
    assert!(read.bytes == resource, "the bytes arrive exactly");
    assert!(read.chunks >= 16, "{} chunks", read.chunks);
    assert_eq!(read.chunks as u64, source.opens.load(SeqCst));
    let weights = weights.lock().unwrap().clone();
    assert_eq!(weights.len(), read.chunks as usize);
    assert!(
        weights.iter().all(|&weight| weight <= limit),
        "every message under {limit}: {weights:?}"
    );

    // rmcp's client gives each request a progress token of its own: one
    // notification per chunk request, counting bytes of the whole resource.
    let mut done = Vec::new();
    let mut tokens = Vec::new();
    for _ in 0..read.chunks {
        let update = tokio::time::timeout(Duration::from_secs(10), progress.recv())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(update.total, Some((64u64 << 20) as f64));
        done.push(update.progress as u64);
        tokens.push(update.progress_token);
    }
    assert!(done.windows(2).all(|pair| pair[0] < pair[1]), "{done:?}");
    tokens.dedup();
    assert_eq!(tokens.len(), read.chunks as usize, "one token per request");
    assert_eq!(done.last(), Some(&(64 << 20)));
    assert_eq!(done[0], 3 << 20, "a blob chunk holds 3 MiB");
}

/// The default message limit of the layer.
fn layer_limits() -> usize {
    ChunkLayer::builder().build().unwrap().max_message_bytes()
}

#[tokio::test]
async fn the_first_chunk_says_what_follows_and_plain_clients_can_follow_it() {
    let resource = generated(10_000);
    let source = Memory::default().with("mem://small.bin", ContentKind::Blob, resource.clone());
    let pair = connect(stacked(
        Some(source),
        ChunkLayer::builder().max_chunk_bytes(4096),
        Weights::default(),
    ))
    .await
    .unwrap();
    let peer = pair.client.peer();

    let first = peer
        .read_resource(ReadResourceRequestParams::new("mem://small.bin"))
        .await
        .unwrap();
    let info = chunk_info(&first).unwrap();
    assert_eq!(
        (
            info.index,
            info.offset,
            info.bytes,
            info.total_bytes,
            info.chunks
        ),
        (0, 0, 3072, Some(10_000), Some(4))
    );
    let next = info.next_uri.unwrap();
    assert!(next.starts_with("mem://small.bin#mcp-chunk="), "{next}");

    // A client that knows only `resources/read` follows `nextUri`.
    let second = peer
        .read_resource(ReadResourceRequestParams::new(next))
        .await
        .unwrap();
    let info = chunk_info(&second).unwrap();
    assert_eq!((info.index, info.offset), (1, 3072));
    assert_eq!(second.contents.len(), 1);
}

/// Text of every width of character, quotes, backslashes and control
/// characters, so cuts fall inside multibyte characters and escapes.
fn awkward_text(len: usize) -> String {
    let pieces = ["a", "é", "€", "😀", "\"", "\\", "\n", "\u{1}", "xyz"];
    let mut text = String::with_capacity(len + 8);
    let mut index = 7usize;
    while text.len() < len {
        index = index.wrapping_mul(31).wrapping_add(17);
        text.push_str(pieces[index % pieces.len()]);
    }
    text
}

/// A text resource of unknown length, from a stream that cannot seek.
struct Streamed(String, Arc<AtomicU64>);

impl ResourceSource for Streamed {
    fn open<'a>(
        &'a self,
        request: OpenRequest<'a>,
    ) -> BoxFuture<'a, Result<Option<ResourceStream>, McpError>> {
        self.1.fetch_add(1, SeqCst);
        let bytes = Bytes::from(self.0.clone().into_bytes());
        // Pieces of 1000 bytes, so buffers end inside characters too.
        let pieces: Vec<std::io::Result<Bytes>> = (0..bytes.len())
            .step_by(1000)
            .map(|at| Ok(bytes.slice(at..(at + 1000).min(bytes.len()))))
            .collect();
        let found = (request.uri == "stream://text")
            .then(|| ResourceStream::stream(ContentKind::Text, futures::stream::iter(pieces)));
        Box::pin(async move { Ok(found) })
    }
}

#[tokio::test]
async fn text_of_unknown_length_is_cut_on_character_boundaries() {
    let text = awkward_text(200_000);
    let opens = Arc::new(AtomicU64::new(0));
    let layer = ChunkLayer::builder()
        .max_chunk_bytes(8192)
        .source(Streamed(text.clone(), opens.clone()))
        .build()
        .unwrap();
    let handler = StackedHandler::new(DemoHandler::default(), ServiceBuilder::new().layer(layer));
    let pair = connect(handler).await.unwrap();

    let read = ResourceReader::new(pair.client.peer())
        .read("stream://text")
        .await
        .unwrap();
    assert_eq!(read.kind, ContentKind::Text);
    assert_eq!(read.text(), Some(text.as_str()));
    assert!(read.chunks > 25, "{} chunks", read.chunks);
    assert_eq!(
        opens.load(SeqCst),
        1,
        "the stream stays open between chunks"
    );
}

#[tokio::test]
async fn whole_results_larger_than_a_chunk_are_cut_from_the_inner_result() {
    let demo = DemoHandler::default();
    let layer = ChunkLayer::builder()
        .max_chunk_bytes(64 << 10)
        .build()
        .unwrap();
    let handler = StackedHandler::new(demo.clone(), ServiceBuilder::new().layer(layer));
    let pair = connect(handler).await.unwrap();

    let read = ResourceReader::new(pair.client.peer())
        .read("demo://generated/300000")
        .await
        .unwrap();
    let expected: String = "0123456789abcdef".chars().cycle().take(300_000).collect();
    assert_eq!(read.text(), Some(expected.as_str()));
    assert_eq!(read.chunks, 5);
    assert_eq!(
        demo.calls("resources/read"),
        5,
        "each chunk is cut from a fresh result"
    );

    // Small resources pass as they are, in one read.
    let small = ResourceReader::new(pair.client.peer())
        .read("demo://generated/1000")
        .await
        .unwrap();
    assert_eq!((small.chunks, small.bytes.len()), (1, 1000));
}

#[tokio::test]
async fn the_reader_needs_no_chunking_server() {
    let pair = connect(DemoHandler::default()).await.unwrap();
    let read = ResourceReader::new(pair.client.peer())
        .read("demo://static/readme")
        .await
        .unwrap();
    assert_eq!(read.text(), Some("mcp-stack demo server"));
    assert_eq!(read.chunks, 1);
    let mut sink = Vec::new();
    let summary = ResourceReader::new(pair.client.peer())
        .copy_to("demo://generated/70000", &mut sink)
        .await
        .unwrap();
    assert_eq!(
        (summary.bytes, summary.chunks, sink.len()),
        (70_000, 1, 70_000)
    );
}

#[tokio::test]
async fn a_resource_that_changes_between_chunks_is_refused_as_stale() {
    let source = Memory::default().with("mem://doc", ContentKind::Blob, generated(20_000));
    let pair = connect(stacked(
        Some(source.clone()),
        ChunkLayer::builder().max_chunk_bytes(4096),
        Weights::default(),
    ))
    .await
    .unwrap();
    let peer = pair.client.peer();
    let first = peer
        .read_resource(ReadResourceRequestParams::new("mem://doc"))
        .await
        .unwrap();
    let next = chunk_info(&first).unwrap().next_uri.unwrap();

    source.replace("mem://doc", generated(20_001));
    let error = peer
        .read_resource(ReadResourceRequestParams::new(next))
        .await
        .unwrap_err();
    let text = error.to_string();
    assert!(text.contains("stale cursor for mem://doc"), "{text}");
    assert!(text.contains("read the resource again"), "{text}");

    // Read again from the start, the new version arrives whole.
    let read = ResourceReader::new(peer).read("mem://doc").await.unwrap();
    assert!(read.bytes == generated(20_001));
}

#[tokio::test]
async fn forged_chunk_uris_are_refused() {
    let source = Memory::default().with("mem://doc", ContentKind::Blob, generated(20_000));
    let pair = connect(stacked(
        Some(source),
        ChunkLayer::builder().max_chunk_bytes(4096),
        Weights::default(),
    ))
    .await
    .unwrap();
    let peer = pair.client.peer();
    let first = peer
        .read_resource(ReadResourceRequestParams::new("mem://doc"))
        .await
        .unwrap();
    let next = chunk_info(&first).unwrap().next_uri.unwrap();
    let mut altered = next.clone().into_bytes();
    let last = altered.len() - 1;
    altered[last] = if altered[last] == b'A' { b'B' } else { b'A' };
    let forged = [
        String::from_utf8(altered).unwrap(),
        "mem://doc#mcp-chunk=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA".into(),
        // A genuine cursor moved onto another resource.
        next.replace("mem://doc", "mem://other"),
    ];
    for uri in forged {
        let error = peer
            .read_resource(ReadResourceRequestParams::new(uri.clone()))
            .await
            .unwrap_err();
        assert!(
            error.to_string().contains("invalid cursor"),
            "{uri}: {error}"
        );
    }
}

#[tokio::test]
async fn responses_over_the_message_limit_become_too_large() {
    let layer = ChunkLayer::builder()
        .max_chunk_bytes(16 << 10)
        .max_message_bytes(128 << 10);
    let pair = connect(stacked(None, layer, Weights::default()))
        .await
        .unwrap();
    let text = "x".repeat(200 << 10);
    let result = pair
        .client
        .peer()
        .call_tool(
            CallToolRequestParams::new("echo")
                .with_arguments(json!({ "text": text }).as_object().cloned().unwrap()),
        )
        .await
        .unwrap();
    // A rejected tool call reaches the model as a tool error that says why.
    assert_eq!(result.is_error, Some(true));
    let message = format!("{:?}", result.content);
    assert!(
        message.contains("exceeds the limit of 131072 bytes"),
        "{message}"
    );

    let small = pair
        .client
        .peer()
        .call_tool(
            CallToolRequestParams::new("echo")
                .with_arguments(json!({ "text": "hi" }).as_object().cloned().unwrap()),
        )
        .await
        .unwrap();
    assert_ne!(small.is_error, Some(true));
}
