//! Client sessions: what the gateway keeps per `Mcp-Session-Id`, the
//! upstream sessions each one maps to, and what a forwarded request carries
//! to the upstream leg ([`CallContext`]).

use std::{
    collections::HashMap,
    sync::{
        Arc, Mutex, PoisonError, RwLock,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use bytes::Bytes;
use http::HeaderValue;
use serde_json::value::RawValue;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::relay::Relay;

/// What an upstream leg needs to know about the request it forwards, put in
/// the request's extensions by the edge.
#[derive(Clone, Default)]
pub(crate) struct CallContext {
    /// The client session, when the client has one (not for stateless
    /// 2026-07-28 requests).
    pub(crate) session: Option<Arc<ClientSession>>,
    /// Where messages the upstream sends before its response go: the
    /// client's open POST, which turns into an event stream.
    pub(crate) relay: Option<Relay>,
    /// The client's `Authorization` header, forwarded or replaced per
    /// upstream.
    pub(crate) authorization: Option<HeaderValue>,
}

impl CallContext {
    /// Sends `message` to the client: on the request's stream when it has
    /// one, else on the session's GET stream. Returns whether it was taken;
    /// a full or closed stream drops it (the client is not reading).
    pub(crate) fn deliver(&self, message: Bytes) -> bool {
        if let Some(relay) = &self.relay
            && relay.try_send(message.clone())
        {
            return true;
        }
        self.session
            .as_ref()
            .is_some_and(|session| session.push(message))
    }
}

/// One upstream session of a client session: the upstream's
/// `Mcp-Session-Id` and the protocol version it negotiated.
#[derive(Debug, Default)]
pub(crate) struct UpstreamSlot {
    state: Mutex<SlotState>,
}

/// A copy of an [`UpstreamSlot`]'s state.
#[derive(Debug, Clone, Default)]
pub(crate) struct SlotState {
    /// The upstream's session id; `None` for a stateless upstream.
    pub(crate) session_id: Option<HeaderValue>,
    /// The protocol version the upstream negotiated, as a header value.
    pub(crate) version: Option<HeaderValue>,
    /// Whether `initialize` succeeded (and was not expired since).
    pub(crate) open: bool,
    /// Bumped at each (re)opening, so a listener of an older upstream
    /// session knows it is stale.
    pub(crate) generation: u64,
    /// The upstream's `initialize` result, for merged capabilities.
    pub(crate) result: Option<Arc<RawValue>>,
}

impl UpstreamSlot {
    pub(crate) fn get(&self) -> SlotState {
        self.state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Records a successful `initialize`; returns the new generation.
    pub(crate) fn opened(
        &self,
        session_id: Option<HeaderValue>,
        version: Option<HeaderValue>,
        result: Arc<RawValue>,
    ) -> u64 {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        state.session_id = session_id;
        state.version = version;
        state.open = true;
        state.generation += 1;
        state.result = Some(result);
        state.generation
    }

    /// The upstream forgot the session of `generation` (404): it must be
    /// opened again. An older generation's news changes nothing.
    pub(crate) fn expired(&self, generation: u64) {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        if state.generation == generation {
            state.open = false;
        }
    }
}

/// A server-to-client request relayed to this client, waiting for its
/// answer: where the answer goes back to.
#[derive(Debug, Clone)]
pub(crate) struct Callback {
    /// The upstream's index.
    pub(crate) upstream: usize,
    /// The upstream session it came from.
    pub(crate) upstream_session: Option<HeaderValue>,
    /// The id the upstream gave the request.
    pub(crate) upstream_id: Box<RawValue>,
}

/// A client session of the gateway.
pub(crate) struct ClientSession {
    pub(crate) id: Arc<str>,
    /// The version negotiated with the client (with one upstream, the one
    /// it negotiated).
    protocol_version: RwLock<Arc<str>>,
    /// The client's `initialize` params, to open upstream sessions later
    /// with the same capabilities and identity.
    pub(crate) init_params: Option<Box<RawValue>>,
    /// One per upstream, by index.
    pub(crate) slots: Box<[UpstreamSlot]>,
    in_flight: Mutex<HashMap<Box<str>, CancellationToken>>,
    callbacks: Mutex<HashMap<u64, Callback>>,
    next_callback: AtomicU64,
    outbox: Mutex<Option<mpsc::Sender<Bytes>>>,
    last_used: Mutex<Instant>,
    /// Cancelled when the session ends: its listeners stop.
    pub(crate) closed: CancellationToken,
}

impl std::fmt::Debug for ClientSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientSession")
            .field("protocol_version", &self.protocol_version())
            .finish_non_exhaustive()
    }
}

/// Messages the GET stream of a session holds for a slow reader at most.
pub(crate) const OUTBOX_CAPACITY: usize = 256;

impl ClientSession {
    pub(crate) fn new(
        id: Arc<str>,
        protocol_version: Arc<str>,
        init_params: Option<Box<RawValue>>,
        upstreams: usize,
    ) -> Self {
        Self {
            id,
            protocol_version: RwLock::new(protocol_version),
            init_params,
            slots: (0..upstreams).map(|_| UpstreamSlot::default()).collect(),
            in_flight: Mutex::default(),
            callbacks: Mutex::default(),
            next_callback: AtomicU64::new(1),
            outbox: Mutex::new(None),
            last_used: Mutex::new(Instant::now()),
            closed: CancellationToken::new(),
        }
    }

    /// The version negotiated with the client.
    pub(crate) fn protocol_version(&self) -> Arc<str> {
        self.protocol_version
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    pub(crate) fn set_protocol_version(&self, version: Arc<str>) {
        *self
            .protocol_version
            .write()
            .unwrap_or_else(PoisonError::into_inner) = version;
    }

    /// Ends the GET stream, if any.
    fn detach(&self) {
        *self.outbox.lock().unwrap_or_else(PoisonError::into_inner) = None;
    }

    /// Marks the session used now, for idle expiry.
    pub(crate) fn touch(&self) {
        *self
            .last_used
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Instant::now();
    }

    fn idle_for(&self) -> Duration {
        self.last_used
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .elapsed()
    }

    /// Registers a client request in flight (by its raw id) so a
    /// `notifications/cancelled` can reach it; the guard unregisters it.
    pub(crate) fn begin(self: &Arc<Self>, id: &RawValue) -> InFlight {
        let token = CancellationToken::new();
        let key: Box<str> = id.get().into();
        self.in_flight
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(key.clone(), token.clone());
        InFlight {
            session: self.clone(),
            key,
            token,
        }
    }

    /// Cancels the request the client gave `id` (raw JSON); returns whether
    /// one was in flight.
    pub(crate) fn cancel(&self, id: &RawValue) -> bool {
        let token = self
            .in_flight
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(id.get())
            .cloned();
        token.inspect(CancellationToken::cancel).is_some()
    }

    /// Registers a relayed server-to-client request; returns the id the
    /// client sees.
    pub(crate) fn register(&self, callback: Callback) -> u64 {
        let id = self.next_callback.fetch_add(1, Ordering::Relaxed);
        self.callbacks
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(id, callback);
        id
    }

    /// The relayed request the client answers with `id`.
    pub(crate) fn answered(&self, id: &RawValue) -> Option<Callback> {
        let id: u64 = id.get().parse().ok()?;
        self.callbacks
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&id)
    }

    /// Attaches a GET stream; a second one replaces the first, which ends.
    pub(crate) fn attach(&self) -> mpsc::Receiver<Bytes> {
        let (sender, receiver) = mpsc::channel(OUTBOX_CAPACITY);
        *self.outbox.lock().unwrap_or_else(PoisonError::into_inner) = Some(sender);
        receiver
    }

    /// Queues `message` on the GET stream; false when none is attached or
    /// it is full.
    pub(crate) fn push(&self, message: Bytes) -> bool {
        let outbox = self.outbox.lock().unwrap_or_else(PoisonError::into_inner);
        outbox
            .as_ref()
            .is_some_and(|sender| sender.try_send(message).is_ok())
    }
}

/// A client request in flight; unregistered on drop.
pub(crate) struct InFlight {
    session: Arc<ClientSession>,
    key: Box<str>,
    token: CancellationToken,
}

impl InFlight {
    /// Cancelled when the client cancels the request.
    pub(crate) fn token(&self) -> &CancellationToken {
        &self.token
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.session
            .in_flight
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&self.key);
    }
}

