//! JSON-RPC on the wire, read only as far as routing needs: which kind of
//! message it is, its id and method; everything else stays raw text.

use std::borrow::Cow;

use mcp_service::{
    McpError, RpcError,
    jsonrpc::{JsonRpcResponse, encode_error},
};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

/// The top-level members of any JSON-RPC message, borrowed from its text.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct Envelope<'a> {
    #[serde(borrow)]
    pub(crate) id: Option<&'a RawValue>,
    #[serde(borrow)]
    pub(crate) method: Option<Cow<'a, str>>,
    #[serde(borrow)]
    pub(crate) params: Option<&'a RawValue>,
    #[serde(borrow)]
    pub(crate) result: Option<&'a RawValue>,
    #[serde(borrow)]
    pub(crate) error: Option<&'a RawValue>,
}

/// What a message is, by its members.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// A method and an id: it wants an answer.
    Request,
    /// A method without an id.
    Notification,
    /// An id with a result or an error: the answer to a request.
    Response,
    /// None of those.
    Invalid,
}

impl<'a> Envelope<'a> {
    /// The envelope of `text`, or `None` when it is not a JSON object.
    pub(crate) fn read(text: &'a [u8]) -> Option<Self> {
        serde_json::from_slice(text).ok()
    }

    pub(crate) fn kind(&self) -> Kind {
        match (
            &self.method,
            self.id,
            self.result.is_some() || self.error.is_some(),
        ) {
            (Some(_), Some(_), _) => Kind::Request,
            (Some(_), None, _) => Kind::Notification,
            (None, Some(_), true) => Kind::Response,
            // `"id": null` reads as no id: the answer to a request whose id
            // could not be read (a parse error), errors only.
            (None, None, _) if self.error.is_some() => Kind::Response,
            _ => Kind::Invalid,
        }
    }

    /// The answer this response carries: its result, or its error as an
    /// [`McpError`].
    pub(crate) fn outcome(&self) -> Result<JsonRpcResponse, McpError> {
        if let Some(error) = self.error {
            return Err(McpError::Rpc(rpc_error(error)));
        }
        match self.result {
            Some(result) => JsonRpcResponse::from_raw(result.to_owned()),
            None => Err(RpcError::internal("the upstream's response has no result").into()),
        }
    }
}

/// A JSON-RPC error object as an [`RpcError`]; one that is not well formed
/// becomes an internal error that says so.
pub(crate) fn rpc_error(error: &RawValue) -> RpcError {
    #[derive(Deserialize)]
    struct Wire {
        code: i32,
        message: String,
        data: Option<serde_json::Value>,
    }
    match serde_json::from_str::<Wire>(error.get()) {
        Ok(wire) => RpcError {
            code: wire.code,
            message: wire.message.into(),
            data: wire.data,
        },
        Err(_) => RpcError::internal("the upstream sent a malformed JSON-RPC error"),
    }
}

#[derive(Serialize)]
struct Message<'a, I: Serialize> {
    jsonrpc: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    id: Option<I>,
    #[serde(skip_serializing_if = "Option::is_none")]
    method: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    params: Option<&'a RawValue>,
    #[serde(skip_serializing_if = "Option::is_none")]
    result: Option<&'a RawValue>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<&'a RawValue>,
}

fn encode<I: Serialize>(message: &Message<'_, I>) -> Vec<u8> {
    // Raw values, strings and integers always serialize.
    serde_json::to_vec(message).unwrap_or_default()
}

/// A request (or, with no id, a notification) with these raw parts.
pub(crate) fn request<I: Serialize>(
    id: Option<I>,
    method: &str,
    params: Option<&RawValue>,
) -> Vec<u8> {
    encode(&Message {
        jsonrpc: "2.0",
        id,
        method: Some(method),
        params,
        result: None,
        error: None,
    })
}

/// A response to `id` carrying exactly one of `result` and `error`, raw.
pub(crate) fn response<I: Serialize>(
    id: I,
    result: Option<&RawValue>,
    error: Option<&RawValue>,
) -> Vec<u8> {
    encode(&Message {
        jsonrpc: "2.0",
        id: Some(id),
        method: None,
        params: None,
        result,
        error,
    })
}

/// An error response to `id` (raw JSON), for answers the gateway makes.
pub(crate) fn error_response(id: &RawValue, error: &RpcError) -> Vec<u8> {
    encode_error(Some(id), error)
}

/// `text` as a raw JSON value, when it is valid JSON.
pub(crate) fn raw(text: String) -> Option<Box<RawValue>> {
    RawValue::from_string(text).ok()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests fail loudly")]

    use super::*;

    #[test]
    fn messages_are_told_apart_by_their_members() {
        let kind = |text: &str| Envelope::read(text.as_bytes()).unwrap().kind();
        assert_eq!(
            kind(r#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#),
            Kind::Request
        );
        assert_eq!(
            kind(r#"{"jsonrpc":"2.0","method":"notifications/progress"}"#),
            Kind::Notification
        );
        assert_eq!(
            kind(r#"{"jsonrpc":"2.0","id":"a","result":{}}"#),
            Kind::Response
        );
        assert_eq!(
            kind(r#"{"jsonrpc":"2.0","id":null,"error":{"code":-32700,"message":"x"}}"#),
            Kind::Response
        );
        assert_eq!(kind(r#"{"jsonrpc":"2.0","id":3}"#), Kind::Invalid);
        assert!(Envelope::read(b"[1]").is_none());
    }

    #[test]
    fn errors_keep_their_code_message_and_data() {
        let envelope = Envelope::read(
            br#"{"jsonrpc":"2.0","id":1,"error":{"code":-32602,"message":"bad","data":{"x":1}}}"#,
        )
        .unwrap();
        let Err(McpError::Rpc(error)) = envelope.outcome() else {
            unreachable!("an error response is an error");
        };
        assert_eq!((error.code, &*error.message), (-32602, "bad"));
        assert_eq!(error.data.unwrap()["x"], 1);
    }

    #[test]
    fn requests_and_responses_encode_raw_parts_unchanged() {
        let params = raw(r#"{"b":1,"a":2}"#.into()).unwrap();
        let text = request(Some(7), "tools/call", Some(&params));
        assert_eq!(
            String::from_utf8(text).unwrap(),
            r#"{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"b":1,"a":2}}"#
        );
        let result = raw("{}".into()).unwrap();
        let id = raw(r#""x""#.into()).unwrap();
        let text = response(&*id, Some(&result), None);
        assert_eq!(
            String::from_utf8(text).unwrap(),
            r#"{"jsonrpc":"2.0","id":"x","result":{}}"#
        );
    }
}
