//! Adaptive concurrency: [`AdaptiveLimitLayer`], its service and future,
//! and the [`Gradient`](gradient::Gradient) controller.

mod future;
mod gradient;
mod layer;
mod service;

pub use future::ResponseFuture;
pub use layer::{AdaptiveLimitBuilder, AdaptiveLimitLayer};
pub use service::AdaptiveLimit;
