//! What MetricsLayer records, read back from metrics-util's
//! DebuggingRecorder: names, units, labels, values, and the `_OTHER` rule.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests fail loudly"
)]

mod support;

use std::{
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering::SeqCst},
    },
    time::Duration,
};

use mcp_metrics::{MetricsLayer, names};
use mcp_service::{
    McpError, McpRequest, RpcError,
    jsonrpc::{JsonRpcRequest, JsonRpcResponse},
};
use metrics::{Counter, Gauge, Histogram, Key, KeyName, Metadata, Recorder, SharedString, Unit};
use metrics_util::debugging::DebuggingRecorder;
use serde_json::json;
use support::{Series, call, find, ok, request, run, snapshot};
use tokio::sync::Notify;
use tower::{Layer, Service, ServiceExt, service_fn};

/// Answers by tool name, after 250 ms: the failures each test needs.
async fn answer(request: JsonRpcRequest) -> Result<JsonRpcResponse, McpError> {
    tokio::time::sleep(Duration::from_millis(250)).await;
    match request.tool_name() {
        Some("internal") => Err(RpcError::internal("boom").into()),
        Some("invalid") => Err(RpcError::invalid_params("no such argument").into()),
        Some("odd") => Err(RpcError::new(7, "an upstream's own code").into()),
        Some("limited") => Err(McpError::RateLimited {
            retry_after: Duration::from_secs(1),
        }),
        Some("tool_error") => Ok(JsonRpcResponse::tool_error("the city does not exist")),
        _ => ok(),
    }
}

fn versioned(method: &str, version: &str) -> JsonRpcRequest {
    request(
        method,
        Some(json!({ "_meta": { "io.modelcontextprotocol/protocolVersion": version } })),
    )
}

/// The duration series of `tools/call` on the `search` tool.
fn search_duration(series: &[Series]) -> Option<&Series> {
    find(
        series,
        names::SERVER_OPERATION_DURATION,
        &[
            (names::METHOD_NAME, "tools/call"),
            (names::TOOL_NAME, "search"),
            (names::OPERATION_NAME, names::OPERATION_EXECUTE_TOOL),
        ],
    )
}

#[test]
fn durations_are_seconds_labelled_by_method_registered_tool_and_version() {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    run(&recorder, || async {
        let layer = MetricsLayer::builder().tools(["search"]).build().unwrap();
        let mut service = layer.layer(service_fn(answer));
        service
            .ready()
            .await
            .unwrap()
            .call(call("search"))
            .await
            .unwrap();
        service
            .ready()
            .await
            .unwrap()
            .call(versioned("tools/list", "2025-11-25"))
            .await
            .unwrap();
        service
            .ready()
            .await
            .unwrap()
            .call(versioned("tools/list", "1999-12-31"))
            .await
            .unwrap();
    });
    let series = snapshot(&snapshotter);
    let search = search_duration(&series).expect("a series for the registered tool");
    assert_eq!(search.unit, Some(Unit::Seconds));
    assert_eq!(
        search.samples(),
        vec![0.25],
        "the paused clock's 250 ms, in seconds"
    );
    let list = |version| {
        find(
            &series,
            names::SERVER_OPERATION_DURATION,
            &[
                (names::METHOD_NAME, "tools/list"),
                (names::PROTOCOL_VERSION, version),
            ],
        )
        .map(|series| series.samples().len())
    };
    assert_eq!(list("2025-11-25"), Some(1));
    assert_eq!(list(names::OTHER), Some(1), "a made-up version is _OTHER");
    let active = find(
        &series,
        names::SERVER_ACTIVE_REQUESTS,
        &[(names::METHOD_NAME, "tools/call")],
    )
    .unwrap();
    assert_eq!(active.gauge(), 0.0);
}

