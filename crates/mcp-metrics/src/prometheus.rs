//! [`PrometheusExporter`]: the `metrics-exporter-prometheus` recorder set
//! up for MCP servers, and the text of `/metrics` in one call.

use std::{
    sync::{Arc, Weak},
    time::Duration,
};

use metrics_exporter_prometheus::{
    Matcher, PrometheusBuilder, PrometheusHandle, PrometheusRecorder,
};
use metrics_util::MetricKindMask;

use crate::{ConfigError, ExporterError, describe, names};

/// Histogram buckets of durations, in seconds: those the OpenTelemetry MCP
/// conventions advise (10 ms to 300 s), after finer ones from 100 µs for
/// cache hits and other fast answers.
pub const DURATION_BUCKETS: [f64; 20] = [
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0,
    10.0, 30.0, 60.0, 120.0, 300.0,
];

/// Histogram buckets of sizes, in bytes: powers of four from 256 B to the
/// 16 MiB a client accepts in one message.
pub const SIZE_BUCKETS: [f64; 9] = [
    256.0, 1024.0, 4096.0, 16384.0, 65536.0, 262144.0, 1048576.0, 4194304.0, 16777216.0,
];

/// A Prometheus exporter whose histograms are real histograms (never
/// summaries, which cannot be added up across instances), with
/// [`DURATION_BUCKETS`] and [`SIZE_BUCKETS`], the recommended naming
/// (`_seconds`, `_bytes`, `_total` suffixes), idle histogram series
/// expired, and a thread that drains histogram samples so memory stays
/// bounded between scrapes.
///
/// [`render`](Self::render) gives the text to serve at `/metrics`, with
/// [`CONTENT_TYPE`](Self::CONTENT_TYPE).
///
/// ```
/// use mcp_metrics::{MetricsLayer, PrometheusExporter};
///
/// // Install it first: layers take their metric handles from it.
/// let (recorder, exporter) = PrometheusExporter::builder().build()?;
/// metrics::with_local_recorder(&recorder, || {
///     let layer = MetricsLayer::new();
///     metrics::counter!("mcp.limit.admissions", "limiter" => "api").increment(3);
///     # let _ = layer;
/// });
/// assert!(exporter.render().contains("mcp_limit_admissions_total{limiter=\"api\"} 3"));
/// # Ok::<(), mcp_metrics::ExporterError>(())
/// ```
#[derive(Clone)]
pub struct PrometheusExporter {
    handle: PrometheusHandle,
    /// Keeps the upkeep thread running; it stops when the last clone goes.
    _alive: Arc<()>,
}

impl PrometheusExporter {
    /// The `Content-Type` of [`render`](Self::render)'s text.
    pub const CONTENT_TYPE: &'static str = "text/plain; version=0.0.4; charset=utf-8";

    /// A builder with the defaults: [`DURATION_BUCKETS`] for every histogram
    /// but the size ones, idle histogram series expired after 10 minutes,
    /// upkeep every 5 seconds.
    pub fn builder() -> PrometheusExporterBuilder {
        PrometheusExporterBuilder {
            duration_buckets: DURATION_BUCKETS.to_vec(),
            size_buckets: SIZE_BUCKETS.to_vec(),
            idle_timeout: Some(Duration::from_secs(600)),
            upkeep_interval: Duration::from_secs(5),
            global_labels: Vec::new(),
        }
    }

    /// The metrics in the Prometheus text format, for `/metrics`.
    pub fn render(&self) -> String {
        self.handle.render()
    }

    /// The exporter's own handle.
    pub fn handle(&self) -> &PrometheusHandle {
        &self.handle
    }
}

impl std::fmt::Debug for PrometheusExporter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PrometheusExporter").finish_non_exhaustive()
    }
}

/// Builds a [`PrometheusExporter`].
#[derive(Debug, Clone)]
pub struct PrometheusExporterBuilder {
    duration_buckets: Vec<f64>,
    size_buckets: Vec<f64>,
    idle_timeout: Option<Duration>,
    upkeep_interval: Duration,
    global_labels: Vec<(String, String)>,
}

