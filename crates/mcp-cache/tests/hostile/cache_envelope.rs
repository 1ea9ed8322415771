//! The Redis envelope decoder against any bytes, and round trips of
//! envelopes built from any bytes: a miss or the exact value back, never a
//! panic, and never a body (or an allocation) beyond the size bound,
//! whatever a compressed frame claims.
//!
//! Shared with the fuzz target `cache_envelope`.

// A failed check panics: that is what the test harness and the fuzzer see.
#![allow(clippy::panic)]

use std::time::Duration;

use mcp_cache::fuzzing::{Header, decode, encode};
use mcp_service::{CacheKey, Partition, Principal};

/// The body bound of the decodes below: small, so that bombs are cheap to
/// find and cheap to run.
const MAX_BODY: usize = 4096;
/// The fixed header before the body.
const HEADER_BYTES: usize = 63;

pub(crate) fn check(bytes: &[u8]) {
    let (_, probe) = mcp_testkit::largest_allocation(|| Vec::<u8>::with_capacity(64));
    assert!(probe >= 64, "PeakAlloc must be the global allocator");

    read_anything(bytes);
    round_trip(bytes);
}

/// Any bytes as an envelope read from Redis.
fn read_anything(bytes: &[u8]) {
    let (decoded, largest) = mcp_testkit::largest_allocation(|| decode(bytes, MAX_BODY));
    // The decompressor's output buffer is the bound itself; the rest is
    // a copy of an uncompressed body.
    assert!(
        largest <= MAX_BODY.max(bytes.len()) + 1024,
        "{largest} bytes allocated at once to read {} bytes",
        bytes.len()
    );
    let Ok((header, body)) = decoded else {
        return;
    };
    assert!(body.len() <= MAX_BODY, "a body of {} bytes", body.len());
    assert!(bytes.len() >= HEADER_BYTES);
    // What was read writes back to what reads the same.
    let again = encode(&header, &body, usize::MAX);
    assert_eq!(decode(&again, MAX_BODY), Ok((header, body)));
}

/// An envelope of a header and body made of the input, written and read.
fn round_trip(bytes: &[u8]) {
    let Some((fields, body)) = bytes.split_first_chunk::<50>() else {
        return;
    };
    let number = |at: usize| {
        let mut word = [0; 8];
        word.copy_from_slice(&fields[at..at + 8]);
        u64::from_le_bytes(word)
    };
    let mut key = [0; 16];
    key.copy_from_slice(&fields[24..40]);
    let mut principal = [0; 16];
    principal[..9].copy_from_slice(&fields[40..49]);
    let flags = fields[49];
    let header = Header {
        private_mark: flags & 1 != 0,
        stored_at_ms: number(0),
        // The wire keeps milliseconds.
        fresh: Duration::from_millis(number(8)),
        span: Duration::from_millis(number(16)),
        key: CacheKey::from_bytes(key),
        partition: if flags & 2 != 0 {
            Partition::Principal(Principal::from_bytes(principal))
        } else {
            Partition::Public
        },
    };
    // Bit 2 asks for compression whenever it pays; bit 3 repeats the body
    // so that it does.
    let body = if flags & 8 != 0 {
        body.repeat(64)
    } else {
        body.to_vec()
    };
    let compress_above = if flags & 4 != 0 { 0 } else { usize::MAX };
    let envelope = encode(&header, &body, compress_above);
    assert!(
        envelope.len() <= HEADER_BYTES + body.len(),
        "compressed only when it pays"
    );

    assert_eq!(
        decode(&envelope, body.len()),
        Ok((header, body.clone())),
        "decode(encode(x)) == x"
    );
    if let Some(smaller) = body.len().checked_sub(1) {
        assert!(
            decode(&envelope, smaller).is_err(),
            "a body over the bound is a miss"
        );
    }
    for cut in [0, 4, 5, HEADER_BYTES - 1] {
        assert!(
            decode(&envelope[..cut], usize::MAX).is_err(),
            "cut at {cut}"
        );
    }
    let mut other_version = envelope.clone();
    other_version[4] = other_version[4].wrapping_add(1);
    assert!(decode(&other_version, usize::MAX).is_err());
}
