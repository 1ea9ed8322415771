//! Stats fed by the layer: percentiles against an exact computation, rates,
//! the error rate, rejections, objectives, and what is watched.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests fail loudly"
)]

mod support;

use std::{
    future::Future,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering::SeqCst},
    },
    time::Duration,
};

use mcp_metrics::{CacheCounts, LatencyObjective, MetricsLayer, Stats};
use mcp_service::{
    McpError, McpRequest, RpcError,
    jsonrpc::{JsonRpcRequest, JsonRpcResponse},
};
use serde_json::json;
use support::{call, ok, request};
use tower::{Layer, Service, ServiceExt, service_fn};

/// A `tools/call` of `tool` that takes `ms` milliseconds.
fn timed(tool: &str, ms: u64) -> JsonRpcRequest {
    request(
        "tools/call",
        Some(json!({ "name": tool, "arguments": { "ms": ms } })),
    )
}

/// Sleeps the `ms` of the request, then answers by tool name.
async fn serve(request: JsonRpcRequest) -> Result<JsonRpcResponse, McpError> {
    let params: serde_json::Value = request.params_as().unwrap();
    let ms = params["arguments"]["ms"].as_u64().unwrap_or(0);
    tokio::time::sleep(Duration::from_millis(ms)).await;
    match request.tool_name() {
        Some("internal") => Err(RpcError::internal("boom").into()),
        Some("invalid") => Err(RpcError::invalid_params("bad").into()),
        Some("limited") => Err(McpError::RateLimited {
            retry_after: Duration::from_secs(1),
        }),
        Some("timeout") => Err(McpError::Timeout {
            after: Duration::from_millis(ms),
        }),
        _ => ok(),
    }
}

/// [`serve`] behind a layer that feeds `stats`.
fn served(
    stats: &Stats,
) -> impl Service<
    JsonRpcRequest,
    Response = JsonRpcResponse,
    Error = McpError,
    Future = impl Future<Output = Result<JsonRpcResponse, McpError>> + Send,
> + Clone
+ Send
+ 'static {
    let layer = MetricsLayer::builder()
        .stats(stats.clone())
        .build()
        .unwrap();
    layer.layer(service_fn(serve))
}

/// The nearest-rank quantile of sorted samples.
fn exact(sorted: &[u64], q: f64) -> f64 {
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1] as f64
}

#[tokio::test(start_paused = true)]
async fn percentiles_agree_with_an_exact_computation_within_half_a_bucket() {
    let stats = Stats::new();
    let service = served(&stats);
    // Log-uniform latencies from 1 ms to 5 s, from a fixed seed, all running
    // at once so they fit the window.
    let mut seed = 0x9e37_79b9_7f4a_7c15_u64;
    let latencies: Vec<u64> = (0..3_000)
        .map(|_| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let unit = (seed >> 11) as f64 / (1u64 << 53) as f64;
            5_000f64.powf(unit).round() as u64
        })
        .collect();
    let calls: Vec<_> = latencies
        .iter()
        .map(|ms| tokio::spawn(service.clone().oneshot(timed("work", *ms))))
        .collect();
    for call in calls {
        call.await.unwrap().unwrap();
    }
    let mut sorted = latencies.clone();
    sorted.sort_unstable();
    let snapshot = stats.snapshot();
    assert_eq!(snapshot.latency.samples, 3_000);
    for (q, got) in [
        (0.50, snapshot.latency.p50_ms),
        (0.95, snapshot.latency.p95_ms),
        (0.99, snapshot.latency.p99_ms),
    ] {
        let want = exact(&sorted, q);
        let got = got.unwrap();
        assert!(
            (got - want).abs() <= want / 32.0,
            "p{}: {got} ms against exactly {want} ms",
            q * 100.0
        );
    }
    assert_eq!(
        snapshot.latency.max_ms,
        Some(*sorted.last().unwrap() as f64)
    );
}

