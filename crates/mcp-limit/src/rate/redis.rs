//! [`RedisBuckets`]: GCRA buckets in Redis, so processes share one limit.
//!
//! One Lua script decides atomically on the server: it reads the server's
//! clock (`TIME`), so clock skew between nodes cannot matter, charges the
//! bucket and sets it to expire once refilled, so idle keys cost Redis
//! nothing. It is sent once and then run by hash (`EVALSHA`). Times are in
//! microseconds, the resolution of `TIME`.

use std::{fmt, sync::Arc, time::Duration};

use mcp_service::redis::ConnectionManager;
use redis::Script;

use super::Decision;

const GCRA: &str = r"
local interval = tonumber(ARGV[1])
local capacity = tonumber(ARGV[2])
local increment = interval * tonumber(ARGV[3])
local max_wait = tonumber(ARGV[4])
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000000 + tonumber(time[2])
local tat = tonumber(redis.call('GET', KEYS[1])) or now
if tat < now then tat = now end
local next_tat = tat + increment
local allowed_at = next_tat - capacity
if allowed_at > now + max_wait then
  return {0, allowed_at - now}
end
redis.call('SET', KEYS[1], string.format('%.0f', next_tat), 'PX',
  math.ceil((next_tat - now) / 1000) + 1)
if allowed_at <= now then return {1, 0} end
return {1, allowed_at - now}
";

/// What a global limit does while Redis cannot answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WhenUnavailable {
    /// Admit everything: availability over protection.
    FailOpen,
    /// Limit locally to this process's share: the rate and the burst
    /// divided by the expected number of `nodes`.
    Local {
        /// How many processes share the limit.
        nodes: u32,
    },
}

/// Where a global limit keeps its buckets: Redis, under a namespace every
/// process sharing the limit uses. Made with
/// [`RateLimitBuilder::redis`](super::RateLimitBuilder::redis).
#[derive(Clone)]
pub(crate) struct RedisBuckets {
    connection: ConnectionManager,
    prefix: Arc<str>,
    script: Arc<Script>,
    interval_micros: u64,
    capacity_micros: u64,
    max_wait_micros: u64,
}

impl RedisBuckets {
    pub(crate) fn new(
        connection: ConnectionManager,
        prefix: String,
        interval_micros: u64,
        burst: u32,
        max_wait: Duration,
    ) -> Self {
        Self {
            connection,
            prefix: prefix.into(),
            script: Arc::new(Script::new(GCRA)),
            interval_micros,
            capacity_micros: interval_micros.saturating_mul(u64::from(burst)),
            max_wait_micros: u64::try_from(max_wait.as_micros()).unwrap_or(u64::MAX),
        }
    }

    /// Decides a request of `cost` against the bucket `key` on the server.
    pub(crate) async fn check(mut self, key: u64, cost: u32) -> redis::RedisResult<Decision> {
        let (admitted, micros): (u8, u64) = self
            .script
            .key(format!("{}:{key:016x}", self.prefix))
            .arg(self.interval_micros)
            .arg(self.capacity_micros)
            .arg(cost)
            .arg(self.max_wait_micros)
            .invoke_async(&mut self.connection)
            .await?;
        let after = Duration::from_micros(micros);
        Ok(match (admitted, micros) {
            (1, 0) => Decision::Admit,
            (1, _) => Decision::AdmitAfter(after),
            _ => Decision::Reject(after),
        })
    }
}

impl fmt::Debug for RedisBuckets {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisBuckets")
            .field("prefix", &self.prefix)
            .field("interval_micros", &self.interval_micros)
            .field("capacity_micros", &self.capacity_micros)
            .finish_non_exhaustive()
    }
}
