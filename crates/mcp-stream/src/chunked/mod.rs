//! Chunked reads and the size guard: [`ChunkLayer`], its service and future.

mod future;
mod layer;
mod parked;
mod read;
mod service;

pub use future::ResponseFuture;
pub use layer::{ChunkLayer, ChunkLayerBuilder};
pub use service::Chunk;
