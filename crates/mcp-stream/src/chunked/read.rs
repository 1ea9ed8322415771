//! Building one chunk: from a resource source, a bounded buffer at a time,
//! or cut from the inner service's whole result.

use std::{io, sync::Arc};

use base64::{Engine, engine::general_purpose::STANDARD};
use futures::future::Either;
use mcp_service::{McpError, Principal};
use serde_json::{Map, Value};
use tokio::io::AsyncReadExt;
use tower_service::Service;
use xxhash_rust::xxh3::xxh3_64;

use super::{layer::Shared, parked::ParkedStream};
use crate::{
    chunk::{
        CHUNK_META_KEY, ChunkInfo, TextError, base64_raw_len, blob_chunk_bytes, chunk_count,
        chunk_uri, text_prefix,
    },
    cursor::{ChunkCursor, Origin},
    error::{CursorError, RESTART_READ, internal},
    message::{Content, ReadResult, StreamRequest, StreamResponse},
    progress::Progress,
    source::{Body, ContentKind, OpenRequest, ResourceStream},
};

/// What a `resources/read` asks for, read from it before it moves on.
pub(crate) struct ReadContext {
    /// The resource URI, without a chunk cursor.
    pub(crate) base: BaseUri,
    /// The chunk cursor's text and what it says, when a later chunk is asked for.
    /// Boxed, as `progress` is: both are rare, and the context rides in
    /// every read's future, which the layers above move at each call.
    pub(crate) cursor: Option<Box<(String, ChunkCursor)>>,
    pub(crate) principal: Option<Principal>,
    pub(crate) progress: Option<Box<Progress>>,
}

/// The longest URI a read keeps inline.
const INLINE_URI: usize = 38;

/// A read's resource URI, inline when short (as most are), so that reading
/// a resource allocates nothing for it; only a result that is cut uses it.
pub(crate) enum BaseUri {
    Inline { len: u8, bytes: [u8; INLINE_URI] },
    Heap(Box<str>),
}

impl BaseUri {
    pub(crate) fn new(uri: &str) -> Self {
        let mut bytes = [0; INLINE_URI];
        match bytes.get_mut(..uri.len()) {
            Some(room) => {
                room.copy_from_slice(uri.as_bytes());
                // At most INLINE_URI, which fits a byte.
                let len = uri.len() as u8;
                Self::Inline { len, bytes }
            }
            None => Self::Heap(uri.into()),
        }
    }
}

impl std::ops::Deref for BaseUri {
    type Target = str;

    fn deref(&self) -> &str {
        match self {
            // Whole characters of a `str` went in: the bytes are UTF-8.
            Self::Inline { len, bytes } => {
                std::str::from_utf8(&bytes[..usize::from(*len)]).unwrap_or_default()
            }
            Self::Heap(uri) => uri,
        }
    }
}

impl std::fmt::Display for BaseUri {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self)
    }
}

/// A chunk built, before it becomes a result.
struct Built {
    content: Content,
    info: Option<ChunkInfo>,
    /// Resource bytes done after this chunk, and the total when known.
    done: u64,
    total: Option<u64>,
}

impl Shared {
    /// The size guard: `response` of `weight` bytes, or `TooLarge`.
    pub(crate) fn guard<R>(&self, response: R, weight: usize) -> Result<R, McpError> {
        if weight <= self.max_message_bytes {
            return Ok(response);
        }
        self.metrics.too_large.increment(1);
        Err(McpError::TooLarge {
            size: weight as u64,
            limit: self.max_message_bytes as u64,
        })
    }

    pub(crate) fn rejected(&self, error: CursorError) -> McpError {
        match error {
            CursorError::Invalid { .. } => self.metrics.invalid_cursors.increment(1),
            CursorError::Stale { .. } => self.metrics.stale_cursors.increment(1),
        }
        error.into()
    }

    fn stale(&self, context: &ReadContext) -> McpError {
        self.rejected(CursorError::stale(&context.base, RESTART_READ))
    }

