//! The tracing span of a request, with the OpenTelemetry MCP attributes.
//!
//! One span per request, named `{mcp.method.name} {target}` through the
//! `otel.name` field (tracing span names are fixed at compile time), where
//! the target is the tool or prompt when it is registered, so span names
//! stay few. The caller's W3C trace context from `_meta` is recorded in the
//! `traceparent` and `tracestate` fields, for an OpenTelemetry layer to
//! take as the remote parent. With no subscriber interested, the span is
//! disabled and nothing here is computed.

use mcp_service::{McpError, McpRequest};
use tracing::{Span, field::Empty};

use crate::{
    labels::LabelSet,
    names,
    outcome::{Ending, ErrorKey},
};

/// The span of `request`, not yet described; disabled (and free) when
/// nothing listens.
#[inline]
pub(crate) fn open<R: McpRequest>(request: &R) -> Span {
    tracing::info_span!(
        target: "mcp_metrics",
        "mcp.request",
        otel.name = Empty,
        otel.kind = "server",
        otel.status_code = Empty,
        otel.status_description = Empty,
        mcp.method.name = request.method(),
        gen_ai.tool.name = Empty,
        gen_ai.prompt.name = Empty,
        gen_ai.operation.name = Empty,
        mcp.resource.uri = Empty,
        mcp.protocol.version = Empty,
        network.transport = Empty,
        error.type = Empty,
        rpc.response.status_code = Empty,
        traceparent = Empty,
        tracestate = Empty,
    )
}

/// Records the request's attributes on its enabled `span`.
#[cold]
pub(crate) fn describe<R: McpRequest>(
    span: &Span,
    request: &R,
    labels: &LabelSet,
    transport: Option<&str>,
) {
    let method = request.method();
    // Only a registered name makes a span name: a client's made-up names
    // would make a new span name each.
    let target = if let Some(tool) = request.tool_name() {
        span.record(names::TOOL_NAME, tool);
        span.record(names::OPERATION_NAME, names::OPERATION_EXECUTE_TOOL);
        labels.is_known_tool(tool).then_some(tool)
    } else if let Some(prompt) = request.prompt_name() {
        span.record(names::PROMPT_NAME, prompt);
        labels.is_known_prompt(prompt).then_some(prompt)
    } else {
        None
    };
    match target {
        Some(target) => span.record("otel.name", format!("{method} {target}").as_str()),
        None => span.record("otel.name", method),
    };
    if let Some(uri) = request.resource_uri() {
        span.record(names::RESOURCE_URI, uri);
    }
    if let Some(version) = request.protocol_version() {
        span.record(names::PROTOCOL_VERSION, version);
    }
    if let Some(transport) = transport {
        span.record(names::NETWORK_TRANSPORT, transport);
    }
    if let Some(parent) = request.meta_str("traceparent") {
        span.record("traceparent", &*parent);
    }
    if let Some(state) = request.meta_str("tracestate") {
        span.record("tracestate", &*state);
    }
}

/// Records how the request ended on its span.
#[inline]
pub(crate) fn record_ending(span: &Span, ending: &Ending, error: Option<&McpError>) {
    if let Some(key) = ending.error
        && !span.is_disabled()
    {
        record_failure(span, key, error);
    }
}

#[cold]
fn record_failure(span: &Span, key: ErrorKey, error: Option<&McpError>) {
    match key {
        ErrorKey::ToolError => {
            span.record(names::ERROR_TYPE, names::ERROR_TYPE_TOOL_ERROR);
        }
        ErrorKey::Kind { kind, code } => {
            span.record(names::ERROR_TYPE, kind);
            span.record(names::RESPONSE_STATUS_CODE, code.to_string().as_str());
        }
        ErrorKey::Code(code) => {
            let code = code.to_string();
            span.record(names::ERROR_TYPE, code.as_str());
            span.record(names::RESPONSE_STATUS_CODE, code.as_str());
        }
        ErrorKey::Other => {
            span.record(names::ERROR_TYPE, names::OTHER);
            if let Some(error) = error {
                span.record(
                    names::RESPONSE_STATUS_CODE,
                    error.code().to_string().as_str(),
                );
            }
        }
    }
    span.record("otel.status_code", "error");
    if let Some(error) = error {
        span.record("otel.status_description", error.to_string().as_str());
    }
}
