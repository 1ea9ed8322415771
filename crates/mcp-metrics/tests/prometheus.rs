//! The Prometheus text: real histograms with the semconv and sub-10 ms
//! buckets, units in the names, never summaries.

#![cfg(feature = "prometheus")]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests fail loudly"
)]

mod support;

use std::time::Duration;

use mcp_metrics::{DURATION_BUCKETS, ExporterError, MetricsLayer, PrometheusExporter};
use mcp_service::jsonrpc::JsonRpcRequest;
use serde_json::json;
use support::{ok, run};
use tower::{Layer, Service, ServiceExt, service_fn};

/// Serves a `tools/call` of `search` taking each of `delays_ms` (on the
/// paused clock) under the exporter's recorder, and renders.
fn render_after(delays_ms: &[u64], sizes: bool) -> String {
    let (recorder, exporter) = PrometheusExporter::builder().build().unwrap();
    run(&recorder, || async {
        let layer = MetricsLayer::builder()
            .tools(["search"])
            .sizes(sizes)
            .build()
            .unwrap();
        let mut service = layer.layer(service_fn(|request: JsonRpcRequest| async move {
            let ms = request.params_as::<serde_json::Value>().unwrap()["arguments"]["ms"]
                .as_u64()
                .unwrap_or(0);
            tokio::time::sleep(Duration::from_millis(ms)).await;
            ok()
        }));
        for ms in delays_ms {
            let request = JsonRpcRequest::new(
                None,
                "tools/call",
                Some(&json!({ "name": "search", "arguments": { "ms": ms } })),
            )
            .unwrap();
            service.ready().await.unwrap().call(request).await.unwrap();
        }
    });
    exporter.render()
}

/// The value of the line that starts with `prefix`.
fn value(text: &str, prefix: &str) -> f64 {
    let line = text
        .lines()
        .find(|line| line.starts_with(prefix))
        .unwrap_or_else(|| panic!("no line {prefix} in\n{text}"));
    line.rsplit(' ').next().unwrap().parse().unwrap()
}

#[test]
fn durations_render_as_histograms_with_semconv_and_fine_buckets() {
    let text = render_after(&[1, 1, 15, 2_000], false);
    assert!(
        text.contains("# TYPE mcp_server_operation_duration_seconds histogram"),
        "{text}"
    );
    assert!(!text.contains("quantile="), "never a summary:\n{text}");
    let series = r#"mcp_server_operation_duration_seconds_bucket{mcp_method_name="tools/call",gen_ai_tool_name="search",gen_ai_operation_name="execute_tool""#;
    for bound in DURATION_BUCKETS {
        let bucket = format!("{series},le=\"{bound}\"}}");
        assert!(text.contains(&bucket), "no bucket {bucket} in\n{text}");
    }
    let bucket = |le: &str| value(&text, &format!("{series},le=\"{le}\"}}"));
    assert_eq!(bucket("0.0005"), 0.0);
    assert_eq!(
        bucket("0.001"),
        2.0,
        "the 1 ms calls, in a bucket finer than semconv's"
    );
    assert_eq!(bucket("0.02"), 3.0);
    assert_eq!(bucket("1"), 3.0);
    assert_eq!(bucket("2"), 4.0);
    assert_eq!(bucket("+Inf"), 4.0);
    let count = value(
        &text,
        r#"mcp_server_operation_duration_seconds_count{mcp_method_name="tools/call",gen_ai_tool_name="search""#,
    );
    assert_eq!(count, 4.0);
    let sum = value(
        &text,
        r#"mcp_server_operation_duration_seconds_sum{mcp_method_name="tools/call",gen_ai_tool_name="search""#,
    );
    assert!((sum - 2.017).abs() < 1e-9, "{sum}");
}

#[test]
fn sizes_render_in_bytes_on_their_own_buckets() {
    let text = render_after(&[0], true);
    let response = r#"mcp_server_response_size_bytes_bucket{mcp_method_name="tools/call",gen_ai_tool_name="search",gen_ai_operation_name="execute_tool",le="256"}"#;
    assert_eq!(value(&text, response), 1.0, "{text}");
    assert!(text.contains(r#"le="16777216"}"#), "{text}");
}

#[test]
fn bad_buckets_are_refused_with_the_setting_named() {
    let error = PrometheusExporter::builder()
        .duration_buckets(&[0.1, 0.05])
        .build()
        .unwrap_err();
    match error {
        ExporterError::Config(config) => assert_eq!(config.setting, "duration_buckets"),
        other => panic!("{other}"),
    }
    assert!(
        PrometheusExporter::builder()
            .upkeep_interval(Duration::ZERO)
            .build()
            .is_err()
    );
}
