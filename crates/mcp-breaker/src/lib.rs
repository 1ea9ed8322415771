//! Circuit breakers, timeouts and budgeted retries for MCP servers, as tower layers.
//!
//! **Status: reserved, not yet implemented.** This crate will provide
//! CircuitBreakerLayer (count and time windows, failure and slow-call rates, half-open probes), TimeoutLayer and RetryLayer (budgeted, safe methods only) that understand MCP outcomes.
//!
//! It builds on [`mcp_service`]: its layers will be generic over
//! [`mcp_service::McpRequest`] and [`mcp_service::McpResponse`] and reject
//! with [`mcp_service::McpError`], so the same layer serves an rmcp server and
//! a JSON-RPC gateway.
