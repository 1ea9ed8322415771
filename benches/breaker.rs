//! The circuit breaker's cost per call, beside the bare service and
//! failsafe-rs, the breaker a Rust user would pick instead.
//!
//! Every id does the same work (answer a ready result); the difference is
//! what the breaker adds. `closed` goes through the tower layer and its
//! future; `failsafe_closed` calls failsafe's `CircuitBreaker::call`, which
//! has no future to poll, so it is the stricter comparison.

#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::{hint::black_box, time::Duration};

use common::{Call, Done, work};
use criterion::{Criterion, criterion_group, criterion_main};
use failsafe::CircuitBreaker as _;
use futures::FutureExt;
use mcp_breaker::{CircuitBreakerLayer, TimeoutLayer};
use mcp_service::McpError;
use tower::{Layer, Service, service_fn};

fn breaker(c: &mut Criterion) {
    let mut group = c.benchmark_group("breaker");
    group
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .sample_size(30);
    // The layer reads tokio's clock; a runtime must be entered.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    let _entered = runtime.enter();

    let mut bare = service_fn(work);
    group.bench_function("bare", |b| {
        b.iter(|| bare.call(Call("search")).now_or_never().unwrap().unwrap())
    });

    let layer = CircuitBreakerLayer::builder().build().unwrap();
    let mut closed = layer.layer(service_fn(work));
    group.bench_function("closed", |b| {
        b.iter(|| closed.call(Call("search")).now_or_never().unwrap().unwrap())
    });

    let open = CircuitBreakerLayer::builder().build().unwrap();
    open.handle().force_open();
    let mut rejecting = open.layer(service_fn(work));
    group.bench_function("open_reject", |b| {
        b.iter(|| {
            rejecting
                .call(Call("search"))
                .now_or_never()
                .unwrap()
                .unwrap_err()
        })
    });

    let mut timeout = TimeoutLayer::new(Duration::from_secs(30)).layer(service_fn(work));
    group.bench_function("timeout", |b| {
        b.iter(|| {
            timeout
                .call(Call("search"))
                .now_or_never()
                .unwrap()
                .unwrap()
        })
    });

    let failsafe = failsafe::Config::new().build();
    group.bench_function("failsafe_closed", |b| {
        b.iter(|| {
            failsafe
                .call(|| Ok::<_, McpError>(black_box(Done)))
                .unwrap()
        })
    });
    group.finish();
}

criterion_group!(benches, breaker);
criterion_main!(benches);
