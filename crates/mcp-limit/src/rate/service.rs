//! [`RateLimit`]: the service.

use std::{
    sync::Arc,
    task::{Context, Poll},
};

use mcp_service::{McpError, McpRequest};
use tower_service::Service;

use super::{
    Decision, ResponseFuture,
    layer::{Limiter, Route},
};

/// A service behind a rate limit; see [`RateLimitLayer`](super::RateLimitLayer).
#[derive(Debug, Clone)]
pub struct RateLimit<S> {
    inner: S,
    limiter: Arc<Limiter>,
}

impl<S> RateLimit<S> {
    pub(crate) fn new(inner: S, limiter: Arc<Limiter>) -> Self {
        Self { inner, limiter }
    }

    /// The wrapped service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }
}

impl<S, Request> Service<Request> for RateLimit<S>
where
    S: Service<Request> + Clone,
    S::Error: Into<McpError>,
    Request: McpRequest,
{
    type Response = S::Response;
    type Error = McpError;
    type Future = ResponseFuture<S, Request>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), McpError>> {
        // The limit is decided in `call`; readiness reserves nothing.
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, request: Request) -> Self::Future {
        if self.limiter.passthrough {
            return ResponseFuture::calling(self.inner.call(request));
        }
        let decision = match self.limiter.route(&request) {
            Route::Decided(decision) => decision,
            #[cfg(feature = "redis")]
            Route::Remote(decision) => {
                return ResponseFuture::asking(
                    decision,
                    self.limiter.clone(),
                    self.inner.clone(),
                    request,
                );
            }
        };
        match decision {
            Decision::Admit => {
                self.limiter.admissions.increment(1);
                ResponseFuture::calling(self.inner.call(request))
            }
            // The bucket is charged; the clone is made ready after the wait.
            Decision::AdmitAfter(wait) => {
                self.limiter.admissions.increment(1);
                ResponseFuture::waiting(wait, self.inner.clone(), request)
            }
            Decision::Reject(retry_after) => {
                self.limiter.rejections.increment(1);
                ResponseFuture::rejected(McpError::RateLimited { retry_after })
            }
        }
    }
}
