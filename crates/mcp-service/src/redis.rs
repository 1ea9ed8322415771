//! The Redis connection every mcp-stack tier shares (feature `redis`).
//!
//! One multiplexed [`ConnectionManager`] per process carries the shared
//! cache tier and global rate limits: cheap to
//! clone, pipelined, reconnecting by itself with backoff. [`connect`]
//! configures it for a request path: TCP_NODELAY, a response timeout so a
//! slow Redis cannot stall requests, a connection timeout, and bounded
//! reconnect attempts.
//!
//! [`connect_with_pushes`] gives a subscriber connection: RESP3, with the
//! server's pushes (pub/sub messages, disconnections) delivered to a
//! bounded [`Pushes`] receiver and subscriptions renewed after every
//! reconnect. The invalidation backplane rides on it. Keep commands on the
//! [`connect`] one: a connection that receives pushes answers each command
//! a hop later.

use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use redis::{
    Client, ConnectionInfo, IntoConnectionInfo, ProtocolVersion, PushInfo, RedisResult,
    aio::ConnectionManagerConfig, io::tcp::TcpSettings,
};
pub use redis::{RedisError, aio::ConnectionManager};
use tokio::sync::mpsc;

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
    let info = connection_info(url)?;
    ConnectionManager::new_lazy_with_config(Client::open(info)?, manager_config(options))
}

/// [`connect`], speaking RESP3, with the server's pushes delivered to the
/// returned [`Pushes`] (at most `capacity` waiting) and channel
/// subscriptions renewed on every reconnect. Subscribe with
/// [`ConnectionManager::subscribe`]. Fails only on a malformed URL.
pub fn connect_with_pushes(
    url: &str,
    options: RedisOptions,
    capacity: usize,
) -> RedisResult<(ConnectionManager, Pushes)> {
    let info = connection_info(url)?;
    let redis = info
        .redis_settings()
        .clone()
        .set_protocol(ProtocolVersion::RESP3);
    let info = info.set_redis_settings(redis);
    let (sender, receiver) = mpsc::channel(capacity.max(1));
    let overflowed = Arc::new(AtomicBool::new(false));
    let flag = overflowed.clone();
    // The connection must not wait for a slow reader: a push that finds the
    // queue full is dropped, and the reader is told that it lost some.
    let push = move |info: PushInfo| {
        if sender.try_send(info).is_err() {
            flag.store(true, Ordering::Release);
        }
        Ok::<(), ()>(())
    };
    let config = manager_config(options)
        .set_push_sender(push)
        .set_automatic_resubscription();
    let manager = ConnectionManager::new_lazy_with_config(Client::open(info)?, config)?;
    Ok((
        manager,
        Pushes {
            receiver,
            overflowed,
            pending: None,
        },
    ))
}

fn connection_info(url: &str) -> RedisResult<ConnectionInfo> {
    Ok(url
        .into_connection_info()?
        .set_tcp_settings(TcpSettings::default().set_nodelay(true)))
}

fn manager_config(options: RedisOptions) -> ConnectionManagerConfig {
    ConnectionManagerConfig::new()
        .set_response_timeout(Some(options.response_timeout))
        .set_connection_timeout(Some(options.connection_timeout))
        .set_number_of_retries(options.retries)
        .set_max_delay(options.max_retry_delay)
}

/// What the server pushed to a connection made by [`connect_with_pushes`].
#[derive(Debug)]
pub enum Push {
    /// A push: a pub/sub message, a subscription confirmation, or the
    /// library's `Disconnection` notice.
    Info(PushInfo),
    /// Pushes were dropped because the reader fell behind: whatever they
    /// said is unknown.
    Lost,
}

/// The receiving end of a connection's pushes; see [`connect_with_pushes`].
#[derive(Debug)]
pub struct Pushes {
    receiver: mpsc::Receiver<PushInfo>,
    overflowed: Arc<AtomicBool>,
    /// A push received while reporting a loss, handed out next.
    pending: Option<PushInfo>,
}

impl Pushes {
    /// The next push, [`Push::Lost`] first when some were dropped since the
    /// last call; `None` once the connection is gone for good.
    pub async fn recv(&mut self) -> Option<Push> {
        if self.overflowed.swap(false, Ordering::AcqRel) {
            return Some(Push::Lost);
        }
        if let Some(info) = self.pending.take() {
            return Some(Push::Info(info));
        }
        let info = self.receiver.recv().await?;
        if self.overflowed.swap(false, Ordering::AcqRel) {
            // Pushes were dropped while this one waited: report the loss
            // first, then hand this one out.
            self.pending = Some(info);
            return Some(Push::Lost);
        }
        Some(Push::Info(info))
    }
}
