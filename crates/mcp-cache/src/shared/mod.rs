//! The shared tier and the invalidation backplane, over the process's
//! Redis connection and a subscriber connection (feature `redis`).
//!
//! - **Values** live under `{prefix}:v:{hash}`, where the hash covers the
//!   cache key and the generations of the entry's tags: an invalidation
//!   anywhere moves a generation, and the old entries become unreachable at
//!   once, on every node, without deleting anything. Each is a versioned
//!   [`envelope`] with a Redis expiry at the end of its stale windows.
//! - **Generations** live in the hash `{prefix}:gens`, one field per slot,
//!   beside an `epoch` and a sequence number `seq`. Invalidating runs one
//!   Lua script that raises the slots, counts the sequence and publishes
//!   `{epoch}:{seq} {slot}:{generation} ...` on `{prefix}:invalidations`.
//!   Messages carry slot numbers, never keys, URIs or values. A raised
//!   generation is at least the Redis server's clock in microseconds, so
//!   one made after Redis lost its data (a restart without persistence, a
//!   flush, an eviction) still passes every generation a node remembers,
//!   and the new epoch tells the nodes to resync.
//! - **The backplane** reads those messages from a subscriber connection's pushes
//!   and raises its own generations. Pub/sub is at-most-once, so a gap in
//!   the sequence, lost pushes or a disconnection means messages may be
//!   missing: the node then reloads the generations and clears its
//!   in-memory tier. Invalidations made while Redis was unreachable are
//!   kept (one bit a slot) and replayed when it is back.
//! - **Failures** never fail a request: reads go through a small circuit
//!   breaker, so a slow or dead Redis costs one timeout a few times, then
//!   nothing; writes go through a bounded queue to one writer task, so they
//!   never delay a response.

pub(crate) mod envelope;

