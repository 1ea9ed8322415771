//! [`HttpLeg`]: an upstream reached over Streamable HTTP, on the pooled
//! keep-alive connections of [`HttpClient`].
//!
//! Each client session gets an upstream session of its own (the upstream's
//! `Mcp-Session-Id` lives in the client session's slot): the upstream sees
//! the client's own capabilities and identity, and whatever it sends on a
//! session's event stream reaches exactly that client. A session the
//! upstream forgot (404, as after a restart) is opened again with the
//! client's `initialize` params and the request sent once more.
//!
//! One exchange is a named future ([`Exchange`]): the POST, then the JSON
//! body or the event stream read frame by frame within the size limits,
//! messages other than the response routed on the way. Dropped before the
//! answer (the client cancelled, a deadline passed), it tells the upstream
//! with `notifications/cancelled`.

use std::{
    collections::VecDeque,
    future::Future,
    pin::Pin,
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    task::{Context, Poll, ready},
    time::{Duration, Instant},
};

use bytes::Bytes;
use http::{
    HeaderMap, HeaderName, HeaderValue, Method, Request, Response, StatusCode, Uri,
    header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE},
};
use http_body::Body as _;
use http_body_util::{BodyExt, Full};
use mcp_service::{
    McpError, McpRequest, RpcError, jsonrpc::JsonRpcRequest, jsonrpc::JsonRpcResponse,
};
use serde_json::{Value, json, value::RawValue};
use tokio_util::sync::CancellationToken;

use super::{Inbound, UpstreamInfo, accepted, backoff::Backoff};
use crate::{
    client::{
        HttpClient,
        body::{TooLarge, append_bounded, with_declared_capacity},
        pool::{Body, ResponseFuture},
        sse::{EventParser, Parsed},
    },
    gateway::{
        session::{CallContext, ClientSession, SlotState},
        wire::{self, Envelope, Kind},
    },
};

pub(crate) const SESSION_ID: HeaderName = HeaderName::from_static("mcp-session-id");
pub(crate) const PROTOCOL_VERSION: HeaderName = HeaderName::from_static("mcp-protocol-version");
const LAST_EVENT_ID: HeaderName = HeaderName::from_static("last-event-id");
const MCP_METHOD: HeaderName = HeaderName::from_static("mcp-method");
const MCP_NAME: HeaderName = HeaderName::from_static("mcp-name");
/// The first protocol version without sessions, whose requests carry
/// their method and name in headers too.
const SESSIONLESS_VERSION: &str = "2026-07-28";
const JSON: &str = "application/json";
const EVENT_STREAM: &str = "text/event-stream";
/// How long a message sent in the background (a cancellation, a session's
/// end) may wait for its answer's head.
const SEND_TIME: Duration = Duration::from_secs(5);
/// How much of an unusable answer an error quotes.
const PREVIEW_BYTES: usize = 200;

/// What to send the upstream as `Authorization`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Authorization {
    /// The client's own header, as it came (or none).
    Forward,
    /// Never any.
    Drop,
    /// This value, whatever the client sent.
    Replace(HeaderValue),
}

/// How one HTTP upstream is reached.
#[derive(Debug, Clone)]
pub(crate) struct HttpOptions {
    pub(crate) url: Uri,
    pub(crate) authorization: Authorization,
    pub(crate) max_connections: usize,
    pub(crate) max_response_bytes: usize,
    pub(crate) max_event_bytes: usize,
}

struct Shared {
    info: Arc<UpstreamInfo>,
    client: HttpClient,
    options: HttpOptions,
    /// Exchanges in flight, each holding one connection.
    busy: AtomicUsize,
    /// Ends the listeners at shutdown.
    closing: CancellationToken,
}

/// The leg of an HTTP upstream. Clones share the pool.
#[derive(Clone)]
pub(crate) struct HttpLeg {
    shared: Arc<Shared>,
}

/// What the upstream's answer was about, beyond its content.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Purpose {
    /// `initialize`: its session id and version go into the slot.
    Initialize,
    Request,
    Notification,
}

