//! Just enough of an MCP Streamable HTTP client for load: one pooled
//! keep-alive HTTP/1.1 client shared by all users, one session per user,
//! JSON-RPC bodies written by hand around pre-serialized params.

use std::{
    sync::{
        Arc, Mutex, PoisonError,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use tokio::time::Instant;

use bytes::Bytes;
use http::{HeaderValue, Method, Request, StatusCode, Uri, header};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::{
    client::legacy::{Client, connect::HttpConnector},
    rt::TokioExecutor,
};
use mcp_service::error::code;
use serde_json::{Value, json};

/// The protocol version the users ask for in `initialize`.
pub(crate) const PROTOCOL_VERSION: &str = "2025-11-25";

const SESSION_HEADER: &str = "mcp-session-id";
const VERSION_HEADER: &str = "mcp-protocol-version";
const ACCEPT: &str = "application/json, text/event-stream";
/// A response body larger than this is a failure, not a memory spike.
const MAX_BODY_BYTES: usize = 64 << 20;
/// How long to keep reading an SSE stream after our response arrived, so
/// the connection goes back to the pool instead of being torn down.
const DRAIN_AFTER_RESPONSE: Duration = Duration::from_secs(1);
/// Bytes of a failure's body kept as its sample text.
const SAMPLE_BYTES: usize = 160;

/// The HTTP client every user shares.
pub(crate) type HttpClient = Client<HttpConnector, Full<Bytes>>;

/// A pooled keep-alive client; connections are reused across users.
pub(crate) fn http_client() -> HttpClient {
    let mut connector = HttpConnector::new();
    // Small request/response pairs: Nagle would add 40 ms to some of them.
    connector.set_nodelay(true);
    Client::builder(TokioExecutor::new())
        .pool_idle_timeout(Duration::from_secs(60))
        .build(connector)
}

/// Why a request did not succeed, as counted in the report.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Failure {
    /// A short stable name: `http_503`, `rate_limited`, `tool_error`,
    /// `timeout`, `connect`, `transport`, `bad_response`, ...
    pub(crate) reason: String,
    /// One example message, for the report.
    pub(crate) detail: String,
}

impl Failure {
    fn new(reason: impl Into<String>, detail: impl Into<String>) -> Self {
        Self {
            reason: reason.into(),
            detail: detail.into(),
        }
    }
}

/// A JSON-RPC request of the mix, its params serialized once.
#[derive(Debug, Clone)]
pub(crate) struct Call {
    method: &'static str,
    params: String,
    tool_call: bool,
}

impl Call {
    /// `tools/list`.
    pub(crate) fn list_tools() -> Self {
        Self::new("tools/list", &json!({}))
    }

    /// `resources/read` of `uri`.
    pub(crate) fn read_resource(uri: &str) -> Self {
        Self::new("resources/read", &json!({ "uri": uri }))
    }

    /// `tools/call` of `name` with `arguments`.
    pub(crate) fn call_tool(name: &str, arguments: &serde_json::Map<String, Value>) -> Self {
        Self::new(
            "tools/call",
            &json!({ "name": name, "arguments": arguments }),
        )
    }

    fn new(method: &'static str, params: &Value) -> Self {
        Self {
            method,
            params: params.to_string(),
            tool_call: method == "tools/call",
        }
    }

    fn body(&self, id: u64) -> Bytes {
        // `method` is a fixed ASCII name and `params` is serde_json output,
        // so the concatenation is valid JSON.
        Bytes::from(format!(
            r#"{{"jsonrpc":"2.0","id":{id},"method":"{}","params":{}}}"#,
            self.method, self.params
        ))
    }
}

/// What `initialize` established.
#[derive(Debug)]
struct Established {
    session_id: Option<HeaderValue>,
    version: HeaderValue,
}

/// One virtual user: its token and its MCP session, opened lazily again
/// when the server forgets it.
#[derive(Debug)]
pub(crate) struct Session {
    http: HttpClient,
    uri: Uri,
    authorization: Option<HeaderValue>,
    timeout: Duration,
    established: Mutex<Option<Arc<Established>>>,
    opening: tokio::sync::Mutex<()>,
    next_id: AtomicU64,
    opened: AtomicU64,
}

impl Session {
    /// A user that will talk to `uri`; nothing is sent yet.
    pub(crate) fn new(http: HttpClient, uri: Uri, token: Option<&str>, timeout: Duration) -> Self {
        Self {
            http,
            uri,
            authorization: token
                .and_then(|token| HeaderValue::try_from(format!("Bearer {token}")).ok()),
            timeout,
            established: Mutex::new(None),
            opening: tokio::sync::Mutex::new(()),
            next_id: AtomicU64::new(1),
            opened: AtomicU64::new(0),
        }
    }

    /// How many times `initialize` succeeded for this user.
    pub(crate) fn times_opened(&self) -> u64 {
        self.opened.load(Ordering::Relaxed)
    }

    /// Opens the session unless one is open: `initialize`, then
    /// `notifications/initialized`.
    pub(crate) async fn open(&self) -> Result<(), Failure> {
        self.established().await.map(drop)
    }

    /// Sends `call` and says how it went and when the answer was in.
    pub(crate) async fn send(&self, call: &Call) -> Answer {
        let session = match self.established().await {
            Ok(session) => session,
            Err(failure) => {
                return Answer::now(Err(Failure {
                    reason: format!("session:{}", failure.reason),
                    detail: failure.detail,
                }));
            }
        };
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let request = self.post(call.body(id), Some(&session));
        let (reply, at) = self.exchange(request, Some(id)).await;
        let outcome = match reply {
            Ok(reply) => {
                let is_error = reply.result.get("isError").and_then(Value::as_bool);
                if call.tool_call && is_error == Some(true) {
                    Err(Failure::new("tool_error", tool_error_text(&reply.result)))
                } else {
                    Ok(())
                }
            }
            Err(failure) => {
                if failure.reason == "session_gone" {
                    self.forget(&session);
                }
                Err(failure)
            }
        };
        Answer { outcome, at }
    }

    /// Ends the session with `DELETE`, as the spec asks of a client that
    /// is done; errors are ignored, the server expires sessions anyway.
    pub(crate) async fn close(&self) {
        let session = self
            .established
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        let Some(session_id) = session.and_then(|session| session.session_id.clone()) else {
            return;
        };
        let mut request = Request::new(Full::new(Bytes::new()));
        *request.method_mut() = Method::DELETE;
        *request.uri_mut() = self.uri.clone();
        request.headers_mut().insert(SESSION_HEADER, session_id);
        if let Some(authorization) = &self.authorization {
            request
                .headers_mut()
                .insert(header::AUTHORIZATION, authorization.clone());
        }
        if let Ok(Ok(response)) =
            tokio::time::timeout(Duration::from_secs(2), self.http.request(request)).await
        {
            let _ = response.into_body().collect().await;
        }
    }

    async fn established(&self) -> Result<Arc<Established>, Failure> {
        if let Some(session) = self.current() {
            return Ok(session);
        }
        // One initialize per user at a time; concurrent open-loop requests
        // of the same user wait for it.
        let _opening = self.opening.lock().await;
        if let Some(session) = self.current() {
            return Ok(session);
        }
        let session = Arc::new(self.initialize().await?);
        *self
            .established
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some(session.clone());
        self.opened.fetch_add(1, Ordering::Relaxed);
        Ok(session)
    }

    fn current(&self) -> Option<Arc<Established>> {
        self.established
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Drops `session` if it is still the current one, so the next
    /// request opens a new one.
    fn forget(&self, session: &Arc<Established>) {
        let mut established = self
            .established
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if established
            .as_ref()
            .is_some_and(|current| Arc::ptr_eq(current, session))
        {
            *established = None;
        }
    }

    async fn initialize(&self) -> Result<Established, Failure> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let body = json!({
            "jsonrpc": "2.0",
            "id": id,
            "method": "initialize",
            "params": {
                "protocolVersion": PROTOCOL_VERSION,
                "capabilities": {},
                "clientInfo": { "name": "mcp-stack-loadtest", "version": env!("CARGO_PKG_VERSION") },
            },
        });
        let mut request = self.post(Bytes::from(body.to_string()), None);
        request
            .headers_mut()
            .insert(VERSION_HEADER, HeaderValue::from_static(PROTOCOL_VERSION));
        let reply = self.exchange(request, Some(id)).await.0?;
        let version = reply
            .result
            .get("protocolVersion")
            .and_then(Value::as_str)
            .unwrap_or(PROTOCOL_VERSION);
        let version = HeaderValue::from_str(version).map_err(|_| {
            Failure::new(
                "bad_response",
                format!("protocol version `{version}` is not a header value"),
            )
        })?;
        let session = Established {
            session_id: reply.session_id,
            version,
        };
        let notification = json!({ "jsonrpc": "2.0", "method": "notifications/initialized" });
        let request = self.post(Bytes::from(notification.to_string()), Some(&session));
        self.exchange(request, None).await.0?;
        Ok(session)
    }

    fn post(&self, body: Bytes, session: Option<&Established>) -> Request<Full<Bytes>> {
        let mut request = Request::new(Full::new(body));
        *request.method_mut() = Method::POST;
        *request.uri_mut() = self.uri.clone();
        let headers = request.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        headers.insert(header::ACCEPT, HeaderValue::from_static(ACCEPT));
        if let Some(authorization) = &self.authorization {
            headers.insert(header::AUTHORIZATION, authorization.clone());
        }
        if let Some(session) = session {
            headers.insert(VERSION_HEADER, session.version.clone());
            if let Some(id) = &session.session_id {
                headers.insert(SESSION_HEADER, id.clone());
            }
        }
        request
    }

    /// Sends one message and reads the answer to `id` (none for a
    /// notification) within the timeout; returns it with the instant it
    /// was complete, before the rest of an event stream is drained.
    async fn exchange(
        &self,
        request: Request<Full<Bytes>>,
        id: Option<u64>,
    ) -> (Result<Reply, Failure>, Instant) {
        let answer = tokio::time::timeout(self.timeout, self.exchange_unbounded(request, id)).await;
        let at = Instant::now();
        let reply = match answer {
            Ok((reply, rest)) => {
                if let Some(rest) = rest {
                    // Finishing the stream (the server closes it after the
                    // response) keeps the connection reusable.
                    let _ = tokio::time::timeout(DRAIN_AFTER_RESPONSE, read_body(rest)).await;
                }
                reply
            }
            Err(_) => Err(Failure::new(
                "timeout",
                format!("no answer within {} ms", self.timeout.as_millis()),
            )),
        };
        (reply, at)
    }

    /// [`exchange`](Self::exchange) without the deadline; also returns what
    /// is left of an event stream after the response.
    async fn exchange_unbounded(
        &self,
        request: Request<Full<Bytes>>,
        id: Option<u64>,
    ) -> (Result<Reply, Failure>, Option<Incoming>) {
        let response = match self.http.request(request).await {
            Ok(response) => response,
            Err(error) => {
                let reason = if error.is_connect() {
                    "connect"
                } else {
                    "transport"
                };
                return (Err(Failure::new(reason, error_chain(&error))), None);
            }
        };
        let status = response.status();
        let session_id = response.headers().get(SESSION_HEADER).cloned();
        let event_stream = response
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|value| value.to_str().ok())
            .is_some_and(|value| value.starts_with("text/event-stream"));
        let body = response.into_body();

        let Some(id) = id else {
            // A notification: 202 Accepted and no body, by the spec.
            let bytes = read_body(body).await;
            let reply = match bytes {
                Ok(_) if status.is_success() => Ok(Reply {
                    session_id,
                    result: Value::Null,
                }),
                Ok(bytes) => Err(http_failure(status, &bytes)),
                Err(failure) => Err(failure),
            };
            return (reply, None);
        };
        if event_stream && status.is_success() {
            return match read_event_stream(body, id).await {
                Ok((message, rest)) => (reply_of(message, session_id), rest),
                Err(failure) => (Err(failure), None),
            };
        }
        let bytes = match read_body(body).await {
            Ok(bytes) => bytes,
            Err(failure) => return (Err(failure), None),
        };
        let reply = match serde_json::from_slice::<Value>(&bytes) {
            Ok(message) if message.get("error").is_some() || status.is_success() => {
                reply_of(message, session_id)
            }
            Err(error) if status.is_success() => Err(Failure::new(
                "bad_response",
                format!(
                    "not JSON ({error}): {}",
                    clip(&String::from_utf8_lossy(&bytes))
                ),
            )),
            _ => Err(http_failure(status, &bytes)),
        };
        (reply, None)
    }
}

