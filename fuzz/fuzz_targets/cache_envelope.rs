//! Fuzz target `cache_envelope`: the checks of crates/mcp-cache/tests/hostile/cache_envelope.rs
//! on every input.

#![no_main]

#[path = "../../crates/mcp-cache/tests/hostile/cache_envelope.rs"]
mod check;

#[global_allocator]
static ALLOC: mcp_testkit::PeakAlloc = mcp_testkit::PeakAlloc;

libfuzzer_sys::fuzz_target!(|data: &[u8]| check::check(data));
