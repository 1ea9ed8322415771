//! [`RedisBuckets`]: GCRA buckets in Redis, so processes share one limit.
//!
//! One Lua script decides atomically on the server: it reads the server's
//! clock (`TIME`), so clock skew between nodes cannot matter, charges the
//! bucket and sets it to expire once refilled, so idle keys cost Redis
//! nothing. It is sent once and then run by hash (`EVALSHA`). Times are in
//! microseconds, the resolution of `TIME`.
//!
//! A request never waits on Redis longer than the limit's Redis timeout,
//! even while the connection is reconnecting (commands wait for that), and
//! a small circuit breaker stops asking a Redis that keeps failing: a few
//! requests pay the timeout, the rest are decided locally at once, and a
//! probe a second or two later finds Redis again.

use std::{fmt, sync::Arc, time::Duration};

use mcp_breaker::{Circuit, CircuitBreakerLayer, Verdict, Window};
use mcp_service::redis::ConnectionManager;
use redis::Script;
use tokio::time::Instant;

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
    timeout: Duration,
    circuit: Arc<Circuit>,
}

/// Why Redis did not decide.
#[derive(Debug)]
pub(crate) enum Unanswered {
    /// The breaker is open: Redis was not asked.
    Open,
    /// Redis failed or did not answer in time.
    Failed,
}

impl RedisBuckets {
    pub(crate) fn new(
        connection: ConnectionManager,
        prefix: String,
        limiter: &str,
        interval_micros: u64,
        burst: u32,
        max_wait: Duration,
        timeout: Duration,
    ) -> Result<Self, mcp_breaker::ConfigError> {
        let circuit = CircuitBreakerLayer::builder()
            .name(format!("{limiter}.redis"))
            .window(Window::Count(20))
            .minimum_calls(10)
            .consecutive_failures(3)
            .open_duration(Duration::from_secs(1))
            .max_open_duration(Duration::from_secs(2))
            .half_open_calls(1)
            .build()?
            .handle()
            .circuit()
            .clone();
        Ok(Self {
            connection,
            prefix: prefix.into(),
            script: Arc::new(Script::new(GCRA)),
            interval_micros,
            capacity_micros: interval_micros.saturating_mul(u64::from(burst)),
            max_wait_micros: u64::try_from(max_wait.as_micros()).unwrap_or(u64::MAX),
            timeout,
            circuit,
        })
    }

    /// Decides a request of `cost` against the bucket `key` on the server,
    /// unless the breaker is open; within the timeout either way.
    pub(crate) async fn check(mut self, key: u64, cost: u32) -> Result<Decision, Unanswered> {
        let permit = self
            .circuit
            .try_acquire(Instant::now())
            .map_err(|_| Unanswered::Open)?;
        // A dropped request hands its permit back, so a probe slot is not lost.
        let permit = Held {
            circuit: &self.circuit,
            permit: Some(permit),
        };
        let started = Instant::now();
        let mut invocation = self.script.key(format!("{}:{key:016x}", self.prefix));
        invocation
            .arg(self.interval_micros)
            .arg(self.capacity_micros)
            .arg(cost)
            .arg(self.max_wait_micros);
        let invocation = invocation.invoke_async::<(u8, u64)>(&mut self.connection);
        let answer = tokio::time::timeout(self.timeout, invocation).await;
        let verdict = match answer {
            Ok(Ok(_)) => Verdict::Success,
            _ => Verdict::Failure,
        };
        permit.record(verdict, started.elapsed());
        let Ok(Ok((admitted, micros))) = answer else {
            return Err(Unanswered::Failed);
        };
        let after = Duration::from_micros(micros);
        Ok(match (admitted, micros) {
            (1, 0) => Decision::Admit,
            (1, _) => Decision::AdmitAfter(after),
            _ => Decision::Reject(after),
        })
    }
}

/// A breaker permit, released if dropped before its outcome is recorded.
struct Held<'a> {
    circuit: &'a Circuit,
    permit: Option<mcp_breaker::Permit>,
}

impl Held<'_> {
    fn record(mut self, verdict: Verdict, elapsed: Duration) {
        if let Some(permit) = self.permit.take() {
            self.circuit
                .record(permit, verdict, elapsed, Instant::now());
        }
    }
}

impl Drop for Held<'_> {
    fn drop(&mut self) {
        if let Some(permit) = self.permit.take() {
            self.circuit.release(permit);
        }
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
