//! The rmcp adapter (feature `rmcp`, on by default).
//!
//! - [`HandlerService`]: the leaf, a tower `Service<RmcpRequest>` that calls
//!   an rmcp `ServerHandler`;
//! - [`StackedHandler`]: a `ServerHandler` that sends every request through a
//!   tower stack built on that leaf, so any rmcp server gains the layers by
//!   wrapping its handler once;
//! - [`RmcpRequest`] and `ServerResult` implement [`McpRequest`](crate::McpRequest)
//!   and [`McpResponse`](crate::McpResponse);
//! - `rmcp::ErrorData` and [`McpError`] convert both ways, losslessly for
//!   inner errors.

mod handler;
mod request;
mod response;
mod service;

pub use handler::StackedHandler;
pub use request::{RmcpRequest, principal_of};
pub use service::{HandlerFuture, HandlerService};

use rmcp::{ErrorData, model::ErrorCode};

use crate::error::{McpError, RpcError};

impl From<ErrorData> for McpError {
    fn from(error: ErrorData) -> Self {
        Self::Rpc(RpcError {
            code: error.code.0,
            message: error.message,
            data: error.data,
        })
    }
}

impl From<McpError> for ErrorData {
    fn from(error: McpError) -> Self {
        let error = match error {
            McpError::Rpc(error) => error,
            other => other.to_rpc_error(),
        };
        ErrorData::new(ErrorCode(error.code), error.message, error.data)
    }
}
