//! [`StackError`]: why a stack could not be built or configured.

use std::fmt::Display;

/// What went wrong building a stack or reading its configuration.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum StackError {
    /// A layer refused its settings.
    #[error("{layer}: {message}")]
    Layer {
        /// Which layer.
        layer: &'static str,
        /// What it said.
        message: String,
    },
    /// More rate limits than the facade composes.
    #[error("the stack composes at most 2 rate limits, {0} were given")]
    TooManyRateLimits(usize),
    /// The Redis URL could not be used.
    #[error("redis {0}")]
    Redis(String),
    /// The configuration names a key or a value that cannot work.
    #[error("configuration: {0}")]
    Config(String),
}

impl StackError {
    /// A mapper from a layer's error to [`StackError::Layer`].
    pub(crate) fn layer<E: Display>(layer: &'static str) -> impl Fn(E) -> Self {
        move |error| Self::Layer {
            layer,
            message: error.to_string(),
        }
    }
}