use std::{
    any::Any,
    collections::BTreeMap,
    sync::{
        Arc, Mutex, PoisonError, Weak,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use mcp_breaker::{Circuit, CircuitBreakerLayer, Verdict, Window};
use mcp_service::{
    CacheKey, McpResponse, Partition,
    redis::{ConnectionManager, Push, Pushes},
};
use redis::{PushKind, Script, Value};
use tokio::{sync::mpsc, time::Instant};
use tokio_util::sync::{CancellationToken, DropGuard};
use xxhash_rust::xxh3::Xxh3Default;

use crate::{
    core::{Core, Served},
    entry::Stored,
    freshness::{Freshness, Lifetime, Policy},
    generations::{Slot, Stamp},
    plan::{Plan, Target},
    signals::{Operation, Signals, Source, Tier},
};

use envelope::Header;

/// Raises the given slots to at least one past their stored value, the
/// caller's own generation and the server's clock in microseconds, counts
/// the sequence (starting a new epoch when the hash is gone), and publishes.
const INVALIDATE: &str = r"
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000000 + tonumber(time[2])
local epoch = redis.call('HGET', KEYS[1], 'epoch')
if not epoch then
  epoch = string.format('%d', now)
  redis.call('HSET', KEYS[1], 'epoch', epoch)
end
local parts = {}
local raised = {}
for i = 2, #ARGV, 2 do
  local slot = ARGV[i]
  local wanted = tonumber(ARGV[i + 1])
  local current = tonumber(redis.call('HGET', KEYS[1], slot)) or 0
  local generation = math.max(current + 1, wanted, now)
  local text = string.format('%d', generation)
  redis.call('HSET', KEYS[1], slot, text)
  parts[#parts + 1] = slot .. ':' .. text
  raised[#raised + 1] = text
end
local seq = redis.call('HINCRBY', KEYS[1], 'seq', 1)
redis.call('PUBLISH', ARGV[1], epoch .. ':' .. string.format('%d', seq) .. ' ' .. table.concat(parts, ' '))
return raised
";

/// The Redis tier of a cache: the process's shared connection, the
/// subscriber connection whose pushes carry the backplane, and the knobs
/// of the tier. Give it to [`CacheBuilder::redis`](crate::CacheBuilder::redis).
///
/// Two connections, because a connection that receives pushes answers
/// every command a hop later (some 30 µs on loopback): reads and writes go
/// on the plain one, which rate limits share, and only subscriptions ride
/// on the other.
///
/// ```no_run
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// use mcp_cache::{CacheLayer, RedisTier};
/// use mcp_service::redis::{RedisOptions, connect, connect_with_pushes};
///
/// let url = "redis://127.0.0.1:6379/";
/// let commands = connect(url, RedisOptions::default())?;
/// let (subscriber, pushes) = connect_with_pushes(url, RedisOptions::default(), 1024)?;
/// let cache = CacheLayer::builder()
///     .redis(RedisTier::new(commands, subscriber, pushes).prefix("my-app:cache"))
///     .build()?;
/// # let _ = cache; Ok(()) }
/// ```
pub struct RedisTier {
    connection: ConnectionManager,
    subscriber: ConnectionManager,
    pushes: Pushes,
    prefix: String,
    compress_above: usize,
    write_queue: usize,
    retry_every: Duration,
}

impl std::fmt::Debug for RedisTier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisTier")
            .field("prefix", &self.prefix)
            .field("compress_above", &self.compress_above)
            .field("write_queue", &self.write_queue)
            .finish_non_exhaustive()
    }
}

impl RedisTier {
    /// The tier over `connection` (made by
    /// [`connect`](mcp_service::redis::connect)) for reads, writes and
    /// invalidations, and `subscriber` with its `pushes` (made by
    /// [`connect_with_pushes`](mcp_service::redis::connect_with_pushes)) for
    /// the backplane.
    pub fn new(
        connection: ConnectionManager,
        subscriber: ConnectionManager,
        pushes: Pushes,
    ) -> Self {
        Self {
            connection,
            subscriber,
            pushes,
            prefix: "mcp-stack:cache".into(),
            compress_above: 8 << 10,
            write_queue: 4096,
            retry_every: Duration::from_millis(500),
        }
    }

    /// The namespace of every key and channel. Default `mcp-stack:cache`;
    /// nodes that share entries use the same one.
    #[must_use]
    pub fn prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }

    /// Values larger than this many bytes are stored zstd-compressed.
    /// Default 8 KiB.
    #[must_use]
    pub fn compress_above(mut self, bytes: usize) -> Self {
        self.compress_above = bytes;
        self
    }

    /// Writes waiting for Redis at most; more are dropped (and counted as
    /// `set` errors) rather than held. Default 4096.
    #[must_use]
    pub fn write_queue(mut self, writes: usize) -> Self {
        self.write_queue = writes.max(1);
        self
    }

    /// How often the backplane tries again while Redis is unreachable.
    /// Default 500 ms.
    #[must_use]
    pub fn retry_every(mut self, interval: Duration) -> Self {
        self.retry_every = interval;
        self
    }
}

struct Names {
    values: String,
    generations: String,
    channel: String,
}

/// What the request path and the backplane task share.
struct State {
    connected: AtomicBool,
    /// Slots invalidated here while Redis could not be told, with the
    /// generation reached: replayed on reconnect.
    pending: Mutex<BTreeMap<Slot, u64>>,
}

impl State {
    fn pending(&self) -> std::sync::MutexGuard<'_, BTreeMap<Slot, u64>> {
        self.pending.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// One value to write, encoded by the writer task.
struct Write {
    key: String,
    header: Header,
    value: Option<Arc<dyn Any + Send + Sync>>,
    encode: fn(&(dyn Any + Send + Sync)) -> Option<Vec<u8>>,
}

fn encode_as<V: McpResponse + 'static>(value: &(dyn Any + Send + Sync)) -> Option<Vec<u8>> {
    value.downcast_ref::<V>()?.encode().ok()
}

fn no_body(_: &(dyn Any + Send + Sync)) -> Option<Vec<u8>> {
    Some(Vec::new())
}

/// The shared tier of one cache.
pub(crate) struct Shared {
    connection: ConnectionManager,
    names: Arc<Names>,
    circuit: Arc<Circuit>,
    state: Arc<State>,
    writes: mpsc::Sender<Write>,
    script: Arc<Script>,
    max_body: usize,
    signals: Arc<Signals>,
    _stop: DropGuard,
}

/// The tasks of a shared tier, started once the core exists.
pub(crate) struct Tasks {
    backplane: Backplane,
    writer: Writer,
}

impl Tasks {
    pub(crate) fn start(self, core: Weak<Core>) {
        let Self { backplane, writer } = self;
        tokio::spawn(writer.run());
        tokio::spawn(backplane.run(core));
    }
}

impl Shared {
    /// The tier, and its tasks to start once the core exists.
    pub(crate) fn new(
        tier: RedisTier,
        name: &str,
        max_body: usize,
        signals: Arc<Signals>,
    ) -> Result<(Self, Tasks), mcp_breaker::ConfigError> {
        let circuit = CircuitBreakerLayer::builder()
            .name(format!("{name}.redis"))
            .window(Window::Count(20))
            .minimum_calls(10)
            .consecutive_failures(3)
            .open_duration(Duration::from_secs(1))
            .max_open_duration(Duration::from_secs(5))
            .half_open_calls(1)
            .build()?
            .handle()
            .circuit()
            .clone();
        let names = Arc::new(Names {
            values: format!("{}:v:", tier.prefix),
            generations: format!("{}:gens", tier.prefix),
            channel: format!("{}:invalidations", tier.prefix),
        });
        let state = Arc::new(State {
            connected: AtomicBool::new(false),
            pending: Mutex::default(),
        });
        let script = Arc::new(Script::new(INVALIDATE));
        let (writes, queue) = mpsc::channel(tier.write_queue);
        let stop = CancellationToken::new();
        let tasks = Tasks {
            backplane: Backplane {
                connection: tier.connection.clone(),
                subscriber: tier.subscriber,
                pushes: tier.pushes,
                names: names.clone(),
                state: state.clone(),
                script: script.clone(),
                signals: signals.clone(),
                retry_every: tier.retry_every,
                stop: stop.clone(),
            },
            writer: Writer {
                connection: tier.connection.clone(),
                queue,
                circuit: circuit.clone(),
                signals: signals.clone(),
                compress_above: tier.compress_above,
            },
        };
        let shared = Self {
            connection: tier.connection,
            names,
            circuit,
            state,
            writes,
            script,
            max_body: max_body.saturating_add(64),
            signals,
            _stop: stop.drop_guard(),
        };
        Ok((shared, tasks))
    }

    /// Whether the tier is connected and its breaker admits calls.
    pub(crate) fn is_connected(&self) -> bool {
        self.state.connected.load(Ordering::Acquire)
    }

    fn value_key(&self, key: CacheKey, stamp: &Stamp) -> String {
        let mut hasher = Xxh3Default::new();
        hasher.update(&key.to_bytes());
        for (slot, generation) in stamp.pairs() {
            hasher.update(&slot.0.to_le_bytes());
            hasher.update(&generation.to_le_bytes());
        }
        format!("{}{:032x}", self.names.values, hasher.digest128())
    }

    /// Reads `plan` from Redis: its public entry, or, behind a private
    /// mark, the asker's own. A fresh hit is also kept in memory.
    pub(crate) async fn fetch<V>(
        &self,
        core: &Core,
        plan: &Plan,
        stamp: &Stamp,
    ) -> Option<(V, Served, Partition)>
    where
        V: McpResponse + Clone + Send + Sync + 'static,
    {
        if !self.is_connected() {
            return None;
        }
        let permit = self.circuit.try_acquire(Instant::now()).ok()?;
        let public = plan.public_target();
        let private = plan.private_target();
        let mut pipe = redis::pipe();
        for target in std::iter::once(public).chain(private) {
            let key = self.value_key(target.key, stamp);
            pipe.get(&key).pttl(key);
        }
        let started = Instant::now();
        let reply: redis::RedisResult<Vec<Value>> =
            pipe.query_async(&mut self.connection.clone()).await;
        let reply = match reply {
            Ok(reply) => {
                self.circuit
                    .record(permit, Verdict::Success, started.elapsed(), Instant::now());
                reply
            }
            Err(_) => {
                self.circuit
                    .record(permit, Verdict::Failure, started.elapsed(), Instant::now());
                self.signals.redis_error(Operation::Get);
                return None;
            }
        };
        let mut values = reply.into_iter();
        let mut next = || -> Option<(Vec<u8>, i64)> {
            let bytes = redis::from_redis_value::<Option<Vec<u8>>>(values.next()?).ok()??;
            let ttl = redis::from_redis_value::<i64>(values.next()?).ok()?;
            Some((bytes, ttl))
        };
        let now = core.clock.nanos();
        let (lifetime, body, private_mark) = self.open(next(), public, now, &core.policy)?;
        if !private_mark {
            return self.hit(core, public, stamp, lifetime, &body, now);
        }
        core.fill_l1(public, Stored::Private, *stamp, lifetime, 0);
        let private = private?;
        match self.open(next(), private, now, &core.policy)? {
            (lifetime, body, false) => self.hit(core, private, stamp, lifetime, &body, now),
            (_, _, true) => None,
        }
    }

    /// Checks an envelope read for `target`: it must decode, belong to the
    /// target's key and partition, and still be fresh.
    fn open(
        &self,
        read: Option<(Vec<u8>, i64)>,
        target: Target,
        now: u64,
        policy: &Policy,
    ) -> Option<(Lifetime, Vec<u8>, bool)> {
        let (bytes, pttl) = read?;
        let (header, body) = envelope::decode(&bytes, self.max_body).ok()?;
        if header.key != target.key || header.partition != target.partition || pttl <= 0 {
            return None;
        }
        // Redis counts down the entry's life on one clock for every node.
        let remaining = Duration::from_millis(pttl.unsigned_abs());
        let age = header.span.saturating_sub(remaining);
        let lifetime = Lifetime::aged(header.fresh, policy, now, age);
        (lifetime.at(now) == Freshness::Fresh).then_some((lifetime, body, header.private_mark))
    }

    fn hit<V>(
        &self,
        core: &Core,
        target: Target,
        stamp: &Stamp,
        lifetime: Lifetime,
        body: &[u8],
        now: u64,
    ) -> Option<(V, Served, Partition)>
    where
        V: McpResponse + Clone + Send + Sync + 'static,
    {
        let value = V::decode(body).ok()?;
        let shared: Arc<dyn Any + Send + Sync> = Arc::new(value.clone());
        core.fill_l1(target, Stored::Value(shared), *stamp, lifetime, body.len());
        let served = Served::Cached {
            tier: Tier::L2,
            age: lifetime.age(now),
            stale: false,
        };
        Some((value, served, target.partition))
    }

    /// Queues `value` for Redis, under its target and stamp.
    pub(crate) fn put<V: McpResponse + 'static>(
        &self,
        target: Target,
        stamp: &Stamp,
        value: Arc<dyn Any + Send + Sync>,
        lifetime: &Lifetime,
    ) {
        self.queue(Write {
            key: self.value_key(target.key, stamp),
            header: header(target, lifetime, false),
            value: Some(value),
            encode: encode_as::<V>,
        });
    }

    /// Queues the mark that `target`'s request has private results.
    pub(crate) fn put_private_mark(&self, target: Target, stamp: &Stamp, lifetime: &Lifetime) {
        self.queue(Write {
            key: self.value_key(target.key, stamp),
            header: header(target, lifetime, true),
            value: None,
            encode: no_body,
        });
    }

    fn queue(&self, write: Write) {
        if !self.is_connected() {
            return;
        }
        if self.writes.try_send(write).is_err() {
            self.signals.redis_error(Operation::Set);
        }
    }

    /// Tells every node about invalidations made here, raising this node's
    /// generations to what Redis settled on. Unreachable, the slots are
    /// kept for the backplane to replay once Redis is back.
    pub(crate) async fn publish(&self, core: &Core, bumped: &[(Slot, u64)]) {
        if self.is_connected() {
            match invalidate(&self.connection, &self.script, &self.names, bumped).await {
                Ok(raised) => {
                    for (slot, generation) in raised {
                        core.generations.raise(slot, generation);
                    }
                    return;
                }
                Err(_) => self.signals.redis_error(Operation::Publish),
            }
        }
        let mut pending = self.state.pending();
        for &(slot, generation) in bumped {
            let entry = pending.entry(slot).or_insert(generation);
            *entry = (*entry).max(generation);
        }
    }
}

