//! Freshness: how long a result may be served, and to whom, from the hints
//! it carries and the operator's rules. Plain arithmetic on nanoseconds of
//! the cache's clock; no tokio, no tower.

use std::time::Duration;

use mcp_service::{CacheHint, CacheScope, clock::saturating_nanos};

/// An operator's rule for a method or a tool: what overrides the result's
/// own `ttlMs` and `cacheScope`. Fields left `None` defer to the result,
/// then to the cache's defaults.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Rule {
    /// Overrides `ttlMs`. `Some(ZERO)` never caches.
    pub ttl: Option<Duration>,
    /// Overrides `cacheScope`.
    pub scope: Option<CacheScope>,
}

impl Rule {
    /// Follow the result's hints, then the cache's defaults.
    pub const HINTED: Self = Self {
        ttl: None,
        scope: None,
    };

    /// Keep results for `ttl`, whatever their `ttlMs` says.
    pub const fn ttl(ttl: Duration) -> Self {
        Self {
            ttl: Some(ttl),
            scope: None,
        }
    }

    /// The same rule with results treated as `scope`, whatever their
    /// `cacheScope` says. Tool results carry no scope, so a tool whose
    /// answer does not depend on the caller is shared only with this.
    #[must_use]
    pub const fn with_scope(mut self, scope: CacheScope) -> Self {
        self.scope = Some(scope);
        self
    }
}

/// The durations the freshness rules work with; see
/// [`CacheBuilder`](crate::CacheBuilder) for each default.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Policy {
    pub(crate) default_ttl: Duration,
    pub(crate) max_ttl: Duration,
    pub(crate) assume_scope: CacheScope,
    pub(crate) stale_while_revalidate: Duration,
    pub(crate) stale_if_error: Duration,
}

/// When an entry stops being fresh, revalidatable and servable on error, in
/// nanoseconds of the cache's clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Lifetime {
    pub(crate) stored_at: u64,
    pub(crate) fresh_until: u64,
    pub(crate) revalidate_until: u64,
    pub(crate) stale_until: u64,
}

/// What an entry is good for at some moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Freshness {
    /// Serve it.
    Fresh,
    /// Serve it and refresh it in the background (stale-while-revalidate).
    Revalidate,
    /// Serve it only if a fresh answer cannot be had (stale-if-error).
    Stale,
    /// Gone.
    Expired,
}

impl Policy {
    /// How long a result stays fresh and whom it may be served to; `None`
    /// when it must not be kept (`ttlMs: 0` without an override).
    pub(crate) fn decide(&self, hint: CacheHint, rule: Rule) -> Option<(Duration, CacheScope)> {
        let ttl = rule.ttl.or(hint.ttl).unwrap_or(self.default_ttl);
        if ttl.is_zero() {
            return None;
        }
        let scope = rule.scope.or(hint.scope).unwrap_or(self.assume_scope);
        Some((ttl.min(self.max_ttl), scope))
    }

    /// The lifetime of an entry fresh for `ttl` from `now`.
    pub(crate) fn lifetime(&self, now: u64, ttl: Duration) -> Lifetime {
        let fresh_until = now.saturating_add(saturating_nanos(ttl));
        Lifetime {
            stored_at: now,
            fresh_until,
            revalidate_until: fresh_until
                .saturating_add(saturating_nanos(self.stale_while_revalidate)),
            stale_until: fresh_until.saturating_add(saturating_nanos(self.stale_if_error)),
        }
    }
}

impl Lifetime {
    /// What the entry is good for at `now`.
    #[inline]
    pub(crate) fn at(&self, now: u64) -> Freshness {
        if now < self.fresh_until {
            Freshness::Fresh
        } else if now < self.revalidate_until {
            Freshness::Revalidate
        } else if now < self.stale_until {
            Freshness::Stale
        } else {
            Freshness::Expired
        }
    }

