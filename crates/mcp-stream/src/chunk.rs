//! The chunk convention ([`ChunkInfo`], chunk URIs) and the arithmetic of
//! cutting text and blobs into chunks that stay under a byte budget.

use serde::{Deserialize, Serialize};

/// The result `_meta` key under which a chunked `resources/read` describes
/// its chunk; see [`ChunkInfo`].
pub const CHUNK_META_KEY: &str = "io.github.mcp-stack/chunk";

/// What separates a resource URI from the cursor of one of its chunks in a
/// chunk URI: `{uri}#mcp-chunk={cursor}`.
pub const CHUNK_URI_MARKER: &str = "#mcp-chunk=";

/// One chunk of a resource served in chunks, as `_meta["io.github.mcp-stack/chunk"]`
/// of its `resources/read` result.
///
/// The result's single content holds the chunk: text cut on a UTF-8
/// boundary, or base64 of a whole number of 3-byte groups, so the chunks
/// concatenate (text) or decode and concatenate (blobs) to the resource.
/// The client reads the next chunk with `resources/read` of
/// [`next_uri`](Self::next_uri), until a chunk has none.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct ChunkInfo {
    /// The index of this chunk, from 0.
    pub index: u32,
    /// The resource byte this chunk starts at (raw bytes, not base64).
    pub offset: u64,
    /// How many resource bytes this chunk holds.
    pub bytes: u64,
    /// The resource's length in bytes, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total_bytes: Option<u64>,
    /// How many chunks the resource has, when known in advance (blobs of
    /// known length; a text chunk's size depends on its characters).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chunks: Option<u32>,
    /// The URI to read for the next chunk; absent on the last.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_uri: Option<String>,
}

/// The resource URI of a chunk URI and the cursor in it; a URI without a
/// cursor is its own resource.
pub(crate) fn split_uri(uri: &str) -> (&str, Option<&str>) {
    // Most URIs have no fragment at all: one byte search answers them.
    if !uri.as_bytes().contains(&b'#') {
        return (uri, None);
    }
    match uri.rsplit_once(CHUNK_URI_MARKER) {
        Some((base, cursor)) => (base, Some(cursor)),
        None => (uri, None),
    }
}

pub(crate) fn chunk_uri(base: &str, cursor: &str) -> String {
    let mut uri = String::with_capacity(base.len() + CHUNK_URI_MARKER.len() + cursor.len());
    uri.push_str(base);
    uri.push_str(CHUNK_URI_MARKER);
    uri.push_str(cursor);
    uri
}

/// The raw bytes of a blob chunk whose base64 is at most `max_chunk_bytes`:
/// whole 3-byte groups, so chunk boundaries fall between base64 quanta.
pub(crate) fn blob_chunk_bytes(max_chunk_bytes: usize) -> usize {
    (max_chunk_bytes / 4).max(1) * 3
}

/// How many chunks of `chunk` bytes a resource of `total` bytes takes (an
/// empty resource is one empty chunk).
pub(crate) fn chunk_count(total: u64, chunk: usize) -> u32 {
    let chunks = total.div_ceil(chunk as u64).max(1);
    u32::try_from(chunks).unwrap_or(u32::MAX)
}

/// The raw length of a base64 text (standard alphabet, padded or not).
pub(crate) fn base64_raw_len(blob: &str) -> u64 {
    let padding = blob.bytes().rev().take_while(|&b| b == b'=').count();
    let chars = (blob.len() - padding) as u64;
    chars / 4 * 3 + (chars % 4).saturating_sub(1)
}

/// The bytes a text byte takes inside a JSON string, as serde_json writes
/// it: quote and backslash get a backslash, control characters a short or
/// `\u00XX` escape, everything else (UTF-8 included) is written as is.
fn escaped_len(byte: u8) -> usize {
    match byte {
        b'"' | b'\\' | b'\x08' | b'\x0c' | b'\n' | b'\r' | b'\t' => 2,
        0x00..=0x1f => 6,
        _ => 1,
    }
}

/// The bytes `text` takes inside a JSON string, quotes not counted.
pub(crate) fn escaped_text_len(text: &str) -> usize {
    text.bytes().map(escaped_len).sum()
}

/// Why a text could not be cut.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TextError {
    /// The bytes are not UTF-8; `at` is the offset of the first bad byte.
    NotUtf8 { at: usize },
}

