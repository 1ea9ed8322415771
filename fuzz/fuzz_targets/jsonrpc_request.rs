//! Fuzz target `jsonrpc_request`: the checks of crates/mcp-service/tests/hostile/jsonrpc_request.rs
//! on every input.

#![no_main]

#[path = "../../crates/mcp-service/tests/hostile/jsonrpc_request.rs"]
mod check;

#[global_allocator]
static ALLOC: mcp_testkit::PeakAlloc = mcp_testkit::PeakAlloc;

libfuzzer_sys::fuzz_target!(|data: &[u8]| check::check(data));
