//! Raw JSON-RPC: each class of malformed input gets its exact error code, the
//! request and response views read what MCP defines, and the edge answers.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests fail loudly"
)]

use std::time::Duration;

use mcp_service::{
    CacheScope, McpError, McpRequest, McpResponse, MethodClass, Outcome, Partition, Principal,
    jsonrpc::{DecodeLimits, JsonRpcRequest, JsonRpcResponse, handle_message},
};
use proptest::prelude::*;
use serde_json::{Value, json};
use tower::service_fn;

fn decode(message: &str) -> Result<JsonRpcRequest, (Option<String>, i32)> {
    JsonRpcRequest::decode(message.as_bytes(), &DecodeLimits::default())
        .map_err(|error| (error.id.map(|id| id.get().to_owned()), error.error.code))
}

fn code(message: &str) -> i32 {
    let shown: String = message.chars().take(120).collect();
    decode(message)
        .err()
        .unwrap_or_else(|| panic!("{shown} decoded"))
        .1
}

#[test]
fn bad_json_is_a_parse_error() {
    for message in [
        "",
        "{",
        r#"{"jsonrpc":"2.0","id":1,"method":"ping""#,
        r#"{"jsonrpc":"2.0","id":1,"method":"ping"} trailing"#,
        "\u{feff}{}",
        r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"a",}}"#,
        "nul",
    ] {
        assert_eq!(code(message), -32700, "{message:?}");
    }
    let invalid_utf8 = JsonRpcRequest::decode(b"{\"method\":\"\xff\"}", &DecodeLimits::default());
    assert_eq!(invalid_utf8.unwrap_err().error.code, -32700);
}

#[test]
fn a_bad_envelope_is_an_invalid_request() {
    for message in [
        "[]",
        r#"[{"jsonrpc":"2.0","id":1,"method":"ping"}]"#,
        "42",
        r#""ping""#,
        "null",
        r#"{"id":1,"method":"ping"}"#,
        r#"{"jsonrpc":"1.0","id":1,"method":"ping"}"#,
        r#"{"jsonrpc":2.0,"id":1,"method":"ping"}"#,
        r#"{"jsonrpc":"2.0","id":1}"#,
        r#"{"jsonrpc":"2.0","id":1,"method":7}"#,
        r#"{"jsonrpc":"2.0","id":1,"method":null}"#,
        r#"{"jsonrpc":"2.0","id":null,"method":"ping"}"#,
        r#"{"jsonrpc":"2.0","id":1.5,"method":"ping"}"#,
        r#"{"jsonrpc":"2.0","id":{"a":1},"method":"ping"}"#,
        r#"{"jsonrpc":"2.0","id":1,"method":"ping","method":"tools/list"}"#,
    ] {
        assert_eq!(code(message), -32600, "{message}");
    }
}

