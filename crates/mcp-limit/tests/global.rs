//! Rate limits kept in a real Redis: two layers with their own connections
//! share one limit, and a Redis that cannot answer fails open or falls back
//! to the local share, as configured.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests fail loudly"
)]

use std::{
    net::{Ipv4Addr, TcpListener},
    time::{Duration, Instant},
};

use mcp_limit::{RateLimitLayer, WhenUnavailable};
use mcp_service::{
    McpError,
    jsonrpc::{JsonRpcRequest, JsonRpcResponse},
    redis::{RedisOptions, connect},
};
use mcp_testkit::RedisServer;
use serde_json::json;
use tower::{Layer, Service, ServiceExt, service_fn, util::BoxCloneService};

type Boxed = BoxCloneService<JsonRpcRequest, JsonRpcResponse, McpError>;

fn call() -> JsonRpcRequest {
    JsonRpcRequest::new(None, "tools/call", Some(&json!({"name": "search"}))).unwrap()
}

fn limited(layer: &RateLimitLayer) -> Boxed {
    BoxCloneService::new(layer.layer(service_fn(|_request: JsonRpcRequest| async {
        JsonRpcResponse::from_value(&json!({}))
    })))
}

/// A layer of `requests` a second, burst 10, kept in Redis at `url`.
fn global(url: &str, requests: u32, when: WhenUnavailable) -> RateLimitLayer {
    let options = RedisOptions {
        response_timeout: Duration::from_millis(200),
        retries: 0,
        ..RedisOptions::default()
    };
    RateLimitLayer::builder(requests, Duration::from_secs(1))
        .burst(10)
        .name("shared")
        .redis(connect(url, options).unwrap(), "test")
        .when_redis_unavailable(when)
        .build()
        .unwrap()
}

