//! Flags: parsing, checking and the `--help` text.

use std::{fmt, path::PathBuf, time::Duration};

use http::Uri;
use serde_json::{Map, Value};

/// The `--help` text; every flag with its default.
pub(crate) const HELP: &str = "\
loadtest: drive an MCP server over Streamable HTTP and report throughput,
latency percentiles, failures by reason and the server's cache hit rate.

USAGE:
    loadtest [FLAGS]                 load one server (--url)
    loadtest --compare [FLAGS]       start the demo bare and with the stack, load both

TARGET:
    --url URL            MCP endpoint                    [default: http://127.0.0.1:8080/mcp]
    --stats-url URL      JSON stats read before and after the run for the cache hit rate
                                                         [default: the --url origin + /stats]
    --auth-prefix P      each user sends `Authorization: Bearer P<n>`; empty sends none
                                                         [default: user-]

LOAD:
    --users N            virtual users (sessions)        [default: 8]
    --duration S         measured seconds                [default: 10]
    --warmup S           seconds of load before measuring [default: 0]
    --mix L:R:C          weights of tools/list : resources/read : tools/call
                                                         [default: 1:2:7]
    --read-uri URI       resource for reads              [default: demo://static/hello]
    --tool NAME          tool for calls                  [default: echo]
    --tool-args JSON     arguments object for calls      [default: {\"text\":\"hello\"}]
    --think-ms MS        closed loop: pause after each response [default: 0]
    --rate R             open loop: R requests per second on a fixed timetable,
                         latency measured from the scheduled time
                                                         [default: off, closed loop]
    --max-outstanding N  open loop: requests in flight at most; the rest are dropped
                         and counted                     [default: 1024]
    --timeout-ms MS      per request, counted as `timeout` [default: 30000]

OUTPUT:
    --json               print one JSON object instead of the table
    --quiet              no progress line on stderr

COMPARE:
    --compare            start the `full_stack` example twice on free loopback ports,
                         bare (--no-stack) then with the stack, run the same load
                         against each and print both side by side
    --server-bin PATH    the demo server binary [default: full_stack next to this binary;
                         build it with `cargo build --release --examples`]
    --gateway            with --compare: load the bare demo directly, then through the
                         `gateway` example (next to the demo binary) in front of it
    --rounds N           with --compare: load each side N times for --duration, in
                         turns (ABBA), both servers up throughout, so the machine's
                         drift falls on both; prints each round's ratio and their
                         median                          [default: 3]

    -h, --help           this text

PRESETS:
    overhead on misses:  loadtest --compare --mix 0:0:1 --tool echo --users 16 --duration 10
    cache benefit:       loadtest --compare --mix 0:1:0 --read-uri demo://slow/100 --users 16 --duration 10
    gateway on misses:   loadtest --compare --gateway --mix 0:0:1 --tool echo --users 16 --duration 10
    gateway on hits:     loadtest --compare --gateway --mix 0:1:0 --read-uri demo://slow/100 --users 16 --duration 10
";

/// What the command line asks for.
#[derive(Debug)]
pub(crate) enum Command {
    /// Print [`HELP`].
    Help,
    /// Run the load.
    Run(Box<Options>),
}

/// Everything a run needs, checked.
#[derive(Debug, Clone)]
pub(crate) struct Options {
    /// The MCP endpoint; unused with `--compare`, which starts its own.
    pub(crate) url: Uri,
    /// The stats endpoint, when given explicitly.
    pub(crate) stats_url: Option<Uri>,
    /// Token prefix; empty sends no `Authorization`.
    pub(crate) auth_prefix: String,
    /// Virtual users, each with its own session.
    pub(crate) users: usize,
    /// The measured part of the run.
    pub(crate) duration: Duration,
    /// Load before measuring starts.
    pub(crate) warmup: Duration,
    /// Request weights.
    pub(crate) mix: Mix,
    /// URI of `resources/read`.
    pub(crate) read_uri: String,
    /// Name of `tools/call`.
    pub(crate) tool: String,
    /// Arguments of `tools/call`.
    pub(crate) tool_args: Map<String, Value>,
    /// Closed-loop pause after each response.
    pub(crate) think: Duration,
    /// Open-loop rate in requests per second.
    pub(crate) rate: Option<f64>,
    /// Open-loop bound on requests in flight.
    pub(crate) max_outstanding: usize,
    /// Per-request deadline.
    pub(crate) timeout: Duration,
    /// Print JSON instead of a table.
    pub(crate) json: bool,
    /// No progress line.
    pub(crate) quiet: bool,
    /// Compare bare and stacked demo servers.
    pub(crate) compare: bool,
    /// `--compare --gateway`: direct against through the gateway.
    pub(crate) gateway: bool,
    /// Demo server binary for `--compare`.
    pub(crate) server_bin: Option<PathBuf>,
    /// `--compare`: runs of each side, in turns.
    pub(crate) rounds: usize,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            url: Uri::from_static("http://127.0.0.1:8080/mcp"),
            stats_url: None,
            auth_prefix: "user-".into(),
            users: 8,
            duration: Duration::from_secs(10),
            warmup: Duration::ZERO,
            mix: Mix::DEFAULT,
            read_uri: "demo://static/hello".into(),
            tool: "echo".into(),
            tool_args: Map::from_iter([("text".to_owned(), Value::from("hello"))]),
            think: Duration::ZERO,
            rate: None,
            max_outstanding: 1024,
            timeout: Duration::from_secs(30),
            json: false,
            quiet: false,
            compare: false,
            gateway: false,
            server_bin: None,
            rounds: 3,
        }
    }
}

/// A command line that cannot run.
#[derive(Debug, thiserror::Error, PartialEq)]
pub(crate) enum UsageError {
    /// A flag we do not know.
    #[error("unknown flag `{0}`")]
    Unknown(String),
    /// A flag given without its value.
    #[error("`{0}` needs a value")]
    MissingValue(String),
    /// A boolean flag given a value.
    #[error("`{0}` takes no value")]
    UnexpectedValue(String),
    /// A value that does not parse or is out of range.
    #[error("`{flag}`: bad value `{value}`: {reason}")]
    Invalid {
        /// The flag.
        flag: &'static str,
        /// What was given.
        value: String,
        /// What is wrong with it.
        reason: String,
    },
    /// Flags that do not go together.
    #[error("{0}")]
    Conflict(&'static str),
}

/// The three request kinds of the mix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Op {
    /// `tools/list`.
    List,
    /// `resources/read`.
    Read,
    /// `tools/call`.
    Call,
}

impl Op {
    /// All kinds, in mix order.
    pub(crate) const ALL: [Op; 3] = [Op::List, Op::Read, Op::Call];

    /// The short name used in tables and JSON.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Op::List => "list",
            Op::Read => "read",
            Op::Call => "call",
        }
    }

    /// Position in [`Op::ALL`].
    pub(crate) fn index(self) -> usize {
        self as usize
    }
}

