//! The hyper client against real rmcp servers on loopback: rmcp's
//! `StreamableHttpService` in axum, driven by rmcp's client over
//! `mcp_stack::client`.

#![cfg(feature = "client")]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests fail loudly"
)]

use std::{
    collections::HashMap,
    convert::Infallible,
    sync::{
        Arc, Mutex,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use axum::serve::ListenerExt;
use axum::{
    body::Body,
    http::{Method, Request, Response, StatusCode, header},
    routing::{get, post},
};
use bytes::Bytes;
use futures::StreamExt;
use mcp_service::Principal;
use mcp_stack::client::{ConnectError, HttpClient, HttpClientError};
use mcp_testkit::DemoHandler;
use rmcp::{
    ClientCacheConfig, ClientHandler, ErrorData, RoleClient, ServerHandler,
    model::{
        CallToolRequestParams, CallToolResponse, CallToolResult, ClientJsonRpcMessage,
        ClientRequest, ContentBlock, ListToolsResult, NumberOrString, PaginatedRequestParams,
        PingRequest, ProgressNotificationParam, ReadResourceRequestParams, ReadResourceResponse,
        ResourceContents, ResourceUpdatedNotificationParam, ServerCapabilities, ServerConfig,
        ServerJsonRpcMessage,
    },
    service::{
        NotificationContext, PeerRequestOptions, RequestContext, RoleServer, RunningService,
    },
    transport::{
        streamable_http_client::{
            StreamableHttpClient, StreamableHttpError, StreamableHttpPostResponse,
            StreamableHttpResponseLimits,
        },
        streamable_http_server::{
            StreamableHttpServerConfig, StreamableHttpService, session::local::LocalSessionManager,
        },
    },
};
use serde_json::json;
use sse_stream::Sse;
use tokio::{net::TcpListener, sync::mpsc};

/// The demo server, plus two tools that talk to the client on their own:
/// `progress` (notifications on the request's stream) and `announce` (a
/// resource update, which rides the session's GET stream).
#[derive(Clone, Default)]
struct Talkative {
    demo: DemoHandler,
}

impl ServerHandler for Talkative {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(
            ServerCapabilities::builder()
                .enable_tools()
                .enable_resources()
                .build(),
        )
    }

    async fn list_tools(
        &self,
        params: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        self.demo.list_tools(params, context).await
    }

    async fn call_tool(
        &self,
        params: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        match params.name.as_ref() {
            "progress" => {
                let token = context
                    .meta
                    .get_progress_token()
                    .ok_or_else(|| ErrorData::invalid_params("no progress token", None))?;
                for step in 1..=3 {
                    let progress = ProgressNotificationParam::new(token.clone(), f64::from(step))
                        .with_total(3.0);
                    let _ = context.peer.notify_progress(progress).await;
                }
                Ok(CallToolResponse::Complete(CallToolResult::success(vec![
                    ContentBlock::text("done"),
                ])))
            }
            "announce" => {
                let updated = ResourceUpdatedNotificationParam::new("demo://static/readme");
                let _ = context.peer.notify_resource_updated(updated).await;
                Ok(CallToolResponse::Complete(CallToolResult::success(vec![])))
            }
            _ => self.demo.call_tool(params, context).await,
        }
    }

    async fn read_resource(
        &self,
        params: ReadResourceRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<ReadResourceResponse, ErrorData> {
        self.demo.read_resource(params, context).await
    }
}

/// What a test client hears from the server outside of replies.
#[derive(Debug, Clone, PartialEq)]
enum Heard {
    Progress(f64),
    Updated(String),
}

#[derive(Clone)]
struct Listener(mpsc::UnboundedSender<Heard>);

impl ClientHandler for Listener {
    async fn on_progress(
        &self,
        params: ProgressNotificationParam,
        _: NotificationContext<RoleClient>,
    ) {
        let _ = self.0.send(Heard::Progress(params.progress));
    }

    async fn on_resource_updated(
        &self,
        params: ResourceUpdatedNotificationParam,
        _: NotificationContext<RoleClient>,
    ) {
        let _ = self.0.send(Heard::Updated(params.uri));
    }
}

/// One HTTP request as the server received it.
#[derive(Debug, Clone)]
struct Seen {
    method: Method,
    authorization: Option<String>,
    session: Option<String>,
}

struct TestServer {
    url: String,
    base: String,
    connections: Arc<AtomicUsize>,
    seen: Arc<Mutex<Vec<Seen>>>,
    deletes: mpsc::UnboundedReceiver<String>,
    sessions: Arc<LocalSessionManager>,
    task: tokio::task::JoinHandle<()>,
}

impl TestServer {
    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }

    fn connections(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }

    fn count(&self, method: &Method) -> usize {
        self.seen().iter().filter(|s| s.method == method).count()
    }

    async fn next_delete(&mut self) -> String {
        tokio::time::timeout(Duration::from_secs(10), self.deletes.recv())
            .await
            .expect("a DELETE reaches the server")
            .unwrap()
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// An MCP server at `/mcp` with a connection counter and a request log, and
/// misbehaving routes under `/bad/` for the limits and the error mapping.
async fn serve(handler: Talkative, config: StreamableHttpServerConfig) -> TestServer {
    let sessions = Arc::new(LocalSessionManager::default());
    let mcp = StreamableHttpService::new(move || Ok(handler.clone()), sessions.clone(), config);
    let seen: Arc<Mutex<Vec<Seen>>> = Arc::default();
    let (delete_tx, deletes) = mpsc::unbounded_channel();
    let record = {
        let seen = seen.clone();
        move |request: Request<Body>| {
            let header = |name: &str| {
                request
                    .headers()
                    .get(name)
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_owned)
            };
            let entry = Seen {
                method: request.method().clone(),
                authorization: header("authorization"),
                session: header("mcp-session-id"),
            };
            if entry.method == Method::DELETE {
                let _ = delete_tx.send(entry.session.clone().unwrap_or_default());
            }
            seen.lock().unwrap().push(entry);
            request
        }
    };
    let app = axum::Router::new()
        .nest_service("/mcp", mcp)
        .route("/bad/endless-event", post(endless_event))
        .route("/bad/big-event", get(big_event))
        .route("/bad/endless-json", post(endless_json))
        .route("/bad/challenge", post(challenge))
        .route("/bad/gone", post(gone).get(gone))
        .route("/bad/busy", post(busy))
        .route("/bad/broken", post(broken))
        .route("/bad/json-rpc-error", post(json_rpc_error))
        .layer(tower::util::MapRequestLayer::new(record));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let connections = Arc::new(AtomicUsize::new(0));
    let counter = connections.clone();
    let listener = listener.tap_io(move |_| {
        counter.fetch_add(1, Ordering::SeqCst);
    });
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    TestServer {
        url: format!("http://{addr}/mcp"),
        base: format!("http://{addr}"),
        connections,
        seen,
        deletes,
        sessions,
        task,
    }
}

async fn serve_default() -> TestServer {
    serve(Talkative::default(), StreamableHttpServerConfig::default()).await
}

fn endless_body(first: &'static [u8], content_type: &'static str) -> Response<Body> {
    let filler = Bytes::from(vec![b'x'; 8192]);
    let chunks = futures::stream::iter(
        std::iter::once(Bytes::from_static(first)).chain(std::iter::repeat(filler)),
    )
    .map(Ok::<_, Infallible>);
    Response::builder()
        .header(header::CONTENT_TYPE, content_type)
        .body(Body::from_stream(chunks))
        .unwrap()
}

async fn endless_event() -> Response<Body> {
    endless_body(b"data: ", "text/event-stream")
}

async fn big_event() -> Response<Body> {
    let body = format!("data: {}\nid: 7\n\ndata: small\n\n", "x".repeat(100 << 10));
    Response::builder()
        .header(header::CONTENT_TYPE, "text/event-stream")
        .body(Body::from(body))
        .unwrap()
}

async fn endless_json() -> Response<Body> {
    endless_body(
        b"{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":\"",
        "application/json",
    )
}

async fn challenge() -> Response<Body> {
    Response::builder()
        .status(StatusCode::UNAUTHORIZED)
        .header(header::WWW_AUTHENTICATE, r#"Bearer resource_metadata="x""#)
        .body(Body::empty())
        .unwrap()
}

async fn gone() -> StatusCode {
    StatusCode::NOT_FOUND
}

async fn busy() -> Response<Body> {
    Response::builder()
        .status(StatusCode::TOO_MANY_REQUESTS)
        .header(header::RETRY_AFTER, "7")
        .body(Body::from("slow down"))
        .unwrap()
}

async fn broken() -> Response<Body> {
    Response::builder()
        .status(StatusCode::BAD_REQUEST)
        .header(header::CONTENT_TYPE, "text/plain")
        .body(Body::from("no such thing"))
        .unwrap()
}

async fn json_rpc_error() -> Response<Body> {
    let error = json!({"jsonrpc": "2.0", "id": 1, "error": {"code": -32601, "message": "nope"}});
    Response::builder()
        .status(StatusCode::BAD_REQUEST)
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(error.to_string()))
        .unwrap()
}

async fn connect(server: &TestServer, client: &HttpClient) -> RunningService<RoleClient, ()> {
    let service = client
        .endpoint(&server.url)
        .unwrap()
        .connect(())
        .await
        .unwrap();
    service
        .peer()
        .set_response_cache_config(ClientCacheConfig::disabled())
        .await;
    service
}

/// A session whose client reports what the server tells it unasked.
async fn listen(
    server: &TestServer,
) -> (
    RunningService<RoleClient, Listener>,
    mpsc::UnboundedReceiver<Heard>,
) {
    let (tx, heard) = mpsc::unbounded_channel();
    let endpoint = HttpClient::new().endpoint(&server.url).unwrap();
    (endpoint.connect(Listener(tx)).await.unwrap(), heard)
}

fn call(name: &'static str, arguments: serde_json::Value) -> CallToolRequestParams {
    let arguments = arguments.as_object().cloned().unwrap_or_default();
    CallToolRequestParams::new(name).with_arguments(arguments)
}

fn text_of(result: &CallToolResult) -> String {
    result.content[0]
        .as_text()
        .expect("a text block")
        .text
        .clone()
}

fn ping() -> ClientJsonRpcMessage {
    ClientJsonRpcMessage::request(
        ClientRequest::PingRequest(PingRequest::default()),
        NumberOrString::Number(1),
    )
}

#[tokio::test]
async fn a_session_initializes_lists_calls_and_reads() {
    let server = serve_default().await;
    let client = connect(&server, &HttpClient::new()).await;

    let info = client.peer_info().expect("the server's initialize result");
    assert!(info.capabilities.tools.is_some(), "{info:?}");
    let tools = client.peer().list_all_tools().await.unwrap();
    assert!(tools.iter().any(|tool| tool.name == "echo"), "{tools:?}");

    let echoed = client
        .call_tool(call("echo", json!({"text": "over hyper"})))
        .await
        .unwrap();
    assert_eq!(text_of(&echoed), "over hyper");

    let read = client
        .read_resource(ReadResourceRequestParams::new("demo://static/readme"))
        .await
        .unwrap();
    let ResourceContents::TextResourceContents { text, .. } = &read.contents[0] else {
        panic!("a text resource: {read:?}");
    };
    assert_eq!(text, "mcp-stack demo server");

    let session = server.seen()[1].session.clone();
    assert!(
        session.is_some(),
        "requests after initialize carry the session"
    );
    client.cancel().await.unwrap();
}

#[tokio::test]
async fn progress_arrives_on_the_request_stream() {
    let server = serve_default().await;
    let (client, mut heard) = listen(&server).await;
    let request =
        ClientRequest::CallToolRequest(rmcp::model::Request::new(call("progress", json!({}))));
    let handle = client
        .send_cancellable_request(request, PeerRequestOptions::no_options())
        .await
        .unwrap();
    handle.await_response().await.unwrap();
    let mut steps = Vec::new();
    for _ in 0..3 {
        let next = tokio::time::timeout(Duration::from_secs(10), heard.recv()).await;
        steps.push(next.expect("three progress notifications").unwrap());
    }
    let expected: Vec<_> = [1.0, 2.0, 3.0].map(Heard::Progress).into();
    assert_eq!(steps, expected);
    client.cancel().await.unwrap();
}

#[tokio::test]
async fn server_messages_arrive_on_the_get_stream() {
    let server = serve_default().await;
    let (client, mut heard) = listen(&server).await;
    // A message sent before the GET stream is attached has nowhere to go, so
    // ask until one arrives.
    let arrived = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            client.call_tool(call("announce", json!({}))).await.unwrap();
            let wait = tokio::time::timeout(Duration::from_millis(200), heard.recv());
            if let Ok(Some(message)) = wait.await {
                return message;
            }
        }
    })
    .await
    .expect("a resource update arrives");
    assert_eq!(arrived, Heard::Updated("demo://static/readme".into()));
    assert!(server.count(&Method::GET) >= 1, "{:?}", server.seen());
    client.cancel().await.unwrap();
}