/// Calls `service` back to back until `until`; counts what it admitted.
async fn hammer(mut service: Boxed, until: Instant) -> u32 {
    let mut admitted = 0;
    while Instant::now() < until {
        match service.ready().await.unwrap().call(call()).await {
            Ok(_) => admitted += 1,
            Err(McpError::RateLimited { retry_after }) => {
                assert!(retry_after <= Duration::from_millis(10), "{retry_after:?}");
            }
            Err(error) => panic!("{error}"),
        }
    }
    admitted
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_share_one_global_limit() {
    let Some(redis) = RedisServer::start().unwrap() else {
        return;
    };
    let local = WhenUnavailable::Local { nodes: 2 };
    let (a, b) = (
        global(&redis.url(), 100, local),
        global(&redis.url(), 100, local),
    );
    let until = Instant::now() + Duration::from_secs(3);
    let (admitted_a, admitted_b) = tokio::join!(
        tokio::spawn(hammer(limited(&a), until)),
        tokio::spawn(hammer(limited(&b), until)),
    );
    let (admitted_a, admitted_b) = (admitted_a.unwrap(), admitted_b.unwrap());
    let total = admitted_a + admitted_b;
    println!(
        "over 3 s at 100/s, burst 10: node a {admitted_a}, node b {admitted_b}, total {total}"
    );
    assert!(
        total <= 300 + 10,
        "together at most rate x 3 s + burst: {total}"
    );
    assert!(total >= 280, "and close to it: {total}");
    assert!(
        admitted_a >= 50 && admitted_b >= 50,
        "both nodes were served"
    );
}

fn unreachable_url() -> String {
    let port = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    // The listener is dropped: nothing answers on the port.
    format!("redis://127.0.0.1:{port}/")
}

#[tokio::test]
async fn without_redis_it_falls_back_to_the_local_share() {
    let url = unreachable_url();
    let layer = global(&url, 100, WhenUnavailable::Local { nodes: 2 });
    let mut service = limited(&layer);
    let mut admitted = 0;
    for _ in 0..20 {
        if service.ready().await.unwrap().call(call()).await.is_ok() {
            admitted += 1;
        }
    }
    assert_eq!(admitted, 5, "half of the burst of 10");
}

#[tokio::test]
async fn without_redis_it_can_fail_open() {
    let layer = global(&unreachable_url(), 100, WhenUnavailable::FailOpen);
    let mut service = limited(&layer);
    for _ in 0..50 {
        service.ready().await.unwrap().call(call()).await.unwrap();
    }
}

/// A limit never reached, over a connection with the default settings, as
/// the facade makes it: 250 ms response timeout, reconnect retries. The
/// burst is large because the local fallback decides in a microsecond, so
/// back-to-back calls can outrun any rate on their own.
fn global_with_defaults(url: &str) -> RateLimitLayer {
    RateLimitLayer::builder(100_000, Duration::from_secs(1))
        .burst(10_000_000)
        .name("defaults")
        .redis(connect(url, RedisOptions::default()).unwrap(), "test")
        .build()
        .unwrap()
}

/// Calls `service` back to back for `period`; each call's duration.
async fn timed_calls(service: &mut Boxed, period: Duration) -> Vec<Duration> {
    let mut took = Vec::new();
    let until = Instant::now() + period;
    while Instant::now() < until {
        let started = Instant::now();
        service.ready().await.unwrap().call(call()).await.unwrap();
        took.push(started.elapsed());
    }
    took
}

/// Stalls the Redis at `port` for `seconds` with `DEBUG SLEEP`.
async fn stall(port: u16, seconds: u32) -> tokio::net::TcpStream {
    use tokio::io::AsyncWriteExt;
    let mut stream = tokio::net::TcpStream::connect((Ipv4Addr::LOCALHOST, port))
        .await
        .unwrap();
    stream
        .write_all(format!("DEBUG SLEEP {seconds}\r\n").as_bytes())
        .await
        .unwrap();
    stream
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_redis_costs_a_few_timeouts_then_nothing() {
    let Some(redis) = RedisServer::start().unwrap() else {
        return;
    };
    let mut service = limited(&global_with_defaults(&redis.url()));
    timed_calls(&mut service, Duration::from_millis(100)).await;
    let _stalled = stall(redis.port(), 3).await;
    let took = timed_calls(&mut service, Duration::from_secs(2)).await;
    let slow = took
        .iter()
        .filter(|took| **took > Duration::from_millis(100))
        .count();
    assert!(
        took.iter().all(|took| *took < Duration::from_millis(400)),
        "each call waits at most the response timeout: {took:?}"
    );
    assert!(
        slow <= 5,
        "a few calls pay the timeout, then the breaker decides locally: {slow} of {}",
        took.len()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_redis_costs_a_few_timeouts_and_the_limit_comes_back_by_itself() {
    let Some(mut redis) = RedisServer::start().unwrap() else {
        return;
    };
    let mut service = limited(&global_with_defaults(&redis.url()));
    timed_calls(&mut service, Duration::from_millis(100)).await;
    redis.kill();
    // The connection retries in the background meanwhile: calls must not wait for it.
    let took = timed_calls(&mut service, Duration::from_secs(2)).await;
    let slow = took
        .iter()
        .filter(|took| **took > Duration::from_millis(100))
        .count();
    assert!(
        took.iter().all(|took| *took < Duration::from_millis(400)),
        "each call waits at most the response timeout: {:?}",
        took.iter().max()
    );
    assert!(slow <= 5, "{slow} of {} calls were slow", took.len());

    redis.restart().unwrap();
    let mut redis_view = redis::Client::open(redis.url())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    let back = Instant::now();
    loop {
        timed_calls(&mut service, Duration::from_millis(20)).await;
        let buckets: u64 = redis::cmd("DBSIZE")
            .query_async(&mut redis_view)
            .await
            .unwrap();
        if buckets > 0 {
            break;
        }
        assert!(
            back.elapsed() < Duration::from_secs(5),
            "the limit is kept in Redis again within 5 s"
        );
    }
}

#[test]
fn rates_finer_than_a_microsecond_are_refused() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let _entered = runtime.enter();
    let error = RateLimitLayer::builder(2_000_000, Duration::from_secs(1))
        .redis(
            connect(&unreachable_url(), RedisOptions::default()).unwrap(),
            "test",
        )
        .build()
        .unwrap_err();
    assert_eq!(error.setting, "rate");
}
