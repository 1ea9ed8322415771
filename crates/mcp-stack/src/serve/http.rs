//! [`HttpServer`]: an MCP server over Streamable HTTP at `/mcp`, with
//! `/metrics`, `/stats` and `/healthz` beside it, and a shutdown that lets
//! requests in flight finish.

use std::{
    future::Future,
    io,
    net::SocketAddr,
    pin::Pin,
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    task::{Context, Poll},
    time::Duration,
};

use axum::{
    Json, Router,
    body::{Body, Bytes, HttpBody},
    extract::Request,
    http::{Method, StatusCode, header},
    middleware::{self, Next},
    response::{IntoResponse, Response},
    routing::get,
};
use rmcp::{
    ServerHandler,
    transport::streamable_http_server::{
        StreamableHttpServerConfig, StreamableHttpService, session::local::LocalSessionManager,
    },
};
use serde_json::json;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::{StackLayer, config::HttpConfig};

/// `/metrics`: the exporter's text, or 404 when none is installed.
pub(crate) fn prometheus_response(exporter: Option<&mcp_metrics::PrometheusExporter>) -> Response {
    match exporter {
        Some(exporter) => (
            [(
                header::CONTENT_TYPE,
                mcp_metrics::PrometheusExporter::CONTENT_TYPE,
            )],
            exporter.render(),
        )
            .into_response(),
        None => (StatusCode::NOT_FOUND, "no Prometheus exporter installed\n").into_response(),
    }
}

/// Serves an rmcp handler (a stack's [`wrap`](StackLayer::wrap), or any
/// other) over Streamable HTTP:
///
/// - `POST/GET/DELETE {path}`: MCP, with sessions, request bodies over
///   `max_body_bytes` refused before they are read, plain JSON responses
///   gzipped when the client accepts it (never SSE streams);
/// - `GET /metrics`: Prometheus text, when the stack installed the exporter;
/// - `GET /stats`: the stack's live [`Stats`](mcp_metrics::Stats) as JSON;
/// - `GET /healthz`: `{"status":"ok"}` with the breaker's state.
///
/// On shutdown it stops accepting connections, waits up to
/// `shutdown_timeout` for requests in flight to finish (their response
/// bodies included), then closes the sessions' event streams.
pub struct HttpServer<H> {
    handler: H,
    stack: Option<StackLayer>,
    config: HttpConfig,
    routes: Router,
}

impl<H> std::fmt::Debug for HttpServer<H> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpServer")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl<H> HttpServer<H>
where
    H: ServerHandler + Clone + Send + Sync + 'static,
{
    /// Serves `handler` with the default [`HttpConfig`].
    pub fn new(handler: H) -> Self {
        Self {
            handler,
            stack: None,
            config: HttpConfig::default(),
            routes: Router::new(),
        }
    }

    /// The stack whose statistics, metrics and breaker the side routes show.
    #[must_use]
    pub fn stack(mut self, stack: &StackLayer) -> Self {
        self.stack = Some(stack.clone());
        self
    }

    /// Where and how to serve.
    #[must_use]
    pub fn config(mut self, config: HttpConfig) -> Self {
        self.config = config;
        self
    }

    /// More routes beside the MCP ones (a gateway's upstream health, say).
    #[must_use]
    pub fn routes(mut self, routes: Router) -> Self {
        self.routes = self.routes.merge(routes);
        self
    }

    /// The router, and what controls its shutdown: for embedding it in an
    /// axum application of your own.
    pub fn into_router(self) -> (Router, Drain) {
        let drain = Drain::default();
        let mut mcp_config = StreamableHttpServerConfig::default()
            .with_cancellation_token(drain.sessions.clone())
            .with_max_request_body_bytes(self.config.max_body_bytes);
        if !self.config.allowed_hosts.is_empty() {
            let mut hosts = mcp_config.allowed_hosts.clone();
            hosts.extend(self.config.allowed_hosts.iter().cloned());
            mcp_config = mcp_config.with_allowed_hosts(hosts);
        }
        let handler = self.handler;
        let mcp = StreamableHttpService::new(
            move || Ok(handler.clone()),
            Arc::new(LocalSessionManager::default()),
            mcp_config,
        );
        let in_flight = drain.in_flight.clone();
        let mut mcp = Router::new()
            .fallback_service(mcp)
            // One middleware, not two: each costs a boxed future and a
            // clone of the service below it on every request.
            .layer(middleware::from_fn(move |request: Request, next: Next| {
                let in_flight = in_flight.clone();
                async move {
                    unreadable_as_json_rpc(count_in_flight(in_flight, request, next).await).await
                }
            }));
        if self.config.compression {
            mcp = mcp.layer(mcp_stream::http::json_compression());
        }
        let stack = self.stack;
        let stats = stack.clone();
        let health = stack.clone();
        let router = Router::new()
            .nest(&self.config.path, mcp)
            .route(
                "/metrics",
                get(move || {
                    let exporter = stack.as_ref().and_then(|stack| stack.exporter().cloned());
                    async move { prometheus_response(exporter.as_ref()) }
                }),
            )
            .route(
                "/stats",
                get(move || {
                    let snapshot = stats
                        .as_ref()
                        .and_then(|stack| stack.stats())
                        .map(mcp_metrics::Stats::snapshot);
                    async move {
                        match snapshot {
                            Some(snapshot) => Json(snapshot).into_response(),
                            None => (StatusCode::NOT_FOUND, "no statistics: metrics are off\n")
                                .into_response(),
                        }
                    }
                }),
            )
            .route(
                "/healthz",
                get(move || {
                    let breaker = health
                        .as_ref()
                        .and_then(StackLayer::breaker)
                        .map(|handle| handle.state().as_str());
                    async move { Json(json!({ "status": "ok", "breaker": breaker })) }
                }),
            )
            .merge(self.routes);
        (router, drain)
    }

    /// Serves on `listener` until `shutdown` completes, then drains.
    pub async fn serve(
        self,
        listener: TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> io::Result<()> {
        let timeout = self.config.shutdown_timeout.0;
        let (router, drain) = self.into_router();
        serve_draining(listener, router, drain, timeout, shutdown).await
    }

    /// Binds `config.listen`, says where on stdout, and serves until
    /// Ctrl-C or SIGTERM.
    pub async fn run(self) -> io::Result<()> {
        let address: SocketAddr = self.config.listen.parse().map_err(|error| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "http.listen `{}` is not an address: {error}",
                    self.config.listen
                ),
            )
        })?;
        let listener = TcpListener::bind(address).await?;
        println!(
            "mcp-stack serving on http://{}{}",
            listener.local_addr()?,
            self.config.path
        );
        self.serve(listener, shutdown_signal()).await
    }
}

