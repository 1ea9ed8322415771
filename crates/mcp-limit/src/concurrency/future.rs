//! [`ResponseFuture`]: a call holding its slot, a wait in the queue, or a rejection.

use std::{
    future::Future,
    pin::Pin,
    task::{Context, Poll, ready},
};

use mcp_service::McpError;
use pin_project_lite::pin_project;
use tokio::{
    sync::OwnedSemaphorePermit,
    time::{Sleep, sleep},
};
use tokio_util::sync::PollSemaphore;
use tower_service::Service;

use super::layer::Pool;
use crate::deferred::{Deferred, finished};

pin_project! {
    /// The response future of [`ConcurrencyLimit`](super::ConcurrencyLimit).
    /// Dropping it gives its slot back.
    pub struct ResponseFuture<S, Request>
    where
        S: Service<Request>,
    {
        #[pin]
        state: State<S, Request, S::Future>,
    }
}

pin_project! {
    #[project = StateProjection]
    enum State<S, Request, F> {
        Running {
            #[pin]
            future: F,
            slot: Option<OwnedSemaphorePermit>,
        },
        // Boxed: waiting is the slow path, and a `Sleep` and a request
        // inline would make every call's future larger to move.
        Queued {
            queued: Box<Queued<S, Request>>,
        },
        Rejected {
            error: Option<McpError>,
        },
    }
}

struct Queued<S, Request> {
    slots: PollSemaphore,
    deadline: Pin<Box<Sleep>>,
    place: Option<OwnedSemaphorePermit>,
    call: Deferred<S, Request>,
}

impl<S: Service<Request>, Request> ResponseFuture<S, Request> {
    pub(crate) fn unlimited(future: S::Future) -> Self {
        Self {
            state: State::Running { future, slot: None },
        }
    }

    pub(crate) fn running(future: S::Future, slot: OwnedSemaphorePermit) -> Self {
        Self {
            state: State::Running {
                future,
                slot: Some(slot),
            },
        }
    }

    pub(crate) fn queued(
        pool: &Pool,
        place: OwnedSemaphorePermit,
        service: S,
        request: Request,
    ) -> Self {
        Self {
            state: State::Queued {
                queued: Box::new(Queued {
                    slots: PollSemaphore::new(pool.slots.clone()),
                    deadline: Box::pin(sleep(pool.timeout)),
                    place: Some(place),
                    call: Deferred::new(service, request),
                }),
            },
        }
    }

    pub(crate) fn rejected(error: McpError) -> Self {
        Self {
            state: State::Rejected { error: Some(error) },
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
        let mut state = self.project().state;
        loop {
            match state.as_mut().project() {
                StateProjection::Running { future, slot } => {
                    let result = ready!(future.poll(cx)).map_err(Into::into);
                    // Released as soon as the answer is in, not when dropped.
                    slot.take();
                    return Poll::Ready(result);
                }
                StateProjection::Queued { queued } => {
                    let Queued {
                        slots,
                        deadline,
                        place,
                        call,
                    } = &mut **queued;
                    let slot = match slots.poll_acquire(cx) {
                        Poll::Ready(Some(slot)) => slot,
                        Poll::Ready(None) => return Poll::Ready(Err(McpError::Overloaded)),
                        Poll::Pending => {
                            ready!(deadline.as_mut().poll(cx));
                            return Poll::Ready(Err(McpError::Overloaded));
                        }
                    };
                    let future = match call.poll_call(cx) {
                        Poll::Ready(Ok(future)) => future,
                        Poll::Ready(Err(error)) => return Poll::Ready(Err(error)),
                        // The slot goes back while the service is not ready.
                        Poll::Pending => return Poll::Pending,
                    };
                    place.take();
                    state.set(State::Running {
                        future,
                        slot: Some(slot),
                    });
                }
                StateProjection::Rejected { error } => {
                    return Poll::Ready(Err(error.take().unwrap_or_else(finished)));
                }
            }
        }
    }
}
