//! [`Target`]: the series of one method, tool or prompt, with its metric
//! handles taken once and kept, so a request records without building a
//! label list or asking the recorder to find its series.

use std::sync::{Arc, OnceLock, PoisonError, RwLock};

use mcp_service::Clock;
use metrics::{Gauge, Histogram, Label, SharedString};

use crate::{
    Stats,
    labels::{VERSION_SLOTS, version_label},
    names,
    outcome::{Ending, ErrorKey},
    stats::ObjectiveState,
};

/// What every target of a layer shares.
pub(crate) struct Common {
    pub(crate) clock: Clock,
    /// Whether requests are measured whatever recorder is installed: there
    /// is a `Stats` to feed, or the builder said so.
    pub(crate) always_record: bool,
    pub(crate) stats: Option<Stats>,
    pub(crate) sizes: bool,
    pub(crate) transport: Option<SharedString>,
    /// The `mcp.upstream.name` of every series, when configured.
    pub(crate) upstream: Option<SharedString>,
    /// How long a handle is trusted, in nanoseconds; see
    /// [`MetricsBuilder::handle_refresh`](crate::MetricsBuilder::handle_refresh).
    pub(crate) refresh: u64,
}

/// The series of one method, or of one tool or prompt of it.
pub(crate) struct Target {
    method: SharedString,
    /// The tool or prompt label and its value.
    name: Option<(&'static str, SharedString)>,
    common: Arc<Common>,
    objectives: Box<[Arc<ObjectiveState>]>,
    active: OnceLock<Gauge>,
    /// By protocol version slot; made when first used.
    cells: [OnceLock<Box<Cell>>; VERSION_SLOTS],
}

/// The handles of one target at one protocol version.
#[derive(Default)]
struct Cell {
    duration: OnceLock<Histogram>,
    /// By `error.type`: few per target, so a short list.
    failures: RwLock<Vec<(ErrorKey, Histogram)>>,
    request_size: OnceLock<Histogram>,
    response_size: OnceLock<Histogram>,
}

impl Target {
    pub(crate) fn new(
        method: SharedString,
        name: Option<(&'static str, SharedString)>,
        common: Arc<Common>,
    ) -> Self {
        let objectives = match &common.stats {
            Some(stats) => {
                let tool = name
                    .as_ref()
                    .filter(|(key, _)| *key == names::TOOL_NAME)
                    .map(|(_, value)| &**value);
                stats.objectives_for(&method, tool)
            }
            None => Box::default(),
        };
        Self {
            method,
            name,
            common,
            objectives,
            active: OnceLock::new(),
            cells: Default::default(),
        }
    }

    /// Now, on the layer's clock.
    #[inline]
    pub(crate) fn now(&self) -> u64 {
        self.common.clock.nanos()
    }

    /// Whether size histograms are recorded.
    #[inline]
    pub(crate) fn records_sizes(&self) -> bool {
        self.common.sizes
    }

    /// A request of this target started.
    #[inline]
    pub(crate) fn begin(&self) {
        self.active
            .get_or_init(|| {
                let mut labels = vec![Label::new(names::METHOD_NAME, self.method.clone())];
                if let Some(upstream) = &self.common.upstream {
                    labels.push(Label::new(names::UPSTREAM_NAME, upstream.clone()));
                }
                metrics::gauge!(names::SERVER_ACTIVE_REQUESTS, labels)
            })
            .increment(1.0);
        if let Some(stats) = &self.common.stats {
            stats.begin();
        }
    }

    /// A request of this target, at protocol version `slot`, that started
    /// at `started` ended as `ending`, with a result of `response_bytes`.
    #[inline]
    pub(crate) fn end(
        &self,
        slot: usize,
        started: u64,
        ending: &Ending,
        response_bytes: Option<usize>,
    ) {
        let now = self.now();
        let nanos = now.saturating_sub(started);
        if ending.error.is_none() && response_bytes.is_none() && nanos <= self.common.refresh {
            let cell = self.cell(slot);
            match cell.duration.get() {
                Some(duration) => duration.record(nanos as f64 * 1e-9),
                None => self.first_duration(cell, slot, nanos),
            }
        } else {
            self.record_other(slot, nanos, ending, response_bytes);
        }
        if let Some(active) = self.active.get() {
            active.decrement(1.0);
        }
        if let Some(stats) = &self.common.stats {
            stats.end(now, nanos, ending, &self.objectives);
        }
    }

    #[cold]
    fn first_duration(&self, cell: &Cell, slot: usize, nanos: u64) {
        cell.duration
            .get_or_init(|| self.histogram(names::SERVER_OPERATION_DURATION, slot, None))
            .record(nanos as f64 * 1e-9);
    }

    /// The durations of failures and of long requests, and response sizes.
    #[cold]
    fn record_other(
        &self,
        slot: usize,
        nanos: u64,
        ending: &Ending,
        response_bytes: Option<usize>,
    ) {
        let seconds = nanos as f64 * 1e-9;
        let cell = self.cell(slot);
        if nanos > self.common.refresh {
            // The exporter may have expired this series while the request
            // ran (it had no other samples for that long): register again.
            let labels = self.labels(slot, ending.error);
            metrics::histogram!(names::SERVER_OPERATION_DURATION, labels).record(seconds);
        } else {
            match ending.error {
                None => cell
                    .duration
                    .get_or_init(|| self.histogram(names::SERVER_OPERATION_DURATION, slot, None))
                    .record(seconds),
                Some(error) => self.failure(cell, slot, error).record(seconds),
            }
        }
        if let Some(bytes) = response_bytes {
            cell.response_size
                .get_or_init(|| self.histogram(names::SERVER_RESPONSE_SIZE, slot, None))
                .record(bytes as f64);
        }
    }

    /// Records the size of a request of this target at protocol version `slot`.
    pub(crate) fn request_size(&self, slot: usize, bytes: u64) {
        self.cell(slot)
            .request_size
            .get_or_init(|| self.histogram(names::SERVER_REQUEST_SIZE, slot, None))
            .record(bytes as f64);
    }

    #[inline]
    fn cell(&self, slot: usize) -> &Cell {
        self.cells[slot.min(VERSION_SLOTS - 1)].get_or_init(Box::default)
    }

    fn failure(&self, cell: &Cell, slot: usize, error: ErrorKey) -> Histogram {
        let known = cell
            .failures
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .find(|(key, _)| *key == error)
            .map(|(_, histogram)| histogram.clone());
        if let Some(histogram) = known {
            return histogram;
        }
        let mut failures = cell
            .failures
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some((_, histogram)) = failures.iter().find(|(key, _)| *key == error) {
            return histogram.clone();
        }
        let histogram = self.histogram(names::SERVER_OPERATION_DURATION, slot, Some(error));
        failures.push((error, histogram.clone()));
        histogram
    }

    fn histogram(&self, name: &'static str, slot: usize, error: Option<ErrorKey>) -> Histogram {
        let mut labels = self.labels(slot, error);
        if name != names::SERVER_OPERATION_DURATION {
            labels.retain(|label| {
                label.key() != names::ERROR_TYPE && label.key() != names::RESPONSE_STATUS_CODE
            });
        }
        metrics::histogram!(name, labels)
    }

    /// The labels of this target's series at `slot` that ended with `error`.
    fn labels(&self, slot: usize, error: Option<ErrorKey>) -> Vec<Label> {
        let mut labels = vec![Label::new(names::METHOD_NAME, self.method.clone())];
        if let Some((key, value)) = &self.name {
            labels.push(Label::new(*key, value.clone()));
            if *key == names::TOOL_NAME {
                labels.push(Label::from_static_parts(
                    names::OPERATION_NAME,
                    names::OPERATION_EXECUTE_TOOL,
                ));
            }
        }
        if let Some(version) = version_label(slot) {
            labels.push(Label::from_static_parts(names::PROTOCOL_VERSION, version));
        }
        if let Some(transport) = &self.common.transport {
            labels.push(Label::new(names::NETWORK_TRANSPORT, transport.clone()));
        }
        if let Some(upstream) = &self.common.upstream {
            labels.push(Label::new(names::UPSTREAM_NAME, upstream.clone()));
        }
        match error {
            None => {}
            Some(ErrorKey::ToolError) => labels.push(Label::from_static_parts(
                names::ERROR_TYPE,
                names::ERROR_TYPE_TOOL_ERROR,
            )),
            Some(ErrorKey::Kind { kind, code }) => {
                labels.push(Label::from_static_parts(names::ERROR_TYPE, kind));
                labels.push(Label::new(names::RESPONSE_STATUS_CODE, code.to_string()));
            }
            Some(ErrorKey::Code(code)) => {
                let code = SharedString::from(code.to_string());
                labels.push(Label::new(names::ERROR_TYPE, code.clone()));
                labels.push(Label::new(names::RESPONSE_STATUS_CODE, code));
            }
            Some(ErrorKey::Other) => {
                labels.push(Label::from_static_parts(names::ERROR_TYPE, names::OTHER));
                labels.push(Label::from_static_parts(
                    names::RESPONSE_STATUS_CODE,
                    names::OTHER,
                ));
            }
        }
        labels
    }
}
