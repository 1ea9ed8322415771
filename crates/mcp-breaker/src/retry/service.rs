//! [`Retry`]: the service.

use std::{
    sync::Arc,
    task::{Context, Poll},
};

use mcp_service::{McpError, McpRequest};
use tower_service::Service;

use super::{ResponseFuture, layer::Policy};

/// A service whose safe requests are retried; see [`RetryLayer`](super::RetryLayer).
#[derive(Debug, Clone)]
pub struct Retry<S> {
    inner: S,
    policy: Arc<Policy>,
}

impl<S> Retry<S> {
    pub(crate) fn new(inner: S, policy: Arc<Policy>) -> Self {
        Self { inner, policy }
    }

    /// The wrapped service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }
}

impl<S, Request> Service<Request> for Retry<S>
where
    S: Service<Request> + Clone,
    S::Error: Into<McpError>,
    Request: McpRequest + Clone,
{
    type Response = S::Response;
    type Error = McpError;
    type Future = ResponseFuture<S, Request>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), McpError>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, request: Request) -> Self::Future {
        if !self.policy.is_safe(&request) {
            return ResponseFuture::once(self.inner.call(request));
        }
        self.policy.budget.deposit();
        let kept = request.clone();
        // The clone that retries must be made ready again before each call.
        let service = self.inner.clone();
        ResponseFuture::retrying(self.inner.call(request), service, kept, self.policy.clone())
    }
}
