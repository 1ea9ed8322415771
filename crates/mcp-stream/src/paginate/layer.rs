//! [`PaginationLayer`] and its builder.

use std::sync::Arc;

use mcp_metrics::names;
use metrics::Counter;
use tower_layer::Layer;

use super::Paginate;
use crate::{error::ConfigError, key::CursorKey, message::ListKind};

/// Pages long lists: a `tools/list`, `prompts/list`, `resources/list`,
/// `resources/templates/list` or `skills/list` result with more than
/// `page_size` items is served `page_size` at a time, with an opaque
/// `nextCursor`.
///
/// The inner service returns its whole list (or its own pages, whose
/// cursors are wrapped in ours), so a cache inside this layer keeps whole
/// lists and every page is cut from one. A cursor is signed
/// ([`CursorKey`]) and bound to the principal and the list method, and it
/// carries a digest of the list it points into: a forged or altered
/// cursor, another principal's, or one of a list that has changed since
/// gets JSON-RPC error -32602 telling the client to list again from the
/// start, never a page with items missing or repeated.
///
/// ```
/// use mcp_service::jsonrpc::{JsonRpcRequest, JsonRpcResponse};
/// use mcp_stream::PaginationLayer;
/// use serde_json::json;
/// use tower::{Service, ServiceBuilder, ServiceExt, service_fn};
///
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// let mut service = ServiceBuilder::new()
///     .layer(PaginationLayer::builder().page_size(2).build()?)
///     .service(service_fn(|_request: JsonRpcRequest| async {
///         JsonRpcResponse::from_value(&json!({
///             "tools": [{ "name": "a" }, { "name": "b" }, { "name": "c" }]
///         }))
///     }));
/// let request = JsonRpcRequest::new(None, "tools/list", None)?;
/// let page = service.ready().await?.call(request).await?;
/// let page: serde_json::Value = serde_json::from_str(page.result().get()).unwrap();
/// assert_eq!(page["tools"].as_array().unwrap().len(), 2);
/// assert!(page["nextCursor"].is_string());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// ```
#[derive(Clone)]
pub struct PaginationLayer {
    shared: Arc<Shared>,
}

impl PaginationLayer {
    /// A layer that pages nothing: every list passes as the server made it.
    pub fn disabled() -> Self {
        let key = CursorKey::from_secret(&[0; CursorKey::MIN_SECRET_BYTES])
            .unwrap_or_else(|error| unreachable!("a key of the minimum length is valid: {error}"));
        Self {
            shared: Arc::new(Shared {
                page_size: usize::MAX,
                kinds: Vec::new(),
                key,
                pages: Counter::noop(),
                invalid_cursors: Counter::noop(),
                stale_cursors: Counter::noop(),
            }),
        }
    }

    /// A builder with the defaults: pages of 100 items, every list method,
    /// a random cursor key.
    pub fn builder() -> PaginationLayerBuilder {
        PaginationLayerBuilder {
            page_size: 100,
            kinds: ListKind::ALL.to_vec(),
            cursor_key: None,
        }
    }

    /// The most items a page holds.
    pub fn page_size(&self) -> usize {
        self.shared.page_size
    }
}

impl std::fmt::Debug for PaginationLayer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PaginationLayer")
            .field("page_size", &self.shared.page_size)
            .field("kinds", &self.shared.kinds)
            .finish_non_exhaustive()
    }
}

impl<S> Layer<S> for PaginationLayer {
    type Service = Paginate<S>;

    fn layer(&self, inner: S) -> Paginate<S> {
        Paginate::new(inner, self.shared.clone())
    }
}

/// Builds a [`PaginationLayer`].
#[derive(Debug)]
pub struct PaginationLayerBuilder {
    page_size: usize,
    kinds: Vec<ListKind>,
    cursor_key: Option<CursorKey>,
}

impl PaginationLayerBuilder {
    /// The most items a page holds. Default 100.
    pub fn page_size(mut self, items: usize) -> Self {
        self.page_size = items;
        self
    }

    /// Which lists are paged. Default: all of [`ListKind::ALL`].
    pub fn kinds(mut self, kinds: impl IntoIterator<Item = ListKind>) -> Self {
        self.kinds = kinds.into_iter().collect();
        self
    }

    /// The key cursors are signed with. Default: a random key per layer;
    /// give every node the same key when clients may reach another node
    /// for the next page.
    pub fn cursor_key(mut self, key: CursorKey) -> Self {
        self.cursor_key = Some(key);
        self
    }

    /// The layer, or which setting is out of range.
    pub fn build(self) -> Result<PaginationLayer, ConfigError> {
        if self.page_size == 0 {
            return Err(ConfigError {
                setting: "page_size",
                problem: "a page holds at least one item".into(),
            });
        }
        let key = match self.cursor_key {
            Some(key) => key,
            None => CursorKey::random()?,
        };
        let rejections = |reason: &'static str| metrics::counter!(names::STREAM_CURSOR_REJECTIONS, names::REASON => reason);
        Ok(PaginationLayer {
            shared: Arc::new(Shared {
                page_size: self.page_size,
                kinds: self.kinds,
                key,
                pages: metrics::counter!(names::STREAM_PAGES),
                invalid_cursors: rejections(names::REASON_INVALID_CURSOR),
                stale_cursors: rejections(names::REASON_STALE_CURSOR),
            }),
        })
    }
}

pub(crate) struct Shared {
    pub(crate) page_size: usize,
    pub(crate) kinds: Vec<ListKind>,
    pub(crate) key: CursorKey,
    pub(crate) pages: Counter,
    pub(crate) invalid_cursors: Counter,
    pub(crate) stale_cursors: Counter,
}