/// Weights of list, read and call requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Mix {
    weights: [u32; 3],
}

impl Mix {
    /// `1:2:7`: mostly calls, some reads, a few lists.
    pub(crate) const DEFAULT: Mix = Mix { weights: [1, 2, 7] };

    /// Parses `L:R:C`, three non-negative integers, not all zero.
    pub(crate) fn parse(text: &str) -> Result<Mix, String> {
        let parts: Vec<&str> = text.split(':').collect();
        let [list, read, call] = parts.as_slice() else {
            return Err(format!(
                "expected three weights list:read:call like 1:2:7, got {} part(s)",
                parts.len()
            ));
        };
        let mut weights = [0u32; 3];
        for (slot, (part, op)) in weights
            .iter_mut()
            .zip([list, read, call].iter().zip(Op::ALL))
        {
            *slot = part
                .trim()
                .parse()
                .map_err(|_| format!("the {} weight `{part}` is not a whole number", op.name()))?;
        }
        if weights.iter().all(|&w| w == 0) {
            return Err("at least one weight must be above zero".into());
        }
        if weights.iter().map(|&w| u64::from(w)).sum::<u64>() > u64::from(u32::MAX) {
            return Err("the weights add up to more than 4294967295".into());
        }
        Ok(Mix { weights })
    }

    /// The kind a uniform random `roll` lands on.
    pub(crate) fn pick(&self, roll: u64) -> Op {
        let total: u64 = self.weights.iter().map(|&w| u64::from(w)).sum();
        // The modulo bias is below 2^-32 for any total that fits in u32.
        let mut point = roll % total.max(1);
        for (op, &weight) in Op::ALL.iter().zip(&self.weights) {
            let weight = u64::from(weight);
            if point < weight {
                return *op;
            }
            point -= weight;
        }
        Op::Call
    }
}

impl fmt::Display for Mix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let [list, read, call] = self.weights;
        write!(f, "{list}:{read}:{call}")
    }
}

