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
        // Boxed, and only when something listens: a disabled span would
        // still make every future 40 bytes larger and give it a drop.
        span: Option<Box<Span>>,
    }

    impl<F> PinnedDrop for ResponseFuture<F> {
        fn drop(this: Pin<&mut Self>) {
            let this = this.project();
            // A finished call took its record and closed its span. (Asked
            // before anything is taken: a `take` here would read back the
            // field `poll` just wrote, wider than it was written, and wait
            // for the store.)
            if this.in_flight.is_none() && this.span.is_none() {
                return;
            }
            let ending = Ending::dropped();
            if let Some(span) = this.span.as_deref() {
                span::record_ending(span, &ending, Some(&McpError::Cancelled));
            }
            if let Some(call) = this.in_flight.take() {
                call.target.end(call.slot.into(), call.started, &ending, None);
            }
        }
    }
}

impl<F> ResponseFuture<F> {
    /// The inner call, recorded nowhere.
    pub(crate) fn passthrough(inner: F) -> Self {
        Self {
            inner,
            in_flight: None,
            span: None,
        }
    }

    /// The call `call` makes, inside `span` while it is made, and
    /// recorded at its end when `record` says where.
    ///
    /// The inner future, hundreds of bytes with the layers below, is made
    /// last, after all else the future holds: made first, it was copied
    /// twice on its way into the future; this way once.
    pub(crate) fn measured(
        call: impl FnOnce() -> F,
        record: Option<(Arc<Target>, u8, u64)>,
        span: Span,
    ) -> Self {
        let span = listened(span);
        // A handle of its own, so the span can move into the future while
        // it is entered.
        let _entered = span.as_deref().map(|span| span.clone().entered());
        let in_flight = record.map(|(target, slot, started)| InFlight {
            target,
            slot,
            started,
        });
        Self {
            in_flight,
            span,
            inner: call(),
        }
    }
}

/// `span`, kept when something listens to it.
fn listened(span: Span) -> Option<Box<Span>> {
    (!span.is_disabled()).then(|| Box::new(span))
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
            let _entered = this.span.as_deref().map(Span::enter);
            ready!(this.inner.poll(cx)).map_err(Into::into)
        };
        if this.in_flight.is_some() || this.span.is_some() {
            let call = this.in_flight.take();
            let ending = Ending::of(&result);
            // The request is over: its span closes now, not when the
            // future is dropped.
            if let Some(span) = this.span.take() {
                span::record_ending(&span, &ending, result.as_ref().err());
            }
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
