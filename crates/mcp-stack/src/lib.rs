//! The mcp-stack facade: one builder that puts caching, rate limits, breakers, streaming and metrics around any MCP server.
//!
//! **Status: reserved, not yet implemented.** This crate will provide
//! McpStack: a builder that composes the mcp-stack layers in the right order around an rmcp `ServerHandler` or any service built on mcp-service, with sane defaults and an HTTP serving helper.
//!
//! It builds on [`mcp_service`]: its layers will be generic over
//! [`mcp_service::McpRequest`] and [`mcp_service::McpResponse`] and reject
//! with [`mcp_service::McpError`], so the same layer serves an rmcp server and
//! a JSON-RPC gateway.
