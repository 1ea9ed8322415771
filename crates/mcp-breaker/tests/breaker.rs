//! The breaker under concurrency and through a real rmcp client and server.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests fail loudly"
)]

use std::{
    sync::{
        Arc, Barrier,
        atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst},
    },
    time::Duration,
};

use mcp_breaker::{CircuitBreakerLayer, State, Window};
use mcp_service::{
    McpError, McpRequest, RpcError,
    jsonrpc::{JsonRpcRequest, JsonRpcResponse},
    rmcp::StackedHandler,
};
use mcp_testkit::connect;
use rmcp::{
    ErrorData, ServerHandler,
    model::{
        CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, ServerCapabilities,
        ServerConfig,
    },
    service::{RequestContext, RoleServer},
};
use serde_json::json;
use tokio::{sync::Notify, time::Instant};
use tower::{Service, ServiceExt, service_fn};

fn request() -> JsonRpcRequest {
    JsonRpcRequest::new(None, "tools/list", None).unwrap()
}

fn tripped_breaker(half_open_calls: u32) -> CircuitBreakerLayer {
    CircuitBreakerLayer::builder()
        .window(Window::Count(10))
        .consecutive_failures(1)
        .open_duration(Duration::from_secs(1))
        .jitter(0.0)
        .half_open_calls(half_open_calls)
        .build()
        .unwrap()
}

#[test]
fn racing_threads_get_exactly_the_probe_slots() {
    let layer = tripped_breaker(5);
    let circuit = layer.handle().circuit().clone();
    let start = Instant::now();
    let permit = circuit.try_acquire(start).unwrap();
    circuit.record(permit, mcp_breaker::Verdict::Failure, Duration::ZERO, start);
    assert_eq!(circuit.state(), State::Open);

    let later = start + Duration::from_secs(2);
    let barrier = Arc::new(Barrier::new(8));
    let admitted = Arc::new(AtomicUsize::new(0));
    let threads: Vec<_> = (0..8)
        .map(|_| {
            let (circuit, barrier, admitted) = (circuit.clone(), barrier.clone(), admitted.clone());
            std::thread::spawn(move || {
                barrier.wait();
                for _ in 0..125 {
                    if circuit.try_acquire(later).is_ok() {
                        admitted.fetch_add(1, SeqCst);
                    }
                }
            })
        })
        .collect();
    threads
        .into_iter()
        .for_each(|thread| thread.join().unwrap());
    assert_eq!(
        admitted.load(SeqCst),
        5,
        "1000 racing attempts, 5 probe slots"
    );
    assert_eq!(circuit.state(), State::HalfOpen);
}

#[tokio::test(start_paused = true)]
async fn a_thousand_callers_on_a_half_open_breaker_send_exactly_the_probes() {
    let reached = Arc::new(AtomicUsize::new(0));
    let release = Arc::new(Notify::new());
    let failing = Arc::new(AtomicBool::new(true));
    let inner = service_fn({
        let (reached, release, failing) = (reached.clone(), release.clone(), failing.clone());
        move |_request: JsonRpcRequest| {
            let (reached, release, failing) = (reached.clone(), release.clone(), failing.clone());
            async move {
                if failing.load(SeqCst) {
                    return Err(McpError::from(RpcError::internal("down")));
                }
                reached.fetch_add(1, SeqCst);
                release.notified().await;
                JsonRpcResponse::from_value(&json!({"tools": []}))
            }
        }
    });
    let layer = tripped_breaker(5);
    let handle = layer.handle();
    let service = tower::ServiceBuilder::new().layer(layer).service(inner);

    let first = service.clone().oneshot(request()).await;
    assert!(matches!(first, Err(McpError::Rpc(_))));
    assert_eq!(handle.state(), State::Open);
    failing.store(false, SeqCst);
    tokio::time::advance(Duration::from_secs(1)).await;

    let callers: Vec<_> = (0..1000)
        .map(|_| tokio::spawn(service.clone().oneshot(request())))
        .collect();
    while reached.load(SeqCst) < 5 {
        tokio::task::yield_now().await;
    }
    for _ in 0..10 {
        tokio::task::yield_now().await;
    }
    assert_eq!(
        reached.load(SeqCst),
        5,
        "exactly the probes reached the service"
    );
    release.notify_waiters();
    let mut rejected = 0;
    for caller in callers {
        match caller.await.unwrap() {
            Ok(_) => {}
            Err(McpError::CircuitOpen { .. }) => rejected += 1,
            Err(other) => panic!("{other}"),
        }
    }
    assert_eq!(rejected, 995);
    assert_eq!(reached.load(SeqCst), 5);
    assert_eq!(
        handle.state(),
        State::Closed,
        "5 successful probes close it"
    );
}

