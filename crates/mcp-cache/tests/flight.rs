//! Single-flight on tokio's paused clock: concurrent misses on one key make
//! one call; followers share its value or its error, stop waiting when
//! cancelled or past the flight's deadline, take over from a dropped
//! leader, and never receive another principal's private result.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests fail loudly"
)]

mod common;

use std::{collections::HashSet, time::Duration};

use common::{Answer, Backend, call, read, request, text};
use mcp_cache::CacheLayer;
use mcp_service::{
    McpError,
    jsonrpc::{JsonRpcRequest, JsonRpcResponse},
};
use serde_json::json;
use tokio_util::sync::CancellationToken;
use tower::{Layer, Service};

fn public_read() -> Answer {
    Answer::Read {
        ttl_ms: Some(60_000),
        scope: Some("public"),
    }
}

/// The texts that `askers` concurrent reads of `demo://slow/50` got.
async fn concurrent_reads<S>(service: &S, askers: usize) -> HashSet<String>
where
    S: Service<JsonRpcRequest, Response = JsonRpcResponse, Error = McpError>
        + Clone
        + Send
        + Sync
        + 'static,
    S::Future: Send,
{
    let calls: Vec<_> = (0..askers)
        .map(|_| {
            let service = service.clone();
            tokio::spawn(async move { call(&service, read("demo://slow/50")).await })
        })
        .collect();
    let mut texts = HashSet::new();
    for answer in calls {
        texts.insert(text(&answer.await.unwrap().unwrap()));
    }
    texts
}

#[tokio::test(start_paused = true)]
async fn a_thousand_concurrent_identical_misses_make_one_call() {
    let backend = Backend::new(Duration::from_millis(50), public_read());
    let cache = CacheLayer::new();
    let service = cache.layer(backend.service());

    let texts = concurrent_reads(&service, 1000).await;
    assert_eq!(backend.calls(), 1, "exactly one inner call");
    assert_eq!(texts.len(), 1, "everyone got the same result: {texts:?}");
    let counts = cache.counts();
    assert_eq!((counts.misses, counts.coalesced), (1, 999));
    // And once it landed, it is a plain hit.
    call(&service, read("demo://slow/50")).await.unwrap();
    assert_eq!((backend.calls(), cache.counts().l1_hits), (1, 1));
}

#[tokio::test(start_paused = true)]
async fn followers_share_a_result_the_cache_may_not_keep() {
    // `ttlMs: 0`: nothing is kept, but the concurrent askers still share
    // the one call, through a copy made because they followed.
    let backend = Backend::new(
        Duration::from_millis(50),
        Answer::Read {
            ttl_ms: Some(0),
            scope: Some("public"),
        },
    );
    let cache = CacheLayer::new();
    let service = cache.layer(backend.service());

    let texts = concurrent_reads(&service, 100).await;
    assert_eq!(backend.calls(), 1, "exactly one inner call");
    assert_eq!(texts.len(), 1, "everyone got the same result: {texts:?}");
    assert_eq!(cache.counts().coalesced, 99);
    // Nothing was kept: the next asker calls again.
    call(&service, read("demo://slow/50")).await.unwrap();
    assert_eq!((backend.calls(), cache.counts().l1_hits), (2, 0));
}

#[tokio::test(start_paused = true)]
async fn followers_share_the_error_and_it_is_not_kept() {
    let backend = Backend::new(Duration::from_millis(50), Answer::Error(-32603));
    let service = CacheLayer::new().layer(backend.service());
    let calls: Vec<_> = (0..10)
        .map(|_| {
            let service = service.clone();
            tokio::spawn(async move { call(&service, read("demo://down")).await })
        })
        .collect();
    for answer in calls {
        let error = answer.await.unwrap().unwrap_err();
        assert_eq!(error.code(), -32603, "{error}");
    }
    assert_eq!(backend.calls(), 1);
    backend.answer(public_read());
    assert_eq!(
        text(&call(&service, read("demo://down")).await.unwrap()),
        "call 2 for anonymous"
    );
}

