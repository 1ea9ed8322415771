//! Over real HTTP on loopback: rmcp's Streamable HTTP service serves a
//! `StackedHandler`, and the layers see the HTTP request parts and the
//! principal derived from the `Authorization` header.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests fail loudly"
)]

use std::{
    net::SocketAddr,
    sync::{Arc, Mutex},
    time::Duration,
};

use mcp_service::{
    McpRequest, Principal,
    rmcp::{RmcpRequest, StackedHandler},
};
use mcp_testkit::DemoHandler;
use rmcp::transport::streamable_http_server::{
    StreamableHttpServerConfig, StreamableHttpService, session::local::LocalSessionManager,
};
use serde_json::{Value, json};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{TcpListener, TcpStream},
};
use tower::ServiceBuilder;

#[derive(Debug, Clone)]
struct Seen {
    method: String,
    has_parts: bool,
    principal: Option<Principal>,
}

async fn serve(seen: Arc<Mutex<Vec<Seen>>>) -> (SocketAddr, tokio::task::JoinHandle<()>) {
    let mcp = StreamableHttpService::new(
        move || {
            let seen = seen.clone();
            Ok(StackedHandler::new(
                DemoHandler::default(),
                ServiceBuilder::new().map_request(move |request: RmcpRequest| {
                    seen.lock().unwrap().push(Seen {
                        method: request.method().into(),
                        has_parts: request.http_parts().is_some(),
                        principal: request.principal(),
                    });
                    request
                }),
            ))
        },
        Arc::new(LocalSessionManager::default()),
        StreamableHttpServerConfig::default(),
    );
    let app = axum::Router::new().nest_service("/mcp", mcp);
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (addr, task)
}

/// One HTTP/1.1 POST over a fresh connection; returns the session header and
/// the JSON-RPC message in the body (plain JSON or one SSE `data:` line).
async fn post(
    addr: SocketAddr,
    session: Option<&str>,
    authorization: &str,
    body: &Value,
) -> (Option<String>, Option<Value>) {
    let body = body.to_string();
    let mut head = format!(
        "POST /mcp HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\n\
         Accept: application/json, text/event-stream\r\nAuthorization: {authorization}\r\n\
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
    let response = String::from_utf8_lossy(&response);
    let (head, body) = response.split_once("\r\n\r\n").unwrap();
    assert!(head.starts_with("HTTP/1.1 2"), "{head}");
    let session = head.lines().find_map(|line| {
        let (name, value) = line.split_once(':')?;
        name.eq_ignore_ascii_case("mcp-session-id")
            .then(|| value.trim().to_owned())
    });
    let message = body
        .lines()
        .filter_map(|line| line.strip_prefix("data:"))
        .chain(body.lines().filter(|line| line.starts_with('{')))
        .find_map(|data| serde_json::from_str::<Value>(data.trim()).ok())
        .filter(|message| message.get("id").is_some());
    (session, message)
}

#[tokio::test]
async fn http_parts_and_the_principal_reach_the_layers() {
    let seen: Arc<Mutex<Vec<Seen>>> = Arc::default();
    let (addr, server) = serve(seen.clone()).await;
    let auth = "Bearer alice-token";

    let initialize = json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-11-25", "capabilities": {},
        "clientInfo": {"name": "raw-http-test", "version": "0"}}});
    let (session, reply) = post(addr, None, auth, &initialize).await;
    let session = session.expect("a session id");
    assert_eq!(reply.unwrap()["result"]["protocolVersion"], "2025-11-25");

    let initialized = json!({"jsonrpc": "2.0", "method": "notifications/initialized"});
    post(addr, Some(&session), auth, &initialized).await;

    let whoami = json!({"jsonrpc": "2.0", "id": 2, "method": "tools/call",
        "params": {"name": "whoami", "arguments": {}}});
    let (_, reply) = post(addr, Some(&session), auth, &whoami).await;
    let expected = Principal::from_authorization(auth.as_bytes());
    assert_eq!(
        reply.unwrap()["result"]["content"][0]["text"],
        expected.to_string(),
        "the handler behind the stack sees the same principal"
    );

    let seen = seen.lock().unwrap().clone();
    let call = seen
        .iter()
        .find(|s| s.method == "tools/call")
        .expect("the call went through the stack");
    assert!(call.has_parts, "HTTP parts reach the layers");
    assert_eq!(call.principal, Some(expected));
    assert!(seen.iter().all(|s| s.has_parts), "{seen:?}");
    server.abort();
}
