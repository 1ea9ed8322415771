use proptest::prelude::*;
use serde::Serialize;
use serde_json::{Value, json};

use super::*;

fn raw(text: &str) -> ParamsDigest {
    ParamsDigest::of_json(text).unwrap()
}

fn typed<T: Serialize>(value: &T) -> ParamsDigest {
    ParamsDigest::of_value(value).unwrap()
}

#[test]
fn key_order_does_not_matter() {
    assert_eq!(
        raw(r#"{"name":"search","arguments":{"q":"rust","limit":10}}"#),
        raw(r#"{ "arguments": {"limit": 10, "q": "rust"}, "name": "search" }"#)
    );
}

#[test]
fn top_level_meta_is_ignored_but_nested_meta_counts() {
    let plain = raw(r#"{"uri":"file:///a"}"#);
    assert_eq!(
        plain,
        raw(r#"{"uri":"file:///a","_meta":{"progressToken":1}}"#)
    );
    assert_eq!(
        plain,
        raw(r#"{"_meta":{"traceparent":"00-ab"},"uri":"file:///a"}"#)
    );
    assert_ne!(
        raw(r#"{"arguments":{"x":1}}"#),
        raw(r#"{"arguments":{"x":1,"_meta":2}}"#),
        "_meta inside arguments is the tool's data"
    );
}

#[test]
fn absent_and_empty_params_are_the_same_request() {
    assert_eq!(ParamsDigest::empty(), raw("{}"));
    assert_eq!(ParamsDigest::empty(), raw(r#"{"_meta":{}}"#));
    assert_eq!(ParamsDigest::of_raw(None).unwrap(), raw(" { } "));
}

#[test]
fn values_that_differ_give_different_digests() {
    let variants = [
        r#"{"a":1}"#,
        r#"{"a":1.0}"#,
        r#"{"a":-1}"#,
        r#"{"a":"1"}"#,
        r#"{"a":true}"#,
        r#"{"a":null}"#,
        r#"{"a":[1]}"#,
        r#"{"a":[[1]]}"#,
        r#"{"a":[1,2]}"#,
        r#"{"a":[2,1]}"#,
        r#"{"a":{"b":1}}"#,
        r#"{"b":1}"#,
        r#"{"a":1,"b":1}"#,
        r#"{"a":"","b":""}"#,
        r#"{"ab":""}"#,
        r#"{"a":"b"}"#,
        r#"[]"#,
        r#"null"#,
    ];
    let digests: Vec<_> = variants.iter().map(|text| raw(text)).collect();
    for (i, a) in digests.iter().enumerate() {
        for (j, b) in digests.iter().enumerate().skip(i + 1) {
            assert_ne!(a, b, "{} vs {}", variants[i], variants[j]);
        }
    }
}

#[test]
fn duplicate_members_do_not_cancel_out() {
    // A commutative XOR would make {"a":1,"a":1} equal to {}; a sum does not.
    assert_ne!(raw(r#"{"a":1,"a":1}"#), raw("{}"));
}

#[test]
fn escaped_and_plain_strings_hash_the_same() {
    assert_eq!(raw(r#"{"q":"caf\u00e9"}"#), raw(r#"{"q":"café"}"#));
}

#[test]
fn typed_params_hash_like_their_json_text() {
    #[derive(Serialize)]
    #[serde(rename_all = "camelCase")]
    struct Params {
        #[serde(rename = "_meta")]
        meta: Value,
        name: &'static str,
        arguments: Option<Value>,
        small: i8,
        big: u128,
        ratio: f32,
        nothing: Option<u8>,
        kind: Kind,
        tuple: (u8, &'static str),
        bytes: serde_bytes_like::Bytes,
    }
    #[derive(Serialize)]
    enum Kind {
        Unit,
        #[allow(dead_code)]
        Tuple(u8, u8),
    }
    mod serde_bytes_like {
        pub(super) struct Bytes(pub(super) &'static [u8]);
        impl serde::Serialize for Bytes {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_bytes(self.0)
            }
        }
    }
    let value = Params {
        meta: json!({"progressToken": "t"}),
        name: "search",
        arguments: Some(json!({"q": "x", "n": [1, -2, 3.5, null, {"deep": true}]})),
        small: -3,
        big: u128::from(u64::MAX) + 1,
        ratio: 0.1,
        nothing: None,
        kind: Kind::Unit,
        tuple: (7, "seven"),
        bytes: serde_bytes_like::Bytes(&[1, 2]),
    };
    let text = serde_json::to_string(&value).unwrap();
    assert_eq!(typed(&value), raw(&text), "{text}");

    #[derive(Serialize)]
    enum Shapes {
        Newtype(u8),
        Tuple(u8, u8),
        Struct { a: u8 },
    }
    for shape in [
        Shapes::Newtype(1),
        Shapes::Tuple(1, 2),
        Shapes::Struct { a: 1 },
    ] {
        let text = serde_json::to_string(&shape).unwrap();
        assert_eq!(typed(&shape), raw(&text), "{text}");
    }

    let map: std::collections::BTreeMap<u32, bool> = [(1, true), (20, false)].into();
    assert_eq!(typed(&map), raw(&serde_json::to_string(&map).unwrap()));
}

#[test]
fn non_string_map_keys_are_refused() {
    let map: std::collections::BTreeMap<Vec<u8>, u8> = [(vec![1], 1)].into();
    assert!(ParamsDigest::of_value(&map).is_err());
}

#[test]
fn malformed_json_is_an_error_not_a_digest() {
    for bad in ["{", r#"{"a":}"#, "{} {}", "", r#"{"a":1,}"#] {
        assert!(ParamsDigest::of_json(bad).is_err(), "{bad:?}");
    }
    let deep = format!("{}1{}", "[".repeat(10_000), "]".repeat(10_000));
    assert!(ParamsDigest::of_json(&deep).is_err(), "nesting is bounded");
}

#[test]
fn keys_separate_method_version_and_partition() {
    let params = raw(r#"{"uri":"demo://a"}"#);
    let alice = Partition::Principal(Principal::from_identity("alice"));
    let bob = Partition::Principal(Principal::from_identity("bob"));
    let base = CacheKey::new(
        "resources/read",
        params,
        Some("2025-11-25"),
        Partition::Public,
    );
    assert_eq!(
        base,
        CacheKey::new(
            "resources/read",
            params,
            Some("2025-11-25"),
            Partition::Public
        )
    );
    let others = [
        CacheKey::new("resources/read", params, Some("2025-11-25"), alice),
        CacheKey::new("resources/read", params, Some("2025-11-25"), bob),
        CacheKey::new(
            "resources/read",
            params,
            Some("2026-07-28"),
            Partition::Public,
        ),
        CacheKey::new("resources/read", params, None, Partition::Public),
        CacheKey::new("prompts/get", params, Some("2025-11-25"), Partition::Public),
    ];
    for (i, key) in others.iter().enumerate() {
        assert_ne!(*key, base, "variant {i}");
        for other in &others[i + 1..] {
            assert_ne!(key, other);
        }
    }
    assert_eq!(CacheKey::from_bytes(base.to_bytes()), base);
}

/// The documented algorithm, pinned to values that an independent
/// implementation computed (`tests/key_reference.py`), so keys are equal
/// across processes, machines and releases. A change here breaks every shared
/// Redis tier in a rolling upgrade, so it must be deliberate (bump `v1`).
#[test]
fn keys_are_pinned_across_processes_and_releases() {
    let params = raw(r#"{"name":"echo","arguments":{"text":"hi"},"_meta":{"progressToken":7}}"#);
    let public = CacheKey::new("tools/call", params, Some("2025-11-25"), Partition::Public);
    assert_eq!(public.to_string(), "c7598d4f36d710d024bea34ccef21829");
    let private = CacheKey::new(
        "tools/call",
        params,
        Some("2025-11-25"),
        Partition::Principal(Principal::from_identity("alice")),
    );
    assert_eq!(private.to_string(), "421293d91fb66df69e5f6a2b3068d582");

    // Members longer than the encoder's stack buffer take the streaming path.
    let list: Vec<u32> = (0..300).collect();
    let long =
        serde_json::json!({"name": "echo", "arguments": {"text": "x".repeat(1000), "list": list}});
    let long_key = CacheKey::new("tools/call", typed(&long), None, Partition::Public);
    assert_eq!(long_key.to_string(), "c4e2f40695b61f80dab53666e019e7d4");
    assert_eq!(typed(&long), raw(&long.to_string()));
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<u64>().prop_map(|n| json!(n)),
        (-1e6f64..1e6).prop_map(|n| json!(n)),
        "[a-z_é\"\\\\]{0,8}".prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 64, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map("[a-z_]{0,6}", inner, 0..6)
                .prop_map(|map| Value::Object(map.into_iter().collect())),
        ]
    })
}

/// Writes `value` as JSON with every object's members in reverse order.
fn reversed_json(value: &Value) -> String {
    match value {
        Value::Object(map) => {
            let members: Vec<String> = map
                .iter()
                .rev()
                .map(|(key, value)| format!("{}:{}", json!(key), reversed_json(value)))
                .collect();
            format!("{{{}}}", members.join(","))
        }
        Value::Array(items) => {
            let items: Vec<String> = items.iter().map(reversed_json).collect();
            format!("[{}]", items.join(","))
        }
        other => other.to_string(),
    }
}

proptest! {
    #[test]
    fn any_member_order_gives_the_same_digest(value in json_value()) {
        let forward = serde_json::to_string(&value).unwrap();
        prop_assert_eq!(raw(&forward), raw(&reversed_json(&value)));
    }

    #[test]
    fn typed_and_raw_paths_agree(value in json_value()) {
        let text = serde_json::to_string(&value).unwrap();
        prop_assert_eq!(typed(&value), raw(&text));
    }

    #[test]
    fn meta_never_changes_the_digest(value in json_value(), meta in json_value()) {
        let mut params = serde_json::Map::new();
        params.insert("arguments".into(), value);
        let without = raw(&Value::Object(params.clone()).to_string());
        params.insert("_meta".into(), meta);
        prop_assert_eq!(without, raw(&Value::Object(params).to_string()));
    }
}

/// `value` as `serde_json` writes it, compact or pretty.
fn written(value: &Value, pretty: bool) -> String {
    if pretty {
        serde_json::to_string_pretty(value).unwrap()
    } else {
        serde_json::to_string(value).unwrap()
    }
}

/// The scanner's answer, or the parser's when the scanner leaves the text to it.
fn both(text: &str) -> (Option<u128>, Result<ParamsDigest, DigestError>) {
    (scan::digest(text), ParamsDigest::parsed(text))
}

#[test]
fn the_scanner_agrees_with_the_parser_or_leaves_the_text_to_it() {
    let accepted = [
        r#"{"uri":"demo://slow/100"}"#,
        r#" { "name" : "echo" , "arguments" : { "text" : "héllo ✓" } } "#,
        r#"{"_meta":{"progressToken":7},"uri":"a"}"#,
        r#"{"a":[],"b":{},"c":[1,[2,[true,false,null]]],"d":""}"#,
        r#"{"n":0,"m":-1,"big":18446744073709551615,"min":-9223372036854775808}"#,
        r#"{"a":1,"a":1}"#,
        r#"{"a":"tab\tand \"quote\" \\ \/ \u00e9\u0000","b\n":1.5e-3}"#,
        r#"{"a":1.0,"b":-2.5,"c":1e3,"d":1E+2,"e":-0.0,"f":0.1,"g":123456789.123456789e-5}"#,
        "[1,2,3]",
        "\"text\"",
        "17",
        "{}",
    ];
    for text in accepted {
        let (fast, slow) = both(text);
        assert_eq!(fast.map(ParamsDigest), Some(slow.unwrap()), "{text}");
    }
    // Valid JSON the scanner leaves to the parser.
    let deferred = [
        r#"{"a":"\ud83d\ude00"}"#,
        r#"{"a":-0}"#,
        r#"{"a":18446744073709551616}"#,
        r#"{"a":-9223372036854775809}"#,
        &format!("{}1{}", "[".repeat(40), "]".repeat(40)),
    ];
    for text in deferred {
        let (fast, slow) = both(text);
        assert_eq!(fast, None, "{text}");
        assert_eq!(ParamsDigest::of_json(text), slow, "{text}");
        assert!(slow.is_ok(), "{text}");
    }
    // Not JSON: the parser's error, never a digest.
    let invalid = [
        "",
        " ",
        "{",
        r#"{"a"}"#,
        r#"{"a":1,}"#,
        "[1,]",
        "[1 2]",
        "01",
        "-",
        "-01",
        "1.",
        "tru",
        "nul",
        "{\"a\":\"\u{1}\"}",
        "1e400",
        "1e",
        "1.e1",
        "\"\\x\"",
        "\"\\ud800\"",
        "\"a",
        "{} {}",
        "{\"a\":1}x",
        "0x1",
        r#"{a:1}"#,
    ];
    for text in invalid {
        let (fast, slow) = both(text);
        assert_eq!(fast, None, "{text:?}");
        assert!(slow.is_err(), "{text:?}");
        assert!(ParamsDigest::of_json(text).is_err(), "{text:?}");
    }
}

proptest! {
    #[test]
    fn the_scanner_and_the_parser_agree_on_any_value(value in json_value(), pretty in any::<bool>()) {
        let text = written(&value, pretty);
        let (fast, slow) = both(&text);
        let slow = slow.unwrap();
        if let Some(fast) = fast {
            prop_assert_eq!(ParamsDigest(fast), slow);
        }
        prop_assert_eq!(ParamsDigest::of_json(&text).unwrap(), slow);
    }

    #[test]
    fn the_scanner_never_accepts_what_the_parser_refuses(text in "[\\[\\]{}\":,0-9a-z\\- ]{0,24}") {
        let (fast, slow) = both(&text);
        if let Some(fast) = fast {
            prop_assert_eq!(Ok(ParamsDigest(fast)), slow);
        }
    }
}

/// JSON the scanner must take on itself: what `serde_json` writes for
/// anything but `-0` and non-finite floats.
fn plain_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<u64>().prop_map(|n| json!(n)),
        any::<f64>()
            .prop_filter("finite", |n| n.is_finite())
            .prop_map(|n| json!(n)),
        "[a-z_é ✓/:\"\\\n\t\u{1}\u{1f}]{0,12}".prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 64, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map("[a-z_]{0,6}", inner, 0..6)
                .prop_map(|map| Value::Object(map.into_iter().collect())),
        ]
    })
}

proptest! {
    #[test]
    fn the_scanner_takes_plain_json_and_agrees(value in plain_value(), pretty in any::<bool>()) {
        let text = written(&value, pretty);
        let (fast, slow) = both(&text);
        prop_assert_eq!(fast.map(ParamsDigest), Some(slow.unwrap()), "{}", text);
    }
}

proptest! {
    /// The word-at-a-time search finds what a byte-by-byte one finds, on
    /// bytes biased towards the ones it looks for and their neighbours.
    #[test]
    fn the_string_run_search_finds_the_first_stop(
        bytes in prop::collection::vec(
            prop_oneof![
                Just(b'"'), Just(b'\\'), Just(0x1f_u8), Just(0x20_u8), Just(0x21_u8),
                Just(0x00_u8), Just(0x01_u8), Just(0x5b_u8), Just(0x5d_u8), Just(0x80_u8),
                Just(0xa0_u8), Just(0xff_u8), any::<u8>(),
            ],
            0..40,
        )
    ) {
        let expected = bytes
            .iter()
            .position(|&byte| byte == b'"' || byte == b'\\' || byte < 0x20);
        prop_assert_eq!(crate::jsonrpc::skim::plain_run(&bytes), expected);
    }
}
