//! OpenTelemetry-named metrics, a live stats snapshot and tracing spans for
//! Model Context Protocol servers, as a tower layer.
//!
//! **Status: in progress.** What exists today is [`names`], the one place
//! where the name of every metric an mcp-stack crate emits is defined, so
//! names cannot drift between crates. The `MetricsLayer` with the
//! OpenTelemetry MCP semantic-convention names
//! (`mcp.server.operation.duration`, ...), bounded labels, the live `Stats`
//! snapshot and the Prometheus helper come next; see the README's table.

pub mod names;
