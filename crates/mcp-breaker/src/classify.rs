//! [`Classifier`]: which outcomes count for a breaker, and which do not.

use mcp_service::{McpError, McpResponse, Outcome};

/// What an outcome means to a breaker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// The call worked.
    Success,
    /// The call failed in a way that says the service behind is unwell.
    Failure,
    /// The outcome says nothing about the service's health.
    Ignore,
}

/// Decides what counts.
///
/// By default timeouts, unreachable upstreams and server-side JSON-RPC errors
/// are failures. These are ignored: rejections by our own layers (a rate
/// limit, a full bulkhead, another breaker, a size guard), client errors
/// (-32700, -32600, -32601, -32602, which a bad request earns from a healthy
/// server), and cancellations. A tool result with `isError: true` is a
/// success unless [`count_tool_errors`](Self::count_tool_errors) is set: the
/// tool ran, and its error is usually about the input.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Classifier {
    /// Count `isError: true` tool results as failures. Default false.
    pub count_tool_errors: bool,
}

impl Classifier {
    /// The verdict on one outcome.
    pub fn classify<R: McpResponse>(&self, result: &Result<R, McpError>) -> Verdict {
        match result {
            Ok(response) => match response.outcome() {
                Outcome::ToolError if self.count_tool_errors => Verdict::Failure,
                _ => Verdict::Success,
            },
            Err(error) => self.classify_error(error),
        }
    }

    /// The verdict on an error.
    pub fn classify_error(&self, error: &McpError) -> Verdict {
        match error {
            McpError::Timeout { .. } | McpError::Unavailable { .. } => Verdict::Failure,
            McpError::Rpc(error) if error.is_client_error() => Verdict::Ignore,
            McpError::Rpc(_) => Verdict::Failure,
            // Our own rejections and cancellations; and anything newer is
            // not held against the service.
            _ => Verdict::Ignore,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use mcp_service::{RpcError, jsonrpc::JsonRpcResponse};
    use serde_json::json;

    use super::*;

    fn error(error: McpError) -> Result<JsonRpcResponse, McpError> {
        Err(error)
    }

    #[test]
    fn default_rules() {
        let classifier = Classifier::default();
        let fails = [
            McpError::Timeout {
                after: Duration::from_secs(1),
            },
            McpError::unavailable("connection refused"),
            RpcError::internal("boom").into(),
            RpcError::new(-32000, "server error").into(),
        ];
        for failure in fails {
            assert_eq!(
                classifier.classify(&error(failure.clone())),
                Verdict::Failure,
                "{failure}"
            );
        }
        let ignored = [
            McpError::RateLimited {
                retry_after: Duration::from_secs(1),
            },
            McpError::Overloaded,
            McpError::CircuitOpen {
                retry_after: Duration::from_secs(1),
            },
            McpError::TooLarge { size: 2, limit: 1 },
            McpError::Cancelled,
            RpcError::invalid_params("bad").into(),
            RpcError::method_not_found("x").into(),
            RpcError::parse_error("x").into(),
            RpcError::invalid_request("x").into(),
        ];
        for ignore in ignored {
            assert_eq!(
                classifier.classify(&error(ignore.clone())),
                Verdict::Ignore,
                "{ignore}"
            );
        }
    }

    #[test]
    fn tool_errors_count_only_when_asked() {
        let tool_error =
            Ok(JsonRpcResponse::from_value(&json!({"content": [], "isError": true})).unwrap());
        let fine = Ok(JsonRpcResponse::from_value(&json!({"content": []})).unwrap());
        assert_eq!(
            Classifier::default().classify(&tool_error),
            Verdict::Success
        );
        let strict = Classifier {
            count_tool_errors: true,
        };
        assert_eq!(strict.classify(&tool_error), Verdict::Failure);
        assert_eq!(strict.classify(&fine), Verdict::Success);
    }
}
