//! [`ResponseFuture`]: the inner call, then the size guard or the chunk cut.

use std::{
    future::Future,
    pin::Pin,
    sync::Arc,
    task::{Context, Poll, ready},
};

use futures::future::BoxFuture;
use mcp_service::McpError;
use pin_project_lite::pin_project;

use super::{
    layer::Shared,
    read::{ReadContext, Whole},
};
use crate::message::StreamResponse;

pin_project! {
    /// The response future of [`Chunk`](super::Chunk).
    ///
    /// Calls that need no chunk (everything but a large `resources/read`)
    /// stay in a named future with no allocation; reading from a resource
    /// source, or reporting the progress of a cut chunk, is boxed.
    pub struct ResponseFuture<F, R> {
        #[pin]
        state: State<F, R>,
    }
}

pin_project! {
    #[project = StateProjection]
    enum State<F, R> {
        Inner {
            #[pin]
            future: F,
            shared: Arc<Shared>,
            // `None`: any method but `resources/read`, only guarded.
            read: Option<ReadContext>,
            guard: bool,
        },
        Boxed {
            future: BoxFuture<'static, Result<R, McpError>>,
        },
        Refused {
            error: Option<McpError>,
        },
    }
}

impl<F, R> ResponseFuture<F, R> {
    pub(crate) fn inner(
        future: F,
        shared: Arc<Shared>,
        read: Option<ReadContext>,
        guard: bool,
    ) -> Self {
        Self {
            state: State::Inner {
                future,
                shared,
                read,
                guard,
            },
        }
    }

    pub(crate) fn boxed(future: BoxFuture<'static, Result<R, McpError>>) -> Self {
        Self {
            state: State::Boxed { future },
        }
    }

    pub(crate) fn refused(error: McpError) -> Self {
        Self {
            state: State::Refused { error: Some(error) },
        }
    }
}

impl<F, R, E> Future for ResponseFuture<F, R>
where
    F: Future<Output = Result<R, E>>,
    E: Into<McpError>,
    R: StreamResponse + Send + 'static,
{
    type Output = Result<R, McpError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut state = self.project().state;
        let (response, shared, read) = match state.as_mut().project() {
            StateProjection::Boxed { future } => return future.as_mut().poll(cx),
            StateProjection::Refused { error } => {
                return Poll::Ready(Err(error
                    .take()
                    .unwrap_or_else(|| crate::error::internal("polled after completion"))));
            }
            StateProjection::Inner {
                future,
                shared,
                read,
                guard,
            } => {
                let response = ready!(future.poll(cx)).map_err(Into::into)?;
                match read.take() {
                    Some(read) => (response, shared.clone(), read),
                    None if *guard => {
                        let weight = response.weight();
                        return Poll::Ready(shared.guard(response, weight));
                    }
                    None => return Poll::Ready(Ok(response)),
                }
            }
        };
        let (response, done, total) = match shared.whole_or_cut(&read, response)? {
            Whole::Done(response) => return Poll::Ready(Ok(response)),
            Whole::Cut(response, done, total) => (response, done, total),
        };
        let Some(progress) = read.progress.clone() else {
            return Poll::Ready(Ok(response));
        };
        // Progress goes out before the chunk it counts.
        let mut future: BoxFuture<'static, Result<R, McpError>> = Box::pin(async move {
            progress.report(done, total).await;
            Ok(response)
        });
        let poll = future.as_mut().poll(cx);
        if poll.is_pending() {
            state.set(State::Boxed { future });
        }
        poll
    }
}
