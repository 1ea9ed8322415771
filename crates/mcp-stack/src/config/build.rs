//! [`StackConfig`] onto [`McpStack`]: each section to its builder calls.

use std::time::Duration;

use mcp_breaker::{TimeoutLayer, Window};
use mcp_cache::Rule;
use mcp_limit::{PoolMatch, RateKey, RateLimitLayer};
use mcp_metrics::LatencyObjective;
use mcp_service::CacheScope;

use super::{
    CacheConfig, ConcurrencyConfig, MetricsConfig, RateKeyConfig, RateLimitConfig, RuleConfig,
    ScopeConfig, StackConfig, TimeSpan,
};
use crate::{McpStack, error::StackError};

fn scope(scope: ScopeConfig) -> CacheScope {
    match scope {
        ScopeConfig::Public => CacheScope::Public,
        ScopeConfig::Private => CacheScope::Private,
    }
}

fn rule(rule: &RuleConfig) -> Rule {
    Rule {
        ttl: rule.ttl.map(Duration::from),
        scope: rule.scope.map(scope),
    }
}

/// `Some(window)`, or `None` for a zero span: how a window is turned off.
fn window(span: Option<TimeSpan>) -> Option<Option<Duration>> {
    span.map(|span| Some(span.0).filter(|window| !window.is_zero()))
}

fn invalid(key: String, problem: &str) -> StackError {
    StackError::Config(format!("{key}: {problem}"))
}

impl McpStack {
    /// The stack `config` describes: the defaults of [`McpStack::new`],
    /// changed where the configuration says.
    pub fn from_config(config: &StackConfig) -> Result<Self, StackError> {
        let mut stack = Self::new();
        stack = metrics(stack, &config.metrics)?;
        for (index, limit) in config.rate_limits.iter().enumerate() {
            stack = stack.rate_limit(rate_limit(index, limit)?);
        }
        stack = if config.chunking.enabled {
            let chunking = &config.chunking;
            stack.chunking(|mut builder| {
                if let Some(bytes) = chunking.max_chunk_bytes {
                    builder = builder.max_chunk_bytes(bytes);
                }
                if let Some(bytes) = chunking.max_message_bytes {
                    builder = builder.max_message_bytes(bytes);
                }
                builder
            })
        } else {
            stack.no_chunking()
        };
        stack = match (config.pagination.enabled, config.pagination.page_size) {
            (false, _) => stack.no_pagination(),
            (true, Some(size)) => stack.pagination(|builder| builder.page_size(size)),
            (true, None) => stack,
        };
        stack = cache(stack, &config.cache);
        stack = concurrency(stack, &config.concurrency)?;
        if config.adaptive.enabled {
            let adaptive = &config.adaptive;
            stack = stack.adaptive(|mut builder| {
                if let Some(limit) = adaptive.min_limit {
                    builder = builder.min_limit(limit);
                }
                if let Some(limit) = adaptive.max_limit {
                    builder = builder.max_limit(limit);
                }
                if let Some(limit) = adaptive.initial_limit {
                    builder = builder.initial_limit(limit);
                }
                if let Some(tolerance) = adaptive.tolerance {
                    builder = builder.tolerance(tolerance);
                }
                builder
            });
        }
        stack = if config.breaker.enabled {
            let breaker = &config.breaker;
            stack.breaker(|mut builder| {
                if let Some(name) = &breaker.name {
                    builder = builder.name(name.clone());
                }
                if let Some(calls) = breaker.window {
                    builder = builder.window(Window::Count(calls));
                }
                if let Some(calls) = breaker.minimum_calls {
                    builder = builder.minimum_calls(calls);
                }
                if let Some(rate) = breaker.failure_rate {
                    builder = builder.failure_rate_threshold(rate);
                }
                if let Some(failures) = breaker.consecutive_failures {
                    builder = builder.consecutive_failures(failures);
                }
                if let Some(duration) = breaker.open_duration {
                    builder = builder.open_duration(duration.0);
                }
                if let Some(duration) = breaker.max_open_duration {
                    builder = builder.max_open_duration(duration.0);
                }
                if let Some(calls) = breaker.half_open_calls {
                    builder = builder.half_open_calls(calls);
                }
                builder
            })
        } else {
            stack.no_breaker()
        };
        stack = if config.timeout.enabled {
            let timeout = &config.timeout;
            let mut layer = TimeoutLayer::new(timeout.default.0);
            for (method, deadline) in &timeout.methods {
                layer = layer.method(method, deadline.0);
            }
            for (tool, deadline) in &timeout.tools {
                layer = layer.tool(tool, deadline.0);
            }
            stack.timeout(layer)
        } else {
            stack.no_timeout()
        };
        stack = if config.retry.enabled {
            let retry = &config.retry;
            stack.retry(|mut builder| {
                if let Some(retries) = retry.max_retries {
                    builder = builder.max_retries(retries);
                }
                builder.read_only_tools(&retry.read_only_tools)
            })
        } else {
            stack.no_retry()
        };
        if let Some(redis) = &config.redis {
            if redis.url.is_empty() {
                return Err(invalid(
                    "redis.url".into(),
                    "empty: give redis://host:port/",
                ));
            }
            stack = stack.redis(redis.url.clone());
            #[cfg(feature = "redis")]
            {
                let options = mcp_service::redis::RedisOptions {
                    response_timeout: redis.response_timeout.0,
                    connection_timeout: redis.connection_timeout.0,
                    ..mcp_service::redis::RedisOptions::default()
                };
                stack = stack.redis_settings(options, redis.prefix.clone());
            }
        }
        Ok(stack)
    }
}

