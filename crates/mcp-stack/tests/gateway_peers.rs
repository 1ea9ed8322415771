//! The gateway in front of real third-party MCP servers, installed from
//! their registries on first use (see `peers/mod.rs`): a server on the
//! Python SDK and the TypeScript reference server, each over stdio and over
//! Streamable HTTP on loopback. For each of the four, what a client sees
//! through the gateway is what it sees directly: every tool with the same
//! schema and annotations, every call with the same result, progress,
//! cancellation reaching the server, a `list_changed` clearing the cached
//! list. Then a killed upstream: calls fail fast, the breaker opens, and the
//! gateway recovers by itself once the upstream is back.
//!
//! Without pip or npm the tests print `SKIPPED: ...` and pass, unless
//! `MCP_TEST_REQUIRE_PEERS=1`.

#![cfg(feature = "gateway")]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests fail loudly"
)]

mod gateway_support;
mod peers;

use std::{
    collections::BTreeMap,
    future::Future,
    time::{Duration, Instant},
};

use gateway_support::Running;
use mcp_stack::{
    config::{ScopeConfig, TimeSpan},
    gateway::{GatewayConfig, UpstreamConfig},
};
use peers::{
    Exchange, HttpSession, Installed, Peer, Server, StateDir, StdioClient, Transport, free_port,
};
use serde_json::{Value, json};

/// Where the gateway's cache marks what it served.
const HIT_MARKER: &str = "dev.mcp-stack/cache";

/// The gateway for one upstream named `peer`: lists cached (third-party
/// servers give no `cacheScope`, so the operator says public) and hits
/// marked, so a test can tell a cached list from a fresh one.
fn gateway_config(upstream: UpstreamConfig) -> GatewayConfig {
    let mut config = gateway_support::config([("peer", upstream)]);
    config.stack.cache.assume_scope = Some(ScopeConfig::Public);
    config.stack.cache.hit_marker = true;
    config
}

/// One of the four upstream setups, with a direct client and a client
/// through the gateway. Everything it started stops when it is dropped.
struct Setup {
    server: Server,
    transport: Transport,
    /// What the upstream the gateway talks to records.
    upstream_state: StateDir,
    /// What the directly reached upstream records (the same dir over HTTP,
    /// where both reach one process).
    direct_state: Option<StateDir>,
    direct: Peer,
    direct_init: Value,
    through: Peer,
    through_init: Value,
    _gateway: Running,
    _http: Option<peers::Process>,
}

impl Setup {
    async fn start(installed: &'static Installed, server: Server, transport: Transport) -> Self {
        let label = format!("{server:?}-{transport:?}").to_lowercase();
        let upstream_state = StateDir::new(&label);
        let (direct, direct_init, direct_state, http, upstream) = match transport {
            Transport::Http => {
                let port = free_port();
                let process = installed.serve_http(port, &upstream_state).await;
                let url = format!("http://127.0.0.1:{port}/mcp");
                let (session, init) = HttpSession::open(&url).await;
                (
                    Peer::Http(session),
                    init,
                    None,
                    Some(process),
                    UpstreamConfig::http(url),
                )
            }
            Transport::Stdio => {
                let direct_state = StateDir::new(&format!("{label}-direct"));
                let (program, args, env) = installed.command(Transport::Stdio, 0, &direct_state);
                let (client, init) = StdioClient::start(&program, &args, &env).await;
                let (program, args, env) = installed.command(Transport::Stdio, 0, &upstream_state);
                let mut upstream = UpstreamConfig::stdio(program, args);
                upstream.env = env.into_iter().collect::<BTreeMap<_, _>>();
                (
                    Peer::Stdio(client),
                    init,
                    Some(direct_state),
                    None,
                    upstream,
                )
            }
        };
        let gateway = gateway_support::gateway(&gateway_config(upstream)).await;
        let (through, through_init) = HttpSession::open(&gateway.url).await;
        Self {
            server,
            transport,
            upstream_state,
            direct_state,
            direct,
            direct_init,
            through: Peer::Http(through),
            through_init,
            _gateway: gateway,
            _http: http,
        }
    }

    fn through(&self) -> &HttpSession {
        match &self.through {
            Peer::Http(session) => session,
            Peer::Stdio(_) => unreachable!("the gateway is reached over HTTP"),
        }
    }

    /// `value` with what legitimately differs between the two upstreams
    /// the direct and the gateway client reach over stdio (their state
    /// dirs) replaced, and the gateway's cache marker removed.
    fn normalized(&self, value: &Value) -> Value {
        let mut value = value.clone();
        strip_marker(&mut value);
        let mut dirs = vec![self.upstream_state.path().display().to_string()];
        if let Some(direct) = &self.direct_state {
            dirs.push(direct.path().display().to_string());
        }
        replace_strings(&mut value, &dirs, "<state dir>");
        value
    }
}

