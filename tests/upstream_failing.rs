//! An upstream that fails, with real processes: the gateway in front of a
//! bare demo node whose backend fails every call (errors, and calls that
//! hang past the gateway's deadline), then recovers. The gateway's breaker
//! for that upstream opens, clients get fast rejections that say when to
//! retry, and it closes by itself once the backend answers again.
//!
//! ```text
//! cargo test --test upstream_failing -- --nocapture
//! ```

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests fail loudly"
)]

mod harness;

use std::{sync::Arc, time::Duration};

use harness::{Load, Node, NodeOptions, Plan, Record, Request, Summary, report, round, serial};
use rmcp::model::{ClientConfig, ProtocolVersion};
use serde_json::json;

/// Clients ask for a session version the gateway forwards as it is (see
/// `a_default_rmcp_client_connects_through_the_gateway`).
const SESSION_VERSION: ProtocolVersion = ProtocolVersion::V_2025_11_25;
/// The gateway's deadline for every request.
const TIMEOUT: Duration = Duration::from_secs(1);
/// How long the breaker stays open at most (it doubles from 1 s).
const MAX_OPEN: Duration = Duration::from_secs(4);

/// Clients of the load; each has a few hung calls at most in flight (see
/// `a_sessions_hung_calls_do_not_hold_up_its_next_call`).
const CLIENTS: u64 = 8;

/// Requests a second, on the open loop's fixed timetable.
const RATE: f64 = 100.0;
/// The backend fails from 2 s into the load to 8 s.
const FAILED_AT: Duration = Duration::from_secs(2);
const RECOVERED_AT: Duration = Duration::from_secs(8);

/// Whether the `n`th request is due while the backend fails: the open loop
/// sends it at `n / RATE` seconds, so the plan knows without a clock.
fn due_while_failing(n: u64) -> bool {
    let due = Duration::from_secs_f64(n as f64 / RATE);
    due >= FAILED_AT && due < RECOVERED_AT
}

/// While the backend fails, three calls in four fail at once and one hangs
/// for 5 s; before and after, every call answers. Every client gets its
/// share of each.
fn plan() -> Plan {
    Arc::new(
        move |_, n| match (due_while_failing(n), (n / CLIENTS) % 4) {
            (true, 0) => Request::Call {
                tool: "slow".into(),
                arguments: json!({ "ms": 5000 }),
                expect: None,
            },
            (false, 0) => Request::slow(1, n),
            (true, _) => flaky(1.0),
            (false, _) => flaky(0.0),
        },
    )
}

fn flaky(fail_rate: f64) -> Request {
    Request::Call {
        tool: "flaky".into(),
        arguments: json!({ "fail_rate": fail_rate }),
        expect: Some("the flaky backend answered".into()),
    }
}

fn is_open(record: &Record) -> bool {
    record
        .outcome
        .as_ref()
        .is_err_and(|error| error.starts_with("circuit open"))
}