#[tokio::test]
async fn the_bearer_token_reaches_the_server() {
    let mut server = serve_default().await;
    let client = HttpClient::new()
        .endpoint(&server.url)
        .unwrap()
        .bearer_token("alice")
        .connect(())
        .await
        .unwrap();
    let whoami = client.call_tool(call("whoami", json!({}))).await.unwrap();
    let alice = Principal::from_authorization(b"Bearer alice");
    assert_eq!(text_of(&whoami), alice.to_string());
    client.cancel().await.unwrap();
    server.next_delete().await;
    let seen = server.seen();
    assert!(
        seen.iter()
            .all(|s| s.authorization.as_deref() == Some("Bearer alice")),
        "every request, the DELETE included, carries the token: {seen:?}"
    );
}

#[tokio::test]
async fn closing_deletes_the_session() {
    let mut server = serve_default().await;
    let client = connect(&server, &HttpClient::new()).await;
    client.list_all_tools().await.unwrap();
    assert_eq!(server.sessions.sessions.read().await.len(), 1);
    let session = server.seen()[1].session.clone().unwrap();

    client.cancel().await.unwrap();
    assert_eq!(server.next_delete().await, session);
    assert!(
        server.sessions.sessions.read().await.is_empty(),
        "the server let the session go"
    );
}

