//! [`Metrics`]: the service.

use std::{
    sync::Arc,
    task::{Context, Poll},
};

use mcp_service::{McpError, McpRequest, McpResponse};
use tower_service::Service;

use super::{ResponseFuture, layer::Shared};
use crate::{
    labels::{LabelSet, version_slot},
    recorder, span,
};

/// A service whose requests are measured; see
/// [`MetricsLayer`](super::MetricsLayer).
pub struct Metrics<S> {
    inner: S,
    shared: Arc<Shared>,
    /// This service's copy of the registered names, so a request reads it
    /// without a lock; replaced when `generation` moves on.
    labels: Arc<LabelSet>,
    generation: u64,
}

impl<S> Metrics<S> {
    pub(crate) fn new(inner: S, shared: Arc<Shared>) -> Self {
        let (labels, generation) = shared.snapshot();
        Self {
            inner,
            shared,
            labels,
            generation,
        }
    }

    /// The wrapped service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// Takes the current names, when they changed or their handles are due
    /// to be taken again.
    #[inline]
    fn refresh(&mut self, now: u64) {
        if self.generation != self.shared.generation() || now >= self.labels.expires_at {
            self.refresh_slow(now);
        }
    }

    #[cold]
    fn refresh_slow(&mut self, now: u64) {
        (self.labels, self.generation) = self.shared.current(now);
    }
}

impl<S: Clone> Clone for Metrics<S> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            shared: self.shared.clone(),
            labels: self.labels.clone(),
            generation: self.generation,
        }
    }
}

impl<S: std::fmt::Debug> std::fmt::Debug for Metrics<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics")
            .field("inner", &self.inner)
            .finish_non_exhaustive()
    }
}

impl<S, Request> Service<Request> for Metrics<S>
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

    #[inline]
    fn call(&mut self, request: Request) -> Self::Future {
        if !self.shared.enabled {
            return ResponseFuture::passthrough(self.inner.call(request));
        }
        let span = span::open(&request);
        let recording = self.shared.common.always_record || recorder::installed();
        if !recording && span.is_disabled() {
            // Nothing would keep what is measured: not even the clock is
            // read. Small, so it inlines into the caller with the call.
            return ResponseFuture::passthrough(self.inner.call(request));
        }
        self.measured(request, span, recording)
    }
}

impl<S> Metrics<S> {
    /// A call that is recorded, traced, or both.
    fn measured<Request>(
        &mut self,
        request: Request,
        span: tracing::Span,
        recording: bool,
    ) -> ResponseFuture<S::Future>
    where
        S: Service<Request>,
        Request: McpRequest,
    {
        let started = self.shared.common.clock.nanos();
        self.refresh(started);
        if !span.is_disabled() {
            let transport = self.shared.common.transport.as_deref();
            span::describe(&span, &request, &self.labels, transport);
        }
        let slot = version_slot(request.protocol_version());
        let target = recording.then(|| self.labels.target_of(&request).clone());
        if let Some(target) = &target {
            if target.records_sizes()
                && let Some(bytes) = content_length(&request)
            {
                target.request_size(slot.into(), bytes);
            }
            target.begin();
        }
        let record = target.map(|target| (target, slot, started));
        ResponseFuture::measured(|| self.inner.call(request), record, span)
    }
}

fn content_length<R: McpRequest>(request: &R) -> Option<u64> {
    request
        .http_parts()?
        .headers
        .get(http::header::CONTENT_LENGTH)?
        .to_str()
        .ok()?
        .parse()
        .ok()
}
