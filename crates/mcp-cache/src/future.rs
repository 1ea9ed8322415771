//! [`ResponseFuture`]: a hit answered at once, a bypass through the inner
//! service, or a miss resolved through the tiers and single-flight.

use std::{
    future::Future,
    pin::Pin,
    task::{Context, Poll, ready},
};

use mcp_service::{McpError, McpResponse};
use pin_project_lite::pin_project;
use tower_service::Service;

use crate::service::Filling;

/// A boxed miss: the slow path, which waits on Redis or another request.
pub(crate) type Resolving<R> = Pin<Box<dyn Future<Output = Result<R, McpError>> + Send>>;

pin_project! {
    /// The future of [`Cache`](crate::Cache). A hit allocates nothing.
    pub struct ResponseFuture<S, Req>
    where
        S: Service<Req>,
    {
        #[pin]
        state: State<S, Req>,
    }
}

pin_project! {
    #[project = StateProjection]
    enum State<S, Req>
    where
        S: Service<Req>,
    {
        Ready { result: Option<Result<S::Response, McpError>> },
        Direct { #[pin] call: S::Future },
        // Boxed: what a miss keeps for its answer is larger than most inner
        // futures, and every layer above would move it at each call.
        Filling { #[pin] call: S::Future, filling: Option<Box<Filling>> },
        Resolve { future: Resolving<S::Response> },
    }
}

impl<S: Service<Req>, Req> ResponseFuture<S, Req> {
    pub(crate) fn ready(result: Result<S::Response, McpError>) -> Self {
        Self {
            state: State::Ready {
                result: Some(result),
            },
        }
    }

    pub(crate) fn direct(call: S::Future) -> Self {
        Self {
            state: State::Direct { call },
        }
    }

    pub(crate) fn filling(call: S::Future, filling: Filling) -> Self {
        Self {
            state: State::Filling {
                call,
                filling: Some(Box::new(filling)),
            },
        }
    }

    pub(crate) fn resolve(future: Resolving<S::Response>) -> Self {
        Self {
            state: State::Resolve { future },
        }
    }
}

impl<S, Req> Future for ResponseFuture<S, Req>
where
    S: Service<Req>,
    S::Response: McpResponse + Clone + Send + Sync + 'static,
    S::Error: Into<McpError>,
{
    type Output = Result<S::Response, McpError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project().state.project() {
            StateProjection::Ready { result } => Poll::Ready(result.take().unwrap_or_else(|| {
                Err(McpError::unavailable(
                    "cache future polled after completion",
                ))
            })),
            StateProjection::Direct { call } => {
                Poll::Ready(ready!(call.poll(cx)).map_err(Into::into))
            }
            StateProjection::Filling { call, filling } => {
                let result = ready!(call.poll(cx)).map_err(Into::into);
                Poll::Ready(match filling.take() {
                    Some(filling) => (*filling).finish(result),
                    None => Err(McpError::unavailable(
                        "cache future polled after completion",
                    )),
                })
            }
            StateProjection::Resolve { future } => future.as_mut().poll(cx),
        }
    }
}
