//! [`ConfigError`]: why a cache could not be built.

/// A setting of [`CacheBuilder`](crate::CacheBuilder) that cannot work.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// `max_bytes` is 0: nothing could ever be kept.
    #[error("max_bytes must be at least 1")]
    NoCapacity,
    /// `max_entry_bytes` is larger than `max_bytes`.
    #[error("max_entry_bytes ({entry}) exceeds max_bytes ({total})")]
    EntryOverCapacity {
        /// The largest entry asked for.
        entry: usize,
        /// The whole bound.
        total: u64,
    },
    /// A tool was opted in, but nothing can say whether it is read-only.
    #[error("caching tool `{0}` needs a tool_info lookup to check its readOnlyHint")]
    ToolWithoutInfo(String),
    /// A method name is empty or is `tools/call` (opt tools in by name).
    #[error("`{0}` cannot be cached as a method; use `tool(name, rule)` for tools/call")]
    BadMethod(String),
    /// `max_ttl` is zero.
    #[error("max_ttl must be longer than zero")]
    NoTtl,
    /// The Redis tier starts tasks, and there is no Tokio runtime to run them.
    #[error("a cache with a Redis tier must be built inside a Tokio runtime")]
    NoRuntime,
    /// The Redis tier's breaker settings were refused.
    #[error("redis tier breaker: {0}")]
    Breaker(String),
}
