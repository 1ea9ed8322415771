//! [`GatewayConfig`]: the gateway in one TOML file, equal to its flags.
//!
//! ```toml
//! [gateway]
//! max_sessions = 10000
//! session_idle_timeout = "30m"
//!
//! [upstreams.search]
//! url = "http://127.0.0.1:9000/mcp"
//! authorization = "env:SEARCH_TOKEN"   # forward (default) | drop | env:VAR
//!
//! [upstreams.files]
//! command = "npx"
//! args = ["-y", "@modelcontextprotocol/server-filesystem", "/srv"]
//!
//! # This upstream's stack: these keys over the top-level sections.
//! [upstreams.files.stack.timeout]
//! default = "5s"
//!
//! # The stack of every upstream, as `StackConfig` reads it.
//! [cache]
//! max_bytes = 134217728
//!
//! [http]
//! listen = "127.0.0.1:8080"
//! ```
//!
//! Environment overrides work as for [`StackConfig`]:
//! `MCP_STACK__GATEWAY__MAX_SESSIONS=100`,
//! `MCP_STACK__UPSTREAMS__SEARCH__URL=http://...` (upstream names in
//! variables are lower case).

use std::{collections::BTreeMap, path::Path};

use serde::{Deserialize, Serialize};

use super::{error::GatewayError, namespace::is_valid_upstream_name};
use crate::{
    StackConfig,
    config::{ENV_PREFIX, TimeSpan, env, read_value},
};

/// The default of [`GatewaySettings::max_sessions`].
pub const DEFAULT_MAX_SESSIONS: usize = 10_000;
/// The default of [`UpstreamConfig::max_connections`].
pub const DEFAULT_MAX_CONNECTIONS: usize = 256;

/// The whole gateway: its own settings, its upstreams, and the stack each
/// upstream gets.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct GatewayConfig {
    /// The stack of every upstream (the top-level sections of the file),
    /// and `[http]`, where the gateway listens.
    pub stack: StackConfig,
    /// `[gateway]`.
    pub gateway: GatewaySettings,
    /// `[upstreams.NAME]`, by name. Several upstreams are namespaced (see
    /// [`namespace`](super::namespace)), in name order.
    pub upstreams: BTreeMap<String, UpstreamConfig>,
}

/// `[gateway]`: sessions and limits of the edge.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GatewaySettings {
    /// Client sessions at most; a new one beyond is refused (idle ones
    /// are expired first). Default [`DEFAULT_MAX_SESSIONS`].
    pub max_sessions: usize,
    /// A session unused this long ends, with its upstream sessions.
    /// Default 30 min.
    pub session_idle_timeout: TimeSpan,
    /// The largest answer read from an upstream: one JSON body, one SSE
    /// event, one stdio line. Default 16 MiB, the cap MCP clients put on
    /// one message.
    pub max_response_bytes: usize,
}

impl Default for GatewaySettings {
    fn default() -> Self {
        Self {
            max_sessions: DEFAULT_MAX_SESSIONS,
            session_idle_timeout: TimeSpan::secs(30 * 60),
            max_response_bytes: 16 << 20,
        }
    }
}

/// `[upstreams.NAME]`: one upstream server, over HTTP (`url`) or as a child
/// process (`command`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct UpstreamConfig {
    /// A Streamable HTTP endpoint, `http://host:port/path`.
    pub url: Option<String>,
    /// A stdio server to start: the program.
    pub command: Option<String>,
    /// Its arguments.
    pub args: Vec<String>,
    /// Environment variables set for it, beside the gateway's own.
    pub env: BTreeMap<String, String>,
    /// The `Authorization` the upstream gets: `forward` (the client's, the
    /// default), `drop` (none), or `env:VAR` (the value of the gateway's
    /// variable `VAR`, such as `Bearer abc`, whatever the client sent).
    pub authorization: String,
    /// Requests in flight to it at most, each holding one pooled
    /// connection; over that, requests are shed as overloaded. Default
    /// [`DEFAULT_MAX_CONNECTIONS`].
    pub max_connections: usize,
    /// This upstream's stack: keys set over the top-level sections (the
    /// same names: `[upstreams.NAME.stack.timeout]`, ...).
    pub stack: toml::Table,
}