    /// How long the entry is worth keeping from its store, stale windows
    /// included.
    pub(crate) fn span(&self) -> Duration {
        Duration::from_nanos(self.revalidate_until.max(self.stale_until) - self.stored_at)
    }

    /// How long it stays fresh from its store.
    #[cfg_attr(not(feature = "redis"), allow(dead_code))]
    pub(crate) fn fresh_for(&self) -> Duration {
        Duration::from_nanos(self.fresh_until - self.stored_at)
    }

    /// Its age at `now`.
    pub(crate) fn age(&self, now: u64) -> Duration {
        Duration::from_nanos(now.saturating_sub(self.stored_at))
    }

    /// The same lifetime moved to start `age` before `now`: an entry read
    /// from the shared tier keeps the age it has there.
    #[cfg_attr(not(feature = "redis"), allow(dead_code))]
    pub(crate) fn aged(ttl: Duration, policy: &Policy, now: u64, age: Duration) -> Self {
        policy.lifetime(now.saturating_sub(saturating_nanos(age)), ttl)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECOND: u64 = 1_000_000_000;

    fn policy() -> Policy {
        Policy {
            default_ttl: Duration::from_secs(30),
            max_ttl: Duration::from_secs(3600),
            assume_scope: CacheScope::Private,
            stale_while_revalidate: Duration::from_secs(5),
            stale_if_error: Duration::from_secs(60),
        }
    }

    fn hint(ttl_ms: Option<u64>, scope: Option<CacheScope>) -> CacheHint {
        CacheHint {
            ttl: ttl_ms.map(Duration::from_millis),
            scope,
        }
    }

    #[test]
    fn hints_are_honoured_capped_and_overridden() {
        let policy = policy();
        let public = Some(CacheScope::Public);
        assert_eq!(
            policy.decide(hint(Some(1500), public), Rule::HINTED),
            Some((Duration::from_millis(1500), CacheScope::Public))
        );
        assert_eq!(
            policy.decide(hint(Some(86_400_000), public), Rule::HINTED),
            Some((Duration::from_secs(3600), CacheScope::Public)),
            "max_ttl caps"
        );
        assert_eq!(
            policy.decide(hint(None, None), Rule::HINTED),
            Some((Duration::from_secs(30), CacheScope::Private)),
            "no hints: the default ttl, the assumed scope"
        );
        assert_eq!(policy.decide(hint(Some(0), public), Rule::HINTED), None);
        let rule = Rule::ttl(Duration::from_secs(2)).with_scope(CacheScope::Private);
        assert_eq!(
            policy.decide(hint(Some(0), public), rule),
            Some((Duration::from_secs(2), CacheScope::Private)),
            "an override wins over ttlMs: 0 and the scope"
        );
        assert_eq!(
            policy.decide(hint(Some(5000), public), Rule::ttl(Duration::ZERO)),
            None
        );
    }

    #[test]
    fn an_entry_is_fresh_then_revalidatable_then_stale_then_gone() {
        let policy = policy();
        let lifetime = policy.lifetime(10 * SECOND, Duration::from_secs(30));
        assert_eq!(lifetime.at(10 * SECOND), Freshness::Fresh);
        assert_eq!(lifetime.at(40 * SECOND - 1), Freshness::Fresh);
        assert_eq!(lifetime.at(40 * SECOND), Freshness::Revalidate);
        assert_eq!(lifetime.at(45 * SECOND), Freshness::Stale);
        assert_eq!(lifetime.at(100 * SECOND), Freshness::Expired);
        assert_eq!(lifetime.span(), Duration::from_secs(90));
        assert_eq!(lifetime.age(12 * SECOND), Duration::from_secs(2));

        let aged = Lifetime::aged(
            Duration::from_secs(30),
            &policy,
            100 * SECOND,
            Duration::from_secs(29),
        );
        assert_eq!(aged.at(100 * SECOND), Freshness::Fresh);
        assert_eq!(aged.at(101 * SECOND), Freshness::Revalidate);
    }
}
