//! [`McpError`], the one error type of every layer, and its JSON-RPC mapping.

use std::{borrow::Cow, fmt, time::Duration};

use serde_json::{Value, json};

use crate::method::MethodClass;

/// JSON-RPC error codes: the standard ones and the ones our rejections use.
///
/// Our rejections live in the server range -32000..-32019, clear of the codes
/// that MCP itself assigns there (-32002 resource not found) and of -32000 and
/// -32001, which several SDKs use for a closed connection and a request timeout.
pub mod code {
    /// The message is not valid JSON.
    pub const PARSE_ERROR: i32 = -32700;
    /// The message is JSON but not a valid JSON-RPC request.
    pub const INVALID_REQUEST: i32 = -32600;
    /// The method does not exist or is not available.
    pub const METHOD_NOT_FOUND: i32 = -32601;
    /// The params are missing, of the wrong type, or too large.
    pub const INVALID_PARAMS: i32 = -32602;
    /// The server failed internally.
    pub const INTERNAL_ERROR: i32 = -32603;
    /// A rate limit rejected the request; `data.retryAfterMs` says when to retry.
    pub const RATE_LIMITED: i32 = -32010;
    /// A bulkhead or adaptive limit shed the request.
    pub const OVERLOADED: i32 = -32011;
    /// A circuit breaker is open; `data.retryAfterMs` says when it probes again.
    pub const CIRCUIT_OPEN: i32 = -32012;
    /// The request took longer than its deadline.
    pub const TIMEOUT: i32 = -32013;
    /// A payload is larger than a configured limit.
    pub const TOO_LARGE: i32 = -32014;
    /// The request was cancelled before it completed.
    pub const CANCELLED: i32 = -32015;
    /// A dependency the server needs (an upstream server) cannot be reached.
    pub const UNAVAILABLE: i32 = -32016;
}

/// A JSON-RPC error object: what an inner service answered, or what a
/// malformed request earns.
#[derive(Debug, Clone, PartialEq)]
pub struct RpcError {
    /// The JSON-RPC error code.
    pub code: i32,
    /// A short, human-readable description.
    pub message: Cow<'static, str>,
    /// Optional structured details.
    pub data: Option<Value>,
}

impl RpcError {
    /// An error with the given code and message and no data.
    pub fn new(code: i32, message: impl Into<Cow<'static, str>>) -> Self {
        Self {
            code,
            message: message.into(),
            data: None,
        }
    }

    /// The same error with `data` attached.
    #[must_use]
    pub fn with_data(mut self, data: Value) -> Self {
        self.data = Some(data);
        self
    }

    /// -32700: the message is not valid JSON.
    pub fn parse_error(message: impl Into<Cow<'static, str>>) -> Self {
        Self::new(code::PARSE_ERROR, message)
    }

    /// -32600: the message is not a valid JSON-RPC request.
    pub fn invalid_request(message: impl Into<Cow<'static, str>>) -> Self {
        Self::new(code::INVALID_REQUEST, message)
    }

    /// -32601: the method is unknown.
    pub fn method_not_found(method: &str) -> Self {
        Self::new(
            code::METHOD_NOT_FOUND,
            format!("method not found: {method}"),
        )
    }

    /// -32602: the params are invalid.
    pub fn invalid_params(message: impl Into<Cow<'static, str>>) -> Self {
        Self::new(code::INVALID_PARAMS, message)
    }

    /// -32603: an internal error.
    pub fn internal(message: impl Into<Cow<'static, str>>) -> Self {
        Self::new(code::INTERNAL_ERROR, message)
    }

    /// Whether the client caused this error (parse error, invalid request,
    /// method not found, invalid params). Breakers and error rates ignore these.
    pub fn is_client_error(&self) -> bool {
        matches!(
            self.code,
            code::PARSE_ERROR
                | code::INVALID_REQUEST
                | code::METHOD_NOT_FOUND
                | code::INVALID_PARAMS
        )
    }
}

impl fmt::Display for RpcError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (JSON-RPC error {})", self.message, self.code)
    }
}

impl std::error::Error for RpcError {}