impl PrometheusExporterBuilder {
    /// The buckets of every histogram but the size ones, in seconds,
    /// increasing. Default [`DURATION_BUCKETS`].
    #[must_use]
    pub fn duration_buckets(mut self, buckets: &[f64]) -> Self {
        self.duration_buckets = buckets.to_vec();
        self
    }

    /// The buckets of `mcp.server.request.size` and
    /// `mcp.server.response.size`, in bytes, increasing. Default
    /// [`SIZE_BUCKETS`].
    #[must_use]
    pub fn size_buckets(mut self, buckets: &[f64]) -> Self {
        self.size_buckets = buckets.to_vec();
        self
    }

    /// How long a histogram series may go without samples before it leaves
    /// the output, or `None` to keep every series. Counters and gauges are
    /// kept: layers hold their handles for good. Default 10 minutes; keep
    /// [`MetricsBuilder::handle_refresh`](crate::MetricsBuilder::handle_refresh)
    /// below it.
    #[must_use]
    pub fn idle_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.idle_timeout = timeout;
        self
    }

    /// How often histogram samples are drained into their buckets (a
    /// render drains them too). Default 5 s.
    #[must_use]
    pub fn upkeep_interval(mut self, interval: Duration) -> Self {
        self.upkeep_interval = interval;
        self
    }

    /// A label every series carries, such as `instance`.
    #[must_use]
    pub fn global_label(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.global_labels.push((key.into(), value.into()));
        self
    }

    /// Builds the exporter and installs its recorder as the global one.
    pub fn install(self) -> Result<PrometheusExporter, ExporterError> {
        let (recorder, exporter) = self.build()?;
        metrics::set_global_recorder(recorder)
            .map_err(|error| ExporterError::Install(error.into()))?;
        Ok(exporter)
    }

    /// Builds the exporter and its recorder, without installing it: for a
    /// recorder of your own that forwards to it, or for
    /// `metrics::with_local_recorder` in tests.
    pub fn build(self) -> Result<(PrometheusRecorder, PrometheusExporter), ExporterError> {
        let increasing = |setting, buckets: &[f64]| {
            let valid = !buckets.is_empty()
                && buckets.iter().all(|bound| bound.is_finite())
                && buckets.windows(2).all(|pair| pair[0] < pair[1]);
            if valid {
                Ok(())
            } else {
                Err(ConfigError {
                    setting,
                    problem: format!("{buckets:?} is not a non-empty increasing list"),
                })
            }
        };
        increasing("duration_buckets", &self.duration_buckets)?;
        increasing("size_buckets", &self.size_buckets)?;
        if self.upkeep_interval.is_zero() {
            return Err(ConfigError {
                setting: "upkeep_interval",
                problem: "the interval is zero".to_owned(),
            }
            .into());
        }
        // Buckets set for all histograms make every one a histogram: with
        // none, the exporter would render summaries.
        let mut builder = PrometheusBuilder::new()
            .with_recommended_naming(true)
            .set_buckets(&self.duration_buckets)?
            .idle_timeout(MetricKindMask::HISTOGRAM, self.idle_timeout);
        for name in [names::SERVER_REQUEST_SIZE, names::SERVER_RESPONSE_SIZE] {
            builder = builder
                .set_buckets_for_metric(Matcher::Full(name.to_owned()), &self.size_buckets)?;
        }
        for (key, value) in self.global_labels {
            builder = builder.add_global_label(key, value);
        }
        let recorder = builder.build_recorder();
        describe::describe_into(&recorder);
        let handle = recorder.handle();
        let alive = Arc::new(());
        spawn_upkeep(handle.clone(), Arc::downgrade(&alive), self.upkeep_interval)?;
        Ok((
            recorder,
            PrometheusExporter {
                handle,
                _alive: alive,
            },
        ))
    }
}

/// Drains histogram samples every `interval` while an exporter is alive:
/// without it they would pile up between scrapes.
fn spawn_upkeep(
    handle: PrometheusHandle,
    alive: Weak<()>,
    interval: Duration,
) -> Result<(), std::io::Error> {
    std::thread::Builder::new()
        .name("mcp-metrics-upkeep".to_owned())
        .spawn(move || {
            while alive.strong_count() > 0 {
                std::thread::sleep(interval);
                handle.run_upkeep();
            }
        })
        .map(drop)
}
