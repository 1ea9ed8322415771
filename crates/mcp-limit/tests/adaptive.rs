//! The adaptive limit under overload, on tokio's paused clock: a backend
//! whose latency grows with concurrency, driven by 200 callers.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests fail loudly"
)]

use std::{
    sync::{
        Arc, Mutex,
        atomic::{AtomicUsize, Ordering::SeqCst},
    },
    time::Duration,
};

use mcp_limit::AdaptiveLimitLayer;
use mcp_service::{
    McpError,
    jsonrpc::{JsonRpcRequest, JsonRpcResponse},
};
use serde_json::json;
use tokio::time::{Instant, sleep};
use tower::{Layer, Service, ServiceExt, service_fn, util::BoxCloneService};

type Boxed = BoxCloneService<JsonRpcRequest, JsonRpcResponse, McpError>;

/// 2 ms, plus 1 ms for each call in flight above 8.
fn backend() -> Boxed {
    let in_flight = Arc::new(AtomicUsize::new(0));
    BoxCloneService::new(service_fn(move |_request: JsonRpcRequest| {
        let in_flight = in_flight.clone();
        async move {
            let now = in_flight.fetch_add(1, SeqCst) + 1;
            sleep(Duration::from_millis(2 + now.saturating_sub(8) as u64)).await;
            in_flight.fetch_sub(1, SeqCst);
            JsonRpcResponse::from_value(&json!({}))
        }
    }))
}

fn call() -> JsonRpcRequest {
    JsonRpcRequest::new(None, "tools/call", Some(&json!({"name": "search"}))).unwrap()
}

/// Latencies of admitted calls finishing after `settle`, from `callers`
/// callers running for `run`; shed callers try again 5 ms later.
async fn drive(service: Boxed, callers: usize, settle: Duration, run: Duration) -> Vec<Duration> {
    let start = Instant::now();
    let latencies = Arc::new(Mutex::new(Vec::new()));
    let tasks: Vec<_> = (0..callers)
        .map(|_| {
            let (mut service, latencies) = (service.clone(), latencies.clone());
            tokio::spawn(async move {
                while start.elapsed() < run {
                    let began = Instant::now();
                    match service.ready().await.unwrap().call(call()).await {
                        Ok(_) if start.elapsed() >= settle => {
                            latencies.lock().unwrap().push(began.elapsed());
                        }
                        Ok(_) => {}
                        Err(McpError::Overloaded) => sleep(Duration::from_millis(5)).await,
                        Err(error) => panic!("{error}"),
                    }
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    let mut latencies = Arc::try_unwrap(latencies).unwrap().into_inner().unwrap();
    latencies.sort();
    latencies
}

fn p99(latencies: &[Duration]) -> Duration {
    latencies[(latencies.len() * 99).div_ceil(100) - 1]
}

#[tokio::test(start_paused = true)]
async fn keeps_latency_near_the_unloaded_level_under_200_callers() {
    let (settle, run) = (Duration::from_secs(1), Duration::from_secs(4));
    let unloaded = p99(&drive(backend(), 1, Duration::ZERO, run).await);
    let bare = p99(&drive(backend(), 200, settle, run).await);

    let layer = AdaptiveLimitLayer::builder().build().unwrap();
    let limited = BoxCloneService::new(layer.layer(backend()));
    let watched = layer.clone();
    let limits = tokio::spawn(async move {
        sleep(settle).await;
        let mut seen = Vec::new();
        while seen.len() < 30 {
            seen.push(watched.limit());
            sleep(Duration::from_millis(100)).await;
        }
        seen
    });
    let adaptive = drive(limited, 200, settle, run).await;
    let limits = limits.await.unwrap();
    let adaptive_p99 = p99(&adaptive);
    println!(
        "p99 unloaded {unloaded:?}, 200 callers bare {bare:?}, with AdaptiveLimitLayer \
         {adaptive_p99:?} over {} calls; limits after settling {limits:?}",
        adaptive.len()
    );
    assert_eq!(unloaded, Duration::from_millis(2));
    assert!(bare > unloaded * 10, "bare p99 {bare:?}");
    assert!(
        adaptive_p99 <= unloaded * 3,
        "adaptive p99 {adaptive_p99:?}"
    );
    assert!(
        limits.iter().all(|limit| (4..=32).contains(limit)),
        "{limits:?}"
    );
    assert!(
        adaptive.len() > 5_000,
        "it still serves: {}",
        adaptive.len()
    );
    assert_eq!(layer.in_flight(), 0, "every slot came back");
}

#[tokio::test(start_paused = true)]
async fn dropped_calls_give_their_slots_back_and_clones_share_the_limit() {
    let layer = AdaptiveLimitLayer::builder()
        .min_limit(2)
        .initial_limit(2)
        .build()
        .unwrap();
    let service = layer.layer(backend());
    let mut first = service.clone();
    let mut second = service.clone();
    let a = first.ready().await.unwrap().call(call());
    let b = second.ready().await.unwrap().call(call());
    assert_eq!(layer.in_flight(), 2);
    let shed = service.clone().oneshot(call()).await;
    assert_eq!(
        shed.err(),
        Some(McpError::Overloaded),
        "clones share two slots"
    );
    drop(a);
    drop(b);
    assert_eq!(layer.in_flight(), 0);
    assert!(service.oneshot(call()).await.is_ok());
}

#[tokio::test(start_paused = true)]
async fn timeouts_cut_the_limit() {
    let layer = AdaptiveLimitLayer::builder()
        .initial_limit(40)
        .window(Duration::from_millis(10), 1)
        .build()
        .unwrap();
    let timing_out = service_fn(|_request: JsonRpcRequest| async {
        sleep(Duration::from_millis(1)).await;
        Err::<JsonRpcResponse, _>(McpError::Timeout {
            after: Duration::from_secs(1),
        })
    });
    let mut service = layer.layer(timing_out);
    for _ in 0..30 {
        let _ = service.ready().await.unwrap().call(call()).await;
        sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(layer.limit(), 4, "cut by 0.9 a window down to the floor");
}

#[test]
fn bad_settings_are_named() {
    let error = AdaptiveLimitLayer::builder()
        .min_limit(0)
        .build()
        .unwrap_err();
    assert_eq!(error.setting, "min_limit");
    let error = AdaptiveLimitLayer::builder()
        .tolerance(0.5)
        .build()
        .unwrap_err();
    assert_eq!(error.setting, "tolerance");
    let error = AdaptiveLimitLayer::builder()
        .backoff(1.5)
        .build()
        .unwrap_err();
    assert_eq!(error.setting, "backoff");
}
