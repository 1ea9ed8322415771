//! The page and chunk cursor codecs, for the fuzz targets and the
//! hostile-input tests (feature `fuzzing`). Not a stable API.

use mcp_service::Principal;

use crate::{
    CursorError, CursorKey,
    cursor::{self, Origin},
};

/// Where a page cursor points.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageCursor {
    /// The inner service's own cursor (`None`: its first page).
    pub inner: Option<String>,
    /// The first item to serve in that page.
    pub offset: u64,
    /// The digest of that inner page when issued.
    pub digest: Option<u64>,
}

/// Where a chunk cursor points.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChunkCursor {
    /// Chunks of a resource source (`true`) or of a whole result.
    pub from_source: bool,
    /// The chunk to serve.
    pub index: u32,
    /// Its first byte in the resource.
    pub offset: u64,
    /// The resource's length, when known.
    pub total: Option<u64>,
    /// The resource's revision or digest.
    pub version: Option<u64>,
}

/// The sealed text of a page cursor.
pub fn seal_page(
    key: &CursorKey,
    page: &PageCursor,
    principal: Option<Principal>,
    method: &str,
) -> String {
    let page = cursor::PageCursor {
        inner: page.inner.clone(),
        offset: page.offset,
        digest: page.digest,
    };
    key.seal_page(&page, principal, method)
}

/// The page cursor in `text`, when this key sealed it for this principal
/// and method.
pub fn open_page(
    key: &CursorKey,
    text: &str,
    principal: Option<Principal>,
    method: &str,
) -> Result<PageCursor, CursorError> {
    key.open_page(text, principal, method)
        .map(|page| PageCursor {
            inner: page.inner,
            offset: page.offset,
            digest: page.digest,
        })
}

/// The sealed text of a chunk cursor.
pub fn seal_chunk(
    key: &CursorKey,
    chunk: &ChunkCursor,
    principal: Option<Principal>,
    uri: &str,
) -> String {
    let chunk = cursor::ChunkCursor {
        origin: if chunk.from_source {
            Origin::Source
        } else {
            Origin::Result
        },
        index: chunk.index,
        offset: chunk.offset,
        total: chunk.total,
        version: chunk.version,
    };
    key.seal_chunk(&chunk, principal, uri)
}

/// The chunk cursor in `text`, when this key sealed it for this principal
/// and resource.
pub fn open_chunk(
    key: &CursorKey,
    text: &str,
    principal: Option<Principal>,
    uri: &str,
) -> Result<ChunkCursor, CursorError> {
    key.open_chunk(text, principal, uri)
        .map(|chunk| ChunkCursor {
            from_source: chunk.origin == Origin::Source,
            index: chunk.index,
            offset: chunk.offset,
            total: chunk.total,
            version: chunk.version,
        })
}
