//! Metric names and label keys used by mcp-stack crates, with their units.
//! The crates import these constants; the README's table lists them all.
//!
//! The names of the server's own metrics and their attributes follow the
//! OpenTelemetry semantic conventions for MCP; the layers' metrics use one
//! scheme, `mcp.<crate>.<what>{<label>}`. Labels never carry a value a
//! client chooses freely (a URI, a session, a principal, an unregistered
//! tool name).
//!
//! A new metric gets a constant here whose doc says its kind (`a counter`,
//! `a gauge`, `a histogram`), a line in the crate's `describe` table, and
//! a row in the README; a test checks all three agree.

/// How long the server took to answer a request or handle a notification,
/// from receipt to result, a histogram in seconds (OpenTelemetry MCP
/// semantic conventions). Labels [`METHOD_NAME`]; [`TOOL_NAME`] or
/// [`PROMPT_NAME`] (registered names, else [`OTHER`]); [`ERROR_TYPE`] and
/// [`RESPONSE_STATUS_CODE`] when it failed; [`PROTOCOL_VERSION`] when
/// known; [`OPERATION_NAME`] on tool calls; [`NETWORK_TRANSPORT`] and
/// [`UPSTREAM_NAME`] when configured.
pub const SERVER_OPERATION_DURATION: &str = "mcp.server.operation.duration";

/// Requests the server is handling, a gauge. Label [`METHOD_NAME`], and
/// [`UPSTREAM_NAME`] when configured.
pub const SERVER_ACTIVE_REQUESTS: &str = "mcp.server.active_requests";

/// The size of a request as received (its HTTP `Content-Length`), a
/// histogram in bytes; opt-in. Labels as [`SERVER_OPERATION_DURATION`]
/// without the error labels.
pub const SERVER_REQUEST_SIZE: &str = "mcp.server.request.size";

/// The size of a result as sent (its JSON), a histogram in bytes; opt-in.
/// Labels as [`SERVER_OPERATION_DURATION`] without the error labels.
pub const SERVER_RESPONSE_SIZE: &str = "mcp.server.response.size";

/// Attribute: the JSON-RPC method, such as `tools/call`; methods the server
/// does not know are [`OTHER`].
pub const METHOD_NAME: &str = "mcp.method.name";

/// Attribute: the tool of a `tools/call`.
pub const TOOL_NAME: &str = "gen_ai.tool.name";

/// Attribute: the prompt of a `prompts/get`.
pub const PROMPT_NAME: &str = "gen_ai.prompt.name";

/// Attribute: why a request failed: the JSON-RPC error code as text
/// (`-32603`), [`ERROR_TYPE_TOOL_ERROR`] for a tool result with `isError:
/// true`, or the kind of one of our rejections (`rate_limited`,
/// `overloaded`, `circuit_open`, `timeout`, `too_large`, `unavailable`,
/// `cancelled`).
pub const ERROR_TYPE: &str = "error.type";

/// Attribute: the JSON-RPC error code of a failed request, as text.
pub const RESPONSE_STATUS_CODE: &str = "rpc.response.status_code";

/// Attribute: the MCP protocol version of the request, such as `2025-06-18`.
pub const PROTOCOL_VERSION: &str = "mcp.protocol.version";

/// Attribute: the GenAI operation, [`OPERATION_EXECUTE_TOOL`] on tool calls.
pub const OPERATION_NAME: &str = "gen_ai.operation.name";

/// Attribute: the transport of the session, `pipe` for stdio, `tcp` for
/// HTTP.
pub const NETWORK_TRANSPORT: &str = "network.transport";

/// Attribute: the upstream server a gateway forwarded the request to, a
/// name the operator configured (one `MetricsLayer` per upstream, see
/// [`MetricsBuilder::upstream`](crate::MetricsBuilder::upstream)).
pub const UPSTREAM_NAME: &str = "mcp.upstream.name";

/// Span attribute only: the resource URI of `resources/read` and the like.
/// Never a metric label: clients choose URIs.
pub const RESOURCE_URI: &str = "mcp.resource.uri";

/// The value of a bounded attribute whose real value is not registered.
pub const OTHER: &str = "_OTHER";

/// [`ERROR_TYPE`] of a tool result with `isError: true`.
pub const ERROR_TYPE_TOOL_ERROR: &str = "tool_error";

/// [`OPERATION_NAME`] of a tool call.
pub const OPERATION_EXECUTE_TOOL: &str = "execute_tool";

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

/// Requests a limiter rejected, a counter. Labels [`LIMITER`], [`REASON`].
pub const LIMIT_REJECTIONS: &str = "mcp.limit.rejections";

/// Label: the limiter's configured name.
pub const LIMITER: &str = "limiter";

/// Requests a limiter let through, a counter. Label [`LIMITER`].
pub const LIMIT_ADMISSIONS: &str = "mcp.limit.admissions";

/// Calls holding a slot of a concurrency limit, a gauge. Labels
/// [`LIMITER`], and [`POOL`] for bulkheads.
pub const LIMIT_IN_FLIGHT: &str = "mcp.limit.in_flight";

