//! rmcp's `StreamableHttpClient` over [`HttpClient`]: the MCP Streamable
//! HTTP exchanges (POST a message, GET the server's stream, DELETE the
//! session) and what each HTTP answer means to rmcp's transport.

use std::{borrow::Cow, collections::HashMap, sync::Arc};

use bytes::Bytes;
use futures::stream::BoxStream;
use http::{
    HeaderMap, HeaderName, HeaderValue, Method, Request, StatusCode,
    header::{ACCEPT, AUTHORIZATION, CONTENT_LENGTH, CONTENT_TYPE, RETRY_AFTER, WWW_AUTHENTICATE},
};
use http_body_util::Full;
use rmcp::{
    ErrorData,
    model::{ClientJsonRpcMessage, ClientRequest, JsonRpcMessage, RequestId, ServerJsonRpcMessage},
    transport::streamable_http_client::{
        AuthRequiredError, HttpStatusError, InsufficientScopeError, SseError, StreamableHttpClient,
        StreamableHttpError, StreamableHttpPostResponse, StreamableHttpResponseLimits,
    },
};
use sse_stream::Sse;
use tokio::time::Instant;

use super::{
    HttpClient, HttpClientError,
    body::{BodyError, read_prefix, read_whole},
    http_client::parse_url,
    sse::{Oversize, event_stream},
};

type Error = StreamableHttpError<HttpClientError>;
type EventStream = BoxStream<'static, Result<Sse, SseError>>;

const SESSION_ID: HeaderName = HeaderName::from_static("mcp-session-id");
const LAST_EVENT_ID: HeaderName = HeaderName::from_static("last-event-id");
const JSON: &str = "application/json";
const EVENT_STREAM: &str = "text/event-stream";
/// How much of an unusable body an error message quotes.
const PREVIEW_BYTES: usize = 256;

impl StreamableHttpClient for HttpClient {
    type Error = HttpClientError;

    async fn post_message(
        &self,
        uri: Arc<str>,
        message: ClientJsonRpcMessage,
        session_id: Option<Arc<str>>,
        auth_header: Option<String>,
        custom_headers: HashMap<HeaderName, HeaderValue>,
    ) -> Result<StreamableHttpPostResponse, Error> {
        let limits = StreamableHttpResponseLimits::default();
        self.post_message_with_response_limits(
            uri,
            message,
            session_id,
            auth_header,
            custom_headers,
            limits,
        )
        .await
    }

    async fn post_message_with_max_sse_event_size(
        &self,
        uri: Arc<str>,
        message: ClientJsonRpcMessage,
        session_id: Option<Arc<str>>,
        auth_header: Option<String>,
        custom_headers: HashMap<HeaderName, HeaderValue>,
        max_sse_event_size: usize,
    ) -> Result<StreamableHttpPostResponse, Error> {
        let mut limits = StreamableHttpResponseLimits::default();
        limits.max_sse_event_size = max_sse_event_size;
        self.post_message_with_response_limits(
            uri,
            message,
            session_id,
            auth_header,
            custom_headers,
            limits,
        )
        .await
    }

    async fn post_message_with_response_limits(
        &self,
        uri: Arc<str>,
        message: ClientJsonRpcMessage,
        session_id: Option<Arc<str>>,
        auth_header: Option<String>,
        custom_headers: HashMap<HeaderName, HeaderValue>,
        limits: StreamableHttpResponseLimits,
    ) -> Result<StreamableHttpPostResponse, Error> {
        let body = serde_json::to_vec(&message)
            .map_err(|error| StreamableHttpError::Client(HttpClientError::Encode(error)))?;
        let mut request = new_request(
            Method::POST,
            &uri,
            Full::new(Bytes::from(body)),
            custom_headers,
            auth_header.as_deref(),
        )?;
        let headers = request.headers_mut();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static(JSON));
        headers.insert(
            ACCEPT,
            HeaderValue::from_static("application/json, text/event-stream"),
        );
        let had_session = session_id.is_some();
        if let Some(session_id) = session_id {
            headers.insert(SESSION_ID, header_value("Mcp-Session-Id", &session_id)?);
        }