/// How a request went, and when its answer was complete.
#[derive(Debug)]
pub(crate) struct Answer {
    /// `Ok` for a result that is not a tool error.
    pub(crate) outcome: Result<(), Failure>,
    /// When the answer was in (or the failure known).
    pub(crate) at: Instant,
}

impl Answer {
    fn now(outcome: Result<(), Failure>) -> Self {
        Self {
            outcome,
            at: Instant::now(),
        }
    }
}

/// The result of a JSON-RPC response, or its error as a failure.
fn reply_of(message: Value, session_id: Option<HeaderValue>) -> Result<Reply, Failure> {
    match (message.get("result"), message.get("error")) {
        (_, Some(error)) => Err(rpc_failure(error)),
        (Some(result), None) => Ok(Reply {
            session_id,
            result: result.clone(),
        }),
        (None, None) => Err(Failure::new(
            "bad_response",
            format!("neither result nor error: {}", clip(&message.to_string())),
        )),
    }
}

/// The answer to one request.
struct Reply {
    session_id: Option<HeaderValue>,
    result: Value,
}

/// Reads a whole body, bounded.
async fn read_body(mut body: Incoming) -> Result<Bytes, Failure> {
    let mut bytes = Vec::new();
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|error| Failure::new("transport", error_chain(&error)))?;
        if let Ok(data) = frame.into_data() {
            if bytes.len() + data.len() > MAX_BODY_BYTES {
                return Err(too_large());
            }
            bytes.extend_from_slice(&data);
        }
    }
    Ok(Bytes::from(bytes))
}

