//! [`ResponseFuture`]: a call, a wait for the limit then a call, or a rejection.

use std::{
    future::Future,
    pin::Pin,
    sync::Arc,
    task::{Context, Poll, ready},
    time::Duration,
};

use mcp_service::McpError;
use pin_project_lite::pin_project;
use tokio::time::{Sleep, sleep};
use tower_service::Service;

use super::{Decision, layer::Limiter};
use crate::deferred::{Deferred, finished};

pin_project! {
    /// The response future of [`RateLimit`](super::RateLimit).
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
        Calling {
            #[pin]
            future: F,
        },
        // Boxed: waiting is the slow path; see `Deferred`.
        Waiting {
            sleep: Pin<Box<Sleep>>,
            call: Deferred<S, Request>,
        },
        // Boxed: the decision is a round trip to Redis.
        Asking {
            decision: Pin<Box<dyn Future<Output = Decision> + Send>>,
            limiter: Arc<Limiter>,
            call: Deferred<S, Request>,
        },
        Rejected {
            error: Option<McpError>,
        },
    }
}

impl<S: Service<Request>, Request> ResponseFuture<S, Request> {
    pub(crate) fn calling(future: S::Future) -> Self {
        Self {
            state: State::Calling { future },
        }
    }

    pub(crate) fn waiting(wait: Duration, service: S, request: Request) -> Self {
        Self {
            state: State::Waiting {
                sleep: Box::pin(sleep(wait)),
                call: Deferred::new(service, request),
            },
        }
    }

    #[cfg(feature = "redis")]
    pub(crate) fn asking(
        decision: Pin<Box<dyn Future<Output = Decision> + Send>>,
        limiter: Arc<Limiter>,
        service: S,
        request: Request,
    ) -> Self {
        Self {
            state: State::Asking {
                decision,
                limiter,
                call: Deferred::new(service, request),
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
                StateProjection::Calling { future } => {
                    return future.poll(cx).map_err(Into::into);
                }
                StateProjection::Waiting { sleep, call } => {
                    ready!(sleep.as_mut().poll(cx));
                    match ready!(call.poll_call(cx)) {
                        Ok(future) => state.set(State::Calling { future }),
                        Err(error) => return Poll::Ready(Err(error)),
                    }
                }
                StateProjection::Asking {
                    decision,
                    limiter,
                    call,
                } => match ready!(decision.as_mut().poll(cx)) {
                    Decision::Admit => {
                        limiter.admissions.increment(1);
                        match ready!(call.poll_call(cx)) {
                            Ok(future) => state.set(State::Calling { future }),
                            Err(error) => return Poll::Ready(Err(error)),
                        }
                    }
                    Decision::AdmitAfter(wait) => {
                        limiter.admissions.increment(1);
                        let call = std::mem::replace(call, Deferred::taken());
                        state.set(State::Waiting {
                            sleep: Box::pin(sleep(wait)),
                            call,
                        });
                    }
                    Decision::Reject(retry_after) => {
                        limiter.rejections.increment(1);
                        return Poll::Ready(Err(McpError::RateLimited { retry_after }));
                    }
                },
                StateProjection::Rejected { error } => {
                    return Poll::Ready(Err(error.take().unwrap_or_else(finished)));
                }
            }
        }
    }
}
