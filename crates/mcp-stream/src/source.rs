//! Resources as streams: [`ResourceSource`], which a server implements to
//! open its large resources, and [`ResourceStream`], what it opens.

use std::{fmt, io, path::Path, pin::Pin, time::UNIX_EPOCH};

use bytes::Bytes;
use futures::{Stream, future::BoxFuture};
use mcp_service::{CacheHint, McpError, Principal};
use tokio::io::{AsyncRead, AsyncSeekExt};
use xxhash_rust::xxh3::xxh3_64;

/// Whether a resource is text (sent as `text`, cut on UTF-8 boundaries)
/// or binary (sent as base64 `blob`, cut on 3-byte groups).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ContentKind {
    /// UTF-8 text.
    Text,
    /// Bytes, sent as base64.
    Blob,
}

/// What the chunk layer asks a [`ResourceSource`] to open.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct OpenRequest<'a> {
    /// The resource URI (without any chunk cursor).
    pub uri: &'a str,
    /// Who is reading; the source decides whether they may.
    pub principal: Option<Principal>,
    /// The byte to start at. A source that can seek opens there and says
    /// so with [`ResourceStream::starting_at`]; one that cannot opens at 0
    /// and the layer skips ahead (and keeps the stream for the next chunk).
    pub offset: u64,
}

/// Opens resources as streams, so the chunk layer can serve them a bounded
/// buffer at a time instead of the handler building them whole.
///
/// Every `resources/read` that reaches the [`ChunkLayer`](crate::ChunkLayer)
/// asks the source first: `Ok(None)` means the source does not serve that
/// URI and the request goes on to the inner service. The source is asked
/// again for every chunk (with the chunk's offset), so it checks access
/// every time, and nothing stays open between chunks; except a stream that
/// cannot seek, which stays open for the next chunk of the principal that
/// opened it (their cursor is the only key to it).
///
/// ```
/// use futures::future::BoxFuture;
/// use mcp_service::McpError;
/// use mcp_stream::{ContentKind, OpenRequest, ResourceSource, ResourceStream};
///
/// /// `file:///reports/{name}` from a directory.
/// struct Reports(std::path::PathBuf);
///
/// impl ResourceSource for Reports {
///     fn open<'a>(
///         &'a self,
///         request: OpenRequest<'a>,
///     ) -> BoxFuture<'a, Result<Option<ResourceStream>, McpError>> {
///         Box::pin(async move {
///             let Some(name) = request.uri.strip_prefix("file:///reports/") else {
///                 return Ok(None);
///             };
///             if name.contains('/') || name.starts_with('.') {
///                 return Ok(None);
///             }
///             let path = self.0.join(name);
///             let stream = ResourceStream::file(&path, ContentKind::Blob, request.offset)
///                 .await
///                 .map_err(|error| McpError::unavailable(error.to_string()))?;
///             Ok(Some(stream.with_mime_type("application/pdf")))
///         })
///     }
/// }
/// ```
pub trait ResourceSource: Send + Sync + 'static {
    /// Opens `request.uri` at `request.offset`, or `Ok(None)` when this
    /// source does not serve it. Errors reach the client as they are.
    fn open<'a>(
        &'a self,
        request: OpenRequest<'a>,
    ) -> BoxFuture<'a, Result<Option<ResourceStream>, McpError>>;
}

/// The bytes of a resource.
pub(crate) enum Body {
    /// In memory: chunks are slices of it, with no copy.
    Memory(Bytes),
    /// Read a bounded buffer at a time.
    Reader(Pin<Box<dyn AsyncRead + Send>>),
}

/// A resource opened as a stream: its bytes, kind, MIME type, and what is
/// known of its length and revision.
///
/// Build it from an [`AsyncRead`] ([`reader`](Self::reader)), a
/// [`Stream`] of [`Bytes`] ([`stream`](Self::stream)), bytes in memory
/// ([`bytes`](Self::bytes)) or a file ([`file`](Self::file)).
pub struct ResourceStream {
    pub(crate) body: Body,
    pub(crate) kind: ContentKind,
    pub(crate) mime_type: Option<String>,
    pub(crate) len: Option<u64>,
    /// The byte the body starts at.
    pub(crate) start: u64,
    /// Whether the source opens at an offset: then nothing is kept open
    /// between chunks.
    pub(crate) seekable: bool,
    pub(crate) revision: Option<u64>,
    pub(crate) hint: CacheHint,
}