#[tokio::test(start_paused = true)]
async fn a_dropped_leader_hands_over_to_its_followers() {
    let backend = Backend::new(Duration::from_secs(1), public_read());
    let service = CacheLayer::new().layer(backend.service());
    let leader = {
        let service = service.clone();
        tokio::spawn(async move { call(&service, read("demo://x")).await })
    };
    tokio::time::sleep(Duration::from_millis(10)).await;
    let follower = {
        let service = service.clone();
        tokio::spawn(async move { call(&service, read("demo://x")).await })
    };
    tokio::time::sleep(Duration::from_millis(10)).await;
    leader.abort();
    let answer = follower.await.unwrap().unwrap();
    assert_eq!(
        text(&answer),
        "call 2 for anonymous",
        "the follower led the next call"
    );
    assert_eq!(backend.calls(), 2);
}

#[tokio::test(start_paused = true)]
async fn followers_stop_waiting_when_cancelled_or_past_the_flight_deadline() {
    let backend = Backend::new(Duration::from_secs(10), public_read());
    let cache = CacheLayer::builder()
        .flight_timeout(Duration::from_secs(2))
        .build()
        .unwrap();
    let service = cache.layer(backend.service());
    let leader = {
        let service = service.clone();
        tokio::spawn(async move { call(&service, read("demo://slow")).await })
    };
    tokio::time::sleep(Duration::from_millis(500)).await;

    let token = CancellationToken::new();
    let cancelled = {
        let service = service.clone();
        let request = read("demo://slow").with_cancellation(token.clone());
        tokio::spawn(async move { call(&service, request).await })
    };
    let patient = {
        let service = service.clone();
        tokio::spawn(async move {
            let started = tokio::time::Instant::now();
            (call(&service, read("demo://slow")).await, started.elapsed())
        })
    };
    tokio::time::sleep(Duration::from_millis(100)).await;
    token.cancel();
    assert_eq!(cancelled.await.unwrap().unwrap_err(), McpError::Cancelled);

    let (answer, waited) = patient.await.unwrap();
    assert_eq!(
        answer.unwrap_err(),
        McpError::Timeout {
            after: Duration::from_secs(2)
        }
    );
    assert_eq!(
        waited,
        Duration::from_millis(1500),
        "the deadline counts from the leader's start"
    );
    assert!(leader.await.unwrap().is_ok(), "the leader itself finishes");
    assert_eq!(backend.calls(), 1);
}

#[tokio::test(start_paused = true)]
async fn a_waiting_principal_never_receives_another_principals_private_result() {
    let backend = Backend::new(
        Duration::from_millis(100),
        Answer::Read {
            ttl_ms: Some(60_000),
            scope: Some("private"),
        },
    );
    let service = CacheLayer::new().layer(backend.service());
    let profile =
        |who: &'static str| request("resources/read", json!({"uri": "demo://me"}), Some(who));
    let alice = {
        let service = service.clone();
        tokio::spawn(async move { call(&service, profile("alice")).await })
    };
    tokio::time::sleep(Duration::from_millis(10)).await;
    let bob = {
        let service = service.clone();
        tokio::spawn(async move { call(&service, profile("bob")).await })
    };
    let alice = text(&alice.await.unwrap().unwrap());
    let bob = text(&bob.await.unwrap().unwrap());
    let principal = |who| mcp_service::Principal::from_identity(who).to_string();
    assert_eq!(alice, format!("call 1 for {}", principal("alice")));
    assert_eq!(
        bob,
        format!("call 2 for {}", principal("bob")),
        "bob made his own call"
    );

    // Each is now kept for its principal only.
    assert_eq!(
        text(&call(&service, profile("alice")).await.unwrap()),
        alice
    );
    assert_eq!(text(&call(&service, profile("bob")).await.unwrap()), bob);
    let anonymous = call(&service, read("demo://me")).await.unwrap();
    assert_eq!(text(&anonymous), "call 3 for anonymous");
    assert_eq!(backend.calls(), 3);
}
