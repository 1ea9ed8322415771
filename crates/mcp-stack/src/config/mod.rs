//! [`StackConfig`]: the stack in a TOML file, with environment overrides,
//! section for section what [`McpStack`](crate::McpStack)'s methods set.
//!
//! ```toml
//! [cache]
//! max_bytes = 134217728
//! stale_while_revalidate = "10s"
//! tools.slow = { ttl = "60s", scope = "public" }
//!
//! [[rate_limits]]
//! requests = 20
//! period = "1s"
//! key = "principal"
//!
//! [timeout]
//! default = "30s"
//! tools.slow = "10s"
//! ```
//!
//! Every key can be overridden from the environment:
//! `MCP_STACK__CACHE__MAX_BYTES=1048576` sets `cache.max_bytes`;
//! `MCP_STACK__RATE_LIMITS__0__REQUESTS=50` the first rate limit's
//! `requests`. Values are read as TOML (`30`, `true`, `"30s"`), or as a
//! string when they are not. A bad key or value is an error that names it,
//! and the variable it came from.

mod build;
pub(crate) mod env;
mod span;

use std::{collections::BTreeMap, path::Path};

use serde::{Deserialize, Serialize};

pub use span::TimeSpan;

use crate::error::StackError;

/// The prefix of environment overrides; `__` separates keys.
pub const ENV_PREFIX: &str = "MCP_STACK__";

/// The whole stack's configuration; every section is optional.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StackConfig {
    /// Redis for the shared cache tier, its backplane and global limits.
    pub redis: Option<RedisConfig>,
    /// Metrics, statistics and Prometheus.
    pub metrics: MetricsConfig,
    /// Up to two rate limits, in order.
    pub rate_limits: Vec<RateLimitConfig>,
    /// Chunked reads and the size guard.
    pub chunking: ChunkingConfig,
    /// List pagination.
    pub pagination: PaginationConfig,
    /// The cache.
    pub cache: CacheConfig,
    /// Bulkheads.
    pub concurrency: ConcurrencyConfig,
    /// The adaptive concurrency limit.
    pub adaptive: AdaptiveConfig,
    /// The circuit breaker.
    pub breaker: BreakerConfig,
    /// Deadlines.
    pub timeout: TimeoutConfig,
    /// Retries.
    pub retry: RetryConfig,
    /// How the HTTP helper serves the stack.
    pub http: HttpConfig,
}

/// `[redis]`. Its `Debug` hides the URL's password.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RedisConfig {
    /// `redis://host:port/db`. Never logged with its password.
    pub url: String,
    /// The namespace of every key and channel. Default `mcp-stack`.
    pub prefix: String,
    /// How long a Redis command may take. Default 250 ms.
    pub response_timeout: TimeSpan,
    /// How long connecting may take. Default 1 s.
    pub connection_timeout: TimeSpan,
}

impl std::fmt::Debug for RedisConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisConfig")
            .field("url", &crate::redact(&self.url))
            .field("prefix", &self.prefix)
            .field("response_timeout", &self.response_timeout)
            .field("connection_timeout", &self.connection_timeout)
            .finish()
    }
}

impl Default for RedisConfig {
    fn default() -> Self {
        Self {
            url: String::new(),
            prefix: "mcp-stack".into(),
            response_timeout: TimeSpan::millis(250),
            connection_timeout: TimeSpan::secs(1),
        }
    }
}

/// `[metrics]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MetricsConfig {
    /// Default on.
    pub enabled: bool,
    /// Install the Prometheus recorder. Default on.
    pub prometheus: bool,
    /// Tool names that get series of their own; others are `_OTHER`.
    pub tools: Vec<String>,
    /// Prompt names that get series of their own.
    pub prompts: Vec<String>,
    /// Request and response size histograms. Default off.
    pub sizes: bool,
    /// The statistics' sliding window. Default 60 s.
    pub stats_window: TimeSpan,
    /// Latency objectives the statistics report on.
    pub objectives: Vec<ObjectiveConfig>,
}

impl Default for MetricsConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            prometheus: true,
            tools: Vec::new(),
            prompts: Vec::new(),
            sizes: false,
            stats_window: TimeSpan::secs(60),
            objectives: Vec::new(),
        }
    }
}

/// One latency objective: a method or a tool, and a p95 and/or p99 bound.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ObjectiveConfig {
    /// The method covered (give this or `tool`).
    pub method: Option<String>,
    /// The tool covered.
    pub tool: Option<String>,
    /// The 95th percentile's bound.
    pub p95: Option<TimeSpan>,
    /// The 99th percentile's bound.
    pub p99: Option<TimeSpan>,
}

/// What a rate limit counts by.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RateKeyConfig {
    /// One limit for everyone.
    #[default]
    Global,
    /// One per principal.
    Principal,
    /// One per tool.
    Tool,
    /// One per method.
    Method,
}