/// Reads SSE events until the JSON-RPC response to `id` arrives, skipping
/// priming events, pings and server-sent notifications; returns it with
/// the rest of the stream, if any.
async fn read_event_stream(
    mut body: Incoming,
    id: u64,
) -> Result<(Value, Option<Incoming>), Failure> {
    let mut events = EventStream::default();
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|error| Failure::new("transport", error_chain(&error)))?;
        let Ok(data) = frame.into_data() else {
            continue;
        };
        if events.pending() + data.len() > MAX_BODY_BYTES {
            return Err(too_large());
        }
        for payload in events.push(&data) {
            if let Some(message) = response_to(&payload, id) {
                return Ok((message, Some(body)));
            }
        }
    }
    for payload in events.finish() {
        if let Some(message) = response_to(&payload, id) {
            return Ok((message, None));
        }
    }
    Err(Failure::new(
        "bad_response",
        "the event stream ended without the response",
    ))
}

/// The message in `payload` if it answers `id`.
fn response_to(payload: &str, id: u64) -> Option<Value> {
    let message: Value = serde_json::from_str(payload).ok()?;
    (message.get("id").and_then(Value::as_u64) == Some(id)).then_some(message)
}

/// An incremental `text/event-stream` parser that yields each event's
/// `data` (its `data:` lines joined by newlines).
#[derive(Debug, Default)]
pub(crate) struct EventStream {
    line: Vec<u8>,
    data: String,
    has_data: bool,
}

