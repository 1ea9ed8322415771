//! Multi-level MCP response cache for tower: moka in memory, Redis shared, single-flight, stale serving, invalidation from MCP notifications.
//!
//! **Status: reserved, not yet implemented.** This crate will provide
//! CacheLayer: an L1 moka tier bounded in bytes and an optional L2 Redis tier, keyed by mcp-service's canonical keys, honouring `ttlMs` and `cacheScope`, with single-flight, stale serving, and invalidation from `notifications/*/list_changed` and `notifications/resources/updated` across nodes.
//!
//! It builds on [`mcp_service`]: its layers will be generic over
//! [`mcp_service::McpRequest`] and [`mcp_service::McpResponse`] and reject
//! with [`mcp_service::McpError`], so the same layer serves an rmcp server and
//! a JSON-RPC gateway.
