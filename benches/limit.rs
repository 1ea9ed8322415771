//! Rate limit checks beside governor, the rate limiter a Rust user would
//! pick instead, and the bare service.
//!
//! `gcra_check` and `governor_check` are one unkeyed check each, clock read
//! included; `rate_limit_layer` goes through our tower layer; the keyed ids
//! spread checks over 1024 keys (tool names for us, integers for governor).
//! Limits are set high so every check admits; every check answers whether
//! it admitted, as governor's `is_ok()` does.

#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::{hint::black_box, num::NonZeroU32, sync::atomic::AtomicU64, time::Duration};

use common::{Call, work};
use criterion::{Criterion, criterion_group, criterion_main};
use futures::FutureExt;
use governor::{Quota, RateLimiter};
use mcp_limit::{ConcurrencyLimitLayer, Decision, Gcra, RateKey, RateLimitLayer};
use mcp_service::{Clock, jsonrpc::JsonRpcRequest};
use serde_json::json;
use tower::{Layer, Service, ServiceExt, service_fn};

fn limit(c: &mut Criterion) {
    let mut group = c.benchmark_group("limit");
    group
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .sample_size(30);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    let _entered = runtime.enter();
    let huge = NonZeroU32::new(1_000_000_000).unwrap();
    let mut bare = service_fn(work);
    group.bench_function("bare", |b| {
        b.iter(|| {
            bare.call(black_box(Call("search")))
                .now_or_never()
                .unwrap()
                .unwrap()
        })
    });

    let governor = RateLimiter::direct(Quota::per_second(huge));
    group.bench_function("governor_check", |b| b.iter(|| governor.check().is_ok()));

    let gcra = Gcra::new(1_000_000_000, Duration::from_secs(1), 1_000_000_000).unwrap();
    let bucket = AtomicU64::new(0);
    let clock = Clock::new();
    group.bench_function("gcra_check", |b| {
        b.iter(|| gcra.check(&bucket, clock.nanos(), 1, 0) == Decision::Admit)
    });

    let layer = RateLimitLayer::builder(1_000_000_000, Duration::from_secs(1))
        .build()
        .unwrap();
    let mut limited = layer.layer(service_fn(work));
    group.bench_function("rate_limit_layer", |b| {
        b.iter(|| {
            limited
                .call(black_box(Call("search")))
                .now_or_never()
                .unwrap()
                .unwrap()
        })
    });

    let governor_keyed = RateLimiter::dashmap(Quota::per_second(huge));
    let mut n = 0u32;
    group.bench_function("governor_keyed", |b| {
        b.iter(|| {
            n = n.wrapping_add(1);
            governor_keyed.check_key(&(n % 1024)).is_ok()
        })
    });

    let keyed = RateLimitLayer::builder(1_000_000_000, Duration::from_secs(1))
        .key(RateKey::Tool)
        .build()
        .unwrap();
    let requests: Vec<JsonRpcRequest> = (0..1024)
        .map(|i| {
            JsonRpcRequest::new(
                None,
                "tools/call",
                Some(&json!({"name": format!("tool-{i}")})),
            )
            .unwrap()
        })
        .collect();
    let mut i = 0usize;
    group.bench_function("keyed_check", |b| {
        b.iter(|| {
            i = i.wrapping_add(1);
            keyed.check(&requests[i % 1024]) == Decision::Admit
        })
    });
    // Both through `ready` then `call`: tower's limit takes its permit in
    // `poll_ready`, ours in `call`.
    let mut tower_limited = tower::limit::ConcurrencyLimitLayer::new(64).layer(service_fn(work));
    group.bench_function("tower_concurrency", |b| {
        b.iter(|| {
            let ready = tower_limited.ready().now_or_never().unwrap().unwrap();
            ready
                .call(black_box(Call("search")))
                .now_or_never()
                .unwrap()
                .unwrap()
        })
    });
    let bulkheads = ConcurrencyLimitLayer::builder()
        .default_pool(64)
        .build()
        .unwrap();
    let mut ours = bulkheads.layer(service_fn(work));
    group.bench_function("concurrency_layer", |b| {
        b.iter(|| {
            let ready = ours.ready().now_or_never().unwrap().unwrap();
            ready
                .call(black_box(Call("search")))
                .now_or_never()
                .unwrap()
                .unwrap()
        })
    });
    group.finish();
}

criterion_group!(benches, limit);
criterion_main!(benches);
