//! Retries: [`RetryLayer`], its service and future, and the [`RetryBudget`]
//! that keeps retries from multiplying an outage.

mod budget;
mod future;
mod layer;
mod service;

pub use budget::RetryBudget;
pub use future::ResponseFuture;
pub use layer::{RetryBuilder, RetryLayer};
pub use service::Retry;
