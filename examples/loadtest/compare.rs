//! `--compare`: starts the demo server bare and with the stack on free
//! loopback ports and loads each the same way, in turns. With `--gateway`,
//! the bare demo is loaded directly and through the `gateway` example in
//! front of it.

use std::{
    collections::VecDeque,
    path::{Path, PathBuf},
    process::Stdio,
    sync::{Arc, Mutex, PoisonError},
    time::Duration,
};

use http::Uri;
use tokio::{
    io::{AsyncBufReadExt, AsyncRead, BufReader},
    process::{Child, Command},
    sync::watch,
    time::Instant,
};

use crate::{
    cli::Options,
    client,
    report::{Comparison, CpuCost, Report},
    run::{self, RunError, Target},
};

/// The demo server's example name.
const SERVER: &str = "full_stack";
/// The gateway's example name.
const GATEWAY: &str = "gateway";
/// How long a server may take to print its address and answer `/healthz`.
const STARTUP_TIMEOUT: Duration = Duration::from_secs(30);
/// Server output lines kept to explain a failed start.
const LOG_LINES: usize = 20;

/// Why a comparison could not run.
#[derive(Debug, thiserror::Error)]
pub(crate) enum CompareError {
    /// `current_exe` failed.
    #[error("cannot tell where this binary is ({0}); pass --server-bin")]
    NoExe(#[source] std::io::Error),
    /// The demo server is not built.
    #[error(
        "the demo server {} is missing: build the examples first with \
         `cargo build --release --examples` (or pass --server-bin)",
        .0.display()
    )]
    Missing(PathBuf),
    /// No port to give the server.
    #[error("no free loopback port: {0}")]
    Port(#[source] std::io::Error),
    /// The server did not start.
    #[error("could not start {}: {source}", path.display())]
    Spawn {
        /// The binary.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The server started but never became ready.
    #[error("the {label} server ({command}) did not come up: {why}{log}")]
    NotReady {
        /// `bare`, `stack`, `direct` or `gateway`.
        label: &'static str,
        /// How it was started.
        command: String,
        /// What went wrong.
        why: String,
        /// Its last output lines, indented, or empty.
        log: String,
    },
    /// The load itself failed.
    #[error("{label} run: {source}")]
    Run {
        /// `bare`, `stack`, `direct` or `gateway`.
        label: &'static str,
        /// Why.
        source: RunError,
    },
}

/// Starts the bare demo and the stacked one (or, with `--gateway`, the
/// bare demo and the gateway in front of it) and loads them in turns.
pub(crate) async fn run(options: &Options) -> Result<Comparison, CompareError> {
    let binary = example_binary(options.server_bin.as_deref(), SERVER)?;
    if options.gateway {
        return run_gateway(&binary, options).await;
    }
    let bare = start_demo(&binary, "bare").await?;
    let stack = start_demo(&binary, "stack").await?;
    let comparison = rounds(options, [(&bare, "bare", None), (&stack, "stack", None)]).await;
    bare.stop().await;
    stack.stop().await;
    comparison
}

/// The bare demo loaded directly and through the gateway in front of it.
/// The demo serves both; the gateway side's CPU time is the gateway's own.
async fn run_gateway(server: &Path, options: &Options) -> Result<Comparison, CompareError> {
    let gateway = example_binary(
        Some(&server.with_file_name(format!("{GATEWAY}{}", std::env::consts::EXE_SUFFIX))),
        GATEWAY,
    )?;
    let upstream = Server::start(server, "direct", |listen| {
        (
            vec!["--listen".into(), listen.into(), "--no-stack".into()],
            format!("{SERVER} --listen {listen} --no-stack"),
        )
    })
    .await?;
    let upstream_url = upstream.target.mcp.to_string();
    let front = Server::start(&gateway, "gateway", |listen| {
        let flag = format!("demo={upstream_url}");
        let shown = format!("{GATEWAY} --upstream {flag} --listen {listen}");
        (
            vec!["--upstream".into(), flag, "--listen".into(), listen.into()],
            shown,
        )
    })
    .await?;
    let comparison = rounds(
        options,
        [
            (&upstream, "direct", None),
            (&front, "gateway", Some(&upstream)),
        ],
    )
    .await;
    front.stop().await;
    upstream.stop().await;
    comparison
}

/// Loads each side `options.rounds` times, in turns: first then second,
/// then second then first, and so on, so a machine that speeds up or slows
/// down over the run weighs on both sides alike. A side is the server under
/// load and, for the gateway, the upstream behind it: the CPU time of both,
/// and of this process, is counted while that side is loaded.
async fn rounds(
    options: &Options,
    sides: [(&Server, &'static str, Option<&Server>); 2],
) -> Result<Comparison, CompareError> {
    let mut merged: [Option<Report>; 2] = [None, None];
    let mut spent = [[Some(0.0); 3]; 2];
    let mut round_ratios = Vec::with_capacity(options.rounds);
    for round in 0..options.rounds {
        let order = if round % 2 == 0 { [0, 1] } else { [1, 0] };
        let mut rps = [0.0; 2];
        for side in order {
            let (server, label, behind) = sides[side];
            let clocks = || {
                [
                    server.cpu_seconds(),
                    behind.map_or(Some(0.0), Server::cpu_seconds),
                    own_cpu_seconds(),
                ]
            };
            let before = clocks();
            let report = load(server, label, options).await?;
            let after = clocks();
            for (sum, (before, after)) in spent[side].iter_mut().zip(before.into_iter().zip(after))
            {
                *sum = sum.zip(before.zip(after)).map(|(sum, (b, a))| sum + a - b);
            }
            rps[side] = report.rps();
            match &mut merged[side] {
                Some(all) => all.absorb(&report),
                None => merged[side] = Some(report),
            }
        }
        if rps[0] > 0.0 {
            round_ratios.push(rps[1] / rps[0]);
        }
    }
    let [Some(first), Some(second)] = merged else {
        unreachable!("at least one round ran: the flag is at least 1");
    };
    let cost = |side: usize, report: &Report| {
        let requests = report.total().requests();
        let per_request = |seconds: Option<f64>| {
            seconds
                .filter(|_| requests > 0)
                .map(|s| s * 1e6 / requests as f64)
        };
        let [server, upstream, loader] = spent[side];
        CpuCost {
            server: per_request(server),
            upstream: sides[side].2.and_then(|_| per_request(upstream)),
            loader: per_request(loader),
        }
    };
    Ok(Comparison {
        cpu: [cost(0, &first), cost(1, &second)],
        first,
        second,
        round_ratios,
    })
}

/// The CPU time this load tester has spent so far (Linux only).
fn own_cpu_seconds() -> Option<f64> {
    cpu_of_stat(&std::fs::read_to_string("/proc/self/stat").ok()?)
}

async fn start_demo(binary: &Path, label: &'static str) -> Result<Server, CompareError> {
    Server::start(binary, label, |listen| {
        let mut args = vec!["--listen".to_owned(), listen.to_owned()];
        let mut shown = format!("{SERVER} --listen {listen}");
        if label == "bare" {
            args.push("--no-stack".into());
            shown.push_str(" --no-stack");
        }
        (args, shown)
    })
    .await
}

/// The binary of example `name`: `explicit`, else next to the running
/// executable (cargo puts all examples of a profile together).
fn example_binary(explicit: Option<&Path>, name: &str) -> Result<PathBuf, CompareError> {
    let path = match explicit {
        Some(path) => path.to_owned(),
        None => {
            let exe = std::env::current_exe().map_err(CompareError::NoExe)?;
            let dir = exe.parent().unwrap_or_else(|| Path::new("."));
            dir.join(format!("{name}{}", std::env::consts::EXE_SUFFIX))
        }
    };
    if path.is_file() {
        Ok(path)
    } else {
        Err(CompareError::Missing(path))
    }
}

async fn load(
    server: &Server,
    label: &'static str,
    options: &Options,
) -> Result<Report, CompareError> {
    if !options.quiet {
        eprintln!("{label}: {} ({})", server.target.mcp, server.command);
    }
    run::run(options, &server.target, label)
        .await
        .map_err(|source| CompareError::Run { label, source })
}

/// A server child process (the demo or the gateway), killed on drop.
struct Server {
    child: Child,
    target: Target,
    command: String,
}

impl Server {
    /// Starts `binary` on a free port with the arguments (and the command
    /// line to show) that `args` makes of the address, and waits until it
    /// printed an MCP URL and `/healthz` answers.
    async fn start(
        binary: &Path,
        label: &'static str,
        args: impl FnOnce(&str) -> (Vec<String>, String),
    ) -> Result<Server, CompareError> {
        let port = free_port().map_err(CompareError::Port)?;
        let listen = format!("127.0.0.1:{port}");
        let (args, shown) = args(&listen);
        let mut command = Command::new(binary);
        command.args(&args);
        command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let mut child = command.spawn().map_err(|source| CompareError::Spawn {
            path: binary.to_owned(),
            source,
        })?;

        let log = Log::default();
        // Either stream may carry the address line.
        let (announced, mut listening) = watch::channel(false);
        let announced = Arc::new(announced);
        if let Some(stdout) = child.stdout.take() {
            tokio::spawn(log.clone().follow(stdout, announced.clone()));
        }
        if let Some(stderr) = child.stderr.take() {
            tokio::spawn(log.clone().follow(stderr, announced));
        }
        let not_ready = |why: String| CompareError::NotReady {
            label,
            command: shown.clone(),
            why,
            log: log.render(),
        };

        let deadline = Instant::now() + STARTUP_TIMEOUT;
        tokio::select! {
            changed = listening.wait_for(|&up| up) => {
                if changed.is_err() {
                    return Err(not_ready(wait_exit(&mut child, "closed its output before listening").await));
                }
            }
            status = child.wait() => {
                let why = match status {
                    Ok(status) => format!("it exited ({status}) before listening"),
                    Err(error) => format!("waiting for it failed: {error}"),
                };
                return Err(not_ready(why));
            }
            () = tokio::time::sleep_until(deadline) => {
                return Err(not_ready(format!(
                    "it printed no http://.../mcp line within {} s",
                    STARTUP_TIMEOUT.as_secs()
                )));
            }
        }

        let mcp: Uri = format!("http://{listen}/mcp")
            .parse()
            .map_err(|error| not_ready(format!("bad address {listen}: {error}")))?;
        let healthz: Uri = format!("http://{listen}/healthz")
            .parse()
            .map_err(|error| not_ready(format!("bad address {listen}: {error}")))?;
        let http = client::http_client();
        while !client::is_healthy(&http, &healthz).await {
            if Instant::now() >= deadline {
                return Err(not_ready(format!("{healthz} did not answer 200")));
            }
            if let Ok(Some(status)) = child.try_wait() {
                return Err(not_ready(format!("it exited ({status})")));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Ok(Server {
            child,
            target: Target::new(mcp, None),
            command: shown,
        })
    }

    /// The CPU time the server process has spent so far, user and system,
    /// from `/proc` (Linux only; `None` elsewhere).
    fn cpu_seconds(&self) -> Option<f64> {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.child.id()?)).ok()?;
        cpu_of_stat(&stat)
    }

    async fn stop(mut self) {
        // The demo drains on SIGTERM, but the run is over: nothing is in flight.
        let _ = self.child.kill().await;
    }
}

/// User plus system CPU seconds from a `/proc/<pid>/stat` line.
fn cpu_of_stat(stat: &str) -> Option<f64> {
    // The command name may hold spaces and parentheses: count fields after
    // its last closing parenthesis, where the state (field 3) comes first.
    let fields: Vec<&str> = stat
        .get(stat.rfind(')')? + 1..)?
        .split_whitespace()
        .collect();
    let ticks = |index: usize| fields.get(index)?.parse::<u64>().ok();
    // utime and stime, fields 14 and 15, in USER_HZ ticks: 100 a second on
    // every Linux architecture.
    Some((ticks(11)? + ticks(12)?) as f64 / 100.0)
}

/// Waits briefly for a child that closed its output, to report its status.
async fn wait_exit(child: &mut Child, otherwise: &str) -> String {
    match tokio::time::timeout(Duration::from_secs(2), child.wait()).await {
        Ok(Ok(status)) => format!("it exited ({status}) before listening"),
        _ => otherwise.to_owned(),
    }
}

/// A loopback port free right now. The server binds it a moment later; a
/// collision in between fails the start loudly rather than silently.
fn free_port() -> std::io::Result<u16> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(listener.local_addr()?.port())
}

/// The last lines a server printed.
#[derive(Debug, Clone, Default)]
struct Log(Arc<Mutex<VecDeque<String>>>);

impl Log {
    /// Keeps reading `output` (so the child never blocks on a full pipe),
    /// remembering the last lines; flags `announced` on the line naming
    /// the MCP URL.
    async fn follow(self, output: impl AsyncRead + Unpin, announced: Arc<watch::Sender<bool>>) {
        let mut reader = BufReader::new(output);
        let mut line = Vec::new();
        loop {
            line.clear();
            match reader.read_until(b'\n', &mut line).await {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            }
            let text = String::from_utf8_lossy(&line).trim_end().to_owned();
            if text.contains("http://") && text.contains("/mcp") {
                announced.send_replace(true);
            }
            let mut lines = self.0.lock().unwrap_or_else(PoisonError::into_inner);
            if lines.len() == LOG_LINES {
                lines.pop_front();
            }
            lines.push_back(text);
        }
    }

    fn render(&self) -> String {
        let lines = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        if lines.is_empty() {
            return String::new();
        }
        let mut out = String::from("\nits last output:");
        for line in lines.iter() {
            out.push_str("\n    ");
            out.push_str(line);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_time_is_user_plus_system_ticks_after_the_name() {
        let stat = "4242 (odd) name) S 1 4242 4242 0 -1 4194560 100 0 0 0 250 75 0 0 20 0 9 0";
        assert_eq!(cpu_of_stat(stat), Some(3.25));
        assert_eq!(cpu_of_stat("4242 (cut"), None);
        let own = std::fs::read_to_string("/proc/self/stat");
        if let Ok(own) = own {
            assert!(cpu_of_stat(&own).is_some(), "{own}");
        }
    }

    #[test]
    fn a_missing_server_says_how_to_build_it() {
        let error = example_binary(Some(Path::new("/nonexistent/full_stack")), SERVER).err();
        let text = error.map(|e| e.to_string()).unwrap_or_default();
        assert!(text.contains("cargo build --release --examples"), "{text}");
        assert!(text.contains("/nonexistent/full_stack"), "{text}");
    }
}
