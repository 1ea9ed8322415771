//! The layers over raw JSON-RPC, as a gateway runs them: chunks cut from
//! an upstream's whole result and read from a source, progress through a
//! `ProgressSender`, cursors bound to principals, and the metrics of all.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests fail loudly"
)]

use std::sync::{Arc, Mutex};

use base64::{Engine, engine::general_purpose::STANDARD};
use bytes::Bytes;
use futures::future::BoxFuture;
use mcp_metrics::names;
use mcp_service::{
    McpError, McpRequest, Principal,
    jsonrpc::{JsonRpcRequest, JsonRpcResponse, RequestId},
};
use mcp_stream::{
    CHUNK_META_KEY, ChunkInfo, ChunkLayer, ContentKind, OpenRequest, PaginationLayer,
    ProgressSender, ProgressUpdate, ResourceSource, ResourceStream,
};
use metrics_util::debugging::{DebugValue, DebuggingRecorder, Snapshotter};
use serde_json::{Value, json};
use tower::{Layer, Service, ServiceExt, service_fn};

/// The upstream: `up://text/{n}` is a text of n bytes, `up://blob/{n}` a
/// blob of n bytes; the tool `big` answers with 300 KiB.
async fn upstream(request: JsonRpcRequest) -> Result<JsonRpcResponse, McpError> {
    if request.method() == "tools/call" {
        let text = "y".repeat(300 << 10);
        return JsonRpcResponse::from_value(
            &json!({ "content": [{ "type": "text", "text": text }] }),
        );
    }
    let uri = request.resource_uri().unwrap().to_owned();
    let (kind, size) = uri.strip_prefix("up://").unwrap().split_once('/').unwrap();
    let size: usize = size.parse().unwrap();
    let content = match kind {
        "text" => {
            json!({ "uri": uri, "text": "héllo wörld ".repeat(size / 14 + 1)[..size].to_owned() })
        }
        _ => json!({ "uri": uri, "blob": STANDARD.encode(blob(size)), "mimeType": "image/png" }),
    };
    JsonRpcResponse::from_value(
        &json!({ "contents": [content], "ttlMs": 1000, "cacheScope": "private" }),
    )
}

fn blob(size: usize) -> Vec<u8> {
    (0..size).map(|n| (n * 7 % 251) as u8).collect()
}

fn read(uri: &str, who: &str, progress: Option<ProgressSender>) -> JsonRpcRequest {
    let params = json!({ "uri": uri, "_meta": { "progressToken": "t-1" } });
    let mut request =
        JsonRpcRequest::new(Some(RequestId::Number(1)), "resources/read", Some(&params)).unwrap();
    request.insert_extension(Principal::from_identity(who));
    if let Some(sender) = progress {
        request.insert_extension(sender);
    }
    request
}

fn result(response: &JsonRpcResponse) -> Value {
    serde_json::from_str(response.result().get()).unwrap()
}

fn info(value: &Value) -> Option<ChunkInfo> {
    serde_json::from_value(value["_meta"][CHUNK_META_KEY].clone()).ok()
}

/// Reads `uri` chunk by chunk, returning the pieces as sent.
async fn read_all<S>(service: &mut S, uri: &str, who: &str) -> Vec<Value>
where
    S: Service<JsonRpcRequest, Response = JsonRpcResponse, Error = McpError>,
{
    let mut results = Vec::new();
    let mut next = Some(uri.to_owned());
    while let Some(uri) = next {
        let response = service
            .ready()
            .await
            .unwrap()
            .call(read(&uri, who, None))
            .await
            .unwrap();
        let value = result(&response);
        next = info(&value).and_then(|info| info.next_uri);
        results.push(value);
    }
    results
}

#[tokio::test]
async fn an_upstreams_whole_results_are_cut_and_keep_their_hints() {
    let layer = ChunkLayer::builder()
        .max_chunk_bytes(16 << 10)
        .build()
        .unwrap();
    let mut service = layer.layer(service_fn(upstream));

    let text = read_all(&mut service, "up://text/100000", "alice").await;
    let joined: String = text
        .iter()
        .map(|value| value["contents"][0]["text"].as_str().unwrap())
        .collect();
    assert_eq!(joined, "héllo wörld ".repeat(100_000 / 14 + 1)[..100_000]);
    assert!(text.len() > 6);
    for value in &text {
        assert_eq!(value["ttlMs"], 1000);
        assert_eq!(value["cacheScope"], "private");
        assert_eq!(value["contents"][0]["uri"], "up://text/100000");
    }

    let pieces = read_all(&mut service, "up://blob/100000", "alice").await;
    let mut bytes = Vec::new();
    for value in &pieces {
        assert_eq!(value["contents"][0]["mimeType"], "image/png");
        bytes.extend(
            STANDARD
                .decode(value["contents"][0]["blob"].as_str().unwrap())
                .unwrap(),
        );
    }
    assert_eq!(bytes, blob(100_000));
    let first = info(&pieces[0]).unwrap();
    assert_eq!((first.total_bytes, first.chunks), (Some(100_000), Some(9)));
}