/// Parses the arguments after the program name.
pub(crate) fn parse(args: impl IntoIterator<Item = String>) -> Result<Command, UsageError> {
    let mut options = Options::default();
    let mut explicit_url = false;
    let mut explicit_think = false;
    let mut explicit_outstanding = false;
    let mut explicit_rounds = false;
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        let (name, inline) = match arg.split_once('=') {
            Some((name, value)) if name.starts_with("--") => {
                (name.to_owned(), Some(value.to_owned()))
            }
            _ => (arg, None),
        };
        let flag = Flag::find(&name).ok_or_else(|| UsageError::Unknown(name.clone()))?;
        if !flag.takes_value() {
            if inline.is_some() {
                return Err(UsageError::UnexpectedValue(name));
            }
            match flag {
                Flag::Help => return Ok(Command::Help),
                Flag::Json => options.json = true,
                Flag::Quiet => options.quiet = true,
                Flag::Compare => options.compare = true,
                Flag::Gateway => options.gateway = true,
                _ => {}
            }
            continue;
        }
        let value = match inline {
            Some(value) => value,
            None => args
                .next()
                .ok_or_else(|| UsageError::MissingValue(name.clone()))?,
        };
        let name = flag.name();
        let invalid = |reason: String| UsageError::Invalid {
            flag: name,
            value: value.clone(),
            reason,
        };
        match flag {
            Flag::Url => {
                options.url = http_uri(&value).map_err(invalid)?;
                explicit_url = true;
            }
            Flag::StatsUrl => options.stats_url = Some(http_uri(&value).map_err(invalid)?),
            Flag::AuthPrefix => {
                if !value.bytes().all(|b| b.is_ascii_graphic()) {
                    return Err(invalid("a token prefix must be visible ASCII".into()));
                }
                options.auth_prefix = value;
            }
            Flag::Users => options.users = count(&value, 1, 100_000).map_err(invalid)?,
            Flag::Duration => {
                options.duration = seconds(&value).map_err(invalid)?;
                if options.duration.is_zero() {
                    return Err(invalid("the duration must be above zero".into()));
                }
            }
            Flag::Warmup => options.warmup = seconds(&value).map_err(invalid)?,
            Flag::Mix => options.mix = Mix::parse(&value).map_err(invalid)?,
            Flag::ReadUri => {
                if value.is_empty() {
                    return Err(invalid("the URI is empty".into()));
                }
                options.read_uri = value;
            }
            Flag::Tool => {
                if value.is_empty() {
                    return Err(invalid("the tool name is empty".into()));
                }
                options.tool = value;
            }
            Flag::ToolArgs => {
                options.tool_args = match serde_json::from_str(&value) {
                    Ok(Value::Object(map)) => map,
                    Ok(_) => return Err(invalid("tool arguments must be a JSON object".into())),
                    Err(error) => return Err(invalid(format!("not JSON: {error}"))),
                }
            }
            Flag::ThinkMs => {
                options.think = millis(&value).map_err(invalid)?;
                explicit_think = true;
            }
            Flag::Rate => {
                let rate: f64 = value
                    .parse()
                    .map_err(|_| invalid("not a number of requests per second".into()))?;
                if !(rate.is_finite() && rate > 0.0 && rate <= 10_000_000.0) {
                    return Err(invalid("the rate must be above 0 and at most 1e7".into()));
                }
                options.rate = Some(rate);
            }
            Flag::MaxOutstanding => {
                options.max_outstanding = count(&value, 1, 1_000_000).map_err(invalid)?;
                explicit_outstanding = true;
            }
            Flag::TimeoutMs => {
                options.timeout = millis(&value).map_err(invalid)?;
                if options.timeout.is_zero() {
                    return Err(invalid("the timeout must be above zero".into()));
                }
            }
            Flag::ServerBin => options.server_bin = Some(PathBuf::from(value)),
            Flag::Rounds => {
                options.rounds = count(&value, 1, 100).map_err(invalid)?;
                explicit_rounds = true;
            }
            Flag::Help | Flag::Json | Flag::Quiet | Flag::Compare | Flag::Gateway => {}
        }
    }
    if options.compare {
        if explicit_url || options.stats_url.is_some() {
            return Err(UsageError::Conflict(
                "`--url` and `--stats-url` do not go with `--compare`, which starts its own servers",
            ));
        }
    } else if explicit_rounds {
        return Err(UsageError::Conflict(
            "`--rounds` only applies to `--compare`",
        ));
    } else if options.server_bin.is_some() {
        return Err(UsageError::Conflict(
            "`--server-bin` only applies to `--compare`",
        ));
    } else if options.gateway {
        return Err(UsageError::Conflict(
            "`--gateway` only applies to `--compare`",
        ));
    }
    if options.rate.is_some() && explicit_think {
        return Err(UsageError::Conflict(
            "`--think-ms` is for closed-loop runs; an open-loop `--rate` run sends on its timetable",
        ));
    }
    if options.rate.is_none() && explicit_outstanding {
        return Err(UsageError::Conflict(
            "`--max-outstanding` bounds open-loop runs; add `--rate`",
        ));
    }
    Ok(Command::Run(Box::new(options)))
}

