//! The HTTP transport's part (feature `http`): compression of plain JSON
//! responses, and where request size limits belong.
//!
//! # Compression
//!
//! [`json_compression`] is tower-http's `CompressionLayer` (gzip) limited
//! to what pays: `application/json` responses of at least 1 KiB, for
//! clients that send `Accept-Encoding: gzip`. Server-sent event streams
//! (`text/event-stream`) are never compressed: a compressor buffers, which
//! would hold back events (progress, the response itself) until the
//! buffer fills, and proxies do the same. MCP JSON (lists, resources, tool
//! results) shrinks several times over; base64 blobs shrink little.
//!
//! Mount it around the MCP route of the HTTP server, outside rmcp's
//! service:
//!
//! ```
//! # #[cfg(feature = "http")] {
//! let app: axum::Router = axum::Router::new()
//!     // .nest_service("/mcp", rmcp_streamable_http_service)
//!     .layer(mcp_stream::http::json_compression());
//! # let _ = app;
//! # }
//! ```
//!
//! rmcp's Streamable HTTP service answers with plain JSON when built with
//! `json_response: true` (and sessions off), else with an SSE stream per
//! request; compression applies to the first only.
//!
//! # Request size limits
//!
//! A request larger than a limit is refused before it is parsed:
//!
//! - over Streamable HTTP, rmcp refuses bodies over
//!   `StreamableHttpServerConfig::max_request_body_bytes` (4 MiB by
//!   default) with `413 Payload Too Large` while reading them; set it there
//!   rather than in a layer of this crate, which only sees parsed requests;
//! - for other HTTP routes (a raw JSON-RPC gateway), tower-http's
//!   `RequestBodyLimitLayer` does the same;
//! - for raw JSON-RPC messages, `mcp_service::jsonrpc::DecodeLimits`
//!   refuses a message or a `params` over its limits before decoding them.

use http::{Extensions, HeaderMap, StatusCode, Version, header};
use tower_http::compression::{
    CompressionLayer,
    predicate::{Predicate, SizeAbove},
};

/// Responses smaller than this are not worth a gzip header and a
/// compressor's state.
pub const MIN_COMPRESSED_BYTES: u64 = 1024;

/// gzip for `application/json` responses of at least
/// [`MIN_COMPRESSED_BYTES`], never for SSE streams or anything else.
pub fn json_compression() -> CompressionLayer<impl Predicate> {
    let json = |_: StatusCode, _: Version, headers: &HeaderMap, _: &Extensions| {
        headers
            .get(header::CONTENT_TYPE)
            .and_then(|value| value.to_str().ok())
            .is_some_and(|value| {
                let essence = value.split(';').next().unwrap_or_default().trim();
                essence.eq_ignore_ascii_case("application/json")
            })
    };
    CompressionLayer::new()
        .gzip(true)
        .compress_when(SizeAbove::new(MIN_COMPRESSED_BYTES).and(json))
}