impl HttpLeg {
    pub(crate) fn new(info: Arc<UpstreamInfo>, client: HttpClient, options: HttpOptions) -> Self {
        Self {
            shared: Arc::new(Shared {
                info,
                client,
                options,
                busy: AtomicUsize::new(0),
                closing: CancellationToken::new(),
            }),
        }
    }

    pub(crate) fn call(&self, request: JsonRpcRequest) -> HttpCall {
        let context = request
            .extension::<CallContext>()
            .cloned()
            .unwrap_or_default();
        let purpose = match (request.method(), request.is_notification()) {
            ("initialize", _) => Purpose::Initialize,
            (_, true) => Purpose::Notification,
            _ => Purpose::Request,
        };
        let outgoing = Outgoing {
            body: Bytes::from(request.encode()),
            id: request.id().map(ToOwned::to_owned),
            version: request
                .protocol_version()
                .and_then(|version| HeaderValue::try_from(version).ok()),
            purpose,
            starts_listener: request.method() == "notifications/initialized",
            routing: Routing::of(&request),
        };
        let state = self.slot_state(&context);
        let needs_opening = purpose != Purpose::Initialize
            && context
                .session
                .as_ref()
                .is_some_and(|session| session.init_params.is_some())
            && !state.open;
        if needs_opening {
            return HttpCall::Slow(Box::pin(self.clone().reopen_and_send(context, outgoing)));
        }
        HttpCall::Fast {
            exchange: Exchange::start(
                self.shared.clone(),
                context.clone(),
                state,
                outgoing.clone(),
            ),
            leg: self.clone(),
            context: Some(context),
            outgoing: Some(outgoing),
        }
    }

    fn slot_state(&self, context: &CallContext) -> SlotState {
        match &context.session {
            Some(session) => session
                .slots
                .get(self.shared.info.index)
                .map(|slot| slot.get())
                .unwrap_or_default(),
            None => SlotState::default(),
        }
    }

    /// Opens the client session's upstream session again (`initialize`
    /// with the client's params, then `notifications/initialized`), then
    /// sends `outgoing`.
    async fn reopen_and_send(
        self,
        context: CallContext,
        outgoing: Outgoing,
    ) -> Result<JsonRpcResponse, McpError> {
        self.open(&context).await?;
        let state = self.slot_state(&context);
        match Exchange::start(
            self.shared.clone(),
            context.clone(),
            state,
            outgoing.clone(),
        )
        .await
        {
            Ok(response) => {
                self.after(&context, &outgoing);
                Ok(response)
            }
            Err(Failure::Mcp(error)) => Err(error),
            Err(Failure::Expired) => Err(McpError::unavailable(format!(
                "upstream {} forgot a session it had just opened",
                self.shared.info.name
            ))),
        }
    }

