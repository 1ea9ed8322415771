//! The Redis connection every mcp-stack tier shares (feature `redis`).
//!
//! One multiplexed [`ConnectionManager`] per process carries the shared
//! cache tier, the invalidation backplane and global rate limits: cheap to
//! clone, pipelined, reconnecting by itself with backoff. [`connect`]
//! configures it for a request path: TCP_NODELAY, a response timeout so a
//! slow Redis cannot stall requests, a connection timeout, and bounded
//! reconnect attempts.

use std::time::Duration;

pub use redis::aio::ConnectionManager;
use redis::{
    Client, IntoConnectionInfo, RedisResult, aio::ConnectionManagerConfig, io::tcp::TcpSettings,
};

/// How the shared connection behaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RedisOptions {
    /// How long a command may take before it fails. Default 250 ms: a
    /// request path would rather fall back than wait.
    pub response_timeout: Duration,
    /// How long connecting may take. Default 1 s.
    pub connection_timeout: Duration,
    /// Reconnect attempts before a command fails, with exponential backoff
    /// up to `max_retry_delay`. Default 4 and 1 s.
    pub retries: usize,
    /// The longest pause between reconnect attempts.
    pub max_retry_delay: Duration,
}

impl Default for RedisOptions {
    fn default() -> Self {
        Self {
            response_timeout: Duration::from_millis(250),
            connection_timeout: Duration::from_secs(1),
            retries: 4,
            max_retry_delay: Duration::from_secs(1),
        }
    }
}

/// A connection to `url` (`redis://host:port/db`, `rediss://` with TLS
/// where the redis crate is built for it) that connects on first use, so a
/// server can start while Redis is down. Fails only on a malformed URL.
pub fn connect(url: &str, options: RedisOptions) -> RedisResult<ConnectionManager> {
    let info = url
        .into_connection_info()?
        .set_tcp_settings(TcpSettings::default().set_nodelay(true));
    let config = ConnectionManagerConfig::new()
        .set_response_timeout(Some(options.response_timeout))
        .set_connection_timeout(Some(options.connection_timeout))
        .set_number_of_retries(options.retries)
        .set_max_delay(options.max_retry_delay);
    ConnectionManager::new_lazy_with_config(Client::open(info)?, config)
}