fn header(target: Target, lifetime: &Lifetime, private_mark: bool) -> Header {
    let stored_at_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| {
            u64::try_from(since.as_millis()).unwrap_or(u64::MAX)
        });
    Header {
        private_mark,
        stored_at_ms,
        fresh: lifetime.fresh_for(),
        span: lifetime.span(),
        key: target.key,
        partition: target.partition,
    }
}

/// Runs the invalidation script for `bumped`; the generations Redis settled on.
async fn invalidate(
    connection: &ConnectionManager,
    script: &Script,
    names: &Names,
    bumped: &[(Slot, u64)],
) -> redis::RedisResult<Vec<(Slot, u64)>> {
    let mut invocation = script.key(&names.generations);
    invocation.arg(&names.channel);
    for (slot, generation) in bumped {
        invocation.arg(slot.0).arg(*generation);
    }
    let raised: Vec<u64> = invocation.invoke_async(&mut connection.clone()).await?;
    Ok(bumped.iter().map(|(slot, _)| *slot).zip(raised).collect())
}

/// Writes queued values to Redis, a pipeline at a time.
struct Writer {
    connection: ConnectionManager,
    queue: mpsc::Receiver<Write>,
    circuit: Arc<Circuit>,
    signals: Arc<Signals>,
    compress_above: usize,
}

