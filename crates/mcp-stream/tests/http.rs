//! Over real HTTP on loopback: `json_compression` gzips rmcp's plain JSON
//! responses for clients that accept gzip, and leaves SSE streams alone.

#![cfg(all(feature = "http", feature = "rmcp"))]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests fail loudly"
)]

use std::{io::Read, net::SocketAddr, sync::Arc, time::Duration};

use mcp_testkit::DemoHandler;
use rmcp::transport::streamable_http_server::{
    StreamableHttpServerConfig, StreamableHttpService, session::local::LocalSessionManager,
};
use serde_json::{Value, json};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{TcpListener, TcpStream},
};

async fn serve(config: StreamableHttpServerConfig) -> (SocketAddr, tokio::task::JoinHandle<()>) {
    let mcp = StreamableHttpService::new(
        || Ok(DemoHandler::default()),
        Arc::new(LocalSessionManager::default()),
        config,
    );
    let app = axum::Router::new()
        .nest_service("/mcp", mcp)
        .layer(mcp_stream::http::json_compression());
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (addr, task)
}

struct Reply {
    head: String,
    body: Vec<u8>,
}

impl Reply {
    fn header(&self, name: &str) -> Option<&str> {
        self.head.lines().find_map(|line| {
            let (key, value) = line.split_once(':')?;
            key.eq_ignore_ascii_case(name).then(|| value.trim())
        })
    }

    /// The body without HTTP/1.1 chunked framing.
    fn payload(&self) -> Vec<u8> {
        if self.header("transfer-encoding") != Some("chunked") {
            return self.body.clone();
        }
        let (mut rest, mut payload) = (&self.body[..], Vec::new());
        loop {
            let line_end = rest.windows(2).position(|w| w == b"\r\n").unwrap();
            let size = std::str::from_utf8(&rest[..line_end]).unwrap();
            let size = usize::from_str_radix(size.split(';').next().unwrap().trim(), 16).unwrap();
            if size == 0 {
                return payload;
            }
            let start = line_end + 2;
            payload.extend_from_slice(&rest[start..start + size]);
            rest = &rest[start + size + 2..];
        }
    }
}

/// One POST over a fresh connection that asks for gzip.
async fn post(addr: SocketAddr, session: Option<&str>, body: &Value) -> Reply {
    let body = body.to_string();
    let mut head = format!(
        "POST /mcp HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\n\
         Accept: application/json, text/event-stream\r\nAccept-Encoding: gzip\r\n\
         MCP-Protocol-Version: 2025-11-25\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    if let Some(session) = session {
        head.push_str(&format!("Mcp-Session-Id: {session}\r\n"));
    }
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream
        .write_all(format!("{head}\r\n{body}").as_bytes())
        .await
        .unwrap();
    let mut response = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut response))
        .await
        .expect("the server answers and closes")
        .unwrap();
    let split = response.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    let head = String::from_utf8_lossy(&response[..split]).into_owned();
    assert!(head.starts_with("HTTP/1.1 2"), "{head}");
    Reply {
        head,
        body: response[split + 4..].to_vec(),
    }
}

fn initialize() -> Value {
    json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-11-25", "capabilities": {},
        "clientInfo": {"name": "gzip-test", "version": "0"}}})
}

fn read(uri: &str) -> Value {
    json!({"jsonrpc": "2.0", "id": 2, "method": "resources/read", "params": {"uri": uri}})
}

#[tokio::test]
async fn plain_json_responses_are_gzipped() {
    let config = StreamableHttpServerConfig::default()
        .with_legacy_session_mode(false)
        .with_json_response(true);
    let (addr, server) = serve(config).await;

    let reply = post(addr, None, &read("demo://generated/100000")).await;
    assert_eq!(reply.header("content-type"), Some("application/json"));
    assert_eq!(
        reply.header("content-encoding"),
        Some("gzip"),
        "{}",
        reply.head
    );
    let compressed = reply.payload();
    let mut json = String::new();
    flate2::read::GzDecoder::new(&compressed[..])
        .read_to_string(&mut json)
        .unwrap();
    let message: Value = serde_json::from_str(&json).unwrap();
    let text = message["result"]["contents"][0]["text"].as_str().unwrap();
    assert_eq!(text.len(), 100_000);
    assert!(
        compressed.len() * 10 < json.len(),
        "{} bytes for {}",
        compressed.len(),
        json.len()
    );

    // Small answers are not worth it.
    let reply = post(addr, None, &read("demo://static/readme")).await;
    assert_eq!(reply.header("content-encoding"), None, "{}", reply.head);
    server.abort();
}

#[tokio::test]
async fn event_streams_are_never_compressed() {
    let (addr, server) = serve(StreamableHttpServerConfig::default()).await;
    let reply = post(addr, None, &initialize()).await;
    let session = reply.header("mcp-session-id").unwrap().to_owned();
    let initialized = json!({"jsonrpc": "2.0", "method": "notifications/initialized"});
    post(addr, Some(&session), &initialized).await;

    let reply = post(addr, Some(&session), &read("demo://generated/100000")).await;
    assert_eq!(reply.header("content-type"), Some("text/event-stream"));
    assert_eq!(reply.header("content-encoding"), None, "{}", reply.head);
    let events = String::from_utf8(reply.payload()).unwrap();
    assert!(events.contains("0123456789abcdef"), "readable as sent");
    server.abort();
}
