//! Test support for the mcp-stack workspace (not published).
//!
//! - [`connect`]: a real rmcp client and server talking over an in-memory
//!   `tokio::io::duplex` pipe, so integration tests cross the real protocol.
//! - [`DemoHandler`]: an MCP server with knobs (tool delay, failures,
//!   generated resources, private resources keyed by principal) that counts
//!   the calls it receives, so tests can assert how many reached it.
//! - [`RedisServer`]: a `redis-server` child process on a free loopback port,
//!   stopped on drop. Without the binary it prints a SKIPPED line, unless
//!   `MCP_TEST_REQUIRE_REDIS=1`, where the absence is an error.
//! - [`PeakAlloc`] and [`largest_allocation`]: the largest single allocation
//!   a piece of code makes, for tests that hostile lengths cost no memory.
//! - [`seed_corpus`]: the committed seed inputs of a fuzz target, replayed
//!   by `cargo test`.

mod alloc;
mod corpus;
mod demo;
mod duplex;
mod redis;

pub use alloc::{PeakAlloc, largest_allocation};
pub use corpus::seed_corpus;
pub use demo::{DemoConfig, DemoHandler};
pub use duplex::{Pair, PairError, connect, connect_with};
pub use redis::{REQUIRE_REDIS_VAR, RedisError, RedisServer};
