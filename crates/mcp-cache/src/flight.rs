//! Single-flight: concurrent misses on one key make one call.
//!
//! The first miss on a key becomes its [`Leader`]; later misses follow the
//! [`Flight`] and wait for its [`Landing`]. A leader that is dropped before
//! it lands (its request was cancelled, its future dropped) lands
//! [`Landing::Abandoned`] on the way out, so followers never wait for a
//! call nobody makes: they look again, and one of them leads.

use std::{
    any::Any,
    collections::{HashMap, hash_map::Entry},
    sync::{
        Arc, Mutex, MutexGuard, PoisonError,
        atomic::{AtomicU64, Ordering},
    },
};

use mcp_service::{Partition, Principal};
use tokio::sync::Notify;

use crate::l1::KeyHasher;

/// Whom a landed value may be handed to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Sharing {
    /// Anyone who asked the same.
    Everyone,
    /// Only this principal: the result was private.
    Principal(Principal),
}

impl Sharing {
    pub(crate) fn admits(self, principal: Option<Principal>) -> bool {
        match self {
            Self::Everyone => true,
            Self::Principal(leader) => principal == Some(leader),
        }
    }

    pub(crate) fn of(partition: Partition) -> Self {
        match partition {
            Partition::Public => Self::Everyone,
            Partition::Principal(principal) => Self::Principal(principal),
        }
    }
}

/// How a flight ended.
#[derive(Clone)]
pub(crate) enum Landing {
    /// A value, for the followers it admits.
    Value {
        value: Arc<dyn Any + Send + Sync>,
        sharing: Sharing,
    },
    /// The call failed; followers get the same error.
    Failed(Arc<dyn Any + Send + Sync>),
    /// The result may be handed to no one else (private without a
    /// principal, `input_required`): followers make their own calls.
    Unshared,
    /// The leader went away without an answer: followers look again.
    Abandoned,
}

/// One call in progress that someone follows.
pub(crate) struct Flight {
    /// The leader's number in its shard: tells its flight from a later one
    /// of the same key.
    id: u64,
    landing: Mutex<Option<Landing>>,
    notify: Notify,
    /// When the leader set out, in nanoseconds of the cache's clock:
    /// followers share its deadline.
    started: u64,
}

impl Flight {
    /// When the leader set out.
    pub(crate) fn started(&self) -> u64 {
        self.started
    }

    fn landing(&self) -> MutexGuard<'_, Option<Landing>> {
        self.landing.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Waits for the landing. Cancel-safe: dropping the wait leaves the
    /// flight as it was.
    pub(crate) async fn wait(&self) -> Landing {
        loop {
            let notified = self.notify.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if let Some(landing) = self.landing().clone() {
                return landing;
            }
            notified.await;
        }
    }
}

const SHARDS: usize = 64;

/// A key's call in progress, as the map holds it. Most misses are never
/// followed: theirs stays two numbers, and the state followers wait on is
/// made by the first follower.
enum Pending {
    Led { id: u64, started: u64 },
    Followed(Arc<Flight>),
}

impl Pending {
    fn id(&self) -> u64 {
        match self {
            Self::Led { id, .. } => *id,
            Self::Followed(flight) => flight.id,
        }
    }

    /// The flight to wait on, made by its first follower.
    fn follow(&mut self) -> Arc<Flight> {
        match self {
            Self::Followed(flight) => flight.clone(),
            Self::Led { id, started } => {
                let flight = Arc::new(Flight {
                    id: *id,
                    landing: Mutex::new(None),
                    notify: Notify::new(),
                    started: *started,
                });
                *self = Self::Followed(flight.clone());
                flight
            }
        }
    }
}

#[derive(Default)]
struct Shard {
    pending: HashMap<u128, Pending, KeyHasher>,
    /// The next leader's number.
    next: u64,
}

/// The flights in progress, by key.
pub(crate) struct Flights {
    shards: Box<[Mutex<Shard>]>,
    /// Flights landed, ever: a miss that saw no landing between its lookup
    /// and its join cannot have missed a fill, and need not look again.
    landings: AtomicU64,
}

/// What [`Flights::join`] made of a miss.
pub(crate) enum Join {
    /// Make the call, and land it.
    Lead(Leader),
    /// Wait for this flight.
    Follow(Arc<Flight>),
}

impl Flights {
    pub(crate) fn new() -> Arc<Self> {
        Arc::new(Self {
            shards: (0..SHARDS).map(|_| Mutex::default()).collect(),
            landings: AtomicU64::new(0),
        })
    }

    fn shard(&self, key: u128) -> MutexGuard<'_, Shard> {
        // Keys are hashes: their top bits pick the shard, their low bits the bucket.
        self.shards[(key >> 122) as usize % SHARDS]
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// How many flights have landed: read it before the lookup that leads
    /// to a [`join`](Self::join).
    pub(crate) fn landings(&self) -> u64 {
        self.landings.load(Ordering::Acquire)
    }