/// Every live client session, bounded in number and expired when idle.
pub(crate) struct SessionTable {
    sessions: RwLock<HashMap<Arc<str>, Arc<ClientSession>>>,
    max_sessions: usize,
    idle_timeout: Duration,
}

/// Why a session could not be made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct TooManySessions;

impl SessionTable {
    pub(crate) fn new(max_sessions: usize, idle_timeout: Duration) -> Self {
        Self {
            sessions: RwLock::default(),
            max_sessions,
            idle_timeout,
        }
    }

    pub(crate) fn get(&self, id: &str) -> Option<Arc<ClientSession>> {
        self.sessions
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(id)
            .cloned()
    }

    /// Adds `session`, expiring idle ones first when the table is full.
    pub(crate) fn insert(&self, session: Arc<ClientSession>) -> Result<(), TooManySessions> {
        if self.len() >= self.max_sessions {
            self.expire();
        }
        let mut sessions = self
            .sessions
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        if sessions.len() >= self.max_sessions {
            return Err(TooManySessions);
        }
        sessions.insert(session.id.clone(), session);
        Ok(())
    }

    pub(crate) fn remove(&self, id: &str) -> Option<Arc<ClientSession>> {
        let session = self
            .sessions
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(id)?;
        session.closed.cancel();
        session.detach();
        Some(session)
    }