fn strip_marker(value: &mut Value) {
    if let Some(meta) = value.get_mut("_meta").and_then(Value::as_object_mut) {
        meta.remove(HIT_MARKER);
        if meta.is_empty()
            && let Some(object) = value.as_object_mut()
        {
            object.remove("_meta");
        }
    }
}

fn replace_strings(value: &mut Value, from: &[String], to: &str) {
    match value {
        Value::String(text) => {
            for from in from {
                if text.contains(from.as_str()) {
                    *text = text.replace(from.as_str(), to);
                }
            }
        }
        Value::Array(items) => items
            .iter_mut()
            .for_each(|item| replace_strings(item, from, to)),
        Value::Object(map) => map
            .values_mut()
            .for_each(|item| replace_strings(item, from, to)),
        _ => {}
    }
}

/// The types of `value`, keeping its structure: what two answers share
/// when their values are random or timed.
fn shape(value: &Value) -> Value {
    match value {
        Value::Null => json!("null"),
        Value::Bool(_) => json!("bool"),
        Value::Number(_) => json!("number"),
        Value::String(_) => json!("string"),
        Value::Array(items) => Value::Array(items.iter().map(shape).collect()),
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(key, value)| (key.clone(), shape(value)))
                .collect(),
        ),
    }
}

/// The result or the error of a response.
fn outcome(response: &Value) -> &Value {
    response
        .get("result")
        .or_else(|| response.get("error"))
        .unwrap_or(response)
}

/// Every item of list `method` (`key` holds them), page by page.
async fn list_all(peer: &Peer, method: &str, key: &str) -> Vec<Value> {
    let mut items = Vec::new();
    let mut cursor: Option<String> = None;
    for _ in 0..100 {
        let params = match &cursor {
            Some(cursor) => json!({"cursor": cursor}),
            None => json!({}),
        };
        let exchange = peer.request(method, params).await;
        let result = &exchange.response["result"];
        let page = result[key]
            .as_array()
            .unwrap_or_else(|| panic!("{method}: {:?}", exchange.response));
        items.extend(page.iter().cloned());
        match result.get("nextCursor").and_then(Value::as_str) {
            Some(next) => cursor = Some(next.to_owned()),
            None => return items,
        }
    }
    panic!("{method} has over 100 pages");
}

fn names(tools: &[Value]) -> Vec<String> {
    tools
        .iter()
        .map(|tool| tool["name"].as_str().unwrap_or_default().to_owned())
        .collect()
}

/// How the results of a tool are compared.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Compare {
    /// Equal.
    Exact,
    /// Equal in shape: the values are random, timed or per session.
    Shape,
}

/// The `tools/call` params for `tool` of `server`, valid for its schema,
/// and how its results compare. Every tool a peer lists must be here, so a
/// tool the peer gains is not silently left out.
fn call_for(server: Server, tool: &str) -> (Value, Compare) {
    let call = |arguments: Value| json!({"name": tool, "arguments": arguments});
    let exact = |arguments: Value| (call(arguments), Compare::Exact);
    match (server, tool) {
        (Server::Python, "echo") => exact(json!({"text": "hello peers"})),
        (Server::Python, "add") => exact(json!({"a": 2, "b": 40})),
        (Server::Python, "progress") => exact(json!({"steps": 2})),
        (Server::Python, "slow") => exact(json!({"tag": "plain call", "seconds": 0.1})),
        (Server::Python, "grow") => exact(json!({"name": "grown-by-a-call"})),
        (Server::Everything, "echo") => exact(json!({"message": "hello peers"})),
        (Server::Everything, "get-annotated-message") => {
            exact(json!({"messageType": "error", "includeImage": true}))
        }
        // The environment of the process; over stdio the two processes
        // differ only in their state dirs, which are normalized away.
        (Server::Everything, "get-env") => exact(json!({})),
        (Server::Everything, "get-resource-links") => exact(json!({"count": 4})),
        // The resource says when it was made, to the second.
        (Server::Everything, "get-resource-reference") => (
            call(json!({"resourceType": "Text", "resourceId": 2})),
            Compare::Shape,
        ),
        (Server::Everything, "get-structured-content") => exact(json!({"location": "Chicago"})),
        (Server::Everything, "get-sum") => exact(json!({"a": 2, "b": 40})),
        (Server::Everything, "get-tiny-image") => exact(json!({})),
        (Server::Everything, "gzip-file-as-resource") => exact(json!({
            "name": "called.gz",
            "data": "data:text/plain;base64,aGVsbG8gcGVlcnM=",
            "outputType": "resource",
        })),
        // Each starts a timer of its own session and says so, naming the
        // session (over HTTP, the direct one and the gateway's differ).
        (Server::Everything, "toggle-simulated-logging" | "toggle-subscriber-updates") => {
            (call(json!({})), Compare::Shape)
        }
        (Server::Everything, "trigger-long-running-operation") => {
            exact(json!({"duration": 0.2, "steps": 2}))
        }
        // Task-augmented only (`taskSupport: required`): the answer is a
        // new task, whose id and timestamps are its own.
        (Server::Everything, "simulate-research-query") => {
            let mut params = call(json!({"topic": "gateways", "ambiguous": false}));
            params["task"] = json!({"ttl": 60_000});
            (params, Compare::Shape)
        }
        // Listed only to clients that declare these capabilities: the
        // test client answers sampling with a fixed reply (no model behind
        // it), declines elicitation and gives the same roots.
        (Server::Everything, "get-roots-list") => exact(json!({})),
        (Server::Everything, "trigger-sampling-request") => {
            exact(json!({"prompt": "say hi", "maxTokens": 16}))
        }
        (Server::Everything, "trigger-elicitation-request") => exact(json!({})),
        (server, tool) => panic!("{server:?} lists a tool the test has no call for: {tool}"),
    }
}

