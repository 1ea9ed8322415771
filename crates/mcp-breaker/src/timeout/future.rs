//! [`ResponseFuture`]: the call, raced against its deadline.

use std::{
    future::Future,
    pin::Pin,
    task::{Context, Poll},
    time::Duration,
};

use mcp_service::McpError;
use pin_project_lite::pin_project;
use tokio::time::{Instant, Sleep, sleep};
use tokio_util::sync::CancellationToken;

use super::DeadlineExtender;

pin_project! {
    /// The response future of [`Timeout`](super::Timeout).
    pub struct ResponseFuture<F> {
        #[pin]
        inner: F,
        #[pin]
        sleep: Option<Sleep>,
        after: Duration,
        cancellation: Option<CancellationToken>,
        extender: Option<DeadlineExtender>,
    }
}

impl<F> ResponseFuture<F> {
    pub(crate) fn new(
        inner: F,
        deadline: Option<Duration>,
        cancellation: Option<CancellationToken>,
        extender: Option<DeadlineExtender>,
    ) -> Self {
        Self {
            inner,
            sleep: deadline.map(sleep),
            after: deadline.unwrap_or_default(),
            cancellation,
            extender,
        }
    }
}

impl<F, T, E> Future for ResponseFuture<F>
where
    F: Future<Output = Result<T, E>>,
    E: Into<McpError>,
{
    type Output = Result<T, McpError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        if let Poll::Ready(result) = this.inner.poll(cx) {
            return Poll::Ready(result.map_err(Into::into));
        }
        let Some(mut sleep) = this.sleep.as_pin_mut() else {
            return Poll::Pending;
        };
        loop {
            if sleep.as_mut().poll(cx).is_pending() {
                return Poll::Pending;
            }
            // Progress reported since the deadline was set starts it again.
            let renewed = this
                .extender
                .as_ref()
                .and_then(DeadlineExtender::last_progress)
                .map(|progress| progress + *this.after)
                .filter(|renewed| *renewed > Instant::now());
            match renewed {
                Some(renewed) => sleep.as_mut().reset(renewed),
                None => break,
            }
        }
        // Tell the handler to stop; the call itself is dropped with this
        // future, which the caller does on `Ready`.
        if let Some(token) = this.cancellation.take() {
            token.cancel();
        }
        Poll::Ready(Err(McpError::Timeout { after: *this.after }))
    }
}