    async fn open(&self, context: &CallContext) -> Result<(), McpError> {
        let Some(session) = &context.session else {
            return Ok(());
        };
        let params = session.init_params.as_deref();
        let initialize = Outgoing {
            body: Bytes::from(wire::request(
                Some("gateway-initialize"),
                "initialize",
                params,
            )),
            id: wire::raw(r#""gateway-initialize""#.into()),
            version: None,
            purpose: Purpose::Initialize,
            starts_listener: false,
            routing: Routing::default(),
        };
        let outcome = Exchange::start(
            self.shared.clone(),
            context.clone(),
            SlotState::default(),
            initialize,
        )
        .await;
        match outcome {
            Ok(_) => {}
            Err(Failure::Mcp(error)) => return Err(error),
            Err(Failure::Expired) => {
                return Err(McpError::unavailable("the upstream refused a new session"));
            }
        }
        tracing::info!(upstream = %self.shared.info.name, "upstream session opened again");
        let initialized = Outgoing {
            body: Bytes::from(wire::request::<u8>(None, "notifications/initialized", None)),
            id: None,
            version: None,
            purpose: Purpose::Notification,
            starts_listener: true,
            routing: Routing::default(),
        };
        let state = self.slot_state(context);
        match Exchange::start(
            self.shared.clone(),
            context.clone(),
            state,
            initialized.clone(),
        )
        .await
        {
            Ok(_) => {
                self.after(context, &initialized);
                Ok(())
            }
            Err(Failure::Mcp(error)) => Err(error),
            Err(Failure::Expired) => {
                Err(McpError::unavailable("the upstream dropped a new session"))
            }
        }
    }

    /// What follows a successful exchange: `notifications/initialized`
    /// opens the upstream session's own event stream.
    fn after(&self, context: &CallContext, outgoing: &Outgoing) {
        if !outgoing.starts_listener {
            return;
        }
        let Some(session) = context.session.clone() else {
            return;
        };
        let state = self.slot_state(context);
        if state.session_id.is_none() {
            // A stateless upstream has no session stream.
            return;
        }
        let leg = self.clone();
        let authorization = context.authorization.clone();
        tokio::spawn(async move { leg.listen(session, state.generation, authorization).await });
    }

    /// Reads the upstream session's GET stream while the client session
    /// and this upstream session live, resuming after breaks.
    async fn listen(
        self,
        session: Arc<ClientSession>,
        generation: u64,
        authorization: Option<HeaderValue>,
    ) {
        let index = self.shared.info.index;
        let mut backoff = Backoff::new(
            Duration::from_millis(500),
            Duration::from_secs(30),
            Duration::from_secs(60),
        );
        let mut last_event_id: Option<String> = None;
        let context = CallContext {
            session: Some(session.clone()),
            relay: None,
            authorization: authorization.clone(),
        };
        loop {
            let Some(slot) = session.slots.get(index) else {
                return;
            };
            let state = slot.get();
            if !state.open || state.generation != generation {
                return;
            }
            let started = Instant::now();
            let read = self.listen_once(&context, &state, &mut last_event_id);
            let keep_going = tokio::select! {
                keep_going = read => keep_going,
                () = session.closed.cancelled() => return,
                () = self.shared.closing.cancelled() => return,
            };
            if !keep_going {
                return;
            }
            let delay = backoff.after_run(started.elapsed());
            tokio::select! {
                () = tokio::time::sleep(delay) => {}
                () = session.closed.cancelled() => return,
                () = self.shared.closing.cancelled() => return,
            }
        }
    }

    /// One GET of the session stream, read to its end; false when it must
    /// not be tried again (not supported, session gone).
    async fn listen_once(
        &self,
        context: &CallContext,
        state: &SlotState,
        last_event_id: &mut Option<String>,
    ) -> bool {
        let mut request = self.shared.request(Method::GET, Bytes::new());
        let headers = request.headers_mut();
        headers.insert(ACCEPT, HeaderValue::from_static(EVENT_STREAM));
        self.shared.protocol_headers(headers, state, None, context);
        if let Some(id) = last_event_id
            .as_deref()
            .and_then(|id| HeaderValue::try_from(id).ok())
        {
            headers.insert(LAST_EVENT_ID, id);
        }
        let response = match self.shared.client.start(request).await {
            Ok(response) => response,
            Err(error) => {
                tracing::debug!(upstream = %self.shared.info.name, %error, "session stream failed");
                return true;
            }
        };
        match response.status() {
            StatusCode::METHOD_NOT_ALLOWED => return false,
            StatusCode::NOT_FOUND => {
                if let Some(slot) = context
                    .session
                    .as_ref()
                    .and_then(|session| session.slots.get(self.shared.info.index))
                {
                    slot.expired(state.generation);
                }
                return false;
            }
            status if !status.is_success() => return true,
            _ => {}
        }
        let mut body = response.into_body();
        let mut parser = EventParser::new(self.shared.options.max_event_bytes);
        let mut parsed = VecDeque::new();
        while let Some(frame) = body.frame().await {
            let Ok(frame) = frame else {
                return true;
            };
            let Some(data) = frame.data_ref() else {
                continue;
            };
            parser.feed(data, &mut parsed);
            while let Some(event) = parsed.pop_front() {
                match event {
                    Parsed::Event(event) => {
                        if event.id.is_some() {
                            last_event_id.clone_from(&event.id);
                        }
                        if let Some(data) = event.data.filter(|data| !data.is_empty()) {
                            let inbound = self.shared.info.inbound(
                                Some(context),
                                state.session_id.as_ref(),
                                data.as_bytes(),
                            );
                            if let Inbound::Answer(answer) = inbound {
                                self.send_message(state.session_id.clone(), answer);
                            }
                        }
                    }
                    Parsed::Skipped { id } => {
                        if id.is_some() {
                            *last_event_id = id;
                        }
                    }
                    Parsed::Overflowing => {}
                }
            }
        }
        true
    }

    /// POSTs `message` (a response or a notification) to the upstream
    /// session in the background; nothing waits for its answer.
    pub(crate) fn send_message(&self, session_id: Option<HeaderValue>, message: Vec<u8>) {
        let state = SlotState {
            session_id,
            ..SlotState::default()
        };
        let request = self
            .shared
            .post(Bytes::from(message), &state, None, &CallContext::default());
        self.send_in_background(request);
    }

    /// Ends an upstream session with `DELETE`, in the background.
    pub(crate) fn close_session(&self, state: &SlotState) {
        let Some(session_id) = state.session_id.clone() else {
            return;
        };
        let mut request = self.shared.request(Method::DELETE, Bytes::new());
        request.headers_mut().insert(SESSION_ID, session_id);
        if let Some(version) = &state.version {
            request
                .headers_mut()
                .insert(PROTOCOL_VERSION, version.clone());
        }
        self.send_in_background(request);
    }

    /// Sends `request` on the pool from a task of its own; nothing waits
    /// for the answer, which the pool reads to its end.
    fn send_in_background(&self, request: Request<Full<Bytes>>) {
        let shared = self.shared.clone();
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        runtime.spawn(async move {
            // Dropped, the answer is read to its end by the pool.
            let _ = tokio::time::timeout(SEND_TIME, shared.client.start(request)).await;
        });
    }

    pub(crate) fn health(&self) -> Value {
        json!({
            "transport": "http",
            "url": self.shared.options.url.to_string(),
            "connections_busy": self.shared.busy.load(Ordering::Relaxed),
        })
    }

    /// Ends the listeners.
    pub(crate) fn shutdown(&self) {
        self.shared.closing.cancel();
    }
}

impl Shared {
    /// A request to the upstream's URL.
    fn request(&self, method: Method, body: Bytes) -> Request<Full<Bytes>> {
        let mut request = Request::new(Full::new(body));
        *request.method_mut() = method;
        *request.uri_mut() = self.options.url.clone();
        request
    }

