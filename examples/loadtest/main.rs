//! An MCP load tester: virtual users speak MCP Streamable HTTP to a server
//! and the run ends with a table of requests, failures by reason,
//! throughput, latency percentiles and the server's cache hit rate.
//!
//! ```text
//! cargo run --release --example full_stack -- --listen 127.0.0.1:8080 &
//! cargo run --release --example loadtest -- --url http://127.0.0.1:8080/mcp --users 16 --duration 10
//!
//! # the demo bare and with the stack, side by side (build the examples first)
//! cargo build --release --examples
//! target/release/examples/loadtest --compare --mix 0:0:1 --tool echo --users 16 --duration 10
//! target/release/examples/loadtest --compare --mix 0:1:0 --read-uri demo://slow/100 --users 16 --duration 10
//! target/release/examples/loadtest --compare --gateway --mix 0:0:1 --tool echo --users 16 --duration 10
//! ```
//!
//! `--help` lists every flag with its default.
//!
//! How it measures:
//! - Each user opens its own session (`initialize` at protocol version
//!   2025-11-25, then `notifications/initialized`) with its own bearer token
//!   (`--auth-prefix` + its number), so a server's private cache entries
//!   are per user. Sessions the server forgets are opened again.
//! - All users share one pooled keep-alive HTTP/1.1 client (hyper).
//!   Answers come as JSON or as an SSE stream; both are read.
//! - Closed loop (default): each user sends, waits, thinks `--think-ms`,
//!   repeats. Open loop (`--rate`): requests leave on a fixed timetable and
//!   latency runs from each one's slot, so a slow server cannot slow the
//!   sender and hide its own latency; at most `--max-outstanding` are in
//!   flight, the rest are dropped and counted.
//! - Latency covers every answered request, failures included, recorded in
//!   a log-linear histogram exact to 0.4 %; the maximum is exact.
//! - A failure is counted by reason: `http_<status>`, the JSON-RPC error's
//!   `data.kind` or a name for its code (`rate_limited`, `internal_error`,
//!   ...), `tool_error` for `isError: true`, `timeout`, `connect`,
//!   `transport`, `bad_response`; `session:<reason>` when a session could not
//!   be opened for the request.
//! - The cache hit rate is the difference of the server's `/stats` cache
//!   counts read as measuring starts and after the last answer; "n/a" when
//!   the server shows no cache.

mod cli;
mod client;
mod compare;
mod histogram;
mod report;
mod run;

use std::process::ExitCode;

use crate::{
    cli::Command,
    compare::CompareError,
    run::{RunError, Target},
};

