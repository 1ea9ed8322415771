//! What the gateway tests share: an rmcp upstream that exercises every
//! kind of message, a gateway on loopback, and a raw Streamable HTTP client
//! that shows exactly what the gateway answers.

#![allow(dead_code, reason = "each test file uses part of it")]
#![allow(
    deprecated,
    reason = "the probe sends log messages and asks for roots, which rmcp marks deprecated \
              (SEP-2577) while the protocol versions the gateway serves still carry them"
)]

use std::{
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    time::Duration,
};

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::{
    client::legacy::{Client, connect::HttpConnector},
    rt::TokioExecutor,
};
use mcp_stack::gateway::{Gateway, GatewayConfig};
use rmcp::{
    ErrorData, ServerHandler,
    model::{
        CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, JsonObject,
        ListResourcesResult, ListToolsResult, PaginatedRequestParams, ProgressNotificationParam,
        ReadResourceRequestParams, ReadResourceResponse, ReadResourceResult, Resource,
        ResourceContents, ServerCapabilities, ServerConfig, Tool, ToolAnnotations,
    },
    service::{RequestContext, RoleServer},
    transport::streamable_http_server::{
        StreamableHttpServerConfig, StreamableHttpService, session::local::LocalSessionManager,
    },
};
use serde_json::{Value, json};
use tokio::{net::TcpListener, sync::oneshot};

/// An upstream with a tool for each thing a gateway must carry.
#[derive(Clone, Default)]
pub(crate) struct Probe {
    /// Tools added by `grow`.
    extra: Arc<Mutex<Vec<String>>>,
    /// Set when a `wait` call saw its cancellation.
    pub(crate) cancelled: Arc<AtomicBool>,
    /// Set when a `wait` call started.
    pub(crate) waiting: Arc<AtomicBool>,
    /// Calls of `tools/list` and reads that reached the upstream.
    pub(crate) lists: Arc<AtomicU64>,
    pub(crate) reads: Arc<AtomicU64>,
}

fn schema(properties: Value) -> Arc<JsonObject> {
    let schema = json!({ "type": "object", "properties": properties });
    Arc::new(schema.as_object().cloned().unwrap_or_default())
}

fn text(text: impl Into<String>) -> CallToolResponse {
    CallToolResponse::Complete(CallToolResult::success(vec![ContentBlock::text(text)]))
}

impl Probe {
    fn tools(&self) -> Vec<Tool> {
        let mut tools = vec![
            Tool::new(
                "echo",
                "Returns its text.",
                schema(json!({"text": {"type": "string"}})),
            )
            .annotate(ToolAnnotations::new().read_only(true)),
            Tool::new(
                "progress",
                "Reports three steps of progress.",
                schema(json!({})),
            ),
            Tool::new("wait", "Waits until it is cancelled.", schema(json!({}))),
            Tool::new(
                "grow",
                "Adds a tool and says the list changed.",
                schema(json!({"name": {"type": "string"}})),
            ),
            Tool::new("roots", "Asks the client for its roots.", schema(json!({}))),
            Tool::new(
                "log",
                "Sends a log message, then answers.",
                schema(json!({})),
            ),
        ];
        for name in self
            .extra
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .iter()
        {
            tools.push(Tool::new(name.clone(), "Added by grow.", schema(json!({}))));
        }
        tools
    }
}

impl ServerHandler for Probe {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(
            ServerCapabilities::builder()
                .enable_tools()
                .enable_tool_list_changed()
                .enable_resources()
                .enable_logging()
                .build(),
        )
    }

    async fn list_tools(
        &self,
        _: Option<PaginatedRequestParams>,
        _: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        self.lists.fetch_add(1, Ordering::SeqCst);
        Ok(ListToolsResult::with_all_items(self.tools())
            .with_ttl_ms(60_000)
            .with_cache_scope(rmcp::model::CacheScope::Public))
    }

    async fn call_tool(
        &self,
        params: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        let argument = |key: &str| {
            params
                .arguments
                .as_ref()
                .and_then(|arguments| arguments.get(key))
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned()
        };
        match &*params.name {
            "echo" => Ok(text(argument("text"))),
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
                Ok(text("done"))
            }
            "wait" => {
                self.waiting.store(true, Ordering::SeqCst);
                tokio::select! {
                    () = context.ct.cancelled() => {
                        self.cancelled.store(true, Ordering::SeqCst);
                        Err(ErrorData::internal_error("cancelled", None))
                    }
                    () = tokio::time::sleep(Duration::from_secs(30)) => Ok(text("never cancelled")),
                }
            }
            "grow" => {
                self.extra
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .push(argument("name"));
                let _ = context.peer.notify_tool_list_changed().await;
                Ok(text("grown"))
            }
            "roots" => {
                let roots = context
                    .peer
                    .list_roots()
                    .await
                    .map_err(|error| ErrorData::internal_error(error.to_string(), None))?;
                let uris: Vec<String> = roots.roots.into_iter().map(|root| root.uri).collect();
                Ok(text(uris.join(",")))
            }
            "log" => {
                let message = rmcp::model::LoggingMessageNotificationParam::new(
                    rmcp::model::LoggingLevel::Info,
                    json!("hello from the upstream"),
                );
                let _ = context.peer.notify_logging_message(message).await;
                Ok(text("logged"))
            }
            other if self.tools().iter().any(|tool| tool.name == other) => {
                Ok(text(format!("{other} ran")))
            }
            other => Err(ErrorData::invalid_params(
                format!("no tool named {other}"),
                None,
            )),
        }
    }

    async fn list_resources(
        &self,
        _: Option<PaginatedRequestParams>,
        _: RequestContext<RoleServer>,
    ) -> Result<ListResourcesResult, ErrorData> {
        Ok(ListResourcesResult::with_all_items(vec![Resource::new(
            "probe://static",
            "static",
        )]))
    }

    async fn read_resource(
        &self,
        params: ReadResourceRequestParams,
        _: RequestContext<RoleServer>,
    ) -> Result<ReadResourceResponse, ErrorData> {
        self.reads.fetch_add(1, Ordering::SeqCst);
        if params.uri != "probe://static" {
            return Err(ErrorData::resource_not_found(
                format!("no resource {}", params.uri),
                None,
            ));
        }
        Ok(ReadResourceResponse::Complete(
            ReadResourceResult::new(vec![ResourceContents::text("static text", params.uri)])
                .with_ttl_ms(60_000)
                .with_cache_scope(rmcp::model::CacheScope::Public),
        ))
    }
}

