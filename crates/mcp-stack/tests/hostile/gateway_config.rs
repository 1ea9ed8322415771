//! `GatewayConfig` from any TOML text and environment, and `--upstream`
//! flags from any text: a clear error or a configuration that passes its
//! own check, gives each upstream its stack, and writes back to text that
//! reads the same; never a panic.
//!
//! Shared with the fuzz target `gateway_config`.

// A failed check panics: that is what the test harness and the fuzzer see.
#![allow(clippy::panic)]

use mcp_stack::gateway::{GatewayConfig, GatewayError, UpstreamConfig};

use crate::config_input;

pub(crate) fn check(bytes: &[u8]) {
    let Some((text, env)) = config_input::split(bytes) else {
        return;
    };
    if let Some(Ok((_, upstream))) = text.lines().next().map(UpstreamConfig::from_flag) {
        assert!(upstream.url.is_some() != upstream.command.is_some());
    }
    let config = match GatewayConfig::from_toml(text, env) {
        Ok(config) => config,
        Err(error) => {
            assert!(
                matches!(error, GatewayError::Config(_) | GatewayError::Stack(_)),
                "{error:?}"
            );
            assert!(!error.to_string().is_empty());
            return;
        }
    };
    if let Err(error) = config.check() {
        panic!("from_toml accepted what check refuses: {error}");
    }
    for name in config.upstreams.keys() {
        // An upstream's own keys may be refused, with a message.
        if let Err(error) = config.stack_for(name) {
            assert!(!error.to_string().is_empty());
        }
    }
    round_trips(&config);
}

/// The configuration written as one file reads back the same.
fn round_trips(config: &GatewayConfig) {
    let table = |value: Result<toml::Value, toml::ser::Error>| match value {
        Ok(toml::Value::Table(table)) => table,
        other => panic!("not written as a table: {other:?}"),
    };
    let mut file = table(toml::Value::try_from(&config.stack));
    file.insert(
        "gateway".into(),
        toml::Value::Table(table(toml::Value::try_from(&config.gateway))),
    );
    file.insert(
        "upstreams".into(),
        toml::Value::Table(table(toml::Value::try_from(&config.upstreams))),
    );
    let written = match toml::to_string(&file) {
        Ok(written) => written,
        Err(error) => panic!("a configuration read cannot be written: {error}"),
    };
    match GatewayConfig::from_toml(&written, []) {
        Ok(read) => assert!(
            read == *config || written.contains("nan"),
            "read back differently:\n{written}\n{config:#?}\n{read:#?}"
        ),
        Err(error) => panic!("a written configuration does not read back: {error}\n{written}"),
    }
}
