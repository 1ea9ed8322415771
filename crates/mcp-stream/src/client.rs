//! [`ResourceReader`]: reads a whole resource over an rmcp client, following
//! the chunk convention when the server chunks and one read when it does not.

use base64::{Engine, engine::general_purpose::STANDARD};
use futures::future::join;
use rmcp::{
    Peer, RoleClient, ServiceError,
    model::{ReadResourceRequestParams, ReadResourceResult, ResourceContents},
};
use tokio::io::{AsyncWrite, AsyncWriteExt};

use crate::{
    chunk::{CHUNK_META_KEY, CHUNK_URI_MARKER, ChunkInfo},
    source::ContentKind,
};

/// Why a resource could not be read whole.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReadError {
    /// A `resources/read` failed (the server's error, or the connection).
    #[error("resources/read of {uri} failed: {source}")]
    Request {
        /// The URI read.
        uri: String,
        /// What rmcp reported.
        #[source]
        source: ServiceError,
    },
    /// The server broke the chunk convention: chunks out of order, a
    /// changed kind, a next URI for another resource, a wrong total.
    #[error("{uri}: {problem}")]
    Protocol {
        /// The resource.
        uri: String,
        /// What was wrong.
        problem: String,
    },
    /// The resource is larger than [`ResourceReader::max_bytes`].
    #[error("{uri} is larger than the {limit} bytes allowed")]
    TooLarge {
        /// The resource.
        uri: String,
        /// The limit.
        limit: u64,
    },
    /// Writing the resource out failed.
    #[error("writing {uri}: {source}")]
    Write {
        /// The resource.
        uri: String,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
}

/// A resource read whole.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Resource {
    /// The URI of its content.
    pub uri: String,
    /// Its MIME type, if the server gave one.
    pub mime_type: Option<String>,
    /// Its bytes: UTF-8 for text.
    pub bytes: Vec<u8>,
    /// Whether the server sent it as text or as a blob.
    pub kind: ContentKind,
    /// How many `resources/read` requests it took.
    pub chunks: u32,
}

impl Resource {
    /// The text of a text resource.
    pub fn text(&self) -> Option<&str> {
        match self.kind {
            ContentKind::Text => std::str::from_utf8(&self.bytes).ok(),
            ContentKind::Blob => None,
        }
    }
}

/// What [`ResourceReader::copy_to`] wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ReadSummary {
    /// Bytes written (decoded, for blobs).
    pub bytes: u64,
    /// How many `resources/read` requests it took.
    pub chunks: u32,
    /// Whether the server sent it as text or as a blob.
    pub kind: ContentKind,
    /// Its MIME type, if the server gave one.
    pub mime_type: Option<String>,
    /// The URI of its content.
    pub uri: String,
}

/// Reads a whole resource from any MCP server over an rmcp client: it
/// follows the chunk convention of [`ChunkLayer`](crate::ChunkLayer)
/// (`_meta["io.github.mcp-stack/chunk"]`, then `resources/read` of its
/// `nextUri` until the last chunk), checks that chunks arrive in order and
/// add up to the declared total, and is a single read against a server
/// that does not chunk.
///
/// [`copy_to`](Self::copy_to) writes each chunk out as it arrives, while
/// the next one is on its way (so a client holds two chunks at most, and
/// the server builds one while the client writes the other);
/// [`read`](Self::read) collects the bytes in memory.
///
/// rmcp's client gives every request a `_meta.progressToken` of its own,
/// so a chunking server sends `notifications/progress` for each chunk
/// request; they reach the client handler's `on_progress`, each under its
/// request's token, with `progress` counting bytes of the whole resource.
///
/// ```no_run
/// # async fn run(client: rmcp::Peer<rmcp::RoleClient>) -> Result<(), mcp_stream::ReadError> {
/// use mcp_stream::ResourceReader;
///
/// let mut file = tokio::fs::File::create("big.bin").await.expect("create");
/// let summary = ResourceReader::new(&client).copy_to("file:///big.bin", &mut file).await?;
/// println!("{} bytes in {} chunks", summary.bytes, summary.chunks);
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct ResourceReader<'a> {
    peer: &'a Peer<RoleClient>,
    max_bytes: Option<u64>,
}

impl<'a> ResourceReader<'a> {
    /// A reader over `peer`, without a size limit.
    pub fn new(peer: &'a Peer<RoleClient>) -> Self {
        Self {
            peer,
            max_bytes: None,
        }
    }

    /// Refuses resources larger than `bytes` (decoded), before writing
    /// what goes past. Default: no limit.
    #[must_use]
    pub fn max_bytes(mut self, bytes: u64) -> Self {
        self.max_bytes = Some(bytes);
        self
    }

    /// The resource at `uri`, whole, in memory.
    pub async fn read(&self, uri: &str) -> Result<Resource, ReadError> {
        let mut bytes = Vec::new();
        let summary = self.copy_to(uri, &mut bytes).await?;
        Ok(Resource {
            uri: summary.uri,
            mime_type: summary.mime_type,
            bytes,
            kind: summary.kind,
            chunks: summary.chunks,
        })
    }

