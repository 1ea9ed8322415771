//! The gateway's own Streamable HTTP edge, for raw JSON-RPC: one message
//! per POST, answered as `application/json`, or as `text/event-stream` when
//! the upstream sends anything before its response; `GET` for the
//! session's stream of server-initiated messages; `DELETE` to end a
//! session. Bodies are bounded; no message is parsed beyond its envelope
//! and the few fields the layers read.

use std::{
    collections::VecDeque,
    convert::Infallible,
    future::Future,
    pin::Pin,
    sync::{Arc, atomic::AtomicUsize},
    task::{Context, Poll},
    time::Duration,
};

use axum::{
    Json, Router,
    body::{Body, Bytes},
    extract::{Request, State},
    http::{HeaderMap, HeaderValue, Method, StatusCode, header},
    middleware::{self, Next},
    response::{IntoResponse, Response},
    routing::get,
};
use http_body::Frame;
use mcp_service::{
    EdgeReply, McpError, McpRequest, MethodClass, Principal,
    jsonrpc::{JsonRpcRequest, JsonRpcResponse, encode_error, encode_result},
};
use serde_json::{Value, json, value::RawValue};
use tokio::sync::mpsc;
use tokio_util::sync::{CancellationToken, WaitForCancellationFutureOwned};

use super::{
    core::Core,
    relay::{self, Relayed},
    session::CallContext,
    upstream::http::{PROTOCOL_VERSION, SESSION_ID},
    wire::{Envelope, Kind},
};
use crate::{
    client::body::{BodyError, read_whole},
    serve::{Drain, count_in_flight, counted},
};

/// Messages the upstream may send before its response that wait for the
/// client to read them at most; more are dropped.
const RELAY_CAPACITY: usize = 64;
/// How long a request's answer may keep its response headers waiting:
/// past this, the answer becomes an event stream whose headers go out at
/// once. Clients hold a request open until its headers come, and some
/// (rmcp's) take no new request while several are held open.
const STREAM_AFTER: Duration = Duration::from_millis(100);
/// A comment on an idle session stream this often keeps proxies from
/// closing it.
const KEEP_ALIVE: Duration = Duration::from_secs(15);
const JSON_TYPE: &str = "application/json";
const EVENT_STREAM: &str = "text/event-stream";

type Call = Pin<Box<dyn Future<Output = Option<Result<JsonRpcResponse, McpError>>> + Send>>;

/// The MCP routes at `path` and the side routes, sharing `core`.
pub(crate) fn router(core: Arc<Core>, path: &str, drain: &Drain, side: Router) -> Router {
    let in_flight = drain.in_flight.clone();
    let closing = drain.closing().clone();
    let mcp = Router::new()
        .route(
            path,
            axum::routing::post(post_message)
                .get(move |state, headers| get_stream(state, headers, closing.clone()))
                .delete(delete_session),
        )
        .layer(middleware::from_fn(move |request: Request, next: Next| {
            count_in_flight(in_flight.clone(), request, next)
        }))
        .with_state(core);
    mcp.merge(side)
}

/// The gateway's own server: a POST to the MCP path goes straight to the
/// edge, anything else through the [`router`]. Routing, the in-flight
/// middleware and the handler's boxing cost a forwarded call more than
/// the stack's layers do.
#[derive(Clone)]
pub(crate) struct Edge {
    core: Arc<Core>,
    path: Arc<str>,
    in_flight: Arc<AtomicUsize>,
    router: Router,
}

impl Edge {
    /// `router` is this gateway's [`router`], serving everything else.
    pub(crate) fn new(core: Arc<Core>, path: &str, drain: &Drain, router: Router) -> Self {
        Self {
            core,
            path: path.into(),
            in_flight: drain.in_flight.clone(),
            router,
        }
    }
}

impl tower::Service<Request> for Edge {
    type Response = Response;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response, Infallible>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        tower::Service::<Request>::poll_ready(&mut self.router, cx)
    }

    fn call(&mut self, request: Request) -> Self::Future {
        if request.method() == Method::POST && request.uri().path() == &*self.path {
            let (core, in_flight) = (self.core.clone(), self.in_flight.clone());
            return Box::pin(async move {
                Ok(counted(in_flight, post_message(State(core), request)).await)
            });
        }
        Box::pin(tower::Service::<Request>::call(&mut self.router, request))
    }
}

