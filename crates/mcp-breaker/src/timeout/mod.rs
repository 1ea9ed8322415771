//! The timeout: [`TimeoutLayer`], its service and future.

mod future;
mod layer;
mod service;

pub use future::ResponseFuture;
pub use layer::TimeoutLayer;
pub use service::Timeout;