impl EventStream {
    /// Feeds bytes; returns the data of every event they complete.
    pub(crate) fn push(&mut self, bytes: &[u8]) -> Vec<String> {
        let mut complete = Vec::new();
        for &byte in bytes {
            if byte == b'\n' {
                let line = std::mem::take(&mut self.line);
                let line = line.strip_suffix(b"\r").unwrap_or(&line);
                if let Some(event) = self.line_done(line) {
                    complete.push(event);
                }
            } else {
                self.line.push(byte);
            }
        }
        complete
    }

    /// Ends the stream; an event not closed by a blank line still counts.
    pub(crate) fn finish(&mut self) -> Vec<String> {
        let line = std::mem::take(&mut self.line);
        let mut complete: Vec<String> = self.line_done(&line).into_iter().collect();
        complete.extend(self.line_done(b""));
        complete
    }

    fn pending(&self) -> usize {
        self.line.len() + self.data.len()
    }

    fn line_done(&mut self, line: &[u8]) -> Option<String> {
        if line.is_empty() {
            let had = std::mem::replace(&mut self.has_data, false);
            let data = std::mem::take(&mut self.data);
            return (had && !data.is_empty()).then_some(data);
        }
        let value = line.strip_prefix(b"data:")?;
        let value = value.strip_prefix(b" ").unwrap_or(value);
        if self.has_data {
            self.data.push('\n');
        }
        self.data.push_str(&String::from_utf8_lossy(value));
        self.has_data = true;
        None
    }
}

