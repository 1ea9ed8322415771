//! What a run measured, and its table and JSON forms.

use std::{collections::BTreeMap, fmt::Write as _};

use serde_json::{Value, json};

use crate::{cli::Op, histogram::Histogram};

/// Failures of one reason.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Reason {
    /// How many.
    pub(crate) count: u64,
    /// The first one's message.
    pub(crate) sample: String,
}

/// Counts and latencies of one request kind.
#[derive(Debug, Clone, Default)]
pub(crate) struct OpCounts {
    /// Latency of every answered request, failures included, in µs.
    pub(crate) latency: Histogram,
    /// Requests that succeeded.
    pub(crate) successes: u64,
    /// Requests that failed, by reason.
    pub(crate) failures: BTreeMap<String, Reason>,
}

impl OpCounts {
    /// Adds `other`'s counts to these.
    pub(crate) fn merge(&mut self, other: &OpCounts) {
        self.latency.merge(&other.latency);
        self.successes += other.successes;
        for (reason, theirs) in &other.failures {
            let mine = self.failures.entry(reason.clone()).or_default();
            if mine.count == 0 {
                mine.sample.clone_from(&theirs.sample);
            }
            mine.count += theirs.count;
        }
    }

    /// Requests answered (or failed).
    pub(crate) fn requests(&self) -> u64 {
        self.successes + self.failed()
    }

    /// Requests that failed.
    pub(crate) fn failed(&self) -> u64 {
        self.failures.values().map(|reason| reason.count).sum()
    }
}

/// How the load was generated.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Mode {
    /// Each user sends, waits for the answer, thinks, repeats.
    Closed {
        /// Pause after each answer, in ms.
        think_ms: u64,
    },
    /// Requests on a fixed timetable.
    Open {
        /// Requests per second asked for.
        rate: f64,
        /// Bound on requests in flight.
        max_outstanding: usize,
        /// Requests the timetable held in the measured window.
        scheduled: u64,
        /// Of those, not sent because `max_outstanding` were in flight.
        dropped: u64,
        /// Of those, sent more than [`LATE_AFTER_MS`] after their slot.
        late: u64,
    },
}

/// An open-loop request sent this much after its slot counts as late: the
/// load generator itself fell behind.
pub(crate) const LATE_AFTER_MS: u64 = 10;

/// Sessions opened for the run.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Sessions {
    /// Users whose session opened before the run.
    pub(crate) opened: u64,
    /// Sessions opened again after the server forgot one.
    pub(crate) reopened: u64,
    /// Users whose session did not open before the run.
    pub(crate) failed: u64,
}

/// One run's results.
#[derive(Debug, Clone)]
pub(crate) struct Report {
    /// `bare`, `stack`, or the URL for a single run.
    pub(crate) label: String,
    /// The MCP endpoint.
    pub(crate) url: String,
    /// Virtual users.
    pub(crate) users: usize,
    /// The `list:read:call` weights.
    pub(crate) mix: String,
    /// The URI of reads.
    pub(crate) read_uri: String,
    /// The tool of calls.
    pub(crate) tool: String,
    /// Its arguments.
    pub(crate) tool_args: Value,
    /// Closed or open loop.
    pub(crate) mode: Mode,
    /// Seconds from the start of measurement until the last answer.
    pub(crate) elapsed_seconds: f64,
    /// Session setup.
    pub(crate) sessions: Sessions,
    /// Counts per kind, in [`Op::ALL`] order.
    pub(crate) ops: [OpCounts; 3],
    /// The server cache's hit rate over the run, from its stats endpoint.
    pub(crate) cache_hit_rate: Option<f64>,
}

/// Latency figures in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Latency {
    p50: f64,
    p95: f64,
    p99: f64,
    max: f64,
    mean: f64,
}

fn latency(histogram: &Histogram) -> Option<Latency> {
    let ms = |micros: u64| micros as f64 / 1000.0;
    Some(Latency {
        p50: ms(histogram.quantile(0.50)?),
        p95: ms(histogram.quantile(0.95)?),
        p99: ms(histogram.quantile(0.99)?),
        max: ms(histogram.max()?),
        mean: histogram.mean()? / 1000.0,
    })
}

