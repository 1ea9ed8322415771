//! [`Deferred`]: a call that waits, then is made once its service is ready.

use std::task::{Context, Poll, ready};

use mcp_service::McpError;
use tower_service::Service;

/// A service clone and its request, kept while a request waits (for the
/// rate limit or for a slot). Boxed: waiting is the slow path, and keeping
/// them inline would make every call's future larger to move.
pub(crate) struct Deferred<S, Request>(Option<Box<(S, Request)>>);

impl<S, Request> Deferred<S, Request> {
    pub(crate) fn new(service: S, request: Request) -> Self {
        Self(Some(Box::new((service, request))))
    }

    /// One whose call was moved out.
    pub(crate) fn taken() -> Self {
        Self(None)
    }
}

impl<S, Request> Deferred<S, Request>
where
    S: Service<Request>,
    S::Error: Into<McpError>,
{
    /// Makes the call once the service is ready.
    pub(crate) fn poll_call(&mut self, cx: &mut Context<'_>) -> Poll<Result<S::Future, McpError>> {
        let Some(call) = self.0.as_deref_mut() else {
            return Poll::Ready(Err(finished()));
        };
        if let Err(error) = ready!(call.0.poll_ready(cx)) {
            return Poll::Ready(Err(error.into()));
        }
        match self.0.take() {
            Some(call) => {
                let (mut service, request) = *call;
                Poll::Ready(Ok(service.call(request)))
            }
            None => Poll::Ready(Err(finished())),
        }
    }
}

/// The error of a future polled again after it finished.
pub(crate) fn finished() -> McpError {
    McpError::unavailable("polled after completion")
}
