//! The raw JSON-RPC decoder against any bytes: an answer with the right
//! code, never a panic, no allocation beyond a small multiple of the input,
//! and what it accepts survives its own encoding unchanged.
//!
//! Shared with the fuzz target `jsonrpc_request`.

// A failed check panics: that is what the test harness and the fuzzer see.
#![allow(clippy::panic)]

use mcp_service::{
    McpRequest,
    jsonrpc::{DecodeLimits, JsonRpcRequest},
};

/// Limits small enough for the fuzzer to reach both sides of them.
const SMALL: DecodeLimits = DecodeLimits {
    max_message_bytes: 4096,
    max_params_bytes: 1024,
};

pub(crate) fn check(bytes: &[u8]) {
    let (_, probe) = mcp_testkit::largest_allocation(|| Vec::<u8>::with_capacity(64));
    assert!(probe >= 64, "PeakAlloc must be the global allocator");

    for limits in [DecodeLimits::default(), SMALL] {
        let (decoded, largest) =
            mcp_testkit::largest_allocation(|| JsonRpcRequest::decode(bytes, &limits));
        // Raw params are copied once, and strings with escapes unescaped
        // once; a buffer that grows by doubling may hold twice that.
        assert!(
            largest <= 2 * bytes.len() + 4096,
            "{largest} bytes allocated at once for a message of {}",
            bytes.len()
        );
        match decoded {
            Ok(request) => accepted(bytes, &request, &limits),
            Err(error) => {
                let code = error.error.code;
                assert!(
                    matches!(code, -32700 | -32600 | -32602),
                    "code {code}: {}",
                    error.error.message
                );
                assert!(!error.error.message.is_empty());
                if bytes.len() > limits.max_message_bytes {
                    assert_eq!((code, error.id.is_none()), (-32600, true));
                }
            }
        }
    }
}

fn accepted(bytes: &[u8], request: &JsonRpcRequest, limits: &DecodeLimits) {
    assert!(bytes.len() <= limits.max_message_bytes);
    if let Some(params) = request.params() {
        assert!(params.get().len() <= limits.max_params_bytes);
        assert!(params.get().starts_with('{'), "params {}", params.get());
    }
    if let Some(id) = request.id() {
        // A string, or a number written as an integer (`-0` is one, which
        // serde_json reads as a float to keep its sign).
        let text = id.get();
        let value: serde_json::Value =
            serde_json::from_str(text).unwrap_or(serde_json::Value::Null);
        let integer = value.is_number() && !text.contains(['.', 'e', 'E']);
        assert!(value.is_string() || integer, "id {text}");
    }

    let unlimited = DecodeLimits {
        max_message_bytes: usize::MAX,
        max_params_bytes: usize::MAX,
    };
    let again = match JsonRpcRequest::decode(&request.encode(), &unlimited) {
        Ok(again) => again,
        Err(error) => panic!("its own encoding is refused: {error}"),
    };
    assert_eq!(again.method(), request.method());
    assert_eq!(
        again.id().map(|id| id.get()),
        request.id().map(|id| id.get())
    );
    assert_eq!(
        again.params().map(|params| params.get()),
        request.params().map(|params| params.get()),
        "params are forwarded byte for byte"
    );
    assert_eq!(again.class(), request.class());
    assert_eq!(again.tool_name(), request.tool_name());
    assert_eq!(again.prompt_name(), request.prompt_name());
    assert_eq!(again.resource_uri(), request.resource_uri());
    assert_eq!(again.cursor(), request.cursor());
    assert_eq!(again.is_retry(), request.is_retry());
    assert_eq!(again.protocol_version(), request.protocol_version());
    assert_eq!(again.params_digest(), request.params_digest());
}
