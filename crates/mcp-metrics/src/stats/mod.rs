//! [`Stats`]: live figures of the server that any code can read at any
//! time, fed by [`MetricsLayer`](crate::MetricsLayer).

mod buckets;
mod objective;
mod process;
mod snapshot;
mod window;

use std::{
    borrow::Cow,
    collections::BTreeMap,
    fmt,
    sync::{
        Arc, PoisonError, RwLock,
        atomic::{AtomicI64, AtomicU64, Ordering::Relaxed},
    },
    time::Duration,
};

use mcp_service::Clock;

pub(crate) use objective::ObjectiveState;
pub use objective::{LatencyObjective, ObjectiveScope};
pub use process::ProcessStats;
pub use snapshot::{CacheCounts, CacheStats, Latency, ObjectiveStatus, StatsSnapshot};
use window::{Sample, Window};

use crate::{
    ConfigError,
    outcome::{Class, Ending},
};

/// Rejection kinds with a counter of their own; others count as `other`.
const REJECTION_KINDS: [&str; 7] = [
    "rate_limited",
    "overloaded",
    "circuit_open",
    "timeout",
    "too_large",
    "unavailable",
    "other",
];

const NANOS_PER_SECOND: u64 = 1_000_000_000;

type CacheWatch = Box<dyn Fn() -> CacheCounts + Send + Sync>;
type BreakerWatch = Box<dyn Fn() -> Cow<'static, str> + Send + Sync>;

/// Live figures of the server, cheap to read at any time: requests per
/// second, error rate and latency percentiles over a sliding window,
/// requests in flight, rejections by reason, latency objectives, and what
/// is watched (a cache's hit rate, breakers' states, the process's CPU time
/// and memory). [`snapshot`](Self::snapshot) returns them as a struct that
/// serializes to JSON.
///
/// [`MetricsLayer`](crate::MetricsLayer) feeds it: give it a clone with
/// [`MetricsBuilder::stats`](crate::MetricsBuilder::stats). Clones share
/// the figures.
///
/// # The window and its precision
///
/// The window is a ring of one slot per second (60 by default): request
/// counts and a histogram of atomic counters per second. Recording is a
/// few atomic adds, with no lock; reading sums the slots, so it costs the
/// same whatever the traffic, and memory is fixed (about 2 KiB a second of
/// window, the same again for each objective).
///
/// Latencies fall into log-linear buckets: 128 ns wide below 2 µs, then 16
/// per power of two, each at most 1/16 of its lower bound wide. A
/// percentile is the midpoint of the bucket that holds the exact
/// nearest-rank sample, so it is **within 1/32 (3.1 %) of the exact value**
/// (within 64 ns below 2 µs); the maximum is exact. Latencies over 36
/// minutes share the last bucket.
///
/// ```
/// use mcp_metrics::{CacheCounts, MetricsLayer, Stats};
/// use mcp_service::jsonrpc::{JsonRpcRequest, JsonRpcResponse};
/// use tower::{Service, ServiceBuilder, ServiceExt, service_fn};
///
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// let stats = Stats::new();
/// stats.watch_cache(|| CacheCounts { hits: 90, misses: 10, ..CacheCounts::default() });
/// stats.watch_breaker("upstream", || "closed");
/// let mut service = ServiceBuilder::new()
///     .layer(MetricsLayer::builder().stats(stats.clone()).build()?)
///     .service(service_fn(|_request: JsonRpcRequest| async {
///         JsonRpcResponse::from_value(&serde_json::json!({}))
///     }));
/// let request = JsonRpcRequest::new(None, "tools/list", None).unwrap();
/// service.ready().await?.call(request).await?;
///
/// let snapshot = stats.snapshot();
/// assert_eq!(snapshot.requests, 1);
/// assert_eq!(snapshot.cache.unwrap().hit_rate, Some(0.9));
/// println!("{}", serde_json::to_string_pretty(&snapshot).unwrap());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// ```
#[derive(Clone)]
pub struct Stats {
    inner: Arc<Inner>,
}

struct Inner {
    clock: Clock,
    window: Window,
    requests_total: AtomicU64,
    in_flight: AtomicI64,
    rejections: [AtomicU64; REJECTION_KINDS.len()],
    objectives: Box<[Arc<ObjectiveState>]>,
    cache: RwLock<Option<CacheWatch>>,
    breakers: RwLock<BTreeMap<Cow<'static, str>, BreakerWatch>>,
}

impl Stats {
    /// Stats with a window of 60 seconds and no objectives.
    pub fn new() -> Self {
        Self::from_parts(60, Vec::new())
    }

    /// A builder, to set the window and objectives.
    pub fn builder() -> StatsBuilder {
        StatsBuilder {
            window: Duration::from_secs(60),
            objectives: Vec::new(),
        }
    }

