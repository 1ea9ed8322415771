//! [`Circuit`]: the breaker's state machine, on atomics, with time passed in.
//!
//! The state, its generation, and the half-open probe counts share one
//! 64-bit word, so every transition is a single compare-and-swap and a
//! closed breaker admits with one atomic load.

use std::{
    sync::atomic::{
        AtomicU32, AtomicU64,
        Ordering::{AcqRel, Acquire, Relaxed, Release},
    },
    time::Duration,
};

use tokio::time::Instant;

use super::{
    config::{CircuitBreakerConfig, Window},
    window::{CountWindow, Sample, Snapshot, TimeWindow},
};
use crate::{classify::Verdict, jitter::Jitter};
use mcp_metrics::names;
use metrics::{Counter, Gauge};

/// The state of a breaker.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum State {
    /// Calls pass; outcomes are recorded.
    Closed,
    /// Calls are rejected until the open duration ends.
    Open,
    /// A few probe calls pass; their outcomes decide.
    HalfOpen,
    /// Forced open by an operator: every call is rejected until reset.
    ForcedOpen,
    /// Disabled by an operator: every call passes; nothing trips.
    Disabled,
}

impl State {
    fn from_bits(bits: u64) -> Self {
        match bits & 0xff {
            0 => Self::Closed,
            1 => Self::Open,
            2 => Self::HalfOpen,
            3 => Self::ForcedOpen,
            _ => Self::Disabled,
        }
    }

    fn bits(self) -> u64 {
        match self {
            Self::Closed => 0,
            Self::Open => 1,
            Self::HalfOpen => 2,
            Self::ForcedOpen => 3,
            Self::Disabled => 4,
        }
    }

    /// A short, stable name for labels and logs.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Closed => "closed",
            Self::Open => "open",
            Self::HalfOpen => "half_open",
            Self::ForcedOpen => "forced_open",
            Self::Disabled => "disabled",
        }
    }
}

/// A change of state, as told to listeners.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StateChange {
    /// The breaker's name.
    pub breaker: String,
    /// The state left.
    pub from: State,
    /// The state entered.
    pub to: State,
    /// For a change to open: how long it stays open.
    pub open_for: Option<Duration>,
}

/// The packed word: state (8 bits), generation (24), probes admitted (16),
/// probe successes (16).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Word(u64);

impl Word {
    fn new(state: State, generation: u64) -> Self {
        Self(state.bits() | (generation & 0xff_ffff) << 8)
    }
    fn state(self) -> State {
        State::from_bits(self.0)
    }
    fn generation(self) -> u32 {
        ((self.0 >> 8) & 0xff_ffff) as u32
    }
    fn probes(self) -> u32 {
        ((self.0 >> 32) & 0xffff) as u32
    }
    fn successes(self) -> u32 {
        (self.0 >> 48) as u32
    }
    /// The next state, in a new generation: outstanding permits go stale.
    fn next(self, state: State) -> Self {
        Self::new(state, u64::from(self.generation()) + 1)
    }
    fn with_probes(self, probes: u32) -> Self {
        Self((self.0 & !(0xffff << 32)) | u64::from(probes) << 32)
    }
    fn with_successes(self, successes: u32) -> Self {
        Self((self.0 & !(0xffff << 48)) | u64::from(successes) << 48)
    }
}

/// Leave to make one call, from [`Circuit::try_acquire`]. Hand it back with
/// [`Circuit::record`] or [`Circuit::release`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Permit {
    generation: u32,
    probe: bool,
}

impl Permit {
    /// Whether this is a half-open probe.
    pub fn is_probe(&self) -> bool {
        self.probe
    }
}

#[derive(Debug)]
enum Outcomes {
    Count(CountWindow),
    Time(TimeWindow),
}

/// A circuit breaker's state machine. Shared by `Arc` between every clone of
/// a service, and by the [`CircuitHandle`](super::CircuitHandle).
pub struct Circuit {
    config: CircuitBreakerConfig,
    origin: Instant,
    word: AtomicU64,
    /// Nanoseconds after `origin` when an open breaker may probe.
    open_until: AtomicU64,
    /// Probes failed since the breaker last closed, for the backoff.
    reopenings: AtomicU32,
    consecutive_failures: AtomicU32,
    outcomes: Outcomes,
    jitter: Jitter,
    signals: Signals,
}

