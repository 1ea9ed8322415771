//! Deadlines: the handler hears the cancellation, the caller gets the
//! timeout, and each request gets the deadline of its tool or method.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests fail loudly"
)]

use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering::SeqCst},
    },
    time::Duration,
};

use mcp_breaker::TimeoutLayer;
use mcp_service::{
    McpError,
    jsonrpc::{JsonRpcRequest, JsonRpcResponse, RequestId},
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
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use tower::{Layer, ServiceExt, service_fn};

/// A tool that hands its work to a worker task with the request's
/// cancellation token, as handlers that call out to a backend do.
#[derive(Clone, Default)]
struct Delegating {
    /// Notified when the worker sees the cancellation.
    worker_cancelled: Arc<Notify>,
    /// Set when the handler's own future is dropped.
    handler_dropped: Arc<AtomicBool>,
}

struct SetOnDrop(Arc<AtomicBool>);

impl Drop for SetOnDrop {
    fn drop(&mut self) {
        self.0.store(true, SeqCst);
    }
}

impl ServerHandler for Delegating {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
    }

    async fn call_tool(
        &self,
        params: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        if params.name == "slow" {
            let _dropped = SetOnDrop(self.handler_dropped.clone());
            let (token, notify) = (context.ct.clone(), self.worker_cancelled.clone());
            let worker = tokio::spawn(async move {
                tokio::select! {
                    () = token.cancelled() => notify.notify_one(),
                    () = tokio::time::sleep(Duration::from_secs(60)) => {}
                }
            });
            let _ = worker.await;
        }
        Ok(CallToolResponse::Complete(CallToolResult::success(vec![
            ContentBlock::text("done"),
        ])))
    }
}

#[tokio::test(start_paused = true)]
async fn a_late_tool_is_cancelled_and_the_model_reads_why() {
    let handler = Delegating::default();
    let layer = TimeoutLayer::new(Duration::from_secs(30)).tool("slow", Duration::from_secs(1));
    let pair = connect(StackedHandler::new(handler.clone(), layer))
        .await
        .unwrap();

    let result = pair
        .client
        .call_tool(CallToolRequestParams::new("slow"))
        .await
        .unwrap();
    assert_eq!(result.is_error, Some(true));
    let text = serde_json::to_value(&result.content).unwrap()[0]["text"].clone();
    assert_eq!(text, "request timed out after 1000 ms");
    assert!(
        handler.handler_dropped.load(SeqCst),
        "the late call was dropped"
    );
    tokio::time::timeout(Duration::from_secs(5), handler.worker_cancelled.notified())
        .await
        .expect("the handler's worker saw the cancellation");

    let quick = pair
        .client
        .call_tool(CallToolRequestParams::new("quick"))
        .await
        .unwrap();
    assert_ne!(
        quick.is_error,
        Some(true),
        "other tools keep the default deadline"
    );
}

fn request(method: &str, params: serde_json::Value) -> JsonRpcRequest {
    JsonRpcRequest::new(Some(RequestId::Number(1)), method, Some(&params)).unwrap()
}

#[tokio::test(start_paused = true)]
async fn each_request_gets_its_tool_or_method_deadline() {
    let waits = service_fn(|request: JsonRpcRequest| async move {
        let ms: u64 = request.params_as::<serde_json::Value>().unwrap()["ms"]
            .as_u64()
            .unwrap_or(0);
        tokio::time::sleep(Duration::from_millis(ms)).await;
        JsonRpcResponse::from_value(&json!({}))
    });
    let service = tower::ServiceBuilder::new()
        .layer(
            TimeoutLayer::new(Duration::from_millis(100))
                .method("tools/list", Duration::from_millis(50))
                .tool("report", Duration::from_millis(500)),
        )
        .service(waits);
    let outcome = |method: &'static str, params: serde_json::Value| {
        let service = service.clone();
        async move { service.oneshot(request(method, params)).await.err() }
    };
    let timed_out = |after| {
        Some(McpError::Timeout {
            after: Duration::from_millis(after),
        })
    };

    assert_eq!(outcome("tools/list", json!({"ms": 40})).await, None);
    assert_eq!(
        outcome("tools/list", json!({"ms": 60})).await,
        timed_out(50)
    );
    assert_eq!(
        outcome("resources/read", json!({"uri": "x", "ms": 99})).await,
        None
    );
    assert_eq!(
        outcome("resources/read", json!({"uri": "x", "ms": 101})).await,
        timed_out(100)
    );
    assert_eq!(
        outcome("tools/call", json!({"name": "report", "ms": 400})).await,
        None
    );
    assert_eq!(
        outcome("tools/call", json!({"name": "report", "ms": 600})).await,
        timed_out(500)
    );
    assert_eq!(
        outcome("tools/call", json!({"name": "other", "ms": 150})).await,
        timed_out(100)
    );
}

