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
    ///
    /// The timer is armed on the first poll that finds the call pending: a
    /// call that answers at once never reads the clock or touches the timer
    /// wheel, and one that waits is timed from that first poll, made right
    /// after the call.
    pub struct ResponseFuture<F> {
        #[pin]
        inner: F,
        // Boxed: a timer is ~100 bytes every layer above would move along
        // with this future, and most calls never arm it.
        sleep: Option<Pin<Box<Sleep>>>,
        deadline: Option<Duration>,
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
            sleep: None,
            deadline,
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
        if let Some(deadline) = this.deadline.take() {
            *this.sleep = Some(Box::pin(sleep(deadline)));
        }
        let Some(sleep) = this.sleep.as_mut() else {
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
