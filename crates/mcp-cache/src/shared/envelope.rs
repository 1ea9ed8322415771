//! The envelope a value travels in through Redis: versioned, self-checking,
//! compressed when large.
//!
//! # Format, version 1
//!
//! All integers little-endian.
//!
//! | bytes | field |
//! |---|---|
//! | 4 | magic `MCPC` |
//! | 1 | format version, `1` |
//! | 1 | flags: bit 0 body is zstd-compressed, bit 1 the entry is a private mark |
//! | 8 | stored at, Unix milliseconds (for people reading Redis) |
//! | 8 | fresh for, milliseconds from the store |
//! | 8 | kept for, milliseconds from the store (fresh plus stale windows) |
//! | 16 | the cache key |
//! | 1 + 16 | the partition: `0` public, `1` and the principal |
//! | rest | the body: the encoded value |
//!
//! Anything that does not parse, has another version, or whose body
//! does not decompress within the size bound is a miss, never a panic; the
//! next fill overwrites it.

use std::time::Duration;

use mcp_service::{CacheKey, Partition, Principal};

const MAGIC: &[u8; 4] = b"MCPC";
const VERSION: u8 = 1;
const COMPRESSED: u8 = 1;
const PRIVATE_MARK: u8 = 2;
const HEADER: usize = 4 + 1 + 1 + 8 + 8 + 8 + 16 + 17;

/// The header fields of an envelope.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Header {
    pub(crate) private_mark: bool,
    pub(crate) stored_at_ms: u64,
    pub(crate) fresh: Duration,
    pub(crate) span: Duration,
    pub(crate) key: CacheKey,
    pub(crate) partition: Partition,
}

/// Why an envelope was not read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum EnvelopeError {
    #[error("not an envelope")]
    Garbage,
    #[error("envelope format {0}, this build reads {VERSION}")]
    Version(u8),
    #[error("body does not decompress within {0} bytes")]
    Body(usize),
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

/// The envelope of `body`, compressed when it is over `compress_above`
/// bytes and compression pays.
pub(crate) fn encode(header: &Header, body: &[u8], compress_above: usize) -> Vec<u8> {
    let compressed = (body.len() > compress_above)
        .then(|| zstd::bulk::compress(body, 3).ok())
        .flatten()
        .filter(|compressed| compressed.len() < body.len());
    let payload = compressed.as_deref().unwrap_or(body);
    let mut bytes = Vec::with_capacity(HEADER + payload.len());
    bytes.extend_from_slice(MAGIC);
    bytes.push(VERSION);
    let mut flags = 0;
    if compressed.is_some() {
        flags |= COMPRESSED;
    }
    if header.private_mark {
        flags |= PRIVATE_MARK;
    }
    bytes.push(flags);
    bytes.extend_from_slice(&header.stored_at_ms.to_le_bytes());
    bytes.extend_from_slice(&millis(header.fresh).to_le_bytes());
    bytes.extend_from_slice(&millis(header.span).to_le_bytes());
    bytes.extend_from_slice(&header.key.to_bytes());
    match header.partition {
        Partition::Public => bytes.extend_from_slice(&[0; 17]),
        Partition::Principal(principal) => {
            bytes.push(1);
            bytes.extend_from_slice(principal.as_bytes());
        }
    }
    bytes.extend_from_slice(payload);
    bytes
}

fn array<const N: usize>(bytes: &[u8], at: usize) -> [u8; N] {
    let mut array = [0; N];
    array.copy_from_slice(&bytes[at..at + N]);
    array
}

/// The header and body of an envelope; bodies decompress to at most
/// `max_body` bytes.
pub(crate) fn decode(bytes: &[u8], max_body: usize) -> Result<(Header, Vec<u8>), EnvelopeError> {
    if bytes.len() < 5 || &bytes[..4] != MAGIC {
        return Err(EnvelopeError::Garbage);
    }
    if bytes[4] != VERSION {
        return Err(EnvelopeError::Version(bytes[4]));
    }
    if bytes.len() < HEADER {
        return Err(EnvelopeError::Garbage);
    }
    let flags = bytes[5];
    let partition = match bytes[46] {
        0 => Partition::Public,
        1 => Partition::Principal(Principal::from_bytes(array(bytes, 47))),
        _ => return Err(EnvelopeError::Garbage),
    };
    let header = Header {
        private_mark: flags & PRIVATE_MARK != 0,
        stored_at_ms: u64::from_le_bytes(array(bytes, 6)),
        fresh: Duration::from_millis(u64::from_le_bytes(array(bytes, 14))),
        span: Duration::from_millis(u64::from_le_bytes(array(bytes, 22))),
        key: CacheKey::from_bytes(array(bytes, 30)),
        partition,
    };
    let payload = &bytes[HEADER..];
    let body = if flags & COMPRESSED != 0 {
        zstd::bulk::decompress(payload, max_body).map_err(|_| EnvelopeError::Body(max_body))?
    } else if payload.len() > max_body {
        return Err(EnvelopeError::Body(max_body));
    } else {
        payload.to_vec()
    };
    Ok((header, body))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(partition: Partition) -> Header {
        Header {
            private_mark: false,
            stored_at_ms: 1_700_000_000_000,
            fresh: Duration::from_secs(60),
            span: Duration::from_secs(360),
            key: CacheKey::from_bytes([9; 16]),
            partition,
        }
    }

    #[test]
    fn round_trips_small_and_compressed_bodies() {
        let alice = Partition::Principal(Principal::from_identity("alice"));
        let small = encode(&header(alice), b"{\"tools\":[]}", 1024);
        assert_eq!(
            decode(&small, 1 << 20).unwrap(),
            (header(alice), b"{\"tools\":[]}".to_vec())
        );

        let large = "0123456789abcdef".repeat(4096);
        let bytes = encode(&header(Partition::Public), large.as_bytes(), 1024);
        assert!(
            bytes.len() < large.len() / 4,
            "compressed to {} bytes",
            bytes.len()
        );
        let (read, body) = decode(&bytes, 1 << 20).unwrap();
        assert_eq!(
            (read, body),
            (header(Partition::Public), large.into_bytes())
        );
    }

    #[test]
    fn garbage_old_versions_and_bombs_are_errors_not_panics() {
        assert_eq!(decode(b"", 10), Err(EnvelopeError::Garbage));
        assert_eq!(decode(b"hello world", 10), Err(EnvelopeError::Garbage));
        let mut old = encode(&header(Partition::Public), b"x", 1024);
        old[4] = 0;
        assert_eq!(decode(&old, 10), Err(EnvelopeError::Version(0)));
        let truncated = &encode(&header(Partition::Public), b"x", 1024)[..30];
        assert_eq!(decode(truncated, 10), Err(EnvelopeError::Garbage));

        let zeros = vec![0u8; 1 << 20];
        let bomb = encode(&header(Partition::Public), &zeros, 0);
        assert!(bomb.len() < 1024);
        assert_eq!(decode(&bomb, 4096), Err(EnvelopeError::Body(4096)));
        let mut bad_partition = encode(&header(Partition::Public), b"x", 1024);
        bad_partition[46] = 7;
        assert_eq!(decode(&bad_partition, 10), Err(EnvelopeError::Garbage));
    }
}
