//! The demo server itself (`examples/full_stack`), started on a free
//! loopback port and driven over HTTP by rmcp's client: every tool and
//! resource of its contract, a cache hit on a slow read, and the side
//! routes that show it.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests fail loudly"
)]

use std::{
    net::TcpListener,
    path::PathBuf,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use mcp_service::Principal;
use mcp_stack::client::HttpClient;
use mcp_stream::ResourceReader;
use rmcp::{
    ClientCacheConfig,
    model::{CallToolRequestParams, ReadResourceRequestParams, ResourceContents},
    service::RunningService,
};
use serde_json::{Value, json};

/// The demo binary, killed on drop.
struct Demo {
    child: Child,
    address: String,
}

impl Drop for Demo {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `cargo test` builds the examples next to the test binaries' directory.
fn demo_binary() -> PathBuf {
    let test = std::env::current_exe().unwrap();
    let profile = test.parent().and_then(|deps| deps.parent()).unwrap();
    let binary = profile.join("examples").join("full_stack");
    assert!(
        binary.exists(),
        "{} is missing: `cargo test --workspace` builds it (or `cargo build --examples`)",
        binary.display()
    );
    binary
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

async fn get(address: &str, path: &str) -> (u16, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(address).await.unwrap();
    let request = format!("GET {path} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = Vec::new();
    stream.read_to_end(&mut response).await.unwrap();
    let response = String::from_utf8_lossy(&response).into_owned();
    let status = response[9..12].parse().unwrap();
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, body)| body.to_owned())
        .unwrap_or_default();
    (status, body)
}

async fn start(extra: &[&str]) -> Demo {
    let address = format!("127.0.0.1:{}", free_port());
    let child = Command::new(demo_binary())
        .args(["--listen", &address])
        .args(extra)
        .env_remove("MCP_REDIS_URL")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let demo = Demo { child, address };
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if tokio::net::TcpStream::connect(&demo.address).await.is_ok()
            && get(&demo.address, "/healthz").await.0 == 200
        {
            return demo;
        }
        assert!(
            Instant::now() < deadline,
            "the demo did not answer /healthz"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn client(demo: &Demo, token: &str) -> RunningService<rmcp::RoleClient, ()> {
    let session = HttpClient::new()
        .endpoint(&format!("http://{}/mcp", demo.address))
        .unwrap()
        .bearer_token(token)
        .connect(())
        .await
        .unwrap();
    session
        .peer()
        .set_response_cache_config(ClientCacheConfig::disabled())
        .await;
    session
}

async fn call(
    session: &RunningService<rmcp::RoleClient, ()>,
    tool: &str,
    arguments: Value,
) -> Result<String, String> {
    let params = CallToolRequestParams::new(tool.to_owned())
        .with_arguments(arguments.as_object().cloned().unwrap_or_default());
    match session.call_tool(params).await {
        Ok(result) if result.is_error != Some(true) => Ok(serde_json::to_value(&result.content)
            .unwrap()[0]["text"]
            .as_str()
            .unwrap()
            .to_owned()),
        Ok(result) => Err(serde_json::to_value(&result.content).unwrap().to_string()),
        Err(error) => Err(error.to_string()),
    }
}

async fn read_text(session: &RunningService<rmcp::RoleClient, ()>, uri: &str) -> String {
    let result = session
        .read_resource(ReadResourceRequestParams::new(uri))
        .await
        .unwrap();
    match &result.contents[0] {
        ResourceContents::TextResourceContents { text, .. } => text.clone(),
        other => panic!("{uri}: expected text, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_keeps_its_contract_over_http() {
    let demo = start(&[]).await;
    let alice = client(&demo, "alice").await;
    let bob = client(&demo, "bob").await;

    let tools = alice.list_all_tools().await.unwrap();
    let names: Vec<_> = tools.iter().map(|tool| tool.name.to_string()).collect();
    assert_eq!(names, ["echo", "slow", "flaky", "whoami"]);
    let slow = tools.iter().find(|tool| tool.name == "slow").unwrap();
    assert_eq!(
        slow.annotations.as_ref().and_then(|a| a.read_only_hint),
        Some(true)
    );

    assert_eq!(
        call(&alice, "echo", json!({"text": "hi"})).await.unwrap(),
        "hi"
    );
    assert_eq!(
        call(&alice, "slow", json!({"ms": 30})).await.unwrap(),
        "slept 30 ms"
    );
    let started = Instant::now();
    assert_eq!(
        call(&bob, "slow", json!({"ms": 30})).await.unwrap(),
        "slept 30 ms"
    );
    assert!(
        started.elapsed() < Duration::from_millis(25),
        "slow is cached and shared"
    );
    assert_eq!(
        call(&alice, "flaky", json!({"fail_rate": 0.0}))
            .await
            .unwrap(),
        "the flaky backend answered"
    );
    let failed = call(&alice, "flaky", json!({"fail_rate": 1.0}))
        .await
        .unwrap_err();
    assert!(failed.contains("the flaky backend failed"), "{failed}");
    let refused = call(&alice, "flaky", json!({"fail_rate": 2.0}))
        .await
        .unwrap_err();
    assert!(
        refused.contains("fail_rate must be between 0 and 1"),
        "{refused}"
    );
    let alice_principal = Principal::from_authorization(b"Bearer alice").to_string();
    assert_eq!(
        call(&alice, "whoami", json!({})).await.unwrap(),
        alice_principal
    );

    assert_eq!(
        read_text(&alice, "demo://static/hello").await,
        "Hello from the mcp-stack demo."
    );
    assert_eq!(
        read_text(&alice, "demo://private/profile").await,
        format!("profile of {alice_principal}")
    );
    let bob_principal = Principal::from_authorization(b"Bearer bob").to_string();
    assert_eq!(
        read_text(&bob, "demo://private/profile").await,
        format!("profile of {bob_principal}")
    );

    assert_eq!(read_text(&alice, "demo://slow/200").await, "took 200 ms");
    let started = Instant::now();
    assert_eq!(read_text(&bob, "demo://slow/200").await, "took 200 ms");
    let second = started.elapsed();
    assert!(
        second < Duration::from_millis(20),
        "the second read is a cache hit: {second:?}"
    );

    // 5 MiB in chunks of at most 4 MiB: two reads, reassembled byte for byte.
    let blob = ResourceReader::new(alice.peer())
        .read("demo://blob/5242880")
        .await
        .unwrap();
    assert_eq!(blob.bytes.len(), 5 << 20);
    let expected = |position: u64| (position.wrapping_mul(31) ^ (position >> 8)) as u8;
    assert!(
        blob.bytes
            .iter()
            .enumerate()
            .all(|(at, byte)| *byte == expected(at as u64))
    );
    assert!(blob.chunks >= 2, "{} chunks", blob.chunks);

    let (status, stats) = get(&demo.address, "/stats").await;
    assert_eq!(status, 200);
    let stats: Value = serde_json::from_str(&stats).unwrap();
    assert!(stats["cache"]["hits"].as_u64().unwrap() >= 2, "{stats}");
    assert!(stats["requests"].as_u64().unwrap() >= 15, "{stats}");
    assert_eq!(stats["breakers"]["default"], "closed");
    let (status, metrics) = get(&demo.address, "/metrics").await;
    assert_eq!(status, 200);
    assert!(
        metrics.contains("mcp_server_operation_duration_seconds_bucket{"),
        "{metrics}"
    );
    assert!(
        metrics.contains(r#"mcp_cache_requests_total{cache="cache",tier="l1",result="hit"}"#),
        "{metrics}"
    );
    assert!(
        !metrics.contains(&alice_principal),
        "no principals in metrics"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_bare_demo_serves_the_same_without_the_layers() {
    let demo = start(&["--no-stack"]).await;
    let alice = client(&demo, "alice").await;
    assert_eq!(
        call(&alice, "echo", json!({"text": "hi"})).await.unwrap(),
        "hi"
    );
    read_text(&alice, "demo://slow/100").await;
    let started = Instant::now();
    read_text(&alice, "demo://slow/100").await;
    assert!(
        started.elapsed() >= Duration::from_millis(100),
        "nothing cached"
    );
    assert_eq!(get(&demo.address, "/stats").await.0, 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_serves_the_stack_over_stdio_too() {
    use rmcp::ServiceExt;
    let mut child = tokio::process::Command::new(demo_binary())
        .arg("--stdio")
        .env_remove("MCP_REDIS_URL")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let stdin = child.stdin.take().unwrap();
    let session = ().serve((stdout, stdin)).await.unwrap();
    session
        .peer()
        .set_response_cache_config(ClientCacheConfig::disabled())
        .await;
    assert_eq!(
        call(&session, "echo", json!({"text": "over stdio"}))
            .await
            .unwrap(),
        "over stdio"
    );
    assert_eq!(
        call(&session, "whoami", json!({})).await.unwrap(),
        "anonymous"
    );
    read_text(&session, "demo://slow/150").await;
    let started = Instant::now();
    read_text(&session, "demo://slow/150").await;
    assert!(
        started.elapsed() < Duration::from_millis(100),
        "the stack caches over stdio too"
    );
    session.cancel().await.unwrap();
    let _ = child.kill().await;
}
