//! [`JsonRpcResponse`]: a raw JSON-RPC result and the encoding of replies.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use crate::{
    error::{McpError, RpcError},
    response::{CacheHint, CacheScope, McpResponse, Outcome},
};

/// The `result` of a successful JSON-RPC response, kept as raw JSON, with the
/// few fields layers read picked out once.
///
/// It carries no id: the edge attaches the id of the request it answers, so
/// one result can answer many requests (a cache hit, a single-flight follower).
#[derive(Debug, Clone)]
pub struct JsonRpcResponse {
    result: Box<RawValue>,
    outcome: Outcome,
    hint: CacheHint,
}

impl JsonRpcResponse {
    /// A response from raw result JSON, which must be an object.
    ///
    /// Hint fields of the wrong type (`"ttlMs": "soon"`) are treated as
    /// absent rather than failing the response: a gateway passes on what an
    /// upstream sent and only declines to cache it.
    pub fn from_raw(result: Box<RawValue>) -> Result<Self, McpError> {
        let view: ResultView<'_> = serde_json::from_str(result.get()).map_err(|error| {
            McpError::from(RpcError::internal(format!(
                "result must be a JSON object: {error}"
            )))
        })?;
        let result_type = view
            .result_type
            .and_then(|raw| serde_json::from_str(raw.get()).ok());
        let outcome = match result_type {
            Some("input_required") => Outcome::InputRequired,
            Some("task") => Outcome::Task,
            _ if view.is_error.map(RawValue::get) == Some("true") => Outcome::ToolError,
            _ => Outcome::Complete,
        };
        let hint = CacheHint {
            ttl: view
                .ttl_ms
                .and_then(|raw| raw.get().parse::<u64>().ok())
                .map(Duration::from_millis),
            scope: view.cache_scope.and_then(|raw| match raw.get() {
                r#""public""# => Some(CacheScope::Public),
                r#""private""# => Some(CacheScope::Private),
                _ => None,
            }),
        };
        Ok(Self {
            result,
            outcome,
            hint,
        })
    }

    /// A response from a JSON value, which must be an object.
    pub fn from_value(result: &serde_json::Value) -> Result<Self, McpError> {
        let raw = serde_json::value::to_raw_value(result)
            .map_err(|error| McpError::from(RpcError::internal(error.to_string())))?;
        Self::from_raw(raw)
    }

    /// A `tools/call` result with `isError: true` and `message` as its text.
    pub fn tool_error(message: &str) -> Self {
        let result = serde_json::json!({
            "content": [{ "type": "text", "text": message }],
            "isError": true,
        });
        Self {
            result: serde_json::value::to_raw_value(&result)
                .unwrap_or_else(|_| super::request::null()),
            outcome: Outcome::ToolError,
            hint: CacheHint::default(),
        }
    }

    /// The result as raw JSON.
    pub fn result(&self) -> &RawValue {
        &self.result
    }

    /// The raw result, for forwarding.
    pub fn into_raw(self) -> Box<RawValue> {
        self.result
    }
}

impl McpResponse for JsonRpcResponse {
    fn outcome(&self) -> Outcome {
        self.outcome
    }

    fn cache_hint(&self) -> CacheHint {
        self.hint
    }

    fn weight(&self) -> usize {
        self.result.get().len()
    }

    fn encode(&self) -> Result<Vec<u8>, McpError> {
        Ok(self.result.get().as_bytes().to_vec())
    }

    fn decode(bytes: &[u8]) -> Result<Self, McpError> {
        let text = std::str::from_utf8(bytes)
            .map_err(|error| McpError::from(RpcError::internal(error.to_string())))?;
        let raw = RawValue::from_string(text.to_owned())
            .map_err(|error| McpError::from(RpcError::internal(error.to_string())))?;
        Self::from_raw(raw)
    }

    fn insert_meta(&mut self, key: &str, value: serde_json::Value) -> bool {
        let Ok(mut object) = serde_json::from_str::<serde_json::Value>(self.result.get()) else {
            return false;
        };
        if !crate::response::set_meta(&mut object, key, value) {
            return false;
        }
        match serde_json::value::to_raw_value(&object) {
            Ok(raw) => {
                // `_meta` carries no field the outcome or the hint is read from.
                self.result = raw;
                true
            }
            Err(_) => false,
        }
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ResultView<'a> {
    #[serde(borrow)]
    is_error: Option<&'a RawValue>,
    #[serde(borrow)]
    result_type: Option<&'a RawValue>,
    #[serde(borrow)]
    ttl_ms: Option<&'a RawValue>,
    #[serde(borrow)]
    cache_scope: Option<&'a RawValue>,
}

/// A JSON-RPC response message.
#[derive(Serialize)]
struct Reply<'a> {
    jsonrpc: &'static str,
    id: Option<&'a RawValue>,
    #[serde(skip_serializing_if = "Option::is_none")]
    result: Option<&'a RawValue>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<ErrorObject<'a>>,
}

#[derive(Serialize)]
struct ErrorObject<'a> {
    code: i32,
    message: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    data: Option<&'a serde_json::Value>,
}

/// The bytes of a successful response to request `id`.
pub fn encode_result(id: &RawValue, result: &JsonRpcResponse) -> Vec<u8> {
    encode(&Reply {
        jsonrpc: "2.0",
        id: Some(id),
        result: Some(&result.result),
        error: None,
    })
}

/// The bytes of an error response; `id` is `None` (sent as `null`) when the
/// request's id could not be read.
pub fn encode_error(id: Option<&RawValue>, error: &RpcError) -> Vec<u8> {
    encode(&Reply {
        jsonrpc: "2.0",
        id,
        result: None,
        error: Some(ErrorObject {
            code: error.code,
            message: &error.message,
            data: error.data.as_ref(),
        }),
    })
}

fn encode(reply: &Reply<'_>) -> Vec<u8> {
    // Raw values, strings, numbers and JSON values always serialize.
    serde_json::to_vec(reply).unwrap_or_default()
}