/// The flags, so a name is matched in one place.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Flag {
    Url,
    StatsUrl,
    AuthPrefix,
    Users,
    Duration,
    Warmup,
    Mix,
    ReadUri,
    Tool,
    ToolArgs,
    ThinkMs,
    Rate,
    MaxOutstanding,
    TimeoutMs,
    Json,
    Quiet,
    Compare,
    Gateway,
    ServerBin,
    Rounds,
    Help,
}

impl Flag {
    const ALL: [Flag; 21] = [
        Flag::Url,
        Flag::StatsUrl,
        Flag::AuthPrefix,
        Flag::Users,
        Flag::Duration,
        Flag::Warmup,
        Flag::Mix,
        Flag::ReadUri,
        Flag::Tool,
        Flag::ToolArgs,
        Flag::ThinkMs,
        Flag::Rate,
        Flag::MaxOutstanding,
        Flag::TimeoutMs,
        Flag::Json,
        Flag::Quiet,
        Flag::Compare,
        Flag::Gateway,
        Flag::ServerBin,
        Flag::Rounds,
        Flag::Help,
    ];

    fn name(self) -> &'static str {
        match self {
            Flag::Url => "--url",
            Flag::StatsUrl => "--stats-url",
            Flag::AuthPrefix => "--auth-prefix",
            Flag::Users => "--users",
            Flag::Duration => "--duration",
            Flag::Warmup => "--warmup",
            Flag::Mix => "--mix",
            Flag::ReadUri => "--read-uri",
            Flag::Tool => "--tool",
            Flag::ToolArgs => "--tool-args",
            Flag::ThinkMs => "--think-ms",
            Flag::Rate => "--rate",
            Flag::MaxOutstanding => "--max-outstanding",
            Flag::TimeoutMs => "--timeout-ms",
            Flag::Json => "--json",
            Flag::Quiet => "--quiet",
            Flag::Compare => "--compare",
            Flag::Gateway => "--gateway",
            Flag::ServerBin => "--server-bin",
            Flag::Rounds => "--rounds",
            Flag::Help => "--help",
        }
    }

    fn find(name: &str) -> Option<Flag> {
        if name == "-h" {
            return Some(Flag::Help);
        }
        Flag::ALL.into_iter().find(|flag| flag.name() == name)
    }

    fn takes_value(self) -> bool {
        !matches!(
            self,
            Flag::Json | Flag::Quiet | Flag::Compare | Flag::Gateway | Flag::Help
        )
    }
}

/// An `http://` URI with a host; the load tester speaks plain HTTP only.
fn http_uri(text: &str) -> Result<Uri, String> {
    let uri: Uri = text
        .parse()
        .map_err(|error| format!("not a URL: {error}"))?;
    match uri.scheme_str() {
        Some("http") => {}
        Some("https") => {
            return Err("https is not supported; the load tester speaks plain HTTP".into());
        }
        _ => return Err("expected a URL like http://127.0.0.1:8080/mcp".into()),
    }
    if uri.host().is_none_or(str::is_empty) {
        return Err("the URL has no host".into());
    }
    Ok(uri)
}

/// A whole number in `min..=max`.
fn count(text: &str, min: usize, max: usize) -> Result<usize, String> {
    let n: usize = text.parse().map_err(|_| "not a whole number".to_owned())?;
    if n < min || n > max {
        return Err(format!("must be between {min} and {max}"));
    }
    Ok(n)
}

/// Seconds, fractions allowed (`2.5`).
fn seconds(text: &str) -> Result<Duration, String> {
    let value: f64 = text
        .parse()
        .map_err(|_| "not a number of seconds".to_owned())?;
    if !(0.0..=86_400.0).contains(&value) {
        return Err("must be between 0 and 86400 seconds".into());
    }
    Duration::try_from_secs_f64(value).map_err(|error| error.to_string())
}