    fn from_parts(window_seconds: usize, objectives: Vec<LatencyObjective>) -> Self {
        Self {
            inner: Arc::new(Inner {
                clock: Clock::new(),
                window: Window::new(window_seconds),
                requests_total: AtomicU64::new(0),
                in_flight: AtomicI64::new(0),
                rejections: Default::default(),
                objectives: objectives
                    .into_iter()
                    .map(|objective| Arc::new(ObjectiveState::new(objective, window_seconds)))
                    .collect(),
                cache: RwLock::new(None),
                breakers: RwLock::new(BTreeMap::new()),
            }),
        }
    }

    /// Reports the counts `counts` returns as the cache's; it is called at
    /// each snapshot. Replaces a cache watched before.
    pub fn watch_cache(&self, counts: impl Fn() -> CacheCounts + Send + Sync + 'static) {
        let mut cache = self
            .inner
            .cache
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        *cache = Some(Box::new(counts));
    }

    /// Reports the state `state` returns (such as `"closed"`) as the state
    /// of the breaker `name`; it is called at each snapshot. Replaces a
    /// breaker of that name watched before.
    pub fn watch_breaker<S>(
        &self,
        name: impl Into<Cow<'static, str>>,
        state: impl Fn() -> S + Send + Sync + 'static,
    ) where
        S: Into<Cow<'static, str>>,
    {
        let mut breakers = self
            .inner
            .breakers
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        breakers.insert(name.into(), Box::new(move || state().into()));
    }

    /// The figures now.
    pub fn snapshot(&self) -> StatsSnapshot {
        let inner = &*self.inner;
        let now = inner.clock.nanos();
        let second = now / NANOS_PER_SECOND;
        let summary = inner.window.read(second);
        let uptime = now as f64 / NANOS_PER_SECOND as f64;
        // The window is the current second and the ones before it, but no
        // older than the stats themselves.
        let full = (inner.window.seconds() - 1) as f64 + fraction_of_second(now);
        let window_seconds = full.min(uptime);
        let ratio = |part: u64, whole: u64| {
            if whole == 0 {
                0.0
            } else {
                part as f64 / whole as f64
            }
        };
        let cache = inner
            .cache
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .as_ref()
            .map(|counts| CacheStats::from(counts()));
        let breakers = inner
            .breakers
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .map(|(name, state)| (name.to_string(), state().into_owned()))
            .collect();
        StatsSnapshot {
            uptime_seconds: uptime,
            window_seconds,
            requests_total: inner.requests_total.load(Relaxed),
            requests: summary.requests,
            requests_per_second: if window_seconds > 0.0 {
                summary.requests as f64 / window_seconds
            } else {
                0.0
            },
            server_errors: summary.server_errors,
            error_rate: ratio(summary.server_errors, summary.requests),
            cancelled: summary.cancelled,
            latency: Latency {
                samples: summary.samples(),
                p50_ms: summary.quantile(0.50).map(millis),
                p95_ms: summary.quantile(0.95).map(millis),
                p99_ms: summary.quantile(0.99).map(millis),
                max_ms: (summary.samples() > 0).then(|| millis(summary.max)),
            },
            in_flight: u64::try_from(inner.in_flight.load(Relaxed)).unwrap_or(0),
            rejections: REJECTION_KINDS
                .iter()
                .zip(&inner.rejections)
                .map(|(kind, count)| (*kind, count.load(Relaxed)))
                .filter(|(_, count)| *count > 0)
                .collect(),
            cache,
            breakers,
            process: ProcessStats::current(),
            objectives: inner
                .objectives
                .iter()
                .map(|state| objective_status(state, second))
                .collect(),
        }
    }

    pub(crate) fn clock(&self) -> &Clock {
        &self.inner.clock
    }

    /// The objectives that cover requests of `method` (and `tool`).
    pub(crate) fn objectives_for(
        &self,
        method: &str,
        tool: Option<&str>,
    ) -> Box<[Arc<ObjectiveState>]> {
        self.inner
            .objectives
            .iter()
            .filter(|state| state.objective.covers(method, tool))
            .cloned()
            .collect()
    }

    /// The tools objectives name, so their calls get a label of their own.
    pub(crate) fn objective_tools(&self) -> impl Iterator<Item = &str> {
        self.inner
            .objectives
            .iter()
            .filter_map(|state| state.objective.tool_name())
    }

    /// A request started.
    #[inline]
    pub(crate) fn begin(&self) {
        self.inner.in_flight.fetch_add(1, Relaxed);
    }

