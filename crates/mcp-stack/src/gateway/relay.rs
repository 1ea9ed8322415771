//! The messages an upstream sends before a request's response, on their
//! way to the client's open POST: a bounded queue with one reader.
//!
//! Most calls get no such message, so a relay costs one allocation and
//! its queue none until a message comes (a tokio channel would allocate
//! its first block of slots with every request).

use std::{
    collections::VecDeque,
    sync::{Arc, Mutex, MutexGuard, PoisonError},
    task::{Context, Poll, Waker},
};

use bytes::Bytes;

/// A relay holding at most `capacity` messages: its sending side, which
/// the request carries, and its reading side, which the edge keeps.
pub(crate) fn relay(capacity: usize) -> (Relay, Relayed) {
    let shared = Arc::new(Shared {
        capacity,
        state: Mutex::new(State::default()),
    });
    (Relay(shared.clone()), Relayed(shared))
}

struct Shared {
    capacity: usize,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    queue: VecDeque<Bytes>,
    reader: Option<Waker>,
    reader_gone: bool,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The sending side, cloned with the request's context.
#[derive(Clone)]
pub(crate) struct Relay(Arc<Shared>);

impl Relay {
    /// Queues `message` for the client; `false` when the queue is full or
    /// nobody reads it any more (the caller sends it another way).
    pub(crate) fn try_send(&self, message: Bytes) -> bool {
        let mut state = self.0.lock();
        if state.reader_gone || state.queue.len() >= self.0.capacity {
            return false;
        }
        state.queue.push_back(message);
        let reader = state.reader.take();
        drop(state);
        if let Some(reader) = reader {
            reader.wake();
        }
        true
    }
}

/// The reading side. Dropped, it refuses further messages.
pub(crate) struct Relayed(Arc<Shared>);

impl Relayed {
    /// The next message, waking `cx` when one comes. It never ends: the
    /// edge stops reading when the call does.
    pub(crate) fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<Bytes> {
        let mut state = self.0.lock();
        if let Some(message) = state.queue.pop_front() {
            return Poll::Ready(message);
        }
        if !state
            .reader
            .as_ref()
            .is_some_and(|reader| reader.will_wake(cx.waker()))
        {
            state.reader = Some(cx.waker().clone());
        }
        Poll::Pending
    }

    /// The next message, if one is queued.
    pub(crate) fn try_recv(&mut self) -> Option<Bytes> {
        self.0.lock().queue.pop_front()
    }

    pub(crate) async fn recv(&mut self) -> Bytes {
        std::future::poll_fn(|cx| self.poll_recv(cx)).await
    }
}

impl Drop for Relayed {
    fn drop(&mut self) {
        let mut state = self.0.lock();
        state.reader_gone = true;
        state.queue.clear();
        state.reader = None;
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests fail loudly")]

    use std::time::Duration;

    use super::*;

    #[tokio::test]
    async fn messages_arrive_in_order_and_wake_the_reader() {
        let (relay, mut relayed) = relay(4);
        let reader = tokio::spawn(async move {
            let first = relayed.recv().await;
            let second = relayed.recv().await;
            (first, second)
        });
        tokio::time::sleep(Duration::from_millis(10)).await;
        assert!(relay.try_send(Bytes::from_static(b"one")));
        assert!(relay.clone().try_send(Bytes::from_static(b"two")));
        let (first, second) = tokio::time::timeout(Duration::from_secs(2), reader)
            .await
            .unwrap()
            .unwrap();
        assert_eq!((&first[..], &second[..]), (&b"one"[..], &b"two"[..]));
    }

    #[test]
    fn a_full_relay_and_a_relay_nobody_reads_refuse_messages() {
        let (relay, mut relayed) = relay(2);
        assert!(relay.try_send(Bytes::from_static(b"1")));
        assert!(relay.try_send(Bytes::from_static(b"2")));
        assert!(!relay.try_send(Bytes::from_static(b"3")), "full");
        assert_eq!(&relayed.try_recv().unwrap()[..], b"1");
        assert!(relay.try_send(Bytes::from_static(b"3")), "room again");
        drop(relayed);
        assert!(!relay.try_send(Bytes::from_static(b"4")), "nobody reads");
    }
}