    /// The next chunk's cursor, sealed for this reader and resource.
    fn next_uri(&self, context: &ReadContext, next: &ChunkCursor) -> String {
        let cursor = self.key.seal_chunk(next, context.principal, &context.base);
        chunk_uri(&context.base, &cursor)
    }

    /// The result of a built chunk, checked against the message limit
    /// without weighing it when its parts clearly fit.
    fn finish<R: StreamResponse>(
        &self,
        built: Built,
        uri: String,
        mime_type: Option<String>,
        hint: mcp_service::CacheHint,
        mut meta: Map<String, Value>,
    ) -> Result<R, McpError> {
        if let Some(info) = &built.info {
            let info = serde_json::to_value(info).map_err(|e| internal(e.to_string()))?;
            meta.insert(CHUNK_META_KEY.to_owned(), info);
        }
        // Escaping can at most sextuple a string; `_meta` is weighed as is.
        let next = built.info.as_ref().and_then(|info| info.next_uri.as_ref());
        let strings = uri.len() + mime_type.as_ref().map_or(0, String::len);
        let extra = 6 * (strings + next.map_or(0, String::len))
            + crate::message::serialized_len(&meta)
            + 1024;
        let content_bytes = match &built.content {
            Content::Text(_) => self.max_chunk_bytes,
            Content::Blob(blob) => blob.len(),
        };
        let mut read = ReadResult::new(uri, mime_type, built.content);
        read.hint = hint;
        read.meta = meta;
        let response = R::from_read(read)?;
        if content_bytes.saturating_add(extra) <= self.max_message_bytes {
            return Ok(response);
        }
        let weight = response.weight();
        self.guard(response, weight)
    }

    /// The chunk `context` asks for, cut from `read`, the inner service's
    /// whole result.
    pub(crate) fn cut<R: StreamResponse>(
        &self,
        context: &ReadContext,
        read: ReadResult,
    ) -> Result<(R, u64, Option<u64>), McpError> {
        let digest = xxh3_64(read.content.as_str().as_bytes());
        let (index, offset) = match context.cursor.as_deref() {
            None => (0, 0),
            Some((_, cursor))
                if cursor.origin == Origin::Result && cursor.version == Some(digest) =>
            {
                (cursor.index, cursor.offset)
            }
            Some(_) => return Err(self.stale(context)),
        };
        let (content, taken, total, chunks) = match &read.content {
            Content::Text(text) => {
                let rest = usize::try_from(offset)
                    .ok()
                    .and_then(|offset| text.get(offset..))
                    .ok_or_else(|| self.stale(context))?;
                let taken = text_prefix(rest.as_bytes(), self.max_chunk_bytes, true)
                    .map_err(|_| internal("a text result is not UTF-8"))?;
                let piece = rest.get(..taken).unwrap_or_default();
                (
                    Content::Text(piece.to_owned()),
                    taken as u64,
                    text.len() as u64,
                    None,
                )
            }
            Content::Blob(blob) => {
                let raw = blob_chunk_bytes(self.max_chunk_bytes);
                let total = base64_raw_len(blob);
                if offset % 3 != 0 {
                    return Err(self.stale(context));
                }
                let start = usize::try_from(offset / 3 * 4).unwrap_or(usize::MAX);
                let end = start.saturating_add(raw / 3 * 4).min(blob.len());
                let piece = blob.get(start..end).ok_or_else(|| {
                    internal(format!("the blob of {} is not base64", context.base))
                })?;
                let taken = base64_raw_len(piece);
                (
                    Content::Blob(piece.to_owned()),
                    taken,
                    total,
                    Some(chunk_count(total, raw)),
                )
            }
        };
        let done = offset + taken;
        let next = (done < total).then(|| ChunkCursor {
            origin: Origin::Result,
            index: index + 1,
            offset: done,
            total: Some(total),
            version: Some(digest),
        });
        let info = ChunkInfo {
            index,
            offset,
            bytes: taken,
            total_bytes: Some(total),
            chunks,
            next_uri: next.map(|next| self.next_uri(context, &next)),
        };
        self.metrics.result_chunks.increment(1);
        self.metrics.result_bytes.increment(taken);
        let built = Built {
            content,
            info: Some(info),
            done,
            total: Some(total),
        };
        let response = self.finish(built, read.uri, read.mime_type, read.hint, read.meta)?;
        Ok((response, done, Some(total)))
    }