/// One blob of 40,000 bytes in memory.
struct Memory;

impl ResourceSource for Memory {
    fn open<'a>(
        &'a self,
        request: OpenRequest<'a>,
    ) -> BoxFuture<'a, Result<Option<ResourceStream>, McpError>> {
        let found = (request.uri == "mem://blob")
            .then(|| ResourceStream::bytes(ContentKind::Blob, Bytes::from(blob(40_000))));
        Box::pin(async move { Ok(found) })
    }
}

#[tokio::test]
async fn progress_reaches_the_edges_sender_in_order() {
    let layer = ChunkLayer::builder()
        .max_chunk_bytes(8192)
        .source(Memory)
        .build()
        .unwrap();
    let mut service = layer.layer(service_fn(upstream));
    let updates: Arc<Mutex<Vec<ProgressUpdate>>> = Arc::default();
    let sink = updates.clone();
    let sender = ProgressSender::new(move |update| sink.lock().unwrap().push(update));

    let mut next = Some("mem://blob".to_owned());
    while let Some(uri) = next {
        let request = read(&uri, "alice", Some(sender.clone()));
        let response = service.ready().await.unwrap().call(request).await.unwrap();
        next = info(&result(&response)).and_then(|info| info.next_uri);
    }
    let updates = updates.lock().unwrap();
    let done: Vec<u64> = updates.iter().map(|update| update.progress).collect();
    assert_eq!(done, [6144, 12288, 18432, 24576, 30720, 36864, 40000]);
    assert!(updates.iter().all(|update| update.total == Some(40_000)));
    assert!(updates.iter().all(|update| update.token == json!("t-1")));
}

#[tokio::test]
async fn chunk_cursors_belong_to_their_principal() {
    let layer = ChunkLayer::builder()
        .max_chunk_bytes(8192)
        .source(Memory)
        .build()
        .unwrap();
    let mut service = layer.layer(service_fn(upstream));
    let first = service
        .ready()
        .await
        .unwrap()
        .call(read("mem://blob", "alice", None))
        .await
        .unwrap();
    let next = info(&result(&first)).unwrap().next_uri.unwrap();

    let error = service
        .ready()
        .await
        .unwrap()
        .call(read(&next, "bob", None))
        .await
        .unwrap_err();
    let McpError::Rpc(rpc) = error else {
        panic!("{error:?}")
    };
    assert_eq!(rpc.code, -32602);
    assert_eq!(rpc.data.unwrap()["kind"], "invalid_cursor");
    let own = service
        .ready()
        .await
        .unwrap()
        .call(read(&next, "alice", None))
        .await;
    assert!(own.is_ok());
}

type Metrics = Vec<(
    metrics_util::CompositeKey,
    Option<metrics::Unit>,
    Option<metrics::SharedString>,
    DebugValue,
)>;

fn counter(metrics: &Metrics, name: &str, labels: &[(&str, &str)]) -> u64 {
    metrics
        .iter()
        .filter(|(key, ..)| {
            key.key().name() == name
                && labels.iter().all(|(k, v)| {
                    key.key()
                        .labels()
                        .any(|label| label.key() == *k && label.value() == *v)
                })
        })
        .map(|(.., value)| match value {
            DebugValue::Counter(count) => *count,
            other => panic!("{name} is {other:?}"),
        })
        .sum()
}

fn snapshot(snapshotter: &Snapshotter) -> Metrics {
    snapshotter.snapshot().into_vec()
}

