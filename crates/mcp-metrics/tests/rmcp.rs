//! Through a real rmcp client and server: the labels, spans and stats of
//! real rmcp requests, with the layer wrapped around the demo server.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests fail loudly"
)]

mod support;

use mcp_metrics::{MetricsLayer, Stats, names};
use mcp_service::rmcp::StackedHandler;
use mcp_testkit::{DemoHandler, connect};
use metrics_util::debugging::DebuggingRecorder;
use rmcp::model::{
    CallToolRequestParams, GetPromptRequestParams, MetaObject, ReadResourceRequestParams,
    RequestMetaObject,
};
use support::{SpanRecorder, find, run, snapshot};

const TRACEPARENT: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

#[test]
fn real_rmcp_requests_are_labelled_traced_and_counted() {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let spans = SpanRecorder::default();
    let stats = run(&recorder, || {
        let spans = spans.clone();
        async move {
            let _subscriber = tracing::subscriber::set_default(spans);
            let stats = Stats::new();
            let layer = MetricsLayer::builder()
                .tools(["echo", "flaky"])
                .prompts(["greet"])
                .stats(stats.clone())
                .build()
                .unwrap();
            let pair = connect(StackedHandler::new(DemoHandler::default(), layer))
                .await
                .unwrap();
            let client = &pair.client;
            client.list_tools(None).await.unwrap();

            let mut meta = MetaObject::new();
            meta.set_traceparent(TRACEPARENT);
            meta.set_tracestate("rojo=00f067aa0ba902b7");
            let mut echo = CallToolRequestParams::new("echo");
            echo.meta = Some(RequestMetaObject(meta));
            client.call_tool(echo).await.unwrap();

            // The demo's `flaky` fails every second call with -32603.
            client
                .call_tool(CallToolRequestParams::new("flaky"))
                .await
                .unwrap();
            assert!(
                client
                    .call_tool(CallToolRequestParams::new("flaky"))
                    .await
                    .is_err()
            );
            // An unknown tool: the client's mistake (-32602), under _OTHER.
            assert!(
                client
                    .call_tool(CallToolRequestParams::new("no-such-tool"))
                    .await
                    .is_err()
            );

            let mut greet = GetPromptRequestParams::new("greet");
            greet.arguments = serde_json::json!({ "name": "Ada" }).as_object().cloned();
            client.get_prompt(greet).await.unwrap();
            client
                .read_resource(ReadResourceRequestParams::new("demo://static/readme"))
                .await
                .unwrap();
            stats
        }
    });

    let series = snapshot(&snapshotter);
    let durations: Vec<_> = series
        .iter()
        .filter(|s| s.name == names::SERVER_OPERATION_DURATION)
        .collect();
    // Every request after `initialize` carries the negotiated version
    // (`initialize` itself, the one the client asked for).
    let negotiated: Vec<_> = durations
        .iter()
        .filter(|s| s.label(names::METHOD_NAME) != Some("initialize"))
        .collect();
    let version = negotiated[0]
        .label(names::PROTOCOL_VERSION)
        .expect("a version label");
    assert_ne!(version, names::OTHER);
    assert!(
        negotiated
            .iter()
            .all(|s| s.label(names::PROTOCOL_VERSION) == Some(version)),
        "{negotiated:#?}"
    );
    let initialize = durations
        .iter()
        .find(|s| s.label(names::METHOD_NAME) == Some("initialize"))
        .unwrap();
    assert!(
        initialize
            .label(names::PROTOCOL_VERSION)
            .is_some_and(|v| v != names::OTHER)
    );
    let count = |labels: &[(&str, &str)]| {
        let mut labels = labels.to_vec();
        labels.push((names::PROTOCOL_VERSION, version));
        find(&series, names::SERVER_OPERATION_DURATION, &labels).map(|s| s.samples().len())
    };
    let tool = |name| {
        [
            (names::METHOD_NAME, "tools/call"),
            (names::TOOL_NAME, name),
            (names::OPERATION_NAME, names::OPERATION_EXECUTE_TOOL),
        ]
    };
    let failed = |labels: &[(&'static str, &'static str)], code: &'static str| {
        let mut labels = labels.to_vec();
        labels.extend([
            (names::ERROR_TYPE, code),
            (names::RESPONSE_STATUS_CODE, code),
        ]);
        labels
    };
    assert_eq!(initialize.samples().len(), 1);
    assert_eq!(count(&[(names::METHOD_NAME, "tools/list")]), Some(1));
    assert_eq!(count(&tool("echo")), Some(1));
    assert_eq!(count(&tool("flaky")), Some(1));
    assert_eq!(count(&failed(&tool("flaky"), "-32603")), Some(1));
    assert_eq!(count(&failed(&tool(names::OTHER), "-32602")), Some(1));
    assert_eq!(
        count(&[
            (names::METHOD_NAME, "prompts/get"),
            (names::PROMPT_NAME, "greet")
        ]),
        Some(1)
    );
    assert_eq!(count(&[(names::METHOD_NAME, "resources/read")]), Some(1));
    assert!(
        series.iter().all(|s| s
            .labels
            .values()
            .all(|v| !v.contains("demo://") && v != "no-such-tool")),
        "no URI and no unregistered name labels a series"
    );

    let spans = spans.spans();
    let echo = spans
        .iter()
        .find(|span| span.field("otel.name") == Some("tools/call echo"))
        .expect("a span named after the method and the tool");
    assert_eq!(echo.name, "mcp.request");
    assert_eq!(echo.field("otel.kind"), Some("server"));
    assert_eq!(echo.field(names::TOOL_NAME), Some("echo"));
    assert_eq!(echo.field(names::PROTOCOL_VERSION), Some(version));
    assert_eq!(echo.field("traceparent"), Some(TRACEPARENT));
    assert_eq!(echo.field("tracestate"), Some("rojo=00f067aa0ba902b7"));
    let unknown = spans
        .iter()
        .find(|span| span.field(names::TOOL_NAME) == Some("no-such-tool"))
        .unwrap();
    assert_eq!(
        unknown.field("otel.name"),
        Some("tools/call"),
        "no span name per made-up tool"
    );
    assert_eq!(unknown.field(names::ERROR_TYPE), Some("-32602"));
    assert_eq!(unknown.field("otel.status_code"), Some("error"));
    let read = spans
        .iter()
        .find(|span| span.field(names::METHOD_NAME) == Some("resources/read"))
        .unwrap();
    assert_eq!(
        read.field(names::RESOURCE_URI),
        Some("demo://static/readme")
    );
    assert_eq!(read.field("otel.name"), Some("resources/read"));

    let snapshot = stats.snapshot();
    assert_eq!(snapshot.requests, 8, "{snapshot:#?}");
    assert_eq!(
        snapshot.server_errors, 1,
        "the client's -32602 is not the server's error"
    );
    assert!((snapshot.error_rate - 1.0 / 8.0).abs() < 1e-9);
    assert_eq!(snapshot.in_flight, 0);
}