        let (response, deadline) = self.send(request).await.map_err(Error::Client)?;
        let status = response.status();
        refuse_on_challenge(status, response.headers())?;
        if matches!(status, StatusCode::ACCEPTED | StatusCode::NO_CONTENT) {
            return Ok(StreamableHttpPostResponse::Accepted);
        }
        if status == StatusCode::NOT_FOUND && had_session {
            return Err(StreamableHttpError::SessionExpired);
        }
        let answer = Answer::of(&message, had_session, status, response.headers());
        if !status.is_success() {
            return self
                .refused(answer, response.into_body(), limits, deadline)
                .await;
        }
        if answer.awaits_nothing && answer.declared_length == Some(0) {
            // Some servers answer a notification with an empty 200, not 202.
            return Ok(StreamableHttpPostResponse::Accepted);
        }
        match answer.payload {
            Payload::EventStream => Ok(StreamableHttpPostResponse::Sse(
                event_stream(
                    response.into_body(),
                    limits.max_sse_event_size,
                    oversize_policy(&message),
                ),
                answer.session_id,
            )),
            Payload::Json => {
                let body = read_whole(
                    response.into_body(),
                    answer.declared_length,
                    limits.max_json_response_size,
                );
                let body = match tokio::time::timeout_at(deadline, body).await {
                    Err(_) => return Err(Error::Client(self.timed_out())),
                    Ok(Err(BodyError::Read(error))) => {
                        return Err(Error::Client(HttpClientError::Body(error)));
                    }
                    Ok(Err(BodyError::TooLarge)) => {
                        return Err(StreamableHttpError::ResponseBodyTooLarge {
                            max_size: limits.max_json_response_size,
                        });
                    }
                    Ok(Ok(body)) => body,
                };
                match serde_json::from_slice::<ServerJsonRpcMessage>(&body) {
                    Ok(reply) => Ok(StreamableHttpPostResponse::Json(reply, answer.session_id)),
                    // Nothing was waiting for a reply, so a useless one harms nothing.
                    Err(_) if answer.awaits_nothing => Ok(StreamableHttpPostResponse::Accepted),
                    Err(error) => Err(StreamableHttpError::UnexpectedServerResponse(
                        format!(
                            "the JSON response is not a JSON-RPC message ({error}); it begins: {}",
                            preview(&body)
                        )
                        .into(),
                    )),
                }
            }
            Payload::Other(_) if answer.awaits_nothing => Ok(StreamableHttpPostResponse::Accepted),
            Payload::Other(content_type) => {
                Err(StreamableHttpError::UnexpectedContentType(content_type))
            }
        }
    }

    async fn delete_session(
        &self,
        uri: Arc<str>,
        session_id: Arc<str>,
        auth_header: Option<String>,
        custom_headers: HashMap<HeaderName, HeaderValue>,
    ) -> Result<(), Error> {
        let mut request = new_request(
            Method::DELETE,
            &uri,
            Full::default(),
            custom_headers,
            auth_header.as_deref(),
        )?;
        request
            .headers_mut()
            .insert(SESSION_ID, header_value("Mcp-Session-Id", &session_id)?);
        let (response, _) = self.send(request).await.map_err(Error::Client)?;
        let status = response.status();
        if status == StatusCode::METHOD_NOT_ALLOWED {
            return Err(StreamableHttpError::ServerDoesNotSupportDeleteSession);
        }
        // The session is gone either way: deleting is idempotent.
        if status == StatusCode::NOT_FOUND {
            return Ok(());
        }
        refuse_on_challenge(status, response.headers())?;
        if let Some(error) = http_status_error(status, response.headers()) {
            return Err(error.into());
        }
        if !status.is_success() {
            return Err(StreamableHttpError::UnexpectedServerResponse(
                format!("deleting the session was refused with HTTP {status}").into(),
            ));
        }
        // The (empty) answer is read to its end by the pool, which then
        // uses the connection again.
        drop(response);
        Ok(())
    }

    async fn get_stream(
        &self,
        uri: Arc<str>,
        session_id: Option<Arc<str>>,
        last_event_id: Option<String>,
        auth_header: Option<String>,
        custom_headers: HashMap<HeaderName, HeaderValue>,
    ) -> Result<EventStream, Error> {
        let max_sse_event_size = StreamableHttpResponseLimits::default().max_sse_event_size;
        self.get_stream_with_max_sse_event_size(
            uri,
            session_id,
            last_event_id,
            auth_header,
            custom_headers,
            max_sse_event_size,
        )
        .await
    }

    async fn get_stream_with_max_sse_event_size(
        &self,
        uri: Arc<str>,
        session_id: Option<Arc<str>>,
        last_event_id: Option<String>,
        auth_header: Option<String>,
        custom_headers: HashMap<HeaderName, HeaderValue>,
        max_sse_event_size: usize,
    ) -> Result<EventStream, Error> {
        let mut request = new_request(
            Method::GET,
            &uri,
            Full::default(),
            custom_headers,
            auth_header.as_deref(),
        )?;
        let headers = request.headers_mut();
        headers.insert(ACCEPT, HeaderValue::from_static(EVENT_STREAM));
        let had_session = session_id.is_some();
        if let Some(session_id) = session_id {
            headers.insert(SESSION_ID, header_value("Mcp-Session-Id", &session_id)?);
        }
        if let Some(last_event_id) = last_event_id {
            headers.insert(
                LAST_EVENT_ID,
                header_value("Last-Event-ID", &last_event_id)?,
            );
        }
        let (response, _) = self.send(request).await.map_err(Error::Client)?;
        let status = response.status();
        if status == StatusCode::METHOD_NOT_ALLOWED {
            return Err(StreamableHttpError::ServerDoesNotSupportSse);
        }
        refuse_on_challenge(status, response.headers())?;
        if status == StatusCode::NOT_FOUND && had_session {
            return Err(StreamableHttpError::SessionExpired);
        }
        if let Some(error) = http_status_error(status, response.headers()) {
            return Err(error.into());
        }
        if !status.is_success() {
            return Err(StreamableHttpError::UnexpectedServerResponse(
                format!("the server's event stream was refused with HTTP {status}").into(),
            ));
        }
        match Payload::of(response.headers()) {
            Payload::EventStream => Ok(event_stream(
                response.into_body(),
                max_sse_event_size,
                Oversize::Skip,
            )),
            Payload::Json => Err(StreamableHttpError::UnexpectedContentType(Some(
                JSON.into(),
            ))),
            Payload::Other(content_type) => {
                Err(StreamableHttpError::UnexpectedContentType(content_type))
            }
        }
    }
}