#[test]
fn error_type_names_the_code_the_tool_error_or_the_rejection() {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let tools = ["internal", "invalid", "odd", "limited", "tool_error"];
    run(&recorder, || async {
        let layer = MetricsLayer::builder().tools(tools).build().unwrap();
        let mut service = layer.layer(service_fn(answer));
        for tool in tools {
            let _ = service.ready().await.unwrap().call(call(tool)).await;
        }
    });
    let series = snapshot(&snapshotter);
    let labels_of = |tool: &str| {
        let found: Vec<_> = series
            .iter()
            .filter(|s| {
                s.name == names::SERVER_OPERATION_DURATION
                    && s.label(names::TOOL_NAME) == Some(tool)
            })
            .collect();
        assert_eq!(found.len(), 1, "{tool}: {found:?}");
        assert_eq!(found[0].samples().len(), 1);
        (
            found[0].label(names::ERROR_TYPE).map(str::to_owned),
            found[0]
                .label(names::RESPONSE_STATUS_CODE)
                .map(str::to_owned),
        )
    };
    let owned = |error: &str, code: Option<&str>| (Some(error.to_owned()), code.map(str::to_owned));
    assert_eq!(labels_of("internal"), owned("-32603", Some("-32603")));
    assert_eq!(labels_of("invalid"), owned("-32602", Some("-32602")));
    assert_eq!(labels_of("odd"), owned(names::OTHER, Some(names::OTHER)));
    assert_eq!(labels_of("limited"), owned("rate_limited", Some("-32010")));
    assert_eq!(
        labels_of("tool_error"),
        owned(names::ERROR_TYPE_TOOL_ERROR, None)
    );
}

#[test]
fn a_hundred_thousand_made_up_tool_names_add_one_series() {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let calls = 100_000;
    run(&recorder, || async {
        let layer = MetricsLayer::builder().tools(["search"]).build().unwrap();
        let mut service = layer.layer(service_fn(|_request: JsonRpcRequest| async { ok() }));
        service
            .ready()
            .await
            .unwrap()
            .call(call("search"))
            .await
            .unwrap();
        for i in 0..calls {
            let request = call(&format!("made-up-{i}"));
            service.ready().await.unwrap().call(request).await.unwrap();
        }
    });
    let series = snapshot(&snapshotter);
    let durations: Vec<_> = series
        .iter()
        .filter(|s| s.name == names::SERVER_OPERATION_DURATION)
        .collect();
    assert_eq!(durations.len(), 2, "search and _OTHER: {durations:?}");
    let other = find(
        &series,
        names::SERVER_OPERATION_DURATION,
        &[
            (names::METHOD_NAME, "tools/call"),
            (names::TOOL_NAME, names::OTHER),
            (names::OPERATION_NAME, names::OPERATION_EXECUTE_TOOL),
        ],
    )
    .unwrap();
    assert_eq!(other.samples().len(), calls);
    assert!(
        series
            .iter()
            .all(|s| !s.labels.values().any(|v| v.starts_with("made-up"))),
        "no label carries a client's name"
    );
}

#[test]
fn unknown_methods_are_other_unless_registered() {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    run(&recorder, || async {
        let layer = MetricsLayer::builder()
            .methods(["vendor/known"])
            .build()
            .unwrap();
        let mut service = layer.layer(service_fn(|_request: JsonRpcRequest| async { ok() }));
        for method in ["vendor/known", "vendor/unknown", "vendor/other"] {
            service
                .ready()
                .await
                .unwrap()
                .call(request(method, None))
                .await
                .unwrap();
        }
    });
    let series = snapshot(&snapshotter);
    let count = |method| {
        find(
            &series,
            names::SERVER_OPERATION_DURATION,
            &[(names::METHOD_NAME, method)],
        )
        .map(|s| s.samples().len())
    };
    assert_eq!(count("vendor/known"), Some(1));
    assert_eq!(count(names::OTHER), Some(2));
    assert_eq!(count("vendor/unknown"), None);
}

#[test]
fn in_flight_counts_running_requests_and_a_dropped_request_is_cancelled() {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let release = Arc::new(Notify::new());
    // The debugging recorder sets a gauge back to 0 at each snapshot: each
    // reading is the change since the one before.
    let gauge = |snapshotter| {
        let series = snapshot(snapshotter);
        find(
            &series,
            names::SERVER_ACTIVE_REQUESTS,
            &[(names::METHOD_NAME, "tools/call")],
        )
        .map(|s| s.gauge())
    };
    run(&recorder, || async {
        let held = release.clone();
        let layer = MetricsLayer::new();
        let service = layer.layer(service_fn(move |_request: JsonRpcRequest| {
            let held = held.clone();
            async move {
                held.notified().await;
                ok()
            }
        }));
        let finishing = tokio::spawn(service.clone().oneshot(call("a")));
        let dropped = tokio::spawn(service.clone().oneshot(call("b")));
        tokio::task::yield_now().await;
        assert_eq!(gauge(&snapshotter), Some(2.0));

        dropped.abort();
        assert!(dropped.await.unwrap_err().is_cancelled());
        assert_eq!(gauge(&snapshotter), Some(-1.0), "the dropped request ended");
        release.notify_one();
        finishing.await.unwrap().unwrap();
        assert_eq!(gauge(&snapshotter), Some(-1.0));
    });
    let series = snapshot(&snapshotter);
    let cancelled = series
        .iter()
        .find(|s| {
            s.name == names::SERVER_OPERATION_DURATION && s.label(names::ERROR_TYPE).is_some()
        })
        .expect("the dropped request is recorded");
    assert_eq!(cancelled.label(names::ERROR_TYPE), Some("cancelled"));
    assert_eq!(cancelled.label(names::RESPONSE_STATUS_CODE), Some("-32015"));
}