    /// The chunk `context` asks for, from the source; `Ok(None)` when the
    /// source does not serve the resource.
    async fn read_source<R: StreamResponse>(
        &self,
        context: &ReadContext,
    ) -> Result<Option<(R, u64, Option<u64>)>, McpError> {
        let Some(source) = &self.source else {
            return Ok(None);
        };
        let cursor = context.cursor.as_deref();
        let offset = cursor.map_or(0, |(_, cursor)| cursor.offset);
        let parked = cursor.and_then(|(text, _)| self.parked.take(text));
        let (stream, carry) = match parked {
            Some(parked) => (parked.stream, parked.carry),
            None => {
                let request = OpenRequest {
                    uri: &context.base,
                    principal: context.principal,
                    offset,
                };
                match source.open(request).await? {
                    Some(stream) => (stream, Vec::new()),
                    // A resource the source served before and no longer does.
                    None if cursor.is_some_and(|(_, c)| c.origin == Origin::Source) => {
                        return Err(self.stale(context));
                    }
                    None => return Ok(None),
                }
            }
        };
        if let Some((_, cursor)) = cursor
            && (cursor.origin != Origin::Source
                || cursor.version != stream.revision
                || cursor.total != stream.len)
        {
            return Err(self.stale(context));
        }
        let index = cursor.map_or(0, |(_, cursor)| cursor.index);
        let (built, rest) = self
            .next_chunk(context, stream, carry, index, offset)
            .await?;
        let (mime_type, hint) = (rest.stream.mime_type.clone(), rest.stream.hint);
        if let Some(next) = built.info.as_ref().and_then(|info| info.next_uri.as_ref())
            && !rest.stream.seekable
        {
            let (_, cursor) = crate::chunk::split_uri(next);
            if let Some(cursor) = cursor {
                self.parked.park(cursor.to_owned(), rest);
            }
        }
        self.metrics.source_chunks.increment(1);
        self.metrics.source_bytes.increment(built.done - offset);
        let (done, total) = (built.done, built.total);
        let response = self.finish(built, context.base.to_string(), mime_type, hint, Map::new())?;
        Ok(Some((response, done, total)))
    }

