//! What the stream layers need of requests and responses beyond
//! [`McpRequest`] and [`McpResponse`]: to rewrite a cursor or a URI, to
//! report progress, to cut a list into a page and a read into a chunk.
//!
//! Implemented for rmcp's `RmcpRequest` / `ServerResult` (feature `rmcp`)
//! and for raw `JsonRpcRequest` / `JsonRpcResponse`.

mod jsonrpc;
#[cfg(feature = "rmcp")]
mod rmcp;

pub use jsonrpc::RawList;
#[cfg(feature = "rmcp")]
pub use rmcp::RmcpList;

use std::{io, ops::Range};

use mcp_service::{CacheHint, McpError, McpRequest, McpResponse};
use serde_json::{Map, Value};

use crate::{progress::Progress, source::ContentKind};

/// A request the stream layers can rewrite and report progress for.
pub trait StreamRequest: McpRequest + Sized {
    /// Where `notifications/progress` for this request go, when it carries
    /// `_meta.progressToken`.
    fn progress(&self) -> Option<Progress>;

    /// The same `resources/read` for another URI.
    fn with_resource_uri(self, uri: &str) -> Result<Self, McpError>;

    /// The same list request with another cursor (`None`: the first page).
    fn with_cursor(self, cursor: Option<&str>) -> Result<Self, McpError>;
}

/// A result the stream layers can cut into pages and chunks.
pub trait StreamResponse: McpResponse {
    /// A list result taken apart for paging.
    type List: PagedList<Self>;

    /// The list of `kind` this result holds, or the result itself when it
    /// is not one.
    fn into_list(self, kind: ListKind) -> Result<Self::List, Self>;

    /// The single content of a `resources/read` result, or the result itself
    /// when it is not a read result with exactly one content.
    fn into_read(self) -> Result<ReadResult, Self>;

    /// A `resources/read` result of one content.
    fn from_read(read: ReadResult) -> Result<Self, McpError>;
}

/// A list result taken apart: its items, its own `nextCursor`, and a way to
/// put a page of it back together.
pub trait PagedList<R>: Sized {
    /// How many items the list holds.
    fn items(&self) -> usize;

    /// The `nextCursor` of the service that produced the list, if it pages.
    fn next_cursor(&self) -> Option<&str>;

    /// A digest of the list that changes when an item is added, removed,
    /// moved or renamed, so a cursor of the old list is refused rather
    /// than served with items skipped or repeated. rmcp's lists hash the
    /// items' names (URIs for resources); JSON-RPC lists hash their text,
    /// so any change of an item counts there.
    fn digest(&self) -> u64;

    /// The result of the items in `range`, with `next_cursor` as its
    /// `nextCursor` and the list's other fields kept.
    fn into_page(self, range: Range<usize>, next_cursor: Option<String>) -> Result<R, McpError>;

    /// The result as it was.
    fn into_response(self) -> R;
}

/// The paginated list methods, and the result member that holds each one's items.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ListKind {
    /// `tools/list`: `tools`.
    Tools,
    /// `prompts/list`: `prompts`.
    Prompts,
    /// `resources/list`: `resources`.
    Resources,
    /// `resources/templates/list`: `resourceTemplates`.
    ResourceTemplates,
    /// `skills/list`: `skills`.
    Skills,
}

impl ListKind {
    /// Every list kind.
    pub const ALL: [Self; 5] = [
        Self::Tools,
        Self::Prompts,
        Self::Resources,
        Self::ResourceTemplates,
        Self::Skills,
    ];

    /// The kind of list `method` returns, if it is a list method.
    pub fn of(method: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|kind| kind.method() == method)
    }

    /// The list method.
    pub fn method(self) -> &'static str {
        match self {
            Self::Tools => "tools/list",
            Self::Prompts => "prompts/list",
            Self::Resources => "resources/list",
            Self::ResourceTemplates => "resources/templates/list",
            Self::Skills => "skills/list",
        }
    }

    /// The result member holding the items.
    pub fn items_key(self) -> &'static str {
        match self {
            Self::Tools => "tools",
            Self::Prompts => "prompts",
            Self::Resources => "resources",
            Self::ResourceTemplates => "resourceTemplates",
            Self::Skills => "skills",
        }
    }
}

/// The one content of a `resources/read` result, and the result's other
/// members a chunk keeps.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct ReadResult {
    /// The content's URI.
    pub uri: String,
    /// The content's MIME type.
    pub mime_type: Option<String>,
    /// The content.
    pub content: Content,
    /// The result's `ttlMs` and `cacheScope`.
    pub hint: CacheHint,
    /// The result's `_meta`.
    pub meta: Map<String, Value>,
}

impl ReadResult {
    /// A result of one content, without hints or `_meta`.
    pub fn new(uri: impl Into<String>, mime_type: Option<String>, content: Content) -> Self {
        Self {
            uri: uri.into(),
            mime_type,
            content,
            hint: CacheHint::default(),
            meta: Map::new(),
        }
    }
}

/// The content of a resource or of one of its chunks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Content {
    /// `text`.
    Text(String),
    /// `blob`: base64 of the bytes.
    Blob(String),
}

impl Content {
    /// Whether this is text or a blob.
    pub fn kind(&self) -> ContentKind {
        match self {
            Self::Text(_) => ContentKind::Text,
            Self::Blob(_) => ContentKind::Blob,
        }
    }

    /// The text or the base64, as sent.
    pub fn as_str(&self) -> &str {
        match self {
            Self::Text(text) | Self::Blob(text) => text,
        }
    }
}

/// The length of what `value` serializes to, counted without keeping it.
pub(crate) fn serialized_len<T: serde::Serialize + ?Sized>(value: &T) -> usize {
    struct Count(usize);
    impl io::Write for Count {
        fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
            self.0 += bytes.len();
            Ok(bytes.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }
    let mut count = Count(0);
    match serde_json::to_writer(&mut count, value) {
        Ok(()) => count.0,
        Err(_) => usize::MAX,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_kinds_know_their_method_and_member() {
        for kind in ListKind::ALL {
            assert_eq!(ListKind::of(kind.method()), Some(kind));
        }
        assert_eq!(ListKind::of("tools/call"), None);
        assert_eq!(ListKind::ResourceTemplates.items_key(), "resourceTemplates");
    }
}