#[tokio::test(start_paused = true)]
async fn without_a_deadline_nothing_is_cut_and_a_raw_request_token_is_cancelled() {
    let slow = service_fn(|_: JsonRpcRequest| async {
        tokio::time::sleep(Duration::from_secs(3600)).await;
        JsonRpcResponse::from_value(&json!({}))
    });
    let only_tools = TimeoutLayer::none_by_default().method("tools/call", Duration::from_secs(1));
    let service = tower::ServiceBuilder::new().layer(only_tools).service(slow);

    let listed = service
        .clone()
        .oneshot(request("tools/list", json!({})))
        .await;
    assert!(listed.is_ok(), "no deadline for tools/list");

    let token = CancellationToken::new();
    let call = request("tools/call", json!({"name": "x"})).with_cancellation(token.clone());
    let result = service.oneshot(call).await;
    assert!(matches!(result, Err(McpError::Timeout { .. })));
    assert!(token.is_cancelled(), "the request's token was cancelled");
}

/// Works for two seconds, reporting progress every 400 ms when it can.
async fn steady_worker(request: JsonRpcRequest) -> Result<JsonRpcResponse, McpError> {
    use mcp_service::McpRequest;
    for _ in 0..5 {
        tokio::time::sleep(Duration::from_millis(400)).await;
        if let Some(extender) = request.extension::<mcp_breaker::DeadlineExtender>() {
            extender.progressed();
        }
    }
    JsonRpcResponse::from_value(&json!({}))
}

#[tokio::test(start_paused = true)]
async fn progress_pushes_the_deadline_back_only_when_configured() {
    let strict = TimeoutLayer::new(Duration::from_secs(1));
    let result = strict
        .layer(service_fn(steady_worker))
        .oneshot(request("tools/call", json!({"name": "long"})))
        .await;
    assert!(
        matches!(result, Err(McpError::Timeout { .. })),
        "progress alone extends nothing"
    );

    let patient = TimeoutLayer::new(Duration::from_secs(1)).extend_on_progress(true);
    let started = tokio::time::Instant::now();
    let result = patient
        .clone()
        .layer(service_fn(steady_worker))
        .oneshot(request("tools/call", json!({"name": "long"})))
        .await;
    assert!(result.is_ok(), "{result:?}");
    assert_eq!(started.elapsed(), Duration::from_secs(2));

    // Progress that stops leaves one deadline after the last report.
    let stalls = service_fn(|request: JsonRpcRequest| async move {
        use mcp_service::McpRequest;
        tokio::time::sleep(Duration::from_millis(500)).await;
        request
            .extension::<mcp_breaker::DeadlineExtender>()
            .unwrap()
            .progressed();
        tokio::time::sleep(Duration::from_secs(60)).await;
        JsonRpcResponse::from_value(&json!({}))
    });
    let started = tokio::time::Instant::now();
    let result = patient
        .layer(stalls)
        .oneshot(request("tools/call", json!({"name": "x"})))
        .await;
    assert!(matches!(result, Err(McpError::Timeout { .. })));
    assert_eq!(started.elapsed(), Duration::from_millis(1500));
}
