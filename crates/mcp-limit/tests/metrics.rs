//! What the limit layers report: admissions, rejections by reason, limits
//! and calls in flight, under the names in mcp-metrics.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests fail loudly"
)]

use std::{sync::Arc, time::Duration};

use mcp_limit::{AdaptiveLimitLayer, ConcurrencyLimitLayer, PoolMatch, RateLimitLayer};
use mcp_metrics::names;
use mcp_service::jsonrpc::{JsonRpcRequest, JsonRpcResponse};
use metrics_util::debugging::{DebugValue, DebuggingRecorder, Snapshotter};
use serde_json::json;
use tokio::sync::Notify;
use tower::{Layer, Service, ServiceExt, service_fn};

fn call(tool: &str) -> JsonRpcRequest {
    JsonRpcRequest::new(None, "tools/call", Some(&json!({"name": tool}))).unwrap()
}

type Metrics = Vec<(
    metrics_util::CompositeKey,
    Option<metrics::Unit>,
    Option<metrics::SharedString>,
    DebugValue,
)>;

/// Everything recorded so far (counters count from the last snapshot).
fn snapshot(snapshotter: &Snapshotter) -> Metrics {
    snapshotter.snapshot().into_vec()
}

/// The value of the metric `name` whose labels include all of `labels`.
fn value(metrics: &Metrics, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    metrics
        .iter()
        .find(|(key, ..)| {
            key.key().name() == name
                && labels.iter().all(|(k, v)| {
                    key.key()
                        .labels()
                        .any(|label| label.key() == *k && label.value() == *v)
                })
        })
        .map(|(.., value)| match value {
            DebugValue::Counter(count) => *count as f64,
            DebugValue::Gauge(gauge) => gauge.into_inner(),
            DebugValue::Histogram(_) => panic!("{name} is a histogram"),
        })
}

#[tokio::test(start_paused = true)]
async fn rate_limits_count_admissions_and_rejections() {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let layer = metrics::with_local_recorder(&recorder, || {
        RateLimitLayer::builder(2, Duration::from_secs(1))
            .name("api")
            .build()
            .unwrap()
    });
    let mut service = layer.layer(service_fn(|_request: JsonRpcRequest| async {
        JsonRpcResponse::from_value(&json!({}))
    }));
    for _ in 0..5 {
        let _ = service.ready().await.unwrap().call(call("search")).await;
    }
    let limiter = (names::LIMITER, "api");
    let metrics = snapshot(&snapshotter);
    assert_eq!(
        value(&metrics, names::LIMIT_ADMISSIONS, &[limiter]),
        Some(2.0)
    );
    assert_eq!(
        value(
            &metrics,
            names::LIMIT_REJECTIONS,
            &[limiter, (names::REASON, names::REASON_RATE_LIMITED)]
        ),
        Some(3.0)
    );
}

#[tokio::test(start_paused = true)]
async fn bulkheads_report_slots_in_flight_and_why_they_shed() {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let layer = metrics::with_local_recorder(&recorder, || {
        ConcurrencyLimitLayer::builder()
            .pool("expensive", 1, PoolMatch::Tools(vec!["render".into()]))
            .queue(1, Duration::from_millis(50))
            .build()
            .unwrap()
    });
    let release = Arc::new(Notify::new());
    let held = release.clone();
    let service = layer.layer(service_fn(move |_request: JsonRpcRequest| {
        let held = held.clone();
        async move {
            held.notified().await;
            JsonRpcResponse::from_value(&json!({}))
        }
    }));
    let running = tokio::spawn(service.clone().oneshot(call("render")));
    tokio::task::yield_now().await;
    let pool = [(names::LIMITER, "bulkheads"), (names::POOL, "expensive")];
    let metrics = snapshot(&snapshotter);
    assert_eq!(value(&metrics, names::LIMIT_IN_FLIGHT, &pool), Some(1.0));
    assert_eq!(value(&metrics, names::LIMIT_LIMIT, &pool), Some(1.0));
    assert_eq!(value(&metrics, names::LIMIT_ADMISSIONS, &pool), Some(1.0));
    let queued = tokio::spawn(service.clone().oneshot(call("render")));
    tokio::task::yield_now().await;
    assert!(service.clone().oneshot(call("render")).await.is_err());
    assert!(queued.await.unwrap().is_err(), "timed out in the queue");
    release.notify_one();
    running.await.unwrap().unwrap();
    let reason = |reason| [pool[0], pool[1], (names::REASON, reason)];
    let metrics = snapshot(&snapshotter);
    assert_eq!(
        value(
            &metrics,
            names::LIMIT_REJECTIONS,
            &reason(names::REASON_OVERLOADED)
        ),
        Some(1.0)
    );
    assert_eq!(
        value(
            &metrics,
            names::LIMIT_REJECTIONS,
            &reason(names::REASON_QUEUE_TIMEOUT)
        ),
        Some(1.0)
    );
    assert_eq!(value(&metrics, names::LIMIT_IN_FLIGHT, &pool), Some(0.0));
}

#[tokio::test(start_paused = true)]
async fn the_adaptive_limit_reports_its_limit() {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let layer = metrics::with_local_recorder(&recorder, || {
        AdaptiveLimitLayer::builder()
            .initial_limit(6)
            .build()
            .unwrap()
    });
    let limiter = [(names::LIMITER, "adaptive")];
    assert_eq!(
        value(&snapshot(&snapshotter), names::LIMIT_LIMIT, &limiter),
        Some(6.0)
    );
    let mut service = layer.layer(service_fn(|_request: JsonRpcRequest| async {
        JsonRpcResponse::from_value(&json!({}))
    }));
    service
        .ready()
        .await
        .unwrap()
        .call(call("x"))
        .await
        .unwrap();
    let metrics = snapshot(&snapshotter);
    assert_eq!(
        value(&metrics, names::LIMIT_ADMISSIONS, &limiter),
        Some(1.0)
    );
    assert_eq!(value(&metrics, names::LIMIT_IN_FLIGHT, &limiter), Some(0.0));
}