fn metrics(stack: McpStack, config: &MetricsConfig) -> Result<McpStack, StackError> {
    if !config.enabled {
        return Ok(stack.no_metrics());
    }
    let mut objectives = Vec::new();
    for (index, objective) in config.objectives.iter().enumerate() {
        let key = format!("metrics.objectives[{index}]");
        let scope = match (&objective.method, &objective.tool) {
            (Some(method), None) => LatencyObjective::method(method.clone()),
            (None, Some(tool)) => LatencyObjective::tool(tool.clone()),
            _ => return Err(invalid(key, "give exactly one of `method` and `tool`")),
        };
        match (objective.p95, objective.p99) {
            (None, None) => return Err(invalid(key, "give `p95`, `p99` or both")),
            (p95, p99) => {
                if let Some(bound) = p95 {
                    objectives.push(scope.clone().p95(bound.0));
                }
                if let Some(bound) = p99 {
                    objectives.push(scope.p99(bound.0));
                }
            }
        }
    }
    let window = config.stats_window.0;
    Ok(stack
        .metrics(|builder| {
            builder
                .tools(&config.tools)
                .prompts(&config.prompts)
                .sizes(config.sizes)
        })
        .stats(|builder| {
            objectives
                .into_iter()
                .fold(builder.window(window), |builder, objective| {
                    builder.objective(objective)
                })
        })
        .prometheus(config.prometheus))
}

fn rate_limit(
    index: usize,
    config: &RateLimitConfig,
) -> Result<mcp_limit::RateLimitBuilder, StackError> {
    if config.requests == 0 {
        return Err(invalid(
            format!("rate_limits[{index}].requests"),
            "must be at least 1",
        ));
    }
    let mut builder =
        RateLimitLayer::builder(config.requests, config.period.0).key(match config.key {
            RateKeyConfig::Global => RateKey::Global,
            RateKeyConfig::Principal => RateKey::Principal,
            RateKeyConfig::Tool => RateKey::Tool,
            RateKeyConfig::Method => RateKey::Method,
        });
    if let Some(name) = &config.name {
        builder = builder.name(name.clone());
    }
    if let Some(burst) = config.burst {
        builder = builder.burst(burst);
    }
    if let Some(wait) = config.max_wait {
        builder = builder.max_wait(wait.0);
    }
    if let Some(keys) = config.max_keys {
        builder = builder.max_keys(keys);
    }
    for (tool, cost) in &config.costs {
        builder = builder.cost(tool, *cost);
    }
    Ok(builder)
}

fn cache(stack: McpStack, config: &CacheConfig) -> McpStack {
    if !config.enabled {
        return stack.no_cache();
    }
    stack.cache(|mut builder| {
        if let Some(bytes) = config.max_bytes {
            builder = builder.max_bytes(bytes);
        }
        if let Some(bytes) = config.max_entry_bytes {
            builder = builder.max_entry_bytes(bytes);
        }
        if let Some(ttl) = config.default_ttl {
            builder = builder.default_ttl(ttl.0);
        }
        if let Some(ttl) = config.max_ttl {
            builder = builder.max_ttl(ttl.0);
        }
        if let Some(assumed) = config.assume_scope {
            builder = builder.assume_scope(scope(assumed));
        }
        if let Some(window) = window(config.stale_while_revalidate) {
            builder = builder.stale_while_revalidate(window);
        }
        if let Some(window) = window(config.stale_if_error) {
            builder = builder.stale_if_error(window);
        }
        builder = builder.hit_marker(config.hit_marker);
        for (method, method_rule) in &config.methods {
            builder = builder.method(method, rule(method_rule));
        }
        for method in &config.without_methods {
            builder = builder.without_method(method);
        }
        for (tool, tool_rule) in &config.tools {
            builder = builder.tool(tool, rule(tool_rule));
        }
        builder
    })
}

fn concurrency(stack: McpStack, config: &ConcurrencyConfig) -> Result<McpStack, StackError> {
    if !config.enabled {
        return Ok(stack.no_concurrency());
    }
    for (index, pool) in config.pools.iter().enumerate() {
        if pool.tools.is_empty() == pool.methods.is_empty() {
            return Err(invalid(
                format!("concurrency.pools[{index}]"),
                "give exactly one of `tools` and `methods`",
            ));
        }
    }
    Ok(stack.concurrency(|builder| {
        let mut builder = builder.default_pool(config.max_in_flight);
        for pool in &config.pools {
            let matching = if pool.tools.is_empty() {
                PoolMatch::Methods(pool.methods.clone())
            } else {
                PoolMatch::Tools(pool.tools.clone())
            };
            builder = builder.pool(&pool.name, pool.slots, matching);
        }
        if let Some(queue) = &config.queue {
            builder = builder.queue(queue.waiting, queue.timeout.0);
        }
        builder
    }))
}