/// The error of every mcp-stack layer: either one of our rejections, which
/// carry what a client needs to react, or the inner service's JSON-RPC error.
///
/// Layers are generic over services whose error converts `Into<McpError>`;
/// the adapters in this crate produce it directly.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum McpError {
    /// A rate limit rejected the request.
    #[error("rate limit exceeded; retry after {}", Millis(*retry_after))]
    RateLimited {
        /// When the request would be admitted.
        retry_after: Duration,
    },
    /// A concurrency limit shed the request because the server is at capacity.
    #[error("server overloaded; too many requests in flight")]
    Overloaded,
    /// A circuit breaker is open and fails fast.
    #[error("circuit open after repeated failures; retry after {}", Millis(*retry_after))]
    CircuitOpen {
        /// When the breaker will admit a probe.
        retry_after: Duration,
    },
    /// The request exceeded its deadline.
    #[error("request timed out after {}", Millis(*after))]
    Timeout {
        /// The deadline that passed.
        after: Duration,
    },
    /// A payload exceeds a configured size limit.
    #[error("payload of {size} bytes exceeds the limit of {limit} bytes")]
    TooLarge {
        /// The size seen, in bytes.
        size: u64,
        /// The configured limit, in bytes.
        limit: u64,
    },
    /// The request was cancelled by the client before it completed.
    #[error("request cancelled")]
    Cancelled,
    /// A dependency the server needs cannot be reached.
    #[error("service unavailable: {message}")]
    Unavailable {
        /// What could not be reached, and why.
        message: Cow<'static, str>,
    },
    /// The inner service answered with a JSON-RPC error, or the request was malformed.
    #[error(transparent)]
    Rpc(#[from] RpcError),
}

impl McpError {
    /// An [`McpError::Unavailable`] with the given message.
    pub fn unavailable(message: impl Into<Cow<'static, str>>) -> Self {
        Self::Unavailable {
            message: message.into(),
        }
    }

    /// The JSON-RPC code this error maps to.
    pub fn code(&self) -> i32 {
        match self {
            Self::RateLimited { .. } => code::RATE_LIMITED,
            Self::Overloaded => code::OVERLOADED,
            Self::CircuitOpen { .. } => code::CIRCUIT_OPEN,
            Self::Timeout { .. } => code::TIMEOUT,
            Self::TooLarge { .. } => code::TOO_LARGE,
            Self::Cancelled => code::CANCELLED,
            Self::Unavailable { .. } => code::UNAVAILABLE,
            Self::Rpc(error) => error.code,
        }
    }

    /// A short, stable name of the error kind, for metrics (`error.type`) and logs.
    ///
    /// Inner JSON-RPC errors have no kind name: label them by [`code`](Self::code).
    pub fn kind(&self) -> Option<&'static str> {
        Some(match self {
            Self::RateLimited { .. } => "rate_limited",
            Self::Overloaded => "overloaded",
            Self::CircuitOpen { .. } => "circuit_open",
            Self::Timeout { .. } => "timeout",
            Self::TooLarge { .. } => "too_large",
            Self::Cancelled => "cancelled",
            Self::Unavailable { .. } => "unavailable",
            Self::Rpc(_) => return None,
        })
    }

    /// When the client may retry, for the errors that know.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Self::RateLimited { retry_after } | Self::CircuitOpen { retry_after } => {
                Some(*retry_after)
            }
            _ => None,
        }
    }

    /// Whether this error is a rejection produced by our own layers rather than
    /// an answer of the inner service or a client cancellation.
    pub fn is_rejection(&self) -> bool {
        !matches!(self, Self::Rpc(_) | Self::Cancelled)
    }

    /// The JSON-RPC error object for this error. Rejections carry `data.kind`,
    /// and `data.retryAfterMs` where a retry time is known.
    pub fn to_rpc_error(&self) -> RpcError {
        let kind = match self {
            Self::Rpc(error) => return error.clone(),
            other => other.kind(),
        };
        let mut data = json!({ "kind": kind });
        if let Some(retry_after) = self.retry_after() {
            data["retryAfterMs"] = json!(ceil_millis(retry_after));
        }
        match self {
            Self::Timeout { after } => data["timeoutMs"] = json!(ceil_millis(*after)),
            Self::TooLarge { size, limit } => {
                data["sizeBytes"] = json!(size);
                data["limitBytes"] = json!(limit);
            }
            _ => {}
        }
        RpcError::new(self.code(), self.to_string()).with_data(data)
    }

    /// What the client sees for this error, by the class of the method that
    /// failed: a rejected `tools/call` becomes a tool result with `isError: true`
    /// and this error's message, so the model reads it; everything else becomes
    /// a JSON-RPC error.
    pub fn at_edge(&self, class: MethodClass) -> EdgeReply {
        if class == MethodClass::ToolCall && self.is_rejection() {
            EdgeReply::ToolError(self.to_string())
        } else {
            EdgeReply::Error(self.to_rpc_error())
        }
    }
}