impl Report {
    /// Adds `other`, a later run of the same load, to this one: counts and
    /// latencies merge, measured time adds up, and the cache hit rate is
    /// weighed by each run's requests.
    pub(crate) fn absorb(&mut self, other: &Report) {
        let (mine, theirs) = (
            self.total().requests() as f64,
            other.total().requests() as f64,
        );
        self.cache_hit_rate = match (self.cache_hit_rate, other.cache_hit_rate) {
            (Some(a), Some(b)) if mine + theirs > 0.0 => {
                Some((a * mine + b * theirs) / (mine + theirs))
            }
            (a, b) => a.or(b),
        };
        for (op, more) in self.ops.iter_mut().zip(&other.ops) {
            op.merge(more);
        }
        self.elapsed_seconds += other.elapsed_seconds;
        self.sessions.opened += other.sessions.opened;
        self.sessions.reopened += other.sessions.reopened;
        self.sessions.failed += other.sessions.failed;
    }

    /// All kinds together.
    pub(crate) fn total(&self) -> OpCounts {
        let mut total = OpCounts::default();
        for op in &self.ops {
            total.merge(op);
        }
        total
    }

    /// Answered requests per second over the measured window.
    pub(crate) fn rps(&self) -> f64 {
        rate(self.total().requests(), self.elapsed_seconds)
    }

    /// The request a kind sends, for the table's header.
    fn request_of(&self, op: Op) -> String {
        match op {
            Op::List => "tools/list".to_owned(),
            Op::Read => format!("resources/read {}", self.read_uri),
            Op::Call => format!("tools/call {} {}", self.tool, self.tool_args),
        }
    }

    fn describe(&self) -> String {
        let mode = match &self.mode {
            Mode::Closed { think_ms } => format!("closed loop, think {think_ms} ms"),
            Mode::Open {
                rate,
                max_outstanding,
                ..
            } => {
                format!("open loop at {rate} req/s, at most {max_outstanding} outstanding")
            }
        };
        format!(
            "{} users, {mode}, mix list:read:call {}, {:.1} s measured",
            self.users, self.mix, self.elapsed_seconds
        )
    }

