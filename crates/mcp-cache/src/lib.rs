//! A multi-level cache for MCP results, as a tower layer: moka in memory,
//! Redis shared between nodes, one call per key at a time, stale serving,
//! and invalidation from MCP's own change notifications.
//!
//! # What is cached
//!
//! `server/discover`, the four list methods and `resources/read` by
//! default ([`DEFAULT_METHODS`]); `prompts/get`, `completion/complete` or
//! any other method with [`CacheBuilder::method`]; `tools/call` only for
//! tools opted in with [`CacheBuilder::tool`] *and* declared
//! `readOnlyHint: true`, which the cache checks with a [`ToolInfo`] lookup
//! rather than trusting a missing annotation. Never cached: errors,
//! `isError: true`, `input_required` and task results, requests that carry
//! `inputResponses` or `requestState`, results over `max_entry_bytes`.
//!
//! # Freshness and scope
//!
//! A result stays fresh for its `ttlMs` (`0` keeps it out), a [`Rule`]'s
//! override, or the default TTL, never longer than `max_ttl`. A `public`
//! result is shared by everyone; a `private` one is kept per principal and
//! not at all for anonymous requests; a result without `cacheScope` is
//! treated as private unless configured otherwise. Every hit compares the
//! stored partition, so a principal never receives another's entry.
//!
//! # Tiers, single-flight, stale serving
//!
//! The in-memory tier is moka, bounded in bytes. With [`RedisTier`]
//! (feature `redis`, on by default) a shared tier sits behind it: a hit
//! there fills memory; writes go through a bounded queue and never delay a
//! response; a slow or dead Redis costs a few timeouts, then nothing, and
//! comes back by itself. Concurrent misses on one key make one call; the
//! others wait for it (up to `flight_timeout` after it started, or until
//! they are cancelled) and share its result or its error; a dropped call
//! never strands them. Stale-while-revalidate (off by default) serves a
//! stale result while one background call refreshes it; stale-if-error (5
//! minutes by default) answers a failing call with the stale result.
//!
//! # Invalidation
//!
//! An [`Invalidator`] drops entries by method, resource, tool, prompt,
//! request, key or all at once, and maps MCP's `list_changed` and
//! `resources/updated` notifications onto them. It moves a generation
//! counter, so a fill that started before an invalidation never stores
//! after it; with Redis, every node hears of it over pub/sub, and a node
//! that may have missed a message clears its memory.
//!
//! ```
//! use std::time::Duration;
//! use mcp_cache::{CacheLayer, Rule};
//! use mcp_service::jsonrpc::{JsonRpcRequest, JsonRpcResponse};
//! use tower::{ServiceBuilder, ServiceExt, service_fn};
//!
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! let cache = CacheLayer::builder()
//!     .max_bytes(32 << 20)
//!     .tool("weather", Rule::ttl(Duration::from_secs(60)))
//!     .tool_info(|tool: &str| Some(tool == "weather"))
//!     .build()?;
//! let service = ServiceBuilder::new().layer(cache.clone()).service(service_fn(
//!     |_request: JsonRpcRequest| async {
//!         JsonRpcResponse::from_value(&serde_json::json!({
//!             "tools": [], "ttlMs": 60000, "cacheScope": "public"
//!         }))
//!     },
//! ));
//! let list = || JsonRpcRequest::new(Some(mcp_service::jsonrpc::RequestId::Number(1)), "tools/list", None).unwrap();
//! service.clone().oneshot(list()).await?;
//! service.clone().oneshot(list()).await?;
//! assert_eq!(cache.counts().l1_hits, 1);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! # }).unwrap();
//! ```
//!
//! For handler code, [`CacheLayer::get_or_load`] caches any async call by
//! key through the same tiers and rules.
//!
//! # Metrics
//!
//! Names from [`mcp_metrics::names`], label `cache`: `mcp.cache.requests`
//! (labels `tier`, `result`: hit, stale, miss, bypass),
//! `mcp.cache.coalesced`, `mcp.cache.evictions` (label `cause`),
//! `mcp.cache.bytes`, `mcp.cache.redis_errors` (label `operation`),
//! `mcp.cache.invalidations` (label `source`). [`CacheLayer::counts`]
//! gives the same lookups as plain numbers.

mod core;
mod entry;
mod error;
mod flight;
mod freshness;
mod future;
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing;
mod generations;
mod invalidate;
mod l1;
mod layer;
mod load;
mod plan;
mod service;
#[cfg(feature = "redis")]
mod shared;
mod signals;

pub use error::ConfigError;
pub use freshness::Rule;
pub use future::ResponseFuture;
pub use generations::Tag;
pub use invalidate::Invalidator;
pub use layer::{CacheBuilder, CacheLayer};
pub use plan::{DEFAULT_METHODS, ToolInfo};
pub use service::{Cache, HIT_MARKER};
#[cfg(feature = "redis")]
pub use shared::RedisTier;
pub use signals::CacheCounts;