#[tokio::test(start_paused = true)]
async fn dropped_calls_return_their_probe_slot() {
    let layer = tripped_breaker(1);
    let handle = layer.handle();
    let mut service = tower::ServiceBuilder::new()
        .layer(layer)
        .service(service_fn(|_request: JsonRpcRequest| async {
            Err::<JsonRpcResponse, _>(McpError::from(RpcError::internal("down")))
        }));
    let _ = service.ready().await.unwrap().call(request()).await;
    tokio::time::advance(Duration::from_secs(1)).await;
    let probe = service.ready().await.unwrap().call(request());
    assert_eq!(handle.state(), State::HalfOpen);
    assert!(matches!(
        service.ready().await.unwrap().call(request()).await,
        Err(McpError::CircuitOpen { .. })
    ));
    drop(probe);
    let retried = service.ready().await.unwrap().call(request()).await;
    assert!(
        matches!(retried, Err(McpError::Rpc(_))),
        "the slot came back: {retried:?}"
    );
    assert_eq!(handle.state(), State::Open);
}

#[tokio::test(start_paused = true)]
async fn client_errors_and_our_rejections_never_trip_it() {
    let layer = CircuitBreakerLayer::builder()
        .consecutive_failures(2)
        .build()
        .unwrap();
    let handle = layer.handle();
    let service = tower::ServiceBuilder::new()
        .layer(layer)
        .service(service_fn(|request: JsonRpcRequest| async move {
            Err::<JsonRpcResponse, _>(match request.method() {
                "tools/list" => McpError::from(RpcError::invalid_params("bad cursor")),
                _ => McpError::RateLimited {
                    retry_after: Duration::from_secs(1),
                },
            })
        }));
    for method in ["tools/list", "resources/list"].repeat(50) {
        let request = JsonRpcRequest::new(None, method, None).unwrap();
        let _ = service.clone().oneshot(request).await;
    }
    assert_eq!(handle.state(), State::Closed);
}

/// A tool whose backend can be switched off.
#[derive(Clone, Default)]
struct Backend {
    failing: Arc<AtomicBool>,
    calls: Arc<AtomicUsize>,
}

impl ServerHandler for Backend {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
    }

    async fn call_tool(
        &self,
        _: CallToolRequestParams,
        _: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        self.calls.fetch_add(1, SeqCst);
        if self.failing.load(SeqCst) {
            return Err(ErrorData::internal_error("backend down", None));
        }
        Ok(CallToolResponse::Complete(CallToolResult::success(vec![
            ContentBlock::text("ok"),
        ])))
    }
}

#[tokio::test(start_paused = true)]
async fn an_rmcp_tool_trips_the_breaker_and_it_closes_when_the_backend_recovers() {
    let backend = Backend::default();
    backend.failing.store(true, SeqCst);
    let layer = CircuitBreakerLayer::builder()
        .consecutive_failures(3)
        .open_duration(Duration::from_secs(30))
        .jitter(0.0)
        .half_open_calls(1)
        .build()
        .unwrap();
    let handle = layer.handle();
    let pair = connect(StackedHandler::new(backend.clone(), layer))
        .await
        .unwrap();
    let call = || pair.client.call_tool(CallToolRequestParams::new("lookup"));

    for _ in 0..3 {
        let error = call().await.unwrap_err();
        assert!(error.to_string().contains("backend down"), "{error}");
    }
    assert_eq!(handle.state(), State::Open);
    let rejected = call().await.unwrap();
    assert_eq!(rejected.is_error, Some(true));
    let text = serde_json::to_value(&rejected.content).unwrap()[0]["text"].clone();
    assert_eq!(
        text,
        "circuit open after repeated failures; retry after 30000 ms"
    );
    assert_eq!(
        backend.calls.load(SeqCst),
        3,
        "the open breaker spared the backend"
    );

    backend.failing.store(false, SeqCst);
    tokio::time::advance(Duration::from_secs(30)).await;
    let probe = call().await.unwrap();
    assert_ne!(probe.is_error, Some(true));
    assert_eq!(handle.state(), State::Closed, "one good probe closes it");
    assert_ne!(call().await.unwrap().is_error, Some(true));
    assert_eq!(backend.calls.load(SeqCst), 5);
}