/// Runs `test` within `limit`, naming it when it overruns.
async fn bounded<F: Future<Output = ()>>(name: &str, limit: Duration, test: F) {
    let started = Instant::now();
    tokio::time::timeout(limit, test)
        .await
        .unwrap_or_else(|_| panic!("{name} took over {} s", limit.as_secs()));
    eprintln!("{name}: {} ms", started.elapsed().as_millis());
}

async fn same_as_direct(setup: &Setup) {
    let (direct, through) = (&setup.direct_init, &setup.through_init);
    assert_eq!(through["protocolVersion"], peers::PROTOCOL_VERSION);
    assert_eq!(direct["protocolVersion"], peers::PROTOCOL_VERSION);
    assert_eq!(through["capabilities"], direct["capabilities"]);
    assert_eq!(through["serverInfo"], direct["serverInfo"]);

    let direct_tools = list_all(&setup.direct, "tools/list", "tools").await;
    let through_tools = list_all(&setup.through, "tools/list", "tools").await;
    assert!(!direct_tools.is_empty());
    assert_eq!(
        names(&through_tools),
        names(&direct_tools),
        "the same tools, in order"
    );
    for (through, direct) in through_tools.iter().zip(&direct_tools) {
        assert_eq!(
            setup.normalized(through),
            setup.normalized(direct),
            "schema, annotations and all"
        );
    }

    eprintln!(
        "{:?}/{:?}: calling {:?}",
        setup.server,
        setup.transport,
        names(&direct_tools)
    );
    for tool in names(&direct_tools) {
        let (params, compare) = call_for(setup.server, &tool);
        let direct = setup.direct.request("tools/call", params.clone()).await;
        let through = setup.through.request("tools/call", params).await;
        assert!(
            direct.response.get("result").is_some(),
            "{tool} succeeds directly: {:?}",
            direct.response
        );
        let (direct, through) = (
            setup.normalized(outcome(&direct.response)),
            setup.normalized(outcome(&through.response)),
        );
        match compare {
            Compare::Exact => assert_eq!(through, direct, "{tool}"),
            Compare::Shape => assert_eq!(shape(&through), shape(&direct), "{tool}"),
        }
    }
}

/// The peer's tool that reports progress, with `steps` steps.
fn progress_call(server: Server, steps: u32, token: &str) -> Value {
    match server {
        Server::Python => json!({
            "name": "progress", "arguments": {"steps": steps},
            "_meta": {"progressToken": token},
        }),
        Server::Everything => json!({
            "name": "trigger-long-running-operation",
            "arguments": {"duration": f64::from(steps) * 0.1, "steps": steps},
            "_meta": {"progressToken": token},
        }),
    }
}

