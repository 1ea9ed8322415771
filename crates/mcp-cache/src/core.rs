//! [`Core`]: the state every clone of a cache shares, and the lookup, fill
//! and store steps that the layer and `get_or_load` both run.

use std::{any::Any, future::Future, sync::Arc, time::Duration};

use mcp_service::{CacheScope, Clock, McpResponse, Outcome, Partition};

use crate::{
    entry::{Entry, OVERHEAD, Stored},
    flight::{Flights, Join, Landing, Leader, Sharing},
    freshness::{Freshness, Lifetime, Policy},
    generations::{Generations, Stamp, Tag, Tags},
    l1::L1,
    plan::{Plan, Rules, Target},
    signals::{Signals, Source, Tier},
};

/// Shared by every clone of a [`CacheLayer`](crate::CacheLayer), its
/// services and its [`Invalidator`](crate::Invalidator)s.
pub(crate) struct Core {
    /// False for [`CacheLayer::disabled`](crate::CacheLayer::disabled).
    pub(crate) enabled: bool,
    pub(crate) rules: Rules,
    pub(crate) policy: Policy,
    pub(crate) max_entry_bytes: usize,
    pub(crate) hit_marker: bool,
    pub(crate) flight_timeout: Duration,
    pub(crate) clock: Clock,
    pub(crate) l1: Option<L1>,
    pub(crate) flights: Arc<Flights>,
    pub(crate) generations: Generations,
    pub(crate) signals: Arc<Signals>,
    #[cfg(feature = "redis")]
    pub(crate) shared: Option<crate::shared::Shared>,
}

/// How a value was served, for the hit marker.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Served {
    /// From a tier, with its age, stale or not.
    Cached {
        tier: Tier,
        age: Duration,
        stale: bool,
    },
    /// Fresh from the inner service (or another request's call).
    Called,
}

/// How a leader's flight starts; see [`Core::begin`].
pub(crate) enum Begin<V> {
    /// Another fill landed meanwhile: here is its value.
    Answered(V, Served),
    /// Make the call, then [`Core::finish`].
    Fill(Fill),
}

/// What a fill's result is for the flight's followers; see [`Core::store`].
pub(crate) enum Share {
    /// This landing: the kept value, shared already, or none to share.
    Landing(Landing),
    /// Not kept, but those of `Sharing` may be handed it: a copy is made
    /// only when someone follows.
    Copy(Sharing),
}

/// A flight's call in progress: its leader, and the generations it fills under.
pub(crate) struct Fill {
    pub(crate) leader: Leader,
    pub(crate) stamp: Stamp,
}

/// What a lookup found.
pub(crate) enum Found<V> {
    /// A value to serve; `revalidate` when it is stale and wants a refresh.
    Hit {
        value: V,
        served: Served,
        target: Target,
        revalidate: bool,
    },
    /// Nothing to serve: fill `target`, falling back on `stale` if the
    /// call fails.
    Miss {
        target: Target,
        stale: Option<Arc<Entry>>,
    },
    /// The cache must stay out of it: the result is private and the asker
    /// is anonymous.
    Bypass,
}

impl Core {
    /// The entry at `target`, if it may still be used for it.
    fn entry(&self, l1: &L1, target: Target, now: u64) -> Option<Arc<Entry>> {
        let entry = l1.get(target.key.as_u128())?;
        let usable = entry.partition == target.partition
            && entry.lifetime.at(now) != Freshness::Expired
            && self.generations.is_current(&entry.stamp);
        usable.then_some(entry)
    }

