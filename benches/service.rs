//! Canonical key hashing (mcp-service), beside the naive alternative a user
//! would otherwise write: serialize the params, hash the bytes. That one is
//! not canonical (member order and `_meta` change it), so it is the floor to
//! compare against, not a competitor on correctness.
//!
//! `key/small` and `key/large` hash rmcp's typed params (what an rmcp server
//! pays); the `_raw` ids hash JSON-RPC params as text (what a gateway pays).

#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::{hint::black_box, time::Duration};

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use mcp_service::{
    CacheKey, McpRequest, ParamsDigest, Partition,
    jsonrpc::{JsonRpcRequest, RequestId},
};
use rmcp::model::{CallToolRequestParams, JsonObject};
use serde_json::{Value, json};
use xxhash_rust::xxh3::xxh3_128;

fn small_arguments() -> Value {
    json!({ "query": "rust tower middleware", "limit": 10, "filters": { "lang": "en" } })
}

/// About 64 KiB of realistic nested arguments.
fn large_arguments() -> Value {
    let mut records = Vec::new();
    while serde_json::to_string(&records).unwrap().len() < 64 * 1024 {
        let i = records.len();
        records.push(json!({
            "id": i,
            "name": format!("item-{i}"),
            "tags": ["alpha", "beta", "gamma"],
            "score": i as f64 / 7.0,
            "active": i % 2 == 0,
            "note": "the quick brown fox jumps over the lazy dog",
        }));
    }
    json!({ "records": records, "mode": "bulk" })
}

fn typed_params(arguments: Value) -> CallToolRequestParams {
    let arguments: JsonObject = arguments.as_object().cloned().unwrap();
    CallToolRequestParams::new("search").with_arguments(arguments)
}

fn keys(c: &mut Criterion) {
    let mut group = c.benchmark_group("key");
    group
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .sample_size(30);
    for (size, arguments) in [("small", small_arguments()), ("large", large_arguments())] {
        let typed = typed_params(arguments.clone());
        let text = serde_json::to_vec(&typed).unwrap();
        group.throughput(Throughput::Bytes(text.len() as u64));

        group.bench_function(size, |b| {
            b.iter(|| {
                let params = ParamsDigest::of_value(black_box(&typed)).unwrap();
                CacheKey::new("tools/call", params, Some("2025-11-25"), Partition::Public)
            })
        });

        let raw = JsonRpcRequest::new(
            Some(RequestId::Number(1)),
            "tools/call",
            Some(&serde_json::to_value(&typed).unwrap()),
        )
        .unwrap();
        group.bench_function(format!("{size}_raw"), |b| {
            b.iter(|| black_box(&raw).cache_key(Partition::Public).unwrap())
        });

        group.bench_function(BenchmarkId::new("to_vec_xxh3", size), |b| {
            b.iter(|| xxh3_128(&serde_json::to_vec(black_box(&typed)).unwrap()))
        });
    }
    group.finish();
}

criterion_group!(benches, keys);
criterion_main!(benches);