/// `[[rate_limits]]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RateLimitConfig {
    /// The name in metrics.
    pub name: Option<String>,
    /// Requests admitted per `period`.
    pub requests: u32,
    /// Default 1 s.
    pub period: TimeSpan,
    /// Requests admitted at once after a quiet spell. Default `requests`.
    pub burst: Option<u32>,
    /// What the limit counts by. Default `global`.
    pub key: RateKeyConfig,
    /// Wait up to this long instead of rejecting. Default: reject at once.
    pub max_wait: Option<TimeSpan>,
    /// What calls of a tool cost, when more than one.
    pub costs: BTreeMap<String, u32>,
    /// Keys kept at most.
    pub max_keys: Option<u64>,
}

impl Default for RateLimitConfig {
    fn default() -> Self {
        Self {
            name: None,
            requests: 0,
            period: TimeSpan::secs(1),
            burst: None,
            key: RateKeyConfig::Global,
            max_wait: None,
            costs: BTreeMap::new(),
            max_keys: None,
        }
    }
}

/// `[chunking]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ChunkingConfig {
    /// Default on.
    pub enabled: bool,
    /// The largest chunk, encoded. Default 4 MiB.
    pub max_chunk_bytes: Option<usize>,
    /// The largest message that leaves. Default 16 MiB less 64 KiB.
    pub max_message_bytes: Option<usize>,
}

impl Default for ChunkingConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            max_chunk_bytes: None,
            max_message_bytes: None,
        }
    }
}

/// `[pagination]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PaginationConfig {
    /// Default on.
    pub enabled: bool,
    /// Items a page. Default 100.
    pub page_size: Option<usize>,
}

impl Default for PaginationConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            page_size: None,
        }
    }
}

/// Who may be served a cached result.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ScopeConfig {
    /// Anyone.
    Public,
    /// The asking principal only.
    Private,
}

/// A cache rule: overrides of `ttlMs` and `cacheScope`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RuleConfig {
    /// Fresh for this long, whatever the result says.
    pub ttl: Option<TimeSpan>,
    /// Shared this way, whatever the result says.
    pub scope: Option<ScopeConfig>,
}

/// `[cache]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CacheConfig {
    /// Default on.
    pub enabled: bool,
    /// The in-memory bound. Default 64 MiB.
    pub max_bytes: Option<u64>,
    /// The largest result kept. Default 1 MiB.
    pub max_entry_bytes: Option<usize>,
    /// Freshness of results without `ttlMs`. Default 30 s.
    pub default_ttl: Option<TimeSpan>,
    /// No result is fresh longer. Default 1 h.
    pub max_ttl: Option<TimeSpan>,
    /// The scope of results without `cacheScope`. Default private.
    pub assume_scope: Option<ScopeConfig>,
    /// Serve stale while refreshing, this long. Default off (`0s`).
    pub stale_while_revalidate: Option<TimeSpan>,
    /// Serve stale when the server fails, this long. Default 5 min; `0s` off.
    pub stale_if_error: Option<TimeSpan>,
    /// Mark served results in `_meta`. Default off.
    pub hit_marker: bool,
    /// Methods cached, or whose rule changes (`prompts/get`, ...).
    pub methods: BTreeMap<String, RuleConfig>,
    /// Default methods not to cache.
    pub without_methods: Vec<String>,
    /// Read-only tools whose calls are cached.
    pub tools: BTreeMap<String, RuleConfig>,
}

impl Default for CacheConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            max_bytes: None,
            max_entry_bytes: None,
            default_ttl: None,
            max_ttl: None,
            assume_scope: None,
            stale_while_revalidate: None,
            stale_if_error: None,
            hit_marker: false,
            methods: BTreeMap::new(),
            without_methods: Vec::new(),
            tools: BTreeMap::new(),
        }
    }
}

/// One bulkhead pool.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PoolConfig {
    /// Its name in metrics.
    pub name: String,
    /// Requests in flight at once.
    pub slots: usize,
    /// The tools it takes (give this or `methods`).
    pub tools: Vec<String>,
    /// The methods it takes.
    pub methods: Vec<String>,
}

/// A bulkhead queue.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct QueueConfig {
    /// Requests waiting at most.
    pub waiting: usize,
    /// How long one waits at most.
    pub timeout: TimeSpan,
}

impl Default for QueueConfig {
    fn default() -> Self {
        Self {
            waiting: 0,
            timeout: TimeSpan::secs(1),
        }
    }
}

/// `[concurrency]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ConcurrencyConfig {
    /// Default on.
    pub enabled: bool,
    /// Slots of the default pool. Default 512.
    pub max_in_flight: usize,
    /// Named pools, matched before the default one.
    pub pools: Vec<PoolConfig>,
    /// Wait for a slot instead of being shed at once.
    pub queue: Option<QueueConfig>,
}

impl Default for ConcurrencyConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            max_in_flight: crate::DEFAULT_MAX_IN_FLIGHT,
            pools: Vec::new(),
            queue: None,
        }
    }
}

/// `[adaptive]`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AdaptiveConfig {
    /// Default off.
    pub enabled: bool,
    /// The lowest limit.
    pub min_limit: Option<usize>,
    /// The highest limit.
    pub max_limit: Option<usize>,
    /// The limit at start.
    pub initial_limit: Option<usize>,
    /// Latency over the no-load latency tolerated, as a factor.
    pub tolerance: Option<f64>,
}