async fn progress_arrives(setup: &Setup) {
    let params = progress_call(setup.server, 3, "peer-progress");
    let direct = setup.direct.request("tools/call", params.clone()).await;
    let through = setup.through.request("tools/call", params).await;
    let progress = |exchange: &Exchange| -> Vec<Value> {
        exchange
            .progress()
            .into_iter()
            .map(|message| message["params"].clone())
            .collect()
    };
    let seen = progress(&through);
    assert_eq!(seen.len(), 3, "three steps: {:?}", through.before);
    assert!(
        seen.iter()
            .all(|params| params["progressToken"] == "peer-progress"),
        "under the client's token: {seen:?}"
    );
    assert_eq!(seen[2]["progress"], 3);
    assert_eq!(seen, progress(&direct), "the progress the peer sends");
    assert_eq!(
        setup.normalized(outcome(&through.response)),
        setup.normalized(outcome(&direct.response))
    );
}

async fn cancellation_reaches_the_upstream(setup: &Setup) {
    let through = setup.through().clone();
    let id = setup.through.next_id();
    let params = match setup.server {
        Server::Python => json!({"name": "slow", "arguments": {"tag": "cancel me", "seconds": 30}}),
        // Twenty steps of a second: the first progress says it runs.
        Server::Everything => progress_call(setup.server, 20, "cancel-me")
            .as_object()
            .map(|call| {
                let mut call = Value::Object(call.clone());
                call["arguments"] = json!({"duration": 20, "steps": 20});
                call
            })
            .unwrap(),
    };
    let (call, mut messages) = through.start("tools/call", params);
    match setup.server {
        Server::Python => assert!(
            eventually(Duration::from_secs(10), || setup
                .upstream_state
                .lines("started")
                .contains(&"cancel me".to_owned()))
            .await,
            "the slow call started"
        ),
        Server::Everything => {
            let first = tokio::time::timeout(Duration::from_secs(10), messages.recv())
                .await
                .expect("progress within 10 s");
            assert_eq!(first.unwrap()["method"], "notifications/progress");
        }
    }
    let cancelled = Instant::now();
    setup
        .through
        .notify(
            "notifications/cancelled",
            json!({"requestId": id, "reason": "the user changed their mind"}),
        )
        .await;
    let seen = || match setup.server {
        Server::Python => setup
            .upstream_state
            .lines("cancelled")
            .contains(&"cancel me".to_owned()),
        // The SDK got `notifications/cancelled` while the handler ran, so
        // it aborts it and never sends its result.
        Server::Everything => setup
            .upstream_state
            .lines("cancelled")
            .iter()
            .filter_map(|line| serde_json::from_str::<Value>(line).ok())
            .any(|record| record["running"] == true),
    };
    assert!(
        eventually(Duration::from_secs(10), seen).await,
        "the upstream saw the cancellation: {:?}",
        setup.upstream_state.lines("cancelled")
    );
    eprintln!(
        "{:?}/{:?}: the upstream saw the cancellation {} ms after the client sent it",
        setup.server,
        setup.transport,
        cancelled.elapsed().as_millis()
    );
    let answer = tokio::time::timeout(Duration::from_secs(10), call)
        .await
        .expect("the cancelled call ends within 10 s")
        .unwrap();
    assert!(
        answer.response.is_null(),
        "a cancelled request gets no response: {:?}",
        answer.response
    );
}