impl HttpClient {
    /// A POST answered with neither 2xx, 202, a challenge nor an expired
    /// session: a JSON-RPC error when the body is one, else the status.
    async fn refused(
        &self,
        mut answer: Answer<'_>,
        body: super::pool::Body,
        limits: StreamableHttpResponseLimits,
        deadline: Instant,
    ) -> Result<StreamableHttpPostResponse, Error> {
        let may_be_json_rpc_error = matches!(answer.payload, Payload::Json)
            && !matches!(
                answer.status,
                StatusCode::TOO_MANY_REQUESTS | StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN
            );
        let status_error = match answer.status_error.take() {
            Some(error) if !may_be_json_rpc_error => return Err(error.into()),
            other => other,
        };
        let diagnostic = if may_be_json_rpc_error {
            let read = read_whole(body, answer.declared_length, limits.max_json_response_size);
            match tokio::time::timeout_at(deadline, read).await {
                Ok(Ok(mut whole)) => {
                    if let Ok(JsonRpcMessage::Error(error)) =
                        serde_json::from_slice::<ServerJsonRpcMessage>(&whole)
                    {
                        if let Some(id) = answer.rejected_discover() {
                            let error = ServerJsonRpcMessage::error(error.error, Some(id));
                            return Ok(StreamableHttpPostResponse::Json(error, None));
                        }
                        return Ok(StreamableHttpPostResponse::Json(
                            JsonRpcMessage::Error(error),
                            answer.session_id.take(),
                        ));
                    }
                    whole.truncate(limits.max_error_response_size);
                    whole
                }
                Ok(Err(BodyError::TooLarge)) => {
                    return Err(status_error.map_or(
                        StreamableHttpError::ResponseBodyTooLarge {
                            max_size: limits.max_json_response_size,
                        },
                        Into::into,
                    ));
                }
                // The status still says what happened; the body was only a detail.
                Ok(Err(BodyError::Read(_))) | Err(_) => Vec::new(),
            }
        } else {
            let read = read_prefix(body, limits.max_error_response_size);
            match tokio::time::timeout_at(deadline, read).await {
                Ok(Ok(prefix)) => prefix,
                Ok(Err(_)) | Err(_) => Vec::new(),
            }
        };
        if let Some(id) = answer.rejected_discover() {
            let error = ErrorData::invalid_request(
                format!(
                    "server/discover refused with HTTP {}: {}",
                    answer.status,
                    preview(&diagnostic)
                ),
                None,
            );
            let error = ServerJsonRpcMessage::error(error, Some(id));
            return Ok(StreamableHttpPostResponse::Json(error, None));
        }
        if let Some(error) = status_error {
            return Err(error.into());
        }
        Err(StreamableHttpError::UnexpectedServerResponse(
            format!(
                "HTTP {}: {}",
                answer.status,
                String::from_utf8_lossy(&diagnostic)
            )
            .into(),
        ))
    }
}