/// The current limit of a concurrency limit (slots), a gauge. Labels
/// [`LIMITER`], and [`POOL`] for bulkheads.
pub const LIMIT_LIMIT: &str = "mcp.limit.limit";

/// Decisions a Redis-kept rate limit made without Redis (failing open or
/// on the local share), a counter. Label [`LIMITER`].
pub const LIMIT_FALLBACKS: &str = "mcp.limit.fallbacks";

/// Label: a bulkhead's pool name.
pub const POOL: &str = "pool";

/// Label: why a request was rejected, one of [`REASON_RATE_LIMITED`],
/// [`REASON_OVERLOADED`], [`REASON_QUEUE_TIMEOUT`].
pub const REASON: &str = "reason";

/// Rejection reason: over a rate limit.
pub const REASON_RATE_LIMITED: &str = "rate_limited";

/// Rejection reason: no slot free (a full bulkhead pool and queue, or the
/// adaptive limit reached).
pub const REASON_OVERLOADED: &str = "overloaded";

/// Rejection reason: waited in a bulkhead's queue until its timeout.
pub const REASON_QUEUE_TIMEOUT: &str = "queue_timeout";

/// Cache lookups, a counter. Labels [`CACHE`], [`TIER`] (`l1`, `l2`, or
/// `none` for misses and bypasses), [`RESULT`] (`hit`, `stale`, `miss`,
/// `bypass`).
pub const CACHE_REQUESTS: &str = "mcp.cache.requests";

/// Requests that waited for another request's fill of the same key instead
/// of calling the inner service (single-flight followers), a counter. Label
/// [`CACHE`].
pub const CACHE_COALESCED: &str = "mcp.cache.coalesced";

/// Entries that left the in-memory tier, a counter. Labels [`CACHE`],
/// [`CAUSE`] (`size`, `expired`, `explicit`, `replaced`).
pub const CACHE_EVICTIONS: &str = "mcp.cache.evictions";

/// The weighted size of the in-memory tier, a gauge in bytes. Label [`CACHE`].
pub const CACHE_BYTES: &str = "mcp.cache.bytes";

/// Redis operations of the shared tier that failed or timed out, a counter.
/// Labels [`CACHE`], [`OPERATION`] (`get`, `set`, `publish`, `subscribe`).
pub const CACHE_REDIS_ERRORS: &str = "mcp.cache.redis_errors";

/// Invalidations applied, a counter. Labels [`CACHE`], [`SOURCE`] (`local`
/// for this node's, `backplane` for another node's, `gap` for a clear after
/// the backplane lost messages).
pub const CACHE_INVALIDATIONS: &str = "mcp.cache.invalidations";

/// Label: the cache's configured name.
pub const CACHE: &str = "cache";

/// Label: a cache tier, `l1`, `l2` or `none`.
pub const TIER: &str = "tier";

/// Label: the result of a cache lookup, `hit`, `stale`, `miss` or `bypass`.
pub const RESULT: &str = "result";

/// Label: why an entry left a cache, `size`, `expired`, `explicit` or
/// `replaced`.
pub const CAUSE: &str = "cause";

/// Label: the Redis operation that failed.
pub const OPERATION: &str = "operation";

/// Label: where an invalidation came from, `local`, `backplane` or `gap`.
pub const SOURCE: &str = "source";

/// Chunks of `resources/read` served in place of a whole resource, a
/// counter. Label [`ORIGIN`].
pub const STREAM_CHUNKS: &str = "mcp.stream.chunks";

/// Resource bytes served in chunks (before base64 or JSON encoding), a
/// counter in bytes. Label [`ORIGIN`].
pub const STREAM_BYTES: &str = "mcp.stream.bytes";

/// List pages cut from a longer list by the pagination layer, a counter.
pub const STREAM_PAGES: &str = "mcp.stream.pages";

/// Page and chunk cursors refused, a counter. Label [`REASON`]:
/// [`REASON_INVALID_CURSOR`] or [`REASON_STALE_CURSOR`].
pub const STREAM_CURSOR_REJECTIONS: &str = "mcp.stream.cursor_rejections";

/// Responses the size guard refused with `TooLarge` because they exceeded
/// the message limit and could not be chunked, a counter.
pub const STREAM_TOO_LARGE: &str = "mcp.stream.too_large";

/// Label: where a chunk came from, [`ORIGIN_SOURCE`] or [`ORIGIN_RESULT`].
pub const ORIGIN: &str = "origin";

/// Chunk origin: read from a resource source, a bounded buffer at a time.
pub const ORIGIN_SOURCE: &str = "source";

/// Chunk origin: cut from a whole result the inner service returned.
pub const ORIGIN_RESULT: &str = "result";

/// Rejection reason: a cursor not issued by this server for this client
/// (forged, altered, another principal's, or signed with another key).
pub const REASON_INVALID_CURSOR: &str = "invalid_cursor";

/// Rejection reason: a genuine cursor of a list or resource that changed.
pub const REASON_STALE_CURSOR: &str = "stale_cursor";
