//! [`McpRequest`]: what every layer may ask of a request.

use std::borrow::Cow;

use tokio_util::sync::CancellationToken;

use crate::{
    key::{CacheKey, ParamsDigest, Partition},
    method::MethodClass,
    principal::Principal,
};

/// The MCP meaning of a request, read without converting it.
///
/// Layers are generic over any request type that implements this trait, the
/// way tower-http is generic over bodies. This crate implements it for rmcp's
/// typed requests ([`RmcpRequest`](crate::rmcp::RmcpRequest), feature `rmcp`)
/// and for raw JSON-RPC ([`JsonRpcRequest`](crate::jsonrpc::JsonRpcRequest)).
///
/// Accessors are cheap: they read fields that are already there. The two that
/// compute, [`params_digest`](Self::params_digest) and
/// [`principal`](Self::principal), say so.
///
/// The trait is usable as `dyn McpRequest` (for user functions that key or
/// route requests) except for the typed extensions.
pub trait McpRequest {
    /// The JSON-RPC method, such as `tools/call`.
    fn method(&self) -> &str;

    /// The class of the method; see [`MethodClass`].
    fn class(&self) -> MethodClass {
        MethodClass::of(self.method())
    }

    /// The tool name of a `tools/call`.
    fn tool_name(&self) -> Option<&str>;

    /// The prompt name of a `prompts/get`.
    fn prompt_name(&self) -> Option<&str>;

    /// The resource URI of `resources/read`, `resources/subscribe` and the like.
    fn resource_uri(&self) -> Option<&str>;

    /// The pagination cursor of a list request.
    fn cursor(&self) -> Option<&str>;

    /// Whether this is a retry after an `input_required` result: its params
    /// carry `inputResponses` or `requestState`. Such requests are never cached.
    fn is_retry(&self) -> bool;

    /// The protocol version this request speaks, when known: from its `_meta`
    /// (2026-07-28) or from the session.
    fn protocol_version(&self) -> Option<&str>;

    /// A string member of the request's `_meta`, such as the W3C trace
    /// context a caller sends to continue its trace (`traceparent`,
    /// `tracestate`). Raw JSON-RPC reads it from the params text on each
    /// call, so ask only when the answer is used. The default finds none.
    fn meta_str(&self, _key: &str) -> Option<Cow<'_, str>> {
        None
    }

    /// The canonical digest of the params (`_meta` ignored); see
    /// [`key`](crate::key). Linear in the params size; `None` when the params
    /// cannot be hashed canonically, in which case nothing may be shared.
    fn params_digest(&self) -> Option<ParamsDigest>;

    /// The key of this request in `partition`; see [`key`](crate::key).
    fn cache_key(&self, partition: Partition) -> Option<CacheKey> {
        let params = self.params_digest()?;
        Some(CacheKey::new(
            self.method(),
            params,
            self.protocol_version(),
            partition,
        ))
    }

    /// Who is asking; see [`Principal`]. Resolved once per request, then cached.
    fn principal(&self) -> Option<Principal>;

    /// The HTTP request parts, when the request arrived over HTTP.
    fn http_parts(&self) -> Option<&http::request::Parts>;

    /// Cancelled when the client cancels the request (`notifications/cancelled`)
    /// or goes away. Layers that wait (queues, single-flight) should stop waiting.
    fn cancellation(&self) -> Option<&CancellationToken>;

    /// A typed extension carried with the request.
    fn extension<T: Send + Sync + 'static>(&self) -> Option<&T>
    where
        Self: Sized;

    /// Attaches a typed extension, returning the one it replaces.
    fn insert_extension<T: Clone + Send + Sync + 'static>(&mut self, value: T) -> Option<T>
    where
        Self: Sized;
}