#[tokio::test]
async fn dropping_deletes_the_session() {
    let mut server = serve_default().await;
    let client = connect(&server, &HttpClient::new()).await;
    client.list_all_tools().await.unwrap();
    let session = server.seen()[1].session.clone().unwrap();
    drop(client);
    assert_eq!(server.next_delete().await, session);
}

#[tokio::test]
async fn sequential_requests_reuse_one_connection() {
    let server = serve_default().await;
    let client = connect(&server, &HttpClient::new()).await;
    for n in 0..50 {
        let text = format!("call {n}");
        let echoed = client
            .call_tool(call("echo", json!({ "text": text })))
            .await
            .unwrap();
        assert_eq!(text_of(&echoed), text);
    }
    let posts = server.count(&Method::POST);
    assert!(posts >= 52, "initialize, initialized and 50 calls: {posts}");
    // One connection carries the POSTs, one the session's GET stream; the
    // handshake may overlap with the GET and open one more.
    let connections = server.connections();
    assert!(
        connections <= 3,
        "{posts} POSTs over {connections} connections"
    );
    client.cancel().await.unwrap();
}

/// Eight calls at once, each held 100 ms by the server, need eight
/// connections; how many of them a second burst finds idle depends on
/// `max_idle_per_host`.
async fn connections_for_two_bursts(client: HttpClient) -> (usize, usize) {
    let server = serve_default().await;
    let session = connect(&server, &client).await;
    let burst = || {
        futures::future::join_all(
            (0..8).map(|_| session.call_tool(call("slow", json!({"ms": 100})))),
        )
    };
    let before = server.connections();
    for result in burst().await {
        result.unwrap();
    }
    let first = server.connections() - before;
    for result in burst().await {
        result.unwrap();
    }
    let second = server.connections() - before - first;
    session.cancel().await.unwrap();
    (first, second)
}