    /// The session, version and authorization headers of a request.
    fn protocol_headers(
        &self,
        headers: &mut HeaderMap,
        state: &SlotState,
        request_version: Option<&HeaderValue>,
        context: &CallContext,
    ) {
        if let Some(session_id) = &state.session_id {
            headers.insert(SESSION_ID, session_id.clone());
        }
        if let Some(version) = state.version.as_ref().or(request_version) {
            headers.insert(PROTOCOL_VERSION, version.clone());
        }
        let authorization = match &self.options.authorization {
            Authorization::Forward => context.authorization.clone(),
            Authorization::Drop => None,
            Authorization::Replace(value) => Some(value.clone()),
        };
        if let Some(mut value) = authorization {
            value.set_sensitive(true);
            headers.insert(AUTHORIZATION, value);
        }
    }

    fn post(
        &self,
        body: Bytes,
        state: &SlotState,
        request_version: Option<&HeaderValue>,
        context: &CallContext,
    ) -> Request<Full<Bytes>> {
        let mut request = self.request(Method::POST, body);
        let headers = request.headers_mut();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static(JSON));
        headers.insert(
            ACCEPT,
            HeaderValue::from_static("application/json, text/event-stream"),
        );
        self.protocol_headers(headers, state, request_version, context);
        request
    }

    fn unavailable(&self, why: impl std::fmt::Display) -> McpError {
        McpError::unavailable(format!("upstream {}: {why}", self.info.name))
    }
}

/// A request ready to go: its bytes, id and what it is for.
#[derive(Clone)]
pub(crate) struct Outgoing {
    body: Bytes,
    id: Option<Box<RawValue>>,
    version: Option<HeaderValue>,
    purpose: Purpose,
    starts_listener: bool,
    routing: Routing,
}