    /// The human-readable table.
    pub(crate) fn table(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "mcp loadtest: {}", self.url);
        let _ = writeln!(out, "  {}", self.describe());
        for op in Op::ALL {
            if self.ops[op.index()].requests() > 0 {
                let _ = writeln!(out, "  {:<5} {}", op.name(), self.request_of(op));
            }
        }
        let _ = writeln!(
            out,
            "  sessions: {} opened, {} reopened, {} failed",
            self.sessions.opened, self.sessions.reopened, self.sessions.failed
        );
        if let Mode::Open {
            scheduled,
            dropped,
            late,
            ..
        } = &self.mode
        {
            let _ = writeln!(
                out,
                "  timetable: {scheduled} scheduled, {dropped} dropped (outstanding limit), \
                 {late} late (sent > {LATE_AFTER_MS} ms after their slot)"
            );
        }
        let _ = writeln!(out);
        let _ = writeln!(
            out,
            "{:<6} {:>10} {:>10} {:>9} {:>10} {:>9} {:>9} {:>9} {:>9}",
            "op",
            "requests",
            "successes",
            "failures",
            "rps",
            "p50 ms",
            "p95 ms",
            "p99 ms",
            "max ms"
        );
        let total = self.total();
        let mut rows: Vec<(&str, &OpCounts)> = Op::ALL
            .iter()
            .map(|op| (op.name(), &self.ops[op.index()]))
            .filter(|(_, counts)| counts.requests() > 0)
            .collect();
        rows.push(("total", &total));
        for (name, counts) in rows {
            let figures = latency(&counts.latency);
            let cell =
                |pick: fn(&Latency) -> f64| figures.as_ref().map_or("-".into(), |l| ms(pick(l)));
            let _ = writeln!(
                out,
                "{:<6} {:>10} {:>10} {:>9} {:>10.1} {:>9} {:>9} {:>9} {:>9}",
                name,
                counts.requests(),
                counts.successes,
                counts.failed(),
                rate(counts.requests(), self.elapsed_seconds),
                cell(|l| l.p50),
                cell(|l| l.p95),
                cell(|l| l.p99),
                cell(|l| l.max),
            );
        }
        let _ = writeln!(out);
        if total.failures.is_empty() {
            let _ = writeln!(out, "failures: none");
        } else {
            write_failures(&mut out, "failures by reason:", &total.failures);
        }
        let _ = writeln!(out, "cache hit rate: {}", percent(self.cache_hit_rate));
        out
    }

    /// The JSON form, for scripts.
    pub(crate) fn to_json(&self) -> Value {
        let ops: serde_json::Map<String, Value> = Op::ALL
            .iter()
            .map(|op| {
                (
                    op.name().to_owned(),
                    counts_json(&self.ops[op.index()], self.elapsed_seconds),
                )
            })
            .collect();
        let mode = match &self.mode {
            Mode::Closed { think_ms } => json!({ "kind": "closed", "think_ms": think_ms }),
            Mode::Open {
                rate,
                max_outstanding,
                scheduled,
                dropped,
                late,
            } => json!({
                "kind": "open",
                "rate": rate,
                "max_outstanding": max_outstanding,
                "scheduled": scheduled,
                "dropped": dropped,
                "late": late,
                "late_after_ms": LATE_AFTER_MS,
            }),
        };
        let mut value = counts_json(&self.total(), self.elapsed_seconds);
        if let Value::Object(map) = &mut value {
            let extra = json!({
                "label": self.label,
                "url": self.url,
                "users": self.users,
                "mix": self.mix,
                "read_uri": self.read_uri,
                "tool": self.tool,
                "tool_args": self.tool_args,
                "mode": mode,
                "elapsed_seconds": self.elapsed_seconds,
                "sessions": {
                    "opened": self.sessions.opened,
                    "reopened": self.sessions.reopened,
                    "failed": self.sessions.failed,
                },
                "ops": ops,
                "cache_hit_rate": self.cache_hit_rate,
            });
            if let Value::Object(extra) = extra {
                map.extend(extra);
            }
        }
        value
    }
}

fn counts_json(counts: &OpCounts, seconds: f64) -> Value {
    let failures: serde_json::Map<String, Value> = counts
        .failures
        .iter()
        .map(|(reason, counted)| {
            (
                reason.clone(),
                json!({ "count": counted.count, "sample": counted.sample }),
            )
        })
        .collect();
    let latency = latency(&counts.latency)
        .map(|l| json!({ "p50": l.p50, "p95": l.p95, "p99": l.p99, "max": l.max, "mean": l.mean }));
    json!({
        "requests": counts.requests(),
        "successes": counts.successes,
        "failures": counts.failed(),
        "failures_by_reason": failures,
        "rps": rate(counts.requests(), seconds),
        "latency_ms": latency,
    })
}

/// What two compared runs are: their labels and the title of the table.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Sides {
    pub(crate) first: &'static str,
    pub(crate) second: &'static str,
    pub(crate) title: &'static str,
}

impl Sides {
    /// `--compare`: the demo bare, then with the stack.
    pub(crate) const STACK: Sides = Sides {
        first: "bare",
        second: "stack",
        title: "mcp loadtest --compare: the demo bare and with the stack, loaded in turns",
    };
    /// `--compare --gateway`: the bare demo directly, then through the gateway.
    pub(crate) const GATEWAY: Sides = Sides {
        first: "direct",
        second: "gateway",
        title: "mcp loadtest --compare --gateway: the bare demo directly and through the gateway, in turns",
    };
}

