//! [`ResponseFuture`]: a call, and the waits and calls that retry it.

use std::{
    future::Future,
    pin::Pin,
    sync::Arc,
    task::{Context, Poll, ready},
};

use mcp_service::{McpError, McpRequest};
use pin_project_lite::pin_project;
use tokio::time::{Sleep, sleep};
use tower_service::Service;

use super::layer::Policy;
use crate::classify::Verdict;

pin_project! {
    /// The response future of [`Retry`](super::Retry).
    pub struct ResponseFuture<S, Request>
    where
        S: Service<Request>,
    {
        #[pin]
        state: State<S::Future>,
        // `None` for a request that is never retried.
        retry: Option<Retrying<S, Request>>,
    }
}

pin_project! {
    #[project = StateProjection]
    enum State<F> {
        Calling {
            #[pin]
            future: F,
        },
        // Boxed: a wait is rare, and its timer, inline, would make every
        // call's future (and each one wrapping it) larger.
        Waiting {
            sleep: Pin<Box<Sleep>>,
        },
    }
}

struct Retrying<S, Request> {
    service: S,
    request: Request,
    policy: Arc<Policy>,
    retries: u32,
}

impl<S: Service<Request>, Request> ResponseFuture<S, Request> {
    pub(crate) fn once(future: S::Future) -> Self {
        Self {
            state: State::Calling { future },
            retry: None,
        }
    }

    pub(crate) fn retrying(
        future: S::Future,
        service: S,
        request: Request,
        policy: Arc<Policy>,
    ) -> Self {
        Self {
            state: State::Calling { future },
            retry: Some(Retrying {
                service,
                request,
                policy,
                retries: 0,
            }),
        }
    }
}

impl<S, Request> Retrying<S, Request>
where
    Request: McpRequest,
{
    /// The wait before another try, if this error deserves one.
    fn next_wait(&mut self, error: &McpError) -> Option<std::time::Duration> {
        let policy = &self.policy;
        let worth_it = self.retries < policy.max_retries
            && policy.classifier.classify_error(error) == Verdict::Failure
            && !self
                .request
                .cancellation()
                .is_some_and(|token| token.is_cancelled());
        if !worth_it || !policy.budget.withdraw() {
            return None;
        }
        let wait = policy.backoff(self.retries);
        self.retries += 1;
        Some(wait)
    }
}

impl<S, Request> Future for ResponseFuture<S, Request>
where
    S: Service<Request>,
    S::Error: Into<McpError>,
    Request: McpRequest + Clone,
{
    type Output = Result<S::Response, McpError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        loop {
            match this.state.as_mut().project() {
                StateProjection::Calling { future } => {
                    let result = ready!(future.poll(cx)).map_err(Into::into);
                    let wait = match (&result, this.retry.as_mut()) {
                        (Err(error), Some(retry)) => retry.next_wait(error),
                        _ => None,
                    };
                    match wait {
                        Some(wait) => this.state.set(State::Waiting {
                            sleep: Box::pin(sleep(wait)),
                        }),
                        None => return Poll::Ready(result),
                    }
                }
                StateProjection::Waiting { sleep } => {
                    ready!(sleep.as_mut().poll(cx));
                    let Some(retry) = this.retry.as_mut() else {
                        return Poll::Ready(Err(McpError::unavailable("retry state lost")));
                    };
                    if let Err(error) = ready!(retry.service.poll_ready(cx)) {
                        return Poll::Ready(Err(error.into()));
                    }
                    let future = retry.service.call(retry.request.clone());
                    this.state.set(State::Calling { future });
                }
            }
        }
    }
}