#[tokio::test(start_paused = true)]
async fn rates_count_server_errors_only_and_rejections_by_reason() {
    let stats = Stats::builder()
        .window(Duration::from_secs(10))
        .build()
        .unwrap();
    let mut service = served(&stats);
    let tools = [
        "ok", "ok", "ok", "ok", "ok", "internal", "timeout", "invalid", "limited", "limited",
    ];
    for tool in tools {
        let _ = service.ready().await.unwrap().call(timed(tool, 10)).await;
    }
    // Ten calls of 10 ms each, then up to 5 s since the stats were made.
    tokio::time::advance(Duration::from_secs(5) - Duration::from_millis(100)).await;

    let snapshot = stats.snapshot();
    assert_eq!(snapshot.requests, 10);
    assert_eq!(snapshot.requests_total, 10);
    assert!(
        (snapshot.window_seconds - 5.0).abs() < 1e-6,
        "{}",
        snapshot.window_seconds
    );
    assert!((snapshot.requests_per_second - 2.0).abs() < 1e-6);
    // -32603 and the timeout are the server's; -32602 is the client's; the
    // rate limit's rejections are neither errors nor latencies.
    assert_eq!(snapshot.server_errors, 2);
    assert!((snapshot.error_rate - 0.2).abs() < 1e-9);
    assert_eq!(snapshot.latency.samples, 8);
    assert_eq!(snapshot.rejections.get("rate_limited"), Some(&2));
    assert_eq!(snapshot.rejections.get("timeout"), Some(&1));
    assert_eq!(snapshot.rejections.len(), 2);
    assert_eq!(snapshot.in_flight, 0);

    // Ten seconds on, the window has let them all go; the totals stay.
    tokio::time::advance(Duration::from_secs(11)).await;
    let snapshot = stats.snapshot();
    assert_eq!((snapshot.requests, snapshot.requests_total), (0, 10));
    assert_eq!(snapshot.latency.p99_ms, None);
    assert_eq!(snapshot.rejections.get("rate_limited"), Some(&2));
}

#[tokio::test(start_paused = true)]
async fn in_flight_and_cancelled_requests_are_counted() {
    let stats = Stats::new();
    let service = served(&stats);
    let running = tokio::spawn(service.clone().oneshot(timed("ok", 1_000)));
    let cancelled = tokio::spawn(service.clone().oneshot(timed("ok", 1_000)));
    tokio::task::yield_now().await;
    assert_eq!(stats.snapshot().in_flight, 2);
    cancelled.abort();
    let _ = cancelled.await;
    running.await.unwrap().unwrap();
    let snapshot = stats.snapshot();
    assert_eq!(snapshot.in_flight, 0);
    assert_eq!((snapshot.requests, snapshot.cancelled), (2, 1));
    assert_eq!(
        snapshot.latency.samples, 1,
        "a cancelled request has no latency"
    );
}

#[tokio::test(start_paused = true)]
async fn objectives_report_met_missed_and_requests_over_the_threshold() {
    let stats = Stats::builder()
        .objective(LatencyObjective::tool("search").p95(Duration::from_millis(100)))
        .objective(LatencyObjective::method("tools/list").p99(Duration::from_millis(10)))
        .objective(LatencyObjective::tool("idle").p99(Duration::from_millis(10)))
        .build()
        .unwrap();
    let layer = MetricsLayer::builder()
        .stats(stats.clone())
        .build()
        .unwrap();
    let mut service = layer.layer(service_fn(|request: JsonRpcRequest| async move {
        let slow = if request.method() == "tools/list" {
            20
        } else {
            0
        };
        tokio::time::sleep(Duration::from_millis(slow)).await;
        serve(request).await
    }));
    // 19 fast searches and one slow: p95 is the 19th of 20, still fast.
    for ms in [50; 19].into_iter().chain([500]) {
        service
            .ready()
            .await
            .unwrap()
            .call(timed("search", ms))
            .await
            .unwrap();
    }
    // Other tools do not count for the search objective.
    service
        .ready()
        .await
        .unwrap()
        .call(timed("other", 900))
        .await
        .unwrap();
    for _ in 0..3 {
        service
            .ready()
            .await
            .unwrap()
            .call(request("tools/list", None))
            .await
            .unwrap();
    }
    let snapshot = stats.snapshot();
    let search = &snapshot.objectives[0];
    assert_eq!(search.tool.as_deref(), Some("search"));
    assert_eq!((search.samples, search.met), (20, Some(true)));
    assert!((search.observed_ms.unwrap() - 50.0).abs() <= 50.0 / 32.0);
    assert_eq!(search.over_threshold_total, 1);
    let list = &snapshot.objectives[1];
    assert_eq!(list.method.as_deref(), Some("tools/list"));
    assert_eq!((list.samples, list.met), (3, Some(false)));
    assert!((list.observed_ms.unwrap() - 20.0).abs() <= 20.0 / 32.0);
    assert_eq!(list.over_threshold_total, 3);
    assert!((list.threshold_ms - 10.0).abs() < 1e-9);
    let idle = &snapshot.objectives[2];
    assert_eq!((idle.samples, idle.met, idle.observed_ms), (0, None, None));
}

