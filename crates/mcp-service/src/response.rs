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

    /// Sets `_meta[key]` of the result to `value`, keeping its other `_meta`
    /// members, so a layer can say something about the result it serves
    /// (the cache's hit marker). Returns whether the type supports it; the
    /// default does not. Costs a re-encoding of the result: for opt-in
    /// features, not the hot path.
    fn insert_meta(&mut self, key: &str, value: serde_json::Value) -> bool {
        let _ = (key, value);
        false
    }
}

/// `object["_meta"][key] = value` on a result's JSON, creating `_meta`
/// when absent (or replacing one that is not an object). Returns false
/// when `object` is not a JSON object.
pub(crate) fn set_meta(
    object: &mut serde_json::Value,
    key: &str,
    value: serde_json::Value,
) -> bool {
    let Some(object) = object.as_object_mut() else {
        return false;
    };
    let meta = object
        .entry("_meta")
        .or_insert_with(|| serde_json::Value::Object(serde_json::Map::new()));
    if !meta.is_object() {
        *meta = serde_json::Value::Object(serde_json::Map::new());
    }
    if let Some(meta) = meta.as_object_mut() {
        meta.insert(key.to_owned(), value);
    }
    true
}