impl Writer {
    async fn run(mut self) {
        let mut batch = Vec::with_capacity(64);
        while self.queue.recv_many(&mut batch, 64).await > 0 {
            let Ok(permit) = self.circuit.try_acquire(Instant::now()) else {
                // Redis is failing: drop what waits rather than pile it up.
                batch.clear();
                continue;
            };
            let mut pipe = redis::pipe();
            for write in batch.drain(..) {
                let body = match &write.value {
                    Some(value) => (write.encode)(&**value),
                    None => Some(Vec::new()),
                };
                let Some(body) = body else { continue };
                let bytes = envelope::encode(&write.header, &body, self.compress_above);
                let millis = u64::try_from(write.header.span.as_millis()).unwrap_or(u64::MAX);
                pipe.cmd("SET")
                    .arg(&write.key)
                    .arg(bytes)
                    .arg("PX")
                    .arg(millis.max(1))
                    .ignore();
            }
            let started = Instant::now();
            let written: redis::RedisResult<()> = pipe.query_async(&mut self.connection).await;
            let verdict = if written.is_ok() {
                Verdict::Success
            } else {
                self.signals.redis_error(Operation::Set);
                Verdict::Failure
            };
            self.circuit
                .record(permit, verdict, started.elapsed(), Instant::now());
        }
    }
}

