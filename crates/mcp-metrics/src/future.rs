//! [`ResponseFuture`]: the inner call, timed, inside its span.

use std::{
    future::Future,
    pin::Pin,
    sync::Arc,
    task::{Context, Poll, ready},
};

use mcp_service::{McpError, McpResponse};
use pin_project_lite::pin_project;
use tracing::Span;

use crate::{outcome::Ending, series::Target, span};

/// What a call in flight must record when it ends.
struct InFlight {
    target: Arc<Target>,
    started: u64,
    /// The protocol version slot, in a byte: the future stays small.
    slot: u8,
}

pin_project! {
    /// The response future of [`Metrics`](super::Metrics).
    ///
    /// Dropped before it finished (the client cancelled, rmcp dropped the
    /// handler), it still ends its request: in flight goes down, and the
    /// duration is recorded with `error.type` `cancelled`.
    pub struct ResponseFuture<F> {
        #[pin]
        inner: F,
        in_flight: Option<InFlight>,
        span: Span,
    }

    impl<F> PinnedDrop for ResponseFuture<F> {
        fn drop(this: Pin<&mut Self>) {
            let this = this.project();
            // A finished call took its record and closed its span.
            let call = this.in_flight.take();
            if call.is_some() || !this.span.is_disabled() {
                let ending = Ending::dropped();
                span::record_ending(this.span, &ending, Some(&McpError::Cancelled));
                if let Some(call) = call {
                    call.target.end(call.slot.into(), call.started, &ending, None);
                }
            }
        }
    }
}

impl<F> ResponseFuture<F> {
    /// The inner call, recorded nowhere.
    pub(crate) fn passthrough(inner: F) -> Self {
        Self::traced(inner, Span::none())
    }

    /// The inner call inside its span, with no metrics recorded.
    pub(crate) fn traced(inner: F, span: Span) -> Self {
        Self {
            inner,
            in_flight: None,
            span,
        }
    }

    pub(crate) fn new(inner: F, target: Arc<Target>, slot: u8, started: u64, span: Span) -> Self {
        Self {
            inner,
            in_flight: Some(InFlight {
                target,
                slot,
                started,
            }),
            span,
        }
    }
}

impl<F, T, E> Future for ResponseFuture<F>
where
    F: Future<Output = Result<T, E>>,
    T: McpResponse,
    E: Into<McpError>,
{
    type Output = Result<T, McpError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let result = {
            let _entered = this.span.enter();
            ready!(this.inner.poll(cx)).map_err(Into::into)
        };
        let call = this.in_flight.take();
        if call.is_some() || !this.span.is_disabled() {
            let ending = Ending::of(&result);
            span::record_ending(this.span, &ending, result.as_ref().err());
            // The request is over: its span closes now, not when the
            // future is dropped.
            *this.span = Span::none();
            if let Some(call) = call {
                let bytes = match &result {
                    Ok(response) if call.target.records_sizes() => Some(response.weight()),
                    _ => None,
                };
                call.target
                    .end(call.slot.into(), call.started, &ending, bytes);
            }
        }
        Poll::Ready(result)
    }
}
