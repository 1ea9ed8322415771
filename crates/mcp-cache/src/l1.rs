//! The in-memory tier: moka, bounded in bytes, each entry expiring when its
//! stale windows end.
//!
//! Freshness is decided by the cache's own clock on every hit (so tests on
//! tokio's paused clock see exact expiry); moka's expiry only gives the
//! memory back.

use std::{
    hash::{BuildHasher, Hasher},
    sync::Arc,
    time::{Duration, Instant},
};

use moka::{Expiry, sync::Cache};

use crate::{entry::Entry, signals::Signals};

/// Keys are already uniform 128-bit hashes: hashing them again is waste.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct KeyHasher;

impl BuildHasher for KeyHasher {
    type Hasher = KeyHash;

    fn build_hasher(&self) -> KeyHash {
        KeyHash(0)
    }
}

/// The hasher of [`KeyHasher`]: folds what it is given into 64 bits.
#[derive(Debug, Clone, Copy)]
pub(crate) struct KeyHash(u64);

impl Hasher for KeyHash {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut word = [0; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            self.0 = self.0.rotate_left(29) ^ u64::from_le_bytes(word);
        }
    }

    fn write_u128(&mut self, value: u128) {
        self.0 ^= value as u64 ^ (value >> 64) as u64;
    }
}

struct Lifetimes;

impl Expiry<u128, Arc<Entry>> for Lifetimes {
    fn expire_after_create(&self, _: &u128, entry: &Arc<Entry>, _: Instant) -> Option<Duration> {
        Some(entry.lifetime.span())
    }

    fn expire_after_update(
        &self,
        _: &u128,
        entry: &Arc<Entry>,
        _: Instant,
        _: Option<Duration>,
    ) -> Option<Duration> {
        Some(entry.lifetime.span())
    }
}

/// The in-memory tier.
pub(crate) struct L1 {
    cache: Cache<u128, Arc<Entry>, KeyHasher>,
    signals: Arc<Signals>,
}

impl L1 {
    pub(crate) fn new(max_bytes: u64, signals: Arc<Signals>) -> Self {
        let listener = signals.clone();
        let cache = Cache::builder()
            .max_capacity(max_bytes)
            .weigher(|_, entry: &Arc<Entry>| entry.weight)
            .expire_after(Lifetimes)
            .eviction_listener(move |_, _, cause| listener.evicted(cause))
            .build_with_hasher(KeyHasher);
        Self { cache, signals }
    }

    #[inline]
    pub(crate) fn get(&self, key: u128) -> Option<Arc<Entry>> {
        self.cache.get(&key)
    }

    pub(crate) fn insert(&self, key: u128, entry: Arc<Entry>) {
        self.cache.insert(key, entry);
        self.signals.bytes(self.cache.weighted_size());
    }

    pub(crate) fn clear(&self) {
        self.cache.invalidate_all();
    }

    /// Bytes held, as weighed; exact after [`sync`](Self::sync).
    pub(crate) fn weighted_size(&self) -> u64 {
        self.cache.weighted_size()
    }

    pub(crate) fn entry_count(&self) -> u64 {
        self.cache.entry_count()
    }

    /// Applies pending evictions and expirations now.
    pub(crate) fn sync(&self) {
        self.cache.run_pending_tasks();
        self.signals.bytes(self.cache.weighted_size());
    }
}