#[tokio::test(start_paused = true)]
async fn the_watched_cache_and_breakers_are_read_at_each_snapshot() {
    let stats = Stats::new();
    let hits = Arc::new(AtomicU64::new(3));
    let watched = hits.clone();
    stats.watch_cache(move || CacheCounts {
        hits: watched.load(SeqCst),
        stale_hits: 1,
        misses: 4,
        bypasses: 100,
    });
    stats.watch_breaker("upstream", || "closed");
    stats.watch_breaker("search", || String::from("open"));
    let cache = stats.snapshot().cache.unwrap();
    assert_eq!(
        cache.hit_rate,
        Some(0.5),
        "(3 + 1) / (3 + 1 + 4), bypasses aside"
    );
    hits.store(11, SeqCst);
    let snapshot = stats.snapshot();
    assert_eq!(snapshot.cache.unwrap().hit_rate, Some(0.75));
    assert_eq!(
        snapshot.breakers.get("upstream").map(String::as_str),
        Some("closed")
    );
    assert_eq!(
        snapshot.breakers.get("search").map(String::as_str),
        Some("open")
    );
    stats.watch_breaker("search", || "half_open");
    assert_eq!(
        stats.snapshot().breakers.get("search").map(String::as_str),
        Some("half_open")
    );
    stats.watch_cache(CacheCounts::default);
    assert_eq!(
        stats.snapshot().cache.unwrap().hit_rate,
        None,
        "no lookups yet"
    );
    assert!(Stats::new().snapshot().cache.is_none());
}

#[tokio::test(start_paused = true)]
async fn the_snapshot_is_json_with_every_figure() {
    let stats = Stats::new();
    let mut service = served(&stats);
    service
        .ready()
        .await
        .unwrap()
        .call(call("ok"))
        .await
        .unwrap();
    let json = serde_json::to_value(stats.snapshot()).unwrap();
    for key in [
        "uptime_seconds",
        "window_seconds",
        "requests_total",
        "requests",
        "requests_per_second",
        "server_errors",
        "error_rate",
        "cancelled",
        "latency",
        "in_flight",
        "rejections",
        "cache",
        "breakers",
        "process",
        "objectives",
    ] {
        assert!(json.get(key).is_some(), "no {key} in {json}");
    }
    assert_eq!(json["requests"], 1);
    assert!(json["latency"]["p99_ms"].is_number());
    if cfg!(target_os = "linux") {
        assert!(json["process"]["resident_bytes"].as_u64().unwrap() > 0);
        assert!(json["process"]["cpu_seconds"].is_number());
    }
}

#[test]
fn settings_out_of_range_are_refused_by_name() {
    let window = |window| Stats::builder().window(window).build().unwrap_err().setting;
    assert_eq!(window(Duration::ZERO), "window");
    assert_eq!(window(Duration::from_millis(1_500)), "window");
    assert_eq!(window(Duration::from_secs(7_200)), "window");
    let objective = |objective| {
        Stats::builder()
            .objective(objective)
            .build()
            .unwrap_err()
            .setting
    };
    assert_eq!(
        objective(LatencyObjective::tool("x").quantile(0.0, Duration::from_millis(5))),
        "objective"
    );
    assert_eq!(
        objective(LatencyObjective::tool("x").quantile(1.5, Duration::from_millis(5))),
        "objective"
    );
    assert_eq!(
        objective(LatencyObjective::method("x").p95(Duration::ZERO)),
        "objective"
    );
    let error = MetricsLayer::builder()
        .handle_refresh(Duration::from_millis(10))
        .build()
        .unwrap_err();
    assert_eq!(error.setting, "handle_refresh");
    assert_eq!(
        MetricsLayer::builder()
            .tools([""])
            .build()
            .unwrap_err()
            .setting,
        "tools"
    );
}