/// How many bytes of `text` (the unread rest of a resource, or as much of
/// it as is buffered) make the next text chunk: the longest prefix that
/// ends on a character boundary and takes at most `budget` bytes as a JSON
/// string. `complete` says `text` runs to the end of the resource, so a
/// character cut off at its end is an error rather than a boundary.
pub(crate) fn text_prefix(text: &[u8], budget: usize, complete: bool) -> Result<usize, TextError> {
    let mut used = 0;
    let mut fits = text.len();
    for (index, &byte) in text.iter().enumerate() {
        used += escaped_len(byte);
        if used > budget {
            fits = index;
            break;
        }
    }
    let whole = fits == text.len();
    match std::str::from_utf8(&text[..fits]) {
        Ok(_) => Ok(fits),
        // A character cut by the budget or by the buffer's end: stop before it.
        Err(error) if error.error_len().is_none() && !(whole && complete) => {
            Ok(error.valid_up_to())
        }
        Err(error) => Err(TextError::NotUtf8 {
            at: error.valid_up_to(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use base64::{Engine, engine::general_purpose::STANDARD};
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn chunk_uris_keep_the_resource_uri_whole() {
        let uri = chunk_uri("file:///a#b", "Zm9v");
        assert_eq!(uri, "file:///a#b#mcp-chunk=Zm9v");
        assert_eq!(split_uri(&uri), ("file:///a#b", Some("Zm9v")));
        assert_eq!(split_uri("file:///a"), ("file:///a", None));
    }

    #[test]
    fn blob_chunks_are_whole_base64_quanta() {
        assert_eq!(blob_chunk_bytes(4 << 20), 3 << 20);
        assert_eq!(blob_chunk_bytes(10), 6);
        assert_eq!(chunk_count(64 << 20, 3 << 20), 22);
        assert_eq!(chunk_count(0, 3), 1);
        for raw in 0..40usize {
            let encoded = STANDARD.encode(vec![7u8; raw]);
            assert_eq!(base64_raw_len(&encoded), raw as u64);
            assert_eq!(base64_raw_len(encoded.trim_end_matches('=')), raw as u64);
        }
    }

    #[test]
    fn text_cuts_fall_on_character_boundaries_within_the_budget() {
        let text = "añb€c😀".as_bytes();
        // `a` 1, `ñ` 2, `b` 1, `€` 3, `c` 1, `😀` 4 bytes.
        assert_eq!(text_prefix(text, 2, true), Ok(1), "ñ does not fit after a");
        assert_eq!(text_prefix(text, 3, true), Ok(3));
        assert_eq!(text_prefix(text, 6, true), Ok(4));
        assert_eq!(text_prefix(text, 100, true), Ok(text.len()));
        // Escapes count as written: a quote is 2 bytes, a NUL 6.
        assert_eq!(text_prefix(b"\"\"\"", 5, true), Ok(2));
        assert_eq!(text_prefix(b"\0a", 6, true), Ok(1));
        assert_eq!(text_prefix(b"\0a", 5, true), Ok(0));
    }

    #[test]
    fn a_cut_off_character_waits_for_more_unless_the_text_ended() {
        let euro = "€".as_bytes();
        assert_eq!(text_prefix(&euro[..2], 100, false), Ok(0));
        assert_eq!(
            text_prefix(&euro[..2], 100, true),
            Err(TextError::NotUtf8 { at: 0 })
        );
        assert_eq!(
            text_prefix(b"ok\xffno", 100, false),
            Err(TextError::NotUtf8 { at: 2 })
        );
    }

    proptest! {
        #[test]
        fn text_chunks_reassemble_and_respect_the_budget(
            text in "[a-z\"\\\\\n\u{0}-\u{1f}é€😀]{0,200}",
            budget in 6usize..40,
        ) {
            let bytes = text.as_bytes();
            let mut at = 0;
            let mut rebuilt = String::new();
            while at < bytes.len() {
                let taken = text_prefix(&bytes[at..], budget, true).unwrap();
                prop_assert!(taken > 0);
                let piece = std::str::from_utf8(&bytes[at..at + taken]).unwrap();
                prop_assert!(serde_json::to_string(piece).unwrap().len() - 2 <= budget);
                rebuilt.push_str(piece);
                at += taken;
            }
            prop_assert_eq!(rebuilt, text);
        }
    }
}