/// What can end a run early.
#[derive(Debug, thiserror::Error)]
enum Error {
    /// A single run failed to start.
    #[error(transparent)]
    Run(#[from] RunError),
    /// The comparison failed.
    #[error(transparent)]
    Compare(#[from] CompareError),
    /// The JSON output could not be written.
    #[error("cannot print JSON: {0}")]
    Json(#[from] serde_json::Error),
}

#[tokio::main]
async fn main() -> ExitCode {
    let options = match cli::parse(std::env::args().skip(1)) {
        Ok(Command::Help) => {
            print!("{}", cli::HELP);
            return ExitCode::SUCCESS;
        }
        Ok(Command::Run(options)) => options,
        Err(error) => {
            eprintln!("loadtest: {error}\nrun with --help to see the flags");
            return ExitCode::from(2);
        }
    };
    match execute(&options).await {
        Ok(output) => {
            print!("{output}");
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("loadtest: {error}");
            ExitCode::FAILURE
        }
    }
}

/// Runs what `options` ask for and returns what to print.
async fn execute(options: &cli::Options) -> Result<String, Error> {
    if options.compare {
        let comparison = compare::run(options).await?;
        let sides = if options.gateway {
            report::Sides::GATEWAY
        } else {
            report::Sides::STACK
        };
        return Ok(if options.json {
            format!(
                "{}\n",
                serde_json::to_string_pretty(&report::compare_json(sides, &comparison))?
            )
        } else {
            report::compare_table(sides, &comparison)
        });
    }
    let target = Target::new(options.url.clone(), options.stats_url.clone());
    let report = run::run(options, &target, &options.url.to_string()).await?;
    Ok(if options.json {
        format!("{}\n", serde_json::to_string_pretty(&report.to_json())?)
    } else {
        report.table()
    })
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use axum::{Router, routing::get, serve::ListenerExt};
    use http::Uri;
    use mcp_testkit::{DemoConfig, DemoHandler};
    use rmcp::transport::streamable_http_server::{
        StreamableHttpServerConfig, StreamableHttpService, session::local::LocalSessionManager,
    };

    use super::*;
    use crate::{
        cli::{Op, Options},
        report::{Mode, Report},
    };

    /// The testkit's demo handler over Streamable HTTP on a free port;
    /// returns its MCP URL.
    async fn demo_server(config: StreamableHttpServerConfig) -> Uri {
        let handler = DemoHandler::new(DemoConfig::default());
        let mcp = StreamableHttpService::new(
            move || Ok(handler.clone()),
            Arc::new(LocalSessionManager::default()),
            config,
        );
        let app = Router::new()
            .route("/healthz", get(|| async { "ok" }))
            .nest_service("/mcp", mcp);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await;
        let Ok(listener) = listener else {
            panic!("cannot bind loopback: {listener:?}");
        };
        let addr = listener
            .local_addr()
            .map(|addr| addr.to_string())
            .unwrap_or_default();
        // Without TCP_NODELAY, an SSE answer written in pieces waits for the
        // client's delayed ACK: 40 ms a request on Linux loopback.
        let listener = listener.tap_io(|tcp| {
            let _ = tcp.set_nodelay(true);
        });
        tokio::spawn(async move { axum::serve(listener, app).await });
        format!("http://{addr}/mcp").parse().unwrap_or_default()
    }

    fn options(flags: &str) -> Options {
        match cli::parse(flags.split_whitespace().map(str::to_owned)) {
            Ok(Command::Run(options)) => Options {
                quiet: true,
                ..*options
            },
            other => panic!("bad test flags {flags}: {other:?}"),
        }
    }

    /// Runs `flags` against a fresh session-mode (SSE) demo server.
    async fn load_demo(flags: &str) -> Report {
        let url = demo_server(StreamableHttpServerConfig::default()).await;
        let report = run::run(&options(flags), &Target::new(url, None), "test").await;
        match report {
            Ok(report) => report,
            Err(error) => panic!("run failed: {error}"),
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn closed_loop_against_the_demo_counts_every_kind() {
        let report =
            load_demo("--users 4 --duration 0.4 --mix 1:1:1 --read-uri demo://static/readme").await;
        let total = report.total();
        assert!(total.requests() > 30, "only {} requests", total.requests());
        assert_eq!(total.failures, Default::default(), "no request should fail");
        for op in Op::ALL {
            let successes = report.ops[op.index()].successes;
            assert!(successes > 0, "no {} succeeded", op.name());
        }
        assert_eq!(report.sessions.opened, 4);
        assert_eq!(report.sessions.failed, 0);
        // The testkit server has no /stats.
        assert_eq!(report.cache_hit_rate, None);
        assert!(total.latency.quantile(0.5) <= total.latency.max());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn plain_json_answers_without_sessions_work_too() {
        let config = StreamableHttpServerConfig::default()
            .with_legacy_session_mode(false)
            .with_json_response(true);
        let url = demo_server(config).await;
        let options = options("--users 2 --duration 0.3 --mix 1:0:1");
        let report = run::run(&options, &Target::new(url, None), "test").await;
        let Ok(report) = report else {
            panic!("run failed: {report:?}")
        };
        let total = report.total();
        assert!(total.successes > 10, "{total:?}");
        assert_eq!(total.failures, Default::default());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn failures_are_counted_by_reason() {
        // The testkit's `flaky` fails every second call with an internal error.
        let report = load_demo(
            "--users 2 --duration 0.3 --mix 0:1:1 --tool flaky --tool-args {} \
             --read-uri demo://nothing/here",
        )
        .await;
        let calls = &report.ops[Op::Call.index()];
        let internal = calls.failures.get("internal_error");
        assert!(internal.is_some_and(|reason| reason.count > 0), "{calls:?}");
        assert!(calls.successes > 0);
        let reads = &report.ops[Op::Read.index()];
        assert_eq!(reads.successes, 0);
        assert_eq!(reads.failed(), reads.requests());
        let not_found = reads.failures.contains_key("resource_not_found");
        assert!(not_found, "{:?}", reads.failures);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn open_loop_keeps_its_timetable() {
        let report = load_demo("--users 2 --duration 0.5 --rate 200 --mix 0:0:1").await;
        let Mode::Open {
            scheduled, dropped, ..
        } = report.mode
        else {
            panic!("not open loop")
        };
        // 200 a second for half a second.
        assert_eq!(scheduled, 100);
        assert_eq!(report.total().requests() + dropped, scheduled);
        assert_eq!(report.total().failed(), 0);
    }

    #[tokio::test]
    async fn timeouts_are_their_own_reason() {
        let report = load_demo(
            r#"--users 1 --duration 0.2 --mix 0:0:1 --tool slow --tool-args {"ms":500} --timeout-ms 100"#,
        )
        .await;
        let calls = &report.ops[Op::Call.index()];
        let timeouts = calls.failures.contains_key("timeout");
        assert!(timeouts, "{:?}", calls.failures);
        assert_eq!(calls.successes, 0);
    }

    #[tokio::test]
    async fn no_server_is_a_clear_error() {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|listener| listener.local_addr())
            .map(|addr| addr.port())
            .unwrap_or(9);
        let url: Uri = format!("http://127.0.0.1:{port}/mcp")
            .parse()
            .unwrap_or_default();
        let options = options("--users 1 --duration 0.1");
        let error = run::run(&options, &Target::new(url, None), "test").await;
        let text = error.err().map(|e| e.to_string()).unwrap_or_default();
        let clear = text.contains("no session could be opened") && text.contains("connect");
        assert!(clear, "{text}");
    }
}