#[tokio::test]
async fn idle_connections_are_kept_up_to_the_bound() {
    let (first, second) = connections_for_two_bursts(HttpClient::new()).await;
    assert!(first >= 7, "a burst of 8 opens its connections: {first}");
    assert_eq!(second, 0, "the second burst reuses the first one's");

    let (first, second) =
        connections_for_two_bursts(HttpClient::builder().max_idle_per_host(2).build()).await;
    assert!(first >= 7, "{first}");
    assert!(
        second >= first - 3,
        "only 2 (plus the session's own) were kept: {first} then {second}"
    );
}

#[tokio::test]
async fn clones_share_one_pool() {
    let server = serve_default().await;
    let client = HttpClient::new();
    let first = connect(&server, &client.clone()).await;
    first.list_all_tools().await.unwrap();
    first.cancel().await.unwrap();
    let after_first = server.connections();

    let second = connect(&server, &client).await;
    for _ in 0..10 {
        second.list_all_tools().await.unwrap();
    }
    second.cancel().await.unwrap();
    // The first session's POST connection went back to the pool; the second
    // only needs a new one for its own GET stream.
    assert!(
        server.connections() <= after_first + 1,
        "{after_first} then {}",
        server.connections()
    );
}

#[tokio::test]
async fn an_oversized_sse_event_is_refused_and_the_session_goes_on() {
    let server = serve_default().await;
    let client = HttpClient::new()
        .endpoint(&server.url)
        .unwrap()
        .max_sse_event_size(4096)
        .connect(())
        .await
        .unwrap();
    let big = client
        .read_resource(ReadResourceRequestParams::new("demo://generated/65536"))
        .await;
    let refused = big.expect_err("a 64 KiB event is over the 4 KiB limit");
    assert!(
        refused.to_string().contains("max_sse_event_size"),
        "the error names the limit: {refused}"
    );
    let small = client
        .read_resource(ReadResourceRequestParams::new("demo://generated/1024"))
        .await
        .unwrap();
    assert_eq!(small.contents.len(), 1);
    client.cancel().await.unwrap();
}

