//! Canonical request keys: a deterministic 128-bit hash of what a request asks.
//!
//! # The algorithm (version 1)
//!
//! All hashing is XXH3-128 with seed 0; integers are little-endian.
//!
//! **Params digest.** The params are encoded canonically and hashed:
//!
//! | JSON value | encoding |
//! |---|---|
//! | `null` | `0x00` |
//! | `false`, `true` | `0x01`, `0x02` |
//! | integer ≥ 0 | `0x03` + u64 |
//! | integer < 0 | `0x04` + i64 |
//! | other number | `0x05` + f64 bits |
//! | string | `0x06` + u64 byte length + UTF-8 bytes |
//! | array | `0x07` + each element + `0x08` |
//! | object | `0x09` + u64 member count + u128 sum |
//!
//! The object's sum is the wrapping sum, over its members, of
//! `XXH3-128(encoding of the key as a string ++ encoding of the value)`, so
//! member order does not matter. The `_meta` member of the params object
//! itself is skipped (it carries progress tokens and trace context, not what
//! is asked); `_meta` deeper inside is data and counts. Absent params hash as
//! `{}`. Numbers keep their JSON type: `1` and `1.0` are different keys, as
//! some servers treat them differently.
//!
//! **Key.** `XXH3-128("mcp-stack/key/v1\0" ++ string(method) ++ u128 params
//! digest ++ version ++ partition)`, where version is `0x00` when unknown or
//! `0x01` + string, and partition is `0x00` for public or `0x01` + the 16
//! principal bytes. The tool or prompt name, the resource URI and the cursor
//! enter through the params, where MCP puts them.
//!
//! Nothing depends on process state (no `RandomState`), so every node computes
//! the same key for the same request, and the keys survive restarts.
//!
//! The key is a fingerprint, not a secret: a shared cache that must never
//! mix principals should also compare the stored [`Partition`] on a hit.

mod de;
mod scan;
mod ser;

use std::{fmt, sync::LazyLock};

use serde::Serialize;
use serde_json::value::RawValue;
use xxhash_rust::xxh3::{Xxh3Default, xxh3_128};

use crate::principal::Principal;

/// Whom a cached answer may be shared with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Partition {
    /// Anyone: the answer does not depend on who asks.
    Public,
    /// Only this principal.
    Principal(Principal),
}

/// The canonical digest of a request's params; see the [module docs](self).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ParamsDigest(u128);

/// Why params could not be digested.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("params cannot be hashed canonically: {0}")]
pub struct DigestError(String);

impl ParamsDigest {
    /// The digest of absent params, equal to that of `{}`.
    pub fn empty() -> Self {
        static EMPTY: LazyLock<ParamsDigest> = LazyLock::new(|| {
            let mut canon = Canon::new();
            canon.object(0, 0);
            ParamsDigest(canon.finish())
        });
        *EMPTY
    }

    /// The digest of typed params, through their `Serialize` impl, without
    /// building a JSON value. Equal to [`of_json`](Self::of_json) of the JSON
    /// text that `serde_json` would write for them.
    pub fn of_value<T: Serialize + ?Sized>(params: &T) -> Result<Self, DigestError> {
        let mut canon = Canon::root();
        params.serialize(&mut canon)?;
        Ok(Self(canon.finish()))
    }

    /// The digest of params given as JSON text, hashed while parsing, without
    /// building a JSON value.
    pub fn of_json(params: &str) -> Result<Self, DigestError> {
        match scan::digest(params) {
            Some(digest) => Ok(Self(digest)),
            None => Self::parsed(params),
        }
    }

    /// [`of_json`](Self::of_json) through `serde_json` alone.
    fn parsed(params: &str) -> Result<Self, DigestError> {
        let mut canon = Canon::root();
        let mut deserializer = serde_json::Deserializer::from_str(params);
        serde::de::DeserializeSeed::deserialize(de::Seed(&mut canon), &mut deserializer)
            .map_err(|error| DigestError(error.to_string()))?;
        deserializer
            .end()
            .map_err(|error| DigestError(error.to_string()))?;
        Ok(Self(canon.finish()))
    }

    /// The digest of raw params, or of absent params.
    pub fn of_raw(params: Option<&RawValue>) -> Result<Self, DigestError> {
        params.map_or_else(|| Ok(Self::empty()), |raw| Self::of_json(raw.get()))
    }

    /// The digest as a number.
    pub const fn as_u128(self) -> u128 {
        self.0
    }
}

/// A deterministic 128-bit key of a request; see the [module docs](self).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CacheKey(u128);

impl CacheKey {
    /// The key of `method` with the given params digest, negotiated protocol
    /// version and partition.
    pub fn new(
        method: &str,
        params: ParamsDigest,
        protocol_version: Option<&str>,
        partition: Partition,
    ) -> Self {
        let mut canon = Canon::new();
        canon.raw(b"mcp-stack/key/v1\0");
        canon.str(method);
        canon.raw(&params.0.to_le_bytes());
        match protocol_version {
            None => canon.raw(&[0]),
            Some(version) => {
                canon.raw(&[1]);
                canon.str(version);
            }
        }
        match partition {
            Partition::Public => canon.raw(&[0]),
            Partition::Principal(principal) => {
                canon.raw(&[1]);
                canon.raw(principal.as_bytes());
            }
        }
        Self(canon.finish())
    }

    /// The key as a number.
    pub const fn as_u128(self) -> u128 {
        self.0
    }

    /// The key as 16 little-endian bytes, for storage.
    pub const fn to_bytes(self) -> [u8; 16] {
        self.0.to_le_bytes()
    }

    /// A key from bytes previously taken from [`to_bytes`](Self::to_bytes).
    pub const fn from_bytes(bytes: [u8; 16]) -> Self {
        Self(u128::from_le_bytes(bytes))
    }
}

