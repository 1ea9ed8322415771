//! The Redis envelope codec, for the fuzz targets and the hostile-input
//! tests (feature `fuzzing`). Not a stable API.

use std::time::Duration;

use mcp_service::{CacheKey, Partition};

use crate::shared::envelope;

/// The header fields of an envelope.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    /// Flag bit 1: the entry is a private mark.
    pub private_mark: bool,
    /// When it was stored, Unix milliseconds.
    pub stored_at_ms: u64,
    /// Fresh for this long (milliseconds on the wire).
    pub fresh: Duration,
    /// Kept for this long (milliseconds on the wire).
    pub span: Duration,
    /// The cache key.
    pub key: CacheKey,
    /// Whom the entry is for.
    pub partition: Partition,
}

impl From<Header> for envelope::Header {
    fn from(header: Header) -> Self {
        Self {
            private_mark: header.private_mark,
            stored_at_ms: header.stored_at_ms,
            fresh: header.fresh,
            span: header.span,
            key: header.key,
            partition: header.partition,
        }
    }
}

impl From<envelope::Header> for Header {
    fn from(header: envelope::Header) -> Self {
        Self {
            private_mark: header.private_mark,
            stored_at_ms: header.stored_at_ms,
            fresh: header.fresh,
            span: header.span,
            key: header.key,
            partition: header.partition,
        }
    }
}

/// The envelope of `body`, compressed when over `compress_above` bytes and
/// compression pays.
pub fn encode(header: &Header, body: &[u8], compress_above: usize) -> Vec<u8> {
    envelope::encode(&(*header).into(), body, compress_above)
}

/// The header and body of an envelope, the body at most `max_body` bytes;
/// the error as the tier would log it.
pub fn decode(bytes: &[u8], max_body: usize) -> Result<(Header, Vec<u8>), String> {
    envelope::decode(bytes, max_body)
        .map(|(header, body)| (header.into(), body))
        .map_err(|error| error.to_string())
}