/// Serves `service` on `listener` until `shutdown` completes, then lets
/// `drain` finish (requests in flight get up to `timeout`) and closes what
/// is left: the HTTP server's and the gateway's shutdown.
pub(crate) async fn serve_draining<S: Served>(
    listener: TcpListener,
    service: S,
    drain: Drain,
    timeout: Duration,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    let stopping = CancellationToken::new();
    let closer = tokio::spawn({
        let (stopping, drain) = (stopping.clone(), drain.clone());
        async move {
            stopping.cancelled().await;
            drain.finish(timeout).await;
        }
    });
    let server = accept_until(listener, service, shutdown, stopping);
    // Connections still open a moment after the drain are dropped.
    let outcome = tokio::select! {
        outcome = server => outcome,
        () = async {
            drain.done.cancelled().await;
            tokio::time::sleep(Duration::from_secs(1)).await;
        } => Ok(()),
    };
    closer.abort();
    outcome
}

/// Serves each connection `listener` accepts with HTTP/1.1 until
/// `shutdown`; then cancels `stopping`, which tells every connection to
/// finish the request it is on and close, and waits until they all have.
///
/// hyper's own connection, with no layer between it and `service`: axum's
/// `serve` puts an HTTP/2 sniffing reader under each connection and a
/// readiness-checking `Oneshot` around each request, which this server,
/// speaking only HTTP/1.1 to services that are always ready, needs neither
/// of.
async fn accept_until<S: Served>(
    listener: TcpListener,
    service: S,
    shutdown: impl Future<Output = ()> + Send + 'static,
    stopping: CancellationToken,
) -> io::Result<()> {
    // Dropped by every connection task at its end: `closed` then returns.
    let (open, open_watch) = tokio::sync::watch::channel(());
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let (stream, _) = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    accept_failed(error).await;
                    continue;
                }
            },
        };
        // Answers leave in several writes: without TCP_NODELAY each waits
        // for the client's delayed ACK, some 40 ms.
        let _ = stream.set_nodelay(true);
        let connection = Connection {
            service: service.clone(),
        };
        let (stopping, still_open) = (stopping.clone(), open_watch.clone());
        tokio::spawn(async move {
            // Half-closes stay refused: hyper's read for the end of the
            // stream while an answer is pending is how a client's hang-up
            // reaches the service, which Streamable HTTP counts as the
            // request's cancellation. (That read also costs hyper a new
            // 8 KiB read buffer a request, the old one being shared with
            // the request still in flight.)
            let served = hyper::server::conn::http1::Builder::new()
                .serve_connection(hyper_util::rt::TokioIo::new(stream), connection);
            let mut served = std::pin::pin!(served);
            tokio::select! {
                _ = served.as_mut() => {}
                () = stopping.cancelled() => {
                    served.as_mut().graceful_shutdown();
                    let _ = served.await;
                }
            }
            drop(still_open);
        });
    }
    drop(listener);
    drop(open_watch);
    stopping.cancel();
    open.closed().await;
    Ok(())
}

/// A failed accept: a connection that went away before it was taken is
/// passed over; anything else (out of file descriptors, most likely) waits
/// a second, so the loop does not spin while nothing can be accepted.
async fn accept_failed(error: io::Error) {
    if matches!(
        error.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
    ) {
        return;
    }
    tracing::error!(%error, "accepting a connection failed");
    tokio::time::sleep(Duration::from_secs(1)).await;
}

