//! The MCP gateway (feature `gateway`): the whole stack in front of MCP
//! servers written in any language, reached over Streamable HTTP or run as
//! stdio child processes.
//!
//! - [`Gateway`]: built from a [`GatewayConfig`]; serves its own lean
//!   Streamable HTTP edge for raw JSON-RPC at `[http].path` (default
//!   `/mcp`) with `/metrics`, `/stats` and `/healthz` (per upstream), and a
//!   shutdown that drains. Embed its [`into_router`](Gateway::into_router)
//!   in an axum application of your own, or [`serve`](Gateway::serve) it.
//! - Each upstream gets a stack of its own ([`StackLayer`], from the
//!   top-level `StackConfig` sections with the upstream's own keys over
//!   them): its cache (filled per upstream, invalidated by the upstream's
//!   `list_changed` and `resources/updated`, on every node through the
//!   backplane with Redis), its rate limits, its breaker (a dead upstream
//!   fails fast while the others serve), its timeouts, its metrics
//!   (labelled `mcp.upstream.name`), its bulkhead.
//! - The stack's leaf forwards the raw message: the gateway reads a
//!   message's envelope and the fields the layers need (method, tool name,
//!   URI, cursor, `_meta`), never a typed model of it.
//! - One upstream passes through untouched. Several are namespaced
//!   ([`namespace`]): `NAME__tool`, `NAME+uri`, lists merged with each
//!   upstream paged and cached on its own, `initialize` answered by the
//!   gateway with their capabilities merged.
//!
//! Sessions: every client session opens an upstream session on each HTTP
//! upstream with the client's own `initialize` params; a session an
//! upstream forgot (it restarted) is opened again on the next request.
//! Stdio children are shared by all sessions, with request ids and
//! progress tokens remapped (see [Stdio](#stdio) below).
//! The client's `Authorization` is forwarded, dropped or replaced per
//! upstream ([`UpstreamConfig::authorization`]).
//!
//! What travels through: results and errors as the upstream wrote them;
//! progress, logging and every other notification the upstream sends
//! during a request (the POST's answer becomes an event stream); the
//! upstream's requests to the client (sampling, elicitation, roots),
//! relayed under an id of the gateway's and answered back; a client's
//! `notifications/cancelled`, which reaches the upstream under the
//! upstream's id (a request dropped by a deadline is cancelled the same
//! way); the session's GET stream.
//!
//! Protocol versions: sessions at 2025-11-25, 2025-06-18, 2025-03-26 and
//! 2024-11-05 (the client's choice when the upstream agrees; with one
//! upstream, what it negotiates); requests of 2026-07-28 and later, which
//! carry no session, are forwarded without one, with the `Mcp-Method` and
//! `Mcp-Name` headers of the request as forwarded.
//!
//! # Stdio
//!
//! Every client session shares one child per stdio upstream: a child per
//! session would start a process (a second or so, tens of MiB, for Python
//! or Node) per client and multiply whatever the server holds, while the
//! stack already shares one cache between sessions. The gateway
//! initializes the child once, declaring `roots`, `sampling` and
//! `elicitation`, and gives each forwarded request an id of its own
//! (its progress token too), mapping answers and progress back. The child's
//! own requests and log messages carry no link to a request on stdio: they
//! go to the client whose request to it started last. A child that exits
//! is started again after a doubling delay (250 ms to 30 s); meanwhile its
//! requests fail fast with an `unavailable` error the breaker counts.
//!
//! ```no_run
//! use mcp_stack::gateway::{Gateway, GatewayConfig, UpstreamConfig};
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let mut config = GatewayConfig::default();
//! config
//!     .upstreams
//!     .insert("search".into(), UpstreamConfig::http("http://127.0.0.1:9000/mcp"));
//! config
//!     .upstreams
//!     .insert("files".into(), UpstreamConfig::stdio("python3", ["server.py"]));
//! let gateway = Gateway::new(&config).await?;
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:8080").await?;
//! gateway.serve(listener, mcp_stack::serve::shutdown_signal()).await?;
//! # Ok(())
//! # }
//! ```

mod config;
mod core;
mod edge;
mod error;
pub mod namespace;
mod relay;
mod session;
mod upstream;
mod wire;

use std::{future::Future, io, net::SocketAddr, sync::Arc, time::Duration};

use axum::Router;
use http::HeaderValue;
use mcp_service::{ThreadCopies, jsonrpc::DecodeLimits};
use tokio::net::TcpListener;
use tower_layer::Layer;

pub use config::{
    DEFAULT_MAX_CONNECTIONS, DEFAULT_MAX_SESSIONS, GatewayConfig, GatewaySettings, UpstreamConfig,
};
pub use error::GatewayError;