    /// A request that took `latency` nanoseconds ended at `now`.
    pub(crate) fn end(
        &self,
        now: u64,
        latency: u64,
        ending: &Ending,
        objectives: &[Arc<ObjectiveState>],
    ) {
        let inner = &*self.inner;
        inner.in_flight.fetch_sub(1, Relaxed);
        inner.requests_total.fetch_add(1, Relaxed);
        let second = now / NANOS_PER_SECOND;
        let timed = matches!(ending.class, Class::Answered | Class::ServerError);
        inner.window.record(
            second,
            Sample {
                latency: timed.then_some(latency),
                server_error: ending.class == Class::ServerError,
                cancelled: ending.class == Class::Cancelled,
            },
        );
        if timed {
            objectives
                .iter()
                .for_each(|objective| objective.record(second, latency));
        }
        if let Some(kind) = ending.rejection {
            let slot = REJECTION_KINDS
                .iter()
                .position(|known| *known == kind)
                .unwrap_or(REJECTION_KINDS.len() - 1);
            inner.rejections[slot].fetch_add(1, Relaxed);
        }
    }
}

impl Default for Stats {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for Stats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Stats")
            .field("window_seconds", &self.inner.window.seconds())
            .field("objectives", &self.inner.objectives.len())
            .finish_non_exhaustive()
    }
}

fn objective_status(state: &ObjectiveState, second: u64) -> ObjectiveStatus {
    let summary = state.window.read(second);
    let objective = &state.objective;
    let observed = summary.quantile(objective.quantile());
    ObjectiveStatus {
        method: objective.method_name().map(str::to_owned),
        tool: objective.tool_name().map(str::to_owned),
        quantile: objective.quantile(),
        threshold_ms: objective.threshold().as_secs_f64() * 1e3,
        observed_ms: observed.map(millis),
        samples: summary.samples(),
        met: observed.map(|observed| {
            observed <= mcp_service::clock::saturating_nanos(objective.threshold())
        }),
        over_threshold_total: state.over_threshold(),
    }
}

fn millis(nanos: u64) -> f64 {
    nanos as f64 / 1e6
}

fn fraction_of_second(nanos: u64) -> f64 {
    (nanos % NANOS_PER_SECOND) as f64 / NANOS_PER_SECOND as f64
}

/// Builds a [`Stats`].
#[derive(Debug, Clone)]
pub struct StatsBuilder {
    window: Duration,
    objectives: Vec<LatencyObjective>,
}

impl StatsBuilder {
    /// How far back the window reaches, in whole seconds from 1 s to 1 h.
    /// Default 60 s.
    #[must_use]
    pub fn window(mut self, window: Duration) -> Self {
        self.window = window;
        self
    }

    /// Adds a latency objective, judged over the window; see
    /// [`LatencyObjective`]. Default none.
    #[must_use]
    pub fn objective(mut self, objective: LatencyObjective) -> Self {
        self.objectives.push(objective);
        self
    }

    /// The stats, or which setting is out of range.
    pub fn build(self) -> Result<Stats, ConfigError> {
        let seconds = self.window.as_secs();
        if self.window.subsec_nanos() != 0 || !(1..=3600).contains(&seconds) {
            return Err(ConfigError {
                setting: "window",
                problem: format!(
                    "{:?} is not a whole number of seconds from 1 s to 1 h",
                    self.window
                ),
            });
        }
        self.objectives
            .iter()
            .try_for_each(LatencyObjective::validate)?;
        Ok(Stats::from_parts(seconds as usize, self.objectives))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answered() -> Ending {
        Ending {
            error: None,
            class: Class::Answered,
            rejection: None,
        }
    }

    #[test]
    fn quantiles_of_nanosecond_samples_are_within_half_a_bucket_of_exact() {
        let stats = Stats::new();
        let now = stats.clock().nanos();
        // Log-uniform from 100 ns to 100 s, from a fixed seed.
        let mut seed = 0x2545_f491_4f6c_dd1d_u64;
        let mut samples: Vec<u64> = (0..20_000)
            .map(|_| {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                let unit = (seed >> 11) as f64 / (1u64 << 53) as f64;
                (100.0 * 1e9f64.powf(unit)) as u64
            })
            .collect();
        for latency in &samples {
            stats.end(now, *latency, &answered(), &[]);
        }
        samples.sort_unstable();
        let summary = stats.inner.window.read(now / NANOS_PER_SECOND);
        assert_eq!(summary.samples(), 20_000);
        for q in [
            0.001, 0.01, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95, 0.99, 0.999, 1.0,
        ] {
            let rank = ((q * samples.len() as f64).ceil() as usize).clamp(1, samples.len());
            let exact = samples[rank - 1] as f64;
            let got = summary.quantile(q).unwrap() as f64;
            let bound = (exact / 32.0).max(64.0);
            assert!((got - exact).abs() <= bound, "q {q}: {got} against {exact}");
        }
        assert_eq!(summary.max, *samples.last().unwrap());
    }
}
