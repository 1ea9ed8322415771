//! The HTTP serving helper on loopback: a request in flight when shutdown
//! begins still gets its answer, nothing new is accepted after, and the
//! server stops by itself.

#![cfg(all(feature = "http", feature = "client"))]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests fail loudly"
)]

use std::time::{Duration, Instant};

use mcp_stack::{McpStack, client::HttpClient, config::HttpConfig, serve::HttpServer};
use mcp_testkit::DemoHandler;
use rmcp::model::CallToolRequestParams;
use tokio::net::TcpListener;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_lets_requests_in_flight_finish_then_stops() {
    let stack = McpStack::new().prometheus(false).build().unwrap();
    let handler = stack.wrap(DemoHandler::default());
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(
        HttpServer::new(handler)
            .stack(&stack)
            .config(HttpConfig {
                shutdown_timeout: mcp_stack::config::TimeSpan::secs(5),
                ..HttpConfig::default()
            })
            .serve(listener, async move {
                let _ = stopped.await;
            }),
    );

    let session = HttpClient::new()
        .endpoint(&format!("http://{address}/mcp"))
        .unwrap()
        .connect(())
        .await
        .unwrap();
    let slow = {
        let peer = session.peer().clone();
        tokio::spawn(async move {
            let params = CallToolRequestParams::new("slow")
                .with_arguments(serde_json::json!({"ms": 600}).as_object().cloned().unwrap());
            peer.call_tool(params).await
        })
    };
    tokio::time::sleep(Duration::from_millis(150)).await;
    let shutdown_started = Instant::now();
    stop.send(()).unwrap();

    let answer = tokio::time::timeout(Duration::from_secs(5), slow)
        .await
        .expect("the call in flight was answered, not dropped")
        .unwrap()
        .unwrap();
    let text = serde_json::to_value(&answer.content).unwrap()[0]["text"].clone();
    assert_eq!(text, "slept 600 ms", "the call in flight finished");

    let served = tokio::time::timeout(Duration::from_secs(10), server)
        .await
        .expect("the server stopped by itself");
    served.unwrap().unwrap();
    let took = shutdown_started.elapsed();
    assert!(
        took >= Duration::from_millis(400),
        "it waited for the call: {took:?}"
    );
    assert!(
        took < Duration::from_secs(5),
        "and no longer than it needed: {took:?}"
    );
    assert!(
        tokio::net::TcpStream::connect(address).await.is_err(),
        "nothing listens after shutdown"
    );
}