/// A server on a loopback port until dropped.
pub(crate) struct Running {
    pub(crate) url: String,
    pub(crate) base: String,
    task: tokio::task::JoinHandle<()>,
    stop: Option<oneshot::Sender<()>>,
}

impl Running {
    /// Asks the server to shut down; whether it stopped within `within`.
    pub(crate) async fn shut_down(mut self, within: Duration) -> bool {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        tokio::time::timeout(within, &mut self.task).await.is_ok()
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        self.task.abort();
    }
}

/// `handler` over rmcp's Streamable HTTP at `/mcp`.
pub(crate) async fn upstream<H: ServerHandler + Clone + Send + Sync + 'static>(
    handler: H,
) -> Running {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    serve_upstream_on(handler, listener)
}

/// `handler` on `listener` (an upstream started again on its old port).
pub(crate) fn serve_upstream_on<H: ServerHandler + Clone + Send + Sync + 'static>(
    handler: H,
    listener: TcpListener,
) -> Running {
    let address = listener.local_addr().unwrap();
    let service = StreamableHttpService::new(
        move || Ok(handler.clone()),
        Arc::new(LocalSessionManager::default()),
        StreamableHttpServerConfig::default(),
    );
    let app = axum::Router::new().nest_service("/mcp", service);
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Running {
        url: format!("http://{address}/mcp"),
        base: format!("http://{address}"),
        task,
        stop: None,
    }
}

/// The gateway `config` describes, on a loopback port.
pub(crate) async fn gateway(config: &GatewayConfig) -> Running {
    let gateway = Gateway::new(config).await.unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        let _ = gateway
            .serve(listener, async move {
                let _ = stopped.await;
            })
            .await;
    });
    Running {
        url: format!("http://{address}/mcp"),
        base: format!("http://{address}"),
        task,
        stop: Some(stop),
    }
}