/// The `N` of a rejection's `retry after N ms`.
fn retry_after_ms(error: &str) -> Option<f64> {
    let (_, rest) = error.split_once("retry after ")?;
    rest.split_whitespace().next()?.parse().ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_failing_upstream_opens_the_gateways_breaker_which_closes_after_recovery() {
    let _serial = serial().await;
    let upstream = Node::start(NodeOptions::new().args(["--no-stack"])).await;
    let gateway = Node::gateway(
        &upstream.address,
        NodeOptions::new()
            .set("TIMEOUT__DEFAULT", "\"1s\"")
            .set("BREAKER__OPEN_DURATION", "\"1s\"")
            .set("BREAKER__MAX_OPEN_DURATION", "\"4s\""),
    )
    .await;
    let mut clients = Vec::new();
    for n in 0..CLIENTS {
        clients.push(Arc::new(
            gateway
                .client_at(Some(&format!("user-{n}")), SESSION_VERSION)
                .await,
        ));
    }
    let load = Load::open(clients, RATE, 400, plan());
    let (failed_at, recovered_at) = (FAILED_AT, RECOVERED_AT);
    tokio::time::sleep(RECOVERED_AT).await;

    // The gauge goes back to closed (0) by itself.
    let closed = harness::until(MAX_OPEN * 3, || async {
        gateway
            .metrics()
            .await
            .sum("mcp_breaker_state", &[("breaker", "demo")])
            == 0.0
    })
    .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let metrics = gateway.metrics().await;
    let records = load.stop().await;

    let healthy = Summary::of(records.iter().filter(|r| r.due < failed_at));
    let failing_records: Vec<&Record> = records
        .iter()
        .filter(|r| r.due >= failed_at && r.due < recovered_at)
        .collect();
    let during = Summary::of(failing_records.iter().copied());
    let rejected: Vec<&Record> = failing_records
        .iter()
        .copied()
        .filter(|r| is_open(r))
        .collect();
    // Open from the first rejection's answer: what was sent before waited
    // on the hung calls, and is judged by the deadline instead.
    let opened_at = rejected
        .iter()
        .map(|r| r.due + r.latency)
        .min()
        .unwrap_or(recovered_at);
    let while_open = Summary::of(rejected.iter().copied().filter(|r| r.due >= opened_at));
    let after: Vec<&Record> = records.iter().filter(|r| r.due >= recovered_at).collect();
    // Closed once the last failure after recovery was answered.
    let close_time = after
        .iter()
        .filter(|r| r.outcome.is_err())
        .map(|r| r.due + r.latency)
        .max()
        .map_or(Duration::ZERO, |end| end.saturating_sub(recovered_at));
    let settled = Summary::of(
        after
            .iter()
            .copied()
            .filter(|r| r.due >= recovered_at + close_time),
    );
    let total = Summary::of(&records);
    let retry_hints: Vec<f64> = rejected
        .iter()
        .filter_map(|r| retry_after_ms(r.outcome.as_ref().unwrap_err()))
        .collect();
    let opened = metrics.sum(
        "mcp_breaker_transitions_total",
        &[("breaker", "demo"), ("state", "open")],
    );
    report(
        "upstream failing behind the gateway",
        json!({
            "load": total.to_json(),
            "healthy": healthy.to_json(),
            "failing": during.to_json(),
            "open_rejections": rejected.len(),
            "opened_after_ms": round((opened_at.saturating_sub(failed_at)).as_secs_f64() * 1000.0),
            "while_open": while_open.to_json(),
            "time_to_close_ms": round(close_time.as_secs_f64() * 1000.0),
            "after_close": settled.to_json(),
            "breaker_opened": opened,
        }),
    );

    assert_eq!(healthy.failed, 0, "{:?}", healthy.failures);
    assert!(
        rejected.len() * 2 > failing_records.len(),
        "most calls to the failing upstream are fast rejections: {} of {}: {:?}",
        rejected.len(),
        failing_records.len(),
        during.failures
    );
    assert_eq!(
        retry_hints.len(),
        rejected.len(),
        "every rejection says when to retry"
    );
    assert!(
        retry_hints
            .iter()
            .all(|ms| *ms > 0.0 && *ms <= MAX_OPEN.as_secs_f64() * 1000.0 * 1.5)
    );
    assert!(
        while_open.p99_ms < 250.0,
        "rejections are fast: {while_open:?}"
    );
    assert!(
        during.max_ms < (TIMEOUT.as_secs_f64() * 1000.0) * 2.5,
        "no call hangs past the gateway's deadline: {during:?}"
    );
    assert!(closed.is_some(), "the breaker closed by itself");
    assert!(
        close_time < MAX_OPEN * 2,
        "closed {close_time:?} after recovery"
    );
    assert!(settled.sent > 50, "{settled:?}");
    assert_eq!(settled.failed, 0, "{:?}", settled.failures);
    assert!(opened >= 1.0, "the breaker's transitions were counted");
}

/// An rmcp client at its default (newest, sessionless) protocol version,
/// through the gateway to an rmcp server: the gateway offers the upstream
/// the session version it negotiated, in the header and in `initialize`
/// alike (it once kept the client's version in the body, and rmcp servers
/// refused the mismatch).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_default_rmcp_client_connects_through_the_gateway() {
    let _serial = serial().await;
    let upstream = Node::start(NodeOptions::new().args(["--no-stack"])).await;
    let gateway = Node::gateway(&upstream.address, NodeOptions::new()).await;
    let client =
        harness::Client::try_connect(&gateway.address, Some("alice"), ClientConfig::default())
            .await;
    assert!(client.is_ok(), "{:?}", client.err());
}