    /// Looks `plan` up in memory at `now`.
    pub(crate) fn find<V: Clone + 'static>(&self, plan: &Plan, now: u64) -> Found<V> {
        let public = plan.public_target();
        let Some(l1) = &self.l1 else {
            return Found::Miss {
                target: public,
                stale: None,
            };
        };
        let (target, entry) = match self.entry(l1, public, now) {
            Some(mark) if mark.is_private_mark() => match plan.private_target() {
                Some(private) => (private, self.entry(l1, private, now)),
                None => return Found::Bypass,
            },
            entry => (public, entry),
        };
        let Some(entry) = entry else {
            return Found::Miss {
                target,
                stale: None,
            };
        };
        let freshness = entry.lifetime.at(now);
        let value = match freshness {
            Freshness::Fresh | Freshness::Revalidate => entry.value::<V>(),
            Freshness::Stale | Freshness::Expired => None,
        };
        match value {
            Some(value) => Found::Hit {
                value,
                served: Served::Cached {
                    tier: Tier::L1,
                    age: entry.lifetime.age(now),
                    stale: freshness == Freshness::Revalidate,
                },
                target,
                revalidate: freshness == Freshness::Revalidate,
            },
            None => Found::Miss {
                target,
                stale: (freshness == Freshness::Stale).then_some(entry),
            },
        }
    }

    /// Starts the one call of a flight: a fill that landed between the
    /// lookup and the join answers at once (landing the flight); otherwise
    /// the generations are stamped, before any I/O, so an invalidation
    /// during the call stales what it returns.
    pub(crate) fn begin<V: Clone + Send + Sync + 'static>(
        &self,
        leader: Leader,
        plan: &Plan,
        tags: &Tags,
        target: Target,
    ) -> Begin<V> {
        // A stale entry found again is what a refresh is here to replace.
        if leader.raced()
            && let Found::Hit {
                value,
                served,
                revalidate: false,
                ..
            } = self.find::<V>(plan, self.clock.nanos())
        {
            self.land_value(leader, &value, Sharing::of(target.partition));
            return Begin::Answered(value, served);
        }
        Begin::Fill(Fill {
            leader,
            stamp: self.generations.stamp(tags),
        })
    }

    /// Ends a flight's call with its `result`: keeps what may be kept,
    /// answers a failure with a stale entry where `serves_stale` allows,
    /// and lands the flight for its followers.
    pub(crate) fn finish<V, E>(
        &self,
        fill: Fill,
        plan: &Plan,
        target: Target,
        stale: Option<Arc<Entry>>,
        result: Result<V, E>,
        serves_stale: impl Fn(&E) -> bool,
    ) -> Result<(V, Served), E>
    where
        V: McpResponse + Clone + Send + Sync + 'static,
        E: Clone + Send + Sync + 'static,
    {
        let Fill { leader, stamp } = fill;
        match result {
            Ok(value) => {
                match self.store(plan, &value, stamp) {
                    Share::Landing(landing) => leader.land(landing),
                    Share::Copy(sharing) => self.land_value(leader, &value, sharing),
                }
                Ok((value, Served::Called))
            }
            Err(error) => {
                let now = self.clock.nanos();
                let fallback = stale
                    .filter(|entry| {
                        serves_stale(&error) && entry.lifetime.at(now) != Freshness::Expired
                    })
                    .and_then(|entry| Some((entry.value::<V>()?, entry)));
                if let Some((value, entry)) = fallback {
                    self.signals.stale(Tier::L1);
                    let served = Served::Cached {
                        tier: Tier::L1,
                        age: entry.lifetime.age(now),
                        stale: true,
                    };
                    self.land_value(leader, &value, Sharing::of(target.partition));
                    return Ok((value, served));
                }
                leader.land_with(|| Landing::Failed(Arc::new(error.clone())));
                Err(error)
            }
        }
    }

    /// Makes the one call of a flight, through the shared tier first when
    /// there is one, stores what it returns, and lands the flight.
    ///
    /// `serves_stale` says which errors a stale entry may answer for.
    #[expect(clippy::too_many_arguments, reason = "one flight's whole context")]
    pub(crate) async fn lead<V, E, F>(
        &self,
        leader: Leader,
        plan: &Plan,
        tags: &Tags,
        target: Target,
        stale: Option<Arc<Entry>>,
        call: F,
        serves_stale: impl Fn(&E) -> bool,
    ) -> Result<(V, Served), E>
    where
        V: McpResponse + Clone + Send + Sync + 'static,
        E: Clone + Send + Sync + 'static,
        F: Future<Output = Result<V, E>>,
    {
        let fill = match self.begin::<V>(leader, plan, tags, target) {
            Begin::Answered(value, served) => return Ok((value, served)),
            Begin::Fill(fill) => fill,
        };
        #[cfg(feature = "redis")]
        if let Some(shared) = &self.shared
            && let Some((value, served, partition)) =
                shared.fetch::<V>(self, plan, &fill.stamp).await
        {
            self.signals.hit(Tier::L2);
            self.land_value(fill.leader, &value, Sharing::of(partition));
            return Ok((value, served));
        }
        self.signals.miss();
        let result = call.await;
        self.finish(fill, plan, target, stale, result, serves_stale)
    }

    /// Lands `value` for `sharing`, copied only when someone follows.
    fn land_value<V: Send + Sync + Clone + 'static>(
        &self,
        leader: Leader,
        value: &V,
        sharing: Sharing,
    ) {
        leader.land_with(|| Landing::Value {
            value: Arc::new(value.clone()),
            sharing,
        });
    }

    /// Keeps `value` if the rules allow it, and says whom concurrent askers
    /// of the same may be handed it.
    pub(crate) fn store<V>(&self, plan: &Plan, value: &V, stamp: Stamp) -> Share
    where
        V: McpResponse + Clone + Send + Sync + 'static,
    {
        let outcome = value.outcome();
        if !matches!(outcome, Outcome::Complete | Outcome::ToolError) {
            return Share::Landing(Landing::Unshared);
        }
        let hint = value.cache_hint();
        let scope = plan
            .rule
            .scope
            .or(hint.scope)
            .unwrap_or(self.policy.assume_scope);
        let keep = self.keepable(plan, value, outcome, &stamp);
        let Some(target) = plan.target_for(scope) else {
            // Private, and nobody to keep it for: remember that much, so the
            // next anonymous asker skips the cache at once.
            if let Some((ttl, _)) = keep {
                self.insert_private_mark(plan, ttl, stamp);
            }
            return Share::Landing(Landing::Unshared);
        };
        let Some((ttl, weight)) = keep else {
            return Share::Copy(Sharing::of(target.partition));
        };
        let shared: Arc<dyn Any + Send + Sync> = Arc::new(value.clone());
        let landing = Landing::Value {
            value: shared.clone(),
            sharing: Sharing::of(target.partition),
        };
        let lifetime = self.policy.lifetime(self.clock.nanos(), ttl);
        if scope == CacheScope::Private {
            self.insert_private_mark(plan, ttl, stamp);
        }
        if let Some(l1) = &self.l1 {
            let entry = Entry {
                stored: Stored::Value(shared.clone()),
                partition: target.partition,
                stamp,
                lifetime,
                weight: weight.saturating_add(OVERHEAD),
            };
            l1.insert(target.key.as_u128(), Arc::new(entry));
        }
        #[cfg(feature = "redis")]
        if let Some(store) = &self.shared {
            store.put::<V>(target, &stamp, shared, &lifetime);
        }
        Share::Landing(landing)
    }

    /// The freshness and weight of a value that may be kept, or `None`.
    fn keepable<V: McpResponse>(
        &self,
        plan: &Plan,
        value: &V,
        outcome: Outcome,
        stamp: &Stamp,
    ) -> Option<(Duration, u32)> {
        if outcome != Outcome::Complete || !self.generations.is_current(stamp) {
            return None;
        }
        let (ttl, _) = self.policy.decide(value.cache_hint(), plan.rule)?;
        let weight = value.weight();
        if weight > self.max_entry_bytes {
            return None;
        }
        Some((ttl, u32::try_from(weight).ok()?))
    }

    fn insert_private_mark(&self, plan: &Plan, ttl: Duration, stamp: Stamp) {
        let lifetime = self.policy.lifetime(self.clock.nanos(), ttl);
        if let Some(l1) = &self.l1 {
            let mark = Entry {
                stored: Stored::Private,
                partition: Partition::Public,
                stamp,
                lifetime,
                weight: OVERHEAD,
            };
            l1.insert(plan.public.as_u128(), Arc::new(mark));
        }
        #[cfg(feature = "redis")]
        if let Some(store) = &self.shared {
            store.put_private_mark(plan.public_target(), &stamp, &lifetime);
        }
    }

    /// An entry read from the shared tier, kept in memory too.
    #[cfg_attr(not(feature = "redis"), allow(dead_code))]
    pub(crate) fn fill_l1(
        &self,
        target: Target,
        stored: Stored,
        stamp: Stamp,
        lifetime: Lifetime,
        weight: usize,
    ) {
        if let Some(l1) = &self.l1 {
            let entry = Entry {
                stored,
                partition: target.partition,
                stamp,
                lifetime,
                weight: u32::try_from(weight)
                    .unwrap_or(u32::MAX)
                    .saturating_add(OVERHEAD),
            };
            l1.insert(target.key.as_u128(), Arc::new(entry));
        }
    }

    /// Moves the generations of `tags` on, here and, with Redis, on every
    /// node; everything the tags cover is gone from then on.
    pub(crate) async fn invalidate(&self, tags: &[Tag<'_>]) {
        let bumped: Vec<_> = tags
            .iter()
            .map(|tag| {
                let slot = tag.slot();
                (slot, self.generations.bump(slot))
            })
            .collect();
        if tags.contains(&Tag::All)
            && let Some(l1) = &self.l1
        {
            // Nothing in memory is current any more: give it back now.
            l1.clear();
        }
        self.signals.invalidated(Source::Local);
        #[cfg(feature = "redis")]
        if let Some(shared) = &self.shared {
            shared.publish(self, &bumped).await;
        }
        #[cfg(not(feature = "redis"))]
        let _ = bumped;
    }

    /// Whether misses ask a shared tier before calling.
    pub(crate) fn has_shared_tier(&self) -> bool {
        #[cfg(feature = "redis")]
        return self.shared.is_some();
        #[cfg(not(feature = "redis"))]
        return false;
    }

    /// Joins the flight of `target`.
    ///
    /// `seen` is [`Flights::landings`] read before the lookup, when known.
    pub(crate) fn join(&self, target: Target, seen: Option<u64>) -> Join {
        self.join_at(target, seen, self.clock.nanos())
    }

    /// [`join`](Self::join), at `now` as the caller last read the clock.
    pub(crate) fn join_at(&self, target: Target, seen: Option<u64>, now: u64) -> Join {
        self.flights.join(target.key.as_u128(), seen, now)
    }
}
