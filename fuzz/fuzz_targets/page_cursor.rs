//! Fuzz target `page_cursor`: the checks of crates/mcp-stream/tests/hostile/cursor.rs
//! on every input.

#![no_main]

#[path = "../../crates/mcp-stream/tests/hostile/cursor.rs"]
#[allow(dead_code)]
mod check;

libfuzzer_sys::fuzz_target!(|data: &[u8]| check::page(data));
