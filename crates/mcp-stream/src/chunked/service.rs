//! [`Chunk`]: the service.

use std::{
    sync::Arc,
    task::{Context, Poll},
};

use mcp_service::{McpError, MethodClass};
use tower_service::Service;

use super::{
    ResponseFuture,
    layer::Shared,
    read::{BaseUri, ReadContext},
};
use crate::{
    chunk::split_uri,
    message::{StreamRequest, StreamResponse},
};

/// A service whose large reads are chunked and whose responses are kept
/// under the message limit; see [`ChunkLayer`](super::ChunkLayer).
#[derive(Clone)]
pub struct Chunk<S> {
    inner: S,
    shared: Arc<Shared>,
}

impl<S> Chunk<S> {
    pub(crate) fn new(inner: S, shared: Arc<Shared>) -> Self {
        Self { inner, shared }
    }

    /// The wrapped service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }
}

impl<S: std::fmt::Debug> std::fmt::Debug for Chunk<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Chunk")
            .field("inner", &self.inner)
            .finish_non_exhaustive()
    }
}

impl<S, Req, R> Service<Req> for Chunk<S>
where
    S: Service<Req, Response = R> + Clone + Send + 'static,
    S::Error: Into<McpError>,
    S::Future: Send,
    Req: StreamRequest + Send + 'static,
    R: StreamResponse + Send + 'static,
{
    type Response = R;
    type Error = McpError;
    type Future = ResponseFuture<S::Future, R>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), McpError>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, request: Req) -> Self::Future {
        if !self.shared.enabled {
            let future = self.inner.call(request);
            return ResponseFuture::inner(future, self.shared.clone(), None, false);
        }
        let class = request.class();
        let uri = match request.resource_uri() {
            Some(uri) if request.method() == "resources/read" => uri,
            // Lifecycle results are small by construction; weighing them
            // would only cost.
            _ => {
                let guard = class != MethodClass::Lifecycle;
                let future = self.inner.call(request);
                return ResponseFuture::inner(future, self.shared.clone(), None, guard);
            }
        };
        let principal = request.principal();
        let (base, cursor) = split_uri(uri);
        let cursor = match cursor {
            None => None,
            Some(text) => match self.shared.key.open_chunk(text, principal, base) {
                Ok(cursor) => Some(Box::new((text.to_owned(), cursor))),
                Err(error) => return ResponseFuture::refused(self.shared.rejected(error)),
            },
        };
        let context = ReadContext {
            base: BaseUri::new(base),
            cursor,
            principal,
            progress: request.progress().map(Box::new),
        };
        if self.shared.source.is_some() {
            // The ready service goes into the future; this one readies anew.
            let inner = self.inner.clone();
            let inner = std::mem::replace(&mut self.inner, inner);
            let future =
                super::read::read_with_source(self.shared.clone(), inner, request, context);
            return ResponseFuture::boxed(Box::pin(future));
        }
        let request = match &context.cursor {
            Some(_) => match request.with_resource_uri(&context.base) {
                Ok(request) => request,
                Err(error) => return ResponseFuture::refused(error),
            },
            None => request,
        };
        let future = self.inner.call(request);
        ResponseFuture::inner(future, self.shared.clone(), Some(context), true)
    }
}
