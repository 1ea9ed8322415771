//! OpenTelemetry-named metrics, a live stats snapshot and tracing spans for
//! Model Context Protocol servers, as a tower layer.
//!
//! - [`MetricsLayer`] measures every request on the [`metrics`] facade under
//!   the OpenTelemetry MCP semantic conventions: the
//!   `mcp.server.operation.duration` histogram by method, tool or prompt,
//!   `error.type` and protocol version, an in-flight gauge, and (opt-in)
//!   request and response sizes. It opens one tracing span per request,
//!   named `{mcp.method.name} {target}`, carrying the caller's
//!   `_meta.traceparent`.
//! - Labels stay bounded: only tool and prompt names the server registered
//!   get a series of their own (changeable at run time through
//!   [`NameRegistry`]); any other is `_OTHER`, so clients cannot multiply
//!   series by making up names. URIs, sessions and principals never label
//!   a metric.
//! - [`Stats`] is a live view any code can read at any time and serialize
//!   to JSON: requests per second, error rate and p50/p95/p99/max latency
//!   over a sliding window, in flight, rejections by reason, latency
//!   objectives met or missed, a watched cache's hit rate, watched
//!   breakers' states, the process's CPU time and memory.
//! - [`PrometheusExporter`] (feature `prometheus`, on by default) sets up
//!   `metrics-exporter-prometheus` with real histograms (never summaries)
//!   on the semconv buckets plus finer ones for cache hits, and renders
//!   `/metrics` in one call.
//! - [`names`] is where the name of every metric of every mcp-stack crate
//!   is defined; the README's table lists them all.
//!
//! Put the layer outermost, so it sees every request, including those the
//! limits and breakers reject:
//!
//! ```
//! use mcp_metrics::{LatencyObjective, MetricsLayer, PrometheusExporter, Stats};
//! use mcp_service::jsonrpc::{JsonRpcRequest, JsonRpcResponse};
//! use serde_json::json;
//! use std::time::Duration;
//! use tower::{Service, ServiceBuilder, ServiceExt, service_fn};
//!
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! // Once per process, before the layers are built: `install()` sets the
//! // global recorder (`build()` here, to keep the example self-contained).
//! let (recorder, exporter) = PrometheusExporter::builder().build()?;
//! let _recorder = metrics::set_default_local_recorder(&recorder);
//!
//! let stats = Stats::builder()
//!     .objective(LatencyObjective::tool("search").p95(Duration::from_millis(200)))
//!     .build()?;
//! let metrics = MetricsLayer::builder()
//!     .tools(["search"])
//!     .stats(stats.clone())
//!     .build()?;
//! let mut service = ServiceBuilder::new()
//!     .layer(metrics)
//!     // .layer(rate limit) .layer(cache) ... (see the facade for the order)
//!     .service(service_fn(|_request: JsonRpcRequest| async {
//!         JsonRpcResponse::from_value(&json!({ "content": [] }))
//!     }));
//!
//! let call = JsonRpcRequest::new(None, "tools/call", Some(&json!({ "name": "search" })))?;
//! service.ready().await?.call(call).await?;
//!
//! let text = exporter.render(); // serve at /metrics
//! assert!(text.contains(r#"gen_ai_tool_name="search""#));
//! let snapshot = stats.snapshot(); // serve at /stats
//! assert_eq!(snapshot.requests, 1);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! # }).unwrap();
//! ```
//!
//! # Defaults
//!
//! - [`MetricsLayer`]: no tool, prompt or custom method registered; no
//!   stats; size histograms off; no `network.transport`; metric handles
//!   taken again every 60 s ([`MetricsBuilder::handle_refresh`]).
//! - [`Stats`]: a 60 s window of one-second slots, no objectives.
//!   Percentiles are within 1/32 (3.1 %) of the exact value.
//! - [`PrometheusExporter`]: [`DURATION_BUCKETS`] (100 µs to 300 s) for
//!   every histogram but sizes, [`SIZE_BUCKETS`] (256 B to 16 MiB) for
//!   those; histogram series idle for 10 minutes expire; samples drained
//!   every 5 s.
//!
//! # What it costs
//!
//! Per request, with no recorder and no subscriber: two clock reads, a hash
//! lookup of the tool name, and one reference count. The metric handles of
//! each label set are taken once and kept, so no label list is built per
//! request; a span is only built when a subscriber wants it, and only then
//! is `_meta` read. See the README for the measured figures.
//!
//! # Metrics
//!
//! `mcp.server.operation.duration` (histogram, seconds),
//! `mcp.server.active_requests` (gauge), `mcp.server.request.size` and
//! `mcp.server.response.size` (histograms, bytes, opt-in); labels in
//! [`names`]. A request whose future is dropped before it finishes is
//! recorded with `error.type` `cancelled`.

#![cfg_attr(docsrs, feature(doc_auto_cfg))]

mod describe;
mod error;
mod future;
mod labels;
mod layer;
pub mod names;
mod outcome;
#[cfg(feature = "prometheus")]
mod prometheus;
mod recorder;
mod series;
mod service;
mod span;
mod stats;

pub use describe::describe_metrics;
pub use error::ConfigError;
#[cfg(feature = "prometheus")]
pub use error::ExporterError;
pub use future::ResponseFuture;
pub use layer::{MetricsBuilder, MetricsLayer, NameRegistry};
#[cfg(feature = "prometheus")]
pub use prometheus::{
    DURATION_BUCKETS, PrometheusExporter, PrometheusExporterBuilder, SIZE_BUCKETS,
};
pub use service::Metrics;
pub use stats::{
    CacheCounts, CacheStats, Latency, LatencyObjective, ObjectiveScope, ObjectiveStatus,
    ProcessStats, Stats, StatsBuilder, StatsSnapshot,
};