impl fmt::Debug for CacheKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CacheKey({self})")
    }
}

/// 32 lowercase hex digits, a stable text form for Redis keys and logs.
impl fmt::Display for CacheKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:032x}", self.0)
    }
}

const NULL: u8 = 0x00;
const FALSE: u8 = 0x01;
const TRUE: u8 = 0x02;
const UINT: u8 = 0x03;
const NEG_INT: u8 = 0x04;
const FLOAT: u8 = 0x05;
const STRING: u8 = 0x06;
const ARRAY: u8 = 0x07;
const ARRAY_END: u8 = 0x08;
const OBJECT: u8 = 0x09;

/// Bytes a member's encoding may take before hashing switches from one
/// XXH3 call over a stack buffer to the streaming hasher. Most members fit.
const INLINE: usize = 128;

/// The canonical encoder: writes values in the encoding of the module docs
/// and hashes them. Both the serializer and the parser drive it.
///
/// Short encodings (most object members) are collected on the stack and
/// hashed in one call; longer ones spill into a streaming hasher. Both give
/// the same digest, as XXH3 streaming equals XXH3 of the whole input.
pub(crate) struct Canon {
    buffer: [u8; INLINE],
    len: usize,
    /// The streaming hasher, kept across reuses once a long member needed it.
    stream: Option<Box<Xxh3Default>>,
    streaming: bool,
    /// True until the first value is written: only the root object skips `_meta`.
    root: bool,
}

impl Canon {
    fn new() -> Self {
        Self {
            buffer: [0; INLINE],
            len: 0,
            stream: None,
            streaming: false,
            root: false,
        }
    }

    fn root() -> Self {
        Self {
            root: true,
            ..Self::new()
        }
    }

    /// The digest of everything written, leaving the encoder empty for reuse.
    fn finish(&mut self) -> u128 {
        let pending = &self.buffer[..self.len];
        let digest = match &mut self.stream {
            Some(stream) if self.streaming => {
                stream.update(pending);
                let digest = stream.digest128();
                stream.reset();
                digest
            }
            _ => xxh3_128(pending),
        };
        self.len = 0;
        self.streaming = false;
        digest
    }

    /// Whether the value about to be written is the root, which ends rootness.
    #[inline]
    fn take_root(&mut self) -> bool {
        std::mem::replace(&mut self.root, false)
    }

    #[inline]
    fn raw(&mut self, bytes: &[u8]) {
        if let Some(room) = self.buffer.get_mut(self.len..self.len + bytes.len()) {
            room.copy_from_slice(bytes);
            self.len += bytes.len();
            return;
        }
        let stream = self
            .stream
            .get_or_insert_with(|| Box::new(Xxh3Default::new()));
        self.streaming = true;
        stream.update(&self.buffer[..self.len]);
        self.len = 0;
        if bytes.len() < INLINE {
            self.buffer[..bytes.len()].copy_from_slice(bytes);
            self.len = bytes.len();
        } else {
            stream.update(bytes);
        }
    }

    #[inline]
    fn tagged(&mut self, tag: u8, bytes: [u8; 8]) {
        let mut buffer = [0; 9];
        buffer[0] = tag;
        buffer[1..].copy_from_slice(&bytes);
        self.raw(&buffer);
    }

    #[inline]
    fn null(&mut self) {
        self.root = false;
        self.raw(&[NULL]);
    }

    #[inline]
    fn bool(&mut self, value: bool) {
        self.root = false;
        self.raw(&[if value { TRUE } else { FALSE }]);
    }

    #[inline]
    fn u64(&mut self, value: u64) {
        self.root = false;
        self.tagged(UINT, value.to_le_bytes());
    }

    fn i64(&mut self, value: i64) {
        match u64::try_from(value) {
            Ok(value) => self.u64(value),
            Err(_) => {
                self.root = false;
                self.tagged(NEG_INT, value.to_le_bytes());
            }
        }
    }

    /// Non-finite floats are written as `null`, as `serde_json` writes them.
    fn f64(&mut self, value: f64) {
        if value.is_finite() {
            self.root = false;
            self.tagged(FLOAT, value.to_bits().to_le_bytes());
        } else {
            self.null();
        }
    }

    #[inline]
    fn str(&mut self, value: &str) {
        self.root = false;
        self.tagged(STRING, (value.len() as u64).to_le_bytes());
        self.raw(value.as_bytes());
    }

    #[inline]
    fn array_start(&mut self) {
        self.root = false;
        self.raw(&[ARRAY]);
    }

    #[inline]
    fn array_end(&mut self) {
        self.raw(&[ARRAY_END]);
    }

    #[inline]
    fn object(&mut self, members: u64, sum: u128) {
        self.root = false;
        let mut buffer = [0; 25];
        buffer[0] = OBJECT;
        buffer[1..9].copy_from_slice(&members.to_le_bytes());
        buffer[9..].copy_from_slice(&sum.to_le_bytes());
        self.raw(&buffer);
    }
}

/// The running state of one object: the order-independent sum of its members.
#[derive(Default)]
struct ObjectSum {
    members: u64,
    sum: u128,
}

impl ObjectSum {
    /// Adds the member written into `member`, which is left empty for the next.
    fn add(&mut self, member: &mut Canon) {
        self.members += 1;
        self.sum = self.sum.wrapping_add(member.finish());
    }

    fn write(&self, canon: &mut Canon) {
        canon.object(self.members, self.sum);
    }
}

/// Whether a member of the root object is the one that does not count.
fn skipped(root: bool, key: &str) -> bool {
    root && key == "_meta"
}

#[cfg(test)]
mod tests;
