//! The whole stack around a trivial service, beside the service alone.
//!
//! `bare` is a service answering a `resources/read` with a prepared result.
//! `full_miss` puts the default stack (`McpStack::new()`: metrics with the
//! Prometheus recorder installed, chunking and size guard, pagination,
//! cache, bulkheads, breaker, timeout, retry) around it, with a result the
//! cache may not keep (`ttlMs: 0`), so every call is a real miss: a lookup,
//! a single-flight lead, the call, the store decision. `full_hit` reads a
//! result the cache keeps. Requests are cloned outside the timed part.
//!
//! Group `layers` splits `full_miss` into its parts: `off` is the stack with
//! every layer off (each a pass-through), and each other id turns one layer
//! on, with its defaults, over the same miss. The difference from `off` is
//! what that layer costs; metrics are measured without a recorder here, as
//! `full_miss` installs Prometheus for the whole process.

#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::{sync::Arc, time::Duration};

use criterion::{BatchSize, Criterion, criterion_group};
use futures::FutureExt;
use mcp_breaker::TimeoutLayer;
use mcp_service::{
    McpError,
    jsonrpc::{JsonRpcRequest, JsonRpcResponse, RequestId},
};
use mcp_stack::McpStack;
use serde_json::json;
use tower::{Layer, Service, service_fn};

fn read(uri: &str) -> JsonRpcRequest {
    JsonRpcRequest::new(
        Some(RequestId::Number(1)),
        "resources/read",
        Some(&json!({ "uri": uri })),
    )
    .unwrap()
}

/// The timers the layers arm need a runtime to be entered.
fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap()
}

/// A trivial service: `demo://kept` answers with a result the cache keeps,
/// any other URI with one it may not (`ttlMs: 0`).
fn service() -> impl Service<
    JsonRpcRequest,
    Response = JsonRpcResponse,
    Error = McpError,
    Future = std::future::Ready<Result<JsonRpcResponse, McpError>>,
> + Clone
+ Send
+ 'static {
    let result = |ttl_ms: u64| {
        JsonRpcResponse::from_value(&json!({
            "contents": [{ "uri": "demo://x", "text": "hello from the demo" }],
            "ttlMs": ttl_ms,
            "cacheScope": "public",
        }))
        .unwrap()
    };
    // Shared, as a real server's state is: the retry layer clones the service.
    let (fresh, kept) = (Arc::new(result(0)), Arc::new(result(3_600_000)));
    service_fn(move |request: JsonRpcRequest| {
        let answer = if mcp_service::McpRequest::resource_uri(&request) == Some("demo://kept") {
            (*kept).clone()
        } else {
            (*fresh).clone()
        };
        std::future::ready(Ok::<_, McpError>(answer))
    })
}

fn stack(c: &mut Criterion) {
    let mut group = c.benchmark_group("stack");
    group
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .sample_size(30);
    let runtime = runtime();
    let _entered = runtime.enter();
    let service = service();

    let mut bare = service.clone();
    let miss = read("demo://miss");
    group.bench_function("bare", |b| {
        b.iter_batched(
            || miss.clone(),
            |request| bare.call(request).now_or_never().unwrap().unwrap(),
            BatchSize::SmallInput,
        )
    });

    let layer = McpStack::new().build().unwrap();
    let mut stacked = layer.layer(service);
    for _ in 0..2 {
        stacked.call(miss.clone()).now_or_never().unwrap().unwrap();
    }
    let counts = layer.cache().unwrap().counts();
    assert_eq!(
        (counts.misses, counts.l1_hits),
        (2, 0),
        "full_miss measures misses"
    );
    group.bench_function("full_miss", |b| {
        b.iter_batched(
            || miss.clone(),
            |request| stacked.call(request).now_or_never().unwrap().unwrap(),
            BatchSize::SmallInput,
        )
    });

    let hit = read("demo://kept");
    let before = layer.cache().unwrap().counts().l1_hits;
    for _ in 0..2 {
        stacked.call(hit.clone()).now_or_never().unwrap().unwrap();
    }
    assert_eq!(
        layer.cache().unwrap().counts().l1_hits,
        before + 1,
        "full_hit measures hits"
    );
    group.bench_function("full_hit", |b| {
        b.iter_batched(
            || hit.clone(),
            |request| stacked.call(request).now_or_never().unwrap().unwrap(),
            BatchSize::SmallInput,
        )
    });
    group.finish();
}

