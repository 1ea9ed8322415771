//! The leaf of each upstream's stack: a tower service that forwards a raw
//! JSON-RPC request to the upstream and answers with its raw result, over
//! Streamable HTTP ([`http`]) or to a child process's stdio ([`stdio`]).
//!
//! Whatever the upstream sends before its response (progress, logging,
//! its own requests to the client) is routed to the client on the way
//! ([`UpstreamInfo::inbound`]); change notifications also invalidate the
//! upstream's cache.

pub(crate) mod backoff;
pub(crate) mod http;
pub(crate) mod stdio;

use std::{
    pin::Pin,
    sync::Arc,
    task::{Context, Poll},
};

use bytes::Bytes;
use mcp_cache::Invalidator;
use mcp_service::{McpError, RpcError, jsonrpc::JsonRpcRequest, jsonrpc::JsonRpcResponse};
use serde_json::{Value, value::RawValue};
use tower_service::Service;

use super::{
    namespace,
    session::{CallContext, Callback, SessionTable},
    wire::{self, Envelope, Kind},
};

/// What every leg of one upstream shares: its name and place, and where
/// its messages for clients go.
pub(crate) struct UpstreamInfo {
    pub(crate) name: Arc<str>,
    pub(crate) index: usize,
    /// Whether names are namespaced (several upstreams).
    pub(crate) namespaced: bool,
    pub(crate) invalidator: Option<Invalidator>,
    pub(crate) sessions: Arc<SessionTable>,
}

/// What a leg must do about a message the upstream sent, beyond what
/// [`UpstreamInfo::inbound`] did itself.
pub(crate) enum Inbound {
    /// Nothing more.
    Done,
    /// Answer the upstream's request `id` with this raw response message.
    Answer(Vec<u8>),
}

/// Notifications that change what the cache holds.
fn invalidates(method: &str) -> bool {
    matches!(
        method,
        "notifications/tools/list_changed"
            | "notifications/prompts/list_changed"
            | "notifications/resources/list_changed"
            | "notifications/resources/updated"
    )
}

impl UpstreamInfo {
    /// Routes a message the upstream sent that is not the response a leg
    /// waits for: a notification reaches the client of `context` (change
    /// notifications also clear the cache, and without a client they reach
    /// every session); a request of the upstream to the client is relayed
    /// under an id of the gateway's, its answer to come back through
    /// `upstream_session`.
    pub(crate) fn inbound(
        &self,
        context: Option<&CallContext>,
        upstream_session: Option<&::http::HeaderValue>,
        message: &[u8],
    ) -> Inbound {
        let Some(envelope) = Envelope::read(message) else {
            tracing::debug!(upstream = %self.name, "dropping a message that is not JSON-RPC");
            return Inbound::Done;
        };
        let Some(method) = envelope.method.as_deref() else {
            return Inbound::Done;
        };
        match envelope.kind() {
            Kind::Notification => {
                let changes = invalidates(method);
                if changes {
                    self.invalidate(method, envelope.params);
                }
                let bytes = self.outbound_notification(method, envelope.params, message);
                match context {
                    Some(context) => {
                        context.deliver(bytes);
                    }
                    None if changes => {
                        for session in self.sessions.all() {
                            session.push(bytes.clone());
                        }
                    }
                    None => {}
                }
                Inbound::Done
            }
            Kind::Request => {
                let Some(id) = envelope.id else {
                    return Inbound::Done;
                };
                if method == "ping" {
                    let empty = wire::raw("{}".into());
                    return Inbound::Answer(wire::response(id, empty.as_deref(), None));
                }
                let refuse = |why: String| {
                    Inbound::Answer(wire::error_response(id, &RpcError::new(-32601, why)))
                };
                let Some(context) = context else {
                    return refuse(format!(
                        "{method} cannot reach a client: this request has no client session"
                    ));
                };
                let Some(session) = &context.session else {
                    return refuse(format!(
                        "{method} cannot reach a stateless client (protocol 2026-07-28 has no \
                         server-to-client requests)"
                    ));
                };
                let ours = session.register(Callback {
                    upstream: self.index,
                    upstream_session: upstream_session.cloned(),
                    upstream_id: id.to_owned(),
                });
                let relayed = wire::request(Some(ours), method, envelope.params);
                if context.deliver(Bytes::from(relayed)) {
                    return Inbound::Done;
                }
                if let Some(raw) = wire::raw(ours.to_string()) {
                    session.answered(&raw);
                }
                refuse(format!(
                    "{method} cannot reach the client: it has no open stream to receive it"
                ))
            }
            Kind::Response | Kind::Invalid => Inbound::Done,
        }
    }

