//! Fuzz target `gateway_config`: the checks of crates/mcp-stack/tests/hostile/gateway_config.rs
//! on every input.

#![no_main]

#[path = "../../crates/mcp-stack/tests/hostile/gateway_config.rs"]
mod check;

#[path = "../../crates/mcp-stack/tests/hostile/config_input.rs"]
mod config_input;

libfuzzer_sys::fuzz_target!(|data: &[u8]| check::check(data));
