//! [`Buckets`]: the bounded store of keyed GCRA buckets.
//!
//! Shards of hash maps under read-write locks: a known key costs one shared
//! lock and one compare-and-swap. The store never holds more than its
//! capacity. When a shard is full, buckets that have refilled are dropped
//! first (forgetting them loses nothing); if that frees too little, the
//! buckets closest to full go, so a returning key gains at most the credit
//! it still owed, which is never more than one burst (plus `max_wait`).

use std::{
    collections::HashMap,
    hash::{BuildHasherDefault, Hasher},
    sync::{
        PoisonError, RwLock,
        atomic::{AtomicU64, Ordering::Relaxed},
    },
};

/// Keys are already hashes (XXH3 of a name, a principal's digest).
type Shard = HashMap<u64, AtomicU64, BuildHasherDefault<KeyHasher>>;

const MAX_SHARDS: usize = 64;
const MIN_SHARD_CAPACITY: usize = 64;

#[derive(Debug)]
pub(crate) struct Buckets {
    shards: Box<[RwLock<Shard>]>,
    shard_capacity: usize,
}

impl Buckets {
    /// A store holding at most `capacity` buckets (at least one).
    pub(crate) fn new(capacity: u64) -> Self {
        let capacity = usize::try_from(capacity).unwrap_or(usize::MAX).max(1);
        // A power of two, each shard holding enough buckets that choosing
        // the ones to evict within a shard still chooses well.
        let shards = (capacity / MIN_SHARD_CAPACITY)
            .clamp(1, MAX_SHARDS)
            .next_power_of_two()
            .min(MAX_SHARDS);
        Self {
            shards: (0..shards).map(|_| RwLock::default()).collect(),
            shard_capacity: capacity / shards,
        }
    }

    /// Runs `decide` on the bucket of `key`, made empty (full credit) when
    /// new. `now` is the limiter's time, to tell refilled buckets apart.
    #[inline]
    pub(crate) fn with<T>(&self, key: u64, now: u64, decide: impl FnOnce(&AtomicU64) -> T) -> T {
        // The map hashes the low bits; shards take the high ones.
        let shard = &self.shards[(key >> 58) as usize & (self.shards.len() - 1)];
        if let Some(bucket) = shard
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&key)
        {
            return decide(bucket);
        }
        let mut map = shard.write().unwrap_or_else(PoisonError::into_inner);
        if map.len() >= self.shard_capacity && !map.contains_key(&key) {
            self.make_room(&mut map, now);
        }
        decide(map.entry(key).or_default())
    }

    /// Frees at least an eighth of a full shard.
    fn make_room(&self, map: &mut Shard, now: u64) {
        map.retain(|_, tat| tat.load(Relaxed) > now);
        let target = self.shard_capacity - self.shard_capacity.div_ceil(8);
        if map.len() <= target {
            return;
        }
        let mut by_credit: Vec<(u64, u64)> = map
            .iter()
            .map(|(key, tat)| (tat.load(Relaxed), *key))
            .collect();
        let surplus = map.len() - target;
        by_credit.select_nth_unstable(surplus - 1);
        for (_, key) in &by_credit[..surplus] {
            map.remove(key);
        }
    }

    /// How many buckets are kept.
    pub(crate) fn len(&self) -> usize {
        self.shards
            .iter()
            .map(|shard| shard.read().unwrap_or_else(PoisonError::into_inner).len())
            .sum()
    }

    /// The most buckets kept at once.
    #[cfg(test)]
    pub(crate) fn capacity(&self) -> usize {
        self.shard_capacity * self.shards.len()
    }
}

/// Passes a key that is already a hash through.
#[derive(Default)]
pub(crate) struct KeyHasher(u64);

impl Hasher for KeyHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        self.0 = xxhash_rust::xxh3::xxh3_64_with_seed(bytes, self.0);
    }

    fn write_u64(&mut self, key: u64) {
        self.0 = key;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(n: u64) -> u64 {
        xxhash_rust::xxh3::xxh3_64(&n.to_le_bytes())
    }

    #[test]
    fn never_holds_more_than_its_capacity() {
        for capacity in [1, 2, 7, 64, 1000] {
            let buckets = Buckets::new(capacity);
            assert!(buckets.capacity() as u64 <= capacity);
            assert!(buckets.capacity() as u64 >= capacity / 2);
            for n in 0..10_000 {
                buckets.with(key(n), 0, |tat| tat.store(1_000, Relaxed));
            }
            assert!(buckets.len() <= buckets.capacity(), "{capacity}");
        }
    }

    #[test]
    fn refilled_buckets_go_first_and_busy_ones_stay() {
        let buckets = Buckets::new(64);
        let busy = key(u64::MAX);
        // Deep in debt until t = 1,000,000.
        buckets.with(busy, 0, |tat| tat.store(1_000_000, Relaxed));
        // A flood of keys, each one request's worth in debt.
        for n in 0..100_000 {
            buckets.with(key(n), n, |tat| tat.store(n + 10, Relaxed));
        }
        let kept = buckets.with(busy, 100_000, |tat| tat.load(Relaxed));
        assert_eq!(kept, 1_000_000, "the busy key kept its debt");
        // Now every flood key is in debt too, but owes less than the busy one.
        for n in 0..100_000 {
            buckets.with(key(n), 100_000, |tat| tat.store(200_000, Relaxed));
        }
        let kept = buckets.with(busy, 100_000, |tat| tat.load(Relaxed));
        assert_eq!(kept, 1_000_000, "the key owing most is evicted last");
    }
}
