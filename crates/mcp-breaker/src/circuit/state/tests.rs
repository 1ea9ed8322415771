use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

use proptest::prelude::*;

use super::*;

const SECOND: Duration = Duration::from_secs(1);

fn config() -> CircuitBreakerConfig {
    CircuitBreakerConfig {
        window: Window::Count(10),
        minimum_calls: 10,
        failure_rate_threshold: 0.5,
        open_duration: SECOND,
        max_open_duration: 5 * SECOND,
        jitter: 0.0,
        half_open_calls: 2,
        ..CircuitBreakerConfig::default()
    }
}

struct Clocked {
    circuit: Circuit,
    now: Instant,
}

impl Clocked {
    fn new(config: CircuitBreakerConfig) -> Self {
        config.validate().unwrap();
        let now = Instant::now();
        Self {
            circuit: Circuit::new(config, now, false),
            now,
        }
    }

    fn advance(&mut self, by: Duration) {
        self.now += by;
    }

    fn call(&self, verdict: Verdict) -> Result<(), Duration> {
        self.call_taking(verdict, Duration::ZERO)
    }

    fn call_taking(&self, verdict: Verdict, elapsed: Duration) -> Result<(), Duration> {
        let permit = self.circuit.try_acquire(self.now)?;
        self.circuit.record(permit, verdict, elapsed, self.now);
        Ok(())
    }

    fn calls(&self, verdict: Verdict, count: usize) {
        for _ in 0..count {
            self.call(verdict).unwrap();
        }
    }

    fn state(&self) -> State {
        self.circuit.state()
    }
}

#[test]
fn trips_exactly_at_the_failure_rate() {
    let breaker = Clocked::new(config());
    breaker.calls(Verdict::Success, 6);
    breaker.calls(Verdict::Failure, 4);
    assert_eq!(breaker.state(), State::Closed, "40 % of 10 stays closed");
    breaker.call(Verdict::Failure).unwrap();
    assert_eq!(breaker.state(), State::Open, "50 % of the last 10 trips");
    assert_eq!(breaker.call(Verdict::Success), Err(SECOND));
}

#[test]
fn minimum_calls_hold_the_rate_back() {
    let breaker = Clocked::new(config());
    breaker.calls(Verdict::Failure, 9);
    assert_eq!(
        breaker.state(),
        State::Closed,
        "9 failures are under the minimum of 10"
    );
    breaker.call(Verdict::Failure).unwrap();
    assert_eq!(breaker.state(), State::Open);
}

#[test]
fn trips_on_the_slow_call_rate() {
    let breaker = Clocked::new(CircuitBreakerConfig {
        slow_call_rate_threshold: Some(0.8),
        slow_call_threshold: SECOND,
        ..config()
    });
    breaker.calls(Verdict::Success, 3);
    for _ in 0..6 {
        breaker.call_taking(Verdict::Success, 2 * SECOND).unwrap();
    }
    breaker
        .call_taking(Verdict::Success, SECOND - Duration::from_nanos(1))
        .unwrap();
    assert_eq!(breaker.state(), State::Closed, "60 % slow is under 80 %");
    breaker.call_taking(Verdict::Success, SECOND).unwrap();
    breaker.call_taking(Verdict::Success, SECOND).unwrap();
    assert_eq!(
        breaker.state(),
        State::Open,
        "80 % of the last 10 were slow"
    );
}

#[test]
fn trips_on_consecutive_failures_before_the_minimum() {
    let breaker = Clocked::new(CircuitBreakerConfig {
        consecutive_failures: Some(3),
        ..config()
    });
    breaker.calls(Verdict::Failure, 2);
    breaker.call(Verdict::Success).unwrap();
    breaker.calls(Verdict::Failure, 2);
    assert_eq!(breaker.state(), State::Closed, "a success resets the run");
    breaker.call(Verdict::Failure).unwrap();
    assert_eq!(breaker.state(), State::Open);
}

#[test]
fn ignored_outcomes_do_not_count() {
    let breaker = Clocked::new(config());
    breaker.calls(Verdict::Ignore, 50);
    breaker.calls(Verdict::Failure, 9);
    assert_eq!(breaker.state(), State::Closed);
}

#[test]
fn open_rejects_until_its_time_then_probes() {
    let mut breaker = Clocked::new(config());
    breaker.calls(Verdict::Failure, 10);
    breaker.advance(SECOND / 4);
    assert_eq!(breaker.call(Verdict::Success), Err(SECOND * 3 / 4));
    breaker.advance(SECOND * 3 / 4);
    let first = breaker.circuit.try_acquire(breaker.now).unwrap();
    assert!(first.is_probe());
    assert_eq!(breaker.state(), State::HalfOpen);
    let second = breaker.circuit.try_acquire(breaker.now).unwrap();
    assert!(
        breaker.circuit.try_acquire(breaker.now).is_err(),
        "only 2 probes"
    );
    breaker
        .circuit
        .record(first, Verdict::Success, Duration::ZERO, breaker.now);
    assert_eq!(breaker.state(), State::HalfOpen, "one success of two");
    breaker
        .circuit
        .record(second, Verdict::Success, Duration::ZERO, breaker.now);
    assert_eq!(breaker.state(), State::Closed);
    breaker.calls(Verdict::Failure, 9);
    assert_eq!(breaker.state(), State::Closed, "the window restarted empty");
}

