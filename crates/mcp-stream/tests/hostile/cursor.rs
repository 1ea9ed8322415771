//! Page and chunk cursors against any text, and round trips of cursors
//! built from any bytes: what was sealed opens to itself, and anything
//! forged, altered, cut, or presented by another principal, for another
//! list or resource, or to another key is refused as invalid.
//!
//! Shared with the fuzz targets `page_cursor` and `chunk_cursor`.

// A failed check panics: that is what the test harness and the fuzzer see.
#![allow(clippy::panic)]

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use mcp_service::Principal;
use mcp_stream::{
    CursorError, CursorKey,
    fuzzing::{ChunkCursor, PageCursor, open_chunk, open_page, seal_chunk, seal_page},
};

/// Inner cursors are made of at most this many input bytes (three times as
/// many once invalid UTF-8 is replaced): the opener refuses texts over
/// 64 KiB before decoding them.
const MAX_INNER_INPUT: usize = 8 << 10;

fn keys() -> (CursorKey, CursorKey) {
    match (
        CursorKey::from_secret(b"fuzzing secret, 32 bytes long..."),
        CursorKey::from_secret(b"another secret, 32 bytes long.."),
    ) {
        (Ok(key), Ok(other)) => (key, other),
        _ => panic!("secrets of 31 bytes are long enough"),
    }
}

fn invalid<T: std::fmt::Debug>(result: Result<T, CursorError>, what: &str) {
    assert!(
        matches!(result, Err(CursorError::Invalid { .. })),
        "{what}: {result:?}"
    );
}

/// The principal the input asks for: none, a known one, or any 16 bytes.
fn principal(choice: u8, bytes: &[u8]) -> Option<Principal> {
    match choice % 3 {
        0 => None,
        1 => Some(Principal::from_identity("alice")),
        _ => {
            let mut raw = [0; 16];
            for (slot, byte) in raw.iter_mut().zip(bytes) {
                *slot = *byte;
            }
            Some(Principal::from_bytes(raw))
        }
    }
}

fn word(bytes: &[u8], at: usize) -> u64 {
    let mut word = [0; 8];
    word.copy_from_slice(&bytes[at..at + 8]);
    u64::from_le_bytes(word)
}

/// Altered copies of a sealed cursor: one flipped bit at a place the input
/// picks, cut short, lengthened, and re-encoded with a byte dropped.
fn tampered(sealed: &str, pick: u64) -> Vec<String> {
    let Ok(bytes) = URL_SAFE_NO_PAD.decode(sealed) else {
        panic!("a sealed cursor is base64url: {sealed}");
    };
    let at = (pick % bytes.len() as u64) as usize;
    let mut flipped = bytes.clone();
    flipped[at] ^= 1 << ((pick >> 32) % 8);
    let mut dropped = bytes.clone();
    dropped.remove(at);
    let cut = sealed.len() * ((pick >> 40) % 100) as usize / 100;
    vec![
        URL_SAFE_NO_PAD.encode(flipped),
        URL_SAFE_NO_PAD.encode(dropped),
        sealed[..cut].to_owned(),
        format!("{sealed}A"),
        format!("{sealed}=="),
    ]
}

/// Page cursors: any text is refused; any cursor round trips, bound to its
/// principal, list and key.
pub(crate) fn page(bytes: &[u8]) {
    let (key, other_key) = keys();
    let text = String::from_utf8_lossy(bytes);
    invalid(open_page(&key, &text, None, "tools/list"), "forged text");
    invalid(
        open_page(
            &key,
            &text,
            Some(Principal::from_identity("alice")),
            "tools/list",
        ),
        "forged text",
    );

    let Some((fields, rest)) = bytes.split_first_chunk::<26>() else {
        return;
    };
    let flags = fields[25];
    let cursor = PageCursor {
        offset: word(fields, 0),
        digest: (flags & 1 != 0).then(|| word(fields, 8)),
        inner: (flags & 2 != 0).then(|| {
            String::from_utf8_lossy(&rest[..rest.len().min(MAX_INNER_INPUT)]).into_owned()
        }),
    };
    let who = principal(flags >> 2, &fields[16..25]);
    let method = ["tools/list", "prompts/list", "resources/list"][usize::from(flags >> 4) % 3];
    let sealed = seal_page(&key, &cursor, who, method);
    let inner_len = cursor.inner.as_ref().map_or(0, String::len);
    assert!(
        sealed.len() <= (inner_len + 40) * 4 / 3 + 4,
        "{} chars",
        sealed.len()
    );

    assert_eq!(
        open_page(&key, &sealed, who, method),
        Ok(cursor),
        "open(seal(x)) == x"
    );
    for altered in tampered(&sealed, word(fields, 16)) {
        invalid(open_page(&key, &altered, who, method), "a tampered cursor");
    }
    invalid(open_page(&other_key, &sealed, who, method), "another key");
    invalid(
        open_page(&key, &sealed, who, "resources/templates/list"),
        "another list",
    );
    let stranger = Some(Principal::from_identity("mallory"));
    invalid(
        open_page(&key, &sealed, stranger, method),
        "another principal",
    );
    if who.is_some() {
        invalid(open_page(&key, &sealed, None, method), "no principal");
    }
    invalid(
        open_chunk(&key, &sealed, who, method),
        "a page cursor read as a chunk",
    );
}

/// Chunk cursors: any text is refused; any cursor within its resource
/// round trips, bound to its principal, resource and key.
pub(crate) fn chunk(bytes: &[u8]) {
    let (key, other_key) = keys();
    let text = String::from_utf8_lossy(bytes);
    invalid(open_chunk(&key, &text, None, "file:///a"), "forged text");

    let Some((fields, rest)) = bytes.split_first_chunk::<37>() else {
        return;
    };
    let flags = fields[36];
    let cursor = ChunkCursor {
        from_source: flags & 1 != 0,
        index: u32::from_le_bytes([fields[0], fields[1], fields[2], fields[3]]),
        offset: word(fields, 4),
        total: (flags & 2 != 0).then(|| word(fields, 12)),
        version: (flags & 4 != 0).then(|| word(fields, 20)),
    };
    let who = principal(flags >> 3, &fields[28..36]);
    let uri = String::from_utf8_lossy(rest);
    let sealed = seal_chunk(&key, &cursor, who, &uri);
    // 49 bytes at most: a version, a kind, 31 of fields, a 16-byte tag.
    assert!(
        sealed.len() <= 66,
        "chunk cursors stay short: {}",
        sealed.len()
    );

    let opened = open_chunk(&key, &sealed, who, &uri);
    if cursor.total.is_some_and(|total| cursor.offset > total) {
        invalid(opened, "an offset past the end");
        return;
    }
    assert_eq!(opened, Ok(cursor), "open(seal(x)) == x");
    for altered in tampered(&sealed, word(fields, 28)) {
        invalid(open_chunk(&key, &altered, who, &uri), "a tampered cursor");
    }
    invalid(open_chunk(&other_key, &sealed, who, &uri), "another key");
    invalid(
        open_chunk(&key, &sealed, who, &format!("{uri}#")),
        "another resource",
    );
    let stranger = Some(Principal::from_identity("mallory"));
    invalid(
        open_chunk(&key, &sealed, stranger, &uri),
        "another principal",
    );
    invalid(
        open_page(&key, &sealed, who, &uri),
        "a chunk cursor read as a page",
    );
}
