//! List pagination: [`PaginationLayer`], its service and future.

mod future;
mod layer;
mod plan;
mod service;

pub use future::ResponseFuture;
pub use layer::{PaginationLayer, PaginationLayerBuilder};
pub use service::Paginate;
