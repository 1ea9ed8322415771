//! The mcp-stack demo: an MCP server behind the whole stack, over
//! Streamable HTTP (or stdio), with `/metrics`, `/stats` and `/healthz`.
//!
//! ```text
//! cargo run --release --example full_stack                       # http://127.0.0.1:8080/mcp
//! cargo run --release --example full_stack -- --listen 127.0.0.1:9000
//! cargo run --release --example full_stack -- --redis redis://127.0.0.1:6379/
//! cargo run --release --example full_stack -- --config stack.toml
//! cargo run --release --example full_stack -- --no-stack         # the same server, bare
//! cargo run --release --example full_stack -- --stdio
//! cargo run --release --example full_stack -- --admin           # POST /admin/invalidate
//! ```
//!
//! Tools: `echo {text}`, `slow {ms}` (read-only, cached), `flaky {fail_rate}`,
//! `whoami`. Resources: `demo://static/hello`, `demo://private/profile` (per
//! caller), `demo://slow/{ms}`, `demo://blob/{bytes}` (streamed in chunks).
//! The caller is whoever `Authorization: Bearer <token>` says: the demo
//! takes any token as an identity; a real server checks it first (put a
//! `mcp_service::Principal` in the request's extensions from your auth
//! middleware, and the stack uses that instead).

mod admin;
mod demo;

use std::{path::PathBuf, process::ExitCode};

use demo::{Blobs, DemoServer};
use mcp_stack::{
    McpStack, StackConfig,
    config::{RedisConfig, RuleConfig, ScopeConfig, TimeSpan},
    serve::{HttpServer, serve_stdio},
};

const HELP: &str = "\
The mcp-stack demo server.

Usage: full_stack [OPTIONS]

Options:
  --listen ADDR    address to serve HTTP on [default: 127.0.0.1:8080]
  --redis URL      share the cache and rate limits through Redis
                   [env: MCP_REDIS_URL]
  --config FILE    the stack's configuration (TOML); MCP_STACK__* variables
                   override its keys
  --no-stack       serve the same server without the stack, to compare
  --stdio          serve MCP on stdin and stdout instead of HTTP
  --admin          also serve POST /admin/invalidate, which drops cache
                   entries here and on every node sharing the Redis:
                   a JSON body {\"uri\": URI}, {\"method\": M},
                   {\"tool\": T} or {\"all\": true}. No access check:
                   loopback only
  -h, --help       print this
";

#[derive(Debug, Default)]
struct Flags {
    listen: Option<String>,
    redis: Option<String>,
    config: Option<PathBuf>,
    no_stack: bool,
    stdio: bool,
    admin: bool,
}

fn flags(mut args: impl Iterator<Item = String>) -> Result<Option<Flags>, String> {
    let mut flags = Flags::default();
    while let Some(arg) = args.next() {
        let mut value = |name: &str| args.next().ok_or_else(|| format!("{name} needs a value"));
        match arg.as_str() {
            "--listen" => flags.listen = Some(value("--listen")?),
            "--redis" => flags.redis = Some(value("--redis")?),
            "--config" => flags.config = Some(value("--config")?.into()),
            "--no-stack" => flags.no_stack = true,
            "--stdio" => flags.stdio = true,
            "--admin" => flags.admin = true,
            "-h" | "--help" => return Ok(None),
            other => return Err(format!("unknown argument `{other}` (see --help)")),
        }
    }
    if flags.admin && (flags.no_stack || flags.stdio) {
        return Err("--admin needs the stack served over HTTP".into());
    }
    if flags.redis.is_none() {
        flags.redis = std::env::var("MCP_REDIS_URL")
            .ok()
            .filter(|url| !url.is_empty());
    }
    Ok(Some(flags))
}

/// The demo's own settings under whatever the file says: `slow` is cached
/// and shared, its deadline covers the longest sleep, metrics know the tools.
fn configure(flags: &Flags) -> Result<StackConfig, Box<dyn std::error::Error>> {
    let mut config = StackConfig::load(flags.config.as_deref())?;
    if let Some(url) = &flags.redis {
        config.redis = Some(RedisConfig {
            url: url.clone(),
            ..config.redis.unwrap_or_default()
        });
    }
    if let Some(listen) = &flags.listen {
        config.http.listen = listen.clone();
    }
    config
        .cache
        .tools
        .entry("slow".into())
        .or_insert(RuleConfig {
            ttl: Some(TimeSpan::secs(60)),
            scope: Some(ScopeConfig::Public),
        });
    config
        .timeout
        .tools
        .entry("slow".into())
        .or_insert(TimeSpan::secs(61));
    config
        .timeout
        .methods
        .entry("resources/read".into())
        .or_insert(TimeSpan::secs(61));
    for tool in DemoServer::tool_names() {
        if !config.metrics.tools.contains(&tool) {
            config.metrics.tools.push(tool);
        }
    }
    if config.retry.read_only_tools.is_empty() {
        config.retry.read_only_tools = vec!["echo".into(), "whoami".into()];
    }
    Ok(config)
}

async fn run(flags: Flags) -> Result<(), Box<dyn std::error::Error>> {
    let config = configure(&flags)?;
    let server = DemoServer::new();
    if flags.no_stack {
        eprintln!("mcp-stack demo, bare: no layers, no /stats, no /metrics");
        return if flags.stdio {
            Ok(serve_stdio(server).await?)
        } else {
            Ok(HttpServer::new(server).config(config.http).run().await?)
        };
    }
    let stack = McpStack::from_config(&config)?
        .chunking(|chunking| chunking.source(Blobs))
        .tools_of(&server)
        .build()?;
    eprintln!("mcp-stack demo, with the stack:");
    eprint!("{}", stack.summary());
    let handler = stack.wrap(server);
    if flags.stdio {
        return Ok(serve_stdio(handler).await?);
    }
    let mut server = HttpServer::new(handler).stack(&stack).config(config.http);
    if flags.admin {
        eprintln!("admin            POST /admin/invalidate");
        server = server.routes(admin::routes(
            stack.cache().map(mcp_cache::CacheLayer::invalidator),
        ));
    }
    Ok(server.run().await?)
}

fn main() -> ExitCode {
    let flags = match flags(std::env::args().skip(1)) {
        Ok(Some(flags)) => flags,
        Ok(None) => {
            print!("{HELP}");
            return ExitCode::SUCCESS;
        }
        Err(problem) => {
            eprintln!("full_stack: {problem}");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("full_stack: cannot start the runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(flags)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("full_stack: {error}");
            ExitCode::FAILURE
        }
    }
}
