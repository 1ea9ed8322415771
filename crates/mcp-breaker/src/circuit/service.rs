//! [`CircuitBreaker`]: the service.

use std::{
    sync::Arc,
    task::{Context, Poll},
};

use mcp_service::{McpError, McpResponse};
use tokio::time::Instant;
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
        match self.circuit.acquire(Instant::now) {
            Ok(permit) => {
                // The clock is read only when slow calls are judged.
                let started = self.circuit.measures_duration().then(Instant::now);
                ResponseFuture::admitted(
                    self.inner.call(request),
                    self.circuit.clone(),
                    permit,
                    self.classifier,
                    started,
                )
            }
            Err(retry_after) => {
                self.circuit.count_rejection();
                ResponseFuture::rejected(McpError::CircuitOpen { retry_after })
            }
        }
    }
}
