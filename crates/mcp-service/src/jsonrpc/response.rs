//! [`JsonRpcResponse`]: a raw JSON-RPC result and the encoding of replies.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use super::skim::Reader;
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
        let view = match ResultView::skim(result.get()) {
            Some(view) => view,
            None => serde_json::from_str::<ResultWire<'_>>(result.get())
                .map_err(|error| {
                    McpError::from(RpcError::internal(format!(
                        "result must be a JSON object: {error}"
                    )))
                })?
                .into(),
        };
        let result_type = view
            .result_type
            .and_then(|raw| serde_json::from_str(raw).ok());
        let outcome = match result_type {
            Some("input_required") => Outcome::InputRequired,
            Some("task") => Outcome::Task,
            _ if view.is_error == Some("true") => Outcome::ToolError,
            _ => Outcome::Complete,
        };
        let hint = CacheHint {
            ttl: view
                .ttl_ms
                .and_then(|raw| raw.parse::<u64>().ok())
                .map(Duration::from_millis),
            scope: view.cache_scope.and_then(|raw| match raw {
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

/// The members of a result layers read, as JSON text.
#[derive(Debug, Default, PartialEq, Eq)]
struct ResultView<'a> {
    is_error: Option<&'a str>,
    result_type: Option<&'a str>,
    ttl_ms: Option<&'a str>,
    cache_scope: Option<&'a str>,
}

impl<'a> ResultView<'a> {
    /// The view in one pass (see [`skim`](super::skim)); `None` leaves the
    /// result to serde, as when a member comes twice.
    fn skim(result: &'a str) -> Option<Self> {
        let mut view = Self::default();
        // The members met, a bit each: serde counts a `null` as met.
        let mut seen = 0u8;
        let mut reader = Reader::new(result.as_bytes())?;
        reader.object(|reader, key| {
            let (slot, bit) = match key {
                "isError" => (&mut view.is_error, 1),
                "resultType" => (&mut view.result_type, 2),
                "ttlMs" => (&mut view.ttl_ms, 4),
                "cacheScope" => (&mut view.cache_scope, 8),
                _ => return reader.value().map(drop),
            };
            if seen & bit != 0 {
                return None;
            }
            seen |= bit;
            *slot = Some(reader.value()?).filter(|value| *value != "null");
            Some(())
        })?;
        reader.finish()?;
        Some(view)
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ResultWire<'a> {
    #[serde(borrow)]
    is_error: Option<&'a RawValue>,
    #[serde(borrow)]
    result_type: Option<&'a RawValue>,
    #[serde(borrow)]
    ttl_ms: Option<&'a RawValue>,
    #[serde(borrow)]
    cache_scope: Option<&'a RawValue>,
}

impl<'a> From<ResultWire<'a>> for ResultView<'a> {
    fn from(wire: ResultWire<'a>) -> Self {
        Self {
            is_error: wire.is_error.map(RawValue::get),
            result_type: wire.result_type.map(RawValue::get),
            ttl_ms: wire.ttl_ms.map(RawValue::get),
            cache_scope: wire.cache_scope.map(RawValue::get),
        }
    }
}

/// A JSON-RPC error response.
#[derive(Serialize)]
struct ErrorReply<'a> {
    jsonrpc: &'static str,
    id: Option<&'a RawValue>,
    error: ErrorObject<'a>,
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
    let (id, result) = (id.get().as_bytes(), result.result.get().as_bytes());
    let mut out = Vec::with_capacity(36 + id.len() + result.len());
    out.extend_from_slice(br#"{"jsonrpc":"2.0","id":"#);
    out.extend_from_slice(id);
    out.extend_from_slice(br#","result":"#);
    out.extend_from_slice(result);
    out.push(b'}');
    out
}

/// The bytes of an error response; `id` is `None` (sent as `null`) when the
/// request's id could not be read.
pub fn encode_error(id: Option<&RawValue>, error: &RpcError) -> Vec<u8> {
    let reply = ErrorReply {
        jsonrpc: "2.0",
        id,
        error: ErrorObject {
            code: error.code,
            message: &error.message,
            data: error.data.as_ref(),
        },
    };
    // Raw values, strings, numbers and JSON values always serialize.
    serde_json::to_vec(&reply).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests fail loudly")]

    use proptest::{prelude::*, sample::select};

    use super::*;

    fn by_serde(result: &str) -> Option<ResultView<'_>> {
        serde_json::from_str::<ResultWire<'_>>(result)
            .ok()
            .map(Into::into)
    }

    #[test]
    fn a_common_result_is_read_in_one_pass() {
        let result = r#"{"content":[{"type":"text","text":"hi"}],"isError":false,"ttlMs":500,"cacheScope":"public"}"#;
        let view = ResultView::skim(result).unwrap();
        assert_eq!(Some(&view), by_serde(result).as_ref());
        assert_eq!(
            (view.ttl_ms, view.cache_scope),
            (Some("500"), Some(r#""public""#))
        );
        // Twice the same member: serde refuses it, and so the skim leaves it.
        assert!(ResultView::skim(r#"{"ttlMs":1,"ttlMs":2}"#).is_none());
    }

    proptest! {
        #[test]
        fn one_pass_and_serde_see_the_same_result(
            members in prop::collection::vec(
                (
                    select(vec!["isError", "resultType", "ttlMs", "cacheScope", "content", "_meta"]),
                    select(vec!["true", "false", r#""task""#, "250", r#""private""#, "null", r#"[{"a":"\n"}]"#]),
                ),
                0..5,
            ),
        ) {
            let members: Vec<String> =
                members.iter().map(|(key, value)| format!("\"{key}\": {value}")).collect();
            let result = format!("{{{}}}", members.join(", "));
            if let Some(view) = ResultView::skim(&result) {
                prop_assert_eq!(Some(view), by_serde(&result), "{}", result);
            } else {
                prop_assert!(by_serde(&result).is_none(), "{}", result);
            }
        }
    }
}
