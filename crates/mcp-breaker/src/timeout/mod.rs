//! The timeout: [`TimeoutLayer`], its service and future.

mod extender;
mod future;
mod layer;
mod service;

pub use extender::DeadlineExtender;
pub use future::ResponseFuture;
pub use layer::TimeoutLayer;
pub use service::Timeout;