#[test]
fn a_failed_probe_reopens_for_longer_and_the_backoff_caps() {
    let mut breaker = Clocked::new(config());
    breaker.calls(Verdict::Failure, 10);
    let mut open_for = Vec::new();
    for _ in 0..5 {
        let Err(wait) = breaker.call(Verdict::Success) else {
            panic!("open");
        };
        open_for.push(wait);
        breaker.advance(wait);
        breaker.call(Verdict::Failure).unwrap();
        assert_eq!(breaker.state(), State::Open);
    }
    assert_eq!(
        open_for,
        [SECOND, 2 * SECOND, 4 * SECOND, 5 * SECOND, 5 * SECOND]
    );
    // Recovery resets the backoff.
    let wait = breaker.call(Verdict::Success).unwrap_err();
    breaker.advance(wait);
    breaker.calls(Verdict::Success, 2);
    assert_eq!(breaker.state(), State::Closed);
    breaker.calls(Verdict::Failure, 10);
    assert_eq!(breaker.call(Verdict::Success), Err(SECOND));
}

#[test]
fn jitter_stays_within_its_fraction() {
    let breaker = Clocked::new(CircuitBreakerConfig {
        jitter: 0.2,
        ..config()
    });
    let durations: Vec<_> = (0..200).map(|_| breaker.circuit.open_duration(1)).collect();
    assert!(
        durations
            .iter()
            .all(|d| (1.6..=2.4).contains(&d.as_secs_f64())),
        "{durations:?}"
    );
    let distinct: std::collections::HashSet<_> = durations.iter().collect();
    assert!(distinct.len() > 100, "durations vary");
}

#[test]
fn a_dropped_probe_frees_its_slot() {
    let mut breaker = Clocked::new(config());
    breaker.calls(Verdict::Failure, 10);
    breaker.advance(SECOND);
    let first = breaker.circuit.try_acquire(breaker.now).unwrap();
    let second = breaker.circuit.try_acquire(breaker.now).unwrap();
    assert!(breaker.circuit.try_acquire(breaker.now).is_err());
    breaker.circuit.release(first);
    let third = breaker.circuit.try_acquire(breaker.now).unwrap();
    breaker
        .circuit
        .record(second, Verdict::Success, Duration::ZERO, breaker.now);
    breaker
        .circuit
        .record(third, Verdict::Success, Duration::ZERO, breaker.now);
    assert_eq!(breaker.state(), State::Closed, "never stuck half-open");
}

#[test]
fn outcomes_of_an_older_state_do_not_count() {
    let mut breaker = Clocked::new(config());
    let stale = breaker.circuit.try_acquire(breaker.now).unwrap();
    breaker.calls(Verdict::Failure, 10);
    breaker.advance(SECOND);
    let probe = breaker.circuit.try_acquire(breaker.now).unwrap();
    breaker
        .circuit
        .record(stale, Verdict::Failure, Duration::ZERO, breaker.now);
    assert_eq!(
        breaker.state(),
        State::HalfOpen,
        "a call from before the trip cannot reopen"
    );
    breaker.circuit.release(stale);
    breaker
        .circuit
        .record(probe, Verdict::Success, Duration::ZERO, breaker.now);
    assert_eq!(breaker.state(), State::HalfOpen);
}

#[test]
fn forced_states_override_and_reset_restores() {
    let breaker = Clocked::new(config());
    breaker.circuit.force(State::ForcedOpen);
    assert_eq!(breaker.call(Verdict::Success), Err(SECOND));
    breaker.circuit.force(State::Disabled);
    breaker.calls(Verdict::Failure, 100);
    assert_eq!(
        breaker.state(),
        State::Disabled,
        "a disabled breaker never trips"
    );
    breaker.circuit.force(State::Closed);
    breaker.calls(Verdict::Failure, 9);
    assert_eq!(
        breaker.state(),
        State::Closed,
        "reset starts from an empty window"
    );
}

#[test]
fn listeners_hear_every_change() {
    let heard: Arc<Mutex<Vec<(State, State)>>> = Arc::default();
    let mut config = config();
    let log = heard.clone();
    config.listeners.push(Arc::new(move |change: &StateChange| {
        log.lock().unwrap().push((change.from, change.to));
    }));
    let mut breaker = Clocked::new(config);
    breaker.calls(Verdict::Failure, 10);
    breaker.advance(SECOND);
    breaker.calls(Verdict::Success, 2);
    breaker.circuit.force(State::ForcedOpen);
    assert_eq!(
        *heard.lock().unwrap(),
        [
            (State::Closed, State::Open),
            (State::Open, State::HalfOpen),
            (State::HalfOpen, State::Closed),
            (State::Closed, State::ForcedOpen),
        ]
    );
}