/// What the head of a POST's answer says, read before the body is taken.
struct Answer<'a> {
    message: &'a ClientJsonRpcMessage,
    had_session: bool,
    status: StatusCode,
    payload: Payload,
    declared_length: Option<u64>,
    session_id: Option<String>,
    status_error: Option<HttpStatusError>,
    /// A notification, response or error: no reply is owed to it.
    awaits_nothing: bool,
}

impl<'a> Answer<'a> {
    fn of(
        message: &'a ClientJsonRpcMessage,
        had_session: bool,
        status: StatusCode,
        headers: &HeaderMap,
    ) -> Self {
        Self {
            message,
            had_session,
            status,
            payload: Payload::of(headers),
            declared_length: headers
                .get(CONTENT_LENGTH)
                .and_then(|value| value.to_str().ok())
                .and_then(|value| value.parse().ok()),
            session_id: headers
                .get(SESSION_ID)
                .and_then(|value| value.to_str().ok())
                .map(str::to_owned),
            status_error: http_status_error(status, headers),
            awaits_nothing: !matches!(message, ClientJsonRpcMessage::Request(_)),
        }
    }

    /// The id of a sessionless `server/discover` refused with a 4xx other
    /// than 401/403. A server from before `server/discover` refuses it so,
    /// with a body that rarely carries our request id; rmcp's lifecycle falls
    /// back to `initialize` only on an error it can match to the request, so
    /// the refusal is answered as one.
    fn rejected_discover(&self) -> Option<RequestId> {
        let ClientJsonRpcMessage::Request(request) = self.message else {
            return None;
        };
        let is_auth_failure = matches!(
            self.status,
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN
        );
        let applies = matches!(request.request, ClientRequest::DiscoverRequest(_))
            && !self.had_session
            && self.status.is_client_error()
            && !is_auth_failure;
        applies.then(|| request.id.clone())
    }
}

/// The kind of body an answer carries, by its `Content-Type`.
enum Payload {
    Json,
    EventStream,
    /// Anything else, with the header as sent (if any).
    Other(Option<String>),
}

impl Payload {
    fn of(headers: &HeaderMap) -> Self {
        let Some(value) = headers.get(CONTENT_TYPE) else {
            return Self::Other(None);
        };
        // Media types are case-insensitive and parameters such as a charset
        // do not change them.
        let essence = value
            .to_str()
            .ok()
            .and_then(|value| value.split(';').next())
            .map(str::trim);
        match essence {
            Some(essence) if essence.eq_ignore_ascii_case(JSON) => Self::Json,
            Some(essence) if essence.eq_ignore_ascii_case(EVENT_STREAM) => Self::EventStream,
            _ => Self::Other(Some(String::from_utf8_lossy(value.as_bytes()).into_owned())),
        }
    }
}

/// A POST's event stream carries the answer to its request, which an
/// oversized event fails; anything else has no answer to fail.
fn oversize_policy(message: &ClientJsonRpcMessage) -> Oversize {
    match message {
        ClientJsonRpcMessage::Request(request) => Oversize::FailRequest(request.id.clone()),
        _ => Oversize::Skip,
    }
}