    /// Reads the chunk at `offset` of `stream`, whose bytes from
    /// `stream.start` are `carry` and then its body.
    async fn next_chunk(
        &self,
        context: &ReadContext,
        mut stream: ResourceStream,
        carry: Vec<u8>,
        index: u32,
        offset: u64,
    ) -> Result<(Built, ParkedStream), McpError> {
        let uri: &str = &context.base;
        let want = match stream.kind {
            ContentKind::Blob => blob_chunk_bytes(self.max_chunk_bytes),
            ContentKind::Text => self.max_chunk_bytes,
        };
        let failed = |error: io::Error| McpError::unavailable(format!("reading {uri}: {error}"));
        let (buffer, len) = match &stream.body {
            Body::Memory(bytes) => {
                let start =
                    usize::try_from(offset.saturating_sub(stream.start)).unwrap_or(usize::MAX);
                let rest = bytes.get(start..).ok_or_else(|| self.stale(context))?;
                let end = rest.len().min(want);
                (
                    Buffer::Memory(bytes.slice(start..start + end)),
                    Some(stream.start + bytes.len() as u64),
                )
            }
            Body::Reader(_) => {
                let len = stream.len;
                let expected = match len {
                    Some(len) => usize::try_from(len.saturating_sub(offset))
                        .unwrap_or(usize::MAX)
                        .min(want),
                    // One byte more tells whether the stream ends here.
                    None => want + 1,
                };
                let mut buffer = carry;
                if let Body::Reader(reader) = &mut stream.body {
                    let skip = offset
                        .saturating_sub(stream.start)
                        .saturating_sub(buffer.len() as u64);
                    if skip > 0 {
                        buffer.clear();
                        let skipped =
                            tokio::io::copy(&mut reader.take(skip), &mut tokio::io::sink())
                                .await
                                .map_err(failed)?;
                        if skipped < skip {
                            return Err(self.stale(context));
                        }
                    }
                    if buffer.len() < expected {
                        buffer.reserve_exact(expected - buffer.len());
                        let missing = (expected - buffer.len()) as u64;
                        reader
                            .take(missing)
                            .read_to_end(&mut buffer)
                            .await
                            .map_err(failed)?;
                    }
                }
                if let Some(len) = len
                    && buffer.len() < expected
                {
                    return Err(internal(format!(
                        "{uri} ended at byte {} of the {len} its source declared",
                        offset + buffer.len() as u64
                    )));
                }
                let len = len.or((buffer.len() < expected).then(|| offset + buffer.len() as u64));
                (Buffer::Read(buffer), len)
            }
        };
        let window = buffer.as_slice();
        let window = &window[..window.len().min(want)];
        let window_len = window.len();
        let at_end = len.is_some_and(|len| offset + window_len as u64 >= len);
        let taken = match stream.kind {
            ContentKind::Blob => window.len(),
            ContentKind::Text => match text_prefix(window, self.max_chunk_bytes, at_end) {
                Ok(0) if !window.is_empty() => {
                    return Err(internal(format!(
                        "{uri}: a character does not fit in a chunk"
                    )));
                }
                Ok(taken) => taken,
                Err(TextError::NotUtf8 { at }) => {
                    return Err(internal(format!(
                        "{uri} is served as text but byte {} is not UTF-8",
                        offset + at as u64
                    )));
                }
            },
        };
        let (content, carry) = buffer.split(stream.kind, taken)?;
        let done = offset + taken as u64;
        let last = at_end && taken == window_len;
        let chunks = match (stream.kind, stream.len) {
            (ContentKind::Blob, Some(len)) => Some(chunk_count(len, want)),
            _ => None,
        };
        let next = (!last).then(|| ChunkCursor {
            origin: Origin::Source,
            index: index + 1,
            offset: done,
            total: stream.len,
            version: stream.revision,
        });
        // A resource that fits in one chunk is served as a plain result.
        let info = (index > 0 || !last).then(|| ChunkInfo {
            index,
            offset,
            bytes: taken as u64,
            total_bytes: stream.len.or(last.then_some(done)),
            chunks,
            next_uri: next.map(|next| self.next_uri(context, &next)),
        });
        stream.start = done;
        let built = Built {
            content,
            info,
            done,
            total: stream.len,
        };
        Ok((built, ParkedStream { stream, carry }))
    }
}

/// The bytes of a chunk: a slice of a resource in memory, or read.
enum Buffer {
    Memory(bytes::Bytes),
    Read(Vec<u8>),
}

impl Buffer {
    fn as_slice(&self) -> &[u8] {
        match self {
            Self::Memory(bytes) => bytes,
            Self::Read(buffer) => buffer,
        }
    }

    /// The content of the first `taken` bytes, and the bytes after them.
    fn split(self, kind: ContentKind, taken: usize) -> Result<(Content, Vec<u8>), McpError> {
        let not_text = |_| internal("a text chunk is not UTF-8");
        Ok(match (self, kind) {
            (Self::Memory(bytes), ContentKind::Blob) => {
                (Content::Blob(STANDARD.encode(&bytes[..taken])), Vec::new())
            }
            (Self::Memory(bytes), ContentKind::Text) => {
                let text = std::str::from_utf8(&bytes[..taken]).map_err(not_text)?;
                (Content::Text(text.to_owned()), Vec::new())
            }
            (Self::Read(mut buffer), ContentKind::Blob) => {
                let carry = buffer.split_off(taken);
                (Content::Blob(STANDARD.encode(&buffer)), carry)
            }
            (Self::Read(mut buffer), ContentKind::Text) => {
                let carry = buffer.split_off(taken);
                let text =
                    String::from_utf8(buffer).map_err(|error| not_text(error.utf8_error()))?;
                (Content::Text(text), carry)
            }
        })
    }
}

