//! The shared tier and the backplane against a real `redis-server`: two
//! caches with their own connections stand for two nodes.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests fail loudly"
)]

mod common;

use std::time::{Duration, Instant};

use common::{Answer, Backend, call, read, request, text};
use mcp_cache::{CacheLayer, RedisTier};
use mcp_service::redis::{RedisOptions, connect, connect_with_pushes};
use mcp_testkit::RedisServer;
use serde_json::json;
use tower::Layer;

fn public() -> Answer {
    Answer::Read {
        ttl_ms: Some(60_000),
        scope: Some("public"),
    }
}

/// A node: a cache on its own connection, around its own backend.
struct Node {
    cache: CacheLayer,
    backend: Backend,
}

impl Node {
    async fn start(redis: &RedisServer, answer: Answer) -> Self {
        let connection = connect(&redis.url(), RedisOptions::default()).unwrap();
        let (subscriber, pushes) =
            connect_with_pushes(&redis.url(), RedisOptions::default(), 1024).unwrap();
        let cache = CacheLayer::builder()
            .redis(
                RedisTier::new(connection, subscriber, pushes)
                    .retry_every(Duration::from_millis(100)),
            )
            .build()
            .unwrap();
        let node = Self {
            cache,
            backend: Backend::new(Duration::ZERO, answer),
        };
        node.until("the backplane is in step", |node| node.cache.is_shared())
            .await;
        node
    }

    async fn read(&self, uri: &str) -> String {
        let service = self.cache.layer(self.backend.service());
        text(&call(&service, read(uri)).await.unwrap())
    }

    async fn read_as(&self, uri: &str, who: &str) -> String {
        let service = self.cache.layer(self.backend.service());
        text(
            &call(
                &service,
                request("resources/read", json!({"uri": uri}), Some(who)),
            )
            .await
            .unwrap(),
        )
    }

