//! Redis faults under load, with real processes: two demo nodes share one
//! `redis-server`, which is killed (SIGKILL) and restarted on its port, or
//! stalled with `DEBUG SLEEP`, while clients keep sending.
//!
//! ```text
//! cargo test --test redis_faults -- --nocapture
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
    Client, Load, Node, NodeOptions, Plan, Request, Summary, report, round, serial, stall_redis,
    until,
};
use mcp_service::Principal;
use mcp_testkit::RedisServer;
use serde_json::json;

/// A limit high enough never to reject: every request still asks Redis.
const UNREACHED_LIMIT: u32 = 100_000;

/// Reads, lists and calls, each answer checked: public and private cached
/// reads, cached and uncached calls.
fn mixed_plan(tokens: Vec<String>) -> Plan {
    Arc::new(move |client, n| {
        let token = &tokens[client % tokens.len()];
        match n % 5 {
            0 => Request::echo(&format!("{client}-{n}")),
            1 => Request::read("demo://static/hello", "Hello from the mcp-stack demo."),
            2 => Request::read(
                "demo://private/profile",
                &format!(
                    "profile of {}",
                    Principal::from_authorization(format!("Bearer {token}").as_bytes())
                ),
            ),
            3 => Request::ListTools,
            _ => Request::slow(1, n % 50),
        }
    })
}

async fn clients(nodes: &[&Node], tokens: &[String]) -> Vec<Arc<Client>> {
    let mut clients = Vec::new();
    for (index, token) in tokens.iter().enumerate() {
        clients.push(Arc::new(
            nodes[index % nodes.len()].client(Some(token)).await,
        ));
    }
    clients
}

