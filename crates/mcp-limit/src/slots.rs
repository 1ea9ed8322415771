//! [`Slots`]: a counted set of concurrency slots with a movable limit and a
//! bounded set of waiters, shared by the bulkheads and the adaptive limit.
//!
//! Taking a free slot is one compare-and-swap and giving it back one
//! subtraction; waiters are woken through a [`Notify`] only when there are
//! any. A slot is a guard: dropping it gives the slot back, so a cancelled
//! call cannot leak capacity.

use std::{
    fmt,
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering::SeqCst},
    },
};

use metrics::Gauge;
use tokio::sync::{Notify, futures::OwnedNotified};

pub(crate) struct Slots {
    in_use: AtomicUsize,
    /// Follows `in_use` for metrics.
    in_flight: Gauge,
    limit: AtomicUsize,
    waiting: AtomicUsize,
    max_waiting: usize,
    freed: Arc<Notify>,
}

impl Slots {
    pub(crate) fn new(limit: usize, max_waiting: usize, in_flight: Gauge) -> Arc<Self> {
        Arc::new(Self {
            in_use: AtomicUsize::new(0),
            in_flight,
            limit: AtomicUsize::new(limit),
            waiting: AtomicUsize::new(0),
            max_waiting,
            freed: Arc::new(Notify::new()),
        })
    }

    /// A slot, if one is free under the limit.
    #[inline]
    pub(crate) fn try_acquire(self: &Arc<Self>) -> Option<Slot> {
        let limit = self.limit.load(SeqCst);
        let mut in_use = self.in_use.load(SeqCst);
        loop {
            if in_use >= limit {
                return None;
            }
            match self
                .in_use
                .compare_exchange_weak(in_use, in_use + 1, SeqCst, SeqCst)
            {
                Ok(_) => {
                    self.in_flight.set((in_use + 1) as f64);
                    return Some(Slot(self.clone()));
                }
                Err(actual) => in_use = actual,
            }
        }
    }

    /// A place among the waiters, if the queue has room.
    pub(crate) fn try_wait(self: &Arc<Self>) -> Option<Place> {
        self.waiting
            .fetch_update(SeqCst, SeqCst, |waiting| {
                (waiting < self.max_waiting).then_some(waiting + 1)
            })
            .ok()
            .map(|_| Place(self.clone()))
    }

    /// Slots taken now.
    pub(crate) fn in_use(&self) -> usize {
        self.in_use.load(SeqCst)
    }

    /// The limit now.
    pub(crate) fn limit(&self) -> usize {
        self.limit.load(SeqCst)
    }

    /// Moves the limit; calls already running keep their slots.
    pub(crate) fn set_limit(&self, limit: usize) {
        let before = self.limit.swap(limit, SeqCst);
        for _ in before..limit.min(before + self.waiting.load(SeqCst)) {
            self.freed.notify_one();
        }
    }

    fn release(&self) {
        let before = self.in_use.fetch_sub(1, SeqCst);
        self.in_flight.set((before - 1) as f64);
        // Ordered after the subtraction: a waiter that counted itself in
        // before this load is woken; one that counts itself later sees the
        // free slot when it tries again.
        if self.waiting.load(SeqCst) > 0 {
            self.freed.notify_one();
        }
    }
}

impl fmt::Debug for Slots {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Slots")
            .field("in_use", &self.in_use())
            .field("limit", &self.limit())
            .field("waiting", &self.waiting.load(SeqCst))
            .finish()
    }
}

/// A slot held; dropping it gives it back.
#[derive(Debug)]
pub(crate) struct Slot(Arc<Slots>);

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.release();
    }
}

/// A place in the queue of waiters; dropping it leaves the queue.
#[derive(Debug)]
pub(crate) struct Place(Arc<Slots>);

impl Place {
    /// Resolves when a slot may have been freed since this was made; try
    /// [`Slots::try_acquire`] again then.
    pub(crate) fn freed(&self) -> OwnedNotified {
        self.0.freed.clone().notified_owned()
    }

    pub(crate) fn slots(&self) -> &Arc<Slots> {
        &self.0
    }
}

impl Drop for Place {
    fn drop(&mut self) {
        self.0.waiting.fetch_sub(1, SeqCst);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_are_counted_and_come_back_when_dropped() {
        let slots = Slots::new(2, 0, Gauge::noop());
        let first = slots.try_acquire();
        let second = slots.try_acquire();
        assert!(first.is_some() && second.is_some());
        assert!(slots.try_acquire().is_none());
        drop(first);
        assert_eq!(slots.in_use(), 1);
        assert!(slots.try_acquire().is_some());
        assert_eq!(slots.in_use(), 1, "the temporary slot went back");
    }

    #[test]
    fn the_limit_moves_without_taking_running_slots() {
        let slots = Slots::new(3, 0, Gauge::noop());
        let held: Vec<_> = (0..3).filter_map(|_| slots.try_acquire()).collect();
        slots.set_limit(1);
        assert_eq!(slots.in_use(), 3);
        assert!(slots.try_acquire().is_none());
        drop(held);
        assert!(slots.try_acquire().is_some());
        let _one = slots.try_acquire();
        assert!(slots.try_acquire().is_none(), "one at a time now");
    }

    #[test]
    fn the_queue_is_bounded() {
        let slots = Slots::new(1, 2, Gauge::noop());
        let places: Vec<_> = (0..5).filter_map(|_| slots.try_wait()).collect();
        assert_eq!(places.len(), 2);
        drop(places);
        assert!(slots.try_wait().is_some());
    }

    #[tokio::test]
    async fn a_waiter_is_woken_when_a_slot_is_freed() {
        let slots = Slots::new(1, 1, Gauge::noop());
        let held = slots.try_acquire();
        let place = slots.try_wait().unwrap();
        let freed = place.freed();
        drop(held);
        freed.await;
        assert!(place.slots().try_acquire().is_some());
    }
}