/// The routing headers of a 2026-07-28 request: `Mcp-Method`, and
/// `Mcp-Name` for a tool call, a prompt or a resource read. Upstreams of
/// that version reject a request whose headers do not match its body, so
/// they are made from the request as forwarded (a namespaced name is
/// already unwrapped), never copied from the client's.
#[derive(Clone, Default)]
struct Routing {
    method: Option<HeaderValue>,
    name: Option<HeaderValue>,
}

impl Routing {
    fn of(request: &JsonRpcRequest) -> Self {
        if request
            .protocol_version()
            .is_none_or(|version| version < SESSIONLESS_VERSION)
        {
            return Self::default();
        }
        let name = match request.method() {
            "tools/call" => request.tool_name(),
            "prompts/get" => request.prompt_name(),
            "resources/read" => request.resource_uri(),
            _ => None,
        };
        Self {
            method: HeaderValue::try_from(request.method()).ok(),
            name: name.and_then(|name| HeaderValue::try_from(header_text(name)).ok()),
        }
    }

    fn apply(&self, headers: &mut HeaderMap) {
        if let Some(method) = &self.method {
            headers.insert(MCP_METHOD, method.clone());
        }
        if let Some(name) = &self.name {
            headers.insert(MCP_NAME, name.clone());
        }
    }
}

/// `value` as a header carries it: as it is when it is printable ASCII
/// without edge spaces, else base64 between `=?base64?` and `?=`.
fn header_text(value: &str) -> String {
    use base64::{Engine as _, engine::general_purpose::STANDARD};
    let printable = value.bytes().all(|byte| (0x20..=0x7e).contains(&byte));
    let looks_encoded = value.starts_with("=?base64?") && value.ends_with("?=");
    if printable && value.trim() == value && !looks_encoded {
        value.to_owned()
    } else {
        format!("=?base64?{}?=", STANDARD.encode(value))
    }
}

/// Why an exchange gave no answer.
pub(crate) enum Failure {
    /// The upstream no longer knows the session (404): open it again.
    Expired,
    Mcp(McpError),
}

impl From<McpError> for Failure {
    fn from(error: McpError) -> Self {
        Self::Mcp(error)
    }
}

/// The response future of [`HttpLeg`]: one exchange, or, when the upstream
/// session must first be opened (again), that work boxed: it is rare and
/// takes round trips.
#[allow(
    clippy::large_enum_variant,
    reason = "the fast variant is every request's; boxing it would allocate per request"
)]
pub(crate) enum HttpCall {
    Fast {
        exchange: Exchange,
        leg: HttpLeg,
        /// Kept to send again in a new session after a 404; and for what
        /// follows success.
        context: Option<CallContext>,
        outgoing: Option<Outgoing>,
    },
    Slow(Pin<Box<dyn Future<Output = Result<JsonRpcResponse, McpError>> + Send>>),
}

impl Future for HttpCall {
    type Output = Result<JsonRpcResponse, McpError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        loop {
            match this {
                Self::Slow(future) => return future.as_mut().poll(cx),
                Self::Fast {
                    exchange,
                    leg,
                    context,
                    outgoing,
                } => match ready!(Pin::new(exchange).poll(cx)) {
                    Ok(response) => {
                        if let (Some(context), Some(outgoing)) =
                            (context.as_ref(), outgoing.as_ref())
                        {
                            leg.after(context, outgoing);
                        }
                        return Poll::Ready(Ok(response));
                    }
                    Err(Failure::Mcp(error)) => return Poll::Ready(Err(error)),
                    Err(Failure::Expired) => {
                        let (Some(context), Some(outgoing)) = (context.take(), outgoing.take())
                        else {
                            return Poll::Ready(Err(McpError::unavailable(
                                "the upstream session expired",
                            )));
                        };
                        let state = leg.slot_state(&context);
                        if let Some(slot) = context
                            .session
                            .as_ref()
                            .and_then(|session| session.slots.get(leg.shared.info.index))
                        {
                            slot.expired(state.generation);
                        }
                        let can_reopen = context
                            .session
                            .as_ref()
                            .is_some_and(|session| session.init_params.is_some());
                        if !can_reopen || outgoing.purpose == Purpose::Initialize {
                            return Poll::Ready(Err(leg
                                .shared
                                .unavailable("it no longer knows this session")));
                        }
                        *this =
                            Self::Slow(Box::pin(leg.clone().reopen_and_send(context, outgoing)));
                    }
                },
            }
        }
    }
}

