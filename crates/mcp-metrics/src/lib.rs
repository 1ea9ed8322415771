//! OpenTelemetry-named metrics, a live stats snapshot and tracing spans for MCP servers, as a tower layer.
//!
//! **Status: reserved, not yet implemented.** This crate will provide
//! MetricsLayer on the `metrics` facade with the OpenTelemetry MCP semantic convention names (`mcp.server.operation.duration`, ...), bounded labels, a live stats snapshot, and the naming table of every metric mcp-stack emits.
//!
//! It builds on [`mcp_service`]: its layers will be generic over
//! [`mcp_service::McpRequest`] and [`mcp_service::McpResponse`] and reject
//! with [`mcp_service::McpError`], so the same layer serves an rmcp server and
//! a JSON-RPC gateway.