/// A request to `uri` with the caller's headers and the bearer token, if any.
/// The protocol's own headers are set by the caller afterwards, so a custom
/// header cannot displace them.
fn new_request(
    method: Method,
    uri: &str,
    body: Full<Bytes>,
    custom_headers: HashMap<HeaderName, HeaderValue>,
    bearer_token: Option<&str>,
) -> Result<Request<Full<Bytes>>, Error> {
    let uri = parse_url(uri).map_err(Error::Client)?;
    let mut request = Request::new(body);
    *request.method_mut() = method;
    *request.uri_mut() = uri;
    let headers = request.headers_mut();
    for (name, value) in custom_headers {
        // rmcp sets MCP-Protocol-Version through the custom headers itself;
        // the others belong to the transport.
        if name == ACCEPT || name == SESSION_ID || name == LAST_EVENT_ID {
            return Err(StreamableHttpError::ReservedHeaderConflict(
                name.to_string(),
            ));
        }
        headers.insert(name, value);
    }
    if let Some(token) = bearer_token {
        let mut value = header_value("Authorization", &format!("Bearer {token}"))?;
        value.set_sensitive(true);
        headers.insert(AUTHORIZATION, value);
    }
    Ok(request)
}

fn header_value(name: &'static str, value: &str) -> Result<HeaderValue, Error> {
    HeaderValue::try_from(value)
        .map_err(|source| Error::Client(HttpClientError::InvalidHeader { name, source }))
}

/// A 401 or 403 that carries a `WWW-Authenticate` challenge becomes rmcp's
/// authorization error, so an OAuth-aware caller can act on the challenge.
fn refuse_on_challenge(status: StatusCode, headers: &HeaderMap) -> Result<(), Error> {
    if !matches!(status, StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN) {
        return Ok(());
    }
    let Some(challenge) = headers.get(WWW_AUTHENTICATE) else {
        return Ok(());
    };
    let challenge = challenge.to_str().map_err(|_| {
        StreamableHttpError::UnexpectedServerResponse(
            "the WWW-Authenticate header is not visible ASCII".into(),
        )
    })?;
    if status == StatusCode::UNAUTHORIZED {
        return Err(StreamableHttpError::AuthRequired(AuthRequiredError::new(
            challenge.to_owned(),
        )));
    }
    Err(StreamableHttpError::InsufficientScope(
        InsufficientScopeError::new(challenge.to_owned(), required_scope(challenge)),
    ))
}

/// The `scope` parameter of a `WWW-Authenticate` challenge, quoted or not.
fn required_scope(challenge: &str) -> Option<String> {
    // ASCII lowercasing keeps every byte where it was, so offsets carry over.
    let lower = challenge.to_ascii_lowercase();
    let mut searched = 0;
    while let Some(found) = lower[searched..].find("scope=") {
        let start = searched + found;
        let value_start = start + "scope=".len();
        searched = value_start;
        let is_parameter_name =
            start == 0 || matches!(lower.as_bytes().get(start - 1), Some(b' ' | b',' | b'\t'));
        if !is_parameter_name {
            continue;
        }
        let value = &challenge[value_start..];
        let scope = match value.strip_prefix('"') {
            Some(quoted) => quoted.split('"').next(),
            None => value.split([',', ' ', '\t']).next(),
        };
        return scope.filter(|scope| !scope.is_empty()).map(str::to_owned);
    }
    None
}

/// 429 and 5xx keep their status and `Retry-After` for the caller's retry
/// policy; nothing else of the response is kept.
fn http_status_error(status: StatusCode, headers: &HeaderMap) -> Option<HttpStatusError> {
    if status != StatusCode::TOO_MANY_REQUESTS && !status.is_server_error() {
        return None;
    }
    let retry_after = headers
        .get(RETRY_AFTER)
        .and_then(|value| value.to_str().ok())
        .map(str::to_owned);
    Some(HttpStatusError::new(status.as_u16(), retry_after))
}