#[test]
fn time_windows_forget_old_failures() {
    let mut breaker = Clocked::new(CircuitBreakerConfig {
        window: Window::Time(10 * SECOND),
        ..config()
    });
    breaker.calls(Verdict::Failure, 9);
    breaker.advance(11 * SECOND);
    breaker.calls(Verdict::Failure, 9);
    assert_eq!(
        breaker.state(),
        State::Closed,
        "the first nine left the window"
    );
    breaker.call(Verdict::Failure).unwrap();
    assert_eq!(breaker.state(), State::Open);
}

#[test]
fn bad_settings_are_named() {
    let cases = [
        (
            CircuitBreakerConfig {
                failure_rate_threshold: 1.5,
                ..config()
            },
            "failure_rate_threshold",
        ),
        (
            CircuitBreakerConfig {
                slow_call_rate_threshold: Some(0.0),
                ..config()
            },
            "slow_call_rate_threshold",
        ),
        (
            CircuitBreakerConfig {
                jitter: 1.0,
                ..config()
            },
            "jitter",
        ),
        (
            CircuitBreakerConfig {
                window: Window::Count(0),
                ..config()
            },
            "window",
        ),
        (
            CircuitBreakerConfig {
                half_open_calls: 0,
                ..config()
            },
            "half_open_calls",
        ),
        (
            CircuitBreakerConfig {
                max_open_duration: Duration::from_millis(1),
                ..config()
            },
            "max_open_duration",
        ),
        (
            CircuitBreakerConfig {
                backoff_multiplier: 0.5,
                ..config()
            },
            "backoff_multiplier",
        ),
        (
            CircuitBreakerConfig {
                minimum_calls: 0,
                ..config()
            },
            "minimum_calls",
        ),
    ];
    for (config, setting) in cases {
        assert_eq!(config.validate().unwrap_err().setting, setting);
    }
}

#[derive(Debug, Clone)]
enum Step {
    Acquire,
    Finish(usize, Verdict),
    Drop(usize),
    Advance(u64),
}

fn step() -> impl Strategy<Value = Step> {
    let verdict = prop_oneof![
        Just(Verdict::Success),
        Just(Verdict::Failure),
        Just(Verdict::Ignore)
    ];
    prop_oneof![
        4 => Just(Step::Acquire),
        4 => (any::<usize>(), verdict).prop_map(|(i, v)| Step::Finish(i, v)),
        1 => any::<usize>().prop_map(Step::Drop),
        2 => (0u64..3_000).prop_map(Step::Advance),
    ]
}

proptest! {
    /// Over any sequence of calls, outcomes, drops and clock steps: never more
    /// probes in flight than allowed; open rejects until its time; closed admits.
    #[test]
    fn invariants_hold(steps in prop::collection::vec(step(), 1..300)) {
        let mut breaker = Clocked::new(CircuitBreakerConfig {
            window: Window::Count(8),
            minimum_calls: 4,
            half_open_calls: 3,
            ..config()
        });
        let mut in_flight: Vec<Permit> = Vec::new();
        let mut opened_until: Option<Instant> = None;
        for step in steps {
            match step {
                Step::Acquire => {
                    let state = breaker.state();
                    let result = breaker.circuit.try_acquire(breaker.now);
                    if state == State::Closed {
                        prop_assert!(result.is_ok(), "closed admits everything");
                    }
                    if let Some(until) = opened_until.filter(|_| state == State::Open) {
                        prop_assert_eq!(result.is_ok(), breaker.now >= until, "open rejects until its time");
                    }
                    if let Ok(permit) = result {
                        in_flight.push(permit);
                    }
                }
                Step::Finish(i, verdict) if !in_flight.is_empty() => {
                    let permit = in_flight.remove(i % in_flight.len());
                    breaker.circuit.record(permit, verdict, Duration::ZERO, breaker.now);
                }
                Step::Drop(i) if !in_flight.is_empty() => {
                    let permit = in_flight.remove(i % in_flight.len());
                    breaker.circuit.release(permit);
                }
                Step::Advance(millis) => breaker.advance(Duration::from_millis(millis)),
                _ => {}
            }
            let word = breaker.circuit.load();
            if word.state() == State::HalfOpen {
                let probes = in_flight.iter().filter(|p| p.probe && p.generation == word.generation()).count();
                prop_assert!(probes <= 3, "{probes} probes in flight");
                prop_assert!(word.probes() as usize >= probes);
            }
            if word.state() == State::Open && opened_until.is_none() {
                let until = breaker.circuit.open_until.load(Relaxed);
                let at = breaker.circuit.since_origin(breaker.now);
                opened_until = Some(breaker.now + Duration::from_nanos(until.saturating_sub(at)));
            }
            if word.state() != State::Open {
                opened_until = None;
            }
        }
    }
}
