//! Tenancy and secrets, with real processes: two demo nodes share one
//! Redis while many principals read their private profile through memory,
//! Redis, the backplane's invalidations and stale serving; every answer is
//! checked against the asker. Then what the processes leave behind is
//! searched for the secrets they saw: every Redis key, `/metrics`, and the
//! nodes' output with a password in the Redis URL.
//!
//! ```text
//! cargo test --test tenancy -- --nocapture
//! ```

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests fail loudly"
)]

mod harness;

use std::{sync::Arc, time::Duration};

use harness::{
    Client, Load, Node, NodeOptions, Plan, Request, Summary, http, redis_connection, report, serial,
};
use mcp_service::Principal;
use mcp_testkit::RedisServer;
use serde_json::json;

const PROFILE: &str = "demo://private/profile";

fn token(n: usize) -> String {
    format!("tenant-token-{n}-q7Zx")
}

/// A parameter no key may hold raw.
fn secret_param(n: usize) -> String {
    format!("param-value-{n}-k3Vw")
}

fn principal(token: &str) -> String {
    Principal::from_authorization(format!("Bearer {token}").as_bytes()).to_string()
}

/// Client `c` is principal `c / 2` (two clients each, one per node), the
/// last client anonymous: its own profile, public reads and cached calls
/// with a parameter of its own.
fn plan(principals: usize) -> Plan {
    Arc::new(move |client, n| {
        let who = client / 2;
        match n % 4 {
            0 | 1 => Request::read(
                PROFILE,
                &if who < principals {
                    format!("profile of {}", principal(&token(who)))
                } else {
                    "profile of anonymous".into()
                },
            ),
            2 => Request::Call {
                tool: "slow".into(),
                arguments: json!({ "ms": 1, "note": secret_param(who), "key": n % 8 }),
                expect: Some("slept 1 ms".into()),
            },
            _ => Request::read("demo://static/hello", "Hello from the mcp-stack demo."),
        }
    })
}

/// A session id, from an `initialize` of its own.
async fn session_id(node: &Node) -> String {
    let body = json!({
        "jsonrpc": "2.0", "id": 1, "method": "initialize",
        "params": {
            "protocolVersion": "2025-11-25",
            "capabilities": {},
            "clientInfo": { "name": "tenancy", "version": "1" },
        },
    });
    let (status, headers, answer) = http(
        &node.address,
        "POST",
        "/mcp",
        &[
            ("content-type", "application/json"),
            ("accept", "application/json, text/event-stream"),
            ("authorization", &format!("Bearer {}", token(0))),
        ],
        body.to_string().as_bytes(),
    )
    .await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&answer));
    headers
        .get("mcp-session-id")
        .cloned()
        .expect("a session id")
}

