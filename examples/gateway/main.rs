//! The mcp-stack gateway: the whole stack in front of MCP servers in any
//! language, over Streamable HTTP or stdio.
//!
//! ```text
//! cargo run --release --example gateway -- --upstream demo=http://127.0.0.1:8080/mcp --listen 127.0.0.1:9000
//! cargo run --release --example gateway -- --upstream py=cmd:"python3 server.py"
//! cargo run --release --example gateway -- --upstream a=http://127.0.0.1:8081/mcp --upstream b=cmd:"npx -y @modelcontextprotocol/server-everything"
//! cargo run --release --example gateway -- --config gateway.toml
//! ```
//!
//! A thin CLI over `mcp_stack::gateway`: every flag is a key of the
//! configuration file (see `GatewayConfig`), and flags win over the file.

use std::{path::PathBuf, process::ExitCode};

use mcp_stack::{
    config::RedisConfig,
    gateway::{Gateway, GatewayConfig, UpstreamConfig},
};

const HELP: &str = "\
The mcp-stack gateway: caching, rate limits, breakers, streaming and metrics
in front of any MCP server.

Usage: gateway [OPTIONS]

Options:
  --upstream NAME=URL          a Streamable HTTP upstream (repeat for several)
  --upstream NAME=cmd:COMMAND  a stdio upstream, started as a child process
                               (arguments split at spaces; quote with ' or \")
  --auth NAME=POLICY           what upstream NAME gets as Authorization:
                               forward (the client's, default), drop, or
                               env:VAR (the value of the variable VAR)
  --listen ADDR                address to serve on [default: 127.0.0.1:8080]
  --redis URL                  share caches, invalidations and rate limits
                               through Redis [env: MCP_REDIS_URL]
  --max-sessions N             client sessions at most [default: 10000]
  --config FILE                the gateway's configuration (TOML); flags win
                               over it, MCP_STACK__* variables over the file
  -h, --help                   print this

With one upstream its tools, prompts and resources keep their names; with
several they are NAME__tool and NAME+uri, and lists are merged.
";

#[derive(Debug, Default)]
struct Flags {
    upstreams: Vec<(String, UpstreamConfig)>,
    auth: Vec<(String, String)>,
    listen: Option<String>,
    redis: Option<String>,
    max_sessions: Option<usize>,
    config: Option<PathBuf>,
}

fn flags(mut args: impl Iterator<Item = String>) -> Result<Option<Flags>, String> {
    let mut flags = Flags::default();
    while let Some(arg) = args.next() {
        let mut value = |name: &str| args.next().ok_or_else(|| format!("{name} needs a value"));
        match arg.as_str() {
            "--upstream" => {
                let flag = value("--upstream")?;
                flags
                    .upstreams
                    .push(UpstreamConfig::from_flag(&flag).map_err(|error| error.to_string())?);
            }
            "--auth" => {
                let flag = value("--auth")?;
                let (name, policy) = flag
                    .split_once('=')
                    .ok_or_else(|| format!("--auth `{flag}`: expected NAME=POLICY"))?;
                flags.auth.push((name.to_owned(), policy.to_owned()));
            }
            "--listen" => flags.listen = Some(value("--listen")?),
            "--redis" => flags.redis = Some(value("--redis")?),
            "--max-sessions" => {
                let count = value("--max-sessions")?;
                flags.max_sessions = Some(
                    count
                        .parse()
                        .map_err(|_| format!("--max-sessions `{count}` is not a number"))?,
                );
            }
            "--config" => flags.config = Some(value("--config")?.into()),
            "-h" | "--help" => return Ok(None),
            other => return Err(format!("unknown argument `{other}` (see --help)")),
        }
    }
    if flags.redis.is_none() {
        flags.redis = std::env::var("MCP_REDIS_URL")
            .ok()
            .filter(|url| !url.is_empty());
    }
    Ok(Some(flags))
}

/// The file (or the defaults), with the flags over it.
fn configure(flags: Flags) -> Result<GatewayConfig, Box<dyn std::error::Error>> {
    let mut config = GatewayConfig::load(flags.config.as_deref())?;
    for (name, upstream) in flags.upstreams {
        config.upstreams.insert(name, upstream);
    }
    for (name, policy) in flags.auth {
        let upstream = config
            .upstreams
            .get_mut(&name)
            .ok_or_else(|| format!("--auth {name}: no upstream is named {name}"))?;
        upstream.authorization = policy;
    }
    if let Some(listen) = flags.listen {
        config.stack.http.listen = listen;
    }
    if let Some(url) = flags.redis {
        config.stack.redis = Some(RedisConfig {
            url,
            ..config.stack.redis.unwrap_or_default()
        });
    }
    if let Some(count) = flags.max_sessions {
        config.gateway.max_sessions = count;
    }
    config.check()?;
    Ok(config)
}

async fn run(flags: Flags) -> Result<(), Box<dyn std::error::Error>> {
    let config = configure(flags)?;
    let gateway = Gateway::new(&config).await?;
    eprintln!("mcp-stack gateway:");
    eprint!("{}", gateway.summary());
    Ok(gateway.run().await?)
}

fn main() -> ExitCode {
    let flags = match flags(std::env::args().skip(1)) {
        Ok(Some(flags)) => flags,
        Ok(None) => {
            print!("{HELP}");
            return ExitCode::SUCCESS;
        }
        Err(problem) => {
            eprintln!("gateway: {problem}");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("gateway: cannot start the runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(flags)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("gateway: {error}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Option<Flags>, String> {
        flags(args.iter().map(|arg| (*arg).to_owned()))
    }

    #[test]
    fn flags_become_the_configuration() {
        let flags = parse(&[
            "--upstream",
            "a=http://127.0.0.1:9/mcp",
            "--upstream",
            "b=cmd:server --x",
            "--auth",
            "a=drop",
            "--listen",
            "127.0.0.1:0",
            "--max-sessions",
            "3",
        ])
        .unwrap()
        .unwrap();
        let config = configure(flags).unwrap();
        assert_eq!(config.upstreams["a"].authorization, "drop");
        assert_eq!(config.upstreams["b"].command.as_deref(), Some("server"));
        assert_eq!(config.stack.http.listen, "127.0.0.1:0");
        assert_eq!(config.gateway.max_sessions, 3);
    }

    #[test]
    fn bad_flags_say_what_is_wrong() {
        assert!(
            parse(&["--upstream"])
                .unwrap_err()
                .contains("needs a value")
        );
        assert!(
            parse(&["--upstream", "x"])
                .unwrap_err()
                .contains("NAME=URL")
        );
        assert!(
            parse(&["--bogus"])
                .unwrap_err()
                .contains("unknown argument")
        );
        let flags = parse(&["--auth", "nobody=drop"]).unwrap().unwrap();
        assert!(
            configure(flags)
                .unwrap_err()
                .to_string()
                .contains("no upstream")
        );
        assert!(parse(&["--help"]).unwrap().is_none());
    }
}