/// A comparison: each side's runs merged, what each round gave, and the
/// servers' CPU time.
#[derive(Debug, Clone)]
pub(crate) struct Comparison {
    /// The first side's runs, merged.
    pub(crate) first: Report,
    /// The second side's runs, merged.
    pub(crate) second: Report,
    /// Second/first requests per second, round by round.
    pub(crate) round_ratios: Vec<f64>,
    /// What each side's requests cost in CPU time, process by process.
    pub(crate) cpu: [CpuCost; 2],
}

/// The CPU time one side spent per answered request, in microseconds, by
/// process (`None` where the OS does not tell). Client, servers and the
/// machine's other work share its cores: on a machine the load saturates,
/// a side's requests per second go as the inverse of [`all`](Self::all).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub(crate) struct CpuCost {
    /// The server under load: the demo, or the gateway.
    pub(crate) server: Option<f64>,
    /// The upstream behind the gateway, on the side that has one.
    pub(crate) upstream: Option<f64>,
    /// This load tester.
    pub(crate) loader: Option<f64>,
}

impl CpuCost {
    /// Every process's share together: what one request costs the machine.
    pub(crate) fn all(&self) -> Option<f64> {
        Some(self.server? + self.loader? + self.upstream.unwrap_or(0.0))
    }
}

impl Comparison {
    /// Second/first CPU time per request of the server under load, when
    /// both are known.
    pub(crate) fn cpu_ratio(&self) -> Option<f64> {
        let [first, second] = self.cpu;
        first
            .server
            .zip(second.server)
            .and_then(|(first, second)| ratio(second, first))
    }

    /// Second/first CPU time per request of every process together.
    pub(crate) fn all_cpu_ratio(&self) -> Option<f64> {
        let [first, second] = self.cpu;
        first
            .all()
            .zip(second.all())
            .and_then(|(first, second)| ratio(second, first))
    }

    /// The median of the rounds' ratios.
    pub(crate) fn median_ratio(&self) -> Option<f64> {
        let mut ratios = self.round_ratios.clone();
        ratios.sort_by(f64::total_cmp);
        let n = ratios.len();
        match n {
            0 => None,
            _ if n % 2 == 1 => Some(ratios[n / 2]),
            _ => Some((ratios[n / 2 - 1] + ratios[n / 2]) / 2.0),
        }
    }
}