/// The stacks of the `layers` group: every layer off, then each on alone.
fn layer_stacks() -> Vec<(&'static str, McpStack)> {
    vec![
        ("off", McpStack::bare()),
        ("retry", McpStack::bare().retry(|retry| retry)),
        (
            "timeout",
            McpStack::bare().timeout(TimeoutLayer::new(mcp_stack::DEFAULT_TIMEOUT)),
        ),
        ("breaker", McpStack::bare().breaker(|breaker| breaker)),
        (
            "concurrency",
            McpStack::bare()
                .concurrency(|pool| pool.default_pool(mcp_stack::DEFAULT_MAX_IN_FLIGHT)),
        ),
        ("cache", McpStack::bare().cache(|cache| cache)),
        ("pagination", McpStack::bare().pagination(|pages| pages)),
        ("chunking", McpStack::bare().chunking(|chunks| chunks)),
        (
            "metrics_stats",
            McpStack::bare()
                .metrics(|metrics| metrics)
                .stats(|stats| stats)
                .prometheus(false),
        ),
    ]
}

fn layers(c: &mut Criterion) {
    let mut group = c.benchmark_group("layers");
    group
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(1))
        .sample_size(20);
    let runtime = runtime();
    let _entered = runtime.enter();
    let service = service();
    let miss = read("demo://miss");
    for (id, stack) in layer_stacks() {
        let mut stacked = stack.build().unwrap().layer(service.clone());
        group.bench_function(id, |b| {
            b.iter_batched(
                || miss.clone(),
                |request| stacked.call(request).now_or_never().unwrap().unwrap(),
                BatchSize::SmallInput,
            )
        });
    }
    group.finish();
}

/// Makes `calls` calls of one case, untimed, for counting instructions:
/// where this VM's timings vary by a quarter from run to run, callgrind's
/// counts vary by about 2 %. Run the binary twice, with 20000 and with
/// 60000 calls, and divide the difference of the two totals by 40000 (a
/// 0-call run is no baseline: the clock's calibration at start-up takes a
/// varying number of instructions under valgrind):
///
/// ```text
/// STACK_CASE=full_miss STACK_CALLS=20000 valgrind --tool=callgrind \
///     --callgrind-out-file=/dev/null target/release/deps/stack-<hash>
/// ```
///
/// Cases: `bare`, `full_miss`, `full_hit`, and the ids of `layers`.
fn counted(case: &str, calls: u32) {
    let runtime = runtime();
    let _entered = runtime.enter();
    let (layer, uri) = match case {
        "bare" => {
            let (mut bare, request) = (service(), read("demo://miss"));
            for _ in 0..calls {
                std::hint::black_box(bare.call(request.clone()).now_or_never());
            }
            return;
        }
        "full_miss" => (McpStack::new().build().unwrap(), "demo://miss"),
        "full_hit" => (McpStack::new().build().unwrap(), "demo://kept"),
        layer => {
            let Some((_, stack)) = layer_stacks().into_iter().find(|(id, _)| *id == layer) else {
                panic!("no case {layer}: bare, full_miss, full_hit or a layers id");
            };
            (stack.build().unwrap(), "demo://miss")
        }
    };
    let (mut stacked, request) = (layer.layer(service()), read(uri));
    // Past the first calls' one-time work (the kept entry's fill among it).
    for _ in 0..3 {
        stacked
            .call(request.clone())
            .now_or_never()
            .unwrap()
            .unwrap();
    }
    if let Some(cache) = layer.cache() {
        let counts = cache.counts();
        let expected = if uri == "demo://kept" { (1, 2) } else { (3, 0) };
        assert_eq!(
            (counts.misses, counts.l1_hits),
            expected,
            "{case} measures what it is named for"
        );
    }
    for _ in 0..calls {
        std::hint::black_box(stacked.call(request.clone()).now_or_never());
    }
}

criterion_group!(benches, layers, stack);

fn main() {
    if let Ok(case) = std::env::var("STACK_CASE") {
        let calls = std::env::var("STACK_CALLS").map_or(0, |calls| calls.parse().unwrap());
        counted(&case, calls);
        return;
    }
    benches();
    Criterion::default().configure_from_args().final_summary();
}
