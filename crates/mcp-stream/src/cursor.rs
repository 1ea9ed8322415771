//! Page and chunk cursors: what they carry and how they are sealed.
//!
//! A cursor is `base64url(version, kind, fields, tag)` where the tag is the
//! HMAC of a domain string, the kind, the principal, the subject (the list
//! method or the resource URI) and the fields. The principal and subject are
//! not in the cursor: they are what the request says, so a cursor presented
//! by another principal or for another list fails its tag.

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use mcp_service::Principal;

use crate::{error::CursorError, key::CursorKey};

const VERSION: u8 = 1;
const DOMAIN: &[u8] = b"mcp-stream/cursor/v1\0";
const TAG_BYTES: usize = 16;
/// Longer texts are refused before decoding. Our own cursors are about 50
/// characters, plus 4/3 of an inner service's cursor that a page cursor wraps.
const MAX_CURSOR_CHARS: usize = 64 << 10;

const KIND_PAGE: u8 = 1;
const KIND_CHUNK: u8 = 2;

/// Where a page cursor points: an offset into one page of the inner list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PageCursor {
    /// The inner service's own cursor for the page this offset is in
    /// (`None`: its first page).
    pub(crate) inner: Option<String>,
    /// The index of the first item to serve in that page.
    pub(crate) offset: u64,
    /// The digest of that inner page when the cursor was issued; `None` at
    /// the start of an inner page not seen yet.
    pub(crate) digest: Option<u64>,
}

/// Where a chunk cursor points: the next chunk of a resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ChunkCursor {
    /// Whether the chunks come from a resource source or a whole result.
    pub(crate) origin: Origin,
    /// The index of the chunk to serve.
    pub(crate) index: u32,
    /// Its first byte in the resource (raw bytes, before any encoding).
    pub(crate) offset: u64,
    /// The resource's length in bytes, when known.
    pub(crate) total: Option<u64>,
    /// The resource's revision (a source's) or content digest (a result's)
    /// when the first chunk was served.
    pub(crate) version: Option<u64>,
}

/// Where chunks are read from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Origin {
    /// A [`ResourceSource`](crate::ResourceSource), read at an offset.
    Source,
    /// A whole result of the inner service, cut again for each chunk.
    Result,
}

impl CursorKey {
    pub(crate) fn seal_page(
        &self,
        cursor: &PageCursor,
        principal: Option<Principal>,
        method: &str,
    ) -> String {
        let mut fields = Vec::with_capacity(32);
        fields.extend_from_slice(&cursor.offset.to_be_bytes());
        put_optional(&mut fields, cursor.digest);
        match &cursor.inner {
            Some(inner) => {
                fields.push(1);
                fields.extend_from_slice(inner.as_bytes());
            }
            None => fields.push(0),
        }
        self.seal(KIND_PAGE, principal, method, fields)
    }

    pub(crate) fn open_page(
        &self,
        text: &str,
        principal: Option<Principal>,
        method: &str,
    ) -> Result<PageCursor, CursorError> {
        let invalid = || CursorError::invalid(method, crate::error::RESTART_LIST);
        let fields = self
            .open(text, KIND_PAGE, principal, method)
            .ok_or_else(invalid)?;
        let mut reader = Reader(&fields);
        let offset = reader.u64().ok_or_else(invalid)?;
        let digest = reader.optional().ok_or_else(invalid)?;
        let inner = match reader.byte().ok_or_else(invalid)? {
            0 if reader.0.is_empty() => None,
            1 => Some(String::from_utf8(reader.0.to_vec()).map_err(|_| invalid())?),
            _ => return Err(invalid()),
        };
        Ok(PageCursor {
            inner,
            offset,
            digest,
        })
    }