    /// The notification as the client sees it: the same bytes, or with its
    /// URI namespaced.
    fn outbound_notification(
        &self,
        method: &str,
        params: Option<&RawValue>,
        message: &[u8],
    ) -> Bytes {
        if self.namespaced
            && method == "notifications/resources/updated"
            && let Some(mut params) =
                params.and_then(|raw| serde_json::from_str::<Value>(raw.get()).ok())
        {
            namespace::wrap_notification(method, &self.name, &mut params);
            if let Ok(params) = serde_json::value::to_raw_value(&params) {
                return Bytes::from(wire::request::<u8>(None, method, Some(&params)));
            }
        }
        Bytes::copy_from_slice(message)
    }

    /// Clears what `method` changed, in the background: the backplane may
    /// take a round trip.
    fn invalidate(&self, method: &str, params: Option<&RawValue>) {
        let Some(invalidator) = self.invalidator.clone() else {
            return;
        };
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let method = method.to_owned();
        let params = params.and_then(|raw| serde_json::from_str::<Value>(raw.get()).ok());
        tracing::debug!(upstream = %self.name, %method, "upstream change notification");
        runtime.spawn(async move {
            invalidator.notification(&method, params.as_ref()).await;
        });
    }

    /// Clears the whole cache of this upstream (it restarted: anything may
    /// have changed).
    pub(crate) fn invalidate_all(&self) {
        let Some(invalidator) = self.invalidator.clone() else {
            return;
        };
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(async move { invalidator.all().await });
        }
    }
}

/// The leaf service of one upstream: forwards each request over its
/// transport. Clones share the transport (the pool, or the child).
#[derive(Clone)]
pub(crate) enum Leg {
    Http(http::HttpLeg),
    Stdio(stdio::StdioLeg),
}

impl Leg {
    /// Sends a client's answer to a relayed request back to the upstream.
    pub(crate) fn answer(&self, callback: &Callback, answer: &Envelope<'_>) {
        let message = wire::response(&*callback.upstream_id, answer.result, answer.error);
        match self {
            Self::Http(leg) => leg.send_message(callback.upstream_session.clone(), message),
            Self::Stdio(leg) => leg.send_message(message),
        }
    }

    /// Ends the upstream session of a client session that ended.
    pub(crate) fn close(&self, state: &super::session::SlotState) {
        if let Self::Http(leg) = self {
            leg.close_session(state);
        }
    }

    /// Stops the leg's background work (a child process, listeners).
    pub(crate) fn shutdown(&self) {
        match self {
            Self::Http(leg) => leg.shutdown(),
            Self::Stdio(leg) => leg.shutdown(),
        }
    }

    /// What `/healthz` says of the transport.
    pub(crate) fn health(&self) -> Value {
        match self {
            Self::Http(leg) => leg.health(),
            Self::Stdio(leg) => leg.health(),
        }
    }
}

impl Service<JsonRpcRequest> for Leg {
    type Response = JsonRpcResponse;
    type Error = McpError;
    type Future = LegFuture;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), McpError>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: JsonRpcRequest) -> LegFuture {
        match self {
            Self::Http(leg) => LegFuture::Http(leg.call(request)),
            Self::Stdio(leg) => LegFuture::Stdio(leg.call(request)),
        }
    }
}

/// The response future of [`Leg`].
#[allow(
    clippy::large_enum_variant,
    reason = "inline, not boxed: a future per request, and HTTP legs are the common case"
)]
pub(crate) enum LegFuture {
    Http(http::HttpCall),
    Stdio(stdio::StdioCall),
}

impl Future for LegFuture {
    type Output = Result<JsonRpcResponse, McpError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.get_mut() {
            Self::Http(call) => Pin::new(call).poll(cx),
            Self::Stdio(call) => Pin::new(call).poll(cx),
        }
    }
}

/// The result of a notification: nothing, as an empty object.
pub(crate) fn accepted() -> Result<JsonRpcResponse, McpError> {
    JsonRpcResponse::from_value(&Value::Object(serde_json::Map::new()))
}
