//! [`StatsSnapshot`]: what [`Stats::snapshot`](super::Stats::snapshot)
//! returns, serializable to JSON.

use std::collections::BTreeMap;

use serde::Serialize;

use super::process::ProcessStats;

/// The server's figures at one moment: counts over the sliding window,
/// totals since the [`Stats`](super::Stats) was made, and the state of what
/// is watched (cache, breakers, process).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct StatsSnapshot {
    /// Seconds since the stats were made.
    pub uptime_seconds: f64,
    /// Seconds the window covers now: its configured length, or the uptime
    /// while that is shorter.
    pub window_seconds: f64,
    /// Requests finished since the start.
    pub requests_total: u64,
    /// Requests finished in the window, every kind included.
    pub requests: u64,
    /// `requests` per second of the window.
    pub requests_per_second: f64,
    /// Requests in the window that failed on the server's side: inner
    /// errors other than the client's (-32700, -32600, -32601, -32602),
    /// timeouts, unreachable upstreams.
    pub server_errors: u64,
    /// `server_errors / requests`; 0 without requests.
    pub error_rate: f64,
    /// Requests in the window the client cancelled or dropped.
    pub cancelled: u64,
    /// Latency over the window of the requests the server answered
    /// (results, tool errors, errors), not of those shed at once by a
    /// limit or a breaker, nor of cancelled ones.
    pub latency: Latency,
    /// Requests being handled now.
    pub in_flight: u64,
    /// Requests our layers rejected since the start, by kind (`rate_limited`,
    /// `overloaded`, `circuit_open`, `timeout`, `too_large`, `unavailable`).
    pub rejections: BTreeMap<&'static str, u64>,
    /// The watched cache's counts, if one is watched.
    pub cache: Option<CacheStats>,
    /// The state of each watched breaker, by name.
    pub breakers: BTreeMap<String, String>,
    /// CPU time and resident memory of the process (Linux only).
    pub process: Option<ProcessStats>,
    /// Each latency objective, judged over the window.
    pub objectives: Vec<ObjectiveStatus>,
}

/// Latency percentiles over the window, in milliseconds; `None` without
/// samples. Each percentile is within 1/32 (3.1 %) of the exact
/// nearest-rank percentile of the same samples, or within 64 ns below
/// 2 µs; `max_ms` is exact.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[non_exhaustive]
pub struct Latency {
    /// How many latencies the window holds.
    pub samples: u64,
    /// The median.
    pub p50_ms: Option<f64>,
    /// The 95th percentile.
    pub p95_ms: Option<f64>,
    /// The 99th percentile.
    pub p99_ms: Option<f64>,
    /// The slowest.
    pub max_ms: Option<f64>,
}

/// Counts a cache reports to a watching [`Stats`](super::Stats), totals
/// since the cache started.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct CacheCounts {
    /// Lookups answered from the cache with a fresh entry.
    pub hits: u64,
    /// Lookups answered with a stale entry while it was refreshed.
    pub stale_hits: u64,
    /// Lookups that found nothing usable and called the server.
    pub misses: u64,
    /// Requests the cache did not look up (not cacheable).
    pub bypasses: u64,
}

/// A watched cache's counts and hit rate.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[non_exhaustive]
pub struct CacheStats {
    /// Lookups answered with a fresh entry.
    pub hits: u64,
    /// Lookups answered with a stale entry.
    pub stale_hits: u64,
    /// Lookups that called the server.
    pub misses: u64,
    /// Requests not looked up.
    pub bypasses: u64,
    /// `(hits + stale_hits) / (hits + stale_hits + misses)`, bypasses
    /// aside; `None` before the first lookup.
    pub hit_rate: Option<f64>,
}

impl From<CacheCounts> for CacheStats {
    fn from(counts: CacheCounts) -> Self {
        let served = counts.hits.saturating_add(counts.stale_hits);
        let lookups = served.saturating_add(counts.misses);
        Self {
            hits: counts.hits,
            stale_hits: counts.stale_hits,
            misses: counts.misses,
            bypasses: counts.bypasses,
            hit_rate: (lookups > 0).then(|| served as f64 / lookups as f64),
        }
    }
}

/// A latency objective judged over the window.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct ObjectiveStatus {
    /// The method it covers, for a method objective.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub method: Option<String>,
    /// The tool it covers, for a tool objective.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tool: Option<String>,
    /// The quantile judged, such as 0.95.
    pub quantile: f64,
    /// The latency the quantile should keep to, in milliseconds.
    pub threshold_ms: f64,
    /// The quantile over the window, in milliseconds; `None` without samples.
    pub observed_ms: Option<f64>,
    /// How many requests the window holds for it.
    pub samples: u64,
    /// Whether the observed quantile is at or under the threshold; `None`
    /// without samples.
    pub met: Option<bool>,
    /// Requests slower than the threshold since the start.
    pub over_threshold_total: u64,
}