/// Keeps this node's generations in step with every other node's.
struct Backplane {
    connection: ConnectionManager,
    subscriber: ConnectionManager,
    pushes: Pushes,
    names: Arc<Names>,
    state: Arc<State>,
    script: Arc<Script>,
    signals: Arc<Signals>,
    retry_every: Duration,
    stop: CancellationToken,
}

/// Why the backplane must sync again.
enum Resync {
    Gap,
    Disconnected,
    Stopped,
}

impl Backplane {
    async fn run(mut self, core: Weak<Core>) {
        let mut first = true;
        loop {
            let position = loop {
                let Some(core) = core.upgrade() else { return };
                match self.sync(&core, first).await {
                    Ok(position) => break position,
                    Err(_) => self.signals.redis_error(Operation::Subscribe),
                }
                drop(core);
                tokio::select! {
                    () = self.stop.cancelled() => return,
                    () = tokio::time::sleep(self.retry_every) => {}
                }
            };
            first = false;
            self.state.connected.store(true, Ordering::Release);
            let reason = self.listen(&core, position).await;
            self.state.connected.store(false, Ordering::Release);
            match reason {
                Resync::Stopped => return,
                Resync::Gap | Resync::Disconnected => {}
            }
        }
    }

    /// Subscribes, replays what was invalidated here while Redis was away,
    /// takes the shared generations, and clears memory unless this is the
    /// first sync: whatever was missed meanwhile is then gone too.
    async fn sync(&mut self, core: &Core, first: bool) -> redis::RedisResult<Position> {
        self.subscriber.subscribe(&self.names.channel).await?;
        let pending: Vec<(Slot, u64)> = {
            let pending = self.state.pending();
            pending
                .iter()
                .map(|(slot, generation)| (*slot, *generation))
                .collect()
        };
        if !pending.is_empty() {
            let raised = invalidate(&self.connection, &self.script, &self.names, &pending).await?;
            let mut still = self.state.pending();
            for (slot, generation) in raised {
                core.generations.raise(slot, generation);
                if still.get(&slot).is_some_and(|wanted| *wanted <= generation) {
                    still.remove(&slot);
                }
            }
        }
        let table: Vec<(String, String)> = redis::cmd("HGETALL")
            .arg(&self.names.generations)
            .query_async(&mut self.connection)
            .await?;
        let mut position = Position {
            epoch: None,
            sequence: 0,
        };
        for (field, value) in &table {
            let Ok(value) = value.parse::<u64>() else {
                continue;
            };
            match field.as_str() {
                "epoch" => position.epoch = Some(value),
                "seq" => position.sequence = value,
                slot => {
                    if let Some(slot) = slot.parse().ok().and_then(Slot::new) {
                        core.generations.raise(slot, value);
                    }
                }
            }
        }
        if !first {
            if let Some(l1) = &core.l1 {
                l1.clear();
            }
            core.signals.invalidated(Source::Gap);
        }
        Ok(position)
    }