/// Calls of one client session that hang upstream must not hold up the
/// session's next call: straight to the demo, a call behind 32 hung ones
/// answers in milliseconds. rmcp's client takes no new request while about
/// ten wait for their response headers, and the gateway once held the
/// headers until the answer; it now streams a slow answer after 100 ms.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sessions_hung_calls_do_not_hold_up_its_next_call() {
    let _serial = serial().await;
    let upstream = Node::start(NodeOptions::new().args(["--no-stack"])).await;
    let gateway = Node::gateway(&upstream.address, NodeOptions::new()).await;
    let client = Arc::new(gateway.client_at(Some("alice"), SESSION_VERSION).await);
    let hung: Vec<_> = (0..32)
        .map(|key| {
            let client = client.clone();
            tokio::spawn(async move { client.send(&Request::slow(3000, key)).await })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let started = std::time::Instant::now();
    client.send(&Request::echo("next")).await.unwrap();
    let took = started.elapsed();
    for call in hung {
        let _ = call.await;
    }
    assert!(
        took < Duration::from_millis(500),
        "the call waited {took:?} behind the session's hung calls"
    );
}

/// The upstream process dies and a new one starts on its address: calls
/// fail fast while it is gone, and once it is back the gateway opens new
/// upstream sessions for its clients by itself and the breaker closes.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_upstream_killed_and_restarted_is_used_again_by_itself() {
    const DOWN: Duration = Duration::from_secs(4);
    let _serial = serial().await;
    let bare = || NodeOptions::new().args(["--no-stack"]);
    let upstream = Node::start(bare()).await;
    let address = upstream.address.clone();
    let gateway = Node::gateway(
        &address,
        NodeOptions::new()
            .set("TIMEOUT__DEFAULT", "\"1s\"")
            .set("BREAKER__OPEN_DURATION", "\"1s\"")
            .set("BREAKER__MAX_OPEN_DURATION", "\"4s\""),
    )
    .await;
    let mut clients = Vec::new();
    for n in 0..4 {
        clients.push(Arc::new(
            gateway
                .client_at(Some(&format!("user-{n}")), SESSION_VERSION)
                .await,
        ));
    }
    let echo: Plan = Arc::new(|client, n| Request::echo(&format!("{client}-{n}")));
    let load = Load::open(clients, 50.0, 400, echo);
    tokio::time::sleep(Duration::from_secs(2)).await;
    let killed_at = load.now();
    upstream.kill().await;
    tokio::time::sleep(DOWN).await;
    let _upstream = Node::start_at(address, bare()).await;
    let back_at = load.now();
    let closed = harness::until(MAX_OPEN * 3, || async {
        gateway
            .metrics()
            .await
            .sum("mcp_breaker_state", &[("breaker", "demo")])
            == 0.0
    })
    .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let records = load.stop().await;

    // Answered before the kill: a call sent as it happens may fail.
    let before = Summary::of(records.iter().filter(|r| r.due + r.latency < killed_at));
    let down = Summary::of(
        records
            .iter()
            .filter(|r| r.due >= killed_at && r.due < back_at),
    );
    let after: Vec<&Record> = records.iter().filter(|r| r.due >= back_at).collect();
    let back_in = after
        .iter()
        .filter(|r| r.outcome.is_err())
        .map(|r| r.due + r.latency)
        .max()
        .map_or(Duration::ZERO, |end| end.saturating_sub(back_at));
    let settled = Summary::of(after.iter().copied().filter(|r| r.due >= back_at + back_in));
    report(
        "upstream killed and restarted behind the gateway",
        json!({
            "load": Summary::of(&records).to_json(),
            "before": before.to_json(),
            "down": down.to_json(),
            "down_ms": DOWN.as_millis(),
            "recovered_ms": round(back_in.as_secs_f64() * 1000.0),
            "after_recovery": settled.to_json(),
        }),
    );
    assert_eq!(before.failed, 0, "{:?}", before.failures);
    assert!(
        down.max_ms < TIMEOUT.as_secs_f64() * 1000.0 * 2.5,
        "no call waits on the dead upstream past the deadline: {down:?}"
    );
    assert!(closed.is_some(), "the breaker closed by itself");
    assert!(
        back_in < MAX_OPEN * 2,
        "used again {back_in:?} after restart"
    );
    assert!(settled.sent > 50, "{settled:?}");
    assert_eq!(settled.failed, 0, "{:?}", settled.failures);
}
