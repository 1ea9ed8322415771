//! [`DeadlineExtender`]: how a handler that makes progress keeps its deadline.

use std::sync::{
    Arc,
    atomic::{AtomicU64, Ordering::Relaxed},
};

use tokio::time::Instant;

/// Found in a request's extensions when its [`TimeoutLayer`] was built with
/// `extend_on_progress(true)`. A handler that reports progress (a
/// `notifications/progress`) calls [`progressed`](Self::progressed), and the
/// deadline starts again from that moment.
///
/// [`TimeoutLayer`]: super::TimeoutLayer
#[derive(Debug, Clone)]
pub struct DeadlineExtender {
    origin: Instant,
    /// Nanoseconds after `origin` of the last progress, plus one (0: none).
    last: Arc<AtomicU64>,
}

impl DeadlineExtender {
    pub(crate) fn new() -> Self {
        Self {
            origin: Instant::now(),
            last: Arc::default(),
        }
    }

    /// Records progress now.
    pub fn progressed(&self) {
        let since = Instant::now().saturating_duration_since(self.origin);
        let nanos = u64::try_from(since.as_nanos()).unwrap_or(u64::MAX - 1);
        self.last.store(nanos + 1, Relaxed);
    }

    pub(crate) fn last_progress(&self) -> Option<Instant> {
        match self.last.load(Relaxed) {
            0 => None,
            nanos => Some(self.origin + std::time::Duration::from_nanos(nanos - 1)),
        }
    }
}
