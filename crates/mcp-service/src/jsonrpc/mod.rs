//! Raw JSON-RPC: the [`McpRequest`] and [`McpResponse`] implementation for
//! gateways and servers not written with rmcp, and the edge that turns bytes
//! into calls and calls into bytes.
//!
//! ```
//! use mcp_service::jsonrpc::{DecodeLimits, JsonRpcRequest, JsonRpcResponse, handle_message};
//! use mcp_service::McpError;
//! use serde_json::json;
//!
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! let mut server = tower::service_fn(|request: JsonRpcRequest| async move {
//!     let name = mcp_service::McpRequest::tool_name(&request).unwrap_or("?").to_owned();
//!     JsonRpcResponse::from_value(&json!({ "content": [{ "type": "text", "text": name }] }))
//! });
//! let message = br#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo"}}"#;
//! let reply = handle_message(&mut server, message, &DecodeLimits::default()).await.unwrap();
//! let reply: serde_json::Value = serde_json::from_slice(&reply).unwrap();
//! assert_eq!(reply["result"]["content"][0]["text"], "echo");
//!
//! let reply = handle_message(&mut server, b"{oops", &DecodeLimits::default()).await.unwrap();
//! let reply: serde_json::Value = serde_json::from_slice(&reply).unwrap();
//! assert_eq!(reply["error"]["code"], -32700);
//! # });
//! ```

mod request;
mod response;
pub mod skim;

pub use request::{DecodeError, DecodeLimits, JsonRpcRequest, RequestId};
pub use response::{JsonRpcResponse, encode_error, encode_result};

use tower::{Service, ServiceExt};

use crate::{
    error::{EdgeReply, McpError},
    request::McpRequest,
};

/// Answers one JSON-RPC message through `service`: decodes it (malformed
/// input gets its JSON-RPC error), calls the service, and encodes the reply
/// with the request's id. Returns `None` for a notification, which gets no
/// reply; the service still sees it.
///
/// A rejection of a `tools/call` (rate limited, overloaded, ...) becomes a
/// tool result with `isError: true`, so the model reads why; see
/// [`McpError::at_edge`].
pub async fn handle_message<S>(
    service: &mut S,
    message: &[u8],
    limits: &DecodeLimits,
) -> Option<Vec<u8>>
where
    S: Service<JsonRpcRequest, Response = JsonRpcResponse>,
    S::Error: Into<McpError>,
{
    let request = match JsonRpcRequest::decode(message, limits) {
        Ok(request) => request,
        Err(error) => return Some(encode_error(error.id.as_deref(), &error.error)),
    };
    let id = request.id().map(ToOwned::to_owned);
    let class = request.class();
    let result = match service.ready().await {
        Ok(ready) => ready.call(request).await,
        Err(error) => Err(error),
    };
    let id = id?;
    Some(match result {
        Ok(response) => encode_result(&id, &response),
        Err(error) => match error.into().at_edge(class) {
            EdgeReply::ToolError(message) => {
                encode_result(&id, &JsonRpcResponse::tool_error(&message))
            }
            EdgeReply::Error(error) => encode_error(Some(&id), &error),
        },
    })
}