    /// Writes the resource at `uri` to `writer`, a chunk at a time, and
    /// flushes it.
    pub async fn copy_to<W>(&self, uri: &str, writer: &mut W) -> Result<ReadSummary, ReadError>
    where
        W: AsyncWrite + Unpin + ?Sized,
    {
        let protocol = |problem: String| ReadError::Protocol {
            uri: uri.to_owned(),
            problem,
        };
        let write_failed = |source| ReadError::Write {
            uri: uri.to_owned(),
            source,
        };
        let failed = |target: &str| {
            let target = target.to_owned();
            move |source| ReadError::Request {
                uri: target,
                source,
            }
        };
        let mut summary: Option<ReadSummary> = None;
        let mut decoded = Vec::new();
        let mut declared_total = None;
        let mut response = self.request(uri).await.map_err(failed(uri))?;
        loop {
            let result = response;
            let index = summary.as_ref().map_or(0, |summary| summary.chunks);
            let written = summary.as_ref().map_or(0, |summary| summary.bytes);
            let info = chunk_info(&result).map_err(protocol)?;
            match (&info, index) {
                (None, 0) => {}
                (None, _) => return Err(protocol(format!("chunk {index} has no chunk _meta"))),
                (Some(info), _) => {
                    if info.index != index || info.offset != written {
                        return Err(protocol(format!(
                            "expected chunk {index} at byte {written}, got chunk {} at byte {}",
                            info.index, info.offset
                        )));
                    }
                    if index > 0 && declared_total != info.total_bytes && declared_total.is_some() {
                        return Err(protocol(format!("chunk {index} changed the total size")));
                    }
                    declared_total = declared_total.or(info.total_bytes);
                }
            }
            let next = match info.as_ref().and_then(|info| info.next_uri.clone()) {
                // Only chunks of the resource asked for are followed.
                Some(next_uri) if is_chunk_of(&next_uri, uri) => Some(next_uri),
                Some(next_uri) => {
                    return Err(protocol(format!(
                        "next chunk URI {next_uri} is not of {uri}"
                    )));
                }
                None => None,
            };
            let previous = summary.as_ref().map(|summary| summary.kind);
            let chunk = async {
                let [content] = result.contents.as_slice() else {
                    return Err(protocol(format!(
                        "a read returned {} contents; a chunked resource has one",
                        result.contents.len()
                    )));
                };
                let (content_uri, mime_type, kind, piece) = match content {
                    ResourceContents::TextResourceContents {
                        uri,
                        mime_type,
                        text,
                        ..
                    } => (uri, mime_type, ContentKind::Text, text.as_bytes()),
                    ResourceContents::BlobResourceContents {
                        uri,
                        mime_type,
                        blob,
                        ..
                    } => {
                        decoded.clear();
                        STANDARD.decode_vec(blob, &mut decoded).map_err(|error| {
                            protocol(format!("chunk {index} is not base64: {error}"))
                        })?;
                        (uri, mime_type, ContentKind::Blob, decoded.as_slice())
                    }
                    _ => {
                        return Err(protocol(
                            "a content of a kind this reader does not know".into(),
                        ));
                    }
                };
                if let Some(info) = &info
                    && info.bytes != piece.len() as u64
                {
                    return Err(protocol(format!(
                        "chunk {index} says {} bytes and holds {}",
                        info.bytes,
                        piece.len()
                    )));
                }
                if previous.is_some_and(|previous| previous != kind) {
                    return Err(protocol(format!(
                        "chunk {index} switched between text and blob"
                    )));
                }
                let bytes = written + piece.len() as u64;
                if let Some(limit) = self.max_bytes
                    && (bytes > limit || declared_total.is_some_and(|total| total > limit))
                {
                    return Err(ReadError::TooLarge {
                        uri: uri.to_owned(),
                        limit,
                    });
                }
                writer.write_all(piece).await.map_err(write_failed)?;
                Ok((bytes, kind, mime_type.clone(), content_uri.clone()))
            };
            // The next chunk is asked for before this one is decoded and
            // written, so the server builds it meanwhile: one chunk ahead.
            let (chunk, following) = match &next {
                Some(next_uri) => {
                    let (chunk, following) = join(chunk, self.request(next_uri)).await;
                    (chunk, Some(following.map_err(failed(next_uri))))
                }
                None => (chunk.await, None),
            };
            let (bytes, kind, mime_type, content_uri) = chunk?;
            summary = Some(ReadSummary {
                bytes,
                chunks: index + 1,
                kind,
                mime_type: summary.map_or(mime_type, |summary| summary.mime_type),
                uri: content_uri,
            });
            match following {
                Some(following) => response = following?,
                None => break,
            }
        }
        let summary = summary.ok_or_else(|| protocol("no chunk was read".into()))?;
        if let Some(total) = declared_total
            && total != summary.bytes
        {
            return Err(protocol(format!(
                "the chunks hold {} bytes of the {total} declared",
                summary.bytes
            )));
        }
        writer.flush().await.map_err(write_failed)?;
        Ok(summary)
    }

    async fn request(&self, uri: &str) -> Result<ReadResourceResult, ServiceError> {
        self.peer
            .read_resource(ReadResourceRequestParams::new(uri))
            .await
    }
}

fn chunk_info(result: &ReadResourceResult) -> Result<Option<ChunkInfo>, String> {
    let Some(value) = result
        .meta
        .as_ref()
        .and_then(|meta| meta.0.get(CHUNK_META_KEY))
    else {
        return Ok(None);
    };
    serde_json::from_value(value.clone())
        .map(Some)
        .map_err(|error| format!("invalid chunk _meta: {error}"))
}

/// Whether `next` is a chunk URI of the resource `uri`.
fn is_chunk_of(next: &str, uri: &str) -> bool {
    let (base, _) = crate::chunk::split_uri(uri);
    next.strip_prefix(base)
        .is_some_and(|rest| rest.starts_with(CHUNK_URI_MARKER))
}
