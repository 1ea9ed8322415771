//! The gateway in front of an rmcp upstream over Streamable HTTP, on
//! loopback: what passes through, what the stack adds, what sessions do.

#![cfg(feature = "gateway")]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests fail loudly"
)]

mod gateway_support;

use std::{
    sync::atomic::{AtomicBool, Ordering},
    time::{Duration, Instant},
};

use gateway_support::{Probe, Wire, config, eventually, gateway, upstream};
use http::{Method, StatusCode};
use mcp_stack::gateway::UpstreamConfig;
use serde_json::{Value, json};

async fn pair() -> (Probe, gateway_support::Running, gateway_support::Running) {
    let probe = Probe::default();
    let upstream = upstream(probe.clone()).await;
    let gateway = gateway(&config([("probe", UpstreamConfig::http(&upstream.url))])).await;
    (probe, upstream, gateway)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_upstream_passes_through_untouched() {
    let (_probe, upstream, gateway) = pair().await;
    let mut direct = Wire::new(&upstream.url);
    let mut through = Wire::new(&gateway.url);
    let direct_init = direct.initialize().await;
    let through_init = through.initialize().await;
    assert_eq!(through_init["capabilities"], direct_init["capabilities"]);
    assert_eq!(through_init["serverInfo"], direct_init["serverInfo"]);

    let list = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list"});
    let (direct_list, through_list) = (direct.post(list.clone()).await, through.post(list).await);
    assert_eq!(through_list.status, StatusCode::OK);
    assert_eq!(
        through_list.response()["result"]["tools"],
        direct_list.response()["result"]["tools"]
    );
    assert!(
        !through_list.is_event_stream(),
        "a plain answer is plain JSON"
    );

    for (name, arguments) in [("echo", json!({"text": "hi"})), ("nope", json!({}))] {
        let direct_call = direct.call(2, name, arguments.clone()).await;
        let through_call = through.call(2, name, arguments).await;
        assert_eq!(through_call.response(), direct_call.response(), "{name}");
    }
    let read = json!({"jsonrpc": "2.0", "id": 3, "method": "resources/read", "params": {"uri": "probe://missing"}});
    let (direct_read, through_read) = (direct.post(read.clone()).await, through.post(read).await);
    assert_eq!(
        through_read.response()["error"],
        direct_read.response()["error"]
    );
    assert_eq!(through_read.response()["id"], 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn progress_turns_the_answer_into_an_event_stream() {
    let (_probe, _upstream, gateway) = pair().await;
    let mut wire = Wire::new(&gateway.url);
    wire.initialize().await;
    let answer = wire
        .post(json!({
            "jsonrpc": "2.0", "id": 5, "method": "tools/call",
            "params": {"name": "progress", "arguments": {}, "_meta": {"progressToken": "p-1"}},
        }))
        .await;
    assert!(answer.is_event_stream(), "{}", answer.text);
    let progress: Vec<&Value> = answer
        .messages
        .iter()
        .filter(|message| message["method"] == "notifications/progress")
        .collect();
    assert_eq!(progress.len(), 3, "{}", answer.text);
    assert!(
        progress
            .iter()
            .all(|message| message["params"]["progressToken"] == "p-1")
    );
    assert_eq!(progress[2]["params"]["progress"], 3.0);
    assert_eq!(answer.response()["id"], 5);
    assert_eq!(answer.response()["result"]["content"][0]["text"], "done");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_outside_a_request_reach_the_sessions_get_stream() {
    let (_probe, _upstream, gateway) = pair().await;
    let mut wire = Wire::new(&gateway.url);
    wire.initialize().await;
    let mut stream = wire.listen().await;
    // rmcp sends a log message on its own GET stream, which the gateway
    // opens in the background: call until one has come through.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let mut id = 6;
    let message = loop {
        let logged = wire.call(id, "log", json!({})).await;
        assert_eq!(logged.response()["result"]["content"][0]["text"], "logged");
        if let Ok(Some(message)) =
            tokio::time::timeout(Duration::from_millis(200), stream.recv()).await
        {
            break message;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no log message on the GET stream"
        );
        id += 1;
    };
    assert_eq!(message["method"], "notifications/message", "{message}");
    assert_eq!(message["params"]["data"], "hello from the upstream");
}

/// Waits up to 10 s for `flag`, failing with `what` when it stays down.
async fn until(flag: &AtomicBool, what: &str) {
    assert!(
        eventually(Duration::from_secs(10), || flag.load(Ordering::SeqCst)).await,
        "{what}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_cancellation_reaches_the_upstream() {
    let (probe, _upstream, gateway) = pair().await;
    let mut wire = Wire::new(&gateway.url);
    wire.initialize().await;
    let call = tokio::spawn({
        let wire = wire.clone();
        async move { wire.call(7, "wait", json!({})).await }
    });
    until(&probe.waiting, "the upstream got the call").await;
    let cancel = wire
        .post(json!({
            "jsonrpc": "2.0", "method": "notifications/cancelled",
            "params": {"requestId": 7, "reason": "changed my mind"},
        }))
        .await;
    assert_eq!(cancel.status, StatusCode::ACCEPTED);
    until(&probe.cancelled, "the upstream saw the cancellation").await;
    let answer = call.await.unwrap();
    assert!(
        answer
            .messages
            .iter()
            .all(|message| message.get("id").is_none()),
        "a cancelled request gets no response: {}",
        answer.text
    );
}

/// Streamable HTTP (2026-07-28): a client that closes its connection has
/// cancelled the request on it, and the upstream must hear so.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_hangs_up_cancels_its_call_upstream() {
    use tokio::io::AsyncWriteExt;

    let (probe, _upstream, gateway) = pair().await;
    let mut wire = Wire::new(&gateway.url);
    wire.initialize().await;
    let uri: http::Uri = gateway.url.parse().unwrap();
    let authority = uri.authority().unwrap().as_str();
    let mut stream = tokio::net::TcpStream::connect(authority).await.unwrap();
    let body = json!({
        "jsonrpc": "2.0", "id": 7, "method": "tools/call",
        "params": {"name": "wait", "arguments": {}},
    })
    .to_string();
    let head = format!(
        "POST {} HTTP/1.1\r\nhost: {authority}\r\ncontent-type: application/json\r\n\
         accept: application/json, text/event-stream\r\nmcp-protocol-version: {}\r\n\
         mcp-session-id: {}\r\ncontent-length: {}\r\n\r\n",
        uri.path(),
        wire.version.to_str().unwrap(),
        wire.session.as_ref().unwrap().to_str().unwrap(),
        body.len(),
    );
    stream
        .write_all(format!("{head}{body}").as_bytes())
        .await
        .unwrap();
    until(&probe.waiting, "the upstream got the call").await;
    drop(stream);
    until(&probe.cancelled, "the upstream saw the cancellation").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upstream_list_changed_invalidates_the_cached_list() {
    let (probe, _upstream, gateway) = pair().await;
    let mut wire = Wire::new(&gateway.url);
    wire.initialize().await;
    let names = |answer: &gateway_support::Answer| -> Vec<String> {
        answer.response()["result"]["tools"]
            .as_array()
            .unwrap()
            .iter()
            .map(|tool| tool["name"].as_str().unwrap().to_owned())
            .collect()
    };
    let list = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list"});
    let first = wire.post(list.clone()).await;
    let again = wire.post(list.clone()).await;
    assert_eq!(names(&first), names(&again));
    assert_eq!(
        probe.lists.load(Ordering::SeqCst),
        1,
        "the second list is a cache hit"
    );

    let grown = wire.call(2, "grow", json!({"name": "sprout"})).await;
    assert_eq!(
        grown.response()["result"]["content"][0]["text"],
        "grown",
        "{}",
        grown.text
    );
    let mut listed = Vec::new();
    let mut appeared = false;
    for _ in 0..100 {
        listed = names(&wire.post(list.clone()).await);
        if listed.iter().any(|name| name == "sprout") {
            appeared = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(
        appeared,
        "the new tool is listed after list_changed: {listed:?}"
    );
    assert!(probe.lists.load(Ordering::SeqCst) >= 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upstream_requests_reach_the_client_and_its_answer_returns() {
    let (_probe, _upstream, gateway) = pair().await;
    let mut wire = Wire::new(&gateway.url);
    wire.initialize().await;
    let request = wire.request(
        Method::POST,
        bytes::Bytes::from(json!({"jsonrpc": "2.0", "id": 9, "method": "tools/call", "params": {"name": "roots", "arguments": {}}}).to_string()),
    );
    // The client reads the stream as it comes, answering the upstream's request on the way.
    let http = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build(hyper_util::client::legacy::connect::HttpConnector::new());
    let response = http.request(request).await.unwrap();
    assert!(
        response.headers()["content-type"]
            .as_bytes()
            .starts_with(b"text/event-stream")
    );
    let mut body = response.into_body();
    let mut text = String::new();
    let mut answered = false;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while let Ok(Some(frame)) =
        tokio::time::timeout_at(deadline, http_body_util::BodyExt::frame(&mut body)).await
    {
        let Ok(data) = frame.unwrap().into_data() else {
            continue;
        };
        text.push_str(&String::from_utf8_lossy(&data));
        for message in gateway_support::events(&text) {
            if message["method"] == "roots/list" && !answered {
                answered = true;
                let reply = json!({"jsonrpc": "2.0", "id": message["id"], "result": {"roots": [{"uri": "file:///work"}]}});
                assert_eq!(wire.post(reply).await.status, StatusCode::ACCEPTED);
            }
        }
    }
    assert!(
        answered,
        "the upstream's roots/list reached the client: {text}"
    );
    let messages = gateway_support::events(&text);
    let last = messages.last().unwrap();
    assert_eq!(last["id"], 9);
    assert_eq!(
        last["result"]["content"][0]["text"], "file:///work",
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_are_cached_and_sessions_are_the_gateways() {
    let (probe, _upstream, gateway) = pair().await;
    let mut wire = Wire::new(&gateway.url);
    wire.initialize().await;
    let read = json!({"jsonrpc": "2.0", "id": 1, "method": "resources/read", "params": {"uri": "probe://static"}});
    for _ in 0..3 {
        let answer = wire.post(read.clone()).await;
        assert_eq!(
            answer.response()["result"]["contents"][0]["text"],
            "static text"
        );
    }
    assert_eq!(
        probe.reads.load(Ordering::SeqCst),
        1,
        "two of three reads were cache hits"
    );

    // No session, an unknown one, a malformed message: the edge says so.
    let mut stranger = wire.clone();
    stranger.session = None;
    assert_eq!(
        stranger.post(read.clone()).await.status,
        StatusCode::BAD_REQUEST
    );
    stranger.session = Some(http::HeaderValue::from_static("nope"));
    assert_eq!(
        stranger.post(read.clone()).await.status,
        StatusCode::NOT_FOUND
    );
    let garbage = wire
        .send(wire.request(Method::POST, bytes::Bytes::from_static(b"{oops")))
        .await;
    assert_eq!(garbage.response()["error"]["code"], -32700);

    let ping = wire
        .post(json!({"jsonrpc": "2.0", "id": "p", "method": "ping"}))
        .await;
    assert_eq!(
        ping.response(),
        &json!({"jsonrpc": "2.0", "id": "p", "result": {}})
    );

    let deleted = wire
        .send(wire.request(Method::DELETE, bytes::Bytes::new()))
        .await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT);
    assert_eq!(
        wire.post(read).await.status,
        StatusCode::NOT_FOUND,
        "the session is gone"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_and_stats_are_per_upstream() {
    let (_probe, _upstream, gateway) = pair().await;
    let mut wire = Wire::new(&gateway.url);
    wire.initialize().await;
    let mut side = Wire::new(&format!("{}/healthz", gateway.base));
    side.session = None;
    let health = side
        .send(side.request(Method::GET, bytes::Bytes::new()))
        .await;
    assert_eq!(health.status, StatusCode::OK);
    let health = &health.messages[0];
    assert_eq!(health["upstreams"]["probe"]["status"], "ok", "{health}");
    assert_eq!(health["upstreams"]["probe"]["breaker"], "closed");
    assert_eq!(health["sessions"], 1);

    side.url = format!("{}/stats", gateway.base);
    let stats = side
        .send(side.request(Method::GET, bytes::Bytes::new()))
        .await;
    let stats = &stats.messages[0];
    assert!(
        stats["upstreams"]["probe"]["requests_total"]
            .as_u64()
            .unwrap()
            >= 1,
        "{stats}"
    );
    assert!(stats["cache"]["misses"].is_u64());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_lets_a_forwarded_call_in_flight_finish() {
    let upstream = upstream(mcp_testkit::DemoHandler::default()).await;
    let gateway = gateway(&config([("demo", UpstreamConfig::http(&upstream.url))])).await;
    let mut wire = Wire::new(&gateway.url);
    wire.initialize().await;
    let call = tokio::spawn(async move { wire.call(7, "slow", json!({"ms": 1500})).await });
    tokio::time::sleep(Duration::from_millis(200)).await;
    let shutdown_started = Instant::now();
    assert!(
        gateway.shut_down(Duration::from_secs(10)).await,
        "the gateway stopped by itself"
    );
    let took = shutdown_started.elapsed();
    let answer = call.await.unwrap();
    assert_eq!(
        answer.response()["result"]["content"][0]["text"],
        "slept 1500 ms",
        "the call in flight was answered: {}",
        answer.text
    );
    // Not counted as in flight, the call would be cut a second after the
    // shutdown began, when the server drops what connections are left.
    assert!(
        took >= Duration::from_millis(1100),
        "it waited for the call: {took:?}"
    );
}
