//! [`McpResponse`]: what every layer may ask of a successful result.

use std::time::Duration;

use crate::error::McpError;

/// What kind of answer a successful result is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Outcome {
    /// A complete result.
    Complete,
    /// A tool result with `isError: true`: the tool ran and failed.
    ToolError,
    /// `resultType: "input_required"`: the server needs client input first.
    InputRequired,
    /// `resultType: "task"`: the server started a task to poll.
    Task,
}

impl Outcome {
    /// Whether the result is complete and not a tool error: the only kind a
    /// cache may keep.
    pub fn is_complete(self) -> bool {
        self == Self::Complete
    }
}

/// Who may cache a result, per the result's `cacheScope`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CacheScope {
    /// Any client or intermediary may serve it to anyone.
    Public,
    /// Only the requesting principal may be served it.
    Private,
}

/// The caching hints a result carries (`ttlMs`, `cacheScope`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CacheHint {
    /// `ttlMs`: how long the result stays fresh. `Some(ZERO)` means do not cache.
    pub ttl: Option<Duration>,
    /// `cacheScope`.
    pub scope: Option<CacheScope>,
}

/// The MCP meaning of a successful result, read without converting it.
///
/// Errors are not responses: they travel as [`McpError`]. This crate
/// implements the trait for rmcp's `ServerResult` (feature `rmcp`) and for raw
/// JSON-RPC ([`JsonRpcResponse`](crate::jsonrpc::JsonRpcResponse)).
pub trait McpResponse: Sized {
    /// Whether the result is complete, a tool error, or needs more input.
    fn outcome(&self) -> Outcome;

    /// The caching hints the result carries.
    fn cache_hint(&self) -> CacheHint;

    /// The size of the result in bytes as sent (its JSON), for byte-bounded
    /// caches and size guards. Computed without allocating; linear in size.
    fn weight(&self) -> usize;

    /// Bytes that [`decode`](Self::decode) turns back into an equal result,
    /// for the shared (Redis) tier.
    fn encode(&self) -> Result<Vec<u8>, McpError>;

    /// The result that [`encode`](Self::encode) wrote.
    fn decode(bytes: &[u8]) -> Result<Self, McpError>;
}