/// Metric handles, registered once so state changes and rejections cost no
/// lookup. Registered with the recorder installed when the breaker is built.
struct Signals {
    state: Option<Gauge>,
    /// By the state entered, in the order of `State::bits`.
    transitions: [Counter; 5],
    rejections: Counter,
}

impl Signals {
    /// Handles that record nothing, for a breaker that is off.
    fn noop() -> Self {
        Self {
            state: None,
            transitions: std::array::from_fn(|_| Counter::noop()),
            rejections: Counter::noop(),
        }
    }

    fn new(name: &str, with_state_gauge: bool) -> Self {
        let breaker = name.to_owned();
        let transition = |state: State| metrics::counter!(names::BREAKER_TRANSITIONS, names::BREAKER => breaker.clone(), names::STATE => state.as_str());
        Self {
            state: with_state_gauge
                .then(|| metrics::gauge!(names::BREAKER_STATE, names::BREAKER => breaker.clone())),
            transitions: [
                transition(State::Closed),
                transition(State::Open),
                transition(State::HalfOpen),
                transition(State::ForcedOpen),
                transition(State::Disabled),
            ],
            rejections: metrics::counter!(names::BREAKER_REJECTIONS, names::BREAKER => breaker.clone()),
        }
    }
}

impl std::fmt::Debug for Circuit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Circuit")
            .field("name", &self.config.name)
            .field("state", &self.state())
            .finish_non_exhaustive()
    }
}

impl Circuit {
    /// A closed circuit. The configuration must have been validated. Keyed
    /// circuits share a name, so only unkeyed ones report a state gauge.
    pub(crate) fn new(config: CircuitBreakerConfig, now: Instant, keyed: bool) -> Self {
        let signals = Signals::new(&config.name, !keyed);
        Self::with_signals(config, now, signals)
    }

    /// A circuit in the disabled state that reports nothing: a breaker
    /// switched off.
    pub(crate) fn disabled(config: CircuitBreakerConfig, now: Instant) -> Self {
        let circuit = Self::with_signals(config, now, Signals::noop());
        circuit.force(State::Disabled);
        circuit
    }

    fn with_signals(config: CircuitBreakerConfig, now: Instant, signals: Signals) -> Self {
        let outcomes = match config.window {
            Window::Count(size) => Outcomes::Count(CountWindow::new(size)),
            Window::Time(duration) => Outcomes::Time(TimeWindow::new(nanos(duration), 10)),
        };
        Self {
            config,
            origin: now,
            word: AtomicU64::new(Word::new(State::Closed, 0).0),
            open_until: AtomicU64::new(0),
            reopenings: AtomicU32::new(0),
            consecutive_failures: AtomicU32::new(0),
            outcomes,
            jitter: Jitter::new(),
            signals,
        }
    }

    /// The configuration.
    pub fn config(&self) -> &CircuitBreakerConfig {
        &self.config
    }

    /// The current state.
    pub fn state(&self) -> State {
        self.load().state()
    }

    fn load(&self) -> Word {
        Word(self.word.load(Acquire))
    }

    fn since_origin(&self, now: Instant) -> u64 {
        nanos(now.saturating_duration_since(self.origin))
    }

    /// Asks to make a call at `now`: a permit, or how long until one may be had.
    pub fn try_acquire(&self, now: Instant) -> Result<Permit, Duration> {
        self.acquire(|| now)
    }

