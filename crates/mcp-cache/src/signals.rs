//! What the cache reports: metric handles, registered once at build, and
//! plain counters for a live snapshot ([`CacheCounts`]).

// The Redis tier's signals have nothing to report without it.
#![cfg_attr(not(feature = "redis"), allow(dead_code))]

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use mcp_metrics::names;
use metrics::{Counter, Gauge};
use moka::notification::RemovalCause;

/// Where a served result came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Tier {
    L1,
    L2,
}

impl Tier {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::L1 => "l1",
            Self::L2 => "l2",
        }
    }
}

/// A Redis operation of the shared tier, for error counts.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Operation {
    Get,
    Set,
    Publish,
    Subscribe,
}

/// Where an invalidation came from.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Source {
    Local,
    Backplane,
    Gap,
}

/// Lookups by outcome since the cache was built: what a stats page shows.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CacheCounts {
    /// Fresh results served from memory.
    pub l1_hits: u64,
    /// Fresh results served from Redis.
    pub l2_hits: u64,
    /// Stale results served: while revalidating, or because the inner
    /// service failed.
    pub stale_hits: u64,
    /// Lookups that called the inner service.
    pub misses: u64,
    /// Requests the cache does not handle (not cacheable, a retry, private
    /// without a principal).
    pub bypasses: u64,
    /// Misses that waited for another request's call instead of making
    /// their own.
    pub coalesced: u64,
}

impl CacheCounts {
    /// Hits (fresh or stale) over cacheable lookups; 0 before any.
    pub fn hit_rate(&self) -> f64 {
        let hits = self.l1_hits + self.l2_hits + self.stale_hits + self.coalesced;
        let lookups = hits + self.misses;
        if lookups == 0 {
            0.0
        } else {
            hits as f64 / lookups as f64
        }
    }
}

#[derive(Default)]
struct Counts {
    l1_hits: AtomicU64,
    l2_hits: AtomicU64,
    stale_hits: AtomicU64,
    misses: AtomicU64,
    bypasses: AtomicU64,
    coalesced: AtomicU64,
}

pub(crate) struct Signals {
    counts: Counts,
    hits: [Counter; 2],
    stale: [Counter; 2],
    miss: Counter,
    bypass: Counter,
    coalesced: Counter,
    /// By cause: size, expired, explicit, replaced.
    evictions: [Counter; 4],
    bytes: Gauge,
    /// By operation, in the order of [`Operation`].
    redis_errors: [Counter; 4],
    /// By source, in the order of [`Source`].
    invalidations: [Counter; 3],
}

impl Signals {
    /// Handles that record nothing, for a disabled cache.
    pub(crate) fn noop() -> Self {
        Self {
            counts: Counts::default(),
            hits: [Counter::noop(), Counter::noop()],
            stale: [Counter::noop(), Counter::noop()],
            miss: Counter::noop(),
            bypass: Counter::noop(),
            coalesced: Counter::noop(),
            evictions: [
                Counter::noop(),
                Counter::noop(),
                Counter::noop(),
                Counter::noop(),
            ],
            bytes: Gauge::noop(),
            redis_errors: [
                Counter::noop(),
                Counter::noop(),
                Counter::noop(),
                Counter::noop(),
            ],
            invalidations: [Counter::noop(), Counter::noop(), Counter::noop()],
        }
    }

    pub(crate) fn new(name: &str) -> Self {
        let cache = name.to_owned();
        let requests = |tier: &'static str, result: &'static str| metrics::counter!(names::CACHE_REQUESTS, names::CACHE => cache.clone(), names::TIER => tier, names::RESULT => result);
        let eviction = |cause: &'static str| metrics::counter!(names::CACHE_EVICTIONS, names::CACHE => cache.clone(), names::CAUSE => cause);
        let redis_error = |operation: &'static str| metrics::counter!(names::CACHE_REDIS_ERRORS, names::CACHE => cache.clone(), names::OPERATION => operation);
        let invalidation = |source: &'static str| metrics::counter!(names::CACHE_INVALIDATIONS, names::CACHE => cache.clone(), names::SOURCE => source);
        Self {
            counts: Counts::default(),
            hits: [requests("l1", "hit"), requests("l2", "hit")],
            stale: [requests("l1", "stale"), requests("l2", "stale")],
            miss: requests("none", "miss"),
            bypass: requests("none", "bypass"),
            coalesced: metrics::counter!(names::CACHE_COALESCED, names::CACHE => cache.clone()),
            evictions: [
                eviction("size"),
                eviction("expired"),
                eviction("explicit"),
                eviction("replaced"),
            ],
            bytes: metrics::gauge!(names::CACHE_BYTES, names::CACHE => cache.clone()),
            redis_errors: [
                redis_error("get"),
                redis_error("set"),
                redis_error("publish"),
                redis_error("subscribe"),
            ],
            invalidations: [
                invalidation("local"),
                invalidation("backplane"),
                invalidation("gap"),
            ],
        }
    }

    pub(crate) fn hit(&self, tier: Tier) {
        let (count, counter) = match tier {
            Tier::L1 => (&self.counts.l1_hits, &self.hits[0]),
            Tier::L2 => (&self.counts.l2_hits, &self.hits[1]),
        };
        count.fetch_add(1, Relaxed);
        counter.increment(1);
    }

    pub(crate) fn stale(&self, tier: Tier) {
        self.counts.stale_hits.fetch_add(1, Relaxed);
        self.stale[tier as usize].increment(1);
    }

    pub(crate) fn miss(&self) {
        self.counts.misses.fetch_add(1, Relaxed);
        self.miss.increment(1);
    }

    pub(crate) fn bypass(&self) {
        self.counts.bypasses.fetch_add(1, Relaxed);
        self.bypass.increment(1);
    }

    pub(crate) fn coalesced(&self) {
        self.counts.coalesced.fetch_add(1, Relaxed);
        self.coalesced.increment(1);
    }

    pub(crate) fn evicted(&self, cause: RemovalCause) {
        let index = match cause {
            RemovalCause::Size => 0,
            RemovalCause::Expired => 1,
            RemovalCause::Explicit => 2,
            RemovalCause::Replaced => 3,
        };
        self.evictions[index].increment(1);
    }

    pub(crate) fn bytes(&self, bytes: u64) {
        self.bytes.set(bytes as f64);
    }

    pub(crate) fn redis_error(&self, operation: Operation) {
        self.redis_errors[operation as usize].increment(1);
    }

    pub(crate) fn invalidated(&self, source: Source) {
        self.invalidations[source as usize].increment(1);
    }

    pub(crate) fn counts(&self) -> CacheCounts {
        let counts = &self.counts;
        CacheCounts {
            l1_hits: counts.l1_hits.load(Relaxed),
            l2_hits: counts.l2_hits.load(Relaxed),
            stale_hits: counts.stale_hits.load(Relaxed),
            misses: counts.misses.load(Relaxed),
            bypasses: counts.bypasses.load(Relaxed),
            coalesced: counts.coalesced.load(Relaxed),
        }
    }
}