    /// Waits, up to 5 s, for `condition`: Redis is real I/O.
    async fn until(&self, what: &str, condition: impl Fn(&Self) -> bool) {
        let deadline = Instant::now() + Duration::from_secs(5);
        while !condition(self) {
            assert!(Instant::now() < deadline, "timed out waiting until {what}");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
}

async fn values_in(redis: &RedisServer) -> Vec<String> {
    let mut connection = connect(&redis.url(), RedisOptions::default()).unwrap();
    redis::cmd("KEYS")
        .arg("mcp-stack:cache:v:*")
        .query_async(&mut connection)
        .await
        .unwrap()
}

async fn until_written(redis: &RedisServer, count: usize) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while values_in(redis).await.len() < count {
        assert!(Instant::now() < deadline, "the write never reached Redis");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_entry_filled_on_one_node_is_an_l2_hit_on_the_other() {
    let Some(redis) = RedisServer::start().unwrap() else {
        return;
    };
    let a = Node::start(&redis, public()).await;
    let b = Node::start(&redis, public()).await;

    assert_eq!(a.read("demo://shared").await, "call 1 for anonymous");
    until_written(&redis, 1).await;
    assert_eq!(
        b.read("demo://shared").await,
        "call 1 for anonymous",
        "A's result"
    );
    assert_eq!(b.backend.calls(), 0);
    assert_eq!(b.cache.counts().l2_hits, 1);
    assert_eq!(b.read("demo://shared").await, "call 1 for anonymous");
    assert_eq!(b.cache.counts().l1_hits, 1, "the L2 hit filled L1");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invalidation_on_one_node_empties_the_other_nodes_memory_at_once() {
    let Some(redis) = RedisServer::start().unwrap() else {
        return;
    };
    let a = Node::start(&redis, public()).await;
    let b = Node::start(&redis, public()).await;
    a.read("demo://doc").await;
    until_written(&redis, 1).await;
    b.read("demo://doc").await;
    b.read("demo://doc").await;
    assert_eq!((b.backend.calls(), b.cache.counts().l1_hits), (0, 1));

    a.cache.invalidator().resource("demo://doc").await;
    let invalidated = Instant::now();
    let mut seen = None;
    while seen.is_none() {
        if b.read("demo://doc").await == "call 1 for anonymous" && b.backend.calls() == 1 {
            seen = Some(invalidated.elapsed());
        }
        assert!(
            invalidated.elapsed() < Duration::from_secs(5),
            "B never heard"
        );
    }
    let seen = seen.unwrap();
    eprintln!("invalidation seen on the other node after {seen:?}");
    assert!(seen < Duration::from_millis(100), "{seen:?}");
    // A's own entry is gone too; what it gets now is B's new fill, from Redis.
    until_written(&redis, 2).await;
    a.read("demo://doc").await;
    assert_eq!((a.backend.calls(), a.cache.counts().l2_hits), (1, 1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn private_entries_never_cross_principals_through_redis() {
    let Some(redis) = RedisServer::start().unwrap() else {
        return;
    };
    let private = || Answer::Read {
        ttl_ms: Some(60_000),
        scope: Some("private"),
    };
    let a = Node::start(&redis, private()).await;
    let b = Node::start(&redis, private()).await;
    let alice = a.read_as("demo://me", "alice").await;
    until_written(&redis, 2).await; // the entry and the private mark
    let bob = b.read_as("demo://me", "bob").await;
    assert_ne!(bob, alice);
    assert!(bob.ends_with(&mcp_service::Principal::from_identity("bob").to_string()));
    assert_eq!(b.backend.calls(), 1, "bob made his own call");
    assert_eq!(
        b.read_as("demo://me", "alice").await,
        alice,
        "alice's own entry, from L2"
    );
    assert_eq!(b.backend.calls(), 1);
    assert_eq!(
        b.read("demo://me").await,
        "call 2 for anonymous",
        "anonymous gets nothing kept"
    );
    for key in values_in(&redis).await {
        assert!(!key.contains("alice") && !key.contains("demo://"), "{key}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_in_redis_is_a_miss_that_gets_overwritten() {
    let Some(redis) = RedisServer::start().unwrap() else {
        return;
    };
    let a = Node::start(&redis, public()).await;
    a.read("demo://g").await;
    until_written(&redis, 1).await;
    let mut connection = connect(&redis.url(), RedisOptions::default()).unwrap();
    let keys = values_in(&redis).await;
    for garbage in [
        b"not an envelope".to_vec(),
        b"MCPC\x00an older format".to_vec(),
    ] {
        for key in &keys {
            let _: () = redis::cmd("SET")
                .arg(key)
                .arg(&garbage)
                .query_async(&mut connection)
                .await
                .unwrap();
        }
        // A node with nothing in memory reads the garbage.
        let b = Node::start(&redis, public()).await;
        b.read("demo://g").await;
        assert_eq!(b.backend.calls(), 1, "garbage is a miss");
        // Its fill overwrites the garbage, in the background: wait for it
        // before the next garbage, which it would otherwise overwrite too.
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let value: Vec<u8> = redis::cmd("GET")
                .arg(&keys[0])
                .query_async(&mut connection)
                .await
                .unwrap();
            if value.starts_with(b"MCPC\x01") {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "the garbage was never overwritten"
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_redis_dead_requests_succeed_and_the_tier_comes_back_by_itself() {
    let Some(mut redis) = RedisServer::start().unwrap() else {
        return;
    };
    let a = Node::start(&redis, public()).await;
    let b = Node::start(&redis, public()).await;
    a.read("demo://kept").await;
    until_written(&redis, 1).await;
    b.read("demo://kept").await;

    redis.kill();
    a.until("A sees Redis gone", |node| !node.cache.is_shared())
        .await;
    let started = Instant::now();
    for n in 0..20 {
        a.read(&format!("demo://during/{n}")).await;
    }
    eprintln!("20 misses with Redis dead took {:?}", started.elapsed());
    assert_eq!(
        a.backend.calls(),
        21,
        "every request answered by the backend"
    );
    // An invalidation made while Redis is away is kept for later.
    a.cache.invalidator().resource("demo://kept").await;

    redis.restart().unwrap();
    let restarted = Instant::now();
    a.until("A is back", |node| node.cache.is_shared()).await;
    b.until("B is back", |node| node.cache.is_shared()).await;
    eprintln!("tier back {:?} after Redis restarted", restarted.elapsed());
    assert!(restarted.elapsed() < Duration::from_secs(5));
    // B may have missed messages while away: its memory was cleared.
    let calls = b.backend.calls();
    b.read("demo://kept").await;
    assert_eq!(
        b.backend.calls(),
        calls + 1,
        "no stale entry served after the gap"
    );
    a.read("demo://after").await;
    until_written(&redis, 2).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_redis_costs_a_few_timeouts_then_nothing() {
    let Some(redis) = RedisServer::start().unwrap() else {
        return;
    };
    let a = Node::start(&redis, public()).await;
    let sleeper = tokio::spawn({
        let mut connection = connect(
            &redis.url(),
            RedisOptions {
                response_timeout: Duration::from_secs(10),
                ..RedisOptions::default()
            },
        )
        .unwrap();
        async move {
            let slept: redis::RedisResult<()> = redis::cmd("DEBUG")
                .arg("SLEEP")
                .arg(3)
                .query_async(&mut connection)
                .await;
            slept.unwrap();
        }
    });
    tokio::time::sleep(Duration::from_millis(100)).await;
    let mut slow = 0;
    for n in 0..20 {
        let started = Instant::now();
        a.read(&format!("demo://slow/{n}")).await;
        if started.elapsed() >= Duration::from_millis(200) {
            slow += 1;
        }
    }
    assert_eq!(a.backend.calls(), 20, "every request answered");
    assert!(
        (1..=4).contains(&slow),
        "{slow} requests paid the Redis timeout before the breaker opened"
    );
    sleeper.await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_rmcp_servers_share_lists_and_hear_each_others_notifications() {
    use mcp_service::rmcp::StackedHandler;
    use mcp_testkit::{DemoHandler, connect};
    use rmcp::ClientCacheConfig;

    let Some(redis) = RedisServer::start().unwrap() else {
        return;
    };
    let mut nodes = Vec::new();
    for _ in 0..2 {
        let connection =
            mcp_service::redis::connect(&redis.url(), RedisOptions::default()).unwrap();
        let (subscriber, pushes) =
            connect_with_pushes(&redis.url(), RedisOptions::default(), 1024).unwrap();
        let cache = CacheLayer::builder()
            .redis(RedisTier::new(connection, subscriber, pushes))
            .build()
            .unwrap();
        let handler = DemoHandler::default();
        let pair = connect(StackedHandler::new(handler.clone(), cache.clone()))
            .await
            .unwrap();
        pair.client
            .peer()
            .set_response_cache_config(ClientCacheConfig::disabled())
            .await;
        let deadline = Instant::now() + Duration::from_secs(5);
        while !cache.is_shared() {
            assert!(Instant::now() < deadline);
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        nodes.push((cache, handler, pair));
    }
    let (a, b) = (&nodes[0], &nodes[1]);
    let tools = a.2.client.list_tools(None).await.unwrap();
    until_written(&redis, 1).await;
    assert_eq!(b.2.client.list_tools(None).await.unwrap(), tools);
    assert_eq!((a.1.calls("tools/list"), b.1.calls("tools/list")), (1, 0));
    assert_eq!(b.0.counts().l2_hits, 1);

    // A's server says its tools changed: B's copy goes too.
    assert!(
        a.0.invalidator()
            .notification("notifications/tools/list_changed", None)
            .await
    );
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        b.2.client.list_tools(None).await.unwrap();
        if b.1.calls("tools/list") == 1 {
            break;
        }
        assert!(Instant::now() < deadline, "B kept serving the old list");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_that_joins_after_redis_lost_its_data_still_invalidates_every_node() {
    let Some(redis) = RedisServer::start().unwrap() else {
        return;
    };
    let a = Node::start(&redis, public()).await;
    for _ in 0..3 {
        a.cache.invalidator().resource("demo://doc").await;
    }
    // Redis forgets everything (a restart without persistence, an eviction).
    let mut connection = connect(&redis.url(), RedisOptions::default()).unwrap();
    let () = redis::cmd("FLUSHALL")
        .query_async(&mut connection)
        .await
        .unwrap();
    a.read("demo://doc").await;
    a.read("demo://doc").await;
    assert_eq!((a.backend.calls(), a.cache.counts().l1_hits), (1, 1));

    // A node that starts now knows only what Redis knows.
    let c = Node::start(&redis, public()).await;
    c.cache.invalidator().resource("demo://doc").await;
    let invalidated = Instant::now();
    while a.backend.calls() == 1 {
        a.read("demo://doc").await;
        assert!(
            invalidated.elapsed() < Duration::from_secs(5),
            "A kept serving the entry C invalidated"
        );
    }
}