#[tokio::test]
async fn an_endless_event_fails_its_request_at_the_limit() {
    let server = serve_default().await;
    let url = format!("{}/bad/endless-event", server.base);
    let mut limits = StreamableHttpResponseLimits::default();
    limits.max_sse_event_size = 64 << 10;
    let answer = HttpClient::new()
        .post_message_with_response_limits(url.into(), ping(), None, None, HashMap::new(), limits)
        .await
        .unwrap();
    let StreamableHttpPostResponse::Sse(mut events, _) = answer else {
        panic!("an event stream: {answer:?}");
    };
    let first = tokio::time::timeout(Duration::from_secs(10), events.next())
        .await
        .expect("the limit ends the wait, not the server")
        .expect("an answer")
        .expect("the refusal is an answer, not a stream error");
    let message: ServerJsonRpcMessage = serde_json::from_str(&first.data.unwrap()).unwrap();
    let (error, id) = message.into_error().expect("a JSON-RPC error");
    assert_eq!(id, Some(NumberOrString::Number(1)), "for the request sent");
    assert!(error.message.contains("65536"), "{error:?}");
    assert!(events.next().await.is_none(), "and the stream is over");
}

#[tokio::test]
async fn an_oversized_event_on_the_get_stream_is_skipped() {
    let server = serve_default().await;
    let url = format!("{}/bad/big-event", server.base);
    let events = HttpClient::new()
        .get_stream_with_max_sse_event_size(url.into(), None, None, None, HashMap::new(), 64 << 10)
        .await
        .unwrap();
    let events: Vec<_> = tokio::time::timeout(Duration::from_secs(10), events.collect())
        .await
        .unwrap();
    let events: Vec<Sse> = events.into_iter().map(Result::unwrap).collect();
    assert_eq!(
        events,
        [Sse::default().id("7"), Sse::default().data("small")],
        "the big event's id survives so a resumed stream starts after it"
    );
}

#[tokio::test]
async fn an_endless_json_body_is_refused() {
    let server = serve_default().await;
    let url = format!("{}/bad/endless-json", server.base);
    let mut limits = StreamableHttpResponseLimits::default();
    limits.max_json_response_size = 1 << 20;
    let answer = HttpClient::new()
        .post_message_with_response_limits(url.into(), ping(), None, None, HashMap::new(), limits)
        .await;
    assert!(
        matches!(
            answer,
            Err(StreamableHttpError::ResponseBodyTooLarge { max_size }) if max_size == 1 << 20
        ),
        "{answer:?}"
    );
}

