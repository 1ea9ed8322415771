//! [`ResponseFuture`]: a call holding its slot, a wait in the queue, or a rejection.

use std::{
    future::Future,
    pin::Pin,
    task::{Context, Poll, ready},
};

use mcp_service::McpError;
use metrics::Counter;
use pin_project_lite::pin_project;
use tokio::{
    sync::futures::OwnedNotified,
    time::{Sleep, sleep},
};
use tower_service::Service;

use super::layer::Pool;
use crate::{
    deferred::Deferred,
    slots::{Place, Slot},
};

pin_project! {
    /// The response future of [`ConcurrencyLimit`](super::ConcurrencyLimit).
    /// Dropping it gives its slot back.
    ///
    /// Shaped like tower's: the inner future and its slot side by side, so
    /// the common case moves and polls no more than tower's does.
    pub struct ResponseFuture<S, Request>
    where
        S: Service<Request>,
    {
        // `None` while queued, and for a rejected call.
        #[pin]
        future: Option<S::Future>,
        slot: Option<Slot>,
        // Boxed: waiting is the slow path, and a timer and a request inline
        // would make every call's future larger to move.
        queued: Option<Pin<Box<Queued<S, Request>>>>,
    }
}

pin_project! {
    struct Queued<S, Request> {
        place: Place,
        #[pin]
        freed: OwnedNotified,
        #[pin]
        deadline: Sleep,
        call: Deferred<S, Request>,
        admissions: Counter,
        timeouts: Counter,
    }
}

impl<S: Service<Request>, Request> ResponseFuture<S, Request> {
    pub(crate) fn running(future: S::Future, slot: Option<Slot>) -> Self {
        Self {
            future: Some(future),
            slot,
            queued: None,
        }
    }

    pub(crate) fn queued(pool: &Pool, place: Place, service: S, request: Request) -> Self {
        Self {
            future: None,
            slot: None,
            queued: Some(Box::pin(Queued {
                freed: place.freed(),
                place,
                deadline: sleep(pool.timeout),
                call: Deferred::new(service, request),
                admissions: pool.admissions.clone(),
                timeouts: pool.queue_timeouts.clone(),
            })),
        }
    }

    pub(crate) fn overloaded() -> Self {
        Self {
            future: None,
            slot: None,
            queued: None,
        }
    }
}

impl<S, Request> Future for ResponseFuture<S, Request>
where
    S: Service<Request>,
    S::Error: Into<McpError>,
{
    type Output = Result<S::Response, McpError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        if let Some(queued) = this.queued {
            let (future, slot) = ready!(queued.as_mut().poll_slot(cx))?;
            *this.queued = None;
            this.future.set(Some(future));
            *this.slot = Some(slot);
        }
        // No future: shed, or timed out in the queue and already told so.
        let Some(future) = this.future.as_pin_mut() else {
            return Poll::Ready(Err(McpError::Overloaded));
        };
        let result = ready!(future.poll(cx));
        // Released as soon as the answer is in, not when dropped.
        this.slot.take();
        Poll::Ready(result.map_err(Into::into))
    }
}

impl<S, Request> Queued<S, Request>
where
    S: Service<Request>,
    S::Error: Into<McpError>,
{
    /// Waits for a slot and a ready service, until the deadline.
    #[allow(clippy::type_complexity, reason = "a private poll helper")]
    fn poll_slot(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Result<(S::Future, Slot), McpError>> {
        let mut this = self.project();
        loop {
            if let Some(slot) = this.place.slots().try_acquire() {
                // Without a ready service the slot goes back: it would
                // otherwise sit idle while others queue for it.
                let future = ready!(this.call.poll_call(cx))?;
                this.admissions.increment(1);
                return Poll::Ready(Ok((future, slot)));
            }
            // Counted among the waiters since the call, so a slot freed
            // before this registers still leaves a wake-up behind.
            if this.freed.as_mut().poll(cx).is_ready() {
                this.freed.set(this.place.freed());
                continue;
            }
            ready!(this.deadline.poll(cx));
            this.timeouts.increment(1);
            return Poll::Ready(Err(McpError::Overloaded));
        }
    }
}
