//! Hostile configuration text, under `cargo test`: the committed seed
//! corpora of the config fuzz targets replayed through the checks they run,
//! then a bounded number of generated files. The long runs are `fuzz/run`.

mod config_input;
mod gateway_config;
mod stack_config;

use proptest::prelude::*;

#[test]
fn stack_config_seed_corpus() {
    for (_, bytes) in mcp_testkit::seed_corpus("stack_config") {
        stack_config::check(&bytes);
    }
}

#[test]
fn gateway_config_seed_corpus() {
    for (_, bytes) in mcp_testkit::seed_corpus("gateway_config") {
        gateway_config::check(&bytes);
    }
}

/// Lines of sections and keys the configuration knows, with values of
/// every TOML type and edge: what reaches past the parser into the types.
fn config_text() -> impl Strategy<Value = String> {
    let section = prop::sample::select(vec![
        "[cache]",
        "[timeout]",
        "[retry]",
        "[breaker]",
        "[adaptive]",
        "[metrics]",
        "[chunking]",
        "[pagination]",
        "[concurrency]",
        "[http]",
        "[redis]",
        "[[rate_limits]]",
        "[cache.methods.\"tools/list\"]",
        "[timeout.tools]",
        "[gateway]",
        "[upstreams.a]",
        "[upstreams.a.stack.timeout]",
    ]);
    let key = prop::sample::select(vec![
        "enabled",
        "default",
        "max_bytes",
        "max_entry_bytes",
        "default_ttl",
        "ttl",
        "failure_rate",
        "tolerance",
        "requests",
        "period",
        "burst",
        "max_in_flight",
        "page_size",
        "max_chunk_bytes",
        "url",
        "command",
        "args",
        "listen",
        "max_sessions",
        "session_idle_timeout",
        "authorization",
        "max_connections",
        "stats_window",
        "scope",
        "key",
        "echo",
    ]);
    let value = prop::sample::select(vec![
        "true",
        "0",
        "1",
        "-1",
        "18446744073709551615",
        "1.5",
        "nan",
        "inf",
        "\"0\"",
        "\"250ms\"",
        "\"1.5s\"",
        "\"1.1s\"",
        "\"123456789012345ns\"",
        "\"1e300s\"",
        "\"-1s\"",
        "\"5x\"",
        "\"public\"",
        "\"principal\"",
        "\"http://127.0.0.1:9/mcp\"",
        "\"env:TOKEN\"",
        "[\"a\"]",
        "{}",
    ]);
    proptest::collection::vec(
        (section, proptest::collection::vec((key, value), 0..4)),
        0..4,
    )
    .prop_map(|sections| {
        let mut text = String::new();
        for (section, members) in sections {
            text.push_str(section);
            text.push('\n');
            for (key, value) in members {
                text.push_str(&format!("{key} = {value}\n"));
            }
        }
        text
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn stack_config_generated(text in config_text()) {
        stack_config::check(text.as_bytes());
    }

    #[test]
    fn gateway_config_generated(text in config_text()) {
        gateway_config::check(text.as_bytes());
    }

    #[test]
    fn config_bytes_generated(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
        stack_config::check(&bytes);
        gateway_config::check(&bytes);
    }
}