impl ResourceStream {
    fn new(body: Body, kind: ContentKind) -> Self {
        Self {
            body,
            kind,
            mime_type: None,
            len: None,
            start: 0,
            seekable: false,
            revision: None,
            hint: CacheHint::default(),
        }
    }

    /// A resource read from `reader`, from its first byte, of unknown length.
    pub fn reader(kind: ContentKind, reader: impl AsyncRead + Send + 'static) -> Self {
        Self::new(Body::Reader(Box::pin(reader)), kind)
    }

    /// A resource made of the byte buffers `stream` yields, of unknown length.
    pub fn stream(
        kind: ContentKind,
        stream: impl Stream<Item = io::Result<Bytes>> + Send + 'static,
    ) -> Self {
        Self::reader(kind, tokio_util::io::StreamReader::new(stream))
    }

    /// A resource in memory: its length is known and chunks are slices of
    /// it, copied only to be encoded. Give it a
    /// [revision](Self::with_revision) if the bytes behind its URI can
    /// change between chunks (hashing them on every chunk would cost more
    /// than serving it).
    pub fn bytes(kind: ContentKind, bytes: impl Into<Bytes>) -> Self {
        let bytes = bytes.into();
        let mut stream = Self::new(Body::Memory(Bytes::new()), kind);
        stream.len = Some(bytes.len() as u64);
        stream.seekable = true;
        stream.body = Body::Memory(bytes);
        stream
    }

    /// The file at `path`, opened at `offset`. Reads run on tokio's
    /// blocking pool, never on a runtime worker. Its length comes from the
    /// file's metadata and its revision from its length and modification
    /// time, so a file replaced between two chunks is noticed.
    pub async fn file(path: &Path, kind: ContentKind, offset: u64) -> io::Result<Self> {
        let mut file = tokio::fs::File::open(path).await?;
        let metadata = file.metadata().await?;
        if !metadata.is_file() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("{} is not a file", path.display()),
            ));
        }
        let modified = metadata
            .modified()
            .ok()
            .and_then(|time| time.duration_since(UNIX_EPOCH).ok())
            .map_or(0, |since| since.as_nanos());
        let mut revision = [0u8; 24];
        revision[..16].copy_from_slice(&modified.to_be_bytes());
        revision[16..].copy_from_slice(&metadata.len().to_be_bytes());
        let start = offset.min(metadata.len());
        file.seek(io::SeekFrom::Start(start)).await?;
        Ok(Self::reader(kind, file)
            .with_len(metadata.len())
            .with_revision(xxh3_64(&revision))
            .starting_at(start))
    }

    /// The resource's length in bytes. A stream that ends before it is an
    /// error; bytes after it are not read.
    #[must_use]
    pub fn with_len(mut self, len: u64) -> Self {
        self.len = Some(len);
        self
    }

    /// The MIME type of the resource's contents.
    #[must_use]
    pub fn with_mime_type(mut self, mime_type: impl Into<String>) -> Self {
        self.mime_type = Some(mime_type.into());
        self
    }

    /// A revision (a version number, a hash of an ETag or modification
    /// time): chunk cursors carry it, and a later chunk of a resource whose
    /// revision changed is refused as stale instead of mixing two versions.
    #[must_use]
    pub fn with_revision(mut self, revision: u64) -> Self {
        self.revision = Some(revision);
        self
    }

    /// Says the body starts at byte `offset` of the resource: the source
    /// opened it where it was asked to (see [`OpenRequest::offset`]).
    #[must_use]
    pub fn starting_at(mut self, offset: u64) -> Self {
        self.start = offset;
        self.seekable = true;
        self
    }

    /// The caching hints (`ttlMs`, `cacheScope`) each chunk's result carries.
    #[must_use]
    pub fn with_cache_hint(mut self, hint: CacheHint) -> Self {
        self.hint = hint;
        self
    }

    /// Whether the resource is text or a blob.
    pub fn kind(&self) -> ContentKind {
        self.kind
    }

    /// The resource's length, when known.
    pub fn len(&self) -> Option<u64> {
        self.len
    }

    /// Whether the resource is known to be empty.
    pub fn is_empty(&self) -> bool {
        self.len == Some(0)
    }
}

impl fmt::Debug for ResourceStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResourceStream")
            .field("kind", &self.kind)
            .field("mime_type", &self.mime_type)
            .field("len", &self.len)
            .field("start", &self.start)
            .field("revision", &self.revision)
            .finish_non_exhaustive()
    }
}