#[test]
fn registered_tools_change_at_run_time_for_services_already_built() {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    run(&recorder, || async {
        let layer = MetricsLayer::builder().tools(["old"]).build().unwrap();
        let mut service = layer.layer(service_fn(|_request: JsonRpcRequest| async { ok() }));
        service
            .ready()
            .await
            .unwrap()
            .call(call("new"))
            .await
            .unwrap();
        layer.names().set_tools(["new"]);
        assert_eq!(layer.names().tools(), vec!["new".to_owned()]);
        service
            .ready()
            .await
            .unwrap()
            .call(call("new"))
            .await
            .unwrap();
        service
            .ready()
            .await
            .unwrap()
            .call(call("old"))
            .await
            .unwrap();
    });
    let series = snapshot(&snapshotter);
    let count = |tool| {
        find(
            &series,
            names::SERVER_OPERATION_DURATION,
            &[
                (names::METHOD_NAME, "tools/call"),
                (names::TOOL_NAME, tool),
                (names::OPERATION_NAME, names::OPERATION_EXECUTE_TOOL),
            ],
        )
        .map(|s| s.samples().len())
    };
    assert_eq!(count("new"), Some(1), "labelled once registered");
    assert_eq!(count(names::OTHER), Some(2), "before, and `old` after");
    assert_eq!(count("old"), None);
}

#[test]
fn sizes_are_recorded_only_when_asked_for() {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let response = json!({ "content": [{ "type": "text", "text": "hello" }] });
    let response_bytes = serde_json::to_string(&response).unwrap().len() as f64;
    run(&recorder, || async {
        let reply = move |_request: JsonRpcRequest| {
            let response = response.clone();
            async move { JsonRpcResponse::from_value(&response) }
        };
        let mut plain = MetricsLayer::new().layer(service_fn(reply.clone()));
        plain
            .ready()
            .await
            .unwrap()
            .call(request("tools/list", None))
            .await
            .unwrap();
        assert!(
            snapshot(&snapshotter)
                .iter()
                .all(|s| s.name != names::SERVER_RESPONSE_SIZE
                    && s.name != names::SERVER_REQUEST_SIZE)
        );

        let layer = MetricsLayer::builder().sizes(true).build().unwrap();
        let mut sized = layer.layer(service_fn(reply));
        let mut over_http = request("tools/list", None);
        let (parts, ()) = http::Request::post("/mcp")
            .header("content-length", "321")
            .body(())
            .unwrap()
            .into_parts();
        over_http.insert_extension(parts);
        sized.ready().await.unwrap().call(over_http).await.unwrap();
    });
    let series = snapshot(&snapshotter);
    let method = [(names::METHOD_NAME, "tools/list")];
    let size = |name| find(&series, name, &method).unwrap();
    assert_eq!(size(names::SERVER_REQUEST_SIZE).samples(), vec![321.0]);
    assert_eq!(
        size(names::SERVER_RESPONSE_SIZE).samples(),
        vec![response_bytes]
    );
    assert_eq!(size(names::SERVER_RESPONSE_SIZE).unit, Some(Unit::Bytes));
}

/// Counts how often histograms are registered, passing them on.
struct Counting {
    inner: DebuggingRecorder,
    histograms: AtomicUsize,
}