#[test]
fn a_method_reads_the_same_with_or_without_escapes() {
    for (message, method) in [
        (
            r#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#,
            "tools/list",
        ),
        (
            r#"{"jsonrpc":"2.0","id":1,"method":"tools\/list"}"#,
            "tools/list",
        ),
        (r#"{"jsonrpc":"2.0","id":1,"method":"\u0070ing"}"#, "ping"),
        (
            r#"{"jsonrpc":"2.0","id":1,"method":"say \"hi\""}"#,
            "say \"hi\"",
        ),
    ] {
        assert_eq!(decode(message).unwrap().method(), method, "{message}");
    }
    assert_eq!(code(r#"{"jsonrpc":"2.0","id":1,"method":7}"#), -32600);
}

#[test]
fn the_id_is_echoed_when_it_could_be_read() {
    let error = decode(r#"{"jsonrpc":"1.0","id":"req-7","method":"ping"}"#).unwrap_err();
    assert_eq!(error, (Some(r#""req-7""#.to_owned()), -32600));
    let error =
        decode(r#"{"jsonrpc":"2.0","id":9,"method":"tools/call","params":[]}"#).unwrap_err();
    assert_eq!(error, (Some("9".to_owned()), -32602));
}

#[test]
fn wrong_param_types_are_invalid_params() {
    for message in [
        r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":[1,2]}"#,
        r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":"x"}"#,
        r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":null}"#,
        r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":5}}"#,
        r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{}}"#,
        r#"{"jsonrpc":"2.0","id":1,"method":"tools/call"}"#,
        r#"{"jsonrpc":"2.0","id":1,"method":"prompts/get","params":{"name":["x"]}}"#,
        r#"{"jsonrpc":"2.0","id":1,"method":"resources/read","params":{"uri":{}}}"#,
        r#"{"jsonrpc":"2.0","id":1,"method":"resources/read","params":{"name":"x"}}"#,
        r#"{"jsonrpc":"2.0","id":1,"method":"tools/list","params":{"cursor":3}}"#,
        r#"{"jsonrpc":"2.0","id":1,"method":"tools/list","params":{"_meta":"x"}}"#,
    ] {
        assert_eq!(code(message), -32602, "{message}");
    }
}

#[test]
fn oversized_input_is_refused_before_it_costs_memory() {
    let limits = DecodeLimits {
        max_message_bytes: 1 << 20,
        max_params_bytes: 1024,
    };
    let big = "x".repeat(2000);
    let message = format!(
        r#"{{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{{"name":"echo","arguments":{{"text":"{big}"}}}}}}"#
    );
    let error = JsonRpcRequest::decode(message.as_bytes(), &limits).unwrap_err();
    assert_eq!(error.error.code, -32602);
    assert_eq!(error.id.unwrap().get(), "3");
    let data = error.error.data.unwrap();
    assert_eq!(data["limitBytes"], 1024);
    assert!(data["sizeBytes"].as_u64().unwrap() > 2000);

    let limits = DecodeLimits {
        max_message_bytes: 100,
        max_params_bytes: 1024,
    };
    let error = JsonRpcRequest::decode(message.as_bytes(), &limits).unwrap_err();
    assert!(error.id.is_none());
    assert_eq!(error.error.code, -32600);
}

#[test]
fn errors_never_quote_a_long_string_back() {
    // serde quotes an unexpected string whole, escaped: DEL, one byte,
    // becomes `\u{7f}`, six. A message of one long string, or a `_meta`
    // that is one, came back as an error several times the request.
    let del = "\u{7f}".repeat(1 << 20);
    let top = serde_json::to_string(&del).unwrap();
    let meta = format!(
        r#"{{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{{"name":"a","_meta":{top}}}}}"#
    );
    for (message, code) in [(top, -32600), (meta, -32602)] {
        let error =
            JsonRpcRequest::decode(message.as_bytes(), &DecodeLimits::default()).unwrap_err();
        assert_eq!(error.error.code, code, "{:.200}", error.error.message);
        assert!(
            error.error.message.len() < 200,
            "{} bytes: {:.200}",
            error.error.message.len(),
            error.error.message
        );
    }
}

#[test]
fn deep_nesting_never_overflows_the_stack() {
    // Params are skipped, not parsed, at decode: the depth costs nothing there.
    // Hashing parses them, refuses the depth, and so never shares the request.
    let deep = format!(
        r#"{{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{{"name":"a","arguments":{}1{}}}}}"#,
        "[".repeat(100_000),
        "]".repeat(100_000)
    );
    let request = decode(&deep).unwrap();
    assert_eq!(request.tool_name(), Some("a"));
    assert_eq!(request.params_digest(), None);
    assert_eq!(request.cache_key(Partition::Public), None);
}

#[test]
fn custom_methods_keep_their_params_unread() {
    let request =
        decode(r#"{"jsonrpc":"2.0","id":1,"method":"vendor/x","params":{"name":5}}"#).unwrap();
    assert_eq!(request.class(), MethodClass::Unknown);
    assert_eq!(request.tool_name(), None);
    assert_eq!(request.params().unwrap().get(), r#"{"name":5}"#);
}

#[test]
fn the_view_reads_what_mcp_defines() {
    let request = decode(
        r#"{"jsonrpc":"2.0","id":"a","method":"tools/call","params":{
            "name":"search","arguments":{"q":"x"},"requestState":"opaque",
            "_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","progressToken":1}}}"#,
    )
    .unwrap();
    assert_eq!(request.method(), "tools/call");
    assert_eq!(request.class(), MethodClass::ToolCall);
    assert_eq!(request.tool_name(), Some("search"));
    assert_eq!(request.prompt_name(), None);
    assert!(request.is_retry());
    assert_eq!(request.protocol_version(), Some("2026-07-28"));
    assert!(!request.is_notification());

    let read = decode(
        r#"{"jsonrpc":"2.0","id":2,"method":"resources/read","params":{"uri":"file:///a"}}"#,
    )
    .unwrap()
    .with_session_protocol_version("2025-11-25");
    assert_eq!(read.resource_uri(), Some("file:///a"));
    assert!(!read.is_retry());
    assert_eq!(read.protocol_version(), Some("2025-11-25"));

    let list = decode(r#"{"jsonrpc":"2.0","id":3,"method":"tools/list","params":{"cursor":"c2"}}"#)
        .unwrap();
    assert_eq!(list.cursor(), Some("c2"));
    let prompt =
        decode(r#"{"jsonrpc":"2.0","id":4,"method":"prompts/get","params":{"name":"greet"}}"#)
            .unwrap();
    assert_eq!(
        (prompt.prompt_name(), prompt.tool_name()),
        (Some("greet"), None)
    );

    let notification =
        decode(r#"{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":1}}"#)
            .unwrap();
    assert!(notification.is_notification());
    assert_eq!(notification.class(), MethodClass::Notification);
}

#[test]
fn keys_ignore_member_order_and_meta_and_separate_principals() {
    let a = decode(r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"s","arguments":{"a":1,"b":2}}}"#).unwrap();
    let b = decode(r#"{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"_meta":{"progressToken":9},"arguments":{"b":2,"a":1},"name":"s"}}"#).unwrap();
    assert_eq!(
        a.cache_key(Partition::Public),
        b.cache_key(Partition::Public)
    );
    let alice = Partition::Principal(Principal::from_identity("alice"));
    let bob = Partition::Principal(Principal::from_identity("bob"));
    assert_ne!(a.cache_key(alice), a.cache_key(bob));
    assert_ne!(a.cache_key(alice), a.cache_key(Partition::Public));
}

#[test]
fn principals_come_from_extensions_or_the_authorization_header() {
    let mut request = decode(r#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#).unwrap();
    assert_eq!(request.principal(), None);
    let (parts, ()) = http::Request::builder()
        .header("authorization", "Bearer token-a")
        .body(())
        .unwrap()
        .into_parts();
    request.insert_extension(parts);
    assert_eq!(
        request.principal(),
        Some(Principal::from_authorization(b"Bearer token-a"))
    );
    assert!(request.http_parts().is_some());
    request.insert_extension(Principal::from_identity("user-1"));
    assert_eq!(
        request.principal(),
        Some(Principal::from_identity("user-1"))
    );
}

#[test]
fn responses_expose_outcome_and_cache_hints() {
    let listed =
        JsonRpcResponse::from_value(&json!({"tools": [], "ttlMs": 5000, "cacheScope": "public"}))
            .unwrap();
    assert_eq!(listed.outcome(), Outcome::Complete);
    assert_eq!(listed.cache_hint().ttl, Some(Duration::from_secs(5)));
    assert_eq!(listed.cache_hint().scope, Some(CacheScope::Public));

    let failed = JsonRpcResponse::from_value(&json!({"content": [], "isError": true})).unwrap();
    assert_eq!(failed.outcome(), Outcome::ToolError);
    let input =
        JsonRpcResponse::from_value(&json!({"resultType": "input_required", "inputRequests": {}}))
            .unwrap();
    assert_eq!(input.outcome(), Outcome::InputRequired);
    let private = JsonRpcResponse::from_value(
        &json!({"contents": [], "cacheScope": "private", "ttlMs": "soon"}),
    )
    .unwrap();
    assert_eq!(private.cache_hint().scope, Some(CacheScope::Private));
    assert_eq!(
        private.cache_hint().ttl,
        None,
        "a malformed hint is no hint"
    );

    assert!(JsonRpcResponse::from_value(&json!([1])).is_err());
    let bytes = listed.encode().unwrap();
    assert_eq!(bytes.len(), listed.weight());
    let decoded = JsonRpcResponse::decode(&bytes).unwrap();
    assert_eq!(decoded.result().get(), listed.result().get());
    assert_eq!(decoded.cache_hint(), listed.cache_hint());
    assert!(JsonRpcResponse::decode(b"\xff").is_err());

    let mut marked = listed.clone();
    assert!(marked.insert_meta("dev.mcp-stack/cache", json!({"stale": true})));
    let value: Value = serde_json::from_str(marked.result().get()).unwrap();
    assert_eq!(value["_meta"]["dev.mcp-stack/cache"]["stale"], true);
    assert_eq!(value["ttlMs"], 5000);
    assert_eq!(marked.cache_hint(), listed.cache_hint());
}

#[test]
fn encode_keeps_params_byte_for_byte() {
    let message = r#"{"jsonrpc":"2.0","id":"x","method":"tools/call","params":{"name":"a","arguments":{"z":1,"a":[1.50,"é"]}}}"#;
    let request = decode(message).unwrap();
    assert_eq!(String::from_utf8(request.encode()).unwrap(), message);
}

async fn reply(message: &str) -> Option<Value> {
    let mut service = service_fn(|request: JsonRpcRequest| async move {
        match request.tool_name() {
            Some("busy") => Err(McpError::Overloaded),
            Some("broken") => Err(mcp_service::RpcError::internal("boom").into()),
            _ => JsonRpcResponse::from_value(&json!({ "method": request.method() })),
        }
    });
    handle_message(&mut service, message.as_bytes(), &DecodeLimits::default())
        .await
        .map(|bytes| serde_json::from_slice(&bytes).unwrap())
}

#[tokio::test]
async fn the_edge_answers_each_case() {
    let ok = reply(r#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#)
        .await
        .unwrap();
    assert_eq!(
        ok,
        json!({"jsonrpc": "2.0", "id": 1, "result": {"method": "tools/list"}})
    );

    let parse = reply("{").await.unwrap();
    assert_eq!(
        (parse["id"].clone(), parse["error"]["code"].clone()),
        (Value::Null, json!(-32700))
    );

    let invalid = reply(r#"{"jsonrpc":"2.0","id":"q","method":"tools/call","params":{"name":1}}"#)
        .await
        .unwrap();
    assert_eq!(
        (invalid["id"].clone(), invalid["error"]["code"].clone()),
        (json!("q"), json!(-32602))
    );

    let busy = reply(r#"{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"busy"}}"#)
        .await
        .unwrap();
    assert_eq!(busy["result"]["isError"], true);
    assert_eq!(
        busy["result"]["content"][0]["text"],
        "server overloaded; too many requests in flight"
    );

    let broken =
        reply(r#"{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"broken"}}"#)
            .await
            .unwrap();
    assert_eq!(broken["error"]["code"], -32603, "inner errors stay errors");

    let none = reply(r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#).await;
    assert_eq!(none, None, "notifications get no reply");
}

fn json_text() -> impl Strategy<Value = String> {
    let fragment = prop_oneof![
        Just(r#"{"jsonrpc":"2.0","#.to_owned()),
        Just(r#""id":1,"#.to_owned()),
        Just(r#""method":"tools/call","#.to_owned()),
        Just(r#""params":{"name":"#.to_owned()),
        Just(r#""uri":"#.to_owned()),
        Just(r#""_meta":{"#.to_owned()),
        Just("null".to_owned()),
        Just("}".to_owned()),
        Just("]".to_owned()),
        Just("[".to_owned()),
        Just(",".to_owned()),
        "[ -~]{0,6}",
    ];
    prop::collection::vec(fragment, 0..12).prop_map(|parts| parts.concat())
}

proptest! {
    #[test]
    fn no_input_panics_and_every_error_has_a_json_rpc_code(
        text in json_text(),
        bytes in prop::collection::vec(any::<u8>(), 0..64),
    ) {
        for input in [text.as_bytes(), bytes.as_slice()] {
            if let Err(error) = JsonRpcRequest::decode(input, &DecodeLimits::default()) {
                prop_assert!([-32700, -32600, -32602].contains(&error.error.code), "{error:?}");
            }
        }
    }
}