    /// Leads the flight of `key`, or follows the one in progress. `seen`
    /// is what [`landings`](Self::landings) said before the lookup (`None`
    /// when unknown), `now` the clock.
    pub(crate) fn join(self: &Arc<Self>, key: u128, seen: Option<u64>, now: u64) -> Join {
        let mut guard = self.shard(key);
        let shard = &mut *guard;
        let id = shard.next;
        match shard.pending.entry(key) {
            Entry::Occupied(mut entry) => return Join::Follow(entry.get_mut().follow()),
            Entry::Vacant(entry) => entry.insert(Pending::Led { id, started: now }),
        };
        shard.next = id.wrapping_add(1);
        drop(guard);
        let raced = seen.is_none_or(|seen| seen != self.landings());
        Join::Lead(Leader {
            flights: self.clone(),
            key,
            id,
            landed: false,
            raced,
        })
    }

    /// Flights in progress, for tests and stats.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.shards
            .iter()
            .map(|shard| {
                shard
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .pending
                    .len()
            })
            .sum()
    }
}

/// The one caller of a flight. Lands on [`land`](Self::land), or as
/// [`Landing::Abandoned`] when dropped.
pub(crate) struct Leader {
    flights: Arc<Flights>,
    key: u128,
    id: u64,
    landed: bool,
    raced: bool,
}

impl Leader {
    /// Whether a flight landed since the lookup that led here: its fill
    /// may be in memory now, so look again before calling.
    pub(crate) fn raced(&self) -> bool {
        self.raced
    }

    pub(crate) fn land(self, landing: Landing) {
        self.land_with(|| landing);
    }

    /// Lands what `landing` makes, which it makes only when someone
    /// follows (a shared copy of a value, for one).
    pub(crate) fn land_with(mut self, landing: impl FnOnce() -> Landing) {
        self.finish(landing);
    }

    fn finish(&mut self, landing: impl FnOnce() -> Landing) {
        self.landed = true;
        let removed = {
            let mut shard = self.flights.shard(self.key);
            // Only this flight: a newer one may hold the key already.
            let removed = match shard.pending.entry(self.key) {
                Entry::Occupied(entry) if entry.get().id() == self.id => Some(entry.remove()),
                _ => None,
            };
            self.flights.landings.fetch_add(1, Ordering::AcqRel);
            removed
        };
        // Out of the map, the flight gains no follower; one nobody followed
        // (the common miss) has no one to tell.
        if let Some(Pending::Followed(flight)) = removed {
            *flight.landing() = Some(landing());
            flight.notify.notify_waiters();
        }
    }
}

impl Drop for Leader {
    fn drop(&mut self) {
        if !self.landed {
            self.finish(|| Landing::Abandoned);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn value(landing: &Landing) -> Option<u32> {
        match landing {
            Landing::Value { value, .. } => value.downcast_ref::<u32>().copied(),
            _ => None,
        }
    }

    #[tokio::test]
    async fn one_leads_the_rest_follow_and_all_see_the_landing() {
        let flights = Flights::new();
        let Join::Lead(leader) = flights.join(7, None, 0) else {
            panic!("the first miss leads");
        };
        let followers: Vec<_> = (0..10)
            .map(|_| match flights.join(7, None, 0) {
                Join::Follow(flight) => tokio::spawn(async move { flight.wait().await }),
                Join::Lead(_) => panic!("a second leader"),
            })
            .collect();
        assert!(
            matches!(flights.join(8, None, 0), Join::Lead(_)),
            "other keys fly apart"
        );
        leader.land(Landing::Value {
            value: Arc::new(42u32),
            sharing: Sharing::Everyone,
        });
        for follower in followers {
            assert_eq!(value(&follower.await.unwrap()), Some(42));
        }
        assert_eq!(flights.len(), 0);
        assert!(
            matches!(flights.join(7, None, 0), Join::Lead(_)),
            "a landed key can fly again"
        );
    }

    #[tokio::test]
    async fn a_dropped_leader_does_not_strand_its_followers() {
        let flights = Flights::new();
        let Join::Lead(leader) = flights.join(1, None, 0) else {
            panic!("the first miss leads");
        };
        let Join::Follow(flight) = flights.join(1, None, 0) else {
            panic!("the second follows");
        };
        let waiter = tokio::spawn(async move { flight.wait().await });
        drop(leader);
        assert!(matches!(waiter.await.unwrap(), Landing::Abandoned));
        assert!(matches!(flights.join(1, None, 0), Join::Lead(_)));
    }

    #[test]
    fn a_lead_knows_whether_a_flight_landed_since_its_lookup() {
        let flights = Flights::new();
        let seen = flights.landings();
        let Join::Lead(first) = flights.join(1, Some(seen), 0) else {
            panic!("the first miss leads");
        };
        assert!(!first.raced(), "nothing landed since the lookup");
        first.land(Landing::Unshared);
        let Join::Lead(second) = flights.join(1, Some(seen), 0) else {
            panic!("a landed key can fly again");
        };
        assert!(second.raced(), "a flight landed after that lookup");
        let Join::Lead(unknown) = flights.join(2, None, 0) else {
            panic!("another key");
        };
        assert!(
            unknown.raced(),
            "without a lookup to compare with, look again"
        );
    }

    #[test]
    fn private_landings_admit_their_principal_only() {
        let alice = Principal::from_identity("alice");
        let bob = Principal::from_identity("bob");
        assert!(Sharing::Principal(alice).admits(Some(alice)));
        assert!(!Sharing::Principal(alice).admits(Some(bob)));
        assert!(!Sharing::Principal(alice).admits(None));
        assert!(Sharing::Everyone.admits(None));
    }
}
