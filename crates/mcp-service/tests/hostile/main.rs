//! Hostile input to the decoders this crate owns, under `cargo test`: the
//! committed seed corpus of each fuzz target replayed through the same
//! checks the fuzz targets run, then a bounded number of generated inputs.
//! The long runs are `fuzz/run`.

mod canonical_key;
mod jsonrpc_request;

use proptest::prelude::*;
use serde_json::{Value, json};

#[global_allocator]
static ALLOC: mcp_testkit::PeakAlloc = mcp_testkit::PeakAlloc;

#[test]
fn jsonrpc_request_seed_corpus() {
    for (_, bytes) in mcp_testkit::seed_corpus("jsonrpc_request") {
        jsonrpc_request::check(&bytes);
    }
}

#[test]
fn canonical_key_seed_corpus() {
    for (_, bytes) in mcp_testkit::seed_corpus("canonical_key") {
        canonical_key::check(&bytes);
    }
}

/// A seed with some bytes overwritten and its tail maybe cut: a mutation
/// fuzzer's moves, on the inputs that reach deep.
fn mutated(target: &'static str) -> impl Strategy<Value = Vec<u8>> {
    let seeds = mcp_testkit::seed_corpus(target);
    let count = seeds.len();
    (
        0..count,
        proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..4),
        any::<prop::sample::Index>(),
        any::<bool>(),
    )
        .prop_map(move |(which, edits, cut, cutting)| {
            let mut bytes = seeds[which].1.clone();
            if !bytes.is_empty() {
                for (at, byte) in edits {
                    let at = at.index(bytes.len());
                    bytes[at] = byte;
                }
                if cutting {
                    bytes.truncate(cut.index(bytes.len()));
                }
            }
            bytes
        })
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>()
            .prop_filter("finite", |value| value.is_finite())
            .prop_map(Value::from),
        "[a-z_\u{e9}\u{1F600}\"\\\\]{0,8}".prop_map(Value::from),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..6).prop_map(Value::from),
            proptest::collection::btree_map("_?[a-z]{0,5}|_meta", inner, 0..6)
                .prop_map(|members| Value::Object(members.into_iter().collect())),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn jsonrpc_request_generated(bytes in prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..256),
        mutated("jsonrpc_request"),
        (json_value(), prop_oneof![Just("tools/call"), Just("resources/read"), Just("tools/list")])
            .prop_map(|(params, method)| {
                let params = json!({"name": "echo", "uri": "file:///a", "arguments": params});
                json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params})
                    .to_string()
                    .into_bytes()
            }),
    ]) {
        jsonrpc_request::check(&bytes);
    }

    #[test]
    fn canonical_key_generated(seed in any::<u8>(), input in prop_oneof![
        json_value().prop_map(|value| value.to_string().into_bytes()),
        json_value().prop_map(|value| json!({"_meta": {"progressToken": 1}, "inner": value}).to_string().into_bytes()),
        mutated("canonical_key"),
    ]) {
        let mut bytes = vec![seed];
        bytes.extend_from_slice(&input);
        canonical_key::check(&bytes);
    }
}