/// `[breaker]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BreakerConfig {
    /// Default on.
    pub enabled: bool,
    /// The name in metrics and stats.
    pub name: Option<String>,
    /// Judge the last this many calls. Default 100.
    pub window: Option<u32>,
    /// Calls needed before rates count. Default 20.
    pub minimum_calls: Option<u32>,
    /// Trip at this failure rate. Default 0.5.
    pub failure_rate: Option<f64>,
    /// Trip after this many failures in a row.
    pub consecutive_failures: Option<u32>,
    /// Open for this long first. Default 10 s.
    pub open_duration: Option<TimeSpan>,
    /// Never open longer. Default 120 s.
    pub max_open_duration: Option<TimeSpan>,
    /// Probes when half-open. Default 3.
    pub half_open_calls: Option<u32>,
}

impl Default for BreakerConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            name: None,
            window: None,
            minimum_calls: None,
            failure_rate: None,
            consecutive_failures: None,
            open_duration: None,
            max_open_duration: None,
            half_open_calls: None,
        }
    }
}

/// `[timeout]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TimeoutConfig {
    /// Default on.
    pub enabled: bool,
    /// Every request's deadline. Default 30 s.
    pub default: TimeSpan,
    /// Deadlines by method.
    pub methods: BTreeMap<String, TimeSpan>,
    /// Deadlines by tool.
    pub tools: BTreeMap<String, TimeSpan>,
}

impl Default for TimeoutConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            default: TimeSpan(crate::DEFAULT_TIMEOUT),
            methods: BTreeMap::new(),
            tools: BTreeMap::new(),
        }
    }
}

/// `[retry]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RetryConfig {
    /// Default on.
    pub enabled: bool,
    /// Retries of one request at most.
    pub max_retries: Option<u32>,
    /// Tools safe to repeat.
    pub read_only_tools: Vec<String>,
}

impl Default for RetryConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            max_retries: None,
            read_only_tools: Vec::new(),
        }
    }
}

/// `[http]`: how the serving helper listens.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HttpConfig {
    /// Address to listen on. Default `127.0.0.1:8080`.
    pub listen: String,
    /// Where MCP is served. Default `/mcp`.
    pub path: String,
    /// Request bodies refused above this. Default 4 MiB.
    pub max_body_bytes: usize,
    /// gzip plain JSON responses. Default on.
    pub compression: bool,
    /// In-flight requests are given this long to finish at shutdown.
    /// Default 10 s.
    pub shutdown_timeout: TimeSpan,
    /// `Host` values accepted, besides loopback. Default loopback only.
    pub allowed_hosts: Vec<String>,
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:8080".into(),
            path: "/mcp".into(),
            max_body_bytes: 4 << 20,
            compression: true,
            shutdown_timeout: TimeSpan::secs(10),
            allowed_hosts: Vec::new(),
        }
    }
}

impl StackConfig {
    /// The configuration in `text` (TOML), with overrides from `env`
    /// (`(name, value)` pairs; only names starting with [`ENV_PREFIX`]
    /// count).
    pub fn from_toml(
        text: &str,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Self, StackError> {
        let mut table: toml::Table = text
            .parse()
            .map_err(|error: toml::de::Error| StackError::Config(error.to_string()))?;
        let mut sources = Vec::new();
        for (name, value) in env {
            let Some(path) = name.strip_prefix(ENV_PREFIX) else {
                continue;
            };
            let keys: Vec<String> = path.split("__").map(str::to_ascii_lowercase).collect();
            env::set(&mut table, &keys, read_value(&value))
                .map_err(|problem| StackError::Config(format!("{name}: {problem}")))?;
            sources.push((keys.join("."), name));
        }
        serde_path_to_error::deserialize(toml::Value::Table(table)).map_err(|error| {
            let path = error.path().to_string();
            let from = sources
                .iter()
                .find(|(key, _)| path.starts_with(key.as_str()))
                .map(|(_, name)| format!(" (from {name})"))
                .unwrap_or_default();
            // The TOML deserializer appends its own, shorter path: ours is enough.
            let message = error.into_inner().to_string();
            let message = message.split("\nin `").next().unwrap_or_default();
            StackError::Config(format!("{path}: {message}{from}"))
        })
    }

    /// The configuration in the file at `path`, or the defaults without
    /// one, with this process's environment overrides.
    pub fn load(path: Option<&Path>) -> Result<Self, StackError> {
        let text = match path {
            Some(path) => std::fs::read_to_string(path)
                .map_err(|error| StackError::Config(format!("{}: {error}", path.display())))?,
            None => String::new(),
        };
        Self::from_toml(&text, std::env::vars())
    }
}

/// An environment value as TOML when it is one, else as a string.
pub(crate) fn read_value(value: &str) -> toml::Value {
    format!("value = {value}")
        .parse::<toml::Table>()
        .ok()
        .and_then(|mut table| table.remove("value"))
        .unwrap_or_else(|| toml::Value::String(value.to_owned()))
}

#[cfg(test)]
mod tests;