    pub(crate) fn len(&self) -> usize {
        self.sessions
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }

    /// Every session, for notifications that concern all of them.
    pub(crate) fn all(&self) -> Vec<Arc<ClientSession>> {
        self.sessions
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .values()
            .cloned()
            .collect()
    }

    /// Ends the sessions idle longer than the timeout; returns them so
    /// their upstream sessions can be closed.
    pub(crate) fn expire(&self) -> Vec<Arc<ClientSession>> {
        let idle: Vec<Arc<str>> = self
            .sessions
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .values()
            .filter(|session| session.idle_for() > self.idle_timeout)
            .map(|session| session.id.clone())
            .collect();
        idle.iter().filter_map(|id| self.remove(id)).collect()
    }

    /// Ends every session (at shutdown).
    pub(crate) fn clear(&self) -> Vec<Arc<ClientSession>> {
        let sessions: Vec<_> = self
            .sessions
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .drain()
            .map(|(_, session)| session)
            .collect();
        for session in &sessions {
            session.closed.cancel();
            session.detach();
        }
        sessions
    }
}

/// A new session id: 128 random bits, hex, so ids cannot be guessed.
pub(crate) fn new_session_id() -> Option<Arc<str>> {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).ok()?;
    let mut id = String::with_capacity(32);
    for byte in bytes {
        use std::fmt::Write as _;
        let _ = write!(id, "{byte:02x}");
    }
    Some(id.into())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests fail loudly")]

    use super::*;

    fn session(id: &str) -> Arc<ClientSession> {
        Arc::new(ClientSession::new(id.into(), "2025-11-25".into(), None, 1))
    }

    fn raw(text: &str) -> Box<RawValue> {
        RawValue::from_string(text.into()).unwrap()
    }

    #[test]
    fn cancellation_finds_the_request_by_its_raw_id_until_it_ends() {
        let session = session("a");
        let in_flight = session.begin(&raw("7"));
        assert!(!session.cancel(&raw("8")));
        assert!(session.cancel(&raw("7")));
        assert!(in_flight.token().is_cancelled());
        drop(in_flight);
        assert!(!session.cancel(&raw("7")), "unregistered once finished");
    }

    #[test]
    fn callbacks_are_answered_once() {
        let session = session("a");
        let id = session.register(Callback {
            upstream: 0,
            upstream_session: None,
            upstream_id: raw(r#""s1""#),
        });
        let answered = session.answered(&raw(&id.to_string())).unwrap();
        assert_eq!(answered.upstream_id.get(), r#""s1""#);
        assert!(session.answered(&raw(&id.to_string())).is_none());
        assert!(session.answered(&raw(r#""x""#)).is_none());
    }

    #[test]
    fn the_table_is_bounded_and_expires_idle_sessions_to_make_room() {
        let table = SessionTable::new(1, Duration::ZERO);
        table.insert(session("a")).unwrap();
        // `a` has been idle longer than zero: it makes room for `b`.
        std::thread::sleep(Duration::from_millis(2));
        table.insert(session("b")).unwrap();
        assert!(table.get("a").is_none() && table.get("b").is_some());

        let table = SessionTable::new(1, Duration::from_secs(3600));
        table.insert(session("a")).unwrap();
        assert_eq!(table.insert(session("b")), Err(TooManySessions));
    }

    #[test]
    fn a_slot_expires_only_for_its_own_generation() {
        let slot = UpstreamSlot::default();
        let first = slot.opened(None, None, raw("{}").into());
        let second = slot.opened(None, None, raw("{}").into());
        slot.expired(first);
        assert!(slot.get().open, "stale news of an older session");
        slot.expired(second);
        assert!(!slot.get().open);
    }

    #[test]
    fn session_ids_are_long_and_distinct() {
        let (a, b) = (new_session_id().unwrap(), new_session_id().unwrap());
        assert_eq!(a.len(), 32);
        assert_ne!(a, b);
    }
}
