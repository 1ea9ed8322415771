//! [`ConcurrencyLimit`]: the service.

use std::{
    sync::Arc,
    task::{Context, Poll},
};

use mcp_service::{McpError, McpRequest};
use tower_service::Service;

use super::{ResponseFuture, layer::Pools};

/// A service behind bulkheads; see [`ConcurrencyLimitLayer`](super::ConcurrencyLimitLayer).
#[derive(Debug, Clone)]
pub struct ConcurrencyLimit<S> {
    inner: S,
    pools: Arc<Pools>,
}

impl<S> ConcurrencyLimit<S> {
    pub(crate) fn new(inner: S, pools: Arc<Pools>) -> Self {
        Self { inner, pools }
    }
}

impl<S, Request> Service<Request> for ConcurrencyLimit<S>
where
    S: Service<Request> + Clone,
    S::Error: Into<McpError>,
    Request: McpRequest,
{
    type Response = S::Response;
    type Error = McpError;
    type Future = ResponseFuture<S, Request>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), McpError>> {
        // Slots are taken per request in `call`, by pool; readiness holds none.
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    #[inline]
    fn call(&mut self, request: Request) -> Self::Future {
        let Some(pool) = self.pools.pool_for(&request) else {
            return ResponseFuture::running(self.inner.call(request), None);
        };
        if let Some(slot) = pool.slots.try_acquire() {
            pool.admissions.increment(1);
            return ResponseFuture::running(self.inner.call(request), Some(slot));
        }
        match pool.slots.try_wait() {
            Some(place) => ResponseFuture::queued(pool, place, self.inner.clone(), request),
            None => {
                pool.overloaded.increment(1);
                ResponseFuture::overloaded()
            }
        }
    }
}
