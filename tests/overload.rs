//! Overload, with a real process: ten times what a slow backend can take,
//! sent to a demo node whose bulkhead gives the `slow` tool a few slots.
//! The excess is shed at once with a clear error, what is admitted keeps
//! its latency, memory stays flat, and full throughput is back as soon as
//! the load drops.
//!
//! ```text
//! cargo test --test overload -- --nocapture
//! ```

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests fail loudly"
)]

mod harness;

use std::{
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use harness::{
    Client, Load, Node, NodeOptions, Plan, Record, Request, Summary, report, round, serial,
};
use serde_json::json;

/// Slots of the `slow` pool.
const SLOTS: u64 = 4;
/// How long one call takes.
const CALL_MS: u64 = 200;
/// Calls a second the backend can take.
const CAPACITY: f64 = SLOTS as f64 * 1000.0 / CALL_MS as f64;

const OVERLOADED: &str = "server overloaded; too many requests in flight";

/// Every call its own cache key, so each one reaches the backend.
fn plan(first_key: u64) -> Plan {
    Arc::new(move |_, n| Request::slow(CALL_MS, first_key + n))
}

fn per_second(records: &[Record], seconds: f64) -> f64 {
    records.iter().filter(|r| r.outcome.is_ok()).count() as f64 / seconds
}

async fn phase(clients: &[Arc<Client>], rate: f64, seconds: f64, first_key: u64) -> Vec<Record> {
    let load = Load::open(clients.to_vec(), rate, 2000, plan(first_key));
    tokio::time::sleep(Duration::from_secs_f64(seconds)).await;
    load.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn ten_times_capacity_is_shed_at_once_and_throughput_comes_back() {
    const CALM: f64 = CAPACITY * 0.5;
    const STORM: f64 = CAPACITY * 10.0;
    const STORM_SECONDS: f64 = 6.0;
    let _serial = serial().await;
    let node = Node::start(
        NodeOptions::new()
            .set("CONCURRENCY__POOLS__0__NAME", "\"slow\"")
            .set("CONCURRENCY__POOLS__0__SLOTS", SLOTS)
            .set("CONCURRENCY__POOLS__0__TOOLS", "[\"slow\"]"),
    )
    .await;
    let mut clients = Vec::new();
    for n in 0..8 {
        clients.push(Arc::new(node.client(Some(&format!("user-{n}"))).await));
    }

    let before = phase(&clients, CALM, 3.0, 0).await;
    let rss_before = node.rss();

    let peak = Arc::new(AtomicU64::new(rss_before));
    let sampler = {
        let (peak, pid) = (peak.clone(), node.pid);
        tokio::spawn(async move {
            loop {
                peak.fetch_max(harness::rss_of(pid), Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        })
    };
    let storm = phase(&clients, STORM, STORM_SECONDS, 1 << 32).await;
    sampler.abort();
    let rss_peak = peak.load(Ordering::Relaxed);

    let after = phase(&clients, CALM, 4.0, 2 << 32).await;
    let rss_after = node.rss();

    let admitted: Vec<&Record> = storm.iter().filter(|r| r.outcome.is_ok()).collect();
    let shed = storm
        .iter()
        .filter(|r| r.outcome.as_ref().is_err_and(|error| error == OVERLOADED))
        .count();
    let storm_summary = Summary::of(&storm);
    let admitted_summary = Summary::of(admitted.iter().copied());
    let shed_summary = Summary::of(storm.iter().filter(|r| r.outcome.is_err()));
    let calm = Summary::of(&before);
    let recovered = Summary::of(&after);
    let rejections = node.metrics().await.sum("mcp_limit_rejections_total", &[]);
    let mib = |bytes: u64| round(bytes as f64 / f64::from(1 << 20));
    report(
        "overload: 10x a slow backend's capacity",
        json!({
            "capacity_per_s": CAPACITY,
            "before": calm.to_json(),
            "storm": storm_summary.to_json(),
            "storm_rate_per_s": STORM,
            "admitted": admitted_summary.to_json(),
            "admitted_per_s": round(per_second(&storm, STORM_SECONDS)),
            "shed": shed,
            "shed_latency": shed_summary.to_json(),
            "limit_rejections_metric": rejections,
            "rss_mib": { "before": mib(rss_before), "peak": mib(rss_peak), "after": mib(rss_after) },
            "after": recovered.to_json(),
            "after_per_s": round(per_second(&after, 4.0)),
        }),
    );

    assert_eq!(calm.failed, 0, "{:?}", calm.failures);
    assert_eq!(
        shed + admitted.len(),
        storm.len(),
        "every rejection says the server is overloaded: {:?}",
        storm_summary.failures
    );
    assert!(
        storm.len() as f64 > STORM * STORM_SECONDS * 0.8,
        "the storm was sent: {}",
        storm.len()
    );
    let admitted_per_s = per_second(&storm, STORM_SECONDS);
    assert!(
        admitted_per_s <= CAPACITY * 1.2,
        "the bulkhead admits what the backend can take, not {admitted_per_s}/s"
    );
    assert!(
        admitted_per_s >= CAPACITY * 0.6,
        "the backend is kept busy: {admitted_per_s}/s"
    );
    assert!(
        admitted_summary.p99_ms < CALL_MS as f64 + 800.0,
        "admitted calls keep their latency: {admitted_summary:?}"
    );
    // A queued call would wait for a slot, a call's length at least.
    assert!(
        shed_summary.p50_ms < CALL_MS as f64 / 2.0 && shed_summary.p99_ms < 1000.0,
        "shedding is immediate: {shed_summary:?}"
    );
    assert!(
        rss_peak < rss_before + (64 << 20),
        "memory stays bounded: {} MiB, then {} MiB",
        mib(rss_before),
        mib(rss_peak)
    );
    assert!(
        rejections >= shed as f64,
        "the limiter counted its rejections"
    );
    assert_eq!(recovered.failed, 0, "{:?}", recovered.failures);
    assert!(
        per_second(&after, 4.0) >= CALM * 0.9,
        "full throughput after the storm: {}/s",
        per_second(&after, 4.0)
    );
}

/// One principal sending ten times its rate limit is refused with the time
/// to retry, while another principal on the same node is not touched, and
/// the noisy one gets its full rate back once it calms down.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_principal_over_its_rate_is_refused_without_touching_the_others() {
    const LIMIT: f64 = 20.0;
    const SECONDS: f64 = 5.0;
    let _serial = serial().await;
    let node = Node::start(
        NodeOptions::new()
            .set("RATE_LIMITS__0__REQUESTS", LIMIT)
            .set("RATE_LIMITS__0__PERIOD", "\"1s\"")
            .set("RATE_LIMITS__0__KEY", "\"principal\""),
    )
    .await;
    let mut noisy = Vec::new();
    for _ in 0..4 {
        noisy.push(Arc::new(node.client(Some("noisy")).await));
    }
    let polite = vec![Arc::new(node.client(Some("polite")).await)];
    let echo: Plan = Arc::new(|client, n| Request::echo(&format!("{client}-{n}")));

    let storm = Load::open(noisy.clone(), LIMIT * 10.0, 2000, echo.clone());
    let calm = Load::open(polite, LIMIT / 4.0, 100, echo.clone());
    tokio::time::sleep(Duration::from_secs_f64(SECONDS)).await;
    let (storm, calm) = (storm.stop().await, calm.stop().await);
    // A second's quiet refills the bucket; then the limit's own rate.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let after = Load::open(noisy, LIMIT / 2.0, 100, echo);
    tokio::time::sleep(Duration::from_secs(3)).await;
    let after = after.stop().await;

    let admitted = storm.iter().filter(|r| r.outcome.is_ok()).count();
    let limited: Vec<&Record> = storm
        .iter()
        .filter(|r| {
            r.outcome
                .as_ref()
                .is_err_and(|error| error.starts_with("rate limit exceeded; retry after"))
        })
        .collect();
    let storm_summary = Summary::of(&storm);
    let limited_summary = Summary::of(limited.iter().copied());
    let (calm, after) = (Summary::of(&calm), Summary::of(&after));
    // A full bucket (one second's worth), then the rate.
    let ceiling = LIMIT * (SECONDS + 1.0) * 1.1;
    report(
        "overload: one principal at 10x its rate limit",
        json!({
            "limit_per_s": LIMIT, "offered_per_s": LIMIT * 10.0, "seconds": SECONDS,
            "storm": storm_summary.to_json(),
            "admitted": admitted, "ceiling": ceiling,
            "rate_limited": limited_summary.to_json(),
            "other_principal": calm.to_json(),
            "after": after.to_json(),
        }),
    );
    assert_eq!(
        admitted + limited.len(),
        storm.len(),
        "every rejection says when to retry: {:?}",
        storm_summary.failures
    );
    assert!((admitted as f64) <= ceiling, "{admitted} admitted");
    assert!(
        (admitted as f64) >= LIMIT * SECONDS * 0.8,
        "only {admitted} admitted"
    );
    assert!(
        limited_summary.p50_ms < 100.0,
        "refusals are immediate: {limited_summary:?}"
    );
    assert_eq!(calm.failed, 0, "the other principal: {:?}", calm.failures);
    assert!(calm.sent as f64 >= LIMIT / 4.0 * SECONDS * 0.8, "{calm:?}");
    assert_eq!(after.failed, 0, "back to its rate: {:?}", after.failures);
}
