//! Two demo nodes sharing one Redis: what one fills the other reads from
//! Redis, what one invalidates the other drops within 100 ms, and a global
//! rate limit holds across both.
//!
//! ```text
//! cargo test --test multi_node -- --nocapture
//! ```

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests fail loudly"
)]

mod harness;

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use harness::{
    Load, Node, NodeOptions, Request, Summary, percentile, redis_connection, report, round, serial,
    until,
};
use mcp_testkit::RedisServer;
use serde_json::json;

async fn two_nodes(redis: &RedisServer, options: NodeOptions) -> (Node, Node) {
    let options = options.redis(&redis.url()).admin();
    (
        Node::start(options.clone()).await,
        Node::start(options).await,
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_entry_filled_on_one_node_is_an_l2_hit_on_the_other() {
    let _serial = serial().await;
    let Some(redis) = RedisServer::start().unwrap() else {
        return;
    };
    let (a, b) = two_nodes(&redis, NodeOptions::new()).await;
    let (on_a, on_b) = (a.client(Some("alice")).await, b.client(Some("alice")).await);

    let mut redis_view = redis_connection(&redis.url()).await;
    let mut hits = Vec::new();
    for n in 0..10 {
        let uri = format!("demo://slow/{}", 200 + n);
        let expected = format!("took {} ms", 200 + n);
        let keys: u64 = redis::cmd("DBSIZE")
            .query_async(&mut redis_view)
            .await
            .unwrap();
        assert_eq!(on_a.read(&uri).await.unwrap(), expected);
        // The fill reaches Redis through A's write queue.
        let written = until(Duration::from_secs(2), || {
            let mut redis_view = redis_view.clone();
            async move {
                redis::cmd("DBSIZE")
                    .query_async::<u64>(&mut redis_view)
                    .await
                    .unwrap()
                    > keys
            }
        })
        .await;
        assert!(written.is_some(), "A wrote {uri} to Redis");
        let before = b.metrics().await.cache("l2", "hit");
        let started = Instant::now();
        assert_eq!(on_b.read(&uri).await.unwrap(), expected);
        let took = started.elapsed();
        assert_eq!(
            b.metrics().await.cache("l2", "hit"),
            before + 1.0,
            "{uri} filled on A is an L2 hit on B"
        );
        hits.push(took.as_secs_f64() * 1000.0);
    }
    hits.sort_by(f64::total_cmp);
    report(
        "multi-node: L2 hit on the other node",
        json!({
            "entries": hits.len(),
            "hit_p50_ms": round(percentile(&hits, 0.5)),
            "hit_max_ms": round(percentile(&hits, 1.0)),
        }),
    );
    assert!(
        percentile(&hits, 1.0) < 100.0,
        "an L2 hit skips the 200 ms backend: {hits:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invalidation_on_one_node_leaves_the_other_within_100_ms() {
    let _serial = serial().await;
    let Some(redis) = RedisServer::start().unwrap() else {
        return;
    };
    let (a, b) = two_nodes(&redis, NodeOptions::new()).await;
    let on_b = b.client(Some("alice")).await;

    let mut delays = Vec::new();
    for n in 0..20 {
        let uri = format!("demo://slow/{}", 20 + n);
        on_b.read(&uri).await.unwrap();
        on_b.read(&uri).await.unwrap();
        let metrics = b.metrics().await;
        let (heard, hits, misses) = (
            metrics.invalidations("backplane"),
            metrics.cache("l1", "hit"),
            metrics.cache("none", "miss"),
        );
        assert!(hits >= 1.0, "B holds {uri} in memory");

        a.invalidate(json!({ "uri": uri })).await;
        let sent = Instant::now();
        let mut seen = None;
        while sent.elapsed() < Duration::from_secs(2) {
            if b.metrics().await.invalidations("backplane") > heard {
                seen = Some(sent.elapsed());
                break;
            }
        }
        let seen = seen.unwrap_or_else(|| panic!("B never heard of the invalidation of {uri}"));
        delays.push(seen.as_secs_f64() * 1000.0);

        // Gone from B's memory: the next read on B is a miss.
        on_b.read(&uri).await.unwrap();
        let metrics = b.metrics().await;
        assert_eq!(
            metrics.cache("l1", "hit"),
            hits,
            "{uri} was served from B's memory"
        );
        assert_eq!(metrics.cache("none", "miss"), misses + 1.0);
    }
    delays.sort_by(f64::total_cmp);
    report(
        "multi-node: invalidation on A leaves B",
        json!({
            "invalidations": delays.len(),
            "p50_ms": round(percentile(&delays, 0.5)),
            "max_ms": round(percentile(&delays, 1.0)),
        }),
    );
    assert!(
        percentile(&delays, 0.95) < 100.0,
        "B drops an entry A invalidated within 100 ms: {delays:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_global_rate_limit_holds_across_both_nodes() {
    const LIMIT: u32 = 40;
    const SECONDS: f64 = 3.0;
    let _serial = serial().await;
    let Some(redis) = RedisServer::start().unwrap() else {
        return;
    };
    let (a, b) = two_nodes(&redis, NodeOptions::new().global_limit(LIMIT)).await;
    let mut clients = Vec::new();
    for n in 0..3 {
        clients.push(Arc::new(a.client(Some(&format!("user-{n}"))).await));
        clients.push(Arc::new(b.client(Some(&format!("user-{n}"))).await));
    }
    // The bucket starts full: an idle second lets it be.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let load = Load::closed(
        clients,
        Arc::new(|client, n| Request::echo(&format!("{client}-{n}"))),
    );
    tokio::time::sleep(Duration::from_secs_f64(SECONDS)).await;
    let records = load.stop().await;
    let admitted = records.iter().filter(|r| r.outcome.is_ok()).count();
    let limited = records
        .iter()
        .filter(|r| {
            r.outcome
                .as_ref()
                .is_err_and(|error| error.starts_with("rate limit exceeded; retry after"))
        })
        .count();
    let summary = Summary::of(&records);
    // A full bucket (the burst, one second's worth), then the rate.
    let ceiling = f64::from(LIMIT) * (SECONDS + 1.0) * 1.1;
    let floor = f64::from(LIMIT) * SECONDS * 0.8;
    report(
        "multi-node: global rate limit",
        json!({
            "limit_per_s": LIMIT, "seconds": SECONDS, "admitted": admitted,
            "rate_limited": limited, "ceiling": ceiling, "load": summary.to_json(),
        }),
    );
    assert_eq!(
        admitted + limited,
        records.len(),
        "every rejection is the rate limit's: {:?}",
        summary.failures
    );
    assert!(
        (admitted as f64) <= ceiling,
        "{admitted} admitted in {SECONDS} s across two nodes with a global {LIMIT}/s"
    );
    assert!((admitted as f64) >= floor, "only {admitted} admitted");
    let per_node = |node: usize| {
        records
            .iter()
            .filter(|r| r.client % 2 == node && r.outcome.is_ok())
            .count()
    };
    assert!(
        per_node(0) > 0 && per_node(1) > 0,
        "both nodes admitted some"
    );
}
