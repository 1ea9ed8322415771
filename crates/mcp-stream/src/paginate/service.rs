//! [`Paginate`]: the service.

use std::{
    sync::Arc,
    task::{Context, Poll},
};

use mcp_service::McpError;
use tower_service::Service;

use super::{ResponseFuture, future::Paging, layer::Shared};
use crate::{
    cursor::PageCursor,
    error::{CursorError, RESTART_LIST},
    message::{ListKind, StreamRequest, StreamResponse},
};

/// A service whose long lists are paged; see [`PaginationLayer`](super::PaginationLayer).
#[derive(Clone)]
pub struct Paginate<S> {
    inner: S,
    shared: Arc<Shared>,
}

impl<S> Paginate<S> {
    pub(crate) fn new(inner: S, shared: Arc<Shared>) -> Self {
        Self { inner, shared }
    }

    /// The wrapped service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }
}

impl<S: std::fmt::Debug> std::fmt::Debug for Paginate<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Paginate")
            .field("inner", &self.inner)
            .finish_non_exhaustive()
    }
}

impl<S, Req, R> Service<Req> for Paginate<S>
where
    S: Service<Req, Response = R>,
    S::Error: Into<McpError>,
    Req: StreamRequest,
    R: StreamResponse,
{
    type Response = R;
    type Error = McpError;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), McpError>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, request: Req) -> Self::Future {
        let kind = match ListKind::of(request.method()) {
            Some(kind) if self.shared.kinds.contains(&kind) => kind,
            _ => return ResponseFuture::passthrough(self.inner.call(request)),
        };
        let principal = request.principal();
        let (start, request) = match request.cursor() {
            None => (PageCursor::first(), request),
            Some(text) => {
                let start = match self.shared.key.open_page(text, principal, kind.method()) {
                    Ok(start) => start,
                    Err(error) => {
                        self.shared.invalid_cursors.increment(1);
                        return ResponseFuture::refused(error.into());
                    }
                };
                match request.with_cursor(start.inner.as_deref()) {
                    Ok(request) => (start, request),
                    Err(error) => return ResponseFuture::refused(error),
                }
            }
        };
        let paging = Paging {
            shared: self.shared.clone(),
            kind,
            start,
            principal,
        };
        ResponseFuture::paging(self.inner.call(request), paging)
    }
}

impl Shared {
    pub(crate) fn stale(&self, kind: ListKind) -> McpError {
        self.stale_cursors.increment(1);
        CursorError::stale(kind.method(), RESTART_LIST).into()
    }

    pub(crate) fn invalid(&self, kind: ListKind) -> McpError {
        self.invalid_cursors.increment(1);
        CursorError::invalid(kind.method(), RESTART_LIST).into()
    }
}
