//! [`Entry`]: what the in-memory tier keeps for a key.

use std::{any::Any, sync::Arc};

use mcp_service::Partition;

use crate::{freshness::Lifetime, generations::Stamp};

/// A kept value: a response of the layer's stack, a value of
/// [`get_or_load`](crate::CacheLayer::get_or_load), or the mark that a
/// request's results are private, so its entries live under the asker's
/// partition.
pub(crate) enum Stored {
    Value(Arc<dyn Any + Send + Sync>),
    Private,
}

/// One entry of the in-memory tier.
pub(crate) struct Entry {
    pub(crate) stored: Stored,
    /// Whom it may be served to; compared on every hit, so a key collision
    /// can never hand one principal another's entry.
    pub(crate) partition: Partition,
    pub(crate) stamp: Stamp,
    pub(crate) lifetime: Lifetime,
    /// Bytes it stands for, for the byte bound.
    pub(crate) weight: u32,
}

/// What an entry costs beyond its value: the entry, its key and moka's
/// bookkeeping, roughly.
pub(crate) const OVERHEAD: u32 = 160;

impl Entry {
    /// The value, if it is one of type `T`.
    pub(crate) fn value<T: Clone + 'static>(&self) -> Option<T> {
        match &self.stored {
            Stored::Value(value) => value.downcast_ref::<T>().cloned(),
            Stored::Private => None,
        }
    }

    pub(crate) fn is_private_mark(&self) -> bool {
        matches!(self.stored, Stored::Private)
    }
}
