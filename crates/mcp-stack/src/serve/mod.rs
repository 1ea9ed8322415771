//! Serving a stack: over Streamable HTTP with its side routes (feature
//! `http`), or over stdio in one call (feature `stdio`).

#[cfg(feature = "http")]
mod http;
#[cfg(feature = "stdio")]
mod stdio;

#[cfg(feature = "http")]
pub use http::{Drain, HttpServer, shutdown_signal};
#[cfg(feature = "gateway")]
pub(crate) use http::{count_in_flight, counted, prometheus_response, serve_draining};
#[cfg(feature = "stdio")]
pub use stdio::serve_stdio;