use self::{
    core::{Core, Upstream},
    session::SessionTable,
    upstream::{
        Leg, UpstreamInfo,
        http::{Authorization, HttpLeg, HttpOptions},
        stdio::{StdioLeg, StdioOptions},
    },
};
use crate::{
    McpStack, StackLayer,
    client::HttpClient,
    config::HttpConfig,
    serve::{Drain, serve_draining},
};

/// The session-based protocol versions the gateway speaks with clients,
/// newest first.
pub const SESSION_VERSIONS: [&str; 4] = ["2025-11-25", "2025-06-18", "2025-03-26", "2024-11-05"];

/// How often idle sessions are looked for.
const REAP_PERIOD: Duration = Duration::from_secs(30);

/// An MCP gateway: upstream servers behind one edge, each behind a stack of
/// its own. See the [module docs](self).
pub struct Gateway {
    core: Arc<Core>,
    http: HttpConfig,
}

impl std::fmt::Debug for Gateway {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gateway")
            .field("upstreams", &self.upstream_names().collect::<Vec<_>>())
            .field("http", &self.http)
            .finish_non_exhaustive()
    }
}

impl Gateway {
    /// Builds the gateway `config` describes: a stack per upstream, a pool
    /// per HTTP upstream, a child started per stdio upstream. Call it
    /// inside a Tokio runtime.
    pub async fn new(config: &GatewayConfig) -> Result<Self, GatewayError> {
        Self::with_stacks(config, |_, stack| stack).await
    }

    /// As [`new`](Self::new), with `customize` given each upstream's name
    /// and stack (built from the configuration) to change in code before it
    /// is built: a cache source, a limit the file cannot say.
    pub async fn with_stacks(
        config: &GatewayConfig,
        customize: impl Fn(&str, McpStack) -> McpStack,
    ) -> Result<Self, GatewayError> {
        config.check()?;
        if config.upstreams.is_empty() {
            return Err(GatewayError::NoUpstream);
        }
        let settings = &config.gateway;
        let sessions = Arc::new(SessionTable::new(
            settings.max_sessions,
            settings.session_idle_timeout.0,
        ));
        let namespaced = config.upstreams.len() > 1;
        let mut upstreams = Vec::new();
        for (index, (name, upstream)) in config.upstreams.iter().enumerate() {
            let failed = |source| GatewayError::Upstream {
                upstream: name.clone(),
                source,
            };
            let mut stack_config = config.stack_for(name)?;
            // Upstreams share Redis, not keys: each cache and limit has its own.
            if let Some(redis) = &mut stack_config.redis {
                redis.prefix = format!("{}:upstream:{name}", redis.prefix);
            }
            let stack = named(McpStack::from_config(&stack_config).map_err(failed)?, name);
            let stack = customize(name, stack).build().map_err(failed)?;
            let info = Arc::new(UpstreamInfo {
                name: name.as_str().into(),
                index,
                namespaced,
                invalidator: stack.cache().map(mcp_cache::CacheLayer::invalidator),
                sessions: sessions.clone(),
            });
            let leg = match (&upstream.url, &upstream.command) {
                (Some(url), _) => Leg::Http(http_leg(info.clone(), url, upstream, settings)?),
                (None, Some(program)) => Leg::Stdio(StdioLeg::start(
                    info.clone(),
                    StdioOptions {
                        program: program.clone(),
                        args: upstream.args.clone(),
                        env: upstream
                            .env
                            .iter()
                            .map(|(key, value)| (key.clone(), value.clone()))
                            .collect(),
                        max_line_bytes: settings.max_response_bytes,
                        start_timeout: Duration::from_secs(30),
                        backoff_initial: Duration::from_millis(250),
                        backoff_max: Duration::from_secs(30),
                    },
                )),
                (None, None) => {
                    return Err(GatewayError::Config(format!(
                        "upstreams.{name}: no url or command"
                    )));
                }
            };
            upstreams.push(Upstream {
                name: info.name.clone(),
                service: ThreadCopies::new(stack.layer(leg.clone())),
                leg,
                stack,
            });
        }
        let limits = DecodeLimits {
            max_message_bytes: config.stack.http.max_body_bytes,
            ..DecodeLimits::default()
        };
        let core = Core::new(
            upstreams,
            sessions,
            limits,
            config.stack.http.max_body_bytes,
            config.stack.http.allowed_hosts.clone(),
        );
        Ok(Self {
            core: Arc::new(core),
            http: config.stack.http.clone(),
        })
    }

    /// The upstreams' names, in routing order.
    pub fn upstream_names(&self) -> impl Iterator<Item = &str> {
        self.core.upstreams.iter().map(|upstream| &*upstream.name)
    }