/// Refuses a `Host` that is not loopback or allowed, against DNS rebinding.
fn host_allowed(core: &Core, headers: &HeaderMap) -> bool {
    let Some(host) = headers
        .get(header::HOST)
        .and_then(|value| value.to_str().ok())
    else {
        return true;
    };
    let name = match host.strip_prefix('[') {
        Some(rest) => rest.split(']').next().unwrap_or_default(),
        None => host.rsplit_once(':').map_or(host, |(name, _)| name),
    };
    matches!(name, "localhost" | "127.0.0.1" | "::1")
        || core
            .allowed_hosts
            .iter()
            .any(|allowed| allowed.eq_ignore_ascii_case(name) || allowed.eq_ignore_ascii_case(host))
}

fn plain(status: StatusCode, text: impl Into<Body>) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        text.into(),
    )
        .into_response()
}

fn json_reply(status: StatusCode, body: Vec<u8>) -> Response {
    // Built directly: as `IntoResponse`, the bytes would set a content type
    // for the array of headers to replace.
    let mut response = Response::new(Body::from(body));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(JSON_TYPE));
    response
}

/// The request's version when it speaks 2026-07-28 or later, by its
/// `_meta` or its header: such requests carry no session.
fn is_stateless(request: &JsonRpcRequest, headers: &HeaderMap) -> bool {
    let header = headers
        .get(PROTOCOL_VERSION)
        .and_then(|value| value.to_str().ok());
    request
        .protocol_version()
        .or(header)
        .is_some_and(|version| version >= "2026-07-28")
}

async fn post_message(State(core): State<Arc<Core>>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let mut response = answer_post(core, &parts.headers, body).await;
    recycle(parts.headers, response.headers_mut());
    response
}

/// Gives the request's header map to its response. hyper parses the
/// connection's next request into the map of the response before it, so a
/// map already the size of a request's spares it an allocation too large
/// for the allocator's fast path, and the request's a free.
fn recycle(mut spare: HeaderMap, headers: &mut HeaderMap) {
    if spare.capacity() > headers.capacity() {
        spare.clear();
        spare.extend(headers.drain());
        *headers = spare;
    }
}

async fn answer_post(core: Arc<Core>, headers: &HeaderMap, body: Body) -> Response {
    if !host_allowed(&core, headers) {
        return plain(StatusCode::FORBIDDEN, "Forbidden: Host not allowed\n");
    }
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse().ok());
    let bytes = match read_whole(body, declared, core.max_body_bytes).await {
        Ok(bytes) => bytes,
        Err(BodyError::TooLarge) => {
            return plain(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!(
                    "Payload Too Large: request body exceeds {} bytes\n",
                    core.max_body_bytes
                ),
            );
        }
        Err(BodyError::Read(_)) => {
            return plain(
                StatusCode::BAD_REQUEST,
                "Bad Request: the body was cut off\n",
            );
        }
    };
    let session = match headers.get(SESSION_ID).map(HeaderValue::to_str) {
        None => None,
        Some(Ok(id)) => match core.sessions.get(id) {
            Some(session) => Some(session),
            None => return plain(StatusCode::NOT_FOUND, "Not Found: no such session\n"),
        },
        Some(Err(_)) => {
            return plain(
                StatusCode::BAD_REQUEST,
                "Bad Request: malformed Mcp-Session-Id\n",
            );
        }
    };
    let authorization = headers.get(header::AUTHORIZATION).cloned();
    let mut request = match JsonRpcRequest::decode(&bytes, &core.limits) {
        Ok(request) => request,
        Err(error) => {
            if let Some(envelope) = Envelope::read(&bytes)
                && envelope.kind() == Kind::Response
            {
                return match &session {
                    Some(session) => {
                        core.answer(session, &envelope);
                        StatusCode::ACCEPTED.into_response()
                    }
                    None => plain(
                        StatusCode::BAD_REQUEST,
                        "Bad Request: a response needs its session\n",
                    ),
                };
            }
            return json_reply(
                StatusCode::BAD_REQUEST,
                encode_error(error.id.as_deref(), &error.error),
            );
        }
    };
    if let Some(authorization) = &authorization {
        request.insert_extension(Principal::from_authorization(authorization.as_bytes()));
    }
    if request.method() == "initialize" {
        return initialize(&core, request, authorization).await;
    }
    let session = match session {
        Some(session) => {
            session.touch();
            request = request.with_session_protocol_version(session.protocol_version());
            Some(session)
        }
        None if is_stateless(&request, headers) => None,
        None => {
            return plain(
                StatusCode::BAD_REQUEST,
                "Bad Request: Mcp-Session-Id header is required\n",
            );
        }
    };
    if request.is_notification() {
        request.insert_extension(CallContext {
            session: session.clone(),
            relay: None,
            authorization,
        });
        core.notify(session.as_ref(), request).await;
        return StatusCode::ACCEPTED.into_response();
    }
    let Some(id) = request.id().map(ToOwned::to_owned) else {
        return StatusCode::ACCEPTED.into_response();
    };
    let in_flight = session.as_ref().map(|session| session.begin(&id));
    let token = in_flight
        .as_ref()
        .map_or_else(CancellationToken::new, |in_flight| {
            in_flight.token().clone()
        });
    let (relay, relayed) = relay::relay(RELAY_CAPACITY);
    request.insert_extension(CallContext {
        session,
        relay: Some(relay),
        authorization,
    });
    let request = request.with_cancellation(token.clone());
    let class = request.class();
    let call: Call = Box::pin(async move {
        let _in_flight = in_flight;
        tokio::select! {
            biased;
            () = token.cancelled() => None,
            reply = core.call(request) => Some(reply),
        }
    });
    respond(call, relayed, id, class).await
}