    /// Applies messages until a gap, a new epoch or a disconnection.
    async fn listen(&mut self, core: &Weak<Core>, mut position: Position) -> Resync {
        loop {
            let push = tokio::select! {
                () = self.stop.cancelled() => return Resync::Stopped,
                push = self.pushes.recv() => push,
            };
            let info = match push {
                None => return Resync::Stopped,
                Some(Push::Lost) => return Resync::Gap,
                Some(Push::Info(info)) => info,
            };
            match info.kind {
                PushKind::Disconnection => return Resync::Disconnected,
                PushKind::Message => {}
                _ => continue,
            }
            let Some(message) = parse_message(&self.names.channel, info.data) else {
                continue;
            };
            let Some(core) = core.upgrade() else {
                return Resync::Stopped;
            };
            for (slot, generation) in message.pairs {
                core.generations.raise(slot, generation);
            }
            match position.epoch {
                Some(epoch) if epoch == message.epoch => {}
                // The first invalidation since the hash was made: its epoch
                // begins here, so nothing before it can have been missed.
                None if message.sequence == 1 => position.epoch = Some(message.epoch),
                // Redis lost its data, or messages of a new epoch were missed.
                _ => {
                    core.signals.invalidated(Source::Backplane);
                    return Resync::Gap;
                }
            }
            if message.sequence <= position.sequence {
                continue;
            }
            core.signals.invalidated(Source::Backplane);
            if message.sequence > position.sequence + 1 {
                return Resync::Gap;
            }
            position.sequence = message.sequence;
        }
    }
}

/// Where the backplane stands: the epoch of the generations hash (none
/// before its first invalidation) and the last sequence number applied.
#[derive(Clone, Copy)]
struct Position {
    epoch: Option<u64>,
    sequence: u64,
}

/// An invalidation heard on the backplane.
struct Message {
    epoch: u64,
    sequence: u64,
    pairs: Vec<(Slot, u64)>,
}

/// `{epoch}:{seq} {slot}:{generation} ...` on our channel.
fn parse_message(channel: &str, data: Vec<Value>) -> Option<Message> {
    let (name, payload): (String, String) = redis::from_redis_value(Value::Array(data)).ok()?;
    if name != channel {
        return None;
    }
    let mut words = payload.split(' ');
    let (epoch, sequence) = words.next()?.split_once(':')?;
    let pairs = words
        .filter_map(|word| {
            let (slot, generation) = word.split_once(':')?;
            Some((Slot::new(slot.parse().ok()?)?, generation.parse().ok()?))
        })
        .collect();
    Some(Message {
        epoch: epoch.parse().ok()?,
        sequence: sequence.parse().ok()?,
        pairs,
    })
}