impl Default for UpstreamConfig {
    fn default() -> Self {
        Self {
            url: None,
            command: None,
            args: Vec::new(),
            env: BTreeMap::new(),
            authorization: "forward".into(),
            max_connections: DEFAULT_MAX_CONNECTIONS,
            stack: toml::Table::new(),
        }
    }
}

impl UpstreamConfig {
    /// An upstream at the Streamable HTTP endpoint `url`.
    pub fn http(url: impl Into<String>) -> Self {
        Self {
            url: Some(url.into()),
            ..Self::default()
        }
    }

    /// An upstream started as `program args...`, over stdio.
    pub fn stdio(
        program: impl Into<String>,
        args: impl IntoIterator<Item = impl Into<String>>,
    ) -> Self {
        Self {
            command: Some(program.into()),
            args: args.into_iter().map(Into::into).collect(),
            ..Self::default()
        }
    }

    /// The value of a `--upstream` flag: `NAME=URL`, or `NAME=cmd:PROGRAM
    /// ARGS...` (arguments split at spaces; quote with `'` or `"`).
    pub fn from_flag(flag: &str) -> Result<(String, Self), GatewayError> {
        let invalid = |why: &str| GatewayError::Config(format!("--upstream `{flag}`: {why}"));
        let (name, target) = flag
            .split_once('=')
            .ok_or_else(|| invalid("expected NAME=URL or NAME=cmd:COMMAND"))?;
        if let Some(command) = target.strip_prefix("cmd:") {
            let mut words = split_words(command)
                .map_err(|why| invalid(&why))?
                .into_iter();
            let program = words
                .next()
                .ok_or_else(|| invalid("the command is empty"))?;
            return Ok((name.to_owned(), Self::stdio(program, words)));
        }
        if target.is_empty() {
            return Err(invalid("the URL is empty"));
        }
        Ok((name.to_owned(), Self::http(target)))
    }
}

/// Splits a command line at spaces, keeping quoted parts whole.
fn split_words(line: &str) -> Result<Vec<String>, String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut quote = None;
    for c in line.chars() {
        match (quote, c) {
            (Some(open), c) if c == open => quote = None,
            (Some(_), c) => word.push(c),
            (None, '\'' | '"') => {
                quote = Some(c);
                in_word = true;
            }
            (None, c) if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            (None, c) => {
                word.push(c);
                in_word = true;
            }
        }
    }
    if quote.is_some() {
        return Err("a quote is not closed".into());
    }
    if in_word {
        words.push(word);
    }
    Ok(words)
}

/// The gateway's own part of the file.
#[derive(Deserialize)]
#[serde(default, deny_unknown_fields)]
#[derive(Default)]
struct GatewayPart {
    gateway: GatewaySettings,
    upstreams: BTreeMap<String, UpstreamConfig>,
}

/// The top-level keys that are the gateway's, not the stack's.
const GATEWAY_KEYS: [&str; 2] = ["gateway", "upstreams"];

