//! The circuit breaker: [`CircuitBreakerLayer`], its service and future, the
//! state machine ([`Circuit`]) and the operator's [`CircuitHandle`].

mod config;
mod future;
mod keyed;
mod layer;
mod service;
mod state;
mod window;

pub use config::{CircuitBreakerConfig, ConfigError, StateListener, Window};
pub use future::ResponseFuture;
pub use keyed::{
    BreakerKey, KeyedCircuitBreaker, KeyedCircuitBreakerLayer, KeyedCircuitHandle, Route,
};
pub use layer::{CircuitBreakerBuilder, CircuitBreakerLayer, CircuitHandle};
pub use service::CircuitBreaker;
pub use state::{Circuit, Permit, State, StateChange};
pub(crate) use window::claim;
