//! The kind, unit and description of every metric in [`names`], told to
//! the recorder so exporters can show them (Prometheus appends the unit to
//! the name: `mcp_server_operation_duration_seconds`).

use metrics::{Recorder, Unit};

use crate::names;

/// What kind of metric a name is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Counter,
    Gauge,
    Histogram,
}

/// One metric of [`names`].
pub(crate) struct Described {
    pub(crate) name: &'static str,
    pub(crate) kind: Kind,
    pub(crate) unit: Option<Unit>,
    pub(crate) help: &'static str,
}

const fn metric(
    name: &'static str,
    kind: Kind,
    unit: Option<Unit>,
    help: &'static str,
) -> Described {
    Described {
        name,
        kind,
        unit,
        help,
    }
}

use Kind::{Counter, Gauge, Histogram};

/// Every metric an mcp-stack crate emits.
pub(crate) const METRICS: &[Described] = &[
    metric(
        names::SERVER_OPERATION_DURATION,
        Histogram,
        Some(Unit::Seconds),
        "How long the server took to answer a request, from receipt to result.",
    ),
    metric(
        names::SERVER_ACTIVE_REQUESTS,
        Gauge,
        Some(Unit::Count),
        "Requests the server is handling.",
    ),
    metric(
        names::SERVER_REQUEST_SIZE,
        Histogram,
        Some(Unit::Bytes),
        "The size of a request as received.",
    ),
    metric(
        names::SERVER_RESPONSE_SIZE,
        Histogram,
        Some(Unit::Bytes),
        "The size of a result as sent.",
    ),
    metric(
        names::BREAKER_STATE,
        Gauge,
        None,
        "Circuit breaker state: 0 closed, 1 open, 2 half-open, 3 forced open, 4 disabled.",
    ),
    metric(
        names::BREAKER_TRANSITIONS,
        Counter,
        Some(Unit::Count),
        "Circuit breaker state changes, by state entered.",
    ),
    metric(
        names::BREAKER_REJECTIONS,
        Counter,
        Some(Unit::Count),
        "Calls a circuit breaker rejected.",
    ),
    metric(
        names::LIMIT_REJECTIONS,
        Counter,
        Some(Unit::Count),
        "Requests a limiter rejected, by reason.",
    ),
    metric(
        names::LIMIT_ADMISSIONS,
        Counter,
        Some(Unit::Count),
        "Requests a limiter let through.",
    ),
    metric(
        names::LIMIT_IN_FLIGHT,
        Gauge,
        Some(Unit::Count),
        "Calls holding a slot of a concurrency limit.",
    ),
    metric(
        names::LIMIT_LIMIT,
        Gauge,
        Some(Unit::Count),
        "The current limit of a concurrency limit, in slots.",
    ),
    metric(
        names::LIMIT_FALLBACKS,
        Counter,
        Some(Unit::Count),
        "Decisions a Redis-kept rate limit made without Redis.",
    ),
    metric(
        names::CACHE_REQUESTS,
        Counter,
        Some(Unit::Count),
        "Cache lookups, by tier and result.",
    ),
    metric(
        names::CACHE_COALESCED,
        Counter,
        Some(Unit::Count),
        "Requests that waited for another request's fill of the same key.",
    ),
    metric(
        names::CACHE_EVICTIONS,
        Counter,
        Some(Unit::Count),
        "Entries that left the in-memory tier, by cause.",
    ),
    metric(
        names::CACHE_BYTES,
        Gauge,
        Some(Unit::Bytes),
        "The weighted size of the in-memory tier.",
    ),
    metric(
        names::CACHE_REDIS_ERRORS,
        Counter,
        Some(Unit::Count),
        "Redis operations of the shared tier that failed or timed out.",
    ),
    metric(
        names::CACHE_INVALIDATIONS,
        Counter,
        Some(Unit::Count),
        "Invalidations applied, by source.",
    ),
    metric(
        names::STREAM_CHUNKS,
        Counter,
        Some(Unit::Count),
        "Chunks of resources/read served in place of a whole resource, by origin.",
    ),
    metric(
        names::STREAM_BYTES,
        Counter,
        Some(Unit::Bytes),
        "Resource bytes served in chunks, before encoding, by origin.",
    ),
    metric(
        names::STREAM_PAGES,
        Counter,
        Some(Unit::Count),
        "List pages cut from longer lists.",
    ),
    metric(
        names::STREAM_CURSOR_REJECTIONS,
        Counter,
        Some(Unit::Count),
        "Page and chunk cursors refused, by reason.",
    ),
    metric(
        names::STREAM_TOO_LARGE,
        Counter,
        Some(Unit::Count),
        "Responses refused for exceeding the message limit.",
    ),
];

/// Tells the current recorder the unit and description of every metric an
/// mcp-stack crate emits. [`MetricsLayer`](crate::MetricsLayer) and the
/// Prometheus exporter of this crate do it themselves; call it after
/// installing another recorder.
pub fn describe_metrics() {
    metrics::with_recorder(describe_into);
}

/// [`describe_metrics`] to `recorder`.
pub(crate) fn describe_into(recorder: &dyn Recorder) {
    for metric in METRICS {
        let (name, unit, help) = (metric.name.into(), metric.unit, metric.help.into());
        match metric.kind {
            Kind::Counter => recorder.describe_counter(name, unit, help),
            Kind::Gauge => recorder.describe_gauge(name, unit, help),
            Kind::Histogram => recorder.describe_histogram(name, unit, help),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    /// The metric constants of `names.rs`, by value, with the kind their
    /// doc comment names.
    fn declared() -> BTreeMap<String, Kind> {
        let source = include_str!("names.rs");
        let mut doc = String::new();
        let mut metrics = BTreeMap::new();
        for line in source.lines().map(str::trim) {
            if let Some(text) = line.strip_prefix("///") {
                doc.push_str(text.trim());
                doc.push(' ');
                continue;
            }
            if line.starts_with("pub const") {
                let value = line.split('"').nth(1).unwrap_or_default().to_owned();
                let kind = [
                    ("a counter", Kind::Counter),
                    ("a gauge", Kind::Gauge),
                    ("a histogram", Kind::Histogram),
                ]
                .into_iter()
                .find(|(words, _)| doc.contains(words));
                if let Some((_, kind)) = kind {
                    metrics.insert(value, kind);
                }
            }
            doc.clear();
        }
        metrics
    }

    #[test]
    fn every_metric_in_names_is_described_once_with_its_kind() {
        let declared = declared();
        assert!(declared.len() >= METRICS.len(), "{declared:?}");
        let described: BTreeMap<String, Kind> = METRICS
            .iter()
            .map(|metric| (metric.name.to_owned(), metric.kind))
            .collect();
        assert_eq!(
            described.len(),
            METRICS.len(),
            "a metric is described twice"
        );
        assert_eq!(declared, described);
    }

    #[test]
    fn the_readme_table_has_one_row_for_every_metric() {
        let readme = include_str!("../README.md");
        for metric in METRICS {
            let row = format!("| `{}` |", metric.name);
            let rows = readme.lines().filter(|line| line.starts_with(&row)).count();
            assert_eq!(rows, 1, "README rows for {}", metric.name);
        }
    }
}
