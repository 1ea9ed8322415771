//! How a fuzz input becomes a configuration: TOML text, then optionally a
//! line `#env` followed by `NAME=VALUE` lines, the environment.
//!
//! Shared by the checks `stack_config` and `gateway_config`.

/// The TOML text and the environment of `bytes`; `None` when not UTF-8.
pub(crate) fn split(bytes: &[u8]) -> Option<(&str, Vec<(String, String)>)> {
    let text = std::str::from_utf8(bytes).ok()?;
    let Some((toml, env)) = text.split_once("\n#env\n") else {
        return Some((text, Vec::new()));
    };
    let env = env
        .lines()
        .filter_map(|line| line.split_once('='))
        .map(|(name, value)| (name.to_owned(), value.to_owned()))
        .collect();
    Some((toml, env))
}