async fn initialize(
    core: &Core,
    request: JsonRpcRequest,
    authorization: Option<HeaderValue>,
) -> Response {
    let Some(id) = request.id().map(ToOwned::to_owned) else {
        return plain(
            StatusCode::BAD_REQUEST,
            "Bad Request: initialize must be a request\n",
        );
    };
    match core.initialize(request, authorization).await {
        Ok((session, result)) => {
            let mut response = json_reply(StatusCode::OK, encode_result(&id, &result));
            if let Ok(value) = HeaderValue::try_from(&*session.id) {
                response.headers_mut().insert(SESSION_ID, value);
            }
            response
        }
        Err(error) => json_reply(
            StatusCode::OK,
            encode_error(Some(&id), &error.to_rpc_error()),
        ),
    }
}

/// The reply to request `id`, as the client sees it: a rejected tool call
/// is a tool result with `isError`, anything else an error keeps its code.
fn encode_reply(
    id: &RawValue,
    reply: Result<JsonRpcResponse, McpError>,
    class: MethodClass,
) -> Vec<u8> {
    match reply {
        Ok(response) => encode_result(id, &response),
        Err(error) => match error.at_edge(class) {
            EdgeReply::ToolError(message) => {
                encode_result(id, &JsonRpcResponse::tool_error(&message))
            }
            EdgeReply::Error(error) => encode_error(Some(id), &error),
        },
    }
}

/// Waits for the reply: plain JSON when nothing came before it; an event
/// stream as soon as the upstream sends something first, or once the reply
/// has taken [`STREAM_AFTER`].
async fn respond(
    mut call: Call,
    mut relayed: Relayed,
    id: Box<RawValue>,
    class: MethodClass,
) -> Response {
    let first = tokio::select! {
        biased;
        message = relayed.recv() => event(&message),
        reply = &mut call => {
            let early: Vec<Bytes> = std::iter::from_fn(|| relayed.try_recv()).collect();
            return match reply {
                Some(reply) if early.is_empty() => {
                    json_reply(StatusCode::OK, encode_reply(&id, reply, class))
                }
                reply => {
                    let mut queue: VecDeque<Bytes> = early.iter().map(|message| event(message)).collect();
                    if let Some(reply) = reply {
                        queue.push_back(event(&encode_reply(&id, reply, class)));
                    }
                    event_stream(Body::new(Replay { queue }))
                }
            };
        }
        // A comment, so that the headers leave with a first frame.
        () = tokio::time::sleep(STREAM_AFTER) => Bytes::from_static(b": waiting\n\n"),
    };
    let body = Streamed {
        queue: VecDeque::from([first]),
        relayed,
        call: Some(call),
        id,
        class,
    };
    event_stream(Body::new(body))
}

