//! The request span: its name, its attributes, the caller's trace context,
//! and nothing computed when no subscriber listens.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests fail loudly"
)]

mod support;

use std::{
    borrow::Cow,
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering::SeqCst},
    },
};

use mcp_metrics::{MetricsLayer, names};
use mcp_service::{McpRequest, ParamsDigest, Principal, jsonrpc::JsonRpcRequest};
use metrics_util::debugging::DebuggingRecorder;
use serde_json::json;
use support::{SpanRecorder, ok, request, run};
use tokio_util::sync::CancellationToken;
use tower::{Layer, Service, ServiceExt, service_fn};

const TRACEPARENT: &str = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";

/// tracing caches each callsite's interest globally, and a test thread
/// that sets its own subscriber while another test hits the callsite with
/// none can find the span switched off: these tests take turns.
fn one_at_a_time() -> std::sync::MutexGuard<'static, ()> {
    static TURN: std::sync::Mutex<()> = std::sync::Mutex::new(());
    TURN.lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

#[test]
fn raw_json_rpc_requests_carry_their_trace_context_and_names_into_the_span() {
    let _turn = one_at_a_time();
    let recorder = DebuggingRecorder::new();
    let spans = SpanRecorder::default();
    run(&recorder, || {
        let spans = spans.clone();
        async move {
            let _subscriber = tracing::subscriber::set_default(spans);
            let layer = MetricsLayer::builder()
                .prompts(["summarize"])
                .network_transport("pipe")
                .build()
                .unwrap();
            let mut service = layer.layer(service_fn(|_request: JsonRpcRequest| async { ok() }));
            let traced = request(
                "prompts/get",
                Some(json!({
                    "name": "summarize",
                    "_meta": { "traceparent": TRACEPARENT, "tracestate": "congo=t61rcWkgMzE" },
                })),
            );
            service.ready().await.unwrap().call(traced).await.unwrap();
        }
    });
    let spans = spans.spans();
    assert_eq!(spans.len(), 1);
    let span = &spans[0];
    assert_eq!(span.field("otel.name"), Some("prompts/get summarize"));
    assert_eq!(span.field(names::METHOD_NAME), Some("prompts/get"));
    assert_eq!(span.field(names::PROMPT_NAME), Some("summarize"));
    assert_eq!(span.field(names::NETWORK_TRANSPORT), Some("pipe"));
    assert_eq!(span.field("traceparent"), Some(TRACEPARENT));
    assert_eq!(span.field("tracestate"), Some("congo=t61rcWkgMzE"));
    assert_eq!(span.field(names::ERROR_TYPE), None, "it succeeded");
}

/// A `tools/call` that counts how often its `_meta` is read.
struct Counted {
    meta_reads: Arc<AtomicUsize>,
}

impl McpRequest for Counted {
    fn method(&self) -> &str {
        "tools/call"
    }
    fn tool_name(&self) -> Option<&str> {
        Some("search")
    }
    fn prompt_name(&self) -> Option<&str> {
        None
    }
    fn resource_uri(&self) -> Option<&str> {
        None
    }
    fn cursor(&self) -> Option<&str> {
        None
    }
    fn is_retry(&self) -> bool {
        false
    }
    fn protocol_version(&self) -> Option<&str> {
        None
    }
    fn meta_str(&self, _key: &str) -> Option<Cow<'_, str>> {
        self.meta_reads.fetch_add(1, SeqCst);
        Some(Cow::Borrowed(TRACEPARENT))
    }
    fn params_digest(&self) -> Option<ParamsDigest> {
        Some(ParamsDigest::empty())
    }
    fn principal(&self) -> Option<Principal> {
        None
    }
    fn http_parts(&self) -> Option<&http::request::Parts> {
        None
    }
    fn cancellation(&self) -> Option<&CancellationToken> {
        None
    }
    fn extension<T: Send + Sync + 'static>(&self) -> Option<&T> {
        None
    }
    fn insert_extension<T: Clone + Send + Sync + 'static>(&mut self, _: T) -> Option<T> {
        None
    }
}

#[test]
fn without_a_subscriber_no_span_is_built_and_meta_is_never_read() {
    let _turn = one_at_a_time();
    let recorder = DebuggingRecorder::new();
    let meta_reads = Arc::new(AtomicUsize::new(0));
    let spans = SpanRecorder::default();
    run(&recorder, || {
        let (meta_reads, spans) = (meta_reads.clone(), spans.clone());
        async move {
            let layer = MetricsLayer::builder().tools(["search"]).build().unwrap();
            let mut service = layer.layer(service_fn(|_request: Counted| async { ok() }));
            for _ in 0..10 {
                let request = Counted {
                    meta_reads: meta_reads.clone(),
                };
                service.ready().await.unwrap().call(request).await.unwrap();
            }
            assert_eq!(meta_reads.load(SeqCst), 0, "no subscriber, no _meta read");

            let _subscriber = tracing::subscriber::set_default(spans);
            let request = Counted {
                meta_reads: meta_reads.clone(),
            };
            service.ready().await.unwrap().call(request).await.unwrap();
            assert_eq!(meta_reads.load(SeqCst), 2, "traceparent and tracestate");
        }
    });
    let spans = spans.spans();
    assert_eq!(
        spans.len(),
        1,
        "one span, for the one request with a subscriber"
    );
    assert_eq!(spans[0].field("otel.name"), Some("tools/call search"));
}
