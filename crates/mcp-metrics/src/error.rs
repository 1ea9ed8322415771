//! The errors of building a layer, a [`Stats`](crate::Stats) or an exporter.

/// A setting out of its range.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid metrics setting `{setting}`: {problem}")]
pub struct ConfigError {
    /// The setting, by its builder name.
    pub setting: &'static str,
    /// What is wrong with it.
    pub problem: String,
}

/// Why the Prometheus exporter could not be set up.
#[cfg(feature = "prometheus")]
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ExporterError {
    /// A setting out of its range.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The exporter refused its configuration, or another recorder is
    /// already installed.
    #[error("cannot install the Prometheus recorder: {0}")]
    Install(#[from] metrics_exporter_prometheus::BuildError),
    /// The thread that keeps histograms drained could not start.
    #[error("cannot start the Prometheus upkeep thread: {0}")]
    Upkeep(#[from] std::io::Error),
}
