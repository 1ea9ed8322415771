//! The rate limit: [`RateLimitLayer`], its service and future, and the
//! [`Gcra`] arithmetic.

mod buckets;
mod future;
mod gcra;
mod layer;
#[cfg(feature = "redis")]
mod redis;
mod service;

pub use future::ResponseFuture;
pub use gcra::{Decision, Gcra};
#[cfg(feature = "redis")]
pub use layer::DEFAULT_REDIS_TIMEOUT;
pub use layer::{ConfigError, KeyFn, RateKey, RateLimitBuilder, RateLimitLayer};
#[cfg(feature = "redis")]
pub use redis::WhenUnavailable;
pub use service::RateLimit;