    pub(crate) fn seal_chunk(
        &self,
        cursor: &ChunkCursor,
        principal: Option<Principal>,
        uri: &str,
    ) -> String {
        let mut fields = Vec::with_capacity(40);
        fields.push(match cursor.origin {
            Origin::Source => 0,
            Origin::Result => 1,
        });
        fields.extend_from_slice(&cursor.index.to_be_bytes());
        fields.extend_from_slice(&cursor.offset.to_be_bytes());
        put_optional(&mut fields, cursor.total);
        put_optional(&mut fields, cursor.version);
        self.seal(KIND_CHUNK, principal, uri, fields)
    }

    pub(crate) fn open_chunk(
        &self,
        text: &str,
        principal: Option<Principal>,
        uri: &str,
    ) -> Result<ChunkCursor, CursorError> {
        let invalid = || CursorError::invalid(uri, crate::error::RESTART_READ);
        let fields = self
            .open(text, KIND_CHUNK, principal, uri)
            .ok_or_else(invalid)?;
        let mut reader = Reader(&fields);
        let origin = match reader.byte() {
            Some(0) => Origin::Source,
            Some(1) => Origin::Result,
            _ => return Err(invalid()),
        };
        let cursor = ChunkCursor {
            origin,
            index: reader.u32().ok_or_else(invalid)?,
            offset: reader.u64().ok_or_else(invalid)?,
            total: reader.optional().ok_or_else(invalid)?,
            version: reader.optional().ok_or_else(invalid)?,
        };
        if !reader.0.is_empty() || cursor.total.is_some_and(|total| cursor.offset > total) {
            return Err(invalid());
        }
        Ok(cursor)
    }

    fn seal(
        &self,
        kind: u8,
        principal: Option<Principal>,
        subject: &str,
        fields: Vec<u8>,
    ) -> String {
        let mut bytes = fields;
        bytes.splice(0..0, [VERSION, kind]);
        let (principal, length) = (principal_bytes(principal), length_bytes(&bytes));
        let tag = self.tag(&signed(&bytes, &principal, &length, subject));
        bytes.extend_from_slice(&tag);
        URL_SAFE_NO_PAD.encode(bytes)
    }

    /// The fields of a cursor of `kind` whose tag is right for this
    /// principal and subject; `None` for anything else.
    fn open(
        &self,
        text: &str,
        kind: u8,
        principal: Option<Principal>,
        subject: &str,
    ) -> Option<Vec<u8>> {
        if text.len() > MAX_CURSOR_CHARS {
            return None;
        }
        let bytes = URL_SAFE_NO_PAD.decode(text).ok()?;
        let (body, tag) = bytes.split_at_checked(bytes.len().checked_sub(TAG_BYTES)?)?;
        let [VERSION, found, ..] = body else {
            return None;
        };
        let (principal, length) = (principal_bytes(principal), length_bytes(body));
        let parts = signed(body, &principal, &length, subject);
        (*found == kind && self.verify(&parts, tag)).then(|| body[2..].to_vec())
    }
}

/// What a tag covers: the body's length comes before it, so the body and
/// the subject after it cannot trade bytes.
fn signed<'a>(
    body: &'a [u8],
    principal: &'a [u8; 17],
    length: &'a [u8; 4],
    subject: &'a str,
) -> [&'a [u8]; 5] {
    [DOMAIN, principal, length, body, subject.as_bytes()]
}

fn length_bytes(body: &[u8]) -> [u8; 4] {
    u32::try_from(body.len()).unwrap_or(u32::MAX).to_be_bytes()
}

fn principal_bytes(principal: Option<Principal>) -> [u8; 17] {
    let mut bytes = [0; 17];
    if let Some(principal) = principal {
        bytes[0] = 1;
        bytes[1..].copy_from_slice(principal.as_bytes());
    }
    bytes
}

fn put_optional(bytes: &mut Vec<u8>, value: Option<u64>) {
    match value {
        Some(value) => {
            bytes.push(1);
            bytes.extend_from_slice(&value.to_be_bytes());
        }
        None => bytes.push(0),
    }
}

struct Reader<'a>(&'a [u8]);