    /// The stack of upstream `name`: its statistics, cache, breaker.
    pub fn stack(&self, name: &str) -> Option<&StackLayer> {
        self.core
            .upstreams
            .iter()
            .find(|upstream| &*upstream.name == name)
            .map(|upstream| &upstream.stack)
    }

    /// A one-line summary per upstream, for a start-up log.
    pub fn summary(&self) -> String {
        let mut summary = String::new();
        for upstream in &self.core.upstreams {
            let transport = upstream.leg.health();
            let target = transport
                .get("url")
                .or_else(|| transport.get("command"))
                .and_then(serde_json::Value::as_str)
                .unwrap_or_default();
            summary.push_str(&format!("upstream {:<16} {target}\n", upstream.name));
        }
        summary
    }

    /// The router (MCP at `[http].path`, `/metrics`, `/stats`, `/healthz`)
    /// and what controls its drain, for embedding in an axum application.
    /// Idle sessions are expired only while [`serve`](Self::serve) runs;
    /// an embedder calls [`Gateway::shutdown`] when done.
    pub fn into_router(&self) -> (Router, Drain) {
        let drain = Drain::default();
        let side = edge::side_routes(self.core.clone());
        (
            edge::router(self.core.clone(), &self.http.path, &drain, side),
            drain,
        )
    }

    /// Serves on `listener` until `shutdown` completes, then lets requests
    /// in flight finish (up to `[http].shutdown_timeout`), ends the
    /// sessions (and their upstream sessions) and stops the children.
    pub async fn serve(
        self,
        listener: TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> io::Result<()> {
        let (router, drain) = self.into_router();
        let edge = edge::Edge::new(self.core.clone(), &self.http.path, &drain, router);
        let reaper = tokio::spawn(self.core.clone().reap(REAP_PERIOD));
        let outcome = serve_draining(
            listener,
            edge,
            drain,
            self.http.shutdown_timeout.0,
            shutdown,
        )
        .await;
        reaper.abort();
        self.shutdown();
        outcome
    }

    /// Ends every session and its upstream sessions, and stops the
    /// background work (children, listeners).
    pub fn shutdown(&self) {
        for session in self.core.sessions.clear() {
            self.core.close_upstream_sessions(&session);
        }
        for upstream in &self.core.upstreams {
            upstream.leg.shutdown();
        }
    }

    /// Binds `[http].listen`, says where on stdout, and serves until
    /// Ctrl-C or SIGTERM.
    pub async fn run(self) -> io::Result<()> {
        let address: SocketAddr = self.http.listen.parse().map_err(|error| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "http.listen `{}` is not an address: {error}",
                    self.http.listen
                ),
            )
        })?;
        let listener = TcpListener::bind(address).await?;
        println!(
            "mcp-stack gateway on http://{}{}",
            listener.local_addr()?,
            self.http.path
        );
        self.serve(listener, crate::serve::shutdown_signal()).await
    }
}

/// The stack's layers named after the upstream, so their metrics and
/// statistics stay apart.
fn named(mut stack: McpStack, name: &str) -> McpStack {
    let label = name.to_owned();
    stack.metrics = stack.metrics.take().map(|metrics| metrics.upstream(label));
    stack.cache = stack.cache.take().map(|cache| cache.name(name.to_owned()));
    stack.breaker = stack
        .breaker
        .take()
        .map(|breaker| breaker.name(name.to_owned()));
    stack.concurrency = stack
        .concurrency
        .take()
        .map(|pools| pools.name(name.to_owned()));
    stack
}

fn http_leg(
    info: Arc<UpstreamInfo>,
    url: &str,
    upstream: &UpstreamConfig,
    settings: &GatewaySettings,
) -> Result<HttpLeg, GatewayError> {
    let invalid = |why: String| GatewayError::Config(format!("upstreams.{}: {why}", info.name));
    let url =
        crate::client::http_client::parse_url(url).map_err(|error| invalid(error.to_string()))?;
    let authorization = match upstream.authorization.as_str() {
        "forward" => Authorization::Forward,
        "drop" => Authorization::Drop,
        other => {
            let variable = other.strip_prefix("env:").unwrap_or(other);
            let value = std::env::var(variable).map_err(|_| {
                invalid(format!("authorization: the variable {variable} is not set"))
            })?;
            let mut value = HeaderValue::try_from(value)
                .map_err(|_| invalid(format!("authorization: {variable} is not a header value")))?;
            value.set_sensitive(true);
            Authorization::Replace(value)
        }
    };
    let client = HttpClient::builder()
        .max_idle_per_host(upstream.max_connections)
        .build();
    Ok(HttpLeg::new(
        info,
        client,
        HttpOptions {
            url,
            authorization,
            max_connections: upstream.max_connections,
            max_response_bytes: settings.max_response_bytes,
            max_event_bytes: settings.max_response_bytes,
        },
    ))
}