/// Two runs side by side (bare and stacked, or direct and through the
/// gateway), with second/first ratios.
pub(crate) fn compare_table(sides: Sides, comparison: &Comparison) -> String {
    let (bare, stack) = (&comparison.first, &comparison.second);
    let mut out = String::new();
    let _ = writeln!(out, "{}", sides.title);
    let _ = writeln!(out, "  {}", stack.describe());
    for op in Op::ALL {
        if stack.ops[op.index()].requests() + bare.ops[op.index()].requests() > 0 {
            let _ = writeln!(out, "  {:<5} {}", op.name(), stack.request_of(op));
        }
    }
    let _ = writeln!(out);
    let _ = writeln!(
        out,
        "{:<20} {:>12} {:>12} {:>11}",
        "",
        sides.first,
        sides.second,
        format!("{}/{}", sides.second, sides.first)
    );
    let (bare_total, stack_total) = (bare.total(), stack.total());
    let row = |out: &mut String, name: &str, bare: String, stack: String, ratio: Option<f64>| {
        let ratio = ratio.map_or(String::new(), |r| format!("{r:.2}x"));
        let _ = writeln!(out, "{name:<20} {bare:>12} {stack:>12} {ratio:>11}");
    };
    row(
        &mut out,
        "requests",
        bare_total.requests().to_string(),
        stack_total.requests().to_string(),
        None,
    );
    row(
        &mut out,
        "successes",
        bare_total.successes.to_string(),
        stack_total.successes.to_string(),
        None,
    );
    row(
        &mut out,
        "failures",
        bare_total.failed().to_string(),
        stack_total.failed().to_string(),
        None,
    );
    let (bare_rps, stack_rps) = (bare.rps(), stack.rps());
    row(
        &mut out,
        "rps",
        format!("{bare_rps:.1}"),
        format!("{stack_rps:.1}"),
        ratio(stack_rps, bare_rps),
    );
    let (bare_latency, stack_latency) =
        (latency(&bare_total.latency), latency(&stack_total.latency));
    // The maximum is one sample, too noisy for a ratio.
    for (name, with_ratio) in [
        ("p50 ms", true),
        ("p95 ms", true),
        ("p99 ms", true),
        ("max ms", false),
    ] {
        let pick = |figures: &Latency| match name {
            "p50 ms" => figures.p50,
            "p95 ms" => figures.p95,
            "p99 ms" => figures.p99,
            _ => figures.max,
        };
        let bare_ms = bare_latency.as_ref().map(pick);
        let stack_ms = stack_latency.as_ref().map(pick);
        let ratio = match (with_ratio, bare_ms, stack_ms) {
            (true, Some(bare), Some(stack)) => ratio(stack, bare),
            _ => None,
        };
        row(
            &mut out,
            name,
            bare_ms.map_or("-".into(), ms),
            stack_ms.map_or("-".into(), ms),
            ratio,
        );
    }
    row(
        &mut out,
        "cache hit rate",
        percent(bare.cache_hit_rate),
        percent(stack.cache_hit_rate),
        None,
    );
    let [bare_cpu, stack_cpu] = comparison.cpu;
    let micros = |value: Option<f64>| value.map_or("-".into(), |micros| format!("{micros:.1}"));
    row(
        &mut out,
        "server cpu µs/req",
        micros(bare_cpu.server),
        micros(stack_cpu.server),
        comparison.cpu_ratio(),
    );
    if bare_cpu.upstream.is_some() || stack_cpu.upstream.is_some() {
        row(
            &mut out,
            "upstream cpu µs/req",
            micros(bare_cpu.upstream),
            micros(stack_cpu.upstream),
            None,
        );
    }
    row(
        &mut out,
        "loader cpu µs/req",
        micros(bare_cpu.loader),
        micros(stack_cpu.loader),
        None,
    );
    row(
        &mut out,
        "all cpu µs/req",
        micros(bare_cpu.all()),
        micros(stack_cpu.all()),
        comparison.all_cpu_ratio(),
    );
    if comparison.round_ratios.len() > 1 {
        let rounds: Vec<String> = comparison
            .round_ratios
            .iter()
            .map(|r| format!("{r:.2}x"))
            .collect();
        let _ = writeln!(
            out,
            "\nrps {}/{} by round: {}; median {}",
            sides.second,
            sides.first,
            rounds.join(" "),
            comparison
                .median_ratio()
                .map_or("-".into(), |r| format!("{r:.2}x"))
        );
    }
    for (label, total) in [(sides.first, &bare_total), (sides.second, &stack_total)] {
        if !total.failures.is_empty() {
            let title = format!("\nfailures of {label} by reason:");
            write_failures(&mut out, &title, &total.failures);
        }
    }
    out
}

/// Both runs and the ratios as one JSON object.
pub(crate) fn compare_json(sides: Sides, comparison: &Comparison) -> Value {
    let (bare, stack) = (&comparison.first, &comparison.second);
    let (bare_total, stack_total) = (bare.total(), stack.total());
    let quantile =
        |counts: &OpCounts, q: f64| counts.latency.quantile(q).map(|micros| micros as f64);
    json!({
        sides.first: bare.to_json(),
        sides.second: stack.to_json(),
        "ratio": {
            "rps": ratio(stack.rps(), bare.rps()),
            "p50": quantile(&stack_total, 0.5).zip(quantile(&bare_total, 0.5)).and_then(|(s, b)| ratio(s, b)),
            "p95": quantile(&stack_total, 0.95).zip(quantile(&bare_total, 0.95)).and_then(|(s, b)| ratio(s, b)),
            "p99": quantile(&stack_total, 0.99).zip(quantile(&bare_total, 0.99)).and_then(|(s, b)| ratio(s, b)),
            "rps_by_round": comparison.round_ratios,
            "rps_median_of_rounds": comparison.median_ratio(),
            "server_cpu": comparison.cpu_ratio(),
            "all_cpu": comparison.all_cpu_ratio(),
        },
        "server_cpu_micros_per_request": {
            sides.first: comparison.cpu[0].server,
            sides.second: comparison.cpu[1].server,
        },
        "cpu_micros_per_request": {
            sides.first: cpu_json(&comparison.cpu[0]),
            sides.second: cpu_json(&comparison.cpu[1]),
        },
    })
}

