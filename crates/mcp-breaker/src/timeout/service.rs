//! [`Timeout`]: the service.

use std::{
    sync::Arc,
    task::{Context, Poll},
};

use mcp_service::{McpError, McpRequest};
use tower_service::Service;

use super::{DeadlineExtender, ResponseFuture, layer::Deadlines};

/// A service whose calls have deadlines; see [`TimeoutLayer`](super::TimeoutLayer).
#[derive(Debug, Clone)]
pub struct Timeout<S> {
    inner: S,
    deadlines: Arc<Deadlines>,
}

impl<S> Timeout<S> {
    pub(crate) fn new(inner: S, deadlines: Arc<Deadlines>) -> Self {
        Self { inner, deadlines }
    }

    /// The wrapped service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }
}

impl<S, Request> Service<Request> for Timeout<S>
where
    S: Service<Request>,
    S::Error: Into<McpError>,
    Request: McpRequest,
{
    type Response = S::Response;
    type Error = McpError;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), McpError>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, mut request: Request) -> Self::Future {
        let deadline = self.deadlines.for_request(&request);
        // Taken before the request moves: the handler holds the same token.
        let cancellation = deadline.and(request.cancellation().cloned());
        let extender = (deadline.is_some() && self.deadlines.extend_on_progress).then(|| {
            let extender = DeadlineExtender::new();
            request.insert_extension(extender.clone());
            extender
        });
        ResponseFuture::new(self.inner.call(request), deadline, cancellation, extender)
    }
}
