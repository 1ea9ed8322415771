//! Hostile input over real HTTP on loopback, against both servers of this
//! crate: the `HttpServer` helper (rmcp's Streamable HTTP in front of a
//! stacked handler) and the gateway (the stack in front of an upstream).
//! Oversized bodies and params, oversized answers, deep nesting, invalid
//! UTF-8 and forged cursors each get a clear error, and the server goes on
//! serving.

#![cfg(feature = "gateway")]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests fail loudly"
)]

mod gateway_support;

use std::time::Duration;

use bytes::Bytes;
use gateway_support::{Running, Wire, config, gateway, upstream};
use http::{Method, StatusCode};
use mcp_stack::{
    McpStack,
    config::{HttpConfig, StackConfig},
    gateway::UpstreamConfig,
    serve::HttpServer,
};
use mcp_testkit::DemoHandler;
use serde_json::json;
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{TcpListener, TcpStream},
};

/// Request bodies over this are refused.
const MAX_BODY: usize = 1 << 20;
/// Answers over this are refused whole (chunking's message limit).
const MAX_MESSAGE: usize = 128 << 10;

/// The stack both servers run: small limits, paging and chunking on.
fn stack_config() -> StackConfig {
    let mut stack = StackConfig::default();
    stack.metrics.prometheus = false;
    stack.chunking.max_chunk_bytes = Some(16 << 10);
    stack.chunking.max_message_bytes = Some(MAX_MESSAGE);
    stack.pagination.page_size = Some(2);
    stack.http.max_body_bytes = MAX_BODY;
    stack
}

