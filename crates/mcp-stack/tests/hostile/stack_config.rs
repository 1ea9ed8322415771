//! `StackConfig` from any TOML text and environment: a clear error or a
//! configuration that writes back to text that reads the same, and that
//! builds a stack or says why not, never a panic.
//!
//! Shared with the fuzz target `stack_config`.

// A failed check panics: that is what the test harness and the fuzzer see.
#![allow(clippy::panic)]

use mcp_stack::{McpStack, StackConfig, StackError};

use crate::config_input;

pub(crate) fn check(bytes: &[u8]) {
    let Some((text, env)) = config_input::split(bytes) else {
        return;
    };
    let config = match StackConfig::from_toml(text, env) {
        Ok(config) => config,
        Err(error) => {
            assert!(matches!(error, StackError::Config(_)), "{error:?}");
            assert!(!error.to_string().is_empty());
            return;
        }
    };
    round_trips(&config);
    // Building validates what the types do not; it may refuse, not panic.
    let _ = McpStack::from_config(&config);
}

/// `from_toml(to_string(config)) == config`: what an operator reads back
/// from a dumped configuration is what runs (NaN aside, which is not equal
/// to itself: then the texts are compared).
pub(crate) fn round_trips(config: &StackConfig) {
    let written = match toml::to_string(config) {
        Ok(written) => written,
        Err(error) => panic!("a configuration read cannot be written: {error}\n{config:#?}"),
    };
    let read = match StackConfig::from_toml(&written, []) {
        Ok(read) => read,
        Err(error) => panic!("a written configuration does not read back: {error}\n{written}"),
    };
    if read != *config {
        let again = toml::to_string(&read).unwrap_or_default();
        assert!(
            written.contains("nan") && again == written,
            "read back differently:\n{written}\n{config:#?}\n{read:#?}"
        );
    }
}