fn event_stream(body: Body) -> Response {
    let mut response = Response::new(body);
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(EVENT_STREAM));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}

/// One SSE event carrying `message`; a message with line breaks (raw
/// JSON may hold some between tokens) takes a `data:` line each.
fn event(message: &[u8]) -> Bytes {
    let mut out = Vec::with_capacity(message.len() + 16);
    for line in message.split(|&byte| byte == b'\n') {
        out.extend_from_slice(b"data: ");
        out.extend_from_slice(line.strip_suffix(b"\r").unwrap_or(line));
        out.push(b'\n');
    }
    out.push(b'\n');
    Bytes::from(out)
}

/// Events already known, sent and done.
struct Replay {
    queue: VecDeque<Bytes>,
}

impl http_body::Body for Replay {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        Poll::Ready(
            self.get_mut()
                .queue
                .pop_front()
                .map(|bytes| Ok(Frame::data(bytes))),
        )
    }
}

/// A POST's event stream: the upstream's messages as they come, then the
/// response, then the end.
struct Streamed {
    queue: VecDeque<Bytes>,
    relayed: Relayed,
    call: Option<Call>,
    id: Box<RawValue>,
    class: MethodClass,
}

impl http_body::Body for Streamed {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        let this = self.get_mut();
        loop {
            if let Some(bytes) = this.queue.pop_front() {
                return Poll::Ready(Some(Ok(Frame::data(bytes))));
            }
            let Some(call) = &mut this.call else {
                return Poll::Ready(None);
            };
            if let Poll::Ready(message) = this.relayed.poll_recv(cx) {
                this.queue.push_back(event(&message));
                continue;
            }
            let Poll::Ready(reply) = call.as_mut().poll(cx) else {
                return Poll::Pending;
            };
            this.call = None;
            while let Some(message) = this.relayed.try_recv() {
                this.queue.push_back(event(&message));
            }
            // A cancelled request gets no response, as MCP asks.
            if let Some(reply) = reply {
                this.queue
                    .push_back(event(&encode_reply(&this.id, reply, this.class)));
            }
        }
    }
}

async fn get_stream(
    State(core): State<Arc<Core>>,
    headers: HeaderMap,
    closing: CancellationToken,
) -> Response {
    if !host_allowed(&core, &headers) {
        return plain(StatusCode::FORBIDDEN, "Forbidden: Host not allowed\n");
    }
    let Some(id) = headers
        .get(SESSION_ID)
        .and_then(|value| value.to_str().ok())
    else {
        return (
            StatusCode::METHOD_NOT_ALLOWED,
            [(header::ALLOW, "POST, DELETE")],
            "Method Not Allowed: a GET stream needs a session\n",
        )
            .into_response();
    };
    let Some(session) = core.sessions.get(id) else {
        return plain(StatusCode::NOT_FOUND, "Not Found: no such session\n");
    };
    session.touch();
    let mut keep_alive = tokio::time::interval(KEEP_ALIVE);
    keep_alive.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    event_stream(Body::new(SessionStream {
        messages: session.attach(),
        keep_alive,
        closing: Box::pin(closing.cancelled_owned()),
    }))
}

/// A session's GET stream: what its upstreams send outside any request.
struct SessionStream {
    messages: mpsc::Receiver<Bytes>,
    keep_alive: tokio::time::Interval,
    closing: Pin<Box<WaitForCancellationFutureOwned>>,
}

impl http_body::Body for SessionStream {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        let this = self.get_mut();
        if this.closing.as_mut().poll(cx).is_ready() {
            return Poll::Ready(None);
        }
        match this.messages.poll_recv(cx) {
            Poll::Ready(Some(message)) => {
                return Poll::Ready(Some(Ok(Frame::data(event(&message)))));
            }
            // Replaced by a newer stream, or the session ended.
            Poll::Ready(None) => return Poll::Ready(None),
            Poll::Pending => {}
        }
        if this.keep_alive.poll_tick(cx).is_ready() {
            return Poll::Ready(Some(Ok(Frame::data(Bytes::from_static(
                b": keep-alive\n\n",
            )))));
        }
        Poll::Pending
    }
}