/// What the server serves: an always-ready service of whole HTTP
/// exchanges, cloned for each request.
pub(crate) trait Served:
    tower::Service<Request, Response = Response, Error = std::convert::Infallible, Future: Send>
    + Clone
    + Send
    + 'static
{
}

impl<S> Served for S where
    S: tower::Service<Request, Response = Response, Error = std::convert::Infallible, Future: Send>
        + Clone
        + Send
        + 'static
{
}

/// One connection's service, as hyper calls it: `service`, cloned for each
/// request, with the request body boxed as the router expects.
struct Connection<S> {
    service: S,
}

impl<S: Served> hyper::service::Service<hyper::Request<hyper::body::Incoming>> for Connection<S> {
    type Response = Response;
    type Error = std::convert::Infallible;
    type Future = S::Future;

    fn call(&self, request: hyper::Request<hyper::body::Incoming>) -> Self::Future {
        // Every service served here is always ready (a router, the edge).
        self.service.clone().call(request.map(Body::new))
    }
}

/// What a server's shutdown waits for: requests in flight, then the
/// sessions' streams.
#[derive(Debug, Clone, Default)]
pub struct Drain {
    pub(crate) in_flight: Arc<AtomicUsize>,
    sessions: CancellationToken,
    done: CancellationToken,
}

impl Drain {
    /// Cancelled when the drain closes the sessions: what long-lived
    /// streams watch to end.
    pub fn closing(&self) -> &CancellationToken {
        &self.sessions
    }

    /// MCP requests whose responses are not finished.
    pub fn in_flight(&self) -> usize {
        self.in_flight.load(Ordering::Acquire)
    }

    /// Waits until nothing is in flight or `timeout` passed, then closes
    /// every session.
    pub async fn finish(&self, timeout: Duration) {
        let deadline = tokio::time::Instant::now() + timeout;
        while self.in_flight() > 0 && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        self.sessions.cancel();
        self.done.cancel();
    }
}

/// Counts a POST as in flight until its response body is finished or
/// dropped: over Streamable HTTP the answer travels in the body.
pub(crate) async fn count_in_flight(
    in_flight: Arc<AtomicUsize>,
    request: Request,
    next: Next,
) -> Response {
    if request.method() != Method::POST {
        return next.run(request).await;
    }
    counted(in_flight, next.run(request)).await
}

/// `response`, counted as in flight from now until its body is finished or
/// dropped.
pub(crate) async fn counted(
    in_flight: Arc<AtomicUsize>,
    response: impl Future<Output = Response>,
) -> Response {
    in_flight.fetch_add(1, Ordering::AcqRel);
    let guard = InFlight(in_flight);
    let response = response.await;
    response.map(|body| {
        Body::new(Counted {
            body,
            _guard: guard,
        })
    })
}

/// What rmcp says before the serde error of a body it could not read.
const UNREADABLE: &[u8] = b"fail to deserialize request body ";

/// rmcp answers a body that is not a JSON-RPC message (not JSON, invalid
/// UTF-8, nested past the parser's depth, or not a message) with 415 and
/// plain text; clients expect 400 with the JSON-RPC error: -32700 when the
/// body is not JSON, -32600 when it is JSON but not a request.
async fn unreadable_as_json_rpc(response: Response) -> Response {
    if response.status() != StatusCode::UNSUPPORTED_MEDIA_TYPE {
        return response;
    }
    let (parts, body) = response.into_parts();
    // rmcp's own answers are a line of text; anything longer is not one.
    let Ok(text) = axum::body::to_bytes(body, 4096).await else {
        return StatusCode::UNSUPPORTED_MEDIA_TYPE.into_response();
    };
    let Some(reason) = text.strip_prefix(UNREADABLE) else {
        return Response::from_parts(parts, Body::from(text));
    };
    let reason = String::from_utf8_lossy(reason);
    // serde's data errors: the JSON was read, its shape is wrong.
    let shape = [
        "invalid type",
        "invalid value",
        "invalid length",
        "missing field",
        "unknown field",
        "unknown variant",
        "duplicate field",
        "did not match any variant",
    ];
    let error = if shape.iter().any(|data| reason.contains(data)) {
        mcp_service::RpcError::invalid_request(format!("invalid request: {reason}"))
    } else {
        mcp_service::RpcError::parse_error(format!("invalid JSON: {reason}"))
    };
    let body = mcp_service::jsonrpc::encode_error(None, &error);
    (
        StatusCode::BAD_REQUEST,
        [(header::CONTENT_TYPE, "application/json")],
        body,
    )
        .into_response()
}

struct InFlight(Arc<AtomicUsize>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

pin_project_lite::pin_project! {
    struct Counted {
        #[pin]
        body: Body,
        _guard: InFlight,
    }
}

impl HttpBody for Counted {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, axum::Error>>> {
        self.project().body.poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.body.size_hint()
    }
}

/// Completes on Ctrl-C, or on SIGTERM where there are signals.
pub async fn shutdown_signal() {
    let interrupt = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = interrupt => {}
        () = terminate => {}
    }
}