#[tokio::test]
async fn a_stateless_json_server_works_and_its_limit_holds() {
    let mut config = StreamableHttpServerConfig::default();
    config.legacy_session_mode = false;
    config.json_response = true;
    let server = serve(Talkative::default(), config).await;
    let client = HttpClient::new()
        .endpoint(&server.url)
        .unwrap()
        .max_json_response_size(8192)
        .connect(())
        .await
        .unwrap();
    let echoed = client
        .call_tool(call("echo", json!({"text": "as JSON"})))
        .await
        .unwrap();
    assert_eq!(text_of(&echoed), "as JSON");
    let big = client
        .read_resource(ReadResourceRequestParams::new("demo://generated/65536"))
        .await;
    assert!(big.is_err(), "a 64 KiB body is over the 8 KiB limit");
    client
        .read_resource(ReadResourceRequestParams::new("demo://generated/1024"))
        .await
        .unwrap();
    assert!(
        server.seen().iter().all(|s| s.session.is_none()),
        "a stateless server hands out no session"
    );
    client.cancel().await.unwrap();
}

#[tokio::test]
async fn http_failures_map_to_rmcp_errors() {
    let server = serve_default().await;
    let client = HttpClient::new();
    let post = |path: &str, session: Option<&str>| {
        let url = format!("{}{path}", server.base);
        let session = session.map(Arc::from);
        let client = client.clone();
        async move {
            client
                .post_message(url.into(), ping(), session, None, HashMap::new())
                .await
        }
    };

    let challenged = post("/bad/challenge", None).await;
    assert!(
        matches!(&challenged, Err(StreamableHttpError::AuthRequired(error))
            if error.www_authenticate_header == r#"Bearer resource_metadata="x""#),
        "{challenged:?}"
    );
    let expired = post("/bad/gone", Some("old-session")).await;
    assert!(
        matches!(expired, Err(StreamableHttpError::SessionExpired)),
        "{expired:?}"
    );
    let busy = post("/bad/busy", None).await;
    assert!(
        matches!(&busy, Err(StreamableHttpError::HttpStatus(error))
            if error.status == 429 && error.retry_after.as_deref() == Some("7")),
        "{busy:?}"
    );
    let broken = post("/bad/broken", None).await;
    assert!(
        matches!(&broken, Err(StreamableHttpError::UnexpectedServerResponse(text))
            if text.contains("400") && text.contains("no such thing")),
        "{broken:?}"
    );
    let refused = post("/bad/json-rpc-error", None).await;
    assert!(
        matches!(&refused, Ok(StreamableHttpPostResponse::Json(message, _))
            if message.clone().into_error().is_some_and(|(error, _)| error.message == "nope")),
        "a JSON-RPC error in a 4xx is the server's answer: {refused:?}"
    );

    let url: Arc<str> = format!("{}/bad/gone", server.base).into();
    let stream = client
        .get_stream(url, Some("old-session".into()), None, None, HashMap::new())
        .await;
    assert!(matches!(stream, Err(StreamableHttpError::SessionExpired)));
    let not_sse = client
        .get_stream(server.url.as_str().into(), None, None, None, HashMap::new())
        .await;
    assert!(not_sse.is_err(), "a GET without a session is refused");
}

#[tokio::test]
async fn https_is_refused_clearly() {
    let refused = mcp_stack::client::connect("https://127.0.0.1:1/mcp", ()).await;
    match refused {
        Err(ConnectError::Url(error @ HttpClientError::TlsNotSupported { .. })) => {
            assert!(error.to_string().contains("TLS"), "{error}");
        }
        Err(other) => panic!("not the TLS error: {other}"),
        Ok(_) => panic!("connected over https"),
    }

    let direct = HttpClient::new()
        .post_message(
            "https://127.0.0.1:1/mcp".into(),
            ping(),
            None,
            None,
            HashMap::new(),
        )
        .await;
    assert!(
        matches!(
            direct,
            Err(StreamableHttpError::Client(
                HttpClientError::TlsNotSupported { .. }
            ))
        ),
        "{direct:?}"
    );
}