/// A list change the peer makes, and the list (method, key, item field,
/// value) where it shows.
async fn list_changed_clears_the_cache(setup: &Setup) {
    let (method, key, field, added, change) = match setup.server {
        Server::Python => (
            "tools/list",
            "tools",
            "name",
            "sprout".to_owned(),
            json!({"name": "grow", "arguments": {"name": "sprout"}}),
        ),
        // Registering a session resource sends resources/list_changed.
        Server::Everything => (
            "resources/list",
            "resources",
            "uri",
            "demo://resource/session/fresh.gz".to_owned(),
            json!({"name": "gzip-file-as-resource", "arguments": {
                "name": "fresh.gz",
                "data": "data:text/plain;base64,aGVsbG8gcGVlcnM=",
            }}),
        ),
    };
    let listed = |exchange: &Exchange| -> Vec<String> {
        exchange.response["result"][key]
            .as_array()
            .unwrap_or_else(|| panic!("{method}: {:?}", exchange.response))
            .iter()
            .filter_map(|item| item[field].as_str().map(ToOwned::to_owned))
            .collect()
    };
    let first = setup.through.request(method, json!({})).await;
    let again = setup.through.request(method, json!({})).await;
    assert!(!listed(&first).contains(&added));
    assert!(
        again.response["result"]["_meta"][HIT_MARKER].is_object()
            || again.response["result"]["_meta"][HIT_MARKER].is_string(),
        "the second list is served from the cache: {:?}",
        again.response["result"]["_meta"]
    );
    let changed = setup.through.request("tools/call", change).await;
    assert!(
        changed.response["result"].is_object(),
        "{:?}",
        changed.response
    );
    let started = Instant::now();
    let mut now = Vec::new();
    while started.elapsed() < Duration::from_secs(5) {
        now = listed(&setup.through.request(method, json!({})).await);
        if now.contains(&added) {
            eprintln!(
                "{:?}/{:?}: {added} listed {} ms after the change",
                setup.server,
                setup.transport,
                started.elapsed().as_millis()
            );
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("{added} is not listed 5 s after list_changed: {now:?}");
}

/// Polls `condition` every 10 ms for up to `within`.
async fn eventually(within: Duration, mut condition: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        if condition() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    condition()
}

async fn conformance(server: Server, transport: Transport) {
    let Some(installed) = peers::installed(server).await else {
        return;
    };
    let name = format!("{server:?} over {transport:?}");
    bounded(&name, Duration::from_secs(120), async {
        let setup = Setup::start(installed, server, transport).await;
        same_as_direct(&setup).await;
        progress_arrives(&setup).await;
        cancellation_reaches_the_upstream(&setup).await;
        list_changed_clears_the_cache(&setup).await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_sdk_server_over_stdio() {
    conformance(Server::Python, Transport::Stdio).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_sdk_server_over_http() {
    conformance(Server::Python, Transport::Http).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_everything_over_stdio() {
    conformance(Server::Everything, Transport::Stdio).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_everything_over_http() {
    conformance(Server::Everything, Transport::Http).await;
}

/// A breaker that opens after 3 failures in a row, for 1 s first.
fn breaker_config(upstream: UpstreamConfig) -> GatewayConfig {
    let mut config = gateway_config(upstream);
    config.stack.breaker.consecutive_failures = Some(3);
    config.stack.breaker.open_duration = Some(TimeSpan::secs(1));
    config.stack.breaker.max_open_duration = Some(TimeSpan::secs(2));
    config.stack.breaker.half_open_calls = Some(1);
    config
}

/// A call no layer caches or retries (the tool is not read-only).
fn plain_call() -> Value {
    json!({"name": "progress", "arguments": {"steps": 0}})
}

/// `/healthz` of the gateway, for upstream `peer`.
async fn health(gateway: &Running) -> Value {
    let mut wire = gateway_support::Wire::new(&format!("{}/healthz", gateway.base));
    wire.session = None;
    let answer = wire
        .send(wire.request(http::Method::GET, bytes::Bytes::new()))
        .await;
    answer.messages[0]["upstreams"]["peer"].clone()
}

/// After the upstream died: calls until the breaker rejects one, each
/// timed. Returns the slowest call and how many failed.
async fn calls_fail_fast_until_the_breaker_opens(through: &HttpSession) -> (Duration, usize) {
    let mut slowest = Duration::ZERO;
    for calls in 1..=20 {
        let started = Instant::now();
        let answer = through.request("tools/call", plain_call()).await;
        let took = started.elapsed();
        slowest = slowest.max(took);
        let result = &answer.response["result"];
        assert_eq!(
            result["isError"], true,
            "call {calls} fails: {:?}",
            answer.response
        );
        let text = result["content"][0]["text"].as_str().unwrap_or_default();
        assert!(
            took < Duration::from_millis(100),
            "call {calls} failed fast: {} ms ({text})",
            took.as_millis()
        );
        eprintln!("failed call {calls}: {} ms: {text}", took.as_millis());
        assert!(
            text.contains("upstream peer"),
            "the error names the upstream: {text}"
        );
        if text.contains("circuit open") {
            return (slowest, calls);
        }
        assert!(text.contains("unavailable"), "{text}");
    }
    panic!("the breaker did not open after 20 failures");
}

/// A 30 s call, once the upstream runs it.
async fn call_in_flight(
    through: &HttpSession,
    state: &StateDir,
) -> tokio::task::JoinHandle<Exchange> {
    let (call, _) = through.start(
        "tools/call",
        json!({"name": "slow", "arguments": {"tag": "in flight", "seconds": 30}}),
    );
    assert!(
        eventually(Duration::from_secs(10), || state
            .lines("started")
            .contains(&"in flight".to_owned()))
        .await,
        "the slow call started"
    );
    call
}

/// The call in flight when its upstream died fails at once, saying so;
/// returns how long after the kill.
async fn in_flight_fails(call: tokio::task::JoinHandle<Exchange>, killed: Instant) -> Duration {
    let answer = tokio::time::timeout(Duration::from_secs(5), call)
        .await
        .expect("the call in flight ends within 5 s of the kill")
        .unwrap();
    let took = killed.elapsed();
    let result = &answer.response["result"];
    assert_eq!(result["isError"], true, "{:?}", answer.response);
    let text = result["content"][0]["text"].as_str().unwrap_or_default();
    assert!(
        text.contains("upstream peer") && text.contains("unavailable"),
        "{text}"
    );
    assert!(
        took < Duration::from_millis(500),
        "the call in flight failed {} ms after the kill: {text}",
        took.as_millis()
    );
    eprintln!("in flight: {text}");
    took
}

/// Calls every 50 ms until one succeeds; returns when.
async fn recovered(through: &HttpSession, within: Duration) -> Instant {
    let deadline = Instant::now() + within;
    loop {
        let answer = through.request("tools/call", plain_call()).await;
        if answer.response["result"]["isError"] == false {
            assert_eq!(answer.response["result"]["content"][0]["text"], "0 steps");
            return Instant::now();
        }
        assert!(
            Instant::now() < deadline,
            "no recovery within {} s: {:?}",
            within.as_secs(),
            answer.response
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_stdio_child_fails_fast_and_the_gateway_restarts_it() {
    let Some(installed) = peers::installed(Server::Python).await else {
        return;
    };
    bounded("killed stdio child", Duration::from_secs(60), async {
        let state = StateDir::new("breaker-stdio");
        let (program, args, env) = installed.command(Transport::Stdio, 0, &state);
        let mut upstream = UpstreamConfig::stdio(program, args);
        upstream.env = env.into_iter().collect();
        let gateway = gateway_support::gateway(&breaker_config(upstream)).await;
        let (through, _) = HttpSession::open(&gateway.url).await;
        let answer = through.request("tools/call", plain_call()).await;
        assert_eq!(
            answer.response["result"]["isError"], false,
            "{:?}",
            answer.response
        );
        let pid = state.pid().expect("the child wrote its pid");
        assert_eq!(health(&gateway).await["pid"], pid);

        let in_flight = call_in_flight(&through, &state).await;
        peers::kill_pid(pid);
        let killed = Instant::now();
        let in_flight = in_flight_fails(in_flight, killed).await;
        let (slowest, failures) = calls_fail_fast_until_the_breaker_opens(&through).await;
        let opened = killed.elapsed();
        assert_eq!(health(&gateway).await["breaker"], "open");

        let back = recovered(&through, Duration::from_secs(20)).await;
        let health = health(&gateway).await;
        assert_eq!(health["restarts"], 1, "{health}");
        assert_ne!(health["pid"], pid, "a new child");
        assert_eq!(state.pid(), health["pid"].as_u64().map(|pid| pid as u32));
        eprintln!(
            "stdio: the call in flight failed {} ms after the kill",
            in_flight.as_millis()
        );
        eprintln!(
            "stdio: {failures} failed calls (slowest {} ms), breaker open {} ms after the kill, \
             recovered {} ms after the kill",
            slowest.as_millis(),
            opened.as_millis(),
            back.duration_since(killed).as_millis()
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_http_upstream_fails_fast_and_the_gateway_recovers_when_it_is_back() {
    let Some(installed) = peers::installed(Server::Python).await else {
        return;
    };
    bounded("killed HTTP upstream", Duration::from_secs(60), async {
        let state = StateDir::new("breaker-http");
        let port = free_port();
        let mut process = installed.serve_http(port, &state).await;
        let url = format!("http://127.0.0.1:{port}/mcp");
        let gateway = gateway_support::gateway(&breaker_config(UpstreamConfig::http(&url))).await;
        let (through, _) = HttpSession::open(&gateway.url).await;
        let answer = through.request("tools/call", plain_call()).await;
        assert_eq!(
            answer.response["result"]["isError"], false,
            "{:?}",
            answer.response
        );

        let in_flight = call_in_flight(&through, &state).await;
        process.kill().await;
        let killed = Instant::now();
        let in_flight = in_flight_fails(in_flight, killed).await;
        let (slowest, failures) = calls_fail_fast_until_the_breaker_opens(&through).await;
        let opened = killed.elapsed();
        assert_eq!(health(&gateway).await["breaker"], "open");

        let restarted = Instant::now();
        let _process = installed.serve_http(port, &state).await;
        let listening = restarted.elapsed();
        let back = recovered(&through, Duration::from_secs(20)).await;
        eprintln!(
            "http: the call in flight failed {} ms after the kill",
            in_flight.as_millis()
        );
        eprintln!(
            "http: {failures} failed calls (slowest {} ms), breaker open {} ms after the kill; \
             the new process listened after {} ms, the gateway served again {} ms after the \
             restart began, with the same client session",
            slowest.as_millis(),
            opened.as_millis(),
            listening.as_millis(),
            back.duration_since(restarted).as_millis()
        );
    })
    .await;
}

/// 2026-07-28 has no sessions: each request carries its envelope in
/// `_meta` and its routing in headers (`Mcp-Method`, `Mcp-Name`), which a
/// server of that version checks against the body.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_sdk_server_at_2026_07_28_answers_through_the_gateway_as_directly() {
    let Some(installed) = peers::installed(Server::Python).await else {
        return;
    };
    bounded("2026-07-28", Duration::from_secs(60), async {
        let state = StateDir::new("modern");
        let port = free_port();
        let _process = installed.serve_http(port, &state).await;
        let url = format!("http://127.0.0.1:{port}/mcp");
        let gateway = gateway_support::gateway(&gateway_config(UpstreamConfig::http(&url))).await;
        let direct = HttpSession::stateless(&url);
        let through = HttpSession::stateless(&gateway.url);
        for (method, params) in [
            ("server/discover", json!({})),
            ("tools/list", json!({})),
            (
                "tools/call",
                json!({"name": "add", "arguments": {"a": 2, "b": 40}}),
            ),
            (
                "tools/call",
                json!({"name": "echo", "arguments": {"text": "héllo"}}),
            ),
        ] {
            let direct = direct.modern(method, params.clone()).await;
            let through = through.modern(method, params).await;
            assert!(
                direct.response.get("result").is_some(),
                "{method} directly: {:?}",
                direct.response
            );
            let mut through = outcome(&through.response).clone();
            let mut direct = outcome(&direct.response).clone();
            strip_marker(&mut through);
            strip_marker(&mut direct);
            assert_eq!(through, direct, "{method}");
        }
    })
    .await;
}

/// Both peers behind one gateway, over stdio: their tools listed under
/// `NAME__`, each with its own schema; calls, progress, cancellation and a
/// list change reach the upstream the name says.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn both_peers_behind_one_gateway_are_namespaced() {
    let (Some(python), Some(everything)) = (
        peers::installed(Server::Python).await,
        peers::installed(Server::Everything).await,
    ) else {
        return;
    };
    bounded("namespaced", Duration::from_secs(90), async {
        let mut upstreams = Vec::new();
        let mut directs = Vec::new();
        let mut states = Vec::new();
        for (name, installed) in [("ev", everything), ("py", python)] {
            let direct_state = StateDir::new(&format!("namespaced-{name}-direct"));
            let (program, args, env) = installed.command(Transport::Stdio, 0, &direct_state);
            let (direct, _) = StdioClient::start(&program, &args, &env).await;
            directs.push((name, Peer::Stdio(direct)));
            let state = StateDir::new(&format!("namespaced-{name}"));
            let (program, args, env) = installed.command(Transport::Stdio, 0, &state);
            let mut upstream = UpstreamConfig::stdio(program, args);
            upstream.env = env.into_iter().collect();
            upstreams.push((name, upstream));
            states.push((direct_state, state));
        }
        let mut config = gateway_config(UpstreamConfig::default());
        config.upstreams.clear();
        for (name, upstream) in upstreams {
            config.upstreams.insert(name.to_owned(), upstream);
        }
        let gateway = gateway_support::gateway(&config).await;
        let (through, init) = HttpSession::open(&gateway.url).await;
        assert_eq!(init["serverInfo"]["name"], "mcp-stack-gateway");
        let through = Peer::Http(through);

        let merged = list_all(&through, "tools/list", "tools").await;
        let mut expected = Vec::new();
        for (name, direct) in &directs {
            for mut tool in list_all(direct, "tools/list", "tools").await {
                let own = tool["name"].as_str().unwrap().to_owned();
                tool["name"] = json!(format!("{name}__{own}"));
                expected.push(tool);
            }
        }
        let mut merged_names = names(&merged);
        let mut expected_names = names(&expected);
        merged_names.sort();
        expected_names.sort();
        assert_eq!(merged_names, expected_names);
        for tool in &expected {
            let listed = merged
                .iter()
                .find(|listed| listed["name"] == tool["name"])
                .unwrap();
            assert_eq!(
                &without_marker(listed),
                &without_marker(tool),
                "{}",
                tool["name"]
            );
        }

        for (call, expected) in [
            (
                json!({"name": "py__add", "arguments": {"a": 2, "b": 40}}),
                json!("42"),
            ),
            (
                json!({"name": "ev__get-sum", "arguments": {"a": 2, "b": 40}}),
                json!("The sum of 2 and 40 is 42."),
            ),
        ] {
            let answer = through.request("tools/call", call.clone()).await;
            assert_eq!(
                answer.response["result"]["content"][0]["text"], expected,
                "{call}: {:?}",
                answer.response
            );
        }

        let progress = through
            .request(
                "tools/call",
                json!({
                    "name": "ev__trigger-long-running-operation",
                    "arguments": {"duration": 0.3, "steps": 3},
                    "_meta": {"progressToken": "merged-progress"},
                }),
            )
            .await;
        let steps: Vec<&Value> = progress.progress();
        assert_eq!(steps.len(), 3, "{:?}", progress.before);
        assert!(
            steps
                .iter()
                .all(|step| step["params"]["progressToken"] == "merged-progress")
        );

        let grown = through
            .request(
                "tools/call",
                json!({"name": "py__grow", "arguments": {"name": "sprout"}}),
            )
            .await;
        assert_eq!(
            grown.response["result"]["content"][0]["text"],
            "added sprout"
        );
        let mut listed = Vec::new();
        for _ in 0..100 {
            listed = names(&list_all(&through, "tools/list", "tools").await);
            if listed.iter().any(|name| name == "py__sprout") {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert!(listed.iter().any(|name| name == "py__sprout"), "{listed:?}");
    })
    .await;
}

/// `value` without the gateway's cache marker.
fn without_marker(value: &Value) -> Value {
    let mut value = value.clone();
    strip_marker(&mut value);
    value
}

/// Clients of older versions: each peer negotiates the client's version
/// through the gateway as directly, and answers the same at it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn older_protocol_versions_are_negotiated_as_directly() {
    let (Some(python), Some(everything)) = (
        peers::installed(Server::Python).await,
        peers::installed(Server::Everything).await,
    ) else {
        return;
    };
    bounded("older versions", Duration::from_secs(90), async {
        let sum = |server| match server {
            Server::Python => json!({"name": "add", "arguments": {"a": 2, "b": 40}}),
            Server::Everything => json!({"name": "get-sum", "arguments": {"a": 2, "b": 40}}),
        };
        for (installed, transport) in [
            (python, Transport::Http),
            (everything, Transport::Http),
            (python, Transport::Stdio),
        ] {
            let server = installed.server;
            let state = StateDir::new("versions");
            let port = free_port();
            let (upstream, _process) = match transport {
                Transport::Http => {
                    let process = installed.serve_http(port, &state).await;
                    let url = format!("http://127.0.0.1:{port}/mcp");
                    (UpstreamConfig::http(url), Some(process))
                }
                Transport::Stdio => {
                    let (program, args, env) = installed.command(Transport::Stdio, 0, &state);
                    let mut upstream = UpstreamConfig::stdio(program, args);
                    upstream.env = env.into_iter().collect();
                    (upstream, None)
                }
            };
            let direct_url = upstream.url.clone();
            let gateway = gateway_support::gateway(&gateway_config(upstream)).await;
            for version in ["2025-06-18", "2025-03-26", "2024-11-05"] {
                let (direct, direct_init) = match &direct_url {
                    Some(url) => {
                        let (session, init) = HttpSession::open_at(url, version).await;
                        (Peer::Http(session), init)
                    }
                    None => {
                        let (program, args, env) = installed.command(Transport::Stdio, 0, &state);
                        let (client, init) =
                            StdioClient::start_at(&program, &args, &env, version).await;
                        (Peer::Stdio(client), init)
                    }
                };
                let (through, through_init) = HttpSession::open_at(&gateway.url, version).await;
                let through = Peer::Http(through);
                let what = format!("{server:?}/{transport:?} at {version}");
                assert_eq!(
                    through_init["protocolVersion"], direct_init["protocolVersion"],
                    "{what}"
                );
                assert_eq!(direct_init["protocolVersion"], version, "{what}");
                let direct_tools = list_all(&direct, "tools/list", "tools").await;
                let through_tools = list_all(&through, "tools/list", "tools").await;
                assert_eq!(
                    through_tools.iter().map(without_marker).collect::<Vec<_>>(),
                    direct_tools.iter().map(without_marker).collect::<Vec<_>>(),
                    "{what}"
                );
                let direct = direct.request("tools/call", sum(server)).await;
                let through = through.request("tools/call", sum(server)).await;
                assert!(direct.response.get("result").is_some(), "{what}");
                assert_eq!(
                    without_marker(outcome(&through.response)),
                    without_marker(outcome(&direct.response)),
                    "{what}"
                );
            }
        }
    })
    .await;
}
