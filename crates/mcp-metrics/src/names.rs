//! Metric names and label keys used by mcp-stack crates, with their units.
//! The crates import these constants; the README's table lists them all.

/// Circuit breaker state, a gauge: 0 closed, 1 open, 2 half-open, 3 forced
/// open, 4 disabled. Label [`BREAKER`]. Unkeyed breakers only.
pub const BREAKER_STATE: &str = "mcp.breaker.state";

/// Circuit breaker state changes, a counter. Labels [`BREAKER`], [`STATE`]
/// (the state entered).
pub const BREAKER_TRANSITIONS: &str = "mcp.breaker.transitions";

/// Calls a circuit breaker rejected, a counter. Label [`BREAKER`].
pub const BREAKER_REJECTIONS: &str = "mcp.breaker.rejections";

/// Label: the breaker's configured name (never a client-supplied key).
pub const BREAKER: &str = "breaker";

/// Label: a breaker state, as `closed`, `open`, `half_open`, `forced_open`,
/// `disabled`.
pub const STATE: &str = "state";

/// Requests a rate limit rejected, a counter. Label [`LIMITER`].
pub const LIMIT_REJECTIONS: &str = "mcp.limit.rejections";

/// Label: the limiter's configured name.
pub const LIMITER: &str = "limiter";