impl Recorder for Counting {
    fn describe_counter(&self, key: KeyName, unit: Option<Unit>, description: SharedString) {
        self.inner.describe_counter(key, unit, description);
    }
    fn describe_gauge(&self, key: KeyName, unit: Option<Unit>, description: SharedString) {
        self.inner.describe_gauge(key, unit, description);
    }
    fn describe_histogram(&self, key: KeyName, unit: Option<Unit>, description: SharedString) {
        self.inner.describe_histogram(key, unit, description);
    }
    fn register_counter(&self, key: &Key, metadata: &Metadata<'_>) -> Counter {
        self.inner.register_counter(key, metadata)
    }
    fn register_gauge(&self, key: &Key, metadata: &Metadata<'_>) -> Gauge {
        self.inner.register_gauge(key, metadata)
    }
    fn register_histogram(&self, key: &Key, metadata: &Metadata<'_>) -> Histogram {
        self.histograms.fetch_add(1, SeqCst);
        self.inner.register_histogram(key, metadata)
    }
}

#[test]
fn handles_are_taken_once_per_series_and_again_after_the_refresh() {
    let recorder = Counting {
        inner: DebuggingRecorder::new(),
        histograms: AtomicUsize::new(0),
    };
    let snapshotter = recorder.inner.snapshotter();
    run(&recorder, || async {
        {
            let layer = MetricsLayer::builder()
                .tools(["search"])
                .handle_refresh(Duration::from_secs(60))
                .build()
                .unwrap();
            let mut service = layer.layer(service_fn(|_request: JsonRpcRequest| async { ok() }));
            for _ in 0..1_000 {
                service
                    .ready()
                    .await
                    .unwrap()
                    .call(call("search"))
                    .await
                    .unwrap();
            }
            assert_eq!(
                recorder.histograms.load(SeqCst),
                1,
                "one registration for 1000 calls"
            );
            tokio::time::advance(Duration::from_secs(61)).await;
            for _ in 0..1_000 {
                service
                    .ready()
                    .await
                    .unwrap()
                    .call(call("search"))
                    .await
                    .unwrap();
            }
            assert_eq!(
                recorder.histograms.load(SeqCst),
                2,
                "taken again after the refresh"
            );
        }
    });
    let series = snapshot(&snapshotter);
    let durations: Vec<_> = series
        .iter()
        .filter(|s| s.name == names::SERVER_OPERATION_DURATION)
        .collect();
    assert_eq!(durations.len(), 1);
    assert_eq!(
        durations[0].samples().len(),
        2_000,
        "the same series before and after"
    );
}

#[test]
fn a_recorder_installed_after_calls_were_made_gets_the_next_call() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .unwrap();
    let layer = MetricsLayer::builder().tools(["search"]).build().unwrap();
    let mut service = layer.layer(service_fn(|_request: JsonRpcRequest| async { ok() }));
    // No recorder yet: the layer measures nothing and keeps no handle.
    runtime.block_on(async {
        for _ in 0..10 {
            service
                .ready()
                .await
                .unwrap()
                .call(call("search"))
                .await
                .unwrap();
        }
    });
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    metrics::with_local_recorder(&recorder, || {
        runtime.block_on(async {
            service
                .ready()
                .await
                .unwrap()
                .call(call("search"))
                .await
                .unwrap();
        });
    });
    let series = snapshot(&snapshotter);
    let duration =
        search_duration(&series).expect("the call made under the recorder has its series");
    assert_eq!(duration.samples().len(), 1, "the first recorded call");
}

/// A recorder with no fields: all it keeps is in a static.
struct Stateless;

static STATELESS_HISTOGRAMS: AtomicUsize = AtomicUsize::new(0);

impl Recorder for Stateless {
    fn describe_counter(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_gauge(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_histogram(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn register_counter(&self, _: &Key, _: &Metadata<'_>) -> Counter {
        Counter::noop()
    }
    fn register_gauge(&self, _: &Key, _: &Metadata<'_>) -> Gauge {
        Gauge::noop()
    }
    fn register_histogram(&self, _: &Key, _: &Metadata<'_>) -> Histogram {
        STATELESS_HISTOGRAMS.fetch_add(1, SeqCst);
        Histogram::noop()
    }
}

#[test]
fn a_recorder_without_fields_is_taken_for_none_unless_always_record() {
    let calls = |always: bool| {
        run(&Stateless, || async {
            let layer = MetricsLayer::builder()
                .always_record(always)
                .build()
                .unwrap();
            let mut service = layer.layer(service_fn(|_request: JsonRpcRequest| async { ok() }));
            service
                .ready()
                .await
                .unwrap()
                .call(call("search"))
                .await
                .unwrap();
        });
        STATELESS_HISTOGRAMS.swap(0, SeqCst)
    };
    assert_eq!(calls(false), 0, "looks like the no-op recorder");
    assert_eq!(calls(true), 1, "asked to record anyway");
}