#[tokio::test]
async fn chunks_pages_rejections_and_refusals_are_counted() {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let (chunks, pages) = metrics::with_local_recorder(&recorder, || {
        let chunks = ChunkLayer::builder()
            .max_chunk_bytes(8192)
            .max_message_bytes(128 << 10)
            .source(Memory)
            .build()
            .unwrap();
        (
            chunks,
            PaginationLayer::builder().page_size(2).build().unwrap(),
        )
    });
    let mut service = chunks.layer(service_fn(upstream));
    let pieces = read_all(&mut service, "mem://blob", "alice").await;
    read_all(&mut service, "up://text/20000", "alice").await;
    let forged = service
        .ready()
        .await
        .unwrap()
        .call(read("mem://blob#mcp-chunk=AAAA", "alice", None))
        .await;
    assert!(forged.is_err());
    let call = JsonRpcRequest::new(
        Some(RequestId::Number(2)),
        "tools/call",
        Some(&json!({"name": "big"})),
    )
    .unwrap();
    let refused = service.ready().await.unwrap().call(call).await.unwrap_err();
    assert!(
        matches!(refused, McpError::TooLarge { limit: 131_072, .. }),
        "{refused:?}"
    );

    let mut lists = pages.layer(service_fn(|_: JsonRpcRequest| async {
        JsonRpcResponse::from_value(
            &json!({ "tools": [{"name": "a"}, {"name": "b"}, {"name": "c"}] }),
        )
    }));
    let list = JsonRpcRequest::new(Some(RequestId::Number(3)), "tools/list", None).unwrap();
    lists.ready().await.unwrap().call(list).await.unwrap();
    let made_up = JsonRpcRequest::new(
        Some(RequestId::Number(4)),
        "tools/list",
        Some(&json!({ "cursor": "AQEAAAAAAAAAAgAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA" })),
    )
    .unwrap();
    assert!(lists.ready().await.unwrap().call(made_up).await.is_err());

    let metrics = snapshot(&snapshotter);
    let source = [(names::ORIGIN, names::ORIGIN_SOURCE)];
    let cut = [(names::ORIGIN, names::ORIGIN_RESULT)];
    assert_eq!(
        counter(&metrics, names::STREAM_CHUNKS, &source),
        pieces.len() as u64
    );
    assert_eq!(counter(&metrics, names::STREAM_BYTES, &source), 40_000);
    assert_eq!(counter(&metrics, names::STREAM_CHUNKS, &cut), 3);
    assert_eq!(counter(&metrics, names::STREAM_BYTES, &cut), 20_000);
    assert_eq!(counter(&metrics, names::STREAM_TOO_LARGE, &[]), 1);
    assert_eq!(counter(&metrics, names::STREAM_PAGES, &[]), 1);
    let invalid = [(names::REASON, names::REASON_INVALID_CURSOR)];
    assert_eq!(
        counter(&metrics, names::STREAM_CURSOR_REJECTIONS, &invalid),
        2
    );
}

/// A source that takes a minute to open anything.
struct Slow;

impl ResourceSource for Slow {
    fn open<'a>(
        &'a self,
        _: OpenRequest<'a>,
    ) -> BoxFuture<'a, Result<Option<ResourceStream>, McpError>> {
        Box::pin(async {
            tokio::time::sleep(std::time::Duration::from_secs(60)).await;
            Ok(Some(ResourceStream::bytes(ContentKind::Text, "late")))
        })
    }
}

#[tokio::test(start_paused = true)]
async fn slow_sources_time_out_and_cancelled_reads_stop() {
    use std::time::Duration;
    let layer = ChunkLayer::builder()
        .source(Slow)
        .read_timeout(Duration::from_secs(5))
        .max_concurrent_reads(1)
        .build()
        .unwrap();
    let service = layer.layer(service_fn(upstream));

    let started = tokio::time::Instant::now();
    let error = service
        .clone()
        .oneshot(read("slow://a", "alice", None))
        .await
        .unwrap_err();
    assert_eq!(
        error,
        McpError::Timeout {
            after: Duration::from_secs(5)
        }
    );
    assert_eq!(started.elapsed(), Duration::from_secs(5));

    // One read at a time: the second waits for the first's permit, so it
    // times out 5 s after the first does, not beside it.
    let started = tokio::time::Instant::now();
    let first = tokio::spawn(service.clone().oneshot(read("slow://a", "alice", None)));
    let second = tokio::spawn(service.clone().oneshot(read("slow://b", "bob", None)));
    assert!(matches!(
        first.await.unwrap(),
        Err(McpError::Timeout { .. })
    ));
    assert_eq!(started.elapsed(), Duration::from_secs(5));
    assert!(matches!(
        second.await.unwrap(),
        Err(McpError::Timeout { .. })
    ));
    assert_eq!(started.elapsed(), Duration::from_secs(10));

    // A client that cancels ends its read at once.
    let token = tokio_util::sync::CancellationToken::new();
    let started = tokio::time::Instant::now();
    let cancelled = tokio::spawn(
        service
            .clone()
            .oneshot(read("slow://c", "carol", None).with_cancellation(token.clone())),
    );
    tokio::time::sleep(Duration::from_secs(1)).await;
    token.cancel();
    assert_eq!(cancelled.await.unwrap().unwrap_err(), McpError::Cancelled);
    assert_eq!(started.elapsed(), Duration::from_secs(1));
}
