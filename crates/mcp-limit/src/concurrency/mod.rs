//! Bulkheads: [`ConcurrencyLimitLayer`], its service and future.

mod future;
mod layer;
mod service;

pub use future::ResponseFuture;
pub use layer::{ConcurrencyLimitBuilder, ConcurrencyLimitLayer, PoolMatch};
pub use service::ConcurrencyLimit;
