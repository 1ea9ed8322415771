//! How a request ended, as the duration histogram labels it and as
//! [`Stats`](crate::Stats) counts it. Pure: no metrics, no clock.

use mcp_service::{McpError, McpResponse, Outcome};

/// The `error.type` of a failed request, bounded: a client cannot make up
/// new values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum ErrorKey {
    /// A tool result with `isError: true`.
    ToolError,
    /// One of our rejections, or a cancellation, by kind, with its code.
    Kind {
        /// [`McpError::kind`].
        kind: &'static str,
        /// [`McpError::code`].
        code: i32,
    },
    /// An inner JSON-RPC error with a code in the range JSON-RPC reserves
    /// (-32768..=-32000).
    Code(i32),
    /// An inner error with a code outside it: a misbehaving upstream could
    /// otherwise send a new code each time.
    Other,
}

/// How [`Stats`](crate::Stats) counts a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Class {
    /// Answered: a result, a tool error, or an error the client caused. The
    /// latency counts.
    Answered,
    /// The server failed: an inner error that is not the client's, a
    /// timeout, an unreachable upstream. Counts in the error rate; the
    /// latency counts.
    ServerError,
    /// Shed at once by one of our layers (rate limited, overloaded, circuit
    /// open, too large): neither an error of the server nor a latency of it.
    Shed,
    /// Cancelled by the client, or dropped before it finished.
    Cancelled,
}

/// How a request ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Ending {
    /// Its `error.type`, when it failed.
    pub(crate) error: Option<ErrorKey>,
    /// How the stats count it.
    pub(crate) class: Class,
    /// The kind of our rejection, when it is one.
    pub(crate) rejection: Option<&'static str>,
}

impl Ending {
    /// The ending of a finished call.
    pub(crate) fn of<T: McpResponse>(result: &Result<T, McpError>) -> Self {
        match result {
            Ok(response) => Self {
                error: (response.outcome() == Outcome::ToolError).then_some(ErrorKey::ToolError),
                class: Class::Answered,
                rejection: None,
            },
            Err(error) => Self::of_error(error),
        }
    }

    /// The ending of a call whose future was dropped before it finished:
    /// the client went away or cancelled, and rmcp dropped the handler.
    pub(crate) fn dropped() -> Self {
        Self::of_error(&McpError::Cancelled)
    }

    fn of_error(error: &McpError) -> Self {
        let code = error.code();
        let (key, class) = match error {
            McpError::Rpc(inner) => {
                let key = if (-32768..=-32000).contains(&code) {
                    ErrorKey::Code(code)
                } else {
                    ErrorKey::Other
                };
                let class = if inner.is_client_error() {
                    Class::Answered
                } else {
                    Class::ServerError
                };
                (key, class)
            }
            McpError::Cancelled => (kind_key(error, code), Class::Cancelled),
            McpError::Timeout { .. } | McpError::Unavailable { .. } => {
                (kind_key(error, code), Class::ServerError)
            }
            _ => (kind_key(error, code), Class::Shed),
        };
        Self {
            error: Some(key),
            class,
            rejection: error.is_rejection().then(|| error.kind()).flatten(),
        }
    }
}

fn kind_key(error: &McpError, code: i32) -> ErrorKey {
    match error.kind() {
        Some(kind) => ErrorKey::Kind { kind, code },
        None => ErrorKey::Other,
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use mcp_service::{RpcError, jsonrpc::JsonRpcResponse};

    use super::*;

    fn failed(error: McpError) -> Ending {
        Ending::of::<JsonRpcResponse>(&Err(error))
    }

    #[test]
    fn results_tool_errors_and_client_errors_are_answers() {
        let ok = JsonRpcResponse::from_value(&serde_json::json!({"content": []})).unwrap();
        assert_eq!(
            Ending::of::<JsonRpcResponse>(&Ok(ok)),
            Ending {
                error: None,
                class: Class::Answered,
                rejection: None
            }
        );
        let tool_error = JsonRpcResponse::tool_error("no such city");
        assert_eq!(
            Ending::of::<JsonRpcResponse>(&Ok(tool_error)).error,
            Some(ErrorKey::ToolError)
        );
        for client in [
            RpcError::parse_error("x"),
            RpcError::invalid_request("x"),
            RpcError::method_not_found("x"),
            RpcError::invalid_params("x"),
        ] {
            let code = client.code;
            let ending = failed(client.into());
            assert_eq!(ending.class, Class::Answered, "{code}");
            assert_eq!(ending.error, Some(ErrorKey::Code(code)));
        }
    }

    #[test]
    fn server_failures_count_as_errors_and_shed_requests_as_rejections() {
        let internal = failed(RpcError::internal("boom").into());
        assert_eq!(
            (internal.class, internal.error),
            (Class::ServerError, Some(ErrorKey::Code(-32603)))
        );
        let timeout = failed(McpError::Timeout {
            after: Duration::from_secs(1),
        });
        assert_eq!(timeout.class, Class::ServerError);
        assert_eq!(timeout.rejection, Some("timeout"));
        let limited = failed(McpError::RateLimited {
            retry_after: Duration::from_secs(1),
        });
        assert_eq!(
            limited,
            Ending {
                error: Some(ErrorKey::Kind {
                    kind: "rate_limited",
                    code: -32010
                }),
                class: Class::Shed,
                rejection: Some("rate_limited"),
            }
        );
        assert_eq!(failed(McpError::Overloaded).class, Class::Shed);
        let cancelled = Ending::dropped();
        assert_eq!(cancelled.class, Class::Cancelled);
        assert_eq!(cancelled.rejection, None);
    }

    #[test]
    fn codes_outside_the_reserved_range_share_one_value() {
        assert_eq!(
            failed(RpcError::new(-32099, "x").into()).error,
            Some(ErrorKey::Code(-32099))
        );
        assert_eq!(
            failed(RpcError::new(42, "x").into()).error,
            Some(ErrorKey::Other)
        );
        assert_eq!(
            failed(RpcError::new(-40000, "x").into()).error,
            Some(ErrorKey::Other)
        );
    }
}