/// Sends `notifications/cancelled` for a request whose exchange is dropped
/// before its answer.
struct CancelOnDrop {
    shared: Arc<Shared>,
    id: Option<Box<RawValue>>,
    state: SlotState,
}

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        let Some(id) = self.id.take() else {
            return;
        };
        let params = json!({
            "requestId": serde_json::from_str::<Value>(id.get()).unwrap_or(Value::Null),
            "reason": "cancelled by the gateway's client, or its deadline passed",
        });
        let Ok(params) = serde_json::value::to_raw_value(&params) else {
            return;
        };
        let message = wire::request::<u8>(None, "notifications/cancelled", Some(&params));
        let leg = HttpLeg {
            shared: self.shared.clone(),
        };
        leg.send_message(self.state.session_id.clone(), message);
    }
}

/// One connection's worth of the upstream's capacity, given back on drop.
struct Busy(Arc<Shared>);

impl Drop for Busy {
    fn drop(&mut self) {
        self.0.busy.fetch_sub(1, Ordering::AcqRel);
    }
}

enum Phase {
    Waiting(ResponseFuture),
    Json {
        body: Body,
        whole: Vec<u8>,
        status: StatusCode,
    },
    Events {
        body: Body,
        parser: Box<EventParser>,
        parsed: VecDeque<Parsed>,
    },
    Done,
}

/// One POST to the upstream and the reading of its answer, as a named
/// future: the head, then a JSON body or an event stream, frame by frame.
pub(crate) struct Exchange {
    phase: Phase,
    shared: Arc<Shared>,
    context: CallContext,
    state: SlotState,
    purpose: Purpose,
    id: Option<Box<RawValue>>,
    session_id: Option<HeaderValue>,
    cancel: Option<CancelOnDrop>,
    busy: Option<Busy>,
    refused: Option<McpError>,
}

impl Exchange {
    fn start(
        shared: Arc<Shared>,
        context: CallContext,
        state: SlotState,
        outgoing: Outgoing,
    ) -> Self {
        let refused = (shared.busy.fetch_add(1, Ordering::AcqRel)
            >= shared.options.max_connections)
            .then_some(McpError::Overloaded);
        let busy = Some(Busy(shared.clone()));
        let mut request = shared.post(outgoing.body, &state, outgoing.version.as_ref(), &context);
        outgoing.routing.apply(request.headers_mut());
        let phase = match refused {
            Some(_) => Phase::Done,
            None => Phase::Waiting(shared.client.start(request)),
        };
        let cancel = (outgoing.purpose == Purpose::Request).then(|| CancelOnDrop {
            shared: shared.clone(),
            id: outgoing.id.clone(),
            state: state.clone(),
        });
        Self {
            phase,
            shared,
            context,
            state,
            purpose: outgoing.purpose,
            id: outgoing.id,
            session_id: None,
            cancel,
            busy,
            refused,
        }
    }

    /// The exchange is over: nothing to cancel.
    fn settle(&mut self) {
        if let Some(mut cancel) = self.cancel.take() {
            cancel.id = None;
        }
        self.phase = Phase::Done;
    }