/// How an [`McpError`] is answered at the protocol edge; see [`McpError::at_edge`].
#[derive(Debug, Clone, PartialEq)]
pub enum EdgeReply {
    /// Answer with a tool result whose `isError` is true and whose text is this message.
    ToolError(String),
    /// Answer with this JSON-RPC error.
    Error(RpcError),
}

/// Durations in client-facing messages: whole milliseconds, rounded up so a
/// client that waits the stated time is not rejected again.
struct Millis(Duration);

impl fmt::Display for Millis {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ms", ceil_millis(self.0))
    }
}

fn ceil_millis(duration: Duration) -> u64 {
    let millis = duration.as_nanos().div_ceil(1_000_000);
    u64::try_from(millis).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejections_map_to_server_range_codes_with_retry_hints() {
        let limited = McpError::RateLimited {
            retry_after: Duration::from_micros(1_500),
        };
        let rpc = limited.to_rpc_error();
        assert_eq!(rpc.code, -32010);
        assert_eq!(rpc.data.as_ref().unwrap()["retryAfterMs"], 2);
        assert_eq!(rpc.data.as_ref().unwrap()["kind"], "rate_limited");
        assert_eq!(rpc.message, "rate limit exceeded; retry after 2 ms");

        let all = [
            limited,
            McpError::Overloaded,
            McpError::CircuitOpen {
                retry_after: Duration::from_secs(1),
            },
            McpError::Timeout {
                after: Duration::from_secs(30),
            },
            McpError::TooLarge { size: 10, limit: 5 },
            McpError::Cancelled,
            McpError::unavailable("upstream refused the connection"),
        ];
        let mut codes: Vec<i32> = all.iter().map(McpError::code).collect();
        assert!(codes.iter().all(|c| (-32019..=-32000).contains(c)));
        assert!(
            !codes.contains(&-32002),
            "-32002 is MCP's resource not found"
        );
        codes.dedup();
        assert_eq!(codes.len(), all.len(), "codes are distinct");
    }

    #[test]
    fn inner_errors_pass_through_unchanged() {
        let inner = RpcError::invalid_params("bad uri").with_data(json!({"uri": "x"}));
        let error = McpError::from(inner.clone());
        assert_eq!(error.to_rpc_error(), inner);
        assert_eq!(error.code(), -32602);
        assert!(!error.is_rejection());
        assert!(inner.is_client_error());
        assert!(!RpcError::internal("boom").is_client_error());
    }

    #[test]
    fn rejected_tool_calls_become_tool_errors_but_other_methods_get_rpc_errors() {
        let error = McpError::Overloaded;
        assert_eq!(
            error.at_edge(MethodClass::ToolCall),
            EdgeReply::ToolError("server overloaded; too many requests in flight".into())
        );
        match error.at_edge(MethodClass::Read) {
            EdgeReply::Error(rpc) => assert_eq!(rpc.code, code::OVERLOADED),
            other => panic!("expected an error, got {other:?}"),
        }
        let inner = McpError::from(RpcError::method_not_found("tools/call"));
        assert!(matches!(
            inner.at_edge(MethodClass::ToolCall),
            EdgeReply::Error(RpcError { code: -32601, .. })
        ));
    }

    #[test]
    fn too_large_and_timeout_carry_their_numbers() {
        let data = McpError::TooLarge {
            size: 20,
            limit: 16,
        }
        .to_rpc_error()
        .data
        .unwrap();
        assert_eq!(
            (data["sizeBytes"].as_u64(), data["limitBytes"].as_u64()),
            (Some(20), Some(16))
        );
        let data = McpError::Timeout {
            after: Duration::from_millis(250),
        }
        .to_rpc_error()
        .data
        .unwrap();
        assert_eq!(data["timeoutMs"], 250);
    }
}