/// Every key in the Redis at `url`, with the value of the string ones.
async fn everything_in(url: &str) -> Vec<(String, Vec<u8>)> {
    let mut redis = redis_connection(url).await;
    let mut cursor: u64 = 0;
    let mut keys = Vec::new();
    loop {
        let (next, batch): (u64, Vec<String>) = redis::cmd("SCAN")
            .arg(cursor)
            .arg("COUNT")
            .arg(1000)
            .query_async(&mut redis)
            .await
            .unwrap();
        keys.extend(batch);
        cursor = next;
        if cursor == 0 {
            break;
        }
    }
    let mut everything = Vec::new();
    for key in keys {
        let kind: String = redis::cmd("TYPE")
            .arg(&key)
            .query_async(&mut redis)
            .await
            .unwrap();
        let value: Vec<u8> = if kind == "string" {
            redis::cmd("GET")
                .arg(&key)
                .query_async(&mut redis)
                .await
                .unwrap_or_default()
        } else {
            Vec::new()
        };
        everything.push((key, value));
    }
    everything
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn private_entries_never_cross_principals_and_no_secret_is_left_behind() {
    const PRINCIPALS: usize = 6;
    let _serial = serial().await;
    let Some(redis) = RedisServer::start().unwrap() else {
        return;
    };
    // Entries go stale after a second and are served stale while refreshed.
    let options = NodeOptions::new()
        .redis(&redis.url())
        .admin()
        .set("CACHE__HIT_MARKER", true)
        .set("CACHE__MAX_TTL", "\"1s\"")
        .set("CACHE__STALE_WHILE_REVALIDATE", "\"60s\"");
    let a = Node::start(options.clone()).await;
    let b = Node::start(options).await;
    let mut clients = Vec::new();
    for who in 0..=PRINCIPALS {
        let token = (who < PRINCIPALS).then(|| token(who));
        for node in [&a, &b] {
            clients.push(Arc::new(node.client(token.as_deref()).await));
        }
    }
    let session = session_id(&a).await;

    let load = Load::closed(clients, plan(PRINCIPALS));
    // The backplane: A drops everyone's profile now and then, on B too.
    for _ in 0..12 {
        tokio::time::sleep(Duration::from_millis(500)).await;
        a.invalidate(json!({ "uri": PROFILE })).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let records = load.stop().await;
    let summary = Summary::of(&records);

    // Each tier served profiles, so each was tried.
    let (on_a, on_b) = (a.metrics().await, b.metrics().await);
    let served = |result: &str, tier: &str| on_a.cache(tier, result) + on_b.cache(tier, result);
    let tiers = json!({
        "l1_hit": served("hit", "l1"), "l2_hit": served("hit", "l2"),
        "l1_stale": served("stale", "l1"), "l2_stale": served("stale", "l2"),
        "miss": served("miss", "none"),
        "backplane_invalidations_on_b": on_b.invalidations("backplane"),
    });
    // A principal new to both nodes gets its own profile, not a cached one.
    let late = Client::connect(&b.address, Some(&token(PRINCIPALS + 1))).await;
    let late_answer = late.read(PROFILE).await.unwrap();

    let everything = everything_in(&redis.url()).await;
    let mut secrets: Vec<String> = (0..PRINCIPALS + 2).map(token).collect();
    secrets.extend((0..PRINCIPALS).map(secret_param));
    secrets.push("Bearer".into());
    let leaked_keys: Vec<&String> = everything
        .iter()
        .map(|(key, _)| key)
        .filter(|key| {
            secrets.iter().any(|secret| key.contains(secret.as_str()))
                || key.contains("demo://")
                || key.contains("profile")
        })
        .collect();
    let leaked_values: Vec<&String> = everything
        .iter()
        .filter(|(_, value)| {
            let value = String::from_utf8_lossy(value);
            secrets.iter().any(|secret| value.contains(secret.as_str()))
        })
        .map(|(key, _)| key)
        .collect();

    let principals: Vec<String> = (0..PRINCIPALS).map(|n| principal(&token(n))).collect();
    let mut pages = Vec::new();
    for node in [&a, &b] {
        pages.push(("metrics", node.metrics().await.0));
        pages.push(("stats", node.get("/stats").await.1));
    }
    let leaks_in = |page: &str| {
        let mut found: Vec<String> = secrets
            .iter()
            .chain(&principals)
            .filter(|secret| page.contains(secret.as_str()))
            .cloned()
            .collect();
        for marker in ["demo://", session.as_str()] {
            if page.contains(marker) {
                found.push(marker.to_owned());
            }
        }
        found
    };
    let page_leaks: Vec<(&str, Vec<String>)> = pages
        .iter()
        .map(|(name, page)| (*name, leaks_in(page)))
        .filter(|(_, found)| !found.is_empty())
        .collect();

    report(
        "tenancy: private entries across L1, L2, backplane, stale",
        json!({
            "principals": PRINCIPALS, "nodes": 2,
            "load": summary.to_json(),
            "served": tiers,
            "redis_keys_scanned": everything.len(),
            "keys_with_secrets": leaked_keys.len(),
            "values_with_secrets": leaked_values.len(),
            "pages_with_secrets": page_leaks,
        }),
    );
    assert!(summary.sent > 500, "{summary:?}");
    assert_eq!(
        summary.failed, 0,
        "every answer was the asker's own: {:?}",
        summary.failures
    );
    assert_eq!(
        late_answer,
        format!("profile of {}", principal(&token(PRINCIPALS + 1)))
    );
    for tier in ["l1_hit", "l2_hit", "l1_stale"] {
        assert!(tiers[tier].as_f64() > Some(0.0), "no {tier}: {tiers}");
    }
    assert!(tiers["backplane_invalidations_on_b"].as_f64() >= Some(10.0));
    assert!(everything.len() > 10, "Redis holds the entries");
    assert!(
        leaked_keys.is_empty(),
        "raw secrets in keys: {leaked_keys:?}"
    );
    assert!(
        leaked_values.is_empty(),
        "raw secrets in values: {leaked_values:?}"
    );
    let metrics_leaks: Vec<_> = page_leaks
        .iter()
        .filter(|(name, _)| *name == "metrics")
        .collect();
    assert!(
        metrics_leaks.is_empty(),
        "/metrics names principals, URIs or sessions: {metrics_leaks:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_redis_password_never_reaches_the_output() {
    // An @ in it, as a URL parser allows: the last @ ends the credentials.
    const PASSWORD: &str = "rds@pw-8Jq2";
    /// What follows its @: a redaction cut at the first @ prints it.
    const TAIL: &str = "pw-8Jq2";
    let _serial = serial().await;
    let Some(mut redis) = RedisServer::start().unwrap() else {
        return;
    };
    let mut admin = redis_connection(&redis.url()).await;
    let () = redis::cmd("CONFIG")
        .arg("SET")
        .arg("requirepass")
        .arg(PASSWORD)
        .query_async(&mut admin)
        .await
        .unwrap();
    let port = redis.port();
    let url = format!("redis://:{PASSWORD}@127.0.0.1:{port}/");
    let wrong = format!("redis://:{PASSWORD}-wrong@127.0.0.1:{port}/");

    let node = Node::start(NodeOptions::new().redis(&url)).await;
    let refused = Node::start(NodeOptions::new().redis(&wrong)).await;
    let upstream = Node::start(NodeOptions::new().args(["--no-stack"])).await;
    let gateway = Node::gateway(&upstream.address, NodeOptions::new().redis(&url)).await;
    let client = node.client(Some("alice")).await;
    let denied = refused.client(Some("alice")).await;
    for n in 0..20 {
        client.send(&Request::slow(1, n)).await.unwrap();
        denied.send(&Request::slow(1, n)).await.unwrap();
    }
    // Redis goes away and comes back without a password: reconnection
    // failures are printed too, if anything is.
    redis.kill();
    tokio::time::sleep(Duration::from_millis(500)).await;
    for n in 20..30 {
        client.send(&Request::slow(1, n)).await.unwrap();
    }
    redis.restart().unwrap();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    for n in 30..40 {
        client.send(&Request::slow(1, n)).await.unwrap();
    }

    let outputs = [
        ("node", node.output()),
        ("node with a wrong password", refused.output()),
        ("gateway", gateway.output()),
    ];
    report(
        "secrets: Redis password in the URL",
        json!({
            "processes": outputs.len(),
            "output_bytes": outputs.iter().map(|(_, output)| output.len()).sum::<usize>(),
            "leaks": outputs.iter().filter(|(_, output)| output.contains(TAIL)).count(),
        }),
    );
    assert!(
        outputs[0]
            .1
            .contains(&format!("redis://:***@127.0.0.1:{port}/")),
        "the node says which Redis it uses: {}",
        outputs[0].1
    );
    for (name, output) in &outputs {
        assert!(
            !output.contains(TAIL),
            "the {name} printed the password:\n{output}"
        );
    }
}