    /// What the head of the answer says: the phase that reads its body,
    /// or the outcome.
    fn head(&mut self, response: Response<Body>) -> Result<Option<JsonRpcResponse>, Failure> {
        let status = response.status();
        if self.purpose == Purpose::Initialize {
            self.session_id = response.headers().get(SESSION_ID).cloned();
        }
        if matches!(status, StatusCode::ACCEPTED | StatusCode::NO_CONTENT) {
            return match self.purpose {
                Purpose::Notification => accepted().map(Some).map_err(Failure::Mcp),
                _ => Err(self
                    .shared
                    .unavailable("it accepted a request without answering it")
                    .into()),
            };
        }
        if status == StatusCode::NOT_FOUND && self.state.session_id.is_some() {
            return Err(Failure::Expired);
        }
        let content_type = response
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.split(';').next())
            .map(|value| value.trim().to_ascii_lowercase());
        let declared = response
            .headers()
            .get(http::header::CONTENT_LENGTH)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.parse::<u64>().ok());
        let body = response.into_body();
        match content_type.as_deref() {
            Some(JSON) => {
                if declared
                    .is_some_and(|length| length > self.shared.options.max_response_bytes as u64)
                {
                    return Err(McpError::TooLarge {
                        size: declared.unwrap_or_default(),
                        limit: self.shared.options.max_response_bytes as u64,
                    }
                    .into());
                }
                self.phase = Phase::Json {
                    body,
                    whole: with_declared_capacity(declared),
                    status,
                };
                Ok(None)
            }
            Some(EVENT_STREAM) if status.is_success() => {
                self.phase = Phase::Events {
                    body,
                    parser: Box::new(EventParser::new(self.shared.options.max_event_bytes)),
                    parsed: VecDeque::new(),
                };
                Ok(None)
            }
            // Dropped, the body is read to its end by the pool.
            _ if self.purpose == Purpose::Notification && status.is_success() => {
                accepted().map(Some).map_err(Failure::Mcp)
            }
            _ => Err(refusal(&self.shared, status, &[]).into()),
        }
    }

    /// The whole JSON body is in.
    fn json(&mut self, whole: &[u8], status: StatusCode) -> Result<JsonRpcResponse, Failure> {
        match Envelope::read(whole) {
            Some(envelope) if envelope.kind() == Kind::Response => {
                let outcome = envelope.outcome().map_err(Failure::Mcp)?;
                self.opened(&outcome);
                Ok(outcome)
            }
            _ if self.purpose == Purpose::Notification && status.is_success() => {
                accepted().map_err(Failure::Mcp)
            }
            _ => Err(refusal(&self.shared, status, whole).into()),
        }
    }

    /// One event of the stream: the response ends the exchange, anything
    /// else is routed.
    fn event(&mut self, data: &[u8]) -> Option<Result<JsonRpcResponse, Failure>> {
        let envelope = Envelope::read(data)?;
        if envelope.kind() == Kind::Response {
            let ours = match (envelope.id, &self.id) {
                (Some(id), Some(ours)) => id.get() == ours.get() || id.get() == "null",
                _ => true,
            };
            if ours {
                let outcome = envelope.outcome().map_err(Failure::Mcp);
                if let Ok(response) = &outcome {
                    self.opened(response);
                }
                return Some(outcome);
            }
            return None;
        }
        let session_id = self
            .state
            .session_id
            .clone()
            .or_else(|| self.session_id.clone());
        if let Inbound::Answer(answer) =
            self.shared
                .info
                .inbound(Some(&self.context), session_id.as_ref(), data)
        {
            HttpLeg {
                shared: self.shared.clone(),
            }
            .send_message(session_id, answer);
        }
        None
    }

    /// After a successful `initialize`, the slot holds the upstream session.
    fn opened(&self, response: &JsonRpcResponse) {
        if self.purpose != Purpose::Initialize {
            return;
        }
        let Some(slot) = self
            .context
            .session
            .as_ref()
            .and_then(|session| session.slots.get(self.shared.info.index))
        else {
            return;
        };
        #[derive(serde::Deserialize)]
        struct Version<'a> {
            #[serde(rename = "protocolVersion", borrow)]
            protocol_version: Option<std::borrow::Cow<'a, str>>,
        }
        let version = serde_json::from_str::<Version<'_>>(response.result().get())
            .ok()
            .and_then(|view| view.protocol_version)
            .and_then(|version| HeaderValue::try_from(&*version).ok());
        let raw: Box<RawValue> = response.result().to_owned();
        slot.opened(self.session_id.clone(), version, Arc::from(raw));
    }
}

