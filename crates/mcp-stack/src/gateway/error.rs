//! [`GatewayError`]: why a gateway could not be configured or built.

use crate::StackError;

/// What went wrong reading a gateway's configuration or starting it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum GatewayError {
    /// The configuration names a key or a value that cannot work.
    #[error("configuration: {0}")]
    Config(String),
    /// The stack part of the configuration.
    #[error(transparent)]
    Stack(#[from] StackError),
    /// An upstream's stack could not be built.
    #[error("upstream {upstream}: {source}")]
    Upstream {
        /// The upstream's name.
        upstream: String,
        /// Why.
        #[source]
        source: StackError,
    },
    /// The gateway has no upstream.
    #[error(
        "no upstream: give at least one (--upstream NAME=URL, or [upstreams.NAME] in the file)"
    )]
    NoUpstream,
}
