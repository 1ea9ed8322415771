//! Rate limits, concurrency bulkheads and adaptive concurrency for MCP servers, as tower layers.
//!
//! **Status: reserved, not yet implemented.** This crate will provide
//! RateLimitLayer (GCRA, keyed by principal, tool or method, global through Redis), ConcurrencyLimitLayer (bulkheads) and AdaptiveLimitLayer (a concurrency limit that follows latency).
//!
//! It builds on [`mcp_service`]: its layers will be generic over
//! [`mcp_service::McpRequest`] and [`mcp_service::McpResponse`] and reject
//! with [`mcp_service::McpError`], so the same layer serves an rmcp server and
//! a JSON-RPC gateway.