/// A gateway configuration with no metrics recorder installed, so tests in
/// one process do not fight over it.
pub(crate) fn config(
    upstreams: impl IntoIterator<Item = (&'static str, mcp_stack::gateway::UpstreamConfig)>,
) -> GatewayConfig {
    let mut config = GatewayConfig::default();
    config.stack.metrics.prometheus = false;
    for (name, upstream) in upstreams {
        config.upstreams.insert(name.to_owned(), upstream);
    }
    config
}

/// What the gateway answered one HTTP request.
#[derive(Debug)]
pub(crate) struct Answer {
    pub(crate) status: StatusCode,
    pub(crate) headers: HeaderMap,
    /// The JSON-RPC messages of the body: one for JSON, each event's for SSE.
    pub(crate) messages: Vec<Value>,
    pub(crate) text: String,
}

impl Answer {
    pub(crate) fn is_event_stream(&self) -> bool {
        self.headers
            .get(http::header::CONTENT_TYPE)
            .is_some_and(|value| value.as_bytes().starts_with(b"text/event-stream"))
    }

    /// The last message: the response.
    pub(crate) fn response(&self) -> &Value {
        self.messages.last().unwrap_or(&Value::Null)
    }
}

/// A raw Streamable HTTP client for one session.
#[derive(Clone)]
pub(crate) struct Wire {
    http: Client<HttpConnector, Full<Bytes>>,
    pub(crate) url: String,
    pub(crate) session: Option<HeaderValue>,
    pub(crate) version: HeaderValue,
    pub(crate) authorization: Option<HeaderValue>,
}

impl Wire {
    pub(crate) fn new(url: &str) -> Self {
        Self {
            http: Client::builder(TokioExecutor::new()).build(HttpConnector::new()),
            url: url.to_owned(),
            session: None,
            version: HeaderValue::from_static("2025-11-25"),
            authorization: None,
        }
    }

    /// `initialize` and `notifications/initialized`; returns the result.
    pub(crate) async fn initialize(&mut self) -> Value {
        let answer = self
            .post(json!({
                "jsonrpc": "2.0", "id": 0, "method": "initialize",
                "params": {
                    "protocolVersion": "2025-11-25",
                    "capabilities": {"roots": {"listChanged": true}},
                    "clientInfo": {"name": "wire", "version": "1"},
                },
            }))
            .await;
        assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
        self.session = answer.headers.get("mcp-session-id").cloned();
        assert!(self.session.is_some(), "initialize opens a session");
        let initialized = self
            .post(json!({"jsonrpc": "2.0", "method": "notifications/initialized"}))
            .await;
        assert_eq!(initialized.status, StatusCode::ACCEPTED);
        answer.response()["result"].clone()
    }

    pub(crate) fn request(&self, method: Method, body: Bytes) -> Request<Full<Bytes>> {
        let mut request = Request::new(Full::new(body));
        *request.method_mut() = method;
        *request.uri_mut() = self.url.parse().unwrap();
        let headers = request.headers_mut();
        headers.insert("content-type", HeaderValue::from_static("application/json"));
        headers.insert(
            "accept",
            HeaderValue::from_static("application/json, text/event-stream"),
        );
        headers.insert("mcp-protocol-version", self.version.clone());
        if let Some(session) = &self.session {
            headers.insert("mcp-session-id", session.clone());
        }
        if let Some(authorization) = &self.authorization {
            headers.insert("authorization", authorization.clone());
        }
        request
    }

    pub(crate) async fn post(&self, message: Value) -> Answer {
        self.send(self.request(Method::POST, Bytes::from(message.to_string())))
            .await
    }

    /// A `tools/call` of `name` with `arguments`, under request `id`.
    pub(crate) async fn call(&self, id: u64, name: &str, arguments: Value) -> Answer {
        self.post(json!({
            "jsonrpc": "2.0", "id": id, "method": "tools/call",
            "params": {"name": name, "arguments": arguments},
        }))
        .await
    }

    /// Opens the session's GET stream; its messages arrive on the receiver
    /// until the stream or the receiver ends.
    pub(crate) async fn listen(&self) -> tokio::sync::mpsc::UnboundedReceiver<Value> {
        let mut request = self.request(Method::GET, Bytes::new());
        request
            .headers_mut()
            .insert("accept", HeaderValue::from_static("text/event-stream"));
        let response = tokio::time::timeout(Duration::from_secs(10), self.http.request(request))
            .await
            .expect("a GET stream within 10 s")
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        let (sender, receiver) = tokio::sync::mpsc::unbounded_channel();
        let mut body = response.into_body();
        tokio::spawn(async move {
            let mut pending = String::new();
            while let Some(Ok(frame)) = body.frame().await {
                let Ok(data) = frame.into_data() else {
                    continue;
                };
                pending.push_str(&String::from_utf8_lossy(&data));
                while let Some(end) = pending.find("\n\n") {
                    let event: String = pending.drain(..end + 2).collect();
                    for message in events(&event) {
                        if sender.send(message).is_err() {
                            return;
                        }
                    }
                }
            }
        });
        receiver
    }

    pub(crate) async fn send(&self, request: Request<Full<Bytes>>) -> Answer {
        let response = tokio::time::timeout(Duration::from_secs(30), self.http.request(request))
            .await
            .expect("an answer within 30 s")
            .unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let body = tokio::time::timeout(Duration::from_secs(30), response.into_body().collect())
            .await
            .expect("the whole body within 30 s")
            .unwrap()
            .to_bytes();
        let text = String::from_utf8_lossy(&body).into_owned();
        let is_stream = headers
            .get(http::header::CONTENT_TYPE)
            .is_some_and(|value| value.as_bytes().starts_with(b"text/event-stream"));
        let messages = if is_stream {
            events(&text)
        } else {
            serde_json::from_str(&text)
                .map(|value| vec![value])
                .unwrap_or_default()
        };
        Answer {
            status,
            headers,
            messages,
            text,
        }
    }
}

/// The JSON messages of an SSE body.
pub(crate) fn events(text: &str) -> Vec<Value> {
    text.split("\n\n")
        .filter_map(|event| {
            let data: Vec<&str> = event
                .lines()
                .filter_map(|line| line.strip_prefix("data:"))
                .map(|data| data.strip_prefix(' ').unwrap_or(data))
                .collect();
            (!data.is_empty())
                .then(|| serde_json::from_str(&data.join("\n")).ok())
                .flatten()
        })
        .collect()
}

/// Polls `condition` every 10 ms for up to `within`.
pub(crate) async fn eventually(within: Duration, mut condition: impl FnMut() -> bool) -> bool {
    let deadline = tokio::time::Instant::now() + within;
    while tokio::time::Instant::now() < deadline {
        if condition() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    condition()
}