/// Whole milliseconds.
fn millis(text: &str) -> Result<Duration, String> {
    let value: u64 = text
        .parse()
        .map_err(|_| "not a whole number of milliseconds".to_owned())?;
    if value > 86_400_000 {
        return Err("must be at most 86400000 (a day)".into());
    }
    Ok(Duration::from_millis(value))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(args: &[&str]) -> Result<Options, UsageError> {
        match parse(args.iter().map(|arg| arg.to_string()))? {
            Command::Run(options) => Ok(*options),
            Command::Help => Err(UsageError::Unknown("help".into())),
        }
    }

    #[test]
    fn mix_parses_weights_and_rejects_bad_ones() {
        assert_eq!(Mix::parse("1:2:7"), Ok(Mix::DEFAULT));
        assert_eq!(
            Mix::parse("0:0:1").map(|mix| mix.to_string()),
            Ok("0:0:1".into())
        );
        for bad in ["1:2", "1:2:3:4", "a:1:1", "-1:1:1", "0:0:0", "", "1.5:1:1"] {
            assert!(Mix::parse(bad).is_err(), "{bad} parsed");
        }
        let error = Mix::parse("1:x:1").err().unwrap_or_default();
        assert!(error.contains("read weight `x`"), "{error}");
    }

    #[test]
    fn mix_picks_in_proportion_to_the_weights() {
        let mix = Mix::parse("1:2:7").unwrap_or(Mix::DEFAULT);
        let mut counts = [0u32; 3];
        for roll in 0..10_000u64 {
            counts[mix.pick(roll).index()] += 1;
        }
        assert_eq!(counts, [1_000, 2_000, 7_000]);

        let only_reads = Mix::parse("0:3:0").unwrap_or(Mix::DEFAULT);
        assert!((0..100).all(|roll| only_reads.pick(roll) == Op::Read));
    }

    #[test]
    fn defaults_and_both_value_spellings() {
        let options = run(&[]).unwrap_or_default();
        assert_eq!(options.users, 8);
        assert_eq!(options.mix, Mix::DEFAULT);
        assert_eq!(options.timeout, Duration::from_secs(30));

        let options = run(&[
            "--users",
            "16",
            "--duration=2.5",
            "--mix=0:1:0",
            "--rate",
            "100",
        ])
        .unwrap_or_default();
        assert_eq!(options.users, 16);
        assert_eq!(options.duration, Duration::from_millis(2500));
        assert_eq!(options.mix.to_string(), "0:1:0");
        assert_eq!(options.rate, Some(100.0));
    }

    #[test]
    fn bad_flags_name_the_flag_and_the_value() {
        let error = run(&["--users", "zero"]).err().map(|e| e.to_string());
        assert_eq!(
            error.as_deref(),
            Some("`--users`: bad value `zero`: not a whole number")
        );
        let error = run(&["--tool-args", "[1]"]).err().map(|e| e.to_string());
        assert!(error.is_some_and(|e| e.contains("`--tool-args`") && e.contains("`[1]`")));
        let error = run(&["--url", "https://example.com/mcp"]).err();
        assert!(matches!(
            error,
            Some(UsageError::Invalid { flag: "--url", .. })
        ));
        assert_eq!(
            run(&["--frobnicate"]).err(),
            Some(UsageError::Unknown("--frobnicate".into()))
        );
        assert_eq!(
            run(&["--users"]).err(),
            Some(UsageError::MissingValue("--users".into()))
        );
        assert_eq!(
            run(&["--json=yes"]).err(),
            Some(UsageError::UnexpectedValue("--json".into()))
        );
        assert!(matches!(
            run(&["--rate", "10", "--think-ms", "5"]),
            Err(UsageError::Conflict(_))
        ));
        assert!(matches!(
            run(&["--compare", "--url", "http://127.0.0.1:1/mcp"]),
            Err(UsageError::Conflict(_))
        ));
        assert!(matches!(run(&["--gateway"]), Err(UsageError::Conflict(_))));
        assert!(matches!(
            run(&["--rounds", "2"]),
            Err(UsageError::Conflict(_))
        ));
        assert!(matches!(
            run(&["--compare", "--rounds", "0"]),
            Err(UsageError::Invalid {
                flag: "--rounds",
                ..
            })
        ));
        assert!(matches!(
            run(&["--rate", "0"]),
            Err(UsageError::Invalid { flag: "--rate", .. })
        ));
    }

    #[test]
    fn help_lists_every_flag() {
        for flag in Flag::ALL {
            assert!(
                HELP.contains(flag.name()),
                "{} missing from --help",
                flag.name()
            );
        }
        assert!(matches!(
            parse(["--users".to_owned(), "2".to_owned(), "-h".to_owned()]),
            Ok(Command::Help)
        ));
    }
}