/// The start of a body, lossily decoded, cut at a character boundary.
fn preview(body: &[u8]) -> Cow<'_, str> {
    if body.is_empty() {
        return Cow::Borrowed("(empty)");
    }
    let text = String::from_utf8_lossy(&body[..body.len().min(PREVIEW_BYTES)]);
    // A multi-byte character cut by the byte limit decodes as U+FFFD: drop it.
    match text {
        Cow::Owned(text) if body.len() > PREVIEW_BYTES => {
            Cow::Owned(text.trim_end_matches('\u{FFFD}').to_owned())
        }
        text => text,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests fail loudly")]

    use super::*;

    #[test]
    fn the_scope_is_found_quoted_or_bare() {
        let quoted = r#"Bearer error="insufficient_scope", scope="files:read files:write""#;
        assert_eq!(
            required_scope(quoted).as_deref(),
            Some("files:read files:write")
        );
        assert_eq!(
            required_scope("Bearer realm=x, Scope=read:data, error=y").as_deref(),
            Some("read:data")
        );
        assert_eq!(required_scope("Bearer realm=x, myscope=no"), None);
        assert_eq!(required_scope("Bearer realm=x"), None);
    }

    #[test]
    fn challenges_map_to_rmcp_auth_errors() {
        let mut headers = HeaderMap::new();
        assert!(refuse_on_challenge(StatusCode::UNAUTHORIZED, &headers).is_ok());
        headers.insert(
            WWW_AUTHENTICATE,
            HeaderValue::from_static(r#"Bearer scope="mcp""#),
        );
        assert!(matches!(
            refuse_on_challenge(StatusCode::UNAUTHORIZED, &headers),
            Err(StreamableHttpError::AuthRequired(error))
                if error.www_authenticate_header == r#"Bearer scope="mcp""#
        ));
        assert!(matches!(
            refuse_on_challenge(StatusCode::FORBIDDEN, &headers),
            Err(StreamableHttpError::InsufficientScope(error))
                if error.get_required_scope() == Some("mcp")
        ));
        assert!(refuse_on_challenge(StatusCode::BAD_REQUEST, &headers).is_ok());
    }

    #[test]
    fn only_429_and_5xx_are_status_errors() {
        let mut headers = HeaderMap::new();
        headers.insert(RETRY_AFTER, HeaderValue::from_static("3"));
        let error = http_status_error(StatusCode::TOO_MANY_REQUESTS, &headers).unwrap();
        assert_eq!(
            (error.status, error.retry_after.as_deref()),
            (429, Some("3"))
        );
        assert!(http_status_error(StatusCode::BAD_GATEWAY, &HeaderMap::new()).is_some());
        assert!(http_status_error(StatusCode::BAD_REQUEST, &headers).is_none());
    }

    #[test]
    fn media_types_ignore_case_and_parameters() {
        let payload = |value: &'static str| {
            let mut headers = HeaderMap::new();
            headers.insert(CONTENT_TYPE, HeaderValue::from_static(value));
            Payload::of(&headers)
        };
        assert!(matches!(
            payload("Application/JSON; charset=utf-8"),
            Payload::Json
        ));
        assert!(matches!(payload("text/event-stream"), Payload::EventStream));
        assert!(matches!(
            payload("application/json-seq"),
            Payload::Other(Some(value)) if value == "application/json-seq"
        ));
        assert!(matches!(
            Payload::of(&HeaderMap::new()),
            Payload::Other(None)
        ));
    }

    #[test]
    fn transport_headers_cannot_be_set_as_custom_headers() {
        for name in ["accept", "mcp-session-id", "last-event-id"] {
            let headers =
                HashMap::from([(HeaderName::from_static(name), HeaderValue::from_static("x"))]);
            let request = new_request(
                Method::GET,
                "http://127.0.0.1/mcp",
                Full::default(),
                headers,
                None,
            );
            assert!(matches!(
                request,
                Err(StreamableHttpError::ReservedHeaderConflict(refused)) if refused == name
            ));
        }
        let allowed = HashMap::from([(
            HeaderName::from_static("mcp-protocol-version"),
            HeaderValue::from_static("2025-11-25"),
        )]);
        let request = new_request(
            Method::GET,
            "http://127.0.0.1/mcp",
            Full::default(),
            allowed,
            Some("alice"),
        )
        .unwrap();
        assert_eq!(request.headers()[AUTHORIZATION], "Bearer alice");
        assert!(request.headers()[AUTHORIZATION].is_sensitive());
    }

    #[test]
    fn previews_are_short_and_whole_characters() {
        assert_eq!(preview(b""), "(empty)");
        // One ASCII byte first, so the limit falls inside a two-byte character.
        let long = format!("a{}", "é".repeat(PREVIEW_BYTES));
        let shown = preview(long.as_bytes());
        assert!(shown.len() <= PREVIEW_BYTES);
        assert!(shown.chars().all(|c| c == 'a' || c == 'é'), "{shown}");
    }
}
