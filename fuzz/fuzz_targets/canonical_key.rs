//! Fuzz target `canonical_key`: the checks of crates/mcp-service/tests/hostile/canonical_key.rs
//! on every input.

#![no_main]

#[path = "../../crates/mcp-service/tests/hostile/canonical_key.rs"]
mod check;

libfuzzer_sys::fuzz_target!(|data: &[u8]| check::check(data));
