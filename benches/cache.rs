//! The cache beside what it is made of: a raw moka get and a raw Redis GET
//! of the same value, and the bare service it saves calls to.
//!
//! Every id answers a `resources/read` with the same ~1 KiB result.
//! `moka_raw` computes the request's key and gets the result from a moka
//! cache by that u128 key, cloning it out, as the layer does; `l1_hit` goes
//! through `CacheLayer` with the result in memory; `l2_hit` goes through
//! `CacheLayer` with memory off and the result in a `redis-server` on
//! loopback; `redis_get_raw` is one redis-rs GET of the stored bytes on the
//! same kind of connection. Requests are cloned outside the timed part and
//! dropped inside it by every id, as a service call owns and drops them.

#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::{hint::black_box, time::Duration};

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use futures::FutureExt;
use mcp_cache::{CacheLayer, RedisTier};
use mcp_service::{
    McpError, McpRequest, Partition,
    jsonrpc::{JsonRpcRequest, JsonRpcResponse, RequestId},
    redis::{RedisOptions, connect, connect_with_pushes},
};
use mcp_testkit::RedisServer;
use serde_json::json;
use tower::{Layer, Service, ServiceExt, service_fn};

fn result() -> JsonRpcResponse {
    JsonRpcResponse::from_value(&json!({
        "contents": [{ "uri": "demo://static/hello", "mimeType": "text/plain", "text": "x".repeat(900) }],
        "ttlMs": 3_600_000,
        "cacheScope": "public",
    }))
    .unwrap()
}

fn request() -> JsonRpcRequest {
    JsonRpcRequest::new(
        Some(RequestId::Number(7)),
        "resources/read",
        Some(&json!({ "uri": "demo://static/hello" })),
    )
    .unwrap()
}

fn cache(c: &mut Criterion) {
    let mut group = c.benchmark_group("cache");
    group
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .sample_size(30);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let _entered = runtime.enter();
    let prepared = result();
    let request = request();
    let inner = {
        let prepared = prepared.clone();
        service_fn(move |_: JsonRpcRequest| std::future::ready(Ok::<_, McpError>(prepared.clone())))
    };

    let mut bare = inner.clone();
    group.bench_function("bare", |b| {
        b.iter_batched(
            || request.clone(),
            |request| bare.call(request).now_or_never().unwrap().unwrap(),
            BatchSize::SmallInput,
        )
    });

    let moka: moka::sync::Cache<u128, JsonRpcResponse> = moka::sync::Cache::new(10_000);
    let key = request.cache_key(Partition::Public).unwrap().as_u128();
    moka.insert(key, prepared.clone());
    group.bench_function("moka_raw", |b| {
        b.iter_batched(
            || request.clone(),
            |request| {
                // Owned and dropped, as a service call owns its request.
                let key = black_box(&request).cache_key(Partition::Public).unwrap();
                let value = moka.get(&key.as_u128()).unwrap();
                drop(request);
                value
            },
            BatchSize::SmallInput,
        )
    });

    let layer = CacheLayer::new();
    let mut cached = layer.layer(inner.clone());
    for _ in 0..2 {
        cached
            .call(request.clone())
            .now_or_never()
            .unwrap()
            .unwrap();
    }
    assert_eq!(layer.counts().l1_hits, 1, "l1_hit measures hits");
    group.bench_function("l1_hit", |b| {
        b.iter_batched(
            || request.clone(),
            |request| cached.call(request).now_or_never().unwrap().unwrap(),
            BatchSize::SmallInput,
        )
    });

    match RedisServer::start() {
        Ok(Some(redis)) => shared(&mut group, &runtime, &redis, inner, &request),
        Ok(None) => eprintln!("l2_hit and redis_get_raw need redis-server"),
        Err(error) => panic!("{error}"),
    }
    group.finish();
}

fn shared<S>(
    group: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    runtime: &tokio::runtime::Runtime,
    redis: &RedisServer,
    inner: S,
    request: &JsonRpcRequest,
) where
    S: Service<JsonRpcRequest, Response = JsonRpcResponse, Error = McpError>
        + Clone
        + Send
        + 'static,
    S::Future: Send,
{
    let connection = connect(&redis.url(), RedisOptions::default()).unwrap();
    let (subscriber, pushes) =
        connect_with_pushes(&redis.url(), RedisOptions::default(), 1024).unwrap();
    let layer = CacheLayer::builder()
        .memory(false)
        .redis(RedisTier::new(connection, subscriber, pushes))
        .build()
        .unwrap();
    let cached = layer.layer(inner);
    let mut raw = connect(&redis.url(), RedisOptions::default()).unwrap();
    let (stored_key, stored) = runtime.block_on(async {
        while !layer.is_shared() {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        cached.clone().oneshot(request.clone()).await.unwrap();
        loop {
            let keys: Vec<String> = redis::cmd("KEYS")
                .arg("mcp-stack:cache:v:*")
                .query_async(&mut raw)
                .await
                .unwrap();
            if let Some(key) = keys.into_iter().next() {
                let bytes: Vec<u8> = redis::cmd("GET")
                    .arg(&key)
                    .query_async(&mut raw)
                    .await
                    .unwrap();
                break (key, bytes);
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    });
    assert!(stored.len() > 900);
    runtime
        .block_on(cached.clone().oneshot(request.clone()))
        .unwrap();
    assert_eq!(layer.counts().l2_hits, 1, "l2_hit measures hits from Redis");

    group.bench_function("l2_hit", |b| {
        b.iter_batched(
            || (cached.clone(), request.clone()),
            |(service, request)| runtime.block_on(service.oneshot(request)).unwrap(),
            BatchSize::SmallInput,
        )
    });

    group.bench_function("redis_get_raw", |b| {
        b.iter(|| {
            let mut connection = raw.clone();
            let bytes: Vec<u8> = runtime
                .block_on(
                    redis::cmd("GET")
                        .arg(&stored_key)
                        .query_async(&mut connection),
                )
                .unwrap();
            bytes
        })
    });
}

criterion_group!(benches, cache);
criterion_main!(benches);
