//! Large MCP payloads without memory blow-up: chunked resource reads, progress, list pagination and size guards.
//!
//! **Status: reserved, not yet implemented.** This crate will provide
//! Chunked `resources/read` for resources larger than one message, progress notifications, opaque-cursor pagination of long lists, and a size guard.
//!
//! It builds on [`mcp_service`]: its layers will be generic over
//! [`mcp_service::McpRequest`] and [`mcp_service::McpResponse`] and reject
//! with [`mcp_service::McpError`], so the same layer serves an rmcp server and
//! a JSON-RPC gateway.
