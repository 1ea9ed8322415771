//! [`Generations`]: the invalidation counters every entry is checked against.
//!
//! An entry is stamped, when its fill starts, with the generations of the
//! tags it carries (everything, its method, its resource or tool, its own
//! request). Invalidating a tag moves its generation, and an entry whose
//! stamp no longer matches is gone: invalidation costs one counter no matter
//! how many entries it drops, and a fill that started before an
//! invalidation can never store a result that looks current after it.
//!
//! Tags hash into a fixed table of [`SLOTS`] counters, so memory is bounded
//! whatever the URIs; two tags sharing a slot only means one invalidation
//! also drops the other's entries, never that one survives.

use std::sync::atomic::{AtomicU64, Ordering};

use mcp_service::CacheKey;
use xxhash_rust::xxh3::xxh3_64_with_seed;

/// How many generation counters there are.
pub(crate) const SLOTS: usize = 4096;

/// What an invalidation names; see [`Invalidator`](crate::Invalidator).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tag<'a> {
    /// Every entry.
    All,
    /// The entries of one method, such as `tools/list`.
    Method(&'a str),
    /// The entries about one resource URI (`resources/read` and its chunks).
    Resource(&'a str),
    /// The cached calls of one tool.
    Tool(&'a str),
    /// The cached `prompts/get` of one prompt.
    Prompt(&'a str),
    /// The entries of one request (all partitions) or one
    /// [`get_or_load`](crate::CacheLayer::get_or_load) key.
    Key(CacheKey),
}

impl Tag<'_> {
    /// The counter this tag moves.
    pub(crate) fn slot(self) -> Slot {
        let hash = match self {
            Self::All => 0,
            Self::Method(method) => hashed(b'm', method.as_bytes()),
            Self::Resource(uri) => hashed(b'r', uri.as_bytes()),
            Self::Tool(tool) => hashed(b't', tool.as_bytes()),
            Self::Prompt(prompt) => hashed(b'p', prompt.as_bytes()),
            Self::Key(key) => hashed(b'k', &key.to_bytes()),
        };
        // Slot 0 belongs to `All` alone, so "everything" is never a collision.
        Slot((1 + hash % (SLOTS as u64 - 1)) as u16)
    }
}

fn hashed(kind: u8, value: &[u8]) -> u64 {
    xxh3_64_with_seed(value, u64::from(kind))
}

/// One counter of the table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct Slot(pub(crate) u16);

impl Slot {
    /// The slot numbered `index`, if there is one.
    #[cfg_attr(not(feature = "redis"), allow(dead_code))]
    pub(crate) fn new(index: u16) -> Option<Self> {
        (usize::from(index) < SLOTS).then_some(Self(index))
    }

    pub(crate) fn index(self) -> usize {
        usize::from(self.0)
    }
}

/// The generations of an entry's tags when its fill started.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Stamp {
    slots: [Slot; 4],
    generations: [u64; 4],
    len: u8,
}

impl Stamp {
    /// The slots and generations stamped.
    pub(crate) fn pairs(&self) -> impl Iterator<Item = (Slot, u64)> + '_ {
        self.slots
            .iter()
            .copied()
            .zip(self.generations.iter().copied())
            .take(usize::from(self.len))
    }
}

/// The tags of one entry: everything, plus up to three of its own.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Tags {
    slots: [Slot; 4],
    len: u8,
}

impl Tags {
    /// `All` and the given tags.
    pub(crate) fn new(tags: &[Tag<'_>]) -> Self {
        let mut slots = [Tag::All.slot(); 4];
        let mut len = 1;
        for tag in tags.iter().take(3) {
            slots[len] = tag.slot();
            len += 1;
        }
        Self {
            slots,
            len: len as u8,
        }
    }
}

/// The table of generation counters.
pub(crate) struct Generations {
    slots: Box<[AtomicU64]>,
}

impl Generations {
    pub(crate) fn new() -> Self {
        Self {
            slots: (0..SLOTS).map(|_| AtomicU64::new(0)).collect(),
        }
    }

    fn counter(&self, slot: Slot) -> &AtomicU64 {
        // Slots are made below SLOTS; an index out of range cannot be built.
        &self.slots[slot.index() % SLOTS]
    }

    pub(crate) fn get(&self, slot: Slot) -> u64 {
        self.counter(slot).load(Ordering::Acquire)
    }

    /// The stamp of an entry with `tags`, taken now.
    pub(crate) fn stamp(&self, tags: &Tags) -> Stamp {
        let mut generations = [0; 4];
        for (generation, slot) in generations
            .iter_mut()
            .zip(&tags.slots[..usize::from(tags.len)])
        {
            *generation = self.get(*slot);
        }
        Stamp {
            slots: tags.slots,
            generations,
            len: tags.len,
        }
    }

    /// Whether no tag of the stamp was invalidated since it was taken.
    #[inline]
    pub(crate) fn is_current(&self, stamp: &Stamp) -> bool {
        stamp
            .pairs()
            .all(|(slot, generation)| self.get(slot) == generation)
    }

    /// Moves the slot's generation on by one; returns the new generation.
    pub(crate) fn bump(&self, slot: Slot) -> u64 {
        self.counter(slot).fetch_add(1, Ordering::AcqRel) + 1
    }

    /// Raises the slot to at least `generation` (another node's invalidation).
    #[cfg_attr(not(feature = "redis"), allow(dead_code))]
    pub(crate) fn raise(&self, slot: Slot, generation: u64) {
        self.counter(slot).fetch_max(generation, Ordering::AcqRel);
    }
}

impl std::fmt::Debug for Generations {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Generations").finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_invalidated_tag_stales_the_stamps_that_carry_it_only() {
        let generations = Generations::new();
        let read = Tags::new(&[Tag::Method("resources/read"), Tag::Resource("demo://a")]);
        let list = Tags::new(&[Tag::Method("tools/list")]);
        let (read_stamp, list_stamp) = (generations.stamp(&read), generations.stamp(&list));
        assert!(generations.is_current(&read_stamp) && generations.is_current(&list_stamp));

        generations.bump(Tag::Resource("demo://a").slot());
        assert!(!generations.is_current(&read_stamp));
        assert!(generations.is_current(&list_stamp));

        let fresh = generations.stamp(&read);
        assert!(
            generations.is_current(&fresh),
            "a new fill is current again"
        );
        generations.bump(Tag::All.slot());
        assert!(!generations.is_current(&fresh) && !generations.is_current(&list_stamp));
    }

    #[test]
    fn tags_of_different_kinds_and_long_values_land_in_slots_apart_from_all() {
        let long = "x".repeat(1000);
        for tag in [
            Tag::Method("tools/list"),
            Tag::Resource(&long),
            Tag::Tool("echo"),
            Tag::Prompt("echo"),
            Tag::Key(CacheKey::from_bytes([7; 16])),
        ] {
            assert_ne!(tag.slot(), Tag::All.slot(), "{tag:?}");
            assert!(tag.slot().index() < SLOTS);
        }
        assert_ne!(Tag::Tool("echo").slot(), Tag::Prompt("echo").slot());
        assert_eq!(Tag::Resource(&long).slot(), Tag::Resource(&long).slot());
    }

    #[test]
    fn raising_never_lowers() {
        let generations = Generations::new();
        let slot = Tag::Tool("t").slot();
        assert_eq!(generations.bump(slot), 1);
        generations.raise(slot, 5);
        generations.raise(slot, 3);
        assert_eq!(generations.get(slot), 5);
    }
}