impl Reader<'_> {
    fn take<const N: usize>(&mut self) -> Option<[u8; N]> {
        let (head, rest) = self.0.split_first_chunk::<N>()?;
        self.0 = rest;
        Some(*head)
    }

    fn byte(&mut self) -> Option<u8> {
        self.take::<1>().map(|[byte]| byte)
    }

    fn u32(&mut self) -> Option<u32> {
        self.take().map(u32::from_be_bytes)
    }

    fn u64(&mut self) -> Option<u64> {
        self.take().map(u64::from_be_bytes)
    }

    /// `Some(None)` for an absent value, `None` for a malformed one.
    fn optional(&mut self) -> Option<Option<u64>> {
        match self.byte()? {
            0 => Some(None),
            1 => self.u64().map(Some),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> CursorKey {
        CursorKey::from_secret(&[42; 32]).unwrap()
    }

    fn page() -> PageCursor {
        PageCursor {
            inner: Some("upstream-7".into()),
            offset: 200,
            digest: Some(0xfeed),
        }
    }

    #[test]
    fn page_cursors_round_trip_for_their_principal_and_method() {
        let alice = Some(Principal::from_identity("alice"));
        let sealed = key().seal_page(&page(), alice, "tools/list");
        assert_eq!(key().open_page(&sealed, alice, "tools/list"), Ok(page()));
        let first = PageCursor {
            inner: None,
            offset: 0,
            digest: None,
        };
        let sealed = key().seal_page(&first, None, "prompts/list");
        assert_eq!(key().open_page(&sealed, None, "prompts/list"), Ok(first));
    }

    #[test]
    fn cursors_fail_for_another_principal_list_key_or_kind() {
        let alice = Some(Principal::from_identity("alice"));
        let bob = Some(Principal::from_identity("bob"));
        let sealed = key().seal_page(&page(), alice, "tools/list");
        let refused = |result: Result<PageCursor, CursorError>| {
            assert!(
                matches!(result, Err(CursorError::Invalid { .. })),
                "{result:?}"
            );
        };
        refused(key().open_page(&sealed, bob, "tools/list"));
        refused(key().open_page(&sealed, None, "tools/list"));
        refused(key().open_page(&sealed, alice, "prompts/list"));
        refused(
            CursorKey::from_secret(&[1; 32])
                .unwrap()
                .open_page(&sealed, alice, "tools/list"),
        );
        let chunk = key().open_chunk(&sealed, alice, "tools/list");
        assert!(chunk.is_err(), "a page cursor is not a chunk cursor");
    }

    #[test]
    fn any_flipped_bit_is_refused() {
        let sealed = key().seal_page(&page(), None, "tools/list");
        let bytes = URL_SAFE_NO_PAD.decode(&sealed).unwrap();
        for index in 0..bytes.len() {
            for bit in 0..8 {
                let mut altered = bytes.clone();
                altered[index] ^= 1 << bit;
                let altered = URL_SAFE_NO_PAD.encode(altered);
                assert!(key().open_page(&altered, None, "tools/list").is_err());
            }
        }
        for junk in ["", "x", "not base64 !", &"A".repeat(MAX_CURSOR_CHARS + 1)] {
            assert!(
                key().open_page(junk, None, "tools/list").is_err(),
                "{junk:.20}"
            );
        }
    }

    #[test]
    fn chunk_cursors_round_trip_and_are_bound_to_their_resource() {
        let cursor = ChunkCursor {
            origin: Origin::Source,
            index: 3,
            offset: 9 << 20,
            total: Some(64 << 20),
            version: None,
        };
        let sealed = key().seal_chunk(&cursor, None, "file:///big.bin");
        assert_eq!(
            key().open_chunk(&sealed, None, "file:///big.bin"),
            Ok(cursor)
        );
        assert!(
            key()
                .open_chunk(&sealed, None, "file:///other.bin")
                .is_err()
        );
        assert!(sealed.len() < 64, "cursors stay short: {}", sealed.len());
    }
}