    /// [`try_acquire`](Self::try_acquire), reading the clock only when the
    /// breaker is not closed: a closed breaker admits with one atomic load.
    pub(crate) fn acquire(&self, now: impl FnOnce() -> Instant) -> Result<Permit, Duration> {
        let mut word = self.load();
        let mut now = Some(now);
        let mut at = None;
        loop {
            match word.state() {
                State::Closed | State::Disabled => {
                    return Ok(Permit {
                        generation: word.generation(),
                        probe: false,
                    });
                }
                State::ForcedOpen => return Err(self.config.open_duration),
                State::Open => {
                    let until = self.open_until.load(Acquire);
                    let at = *at.get_or_insert_with(|| {
                        let now = now.take().map_or_else(Instant::now, |now| now());
                        self.since_origin(now)
                    });
                    if at < until {
                        return Err(Duration::from_nanos(until - at));
                    }
                    let half_open = word.next(State::HalfOpen);
                    match self.swap(word, half_open) {
                        Ok(()) => {
                            self.announce(State::Open, State::HalfOpen, None);
                            word = half_open;
                        }
                        Err(actual) => word = actual,
                    }
                }
                State::HalfOpen => {
                    if word.probes() >= self.config.half_open_calls {
                        // The probes decide soon; a caller retries after a short wait.
                        return Err(self.config.open_duration.min(Duration::from_secs(1)));
                    }
                    let probing = word.with_probes(word.probes() + 1);
                    match self.swap(word, probing) {
                        Ok(()) => {
                            return Ok(Permit {
                                generation: word.generation(),
                                probe: true,
                            });
                        }
                        Err(actual) => word = actual,
                    }
                }
            }
        }
    }

    /// Records the outcome of a permitted call that took `elapsed`.
    pub fn record(&self, permit: Permit, verdict: Verdict, elapsed: Duration, now: Instant) {
        self.record_with(permit, verdict, Some(elapsed), || now);
    }

    /// Whether outcomes need the call's duration (slow calls are judged).
    pub(crate) fn measures_duration(&self) -> bool {
        self.config.slow_call_rate_threshold.is_some()
    }

    /// [`record`](Self::record), reading the clock only when the window or a
    /// trip needs it.
    pub(crate) fn record_with(
        &self,
        permit: Permit,
        verdict: Verdict,
        elapsed: Option<Duration>,
        now: impl Fn() -> Instant,
    ) {
        if verdict == Verdict::Ignore {
            return self.release(permit);
        }
        let sample = Sample {
            failed: verdict == Verdict::Failure,
            slow: self.measures_duration()
                && elapsed.is_some_and(|elapsed| elapsed >= self.config.slow_call_threshold),
        };
        let word = self.load();
        if word.generation() != permit.generation {
            // The breaker moved on since this call started; it no longer counts.
            return;
        }
        match word.state() {
            State::Closed => self.record_closed(word, sample, now),
            State::HalfOpen if permit.probe => self.record_probe(word, sample, now),
            _ => {}
        }
    }

    /// Hands back a permit whose call ended without an outcome that counts
    /// (dropped, cancelled, ignored), so a probe slot is not lost.
    pub fn release(&self, permit: Permit) {
        if !permit.probe {
            return;
        }
        let mut word = self.load();
        while word.state() == State::HalfOpen
            && word.generation() == permit.generation
            && word.probes() > 0
        {
            match self.swap(word, word.with_probes(word.probes() - 1)) {
                Ok(()) => return,
                Err(actual) => word = actual,
            }
        }
    }

    fn record_closed(&self, word: Word, sample: Sample, now: impl Fn() -> Instant) {
        let snapshot = match &self.outcomes {
            Outcomes::Count(window) => window.record(sample),
            Outcomes::Time(window) => window.record(sample, self.since_origin(now())),
        };
        let consecutive = if sample.failed {
            self.consecutive_failures.fetch_add(1, Relaxed) + 1
        } else {
            // A load first: most calls succeed, and a store to a line every
            // core shares would make them queue.
            if self.consecutive_failures.load(Relaxed) != 0 {
                self.consecutive_failures.store(0, Relaxed);
            }
            0
        };
        if self.should_trip(snapshot, consecutive) {
            self.reopenings.store(0, Relaxed);
            self.open(word, now());
        }
    }

    fn should_trip(&self, window: Snapshot, consecutive: u32) -> bool {
        if self
            .config
            .consecutive_failures
            .is_some_and(|limit| consecutive >= limit)
        {
            return true;
        }
        if window.calls < self.config.minimum_calls || (window.failures == 0 && window.slow == 0) {
            return false;
        }
        // `count / calls >= threshold`, without a division.
        let reaches =
            |count: u32, threshold: f64| f64::from(count) >= threshold * f64::from(window.calls);
        reaches(window.failures, self.config.failure_rate_threshold)
            || self
                .config
                .slow_call_rate_threshold
                .is_some_and(|threshold| reaches(window.slow, threshold))
    }