fn cpu_json(cost: &CpuCost) -> Value {
    json!({
        "server": cost.server,
        "upstream": cost.upstream,
        "loader": cost.loader,
        "all": cost.all(),
    })
}

/// A title, then one line per reason with its count and first message.
fn write_failures(out: &mut String, title: &str, failures: &BTreeMap<String, Reason>) {
    let _ = writeln!(out, "{title}");
    for (reason, counted) in failures {
        let _ = writeln!(
            out,
            "  {reason:<24} {:>10}  e.g. {}",
            counted.count, counted.sample
        );
    }
}

fn rate(count: u64, seconds: f64) -> f64 {
    if seconds > 0.0 {
        count as f64 / seconds
    } else {
        0.0
    }
}

fn ratio(numerator: f64, denominator: f64) -> Option<f64> {
    (denominator > 0.0).then(|| numerator / denominator)
}

fn ms(value: f64) -> String {
    format!("{value:.3}")
}

fn percent(rate: Option<f64>) -> String {
    rate.map_or("n/a".into(), |rate| format!("{:.1}%", rate * 100.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(label: &str, latencies: &[u64], failures: u64) -> Report {
        let mut call = OpCounts::default();
        for &micros in latencies {
            call.latency.record(micros);
            call.successes += 1;
        }
        if failures > 0 {
            call.failures.insert(
                "rate_limited".into(),
                Reason {
                    count: failures,
                    sample: "slow down".into(),
                },
            );
        }
        Report {
            label: label.into(),
            url: "http://127.0.0.1:1/mcp".into(),
            users: 2,
            mix: "0:0:1".into(),
            read_uri: "demo://static/hello".into(),
            tool: "echo".into(),
            tool_args: json!({ "text": "hello" }),
            mode: Mode::Closed { think_ms: 0 },
            elapsed_seconds: 2.0,
            sessions: Sessions {
                opened: 2,
                ..Sessions::default()
            },
            ops: [OpCounts::default(), OpCounts::default(), call],
            cache_hit_rate: None,
        }
    }

    #[test]
    fn json_carries_counts_rates_and_percentiles() {
        // Below 256 µs the histogram is exact.
        let value = report("one", &[100, 200, 150, 250], 2).to_json();
        assert_eq!(value["requests"], 6);
        assert_eq!(value["successes"], 4);
        assert_eq!(value["failures"], 2);
        assert_eq!(value["rps"], 3.0);
        assert_eq!(value["failures_by_reason"]["rate_limited"]["count"], 2);
        assert_eq!(value["latency_ms"]["p50"], 0.15);
        assert_eq!(value["latency_ms"]["max"], 0.25);
        assert_eq!(value["cache_hit_rate"], Value::Null);
        assert_eq!(value["ops"]["list"]["requests"], 0);
    }

    fn one_round(first: Report, second: Report) -> Comparison {
        Comparison {
            round_ratios: vec![second.rps() / first.rps()],
            first,
            second,
            cpu: [CpuCost::default(); 2],
        }
    }

    #[test]
    fn compare_puts_ratios_of_stack_over_bare() {
        let bare = report("bare", &[1_000; 100], 0);
        let mut stack = report("stack", &[2_000; 50], 0);
        stack.cache_hit_rate = Some(0.5);
        let mut comparison = one_round(bare, stack);
        comparison.cpu = [
            CpuCost {
                server: Some(80.0),
                upstream: None,
                loader: Some(40.0),
            },
            CpuCost {
                server: Some(100.0),
                upstream: None,
                loader: Some(50.0),
            },
        ];
        let value = compare_json(Sides::STACK, &comparison);
        assert_eq!(value["ratio"]["rps"], 0.5);
        assert_eq!(value["ratio"]["p50"], 2.0);
        assert_eq!(value["ratio"]["server_cpu"], 1.25);
        assert_eq!(value["ratio"]["all_cpu"], 1.25);
        assert_eq!(value["server_cpu_micros_per_request"]["bare"], 80.0);
        assert_eq!(value["cpu_micros_per_request"]["stack"]["all"], 150.0);
        assert_eq!(
            value["cpu_micros_per_request"]["stack"]["upstream"],
            Value::Null
        );
        let table = compare_table(Sides::STACK, &comparison);
        assert!(table.contains("0.50x"), "{table}");
        assert!(table.contains("50.0%"), "{table}");
        assert!(table.contains("n/a"), "{table}");
        assert!(table.contains("1.25x"), "{table}");
        assert!(table.contains("150.0"), "{table}");
        assert!(
            !table.contains("upstream cpu"),
            "no side has an upstream: {table}"
        );
        assert!(
            !table.contains("by round"),
            "one round has no round line: {table}"
        );
    }

    #[test]
    fn rounds_merge_and_their_median_ratio_is_shown() {
        let mut bare = report("bare", &[1_000; 100], 0);
        let mut stack = report("stack", &[1_000; 90], 0);
        stack.cache_hit_rate = Some(1.0);
        let mut later = report("stack", &[1_000; 30], 0);
        later.cache_hit_rate = Some(0.0);
        stack.absorb(&later);
        bare.absorb(&report("bare", &[1_000; 100], 0));
        assert_eq!(stack.total().requests(), 120);
        assert_eq!(stack.elapsed_seconds, 4.0);
        assert_eq!(stack.cache_hit_rate, Some(0.75), "weighed by requests");
        let comparison = Comparison {
            first: bare,
            second: stack,
            round_ratios: vec![0.9, 0.3, 0.8],
            cpu: [CpuCost::default(); 2],
        };
        assert_eq!(comparison.median_ratio(), Some(0.8));
        let table = compare_table(Sides::STACK, &comparison);
        assert!(table.contains("0.90x 0.30x 0.80x; median 0.80x"), "{table}");
        assert_eq!(
            compare_json(Sides::STACK, &comparison)["ratio"]["rps_median_of_rounds"],
            0.8
        );
    }

    #[test]
    fn a_gateway_comparison_is_labelled_direct_and_gateway() {
        let direct = report("direct", &[1_000; 100], 0);
        let through = report("gateway", &[1_250; 80], 0);
        let mut comparison = one_round(direct, through);
        comparison.cpu = [
            CpuCost {
                server: Some(100.0),
                upstream: None,
                loader: Some(60.0),
            },
            CpuCost {
                server: Some(120.0),
                upstream: Some(110.0),
                loader: Some(50.0),
            },
        ];
        let value = compare_json(Sides::GATEWAY, &comparison);
        assert_eq!(value["ratio"]["rps"], 0.8);
        // The gateway side costs its gateway, the upstream and the loader.
        assert_eq!(value["cpu_micros_per_request"]["gateway"]["all"], 280.0);
        assert_eq!(value["ratio"]["all_cpu"], 1.75);
        assert!(value["direct"].is_object() && value["gateway"].is_object());
        let table = compare_table(Sides::GATEWAY, &comparison);
        assert!(table.contains("gateway/direct"), "{table}");
        assert!(table.contains("0.80x"), "{table}");
        assert!(table.contains("upstream cpu µs/req"), "{table}");
        assert!(table.contains("1.75x"), "{table}");
    }

    #[test]
    fn table_lists_failures_by_reason_and_no_cache_as_na() {
        let table = report("one", &[500], 3).table();
        assert!(table.contains("rate_limited"), "{table}");
        assert!(table.contains("e.g. slow down"), "{table}");
        assert!(table.contains("cache hit rate: n/a"), "{table}");
    }
}