async fn delete_session(State(core): State<Arc<Core>>, headers: HeaderMap) -> Response {
    if !host_allowed(&core, &headers) {
        return plain(StatusCode::FORBIDDEN, "Forbidden: Host not allowed\n");
    }
    let Some(id) = headers
        .get(SESSION_ID)
        .and_then(|value| value.to_str().ok())
    else {
        return plain(
            StatusCode::BAD_REQUEST,
            "Bad Request: Mcp-Session-Id header is required\n",
        );
    };
    if core.end_session(id) {
        StatusCode::NO_CONTENT.into_response()
    } else {
        plain(StatusCode::NOT_FOUND, "Not Found: no such session\n")
    }
}

/// `/metrics`, `/stats` and `/healthz` of the gateway.
pub(crate) fn side_routes(core: Arc<Core>) -> Router {
    let stats = core.clone();
    let health = core.clone();
    Router::new()
        .route(
            "/metrics",
            get(move || {
                let exporter = core
                    .upstreams
                    .iter()
                    .find_map(|upstream| upstream.stack.exporter().cloned());
                async move { crate::serve::prometheus_response(exporter.as_ref()) }
            }),
        )
        .route(
            "/stats",
            get(move || std::future::ready(Json(stats_of(&stats)))),
        )
        .route(
            "/healthz",
            get(move || std::future::ready(healthz(&health))),
        )
        .method_not_allowed_fallback(|method: Method| async move {
            (
                StatusCode::METHOD_NOT_ALLOWED,
                format!("{method} is not allowed here\n"),
            )
        })
}

/// Every upstream's statistics, and the cache counts summed (the shape the
/// load tester reads).
fn stats_of(core: &Core) -> Value {
    let mut upstreams = serde_json::Map::new();
    let (mut hits, mut stale_hits, mut misses, mut bypasses) = (0u64, 0u64, 0u64, 0u64);
    for upstream in &core.upstreams {
        let Some(snapshot) = upstream.stack.stats().map(mcp_metrics::Stats::snapshot) else {
            continue;
        };
        if let Some(cache) = &snapshot.cache {
            hits += cache.hits;
            stale_hits += cache.stale_hits;
            misses += cache.misses;
            bypasses += cache.bypasses;
        }
        upstreams.insert(upstream.name.to_string(), json!(snapshot));
    }
    let lookups = hits + stale_hits + misses;
    json!({
        "sessions": core.sessions.len(),
        "cache": {
            "hits": hits,
            "stale_hits": stale_hits,
            "misses": misses,
            "bypasses": bypasses,
            "hit_rate": (lookups > 0).then(|| (hits + stale_hits) as f64 / lookups as f64),
        },
        "upstreams": upstreams,
    })
}

/// Per-upstream health: the breaker's state and the transport's; 503 when
/// no upstream can serve.
fn healthz(core: &Core) -> Response {
    let mut upstreams = serde_json::Map::new();
    let mut serving = 0;
    for upstream in &core.upstreams {
        let breaker = upstream
            .stack
            .breaker()
            .map(|handle| handle.state().as_str());
        let mut health = upstream.leg.health();
        let transport_up = health.get("process").is_none_or(|process| process == "up");
        let up =
            transport_up && breaker.is_none_or(|state| state != "open" && state != "forced_open");
        serving += usize::from(up);
        health["breaker"] = json!(breaker);
        health["status"] = json!(if up { "ok" } else { "unavailable" });
        upstreams.insert(upstream.name.to_string(), health);
    }
    let status = if serving > 0 { "ok" } else { "unavailable" };
    let code = if serving > 0 {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (
        code,
        Json(json!({ "status": status, "sessions": core.sessions.len(), "upstreams": upstreams })),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_split_raw_line_breaks_into_data_lines() {
        assert_eq!(&event(b"{\"a\":1}")[..], b"data: {\"a\":1}\n\n");
        assert_eq!(
            &event(b"{\n\"a\":1\r\n}")[..],
            b"data: {\ndata: \"a\":1\ndata: }\n\n"
        );
    }
}