impl GatewayConfig {
    /// The configuration in `text` (TOML), with overrides from `env`
    /// (`(name, value)` pairs; names starting with [`ENV_PREFIX`] count).
    pub fn from_toml(
        text: &str,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Self, GatewayError> {
        let mut table: toml::Table = text
            .parse()
            .map_err(|error: toml::de::Error| GatewayError::Config(error.to_string()))?;
        let mut ours = toml::Table::new();
        for key in GATEWAY_KEYS {
            if let Some(value) = table.remove(key) {
                ours.insert(key.into(), value);
            }
        }
        let mut stack_env = Vec::new();
        for (name, value) in env {
            let Some(path) = name.strip_prefix(ENV_PREFIX) else {
                continue;
            };
            let keys: Vec<String> = path.split("__").map(str::to_ascii_lowercase).collect();
            if keys
                .first()
                .is_some_and(|first| GATEWAY_KEYS.contains(&first.as_str()))
            {
                env::set(&mut ours, &keys, read_value(&value))
                    .map_err(|problem| GatewayError::Config(format!("{name}: {problem}")))?;
            } else {
                stack_env.push((name, value));
            }
        }
        let part: GatewayPart = serde_path_to_error::deserialize(toml::Value::Table(ours))
            .map_err(|error| {
                let path = error.path().to_string();
                let message = error.into_inner().to_string();
                let message = message
                    .split("\nin `")
                    .next()
                    .unwrap_or_default()
                    .to_owned();
                GatewayError::Config(format!("{path}: {message}"))
            })?;
        let rest =
            toml::to_string(&table).map_err(|error| GatewayError::Config(error.to_string()))?;
        let stack = StackConfig::from_toml(&rest, stack_env).map_err(GatewayError::Stack)?;
        let config = Self {
            stack,
            gateway: part.gateway,
            upstreams: part.upstreams,
        };
        config.check()?;
        Ok(config)
    }

    /// The configuration in the file at `path`, or the defaults without
    /// one, with this process's environment overrides.
    pub fn load(path: Option<&Path>) -> Result<Self, GatewayError> {
        let text = match path {
            Some(path) => std::fs::read_to_string(path)
                .map_err(|error| GatewayError::Config(format!("{}: {error}", path.display())))?,
            None => String::new(),
        };
        Self::from_toml(&text, std::env::vars())
    }

    /// Checks what the types cannot: names, one transport per upstream,
    /// authorization values.
    pub fn check(&self) -> Result<(), GatewayError> {
        for (name, upstream) in &self.upstreams {
            let invalid = |why: String| GatewayError::Config(format!("upstreams.{name}: {why}"));
            if !is_valid_upstream_name(name) {
                return Err(invalid(
                    "an upstream name is a letter, then letters, digits or `-`, at most 64 characters".into(),
                ));
            }
            match (&upstream.url, &upstream.command) {
                (Some(_), Some(_)) => {
                    return Err(invalid("give `url` or `command`, not both".into()));
                }
                (None, None) => {
                    return Err(invalid("give `url` (HTTP) or `command` (stdio)".into()));
                }
                (Some(url), None) => {
                    crate::client::http_client::parse_url(url)
                        .map_err(|error| invalid(format!("url: {error}")))?;
                }
                (None, Some(_)) => {}
            }
            if upstream.max_connections == 0 {
                return Err(invalid("max_connections must be at least 1".into()));
            }
            let authorization = upstream.authorization.as_str();
            if !matches!(authorization, "forward" | "drop") && !authorization.starts_with("env:") {
                return Err(invalid(format!(
                    "authorization `{authorization}`: expected forward, drop or env:VAR"
                )));
            }
        }
        Ok(())
    }

    /// The stack of upstream `name`: the top-level sections with its own
    /// `stack` keys set over them.
    pub fn stack_for(&self, name: &str) -> Result<StackConfig, GatewayError> {
        let Some(upstream) = self.upstreams.get(name) else {
            return Err(GatewayError::Config(format!(
                "no upstream is named `{name}`"
            )));
        };
        if upstream.stack.is_empty() {
            return Ok(self.stack.clone());
        }
        let mut base = toml::Value::try_from(&self.stack)
            .map_err(|error| GatewayError::Config(error.to_string()))?;
        merge(&mut base, toml::Value::Table(upstream.stack.clone()));
        serde_path_to_error::deserialize(base).map_err(|error| {
            let path = error.path().to_string();
            let message = error.into_inner().to_string();
            let message = message
                .split("\nin `")
                .next()
                .unwrap_or_default()
                .to_owned();
            GatewayError::Config(format!("upstreams.{name}.stack.{path}: {message}"))
        })
    }
}

/// `over` set into `base`: tables merge key by key, anything else replaces.
fn merge(base: &mut toml::Value, over: toml::Value) {
    match (base, over) {
        (toml::Value::Table(base), toml::Value::Table(over)) => {
            for (key, value) in over {
                match base.get_mut(&key) {
                    Some(slot) => merge(slot, value),
                    None => {
                        base.insert(key, value);
                    }
                }
            }
        }
        (base, over) => *base = over,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests fail loudly")]

    use std::time::Duration;

    use super::*;

    #[test]
    fn a_file_holds_the_gateway_its_upstreams_and_their_stacks() {
        let text = r#"
            [gateway]
            max_sessions = 5

            [upstreams.search]
            url = "http://127.0.0.1:9000/mcp"
            authorization = "drop"

            [upstreams.files]
            command = "server"
            args = ["--root", "/srv"]
            [upstreams.files.stack.timeout]
            default = "5s"

            [timeout]
            default = "20s"
            tools.slow = "60s"
        "#;
        let config = GatewayConfig::from_toml(text, []).unwrap();
        assert_eq!(config.gateway.max_sessions, 5);
        assert_eq!(config.upstreams["search"].authorization, "drop");
        assert_eq!(config.upstreams["files"].args, ["--root", "/srv"]);
        assert_eq!(config.stack.timeout.default.0, Duration::from_secs(20));
        let files = config.stack_for("files").unwrap();
        assert_eq!(files.timeout.default.0, Duration::from_secs(5));
        assert_eq!(
            files.timeout.tools["slow"].0,
            Duration::from_secs(60),
            "kept from the top"
        );
        assert_eq!(config.stack_for("search").unwrap(), config.stack);
    }

    #[test]
    fn environment_overrides_reach_both_parts() {
        let env = [
            (
                "MCP_STACK__GATEWAY__MAX_SESSIONS".to_owned(),
                "7".to_owned(),
            ),
            (
                "MCP_STACK__UPSTREAMS__A__URL".to_owned(),
                "http://127.0.0.1:1/mcp".to_owned(),
            ),
            ("MCP_STACK__CACHE__MAX_BYTES".to_owned(), "1024".to_owned()),
        ];
        let config = GatewayConfig::from_toml("", env).unwrap();
        assert_eq!(config.gateway.max_sessions, 7);
        assert_eq!(
            config.upstreams["a"].url.as_deref(),
            Some("http://127.0.0.1:1/mcp")
        );
        assert_eq!(config.stack.cache.max_bytes, Some(1024));
    }

    #[test]
    fn mistakes_name_their_key() {
        let error = |text: &str| GatewayConfig::from_toml(text, []).unwrap_err().to_string();
        assert!(
            error("[gateway]\nmax_sesions = 1").contains("max_sesions"),
            "{}",
            error("[gateway]\nmax_sesions = 1")
        );
        assert!(error("[upstreams.a]\n").contains("give `url`"));
        assert!(error("[upstreams.a_b]\nurl = \"http://x/\"").contains("upstreams.a_b"));
        assert!(error("[upstreams.a]\nurl = \"https://x/\"").contains("TLS"));
        assert!(
            error("[upstreams.a]\ncommand = \"x\"\nauthorization = \"Bearer x\"")
                .contains("env:VAR")
        );
        let bad_stack = "[upstreams.a]\ncommand = \"x\"\n[upstreams.a.stack.timeout]\ndefault = 5";
        let config = GatewayConfig::from_toml(bad_stack, []).unwrap();
        let message = config.stack_for("a").unwrap_err().to_string();
        assert!(
            message.contains("upstreams.a.stack.timeout.default"),
            "{message}"
        );
    }

    #[test]
    fn flags_name_http_and_stdio_upstreams() {
        let (name, http) = UpstreamConfig::from_flag("demo=http://127.0.0.1:8080/mcp").unwrap();
        assert_eq!(
            (name.as_str(), http.url.as_deref()),
            ("demo", Some("http://127.0.0.1:8080/mcp"))
        );
        let (_, stdio) =
            UpstreamConfig::from_flag(r#"py=cmd:python3 -m "my server" --flag"#).unwrap();
        assert_eq!(stdio.command.as_deref(), Some("python3"));
        assert_eq!(stdio.args, ["-m", "my server", "--flag"]);
        assert!(UpstreamConfig::from_flag("nothing").is_err());
        assert!(UpstreamConfig::from_flag("a=cmd:").is_err());
        assert!(UpstreamConfig::from_flag("a=cmd:'open").is_err());
    }
}
