//! The in-memory tier stays within its byte bound under a flood of
//! distinct entries, and reports what it evicts; `get_or_load` shares the
//! tiers, single-flight and stale rules.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests fail loudly"
)]

mod common;

use std::{
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering::SeqCst},
    },
    time::Duration,
};

use common::{Answer, Backend, call, read};
use mcp_cache::CacheLayer;
use mcp_service::{McpResponse, jsonrpc::JsonRpcResponse};
use metrics_util::debugging::{DebugValue, DebuggingRecorder};
use serde_json::json;
use tower::Layer;

#[tokio::test]
async fn two_hundred_thousand_entries_of_a_kilobyte_stay_within_sixteen_mebibytes() {
    let bound = 16 << 20;
    let kilobyte = json!({
        "contents": [{"uri": "demo://x", "text": "x".repeat(960)}],
        "ttlMs": 600_000,
        "cacheScope": "public",
    });
    let kilobyte = JsonRpcResponse::from_value(&kilobyte).unwrap();
    assert!((1000..=1100).contains(&kilobyte.weight()));
    let backend = Backend::new(Duration::ZERO, Answer::Prepared(kilobyte));
    let cache = CacheLayer::builder().max_bytes(bound).build().unwrap();
    let service = cache.layer(backend.service());
    let mut peak = 0;
    for n in 0..200_000 {
        call(&service, read(&format!("demo://{n}"))).await.unwrap();
        if n % 20_000 == 0 {
            cache.sync();
            peak = peak.max(cache.weighted_size());
        }
    }
    cache.sync();
    peak = peak.max(cache.weighted_size());
    assert!(peak <= bound, "weighted size {peak} over the bound {bound}");
    let entries = cache.entry_count();
    assert!(
        (10_000..=16_384).contains(&entries),
        "about 16 MiB of 1 KiB entries stay: {entries}"
    );
    assert_eq!(backend.calls(), 200_000);
}

#[tokio::test]
async fn evictions_and_bytes_are_reported() {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let (cache, backend) = metrics::with_local_recorder(&recorder, || {
        let backend = Backend::new(
            Duration::ZERO,
            Answer::Read {
                ttl_ms: Some(600_000),
                scope: Some("public"),
            },
        );
        let cache = CacheLayer::builder()
            .name("demo")
            .max_bytes(64 << 10)
            .max_entry_bytes(8 << 10)
            .build()
            .unwrap();
        (cache, backend)
    });
    let service = cache.layer(backend.service());
    let padding = "y".repeat(1000);
    for n in 0..200 {
        call(&service, read(&format!("demo://{n}/{padding}")))
            .await
            .unwrap();
    }
    call(&service, read(&format!("demo://199/{padding}")))
        .await
        .unwrap();
    cache.sync();
    let mut evicted = 0;
    let mut hits = 0;
    let mut misses = 0;
    let mut bytes = None;
    for (key, _, _, value) in snapshotter.snapshot().into_vec() {
        let labels: Vec<_> = key
            .key()
            .labels()
            .map(|label| (label.key().to_owned(), label.value().to_owned()))
            .collect();
        assert!(labels.contains(&("cache".into(), "demo".into())), "{key:?}");
        let has = |name: &str, value: &str| labels.contains(&(name.into(), value.into()));
        match (key.key().name(), value) {
            ("mcp.cache.evictions", DebugValue::Counter(n)) if has("cause", "size") => evicted += n,
            ("mcp.cache.requests", DebugValue::Counter(n))
                if has("result", "hit") && has("tier", "l1") =>
            {
                hits += n;
            }
            ("mcp.cache.requests", DebugValue::Counter(n)) if has("result", "miss") => misses += n,
            ("mcp.cache.bytes", DebugValue::Gauge(value)) => bytes = Some(value.into_inner()),
            _ => {}
        }
    }
    assert!(
        evicted > 100,
        "64 KiB holds few 1 KiB entries: {evicted} evicted"
    );
    assert_eq!((hits, misses), (1, 200));
    let bytes = bytes.expect("the bytes gauge");
    assert!(bytes > 0.0 && bytes <= (64 << 10) as f64, "{bytes}");
}

#[tokio::test(start_paused = true)]
async fn get_or_load_runs_one_load_shares_errors_and_serves_stale_on_failure() {
    let cache = CacheLayer::builder()
        .stale_if_error(Some(Duration::from_secs(60)))
        .build()
        .unwrap();
    let loads = Arc::new(AtomicU64::new(0));
    let load = |fail: bool| {
        let loads = loads.clone();
        move || async move {
            let n = loads.fetch_add(1, SeqCst) + 1;
            tokio::time::sleep(Duration::from_millis(50)).await;
            if fail {
                Err(format!("upstream down on load {n}"))
            } else {
                Ok(vec![n, n * 10])
            }
        }
    };
    let ttl = Duration::from_secs(1);
    let waiters: Vec<_> = (0..100)
        .map(|_| {
            let (cache, load) = (cache.clone(), load(false));
            tokio::spawn(async move { cache.get_or_load("rates", ttl, load).await })
        })
        .collect();
    for waiter in waiters {
        assert_eq!(waiter.await.unwrap().unwrap(), vec![1, 10]);
    }
    assert_eq!(loads.load(SeqCst), 1, "one load for a hundred callers");
    assert_eq!(
        cache.get_or_load("rates", ttl, load(false)).await.unwrap(),
        vec![1, 10]
    );
    assert_eq!(loads.load(SeqCst), 1, "then kept");

    tokio::time::advance(Duration::from_secs(2)).await;
    let stale = cache.get_or_load("rates", ttl, load(true)).await.unwrap();
    assert_eq!(
        stale,
        vec![1, 10],
        "a failing load is answered with the stale value"
    );

    let failing: Vec<_> = (0..5)
        .map(|_| {
            let (cache, load) = (cache.clone(), load(true));
            tokio::spawn(async move {
                cache
                    .get_or_load::<Vec<u64>, _, _, _>("other", ttl, load)
                    .await
            })
        })
        .collect();
    for waiter in failing {
        let error = waiter.await.unwrap().unwrap_err();
        assert!(error.starts_with("upstream down on load"), "{error}");
    }
    assert_eq!(loads.load(SeqCst), 3, "one failing load for five callers");
    cache.invalidator().key("rates").await;
    assert_eq!(
        cache.get_or_load("rates", ttl, load(false)).await.unwrap(),
        vec![4, 40]
    );
}
