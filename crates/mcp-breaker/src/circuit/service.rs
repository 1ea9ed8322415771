//! [`CircuitBreaker`]: the service.

use std::{
    sync::Arc,
    task::{Context, Poll},
};

use mcp_service::{McpError, McpResponse};
use tower_service::Service;

use super::{ResponseFuture, state::Circuit};
use crate::classify::Classifier;

/// A service behind a circuit breaker; see [`CircuitBreakerLayer`](super::CircuitBreakerLayer).
#[derive(Debug, Clone)]
pub struct CircuitBreaker<S> {
    inner: S,
    circuit: Arc<Circuit>,
    classifier: Classifier,
}

impl<S> CircuitBreaker<S> {
    pub(crate) fn new(inner: S, circuit: Arc<Circuit>, classifier: Classifier) -> Self {
        Self {
            inner,
            circuit,
            classifier,
        }
    }

    /// The wrapped service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }
}

impl<S, Request> Service<Request> for CircuitBreaker<S>
where
    S: Service<Request>,
    S::Response: McpResponse,
    S::Error: Into<McpError>,
{
    type Response = S::Response;
    type Error = McpError;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), McpError>> {
        // Admission is decided per call, so readiness reserves nothing.
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, request: Request) -> Self::Future {
        let inner = &mut self.inner;
        ResponseFuture::admit(&self.circuit, self.classifier, || inner.call(request))
    }
}