/// The `HttpServer` helper on loopback, stopped on drop.
struct Served {
    url: String,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

impl Drop for Served {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// The `HttpServer` helper with the stack around the demo server.
async fn http_server() -> Served {
    let config = stack_config();
    let stack = McpStack::from_config(&config).unwrap().build().unwrap();
    let handler = stack.wrap(DemoHandler::default());
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(async move {
        let _ = HttpServer::new(handler)
            .stack(&stack)
            .config(HttpConfig {
                max_body_bytes: MAX_BODY,
                ..HttpConfig::default()
            })
            .serve(listener, async move {
                let _ = stopped.await;
            })
            .await;
    });
    Served {
        url: format!("http://{address}/mcp"),
        stop: Some(stop),
    }
}

/// The gateway with the same stack, in front of the demo server; and the
/// upstream, which must outlive it.
async fn gateway_server() -> (Running, Running) {
    let upstream = upstream(DemoHandler::default()).await;
    let mut config = config([("demo", UpstreamConfig::http(&upstream.url))]);
    config.stack = stack_config();
    (gateway(&config).await, upstream)
}

/// A session on `server`.
async fn session(url: &str) -> Wire {
    let mut wire = Wire::new(url);
    wire.initialize().await;
    wire
}

async fn post_bytes(wire: &Wire, body: impl Into<Bytes>) -> gateway_support::Answer {
    wire.send(wire.request(Method::POST, body.into())).await
}

/// The server still answers: a hostile request cost it nothing lasting.
async fn still_serves(wire: &Wire) {
    let answer = wire
        .post(json!({"jsonrpc": "2.0", "id": 99, "method": "ping"}))
        .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    assert_eq!(answer.response()["id"], 99, "{}", answer.text);
}

/// What a server answers a body that claims `claimed` bytes of which only
/// `sent` arrive: the status line and the rest of the answer, read while
/// the client still has most of its body to send.
async fn claim_and_stall(url: &str, session: &str, claimed: usize, sent: usize) -> String {
    let authority = url
        .strip_prefix("http://")
        .and_then(|rest| rest.split('/').next())
        .unwrap();
    let mut stream = TcpStream::connect(authority).await.unwrap();
    let head = format!(
        "POST /mcp HTTP/1.1\r\nHost: {authority}\r\nContent-Type: application/json\r\n\
         Accept: application/json, text/event-stream\r\nMcp-Session-Id: {session}\r\n\
         Mcp-Protocol-Version: 2025-11-25\r\nContent-Length: {claimed}\r\n\r\n"
    );
    let (mut reader, mut writer) = stream.split();
    let body = {
        let mut body = br#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","arguments":{"text":""#.to_vec();
        body.resize(sent, b'x');
        body
    };
    let send = async {
        // The server may answer and close while the body is still going
        // out: a failed write ends the sending, not the reading.
        if writer.write_all(head.as_bytes()).await.is_ok() {
            let _ = writer.write_all(&body).await;
        }
        // Then stall: the rest of the claimed body never comes.
        std::future::pending::<()>().await;
    };
    let mut answer = Vec::new();
    let read = async {
        let mut buffer = [0; 4096];
        loop {
            let read = reader.read(&mut buffer).await.unwrap_or(0);
            if read == 0 {
                break;
            }
            answer.extend_from_slice(&buffer[..read]);
            if answer.windows(4).any(|window| window == b"\r\n\r\n") && answer.ends_with(b"\n") {
                break;
            }
        }
    };
    let answered = tokio::time::timeout(Duration::from_secs(10), async {
        tokio::select! {
            () = send => {}
            () = read => {}
        }
    })
    .await;
    assert!(
        answered.is_ok(),
        "no answer before the body was complete: the server waited for {claimed} bytes"
    );
    String::from_utf8_lossy(&answer).into_owned()
}

fn session_id(wire: &Wire) -> String {
    wire.session.as_ref().unwrap().to_str().unwrap().to_owned()
}

/// A JSON-RPC error code from an answer, wherever the server put it.
fn error_code(answer: &gateway_support::Answer) -> Option<i64> {
    answer.response()["error"]["code"].as_i64()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bodies_over_the_limit_are_refused_before_they_are_read() {
    let (gateway, _upstream) = gateway_server().await;
    let http = http_server().await;
    for url in [&http.url, &gateway.url] {
        let wire = session(url).await;
        // 100 MiB claimed, a little over the limit sent.
        let answer = claim_and_stall(url, &session_id(&wire), 100 << 20, MAX_BODY + 4096).await;
        assert!(answer.starts_with("HTTP/1.1 413"), "{url}: {answer}");
        assert!(
            answer.contains(&format!("request body exceeds {MAX_BODY} bytes")),
            "the limit is named: {answer}"
        );
        still_serves(&wire).await;

        // A whole body over the limit, with no length claimed up front.
        let body = format!(
            r#"{{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{{"name":"echo","arguments":{{"text":"{}"}}}}}}"#,
            "x".repeat(MAX_BODY)
        );
        let answer = post_bytes(&wire, body).await;
        assert_eq!(
            answer.status,
            StatusCode::PAYLOAD_TOO_LARGE,
            "{}",
            answer.text
        );
        assert!(
            answer
                .text
                .contains(&format!("request body exceeds {MAX_BODY} bytes")),
            "the limit is named: {}",
            answer.text
        );
        still_serves(&wire).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn params_over_their_limit_are_invalid_params_naming_the_limit() {
    // The gateway checks params apart from the body (4 MiB, rmcp's body
    // limit): let the body be larger so the params limit is the one hit.
    let upstream = upstream(DemoHandler::default()).await;
    let mut config = config([("demo", UpstreamConfig::http(&upstream.url))]);
    config.stack.http.max_body_bytes = 8 << 20;
    let gateway = gateway(&config).await;
    let wire = session(&gateway.url).await;
    let text = "x".repeat(5 << 20);
    let answer = wire.call(3, "echo", json!({ "text": text })).await;
    assert_eq!(
        answer.status,
        StatusCode::BAD_REQUEST,
        "{:.300}",
        answer.text
    );
    let error = &answer.response()["error"];
    assert_eq!(error["code"], -32602, "{error}");
    assert_eq!(error["data"]["limitBytes"], 4 << 20, "{error}");
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .contains("exceed the limit of 4194304 bytes"),
        "{error}"
    );
    assert_eq!(answer.response()["id"], 3);
    still_serves(&wire).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn answers_over_the_message_limit_are_too_large_never_cut() {
    let (gateway, _upstream) = gateway_server().await;
    let http = http_server().await;
    for url in [&http.url, &gateway.url] {
        let wire = session(url).await;
        let text = "y".repeat(MAX_MESSAGE + (16 << 10));
        let answer = wire.call(4, "echo", json!({ "text": text })).await;
        assert_eq!(answer.status, StatusCode::OK, "{:.300}", answer.text);
        assert!(
            answer.text.len() < MAX_MESSAGE,
            "nothing of the answer is sent: {} bytes",
            answer.text.len()
        );
        let result = &answer.response()["result"];
        // A rejected tool call reaches the model as a tool error saying why.
        assert_eq!(result["isError"], true, "{}: {:.300}", url, answer.text);
        let message = result["content"][0]["text"].as_str().unwrap_or_default();
        assert!(
            message.contains(&format!("exceeds the limit of {MAX_MESSAGE} bytes")),
            "{}: {message}",
            url
        );
        still_serves(&wire).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upstream_answers_over_the_gateways_limit_are_too_large() {
    let upstream = upstream(DemoHandler::default()).await;
    let mut config = config([("demo", UpstreamConfig::http(&upstream.url))]);
    config.gateway.max_response_bytes = 32 << 10;
    let gateway = gateway(&config).await;
    let wire = session(&gateway.url).await;
    let answer = wire
        .call(5, "echo", json!({ "text": "z".repeat(48 << 10) }))
        .await;
    assert!(
        answer.text.len() < 32 << 10,
        "nothing of the answer is sent: {} bytes",
        answer.text.len()
    );
    let response = answer.response();
    let said = response["error"]["message"]
        .as_str()
        .or_else(|| response["result"]["content"][0]["text"].as_str())
        .unwrap_or_default()
        .to_owned();
    assert!(
        said.contains("32768"),
        "the limit is named: {:.300}",
        answer.text
    );
    still_serves(&wire).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deep_nesting_is_a_clear_error_not_a_stack_overflow() {
    let (gateway, _upstream) = gateway_server().await;
    let http = http_server().await;
    let depth = 100_000;

    // Nesting past the parser's depth is not JSON it reads: -32700.
    let wire = session(&http.url).await;
    let inside = format!(
        r#"{{"jsonrpc":"2.0","id":6,"method":"tools/call","params":{{"name":"echo","arguments":{{"text":{}1{}}}}}}}"#,
        "[".repeat(depth),
        "]".repeat(depth)
    );
    for body in ["[".repeat(depth), inside.clone()] {
        let answer = post_bytes(&wire, body).await;
        assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{}", answer.text);
        assert_eq!(error_code(&answer), Some(-32700), "{}", answer.text);
        let message = answer.response()["error"]["message"].as_str().unwrap();
        assert!(message.contains("recursion limit exceeded"), "{message}");
    }
    still_serves(&wire).await;

    // The gateway reads a bare array as a batch, which MCP dropped; params
    // it forwards unread, and says the upstream refused them.
    let wire = session(&gateway.url).await;
    let answer = post_bytes(&wire, "[".repeat(depth)).await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{}", answer.text);
    assert_eq!(error_code(&answer), Some(-32600), "{}", answer.text);
    let answer = post_bytes(&wire, inside).await;
    assert_eq!(answer.response()["id"], 6, "{}", answer.text);
    let message = answer.response()["error"]["message"].as_str().unwrap();
    assert!(message.starts_with("upstream demo:"), "{message}");
    still_serves(&wire).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_utf8_is_a_parse_error() {
    let (gateway, _upstream) = gateway_server().await;
    let http = http_server().await;
    for url in [&http.url, &gateway.url] {
        let wire = session(url).await;
        let mut body = br#"{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"echo","arguments":{"text":""#.to_vec();
        body.extend_from_slice(b"\xff\xfe\xc3(");
        body.extend_from_slice(br#""}}}"#);
        let answer = post_bytes(&wire, body).await;
        assert_eq!(
            answer.status,
            StatusCode::BAD_REQUEST,
            "{url}: {}",
            answer.text
        );
        assert_eq!(error_code(&answer), Some(-32700), "{url}: {}", answer.text);
        let message = answer.response()["error"]["message"].as_str().unwrap();
        assert!(message.contains("invalid unicode code point"), "{message}");
        still_serves(&wire).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_cursors_are_invalid_params() {
    let (gateway, _upstream) = gateway_server().await;
    let http = http_server().await;
    for url in [&http.url, &gateway.url] {
        let wire = session(url).await;
        let genuine = wire
            .post(json!({"jsonrpc": "2.0", "id": 8, "method": "tools/list"}))
            .await;
        let next = genuine.response()["result"]["nextCursor"]
            .as_str()
            .map(str::to_owned);
        let next = next.unwrap_or_else(|| panic!("{}: a page of 2 tools: {}", url, genuine.text));
        let mut altered = next.clone().into_bytes();
        altered[4] = if altered[4] == b'A' { b'B' } else { b'A' };
        for cursor in [
            String::from_utf8(altered).unwrap(),
            "100".into(),
            "%%%".into(),
            "A".repeat(70_000),
        ] {
            let answer = wire
                .post(json!({"jsonrpc": "2.0", "id": 9, "method": "tools/list", "params": {"cursor": cursor}}))
                .await;
            assert_eq!(
                error_code(&answer),
                Some(-32602),
                "{}: {:.300}",
                url,
                answer.text
            );
            let message = answer.response()["error"]["message"]
                .as_str()
                .unwrap_or_default();
            assert!(
                message.contains("invalid cursor for tools/list"),
                "{message}"
            );
        }

        for uri in [
            "demo://static/readme#mcp-chunk=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
            "demo://static/readme#mcp-chunk=not base64",
            "demo://generated/1000#mcp-chunk=",
        ] {
            let answer = wire
                .post(json!({"jsonrpc": "2.0", "id": 10, "method": "resources/read", "params": {"uri": uri}}))
                .await;
            assert_eq!(
                error_code(&answer),
                Some(-32602),
                "{}: {uri}: {:.300}",
                url,
                answer.text
            );
            let message = answer.response()["error"]["message"]
                .as_str()
                .unwrap_or_default();
            assert!(message.contains("invalid cursor"), "{uri}: {message}");
        }
        still_serves(&wire).await;
    }
}