/// Serves a `resources/read` with a source: the source first, under a read
/// permit and the read timeout, then the inner service.
pub(crate) async fn read_with_source<S, Req, R>(
    shared: Arc<Shared>,
    mut inner: S,
    request: Req,
    context: ReadContext,
) -> Result<R, McpError>
where
    S: Service<Req, Response = R>,
    S::Error: Into<McpError>,
    Req: StreamRequest,
    R: StreamResponse,
{
    let from_source = async {
        let _permit = shared
            .reads
            .acquire()
            .await
            .map_err(|_| internal("the chunk layer is closed"))?;
        tokio::time::timeout(shared.read_timeout, shared.read_source::<R>(&context))
            .await
            .map_err(|_| McpError::Timeout {
                after: shared.read_timeout,
            })?
    };
    // A client that cancels stops the wait for a permit and the read.
    let served = match request.cancellation().cloned() {
        Some(token) => {
            let cancelled = std::pin::pin!(token.cancelled_owned());
            match futures::future::select(std::pin::pin!(from_source), cancelled).await {
                Either::Left((served, _)) => served?,
                Either::Right(_) => return Err(McpError::Cancelled),
            }
        }
        None => from_source.await?,
    };
    let (response, done, total) = match served {
        Some(served) => served,
        None => {
            let request = match &context.cursor {
                Some(_) => request.with_resource_uri(&context.base)?,
                None => request,
            };
            let response = inner.call(request).await.map_err(Into::into)?;
            match shared.whole_or_cut(&context, response)? {
                Whole::Done(response) => return Ok(response),
                Whole::Cut(response, done, total) => (response, done, total),
            }
        }
    };
    if let Some(progress) = &context.progress {
        progress.report(done, total).await;
    }
    Ok(response)
}

/// What became of an inner result of `resources/read`.
pub(crate) enum Whole<R> {
    /// Served as it is (it fits), or refused.
    Done(R),
    /// Cut into a chunk, with bytes done and the total, for progress.
    Cut(R, u64, Option<u64>),
}

impl Shared {
    /// An inner result of `resources/read`: whole when it fits a chunk,
    /// else cut into the chunk `context` asks for.
    pub(crate) fn whole_or_cut<R: StreamResponse>(
        &self,
        context: &ReadContext,
        response: R,
    ) -> Result<Whole<R>, McpError> {
        if context.cursor.is_none() {
            let weight = response.weight();
            if weight <= self.max_chunk_bytes {
                return Ok(Whole::Done(response));
            }
            return match response.into_read() {
                Ok(read) if encoded_len(&read.content) > self.max_chunk_bytes => {
                    let (response, done, total) = self.cut(context, read)?;
                    Ok(Whole::Cut(response, done, total))
                }
                Ok(read) => Ok(Whole::Done(self.guard(R::from_read(read)?, weight)?)),
                Err(response) => Ok(Whole::Done(self.guard(response, weight)?)),
            };
        }
        match response.into_read() {
            Ok(read) => {
                let (response, done, total) = self.cut(context, read)?;
                Ok(Whole::Cut(response, done, total))
            }
            Err(_) => Err(self.stale(context)),
        }
    }
}

/// The bytes `content` takes as a JSON string, without its quotes.
fn encoded_len(content: &Content) -> usize {
    match content {
        Content::Blob(blob) => blob.len(),
        Content::Text(text) => crate::chunk::escaped_text_len(text),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_base_uri_reads_back_whole_inline_or_not() {
        let at_limit = "a".repeat(INLINE_URI);
        let over = "a".repeat(INLINE_URI + 1);
        // Two-byte characters across the inline limit.
        let accented_in = format!("{}é", "a".repeat(INLINE_URI - 2));
        let accented_over = format!("{}é", "a".repeat(INLINE_URI - 1));
        for uri in [
            "",
            "demo://static/hello",
            &at_limit,
            &over,
            &accented_in,
            &accented_over,
        ] {
            let base = BaseUri::new(uri);
            assert_eq!(&*base, uri);
            assert_eq!(base.to_string(), uri);
            let inline = matches!(base, BaseUri::Inline { .. });
            assert_eq!(inline, uri.len() <= INLINE_URI, "{uri}");
        }
    }
}
