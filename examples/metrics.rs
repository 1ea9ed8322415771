//! `mcp_metrics` alone, in a `ServiceBuilder` around an rmcp handler:
//! `MetricsLayer` measuring every request under the OpenTelemetry MCP
//! names, a live `Stats` snapshot printed as JSON (what `/stats` serves),
//! and a few lines of the Prometheus text (what `/metrics` serves).
//!
//! ```sh
//! cargo run --example metrics
//! ```
//!
//! The server is the test kit's demo handler, in this process; an rmcp
//! client talks to it over an in-memory pipe.

use std::{error::Error, time::Duration};

use mcp_metrics::{LatencyObjective, MetricsLayer, PrometheusExporter, Stats};
use mcp_service::rmcp::StackedHandler;
use mcp_testkit::{DemoHandler, connect};
use rmcp::{
    ClientCacheConfig,
    model::{CallToolRequestParams, ReadResourceRequestParams},
};
use serde_json::json;
use tower::ServiceBuilder;

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error>> {
    // First, once per process: layers take their metric handles from the
    // recorder when they are built.
    let exporter = PrometheusExporter::builder().install()?;

    let stats = Stats::builder()
        .objective(LatencyObjective::tool("slow").p95(Duration::from_millis(30)))
        .build()?;
    // Only registered tool names label a series of their own; any other
    // is `_OTHER`, so clients cannot multiply series by making names up.
    let metrics = MetricsLayer::builder()
        .tools(["echo", "slow", "flaky"])
        .stats(stats.clone())
        .build()?;
    let stack = ServiceBuilder::new().layer(metrics);
    let pair = connect(StackedHandler::new(DemoHandler::default(), stack)).await?;
    let client = &pair.client;
    client
        .peer()
        .set_response_cache_config(ClientCacheConfig::disabled())
        .await;

    client.list_tools(None).await?;
    for n in 0..5 {
        let arguments = json!({ "text": format!("hello {n}") });
        let params = CallToolRequestParams::new("echo")
            .with_arguments(arguments.as_object().cloned().unwrap_or_default());
        client.call_tool(params).await?;
    }
    for ms in [20, 50] {
        let arguments = json!({ "ms": ms }).as_object().cloned().unwrap_or_default();
        client
            .call_tool(CallToolRequestParams::new("slow").with_arguments(arguments))
            .await?;
    }
    // The demo's `flaky` fails every second call with a server error.
    let mut failed = 0;
    for _ in 0..4 {
        if client
            .call_tool(CallToolRequestParams::new("flaky"))
            .await
            .is_err()
        {
            failed += 1;
        }
    }
    client
        .read_resource(ReadResourceRequestParams::new("demo://static/readme"))
        .await?;
    println!("made 13 requests after initialize, {failed} of them failed on the server\n");

    let snapshot = serde_json::to_value(stats.snapshot())?;
    println!("Stats snapshot (/stats):");
    println!("{}\n", serde_json::to_string_pretty(&snapshot)?);

    println!("Prometheus text (/metrics), the request counts:");
    let text = exporter.render();
    let mut counts: Vec<_> = text
        .lines()
        .filter(|line| line.starts_with("mcp_server_operation_duration_seconds_count"))
        .collect();
    counts.sort_unstable();
    for line in counts {
        println!("{line}");
    }
    println!("({} lines in all)", text.lines().count());
    Ok(())
}
