//! A 16 MiB blob resource read whole through the bare service, beside the
//! same resource read through mcp-stream's chunked path, every chunk.
//!
//! Both ids end with the JSON-RPC bytes the transport would send, so they
//! measure what a server pays to put the resource on the wire: base64,
//! the JSON result, the message. `read_whole_16mib` is one 21 MiB message
//! (over the 16 MiB clients accept: what chunking replaces);
//! `read_chunked_16mib` is six messages of at most 4 MiB, with cursors
//! signed and checked, served from a `ResourceSource` holding the bytes.
//! The harness finds each chunk's `nextUri` at the end of its result text,
//! where the layer writes it, instead of parsing 4 MiB as a client would.

#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::{hint::black_box, time::Duration};

use base64::{Engine, engine::general_purpose::STANDARD};
use bytes::Bytes;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use futures::future::BoxFuture;
use mcp_service::{
    McpError,
    jsonrpc::{JsonRpcRequest, JsonRpcResponse, RequestId, encode_result},
};
use mcp_stream::{
    ChunkLayer, Content, ContentKind, OpenRequest, ReadResult, ResourceSource, ResourceStream,
    StreamResponse,
};
use serde_json::json;
use tower::{Layer, Service, ServiceExt, service_fn};

const URI: &str = "mem://blob";
const SIZE: usize = 16 << 20;

fn blob() -> Bytes {
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let mut bytes = Vec::with_capacity(SIZE);
    while bytes.len() < SIZE {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        bytes.extend_from_slice(&state.to_le_bytes());
    }
    bytes.truncate(SIZE);
    Bytes::from(bytes)
}

struct Memory(Bytes);

impl ResourceSource for Memory {
    fn open<'a>(
        &'a self,
        request: OpenRequest<'a>,
    ) -> BoxFuture<'a, Result<Option<ResourceStream>, McpError>> {
        let stream =
            (request.uri == URI).then(|| ResourceStream::bytes(ContentKind::Blob, self.0.clone()));
        Box::pin(async move { Ok(stream) })
    }
}

fn read(uri: &str) -> JsonRpcRequest {
    JsonRpcRequest::new(
        Some(RequestId::Number(7)),
        "resources/read",
        Some(&json!({ "uri": uri })),
    )
    .unwrap()
}

/// The `nextUri` the layer writes last in a chunk's `_meta`.
fn next_uri(result: &str) -> Option<String> {
    let marker = r#""nextUri":""#;
    let start = result.rfind(marker)? + marker.len();
    let end = start + result[start..].find('"')?;
    Some(result[start..end].to_owned())
}

fn stream(c: &mut Criterion) {
    let mut group = c.benchmark_group("stream");
    group
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .sample_size(30)
        .throughput(Throughput::Bytes(SIZE as u64));
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    let id = serde_json::value::to_raw_value(&7).unwrap();
    let bytes = blob();

    // The bare service: a handler that answers with the whole blob.
    let whole = bytes.clone();
    let bare = service_fn(move |_request: JsonRpcRequest| {
        let content = Content::Blob(STANDARD.encode(&whole));
        let result = JsonRpcResponse::from_read(ReadResult::new(URI, None, content));
        async move { result }
    });

    let mut service = bare.clone();
    group.bench_function("read_whole_16mib", |b| {
        b.iter(|| {
            runtime.block_on(async {
                let ready = service.ready().await.unwrap();
                let response = ready.call(read(URI)).await.unwrap();
                black_box(encode_result(&id, &response).len())
            })
        })
    });

    let layer = ChunkLayer::builder().source(Memory(bytes)).build().unwrap();
    let mut chunked = layer.layer(bare);
    let mut chunks = 0;
    group.bench_function("read_chunked_16mib", |b| {
        b.iter(|| {
            runtime.block_on(async {
                let mut uri = URI.to_owned();
                let mut sent = 0;
                chunks = 0;
                loop {
                    let ready = chunked.ready().await.unwrap();
                    let response = ready.call(read(&uri)).await.unwrap();
                    sent += encode_result(&id, &response).len();
                    chunks += 1;
                    match next_uri(response.result().get()) {
                        Some(next) => uri = next,
                        None => break black_box(sent),
                    }
                }
            })
        })
    });
    assert_eq!(chunks, 6, "16 MiB in chunks of 3 MiB");
    group.finish();
}

criterion_group!(benches, stream);
criterion_main!(benches);
