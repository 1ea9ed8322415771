use super::*;
use crate::McpStack;

fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(name, value)| ((*name).to_owned(), (*value).to_owned()))
        .collect()
}

const EXAMPLE: &str = r#"
[cache]
max_bytes = 134217728
stale_while_revalidate = "10s"
tools.slow = { ttl = "60s", scope = "public" }

[[rate_limits]]
requests = 20
period = "1s"
key = "principal"

[timeout]
default = "30s"
tools.slow = "10s"

[metrics]
tools = ["echo", "slow"]
objectives = [{ tool = "slow", p95 = "200ms" }]
"#;

#[test]
fn a_file_reads_into_the_sections_it_names() {
    let config = StackConfig::from_toml(EXAMPLE, []).unwrap();
    assert_eq!(config.cache.max_bytes, Some(128 << 20));
    assert_eq!(
        config.cache.stale_while_revalidate,
        Some(TimeSpan::secs(10))
    );
    assert_eq!(
        config.cache.tools["slow"],
        RuleConfig {
            ttl: Some(TimeSpan::secs(60)),
            scope: Some(ScopeConfig::Public)
        }
    );
    assert_eq!(config.rate_limits.len(), 1);
    assert_eq!(config.rate_limits[0].key, RateKeyConfig::Principal);
    assert_eq!(config.timeout.tools["slow"], TimeSpan::secs(10));
    assert!(
        config.breaker.enabled,
        "sections not named keep their defaults"
    );
    assert_eq!(config.http.listen, "127.0.0.1:8080");
}

#[test]
fn bad_keys_and_values_are_named() {
    let error = StackConfig::from_toml("[cache]\nmax_byte = 1", []).unwrap_err();
    let text = error.to_string();
    assert!(text.starts_with("configuration: cache"), "{text}");
    assert!(text.contains("unknown field `max_byte`"), "{text}");

    let error = StackConfig::from_toml("[cache]\nmax_bytes = \"lots\"", []).unwrap_err();
    let text = error.to_string();
    assert!(text.contains("cache.max_bytes"), "{text}");
    assert!(text.contains("\"lots\""), "{text}");

    let error = StackConfig::from_toml("[timeout]\ndefault = \"30 parsecs\"", []).unwrap_err();
    assert!(error.to_string().contains("timeout.default"), "{error}");
    assert!(error.to_string().contains("not a unit"), "{error}");

    let error =
        StackConfig::from_toml("[[rate_limits]]\nkey = \"user\"\nrequests = 1", []).unwrap_err();
    assert_eq!(
        error.to_string(),
        "configuration: rate_limits[0].key: unknown variant `user`, \
         expected one of `global`, `principal`, `tool`, `method`"
    );

    let error = StackConfig::from_toml("[cache\n", []).unwrap_err();
    assert!(error.to_string().contains("line 1"), "{error}");
}

#[test]
fn the_environment_overrides_keys_and_is_named_when_wrong() {
    let config = StackConfig::from_toml(
        EXAMPLE,
        env(&[
            ("MCP_STACK__CACHE__MAX_BYTES", "1048576"),
            ("MCP_STACK__CACHE__HIT_MARKER", "true"),
            ("MCP_STACK__RATE_LIMITS__0__REQUESTS", "50"),
            ("MCP_STACK__RATE_LIMITS__1__REQUESTS", "500"),
            ("MCP_STACK__TIMEOUT__TOOLS__SEARCH", "5s"),
            ("MCP_STACK__REDIS__URL", "redis://127.0.0.1:6379/"),
            ("HOME", "/somewhere"),
        ]),
    )
    .unwrap();
    assert_eq!(config.cache.max_bytes, Some(1 << 20));
    assert!(config.cache.hit_marker);
    assert_eq!(config.rate_limits[0].requests, 50);
    assert_eq!(
        config.rate_limits[0].key,
        RateKeyConfig::Principal,
        "the rest of it stays"
    );
    assert_eq!(config.rate_limits[1].requests, 500);
    assert_eq!(config.timeout.tools["search"], TimeSpan::secs(5));
    assert_eq!(config.redis.unwrap().url, "redis://127.0.0.1:6379/");

    let error =
        StackConfig::from_toml("", env(&[("MCP_STACK__CACHE__MAX_BYTES", "lots")])).unwrap_err();
    let text = error.to_string();
    assert!(text.contains("cache.max_bytes"), "{text}");
    assert!(
        text.contains("(from MCP_STACK__CACHE__MAX_BYTES)"),
        "{text}"
    );

    let error = StackConfig::from_toml("", env(&[("MCP_STACK__CACHE__", "1")])).unwrap_err();
    assert!(error.to_string().contains("MCP_STACK__CACHE__"), "{error}");
    let error = StackConfig::from_toml(
        EXAMPLE,
        env(&[("MCP_STACK__RATE_LIMITS__5__REQUESTS", "1")]),
    )
    .unwrap_err();
    assert!(
        error.to_string().contains("the list has 1 items"),
        "{error}"
    );
}

#[test]
fn the_defaults_round_trip_through_toml() {
    let text = toml::to_string(&StackConfig::default()).unwrap();
    assert_eq!(
        StackConfig::from_toml(&text, []).unwrap(),
        StackConfig::default()
    );
}

#[test]
fn a_configuration_builds_its_stack_and_refuses_what_cannot_work() {
    let config = StackConfig::from_toml(EXAMPLE, []).unwrap();
    let mut config = config;
    config.metrics.prometheus = false;
    let stack = McpStack::from_config(&config).unwrap();
    let error = stack.build().unwrap_err();
    assert!(
        error
            .to_string()
            .contains("caching tool `slow` needs a tool_info"),
        "a tool rule needs to know the server's tools: {error}"
    );

    config.cache.tools.clear();
    let built = McpStack::from_config(&config).unwrap().build().unwrap();
    assert!(
        built
            .summary()
            .contains("rate limits      1, in this process"),
        "{}",
        built.summary()
    );

    let mut bad = StackConfig::default();
    bad.rate_limits.push(RateLimitConfig::default());
    let error = McpStack::from_config(&bad).unwrap_err();
    assert_eq!(
        error.to_string(),
        "configuration: rate_limits[0].requests: must be at least 1"
    );

    let mut bad = StackConfig::default();
    bad.metrics.objectives.push(ObjectiveConfig {
        tool: Some("slow".into()),
        ..ObjectiveConfig::default()
    });
    assert!(
        McpStack::from_config(&bad)
            .unwrap_err()
            .to_string()
            .contains("p95")
    );
}

#[test]
fn a_redis_configuration_prints_without_its_password() {
    let config = RedisConfig {
        url: "redis://:hunter2@cache:6379/".into(),
        ..RedisConfig::default()
    };
    let printed = format!("{config:?}");
    assert!(!printed.contains("hunter2"), "{printed}");
    assert!(printed.contains("redis://:***@cache:6379/"), "{printed}");
}