/// Whether a read of `uri` through `client` was answered from the node's
/// memory.
async fn served_from_memory(client: &Client, uri: &str) -> bool {
    let (_, served) = client.read_served(uri).await.unwrap();
    served.is_some_and(|served| served.tier == "l1")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn redis_killed_mid_load_fails_no_request_and_everything_comes_back() {
    let _serial = serial().await;
    let Some(mut redis) = RedisServer::start().unwrap() else {
        return;
    };
    let options = NodeOptions::new()
        .redis(&redis.url())
        .admin()
        .global_limit(UNREACHED_LIMIT)
        .set("CACHE__HIT_MARKER", true);
    let a = Node::start(options.clone()).await;
    let b = Node::start(options).await;
    let (probe_a, probe_b) = (a.client(Some("probe")).await, b.client(Some("probe")).await);

    // An entry both nodes hold in memory, to be invalidated while Redis is down.
    let doomed = "demo://slow/7";
    probe_a.read(doomed).await.unwrap();
    probe_b.read(doomed).await.unwrap();
    assert!(served_from_memory(&probe_b, doomed).await);

    let tokens: Vec<String> = (0..6).map(|n| format!("user-{n}")).collect();
    let load = Load::closed(clients(&[&a, &b], &tokens).await, mixed_plan(tokens));
    tokio::time::sleep(Duration::from_secs(2)).await;

    let killed_at = load.now();
    redis.kill();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let invalidation = a.invalidate(json!({ "uri": doomed })).await;
    assert!(
        invalidation < Duration::from_secs(1),
        "an invalidation with Redis down answers at once: {invalidation:?}"
    );
    assert!(
        !served_from_memory(&probe_a, doomed).await,
        "A dropped its own entry at once"
    );
    tokio::time::sleep(Duration::from_millis(2500)).await;

    redis.restart().unwrap();
    let back = Instant::now();
    let back_at = load.now();

    // The backplane: B resyncs, and its memory no longer serves what A
    // invalidated while Redis was down.
    let resynced = until(Duration::from_secs(5), || async {
        b.metrics().await.invalidations("gap") >= 1.0
    })
    .await;
    let backplane = back.elapsed();
    assert!(resynced.is_some(), "B resynced its backplane within 5 s");
    assert!(
        !served_from_memory(&probe_b, doomed).await,
        "B served an entry invalidated while Redis was down"
    );
    // And it hears new invalidations again.
    let fresh = "demo://slow/8";
    probe_b.read(fresh).await.unwrap();
    let heard = b.metrics().await.invalidations("backplane");
    a.invalidate(json!({ "uri": fresh })).await;
    let live = until(Duration::from_secs(5), || async {
        b.metrics().await.invalidations("backplane") > heard
    })
    .await;
    assert!(live.is_some(), "B hears A's invalidations again");
    let backplane_live = back.elapsed();

    // The L2 tier: an entry A fills is an L2 hit on B.
    let mut n = 0;
    let shared = until(Duration::from_secs(5), || {
        n += 1;
        let uri = format!("demo://slow/{}", 100 + n);
        let (b, probe_a, probe_b) = (&b, &probe_a, &probe_b);
        async move {
            probe_a.read(&uri).await.unwrap();
            tokio::time::sleep(Duration::from_millis(20)).await;
            let before = b.metrics().await.cache("l2", "hit");
            probe_b.read(&uri).await.unwrap();
            b.metrics().await.cache("l2", "hit") > before
        }
    })
    .await;
    assert!(shared.is_some(), "the L2 tier is shared again within 5 s");
    let l2 = back.elapsed();

    // Global limits: decisions are Redis's again, not local fallbacks.
    let limits = until(Duration::from_secs(5), || async {
        let before = a.metrics().await.fallbacks() + b.metrics().await.fallbacks();
        tokio::time::sleep(Duration::from_millis(200)).await;
        a.metrics().await.fallbacks() + b.metrics().await.fallbacks() == before
    })
    .await;
    assert!(
        limits.is_some(),
        "global limits are decided by Redis again within 5 s"
    );
    let limits = back.elapsed();

    tokio::time::sleep(Duration::from_secs(1)).await;
    let records = load.stop().await;
    let total = Summary::of(&records);
    let outage = Summary::of(
        records
            .iter()
            .filter(|r| r.due >= killed_at && r.due < back_at),
    );
    let ms = |duration: Duration| round(duration.as_secs_f64() * 1000.0);
    report(
        "Redis killed mid-load",
        json!({
            "load": total.to_json(),
            "during_outage": outage.to_json(),
            "recovered_ms": {
                "backplane_resync": ms(backplane),
                "backplane_live": ms(backplane_live),
                "l2": ms(l2),
                "global_limits": ms(limits),
            },
            "invalidation_while_down_ms": ms(invalidation),
        }),
    );
    assert!(
        outage.sent > 50,
        "the load ran during the outage: {}",
        outage.sent
    );
    assert!(
        outage.max_ms < 2.0 * 250.0 + 200.0,
        "no request waited on the dead Redis longer than its timeout: {outage:?}"
    );
    assert_eq!(total.failed, 0, "failed requests: {:?}", total.failures);
    assert!(
        l2.max(limits).max(backplane_live) < Duration::from_secs(5),
        "everything back within 5 s"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_slow_redis_costs_at_most_its_timeout_until_the_breakers_open() {
    const TIMEOUT_MS: f64 = 250.0;
    let _serial = serial().await;
    let Some(redis) = RedisServer::start().unwrap() else {
        return;
    };
    let options = NodeOptions::new()
        .redis(&redis.url())
        .global_limit(UNREACHED_LIMIT);
    let a = Node::start(options.clone()).await;
    let b = Node::start(options).await;
    let tokens: Vec<String> = (0..4).map(|n| format!("user-{n}")).collect();
    // Every call a new key: each one asks the L2 tier, then fills it.
    let plan: Plan = Arc::new(|client, n| Request::slow(0, (client as u64) << 32 | n));
    let load = Load::closed(clients(&[&a, &b], &tokens).await, plan);
    tokio::time::sleep(Duration::from_secs(2)).await;

    let stalled_at = load.now();
    let stall = stall_redis(redis.port(), 4.0).await;
    tokio::time::sleep(Duration::from_secs(4)).await;
    let _ = stall.await;
    let over_at = load.now();
    tokio::time::sleep(Duration::from_secs(3)).await;
    let records = load.stop().await;

    let before = Summary::of(records.iter().filter(|r| r.due < stalled_at));
    let stalled: Vec<_> = records
        .iter()
        .filter(|r| r.due >= stalled_at && r.due < over_at)
        .collect();
    let during = Summary::of(stalled.iter().copied());
    // Once the breakers are open: from a second into the stall.
    let settled = Summary::of(
        stalled
            .iter()
            .copied()
            .filter(|r| r.due >= stalled_at + Duration::from_secs(1)),
    );
    let slowed = stalled
        .iter()
        .filter(|r| r.latency.as_secs_f64() * 1000.0 > before.p99_ms + 50.0)
        .count();
    let after = Summary::of(
        records
            .iter()
            .filter(|r| r.due >= over_at + Duration::from_secs(1)),
    );
    report(
        "Redis slow (DEBUG SLEEP 4 s)",
        json!({
            "before": before.to_json(),
            "during": during.to_json(),
            "during_after_1s": settled.to_json(),
            "slowed_requests": slowed,
            "after": after.to_json(),
        }),
    );
    assert_eq!(
        before.failed + during.failed + after.failed,
        0,
        "{:?}",
        during.failures
    );
    assert!(
        during.max_ms < before.p99_ms + TIMEOUT_MS * 2.0 + 100.0,
        "a request waits at most Redis's timeout (twice: the limit, then the cache): {during:?}"
    );
    assert!(
        settled.p50_ms < before.p99_ms + 20.0,
        "once the breakers are open, Redis costs nothing: {settled:?} vs {before:?}"
    );
    assert!(
        slowed * 10 < during.sent,
        "only a few requests pay the timeout: {slowed} of {}",
        during.sent
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_started_after_redis_lost_its_data_still_invalidates_everywhere() {
    let _serial = serial().await;
    let Some(mut redis) = RedisServer::start().unwrap() else {
        return;
    };
    let options = NodeOptions::new()
        .redis(&redis.url())
        .admin()
        .set("CACHE__HIT_MARKER", true);
    let a = Node::start(options.clone()).await;
    let on_a = a.client(Some("probe")).await;
    let uri = "demo://slow/9";
    // Invalidations move the entry's generation on, in Redis and on A.
    for _ in 0..3 {
        a.invalidate(json!({ "uri": uri })).await;
    }
    // Redis comes back empty: its generations are gone, A's are not.
    redis.kill();
    redis.restart().unwrap();
    let resynced = until(Duration::from_secs(5), || async {
        a.metrics().await.invalidations("gap") >= 1.0
    })
    .await;
    assert!(resynced.is_some(), "A resynced after the restart");
    on_a.read(uri).await.unwrap();
    assert!(served_from_memory(&on_a, uri).await, "A holds {uri}");

    // A node that starts now knows only what Redis knows.
    let c = Node::start(options).await;
    let heard = a.metrics().await.invalidations("backplane");
    c.invalidate(json!({ "uri": uri })).await;
    let told = until(Duration::from_secs(5), || async {
        a.metrics().await.invalidations("backplane") > heard
    })
    .await;
    assert!(told.is_some(), "A heard C's invalidation");
    assert!(
        !served_from_memory(&on_a, uri).await,
        "A served {uri} from memory after C invalidated it"
    );
}
