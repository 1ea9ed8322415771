//! [`AdaptiveLimit`]: the service.

use std::{
    sync::Arc,
    task::{Context, Poll},
};

use mcp_service::{McpError, McpRequest};
use tower_service::Service;

use super::{ResponseFuture, layer::Adaptive};

/// A service behind an adaptive limit; see [`AdaptiveLimitLayer`](super::AdaptiveLimitLayer).
#[derive(Debug, Clone)]
pub struct AdaptiveLimit<S> {
    inner: S,
    adaptive: Arc<Adaptive>,
}

impl<S> AdaptiveLimit<S> {
    pub(crate) fn new(inner: S, adaptive: Arc<Adaptive>) -> Self {
        Self { inner, adaptive }
    }
}

impl<S, Request> Service<Request> for AdaptiveLimit<S>
where
    S: Service<Request>,
    S::Error: Into<McpError>,
    Request: McpRequest,
{
    type Response = S::Response;
    type Error = McpError;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), McpError>> {
        // The slot is taken in `call`; readiness holds none.
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, request: Request) -> Self::Future {
        let adaptive = &self.adaptive;
        if adaptive.exempt.contains(request.class()) {
            return ResponseFuture::exempt(self.inner.call(request));
        }
        match adaptive.slots.try_acquire() {
            Some(slot) => {
                adaptive.admissions.increment(1);
                let in_flight = adaptive.slots.in_use();
                let started = adaptive.clock.nanos();
                ResponseFuture::limited(
                    self.inner.call(request),
                    slot,
                    adaptive.clone(),
                    started,
                    in_flight,
                )
            }
            None => {
                adaptive.rejections.increment(1);
                ResponseFuture::overloaded()
            }
        }
    }
}