    fn record_probe(&self, mut word: Word, sample: Sample, now: impl Fn() -> Instant) {
        if sample.failed || sample.slow {
            self.reopenings.fetch_add(1, Relaxed);
            return self.open(word, now());
        }
        loop {
            let successes = word.successes() + 1;
            let next = if successes >= self.config.half_open_calls {
                word.next(State::Closed)
            } else {
                word.with_successes(successes)
            };
            match self.swap(word, next) {
                Ok(()) if next.state() == State::Closed => {
                    self.clear();
                    self.reopenings.store(0, Relaxed);
                    return self.announce(State::HalfOpen, State::Closed, None);
                }
                Ok(()) => return,
                Err(actual)
                    if actual.state() == State::HalfOpen
                        && actual.generation() == word.generation() =>
                {
                    word = actual;
                }
                Err(_) => return,
            }
        }
    }

    /// Opens the breaker from `word`'s state, if nothing changed it meanwhile.
    fn open(&self, word: Word, now: Instant) {
        let open_for = self.open_duration(self.reopenings.load(Relaxed));
        // Stored before the swap that makes it visible: readers load the
        // state first, so they see this deadline with it.
        self.open_until
            .store(self.since_origin(now) + nanos(open_for), Release);
        if self.swap(word, word.next(State::Open)).is_ok() {
            self.clear();
            self.announce(word.state(), State::Open, Some(open_for));
        }
    }

    /// The open duration after `reopenings` failed probes: exponential,
    /// capped, with jitter.
    pub(crate) fn open_duration(&self, reopenings: u32) -> Duration {
        let config = &self.config;
        let growth = config.backoff_multiplier.powi(reopenings.min(64) as i32);
        let base = config.open_duration.as_secs_f64() * growth;
        let capped = base.min(config.max_open_duration.as_secs_f64());
        let jittered = self.jitter.spread(capped, config.jitter);
        Duration::from_secs_f64(jittered.clamp(0.0, config.max_open_duration.as_secs_f64()))
    }

    fn clear(&self) {
        match &self.outcomes {
            Outcomes::Count(window) => window.reset(),
            Outcomes::Time(window) => window.reset(),
        }
        self.consecutive_failures.store(0, Relaxed);
    }

    fn swap(&self, from: Word, to: Word) -> Result<(), Word> {
        self.word
            .compare_exchange(from.0, to.0, AcqRel, Acquire)
            .map(drop)
            .map_err(Word)
    }

    /// Moves to `state` whatever the current state, as an operator asks.
    pub(crate) fn force(&self, state: State) {
        let mut word = self.load();
        loop {
            match self.swap(word, word.next(state)) {
                Ok(()) => break,
                Err(actual) => word = actual,
            }
        }
        self.clear();
        self.reopenings.store(0, Relaxed);
        if word.state() != state {
            self.announce(word.state(), state, None);
        }
    }

    /// Counts a call this breaker rejected.
    pub(crate) fn count_rejection(&self) {
        self.signals.rejections.increment(1);
    }

    fn announce(&self, from: State, to: State, open_for: Option<Duration>) {
        self.signals.transitions[to.bits() as usize].increment(1);
        if let Some(gauge) = &self.signals.state {
            gauge.set(to.bits() as f64);
        }
        let open_for_ms = open_for.map(|open_for| open_for.as_millis());
        if to == State::Open {
            tracing::warn!(breaker = %self.config.name, from = from.as_str(), ?open_for_ms, "circuit breaker opened");
        } else {
            tracing::info!(breaker = %self.config.name, from = from.as_str(), to = to.as_str(), "circuit breaker state changed");
        }
        if self.config.listeners.is_empty() {
            return;
        }
        let change = StateChange {
            breaker: self.config.name.to_string(),
            from,
            to,
            open_for,
        };
        for listener in &self.config.listeners {
            listener(&change);
        }
    }
}

fn nanos(duration: Duration) -> u64 {
    u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests;
