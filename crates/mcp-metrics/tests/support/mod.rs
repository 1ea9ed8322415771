//! What the tests share: a paused runtime under a local recorder, and
//! lookups in a recorder's snapshot.

#![allow(dead_code, reason = "each test binary uses a part")]

use std::{collections::BTreeMap, future::Future};

use mcp_service::jsonrpc::{JsonRpcRequest, JsonRpcResponse};
use metrics::{Recorder, Unit};
use metrics_util::debugging::{DebugValue, Snapshotter};
use serde_json::{Value, json};

/// Runs `test` on a current-thread runtime with a paused clock, with
/// `recorder` as the thread's recorder: everything the test spawns runs on
/// this thread, so it records there too.
pub(crate) fn run<F: Future>(recorder: &dyn Recorder, test: impl FnOnce() -> F) -> F::Output {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .unwrap();
    metrics::with_local_recorder(recorder, || runtime.block_on(test()))
}

/// One series of a snapshot.
#[derive(Debug)]
pub(crate) struct Series {
    pub(crate) name: String,
    pub(crate) labels: BTreeMap<String, String>,
    pub(crate) unit: Option<Unit>,
    pub(crate) value: DebugValue,
}

impl Series {
    /// The samples of a histogram.
    pub(crate) fn samples(&self) -> Vec<f64> {
        match &self.value {
            DebugValue::Histogram(samples) => samples.iter().map(|s| s.into_inner()).collect(),
            other => panic!("{} is not a histogram: {other:?}", self.name),
        }
    }

    /// The value of a gauge.
    pub(crate) fn gauge(&self) -> f64 {
        match &self.value {
            DebugValue::Gauge(value) => value.into_inner(),
            other => panic!("{} is not a gauge: {other:?}", self.name),
        }
    }

    pub(crate) fn label(&self, key: &str) -> Option<&str> {
        self.labels.get(key).map(String::as_str)
    }
}

/// Every series recorded since the last snapshot (histogram samples and
/// counter increments are taken out).
pub(crate) fn snapshot(snapshotter: &Snapshotter) -> Vec<Series> {
    snapshotter
        .snapshot()
        .into_vec()
        .into_iter()
        .map(|(key, unit, _, value)| {
            let key = key.key();
            Series {
                name: key.name().to_owned(),
                labels: key
                    .labels()
                    .map(|label| (label.key().to_owned(), label.value().to_owned()))
                    .collect(),
                unit,
                value,
            }
        })
        .collect()
}

/// The series of `name` whose labels are exactly `labels`.
pub(crate) fn find<'a>(
    series: &'a [Series],
    name: &str,
    labels: &[(&str, &str)],
) -> Option<&'a Series> {
    let want: BTreeMap<String, String> = labels
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    series
        .iter()
        .find(|series| series.name == name && series.labels == want)
}

/// A request built in code.
pub(crate) fn request(method: &str, params: Option<Value>) -> JsonRpcRequest {
    JsonRpcRequest::new(None, method, params.as_ref()).unwrap()
}

/// A `tools/call` of `tool`.
pub(crate) fn call(tool: &str) -> JsonRpcRequest {
    request("tools/call", Some(json!({ "name": tool })))
}

/// An empty successful result.
pub(crate) fn ok() -> Result<JsonRpcResponse, mcp_service::McpError> {
    JsonRpcResponse::from_value(&json!({ "content": [] }))
}

/// A span as a subscriber saw it: its name and its fields' last values.
#[derive(Debug, Clone)]
pub(crate) struct SpanSeen {
    pub(crate) name: &'static str,
    pub(crate) fields: BTreeMap<String, String>,
}

impl SpanSeen {
    pub(crate) fn field(&self, name: &str) -> Option<&str> {
        self.fields.get(name).map(String::as_str)
    }
}

/// A tracing subscriber that keeps every span and its fields.
#[derive(Clone, Default)]
pub(crate) struct SpanRecorder {
    spans: std::sync::Arc<std::sync::Mutex<Vec<SpanSeen>>>,
}

impl SpanRecorder {
    pub(crate) fn spans(&self) -> Vec<SpanSeen> {
        self.spans.lock().unwrap().clone()
    }
}

struct Fields<'a>(&'a mut BTreeMap<String, String>);

impl tracing::field::Visit for Fields<'_> {
    fn record_str(&mut self, field: &tracing::field::Field, value: &str) {
        self.0.insert(field.name().to_owned(), value.to_owned());
    }

    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        self.0.insert(field.name().to_owned(), format!("{value:?}"));
    }
}

impl tracing::Subscriber for SpanRecorder {
    /// Asked again at each callsite: this subscriber is one thread's only,
    /// and other threads of the test binary have none.
    fn register_callsite(
        &self,
        _: &'static tracing::Metadata<'static>,
    ) -> tracing::subscriber::Interest {
        tracing::subscriber::Interest::sometimes()
    }

    fn enabled(&self, _: &tracing::Metadata<'_>) -> bool {
        true
    }

    fn new_span(&self, attributes: &tracing::span::Attributes<'_>) -> tracing::span::Id {
        let mut fields = BTreeMap::new();
        attributes.record(&mut Fields(&mut fields));
        let mut spans = self.spans.lock().unwrap();
        spans.push(SpanSeen {
            name: attributes.metadata().name(),
            fields,
        });
        tracing::span::Id::from_u64(spans.len() as u64)
    }

    fn record(&self, span: &tracing::span::Id, values: &tracing::span::Record<'_>) {
        let mut spans = self.spans.lock().unwrap();
        let index = usize::try_from(span.into_u64()).unwrap() - 1;
        values.record(&mut Fields(&mut spans[index].fields));
    }

    fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}

    fn event(&self, _: &tracing::Event<'_>) {}

    fn enter(&self, _: &tracing::span::Id) {}

    fn exit(&self, _: &tracing::span::Id) {}
}
