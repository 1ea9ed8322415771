//! Streams kept open between chunk requests, when they cannot seek.

use std::{
    sync::{Arc, Mutex, PoisonError},
    time::Duration,
};

use moka::sync::Cache;

use crate::source::ResourceStream;

/// A stream waiting for its next chunk request: `carry` holds bytes read
/// past the last chunk, so the resource continues with `carry`, then the
/// rest of the stream, from byte `stream.start`.
pub(crate) struct ParkedStream {
    pub(crate) stream: ResourceStream,
    pub(crate) carry: Vec<u8>,
}

/// Parked streams by the cursor of the chunk they continue with, bounded in
/// count and idle time; one that goes is closed, and its next chunk request
/// reopens it.
pub(crate) struct Parked {
    streams: Cache<String, Arc<Mutex<Option<ParkedStream>>>>,
}

impl Parked {
    pub(crate) fn new(max_streams: u64, idle: Duration) -> Self {
        Self {
            streams: Cache::builder()
                .max_capacity(max_streams)
                .time_to_idle(idle)
                .build(),
        }
    }

    pub(crate) fn park(&self, cursor: String, stream: ParkedStream) {
        self.streams
            .insert(cursor, Arc::new(Mutex::new(Some(stream))));
    }

    /// The stream parked for `cursor`, taken out: two requests with the
    /// same cursor cannot both read it.
    pub(crate) fn take(&self, cursor: &str) -> Option<ParkedStream> {
        let slot = self.streams.remove(cursor)?;
        slot.lock().unwrap_or_else(PoisonError::into_inner).take()
    }
}
