//! [`ResponseFuture`]: a call measured while it holds its slot.

use std::{
    future::Future,
    pin::Pin,
    sync::Arc,
    task::{Context, Poll, ready},
};

use mcp_service::McpError;
use pin_project_lite::pin_project;

use super::layer::{Adaptive, signals_overload};
use crate::slots::Slot;

pin_project! {
    /// The response future of [`AdaptiveLimit`](super::AdaptiveLimit).
    /// Dropping it gives its slot back without a measurement.
    pub struct ResponseFuture<F> {
        #[pin]
        future: Option<F>,
        measured: Option<Measured>,
    }
}

/// What a limited call needs to report when it finishes.
struct Measured {
    slot: Slot,
    adaptive: Arc<Adaptive>,
    started: u64,
    in_flight: usize,
}

impl<F> ResponseFuture<F> {
    pub(crate) fn exempt(future: F) -> Self {
        Self {
            future: Some(future),
            measured: None,
        }
    }

    pub(crate) fn limited(
        future: F,
        slot: Slot,
        adaptive: Arc<Adaptive>,
        started: u64,
        in_flight: usize,
    ) -> Self {
        Self {
            future: Some(future),
            measured: Some(Measured {
                slot,
                adaptive,
                started,
                in_flight,
            }),
        }
    }

    pub(crate) fn overloaded() -> Self {
        Self {
            future: None,
            measured: None,
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
        let Some(future) = this.future.as_pin_mut() else {
            return Poll::Ready(Err(McpError::Overloaded));
        };
        let result = ready!(future.poll(cx)).map_err(Into::into);
        if let Some(Measured {
            slot,
            adaptive,
            started,
            in_flight,
        }) = this.measured.take()
        {
            drop(slot);
            let overloaded = result.as_ref().err().is_some_and(signals_overload);
            adaptive.record(started, in_flight, overloaded);
        }
        Poll::Ready(result)
    }
}