/// The reason for a JSON-RPC error: `data.kind` when the server names it,
/// else a name for the code.
pub(crate) fn rpc_failure(error: &Value) -> Failure {
    let message = error
        .get("message")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let kind = error
        .pointer("/data/kind")
        .and_then(Value::as_str)
        .filter(|kind| !kind.is_empty() && kind.len() <= 40);
    let reason = match (kind, error.get("code").and_then(Value::as_i64)) {
        (Some(kind), _) => kind.to_owned(),
        (None, Some(code)) => code_name(code),
        (None, None) => "bad_response".to_owned(),
    };
    Failure::new(reason, clip(message))
}

/// A name for a JSON-RPC error code: the standard ones, MCP's, and the
/// server-range codes mcp-service gives its rejections.
fn code_name(code: i64) -> String {
    let Ok(code) = i32::try_from(code) else {
        return format!("jsonrpc_{code}");
    };
    let name = match code {
        code::PARSE_ERROR => "parse_error",
        code::INVALID_REQUEST => "invalid_request",
        code::METHOD_NOT_FOUND => "method_not_found",
        code::INVALID_PARAMS => "invalid_params",
        code::INTERNAL_ERROR => "internal_error",
        code::RATE_LIMITED => "rate_limited",
        code::OVERLOADED => "overloaded",
        code::CIRCUIT_OPEN => "circuit_open",
        code::TIMEOUT => "timeout",
        code::TOO_LARGE => "too_large",
        code::CANCELLED => "cancelled",
        code::UNAVAILABLE => "unavailable",
        // MCP's resource-not-found.
        -32002 => "resource_not_found",
        other => return format!("jsonrpc_{other}"),
    };
    name.to_owned()
}

/// A non-2xx answer that carries no JSON-RPC error.
fn http_failure(status: StatusCode, body: &[u8]) -> Failure {
    let text = String::from_utf8_lossy(body);
    // rmcp answers an unknown or expired session with a bare 404.
    if status == StatusCode::NOT_FOUND && text.to_ascii_lowercase().contains("session") {
        return Failure::new("session_gone", clip(&text));
    }
    Failure::new(format!("http_{}", status.as_u16()), clip(&text))
}

fn tool_error_text(result: &Value) -> String {
    let text = result
        .pointer("/content/0/text")
        .and_then(Value::as_str)
        .unwrap_or("isError: true");
    clip(text)
}

fn too_large() -> Failure {
    Failure::new(
        "too_large",
        format!("response body over {} MiB", MAX_BODY_BYTES >> 20),
    )
}

/// The error and its sources on one line (hyper's own message is terse).
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    clip(&text)
}

fn clip(text: &str) -> String {
    let text = text.trim();
    match text.char_indices().nth(SAMPLE_BYTES) {
        Some((end, _)) => format!("{}...", &text[..end]),
        None => text.to_owned(),
    }
}

