//! [`KeyedCircuitBreakerLayer`]: one breaker per tool, method or route, with
//! the number of breakers bounded.

use std::{
    sync::Arc,
    task::{Context, Poll},
    time::Duration,
};

use mcp_service::{McpError, McpRequest, McpResponse};
use moka::sync::Cache;
use tokio::time::Instant;
use tower_layer::Layer;
use tower_service::Service;

use super::{
    ResponseFuture,
    config::CircuitBreakerConfig,
    state::{Circuit, State},
};
use crate::classify::Classifier;

/// What a keyed breaker keys by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BreakerKey {
    /// The tool of a `tools/call`; other requests by their method.
    Tool,
    /// The method.
    Method,
    /// The [`Route`] extension a router set (a gateway's upstream); requests
    /// without one by their method.
    Route,
}

/// A request extension naming where a request goes, for breakers keyed by
/// [`BreakerKey::Route`]: one breaker per upstream in a gateway.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Route(pub Arc<str>);

/// One breaker per key, all with the same configuration.
///
/// Keys can come from clients (tool names), so their number is bounded:
/// at most `max_keys` breakers are kept, chosen by moka's frequency-aware
/// admission so a flood of made-up names cannot push out the breakers of
/// real tools, and a breaker idle for `key_idle` is forgotten (it would be
/// closed and empty anyway, or its open time long past).
#[derive(Debug, Clone)]
pub struct KeyedCircuitBreakerLayer {
    shared: Arc<Keyed>,
    classifier: Classifier,
}

#[derive(Debug)]
struct Keyed {
    config: CircuitBreakerConfig,
    key: BreakerKey,
    circuits: Cache<Arc<str>, Arc<Circuit>>,
}

impl Keyed {
    fn circuit(&self, key: &str) -> Arc<Circuit> {
        if let Some(circuit) = self.circuits.get(key) {
            return circuit;
        }
        self.circuits.get_with(Arc::from(key), || {
            Arc::new(Circuit::new(self.config.clone(), Instant::now(), true))
        })
    }
}

impl KeyedCircuitBreakerLayer {
    pub(crate) fn new(
        config: CircuitBreakerConfig,
        classifier: Classifier,
        key: BreakerKey,
        max_keys: u64,
        key_idle: Duration,
    ) -> Self {
        let circuits = Cache::builder()
            .max_capacity(max_keys)
            .time_to_idle(key_idle)
            .build();
        Self {
            shared: Arc::new(Keyed {
                config,
                key,
                circuits,
            }),
            classifier,
        }
    }

    /// A handle to watch and steer the breakers at run time.
    pub fn handle(&self) -> KeyedCircuitHandle {
        KeyedCircuitHandle {
            shared: self.shared.clone(),
        }
    }
}

impl<S> Layer<S> for KeyedCircuitBreakerLayer {
    type Service = KeyedCircuitBreaker<S>;

    fn layer(&self, inner: S) -> KeyedCircuitBreaker<S> {
        KeyedCircuitBreaker {
            inner,
            shared: self.shared.clone(),
            classifier: self.classifier,
        }
    }
}

/// A service behind keyed breakers; see [`KeyedCircuitBreakerLayer`].
#[derive(Debug, Clone)]
pub struct KeyedCircuitBreaker<S> {
    inner: S,
    shared: Arc<Keyed>,
    classifier: Classifier,
}

impl<S, Request> Service<Request> for KeyedCircuitBreaker<S>
where
    S: Service<Request>,
    S::Response: McpResponse,
    S::Error: Into<McpError>,
    Request: McpRequest,
{
    type Response = S::Response;
    type Error = McpError;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), McpError>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, request: Request) -> Self::Future {
        let key = match self.shared.key {
            BreakerKey::Tool => request.tool_name(),
            BreakerKey::Method => None,
            BreakerKey::Route => request.extension::<Route>().map(|route| &*route.0),
        }
        .unwrap_or_else(|| request.method());
        let circuit = self.shared.circuit(key);
        let inner = &mut self.inner;
        ResponseFuture::admit(&circuit, self.classifier, || inner.call(request))
    }
}

/// Watches and steers keyed breakers at run time. Cheap to clone.
#[derive(Debug, Clone)]
pub struct KeyedCircuitHandle {
    shared: Arc<Keyed>,
}

impl KeyedCircuitHandle {
    /// The state of the breaker for `key`; `None` if there is none (never
    /// used, or forgotten while idle, which means closed).
    pub fn state(&self, key: &str) -> Option<State> {
        self.shared.circuits.get(key).map(|circuit| circuit.state())
    }

    /// Rejects every call for `key` until [`reset`](Self::reset).
    pub fn force_open(&self, key: &str) {
        self.shared.circuit(key).force(State::ForcedOpen);
    }

    /// Closes the breaker for `key` with an empty window.
    pub fn reset(&self, key: &str) {
        if let Some(circuit) = self.shared.circuits.get(key) {
            circuit.force(State::Closed);
        }
    }

    /// How many breakers are kept now (after pending evictions run).
    pub fn len(&self) -> u64 {
        self.shared.circuits.run_pending_tasks();
        self.shared.circuits.entry_count()
    }

    /// Whether no breaker is kept.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}
