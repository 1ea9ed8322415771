//! [`ConfigError`] and [`CursorError`], and how cursor errors reach clients.

use mcp_service::{McpError, RpcError};
use serde_json::json;

/// A setting out of its range.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid stream setting `{setting}`: {problem}")]
pub struct ConfigError {
    /// The setting, by its builder name.
    pub setting: &'static str,
    /// What is wrong with it.
    pub problem: String,
}

/// Why a cursor (a list page's or a chunk's) was refused.
///
/// Both reach the client as JSON-RPC error -32602 (invalid params), as MCP
/// asks for bad cursors, with `data.kind` saying which and `data.restart`
/// true: the client lists or reads again from the start.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CursorError {
    /// Not a cursor this server issued for this client and this list or
    /// resource: forged, altered, signed with another key, or another
    /// principal's.
    #[error("invalid cursor for {subject}: not issued by this server for this client; {restart}")]
    Invalid {
        /// The list method or the resource URI it was presented for.
        subject: String,
        /// What the client should do.
        restart: &'static str,
    },
    /// A genuine cursor of a list or resource that has changed since.
    #[error("stale cursor for {subject}: it changed since the cursor was issued; {restart}")]
    Stale {
        /// The list method or the resource URI.
        subject: String,
        /// What the client should do.
        restart: &'static str,
    },
}

pub(crate) const RESTART_LIST: &str = "list again without a cursor";
pub(crate) const RESTART_READ: &str = "read the resource again from its first chunk";

impl CursorError {
    /// The metric reason of this error (`invalid` or `stale`).
    pub fn reason(&self) -> &'static str {
        match self {
            Self::Invalid { .. } => mcp_metrics::names::REASON_INVALID_CURSOR,
            Self::Stale { .. } => mcp_metrics::names::REASON_STALE_CURSOR,
        }
    }

    pub(crate) fn invalid(subject: &str, restart: &'static str) -> Self {
        Self::Invalid {
            subject: subject.to_owned(),
            restart,
        }
    }

    pub(crate) fn stale(subject: &str, restart: &'static str) -> Self {
        Self::Stale {
            subject: subject.to_owned(),
            restart,
        }
    }
}

impl From<CursorError> for McpError {
    fn from(error: CursorError) -> Self {
        let kind = match error {
            CursorError::Invalid { .. } => "invalid_cursor",
            CursorError::Stale { .. } => "stale_cursor",
        };
        RpcError::invalid_params(error.to_string())
            .with_data(json!({ "kind": kind, "restart": true }))
            .into()
    }
}

/// An internal error: the server or its resource source did something a
/// client cannot fix.
pub(crate) fn internal(message: impl Into<String>) -> McpError {
    RpcError::internal(message.into()).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursor_errors_are_invalid_params_that_say_what_to_do() {
        let error = McpError::from(CursorError::stale("tools/list", RESTART_LIST));
        let rpc = error.to_rpc_error();
        assert_eq!(rpc.code, -32602);
        assert_eq!(rpc.data.as_ref().unwrap()["kind"], "stale_cursor");
        assert!(rpc.message.contains("list again without a cursor"), "{rpc}");
        let rpc = McpError::from(CursorError::invalid("demo://big", RESTART_READ)).to_rpc_error();
        assert_eq!(rpc.data.as_ref().unwrap()["kind"], "invalid_cursor");
        assert!(rpc.message.contains("demo://big"), "{rpc}");
    }
}