/// GETs `uri` and parses it as JSON; `None` on any failure, since stats
/// are optional.
pub(crate) async fn get_json(http: &HttpClient, uri: &Uri) -> Option<Value> {
    let mut request = Request::new(Full::new(Bytes::new()));
    *request.uri_mut() = uri.clone();
    let response = tokio::time::timeout(Duration::from_secs(5), http.request(request))
        .await
        .ok()?
        .ok()?;
    if !response.status().is_success() {
        return None;
    }
    let bytes = tokio::time::timeout(Duration::from_secs(5), read_body(response.into_body()))
        .await
        .ok()?
        .ok()?;
    serde_json::from_slice(&bytes).ok()
}

/// GETs `uri` and says whether it answered 200.
pub(crate) async fn is_healthy(http: &HttpClient, uri: &Uri) -> bool {
    let mut request = Request::new(Full::new(Bytes::new()));
    *request.uri_mut() = uri.clone();
    match tokio::time::timeout(Duration::from_secs(2), http.request(request)).await {
        Ok(Ok(response)) => {
            let ok = response.status() == StatusCode::OK;
            let _ = read_body(response.into_body()).await;
            ok
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_stream_yields_data_and_skips_priming_and_comments() {
        let mut events = EventStream::default();
        let mut seen = events.push(b"id: 0\nretry: 3000\ndata:\n\n: ping\n\nid: 1\ndata: {\"a\":");
        assert!(seen.is_empty());
        seen.extend(events.push(b"1}\r\n\r\nevent: message\ndata: x\ndata: y\n"));
        assert_eq!(seen, ["{\"a\":1}"]);
        assert_eq!(events.finish(), ["x\ny"]);
    }

    #[test]
    fn a_response_is_matched_by_id() {
        let payload = r#"{"jsonrpc":"2.0","id":7,"result":{}}"#;
        assert!(response_to(payload, 7).is_some());
        assert!(response_to(payload, 8).is_none());
        assert!(response_to(r#"{"jsonrpc":"2.0","method":"notifications/progress"}"#, 7).is_none());
    }

    #[test]
    fn errors_are_named_by_kind_then_code() {
        let limited = json!({ "code": -32010, "message": "slow down", "data": { "kind": "rate_limited", "retryAfterMs": 5 } });
        assert_eq!(rpc_failure(&limited).reason, "rate_limited");
        assert_eq!(rpc_failure(&limited).detail, "slow down");
        assert_eq!(
            rpc_failure(&json!({ "code": -32012, "message": "" })).reason,
            "circuit_open"
        );
        assert_eq!(
            rpc_failure(&json!({ "code": -32603, "message": "boom" })).reason,
            "internal_error"
        );
        assert_eq!(
            rpc_failure(&json!({ "code": -31999, "message": "" })).reason,
            "jsonrpc_-31999"
        );
        assert_eq!(
            rpc_failure(&json!({ "message": "?" })).reason,
            "bad_response"
        );
        assert_eq!(
            http_failure(StatusCode::NOT_FOUND, b"Not Found: Session not found").reason,
            "session_gone"
        );
        assert_eq!(
            http_failure(StatusCode::SERVICE_UNAVAILABLE, b"").reason,
            "http_503"
        );
    }

    #[test]
    fn request_bodies_are_valid_json_rpc() {
        let args = serde_json::Map::from_iter([("text".to_owned(), json!("a \"quoted\" word"))]);
        let body = Call::call_tool("echo", &args).body(42);
        let value: Value = serde_json::from_slice(&body).unwrap_or_default();
        assert_eq!(value["id"], 42);
        assert_eq!(value["method"], "tools/call");
        assert_eq!(value["params"]["arguments"]["text"], "a \"quoted\" word");
        let body = Call::read_resource("demo://slow/100").body(1);
        let value: Value = serde_json::from_slice(&body).unwrap_or_default();
        assert_eq!(value["params"]["uri"], "demo://slow/100");
    }
}
