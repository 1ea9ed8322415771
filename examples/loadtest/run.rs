//! Drives the load: sessions, the closed and open loops, the progress
//! line, the stats reads, and the report at the end.

use std::{
    io::{IsTerminal, Write as _},
    sync::{
        Arc, Mutex, PoisonError,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use futures::{StreamExt, stream};
use http::Uri;
use serde_json::Value;
use tokio::{sync::Semaphore, time::Instant};

use crate::{
    cli::{Mix, Op, Options},
    client::{self, Call, Failure, Session},
    report::{LATE_AFTER_MS, Mode, OpCounts, Reason, Report, Sessions},
};

/// Sessions opened at once before the run, so a thousand users do not
/// open a thousand connections in the same instant.
const OPENING_CONCURRENCY: usize = 64;

/// Where to send the load.
#[derive(Debug, Clone)]
pub(crate) struct Target {
    /// The MCP endpoint.
    pub(crate) mcp: Uri,
    /// The JSON stats endpoint; `None` when the URL has no origin to
    /// derive one from.
    pub(crate) stats: Option<Uri>,
}

impl Target {
    /// `mcp`, with `stats` or else `/stats` on the same origin.
    pub(crate) fn new(mcp: Uri, stats: Option<Uri>) -> Self {
        let stats = stats.or_else(|| {
            let authority = mcp.authority()?;
            let scheme = mcp.scheme_str()?;
            format!("{scheme}://{authority}/stats").parse().ok()
        });
        Self { mcp, stats }
    }
}

/// A run that could not start.
#[derive(Debug, thiserror::Error)]
pub(crate) enum RunError {
    /// Not one user could open a session.
    #[error("no session could be opened at {url}: {reason}: {detail}{hint}")]
    NoSession {
        /// The endpoint.
        url: String,
        /// The first failure's reason.
        reason: String,
        /// Its message.
        detail: String,
        /// What to check.
        hint: &'static str,
    },
}

/// The requests of the mix, built once.
#[derive(Debug)]
struct Plan {
    calls: [Call; 3],
    mix: Mix,
}

/// Results shared by every user: counts for the report (measured window
/// only) and running totals for the progress line (warm-up included).
#[derive(Debug, Default)]
struct Tally {
    ops: Mutex<[OpCounts; 3]>,
    answered: AtomicU64,
    failed: AtomicU64,
}

impl Tally {
    fn record(&self, op: Op, latency: Duration, outcome: Result<(), Failure>, measured: bool) {
        self.answered.fetch_add(1, Ordering::Relaxed);
        if outcome.is_err() {
            self.failed.fetch_add(1, Ordering::Relaxed);
        }
        if !measured {
            return;
        }
        let micros = u64::try_from(latency.as_micros()).unwrap_or(u64::MAX);
        let mut ops = self.ops.lock().unwrap_or_else(PoisonError::into_inner);
        let counts = &mut ops[op.index()];
        counts.latency.record(micros);
        match outcome {
            Ok(()) => counts.successes += 1,
            Err(failure) => {
                counts
                    .failures
                    .entry(failure.reason)
                    .or_insert_with(|| Reason {
                        count: 0,
                        sample: failure.detail,
                    })
                    .count += 1;
            }
        }
    }

    fn take(&self) -> [OpCounts; 3] {
        std::mem::take(&mut *self.ops.lock().unwrap_or_else(PoisonError::into_inner))
    }
}

/// A small fast generator for the mix (SplitMix64); seeded per user so
/// bare and stacked runs see the same sequence of requests.
#[derive(Debug)]
struct SplitMix64(u64);

impl SplitMix64 {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}

/// The timeline of a run.
#[derive(Debug, Clone, Copy)]
struct Clock {
    started: Instant,
    measure_from: Instant,
    end: Instant,
}

/// Runs the load of `options` against `target`; `label` names the run in
/// the report and the progress line.
pub(crate) async fn run(
    options: &Options,
    target: &Target,
    label: &str,
) -> Result<Report, RunError> {
    let http = client::http_client();
    let sessions: Vec<Arc<Session>> = (0..options.users)
        .map(|user| {
            let token =
                (!options.auth_prefix.is_empty()).then(|| format!("{}{user}", options.auth_prefix));
            Arc::new(Session::new(
                http.clone(),
                target.mcp.clone(),
                token.as_deref(),
                options.timeout,
            ))
        })
        .collect();
    let opened: Vec<Result<(), Failure>> =
        stream::iter(sessions.iter().map(|session| session.open()))
            .buffer_unordered(OPENING_CONCURRENCY)
            .collect()
            .await;
    let failed_at_start = sessions.iter().filter(|s| s.times_opened() == 0).count() as u64;
    if failed_at_start == sessions.len() as u64
        && let Some(first) = opened.into_iter().find_map(Result::err)
    {
        let hint = if first.reason == "connect" {
            " (is the server running at that address?)"
        } else {
            ""
        };
        return Err(RunError::NoSession {
            url: target.mcp.to_string(),
            reason: first.reason,
            detail: first.detail,
            hint,
        });
    }
    let opened_at_start = sessions.len() as u64 - failed_at_start;

    let plan = Arc::new(Plan {
        calls: [
            Call::list_tools(),
            Call::read_resource(&options.read_uri),
            Call::call_tool(&options.tool, &options.tool_args),
        ],
        mix: options.mix,
    });
    let tally = Arc::new(Tally::default());
    let started = Instant::now();
    let measure_from = started + options.warmup;
    let clock = Clock {
        started,
        measure_from,
        end: measure_from + options.duration,
    };
    let progress =
        (!options.quiet).then(|| tokio::spawn(progress(tally.clone(), clock, label.to_owned())));
    let stats_before = target.stats.clone().map(|uri| {
        let http = http.clone();
        tokio::spawn(async move {
            tokio::time::sleep_until(measure_from).await;
            client::get_json(&http, &uri).await
        })
    });

    let mode = match options.rate {
        None => {
            closed_loop(&sessions, &plan, &tally, clock, options.think).await;
            Mode::Closed {
                think_ms: u64::try_from(options.think.as_millis()).unwrap_or(u64::MAX),
            }
        }
        Some(rate) => {
            open_loop(
                &sessions,
                &plan,
                &tally,
                clock,
                rate,
                options.max_outstanding,
            )
            .await
        }
    };
    let finished = Instant::now();
    if let Some(progress) = progress {
        progress.abort();
        let _ = progress.await;
        if std::io::stderr().is_terminal() {
            eprintln!();
        }
    }

    let before = match stats_before {
        Some(task) => task.await.ok().flatten(),
        None => None,
    };
    let after = match &target.stats {
        Some(uri) => client::get_json(&http, uri).await,
        None => None,
    };
    let cache_hit_rate = hit_rate(
        before.as_ref().and_then(cache_view),
        after.as_ref().and_then(cache_view),
    );

    stream::iter(sessions.iter().map(|session| session.close()))
        .buffer_unordered(OPENING_CONCURRENCY)
        .collect::<Vec<()>>()
        .await;
    let times_opened: u64 = sessions.iter().map(|session| session.times_opened()).sum();

    Ok(Report {
        label: label.to_owned(),
        url: target.mcp.to_string(),
        users: options.users,
        mix: options.mix.to_string(),
        read_uri: options.read_uri.clone(),
        tool: options.tool.clone(),
        tool_args: Value::Object(options.tool_args.clone()),
        mode,
        elapsed_seconds: finished
            .saturating_duration_since(clock.measure_from)
            .as_secs_f64(),
        sessions: Sessions {
            opened: opened_at_start,
            reopened: times_opened.saturating_sub(opened_at_start),
            failed: failed_at_start,
        },
        ops: tally.take(),
        cache_hit_rate,
    })
}

/// Each user sends, waits, thinks, and repeats until the end; a request
/// in flight at the end is waited for and counted.
async fn closed_loop(
    sessions: &[Arc<Session>],
    plan: &Arc<Plan>,
    tally: &Arc<Tally>,
    clock: Clock,
    think: Duration,
) {
    let users: Vec<_> = sessions
        .iter()
        .enumerate()
        .map(|(user, session)| {
            let (session, plan, tally) = (session.clone(), plan.clone(), tally.clone());
            tokio::spawn(async move {
                let mut rng = SplitMix64(user as u64);
                while Instant::now() < clock.end {
                    let op = plan.mix.pick(rng.next());
                    let began = Instant::now();
                    let answer = session.send(&plan.calls[op.index()]).await;
                    let latency = answer.at.saturating_duration_since(began);
                    tally.record(op, latency, answer.outcome, began >= clock.measure_from);
                    if !think.is_zero() {
                        tokio::time::sleep(think).await;
                    }
                }
            })
        })
        .collect();
    for user in users {
        let _ = user.await;
    }
}

/// Sends on a fixed timetable, whatever the answers do, round-robin over
/// the users' sessions. Latency runs from each request's slot, not from
/// when it was sent, so a stalled server is not hidden by a stalled
/// sender (coordinated omission). A slot finding `max_outstanding`
/// requests in flight is dropped and counted.
async fn open_loop(
    sessions: &[Arc<Session>],
    plan: &Arc<Plan>,
    tally: &Arc<Tally>,
    clock: Clock,
    rate: f64,
    max_outstanding: usize,
) -> Mode {
    let permits = Arc::new(Semaphore::new(max_outstanding));
    let interval = 1.0 / rate;
    let late_after = Duration::from_millis(LATE_AFTER_MS);
    let mut rng = SplitMix64(0);
    let (mut scheduled, mut dropped, mut late) = (0u64, 0u64, 0u64);
    for slot in 0u64.. {
        let at = clock.started + Duration::from_secs_f64(slot as f64 * interval);
        if at >= clock.end {
            break;
        }
        // Timers tick in milliseconds: above 1000 req/s several slots are
        // due per wake-up and go out together, each timed from its slot.
        if at > Instant::now() {
            tokio::time::sleep_until(at).await;
        }
        let measured = at >= clock.measure_from;
        let op = plan.mix.pick(rng.next());
        if measured {
            scheduled += 1;
            if Instant::now().saturating_duration_since(at) > late_after {
                late += 1;
            }
        }
        let Ok(permit) = permits.clone().try_acquire_owned() else {
            if measured {
                dropped += 1;
            }
            continue;
        };
        let session = sessions[(slot % sessions.len() as u64) as usize].clone();
        let (plan, tally) = (plan.clone(), tally.clone());
        tokio::spawn(async move {
            let answer = session.send(&plan.calls[op.index()]).await;
            tally.record(
                op,
                answer.at.saturating_duration_since(at),
                answer.outcome,
                measured,
            );
            drop(permit);
        });
    }
    // Every permit back means every request sent has been answered.
    let all = u32::try_from(max_outstanding).unwrap_or(u32::MAX);
    let _ = permits.acquire_many(all).await;
    Mode::Open {
        rate,
        max_outstanding,
        scheduled,
        dropped,
        late,
    }
}

/// Prints a progress line on stderr once a second until aborted.
async fn progress(tally: Arc<Tally>, clock: Clock, label: String) {
    let terminal = std::io::stderr().is_terminal();
    let total = clock
        .end
        .saturating_duration_since(clock.started)
        .as_secs_f64();
    let mut ticks = tokio::time::interval_at(
        clock.started + Duration::from_secs(1),
        Duration::from_secs(1),
    );
    let mut last = 0u64;
    loop {
        ticks.tick().await;
        let now = Instant::now();
        let answered = tally.answered.load(Ordering::Relaxed);
        let failed = tally.failed.load(Ordering::Relaxed);
        let elapsed = now.saturating_duration_since(clock.started).as_secs_f64();
        let done = (elapsed / total).clamp(0.0, 1.0);
        let width = 24;
        let filled = (done * width as f64).round() as usize;
        let phase = if now < clock.measure_from {
            " warmup"
        } else {
            ""
        };
        let line = format!(
            "{label} [{}{}] {elapsed:>4.0}s/{total:.0}s{phase}  requests {answered}  rps {}  errors {failed}",
            "#".repeat(filled),
            "-".repeat(width - filled),
            answered - last,
        );
        last = answered;
        let mut stderr = std::io::stderr().lock();
        let _ = if terminal {
            write!(stderr, "\r\x1b[2K{line}")
        } else {
            writeln!(stderr, "{line}")
        };
        let _ = stderr.flush();
    }
}

/// A cache's counts as `/stats` shows them.
#[derive(Debug, Clone, Copy, PartialEq)]
struct CacheView {
    served: Option<u64>,
    misses: Option<u64>,
    hit_rate: Option<f64>,
}

/// Reads `cache` out of a stats document, tolerating any shape.
fn cache_view(stats: &Value) -> Option<CacheView> {
    let cache = stats.get("cache")?.as_object()?;
    let count = |key: &str| cache.get(key).and_then(Value::as_u64);
    Some(CacheView {
        served: count("hits").map(|hits| hits.saturating_add(count("stale_hits").unwrap_or(0))),
        misses: count("misses"),
        hit_rate: cache
            .get("hit_rate")
            .and_then(Value::as_f64)
            .filter(|rate| (0.0..=1.0).contains(rate)),
    })
}

/// The hit rate over the run: from the count differences when both reads
/// have counts, else the server's own figure after the run.
fn hit_rate(before: Option<CacheView>, after: Option<CacheView>) -> Option<f64> {
    let after = after?;
    let counts = |view: CacheView| view.served.zip(view.misses);
    if let (Some((served_before, missed_before)), Some((served_after, missed_after))) =
        (before.and_then(counts), counts(after))
    {
        let served = served_after.saturating_sub(served_before);
        let lookups = served + missed_after.saturating_sub(missed_before);
        return (lookups > 0).then(|| served as f64 / lookups as f64);
    }
    after.hit_rate
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn hit_rate_comes_from_count_differences() {
        let before = cache_view(
            &json!({ "cache": { "hits": 10, "stale_hits": 0, "misses": 10, "hit_rate": 0.5 } }),
        );
        let after = cache_view(
            &json!({ "cache": { "hits": 100, "stale_hits": 5, "misses": 15, "hit_rate": 0.875 } }),
        );
        // 95 served and 5 missed during the run.
        assert_eq!(hit_rate(before, after), Some(0.95));
        // Without a reading before, the server's own figure.
        assert_eq!(hit_rate(None, after), Some(0.875));
        // Nothing looked up during the run.
        assert_eq!(hit_rate(after, after), None);
    }

    #[test]
    fn stats_without_a_cache_read_as_none() {
        assert_eq!(cache_view(&json!({ "requests": 3 })), None);
        assert_eq!(cache_view(&json!({ "cache": null })), None);
        assert_eq!(
            hit_rate(None, cache_view(&json!({ "cache": "weird" }))),
            None
        );
        let only_rate = cache_view(&json!({ "cache": { "hit_rate": 0.25 } }));
        assert_eq!(hit_rate(None, only_rate), Some(0.25));
    }

    #[test]
    fn stats_url_defaults_to_the_origin() {
        let target = Target::new(Uri::from_static("http://127.0.0.1:9/mcp"), None);
        assert_eq!(
            target.stats,
            Some(Uri::from_static("http://127.0.0.1:9/stats"))
        );
        let explicit = Uri::from_static("http://127.0.0.1:7/s");
        let target = Target::new(
            Uri::from_static("http://127.0.0.1:9/mcp"),
            Some(explicit.clone()),
        );
        assert_eq!(target.stats, Some(explicit));
    }

    #[test]
    fn the_generator_is_deterministic_and_spreads() {
        let (mut a, mut b) = (SplitMix64(3), SplitMix64(3));
        let picks: Vec<u64> = (0..1000).map(|_| a.next()).collect();
        assert!(picks.iter().all(|&x| x == b.next()));
        let mix = Mix::DEFAULT;
        let calls = picks
            .iter()
            .filter(|&&roll| mix.pick(roll) == Op::Call)
            .count();
        assert!(
            (600..800).contains(&calls),
            "{calls} calls of 1000 at weight 7/10"
        );
    }
}