impl Future for Exchange {
    type Output = Result<JsonRpcResponse, Failure>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        if let Some(refused) = this.refused.take() {
            this.settle();
            return Poll::Ready(Err(Failure::Mcp(refused)));
        }
        loop {
            let outcome = match &mut this.phase {
                Phase::Waiting(future) => match ready!(Pin::new(future).poll(cx)) {
                    Err(error) => Err(this
                        .shared
                        .unavailable(format_args!("unreachable ({error})"))
                        .into()),
                    Ok(response) => match this.head(response) {
                        Ok(None) => continue,
                        Ok(Some(response)) => Ok(response),
                        Err(failure) => Err(failure),
                    },
                },
                Phase::Json {
                    body,
                    whole,
                    status,
                } => match ready!(Pin::new(body).poll_frame(cx)) {
                    None => {
                        let (whole, status) = (std::mem::take(whole), *status);
                        this.json(&whole, status)
                    }
                    Some(Err(error)) => Err(this
                        .shared
                        .unavailable(format_args!("answer cut off ({error})"))
                        .into()),
                    Some(Ok(frame)) => {
                        let limit = this.shared.options.max_response_bytes;
                        match frame.into_data() {
                            Ok(data) => match append_bounded(whole, data, limit) {
                                Ok(()) => continue,
                                Err(TooLarge) => Err(McpError::TooLarge {
                                    size: (whole.len() + 1) as u64,
                                    limit: limit as u64,
                                }
                                .into()),
                            },
                            Err(_) => continue,
                        }
                    }
                },
                Phase::Events {
                    body,
                    parser,
                    parsed,
                } => {
                    if let Some(event) = parsed.pop_front() {
                        match event {
                            Parsed::Event(event) => {
                                let Some(data) = event.data.filter(|data| !data.is_empty()) else {
                                    continue;
                                };
                                match this.event(data.as_bytes()) {
                                    Some(outcome) => {
                                        // The rest of the stream is read by the
                                        // pool; till then its connection is busy.
                                        if let (Phase::Events { body, .. }, Some(busy)) = (
                                            std::mem::replace(&mut this.phase, Phase::Done),
                                            this.busy.take(),
                                        ) {
                                            body.release_holding(busy);
                                        }
                                        outcome
                                    }
                                    None => continue,
                                }
                            }
                            Parsed::Overflowing => Err(McpError::TooLarge {
                                size: (this.shared.options.max_event_bytes + 1) as u64,
                                limit: this.shared.options.max_event_bytes as u64,
                            }
                            .into()),
                            Parsed::Skipped { .. } => continue,
                        }
                    } else {
                        match ready!(Pin::new(body).poll_frame(cx)) {
                            None => Err(this
                                .shared
                                .unavailable("its event stream ended before the response")
                                .into()),
                            Some(Err(error)) => Err(this
                                .shared
                                .unavailable(format_args!("event stream cut off ({error})"))
                                .into()),
                            Some(Ok(frame)) => {
                                if let Some(data) = frame.data_ref() {
                                    parser.feed(data, parsed);
                                }
                                continue;
                            }
                        }
                    }
                }
                Phase::Done => Err(McpError::from(RpcError::internal(
                    "an exchange was polled after it ended",
                ))
                .into()),
            };
            this.settle();
            return Poll::Ready(outcome);
        }
    }
}

/// An answer that carries no JSON-RPC response: unavailable for 5xx and
/// 429 (the breaker counts them), the client's fault for other 4xx.
fn refusal(shared: &Shared, status: StatusCode, body: &[u8]) -> McpError {
    let preview = String::from_utf8_lossy(&body[..body.len().min(PREVIEW_BYTES)]);
    let why = if preview.is_empty() {
        format!("it answered HTTP {status}")
    } else {
        format!("it answered HTTP {status}: {}", preview.trim())
    };
    if status.is_server_error() || status == StatusCode::TOO_MANY_REQUESTS || status.is_success() {
        shared.unavailable(why)
    } else {
        RpcError::invalid_request(format!("upstream {}: {why}", shared.info.name)).into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_that_a_header_cannot_carry_are_base64() {
        assert_eq!(header_text("get-sum"), "get-sum");
        assert_eq!(header_text("file:///a b.txt"), "file:///a b.txt");
        assert_eq!(header_text("héllo"), "=?base64?aMOpbGxv?=");
        assert_eq!(header_text(" edge"), "=?base64?IGVkZ2U=?=");
        assert_eq!(
            header_text("=?base64?eA==?="),
            "=?base64?PT9iYXNlNjQ/ZUE9PT89?="
        );
    }
}
