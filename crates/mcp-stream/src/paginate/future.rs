//! [`ResponseFuture`]: the inner call, then the page cut from its list.

use std::{
    future::Future,
    pin::Pin,
    sync::Arc,
    task::{Context, Poll, ready},
};

use mcp_service::{McpError, Principal};
use pin_project_lite::pin_project;

use super::{
    layer::Shared,
    plan::{Mismatch, plan},
};
use crate::{
    cursor::PageCursor,
    message::{ListKind, PagedList, StreamResponse},
};

/// What a list request needs once its result is in.
pub(crate) struct Paging {
    pub(crate) shared: Arc<Shared>,
    pub(crate) kind: ListKind,
    pub(crate) start: PageCursor,
    pub(crate) principal: Option<Principal>,
}

pin_project! {
    /// The response future of [`Paginate`](super::Paginate): the inner
    /// call, then, for a list, the page. Named, with no allocation.
    pub struct ResponseFuture<F> {
        #[pin]
        inner: Option<F>,
        // Boxed: only lists page and only bad cursors are refused, and
        // both inline would make every call's future larger to move.
        paging: Option<Box<Paging>>,
        error: Option<Box<McpError>>,
    }
}

impl<F> ResponseFuture<F> {
    pub(crate) fn passthrough(inner: F) -> Self {
        Self {
            inner: Some(inner),
            paging: None,
            error: None,
        }
    }

    pub(crate) fn paging(inner: F, paging: Paging) -> Self {
        Self {
            inner: Some(inner),
            paging: Some(Box::new(paging)),
            error: None,
        }
    }

    pub(crate) fn refused(error: McpError) -> Self {
        Self {
            inner: None,
            paging: None,
            error: Some(Box::new(error)),
        }
    }
}

impl<F, R, E> Future for ResponseFuture<F>
where
    F: Future<Output = Result<R, E>>,
    E: Into<McpError>,
    R: StreamResponse,
{
    type Output = Result<R, McpError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let Some(inner) = this.inner.as_pin_mut() else {
            return Poll::Ready(Err(this.error.take().map_or_else(
                || crate::error::internal("polled after completion"),
                |error| *error,
            )));
        };
        let response = ready!(inner.poll(cx)).map_err(Into::into)?;
        let Some(paging) = this.paging.take() else {
            return Poll::Ready(Ok(response));
        };
        Poll::Ready(page(*paging, response))
    }
}

fn page<R: StreamResponse>(paging: Paging, response: R) -> Result<R, McpError> {
    let list = match response.into_list(paging.kind) {
        Ok(list) => list,
        Err(response) => return Ok(response),
    };
    let shared = &paging.shared;
    let planned = plan(
        &paging.start,
        list.items(),
        || list.digest(),
        list.next_cursor(),
        shared.page_size,
    );
    let plan = match planned {
        Ok(Some(plan)) => plan,
        Ok(None) => return Ok(list.into_response()),
        Err(Mismatch::Changed) => return Err(shared.stale(paging.kind)),
        Err(Mismatch::OutOfRange) => return Err(shared.invalid(paging.kind)),
    };
    shared.pages.increment(1);
    let next = plan.next.map(|next| {
        shared
            .key
            .seal_page(&next, paging.principal, paging.kind.method())
    });
    list.into_page(plan.range, next)
}
