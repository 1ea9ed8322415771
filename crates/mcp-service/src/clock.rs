//! [`Clock`]: monotonic nanoseconds, cheap to read, that follow tokio's
//! paused clock in tests.
//!
//! Limiters read the time on every request, so the clock is on the hot path.
//! The fast source reads the CPU's time-stamp counter through `quanta`
//! (falling back to the OS clock where the counter is not reliable), a few
//! nanoseconds a read; tokio's clock costs an OS call a read but can be
//! paused and advanced by tests. [`Clock::new`] picks tokio's when it is
//! made inside a runtime whose clock is paused, and the fast one otherwise,
//! so `#[tokio::test(start_paused = true)]` just works.

use std::{fmt, time::Duration};

/// A monotonic clock giving nanoseconds since it was made. Clones share
/// the origin.
#[derive(Clone)]
pub struct Clock {
    source: Source,
}

#[derive(Clone)]
enum Source {
    Fast {
        clock: quanta::Clock,
        /// A raw counter reading; deltas are scaled to nanoseconds.
        origin: u64,
    },
    Tokio {
        origin: tokio::time::Instant,
    },
}

impl Clock {
    /// Tokio's clock when made inside a runtime whose clock is paused (a
    /// test), the fast clock otherwise. A paused clock is recognised by
    /// standing still between two reads; where the OS clock is too coarse
    /// to tell, tokio's is picked, which is always correct, only slower.
    pub fn new() -> Self {
        let in_runtime = tokio::runtime::Handle::try_current().is_ok();
        if in_runtime && tokio::time::Instant::now() == tokio::time::Instant::now() {
            Self::tokio()
        } else {
            Self::fast()
        }
    }

    /// The time-stamp-counter clock, whatever tokio's clock does.
    pub fn fast() -> Self {
        let clock = quanta::Clock::new();
        let origin = clock.raw();
        Self {
            source: Source::Fast { clock, origin },
        }
    }

    /// Tokio's clock, which tests can pause and advance.
    pub fn tokio() -> Self {
        Self {
            source: Source::Tokio {
                origin: tokio::time::Instant::now(),
            },
        }
    }

    /// Nanoseconds since the clock was made.
    #[inline]
    pub fn nanos(&self) -> u64 {
        match &self.source {
            Source::Fast { clock, origin } => clock.delta_as_nanos(*origin, clock.raw()),
            Source::Tokio { origin } => saturating_nanos(origin.elapsed()),
        }
    }

    /// Whether this is tokio's clock.
    pub fn is_tokio(&self) -> bool {
        matches!(self.source, Source::Tokio { .. })
    }
}

impl Default for Clock {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for Clock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let source = if self.is_tokio() { "tokio" } else { "fast" };
        f.debug_struct("Clock").field("source", &source).finish()
    }
}

/// A duration in nanoseconds, saturating at `u64::MAX` (584 years).
pub fn saturating_nanos(duration: Duration) -> u64 {
    u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn follows_a_paused_runtime() {
        let clock = Clock::new();
        assert!(clock.is_tokio());
        tokio::time::advance(Duration::from_millis(250)).await;
        assert_eq!(clock.nanos(), 250_000_000);
    }

    #[tokio::test]
    async fn is_fast_in_a_running_runtime() {
        let clock = Clock::new();
        assert!(!clock.is_tokio());
        let before = clock.nanos();
        std::thread::sleep(Duration::from_millis(2));
        let after = clock.nanos();
        assert!(after - before >= 1_000_000, "{before} then {after}");
    }

    #[test]
    fn is_fast_outside_a_runtime_and_clones_share_the_origin() {
        let clock = Clock::new();
        assert!(!clock.is_tokio());
        let clone = clock.clone();
        std::thread::sleep(Duration::from_millis(1));
        assert!(clone.nanos() >= 1_000_000);
    }
}
