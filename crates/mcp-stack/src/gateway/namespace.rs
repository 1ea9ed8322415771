//! How several upstreams share one gateway: the names clients see, and the
//! way back to each upstream's own names.
//!
//! | what | the client sees | the upstream sees |
//! |---|---|---|
//! | a tool or a prompt | `NAME__tool` | `tool` |
//! | a resource or a template URI | `NAME+file:///a` | `file:///a` |
//! | a list cursor | one opaque cursor for every upstream's page | its own cursor |
//!
//! `NAME` is the upstream's configured name: a letter, then letters, digits
//! or `-`, at most 64 characters. Since a name holds neither `_` nor `+`,
//! the first `__` of a tool name and the first `+` of a URI end it, so the
//! mapping is reversible whatever the upstream's own names hold. A `NAME+`
//! prefix makes the URI's scheme `NAME+scheme`, still a valid URI scheme.
//!
//! With one upstream nothing is renamed: its names pass through untouched.

use std::collections::BTreeMap;

use base64::{Engine as _, engine::general_purpose::URL_SAFE_NO_PAD};
use mcp_service::RpcError;
use serde_json::{Map, Value};

/// Between the upstream's name and a tool or prompt name.
pub const NAME_SEPARATOR: &str = "__";
/// Between the upstream's name and a resource URI.
pub const URI_SEPARATOR: char = '+';
/// The longest upstream name.
pub const MAX_UPSTREAM_NAME: usize = 64;
/// The longest merged cursor accepted, in characters.
const MAX_CURSOR_CHARS: usize = 64 << 10;

/// Whether `name` can name an upstream: a letter, then letters, digits or
/// `-`, at most [`MAX_UPSTREAM_NAME`] characters.
pub fn is_valid_upstream_name(name: &str) -> bool {
    let mut chars = name.chars();
    name.len() <= MAX_UPSTREAM_NAME
        && chars
            .next()
            .is_some_and(|first| first.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '-')
}

/// `tool` of `upstream` as clients see it.
pub fn wrap_name(upstream: &str, name: &str) -> String {
    format!("{upstream}{NAME_SEPARATOR}{name}")
}

/// The upstream and its own name in a client's tool or prompt name.
pub fn split_name(name: &str) -> Option<(&str, &str)> {
    let (upstream, rest) = name.split_once(NAME_SEPARATOR)?;
    is_valid_upstream_name(upstream).then_some((upstream, rest))
}

/// `uri` of `upstream` as clients see it.
pub fn wrap_uri(upstream: &str, uri: &str) -> String {
    format!("{upstream}{URI_SEPARATOR}{uri}")
}

/// The upstream and its own URI in a client's URI.
pub fn split_uri(uri: &str) -> Option<(&str, &str)> {
    let (upstream, rest) = uri.split_once(URI_SEPARATOR)?;
    is_valid_upstream_name(upstream).then_some((upstream, rest))
}

/// Which field of a request's params names its target upstream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Target {
    /// `params.name` (`tools/call`, `prompts/get`).
    Name,
    /// `params.uri` (`resources/read`, `resources/subscribe`, ...).
    Uri,
    /// `params.ref.name` or `params.ref.uri` (`completion/complete`).
    Reference,
}

impl Target {
    pub(crate) fn of(method: &str) -> Option<Self> {
        Some(match method {
            "tools/call" | "prompts/get" => Self::Name,
            "resources/read" | "resources/subscribe" | "resources/unsubscribe" => Self::Uri,
            "completion/complete" => Self::Reference,
            _ => return None,
        })
    }
}

/// Takes the upstream's name out of the field `target` of `params`:
/// returns the upstream named, with `params` rewritten to its own names.
pub(crate) fn unwrap_params(
    target: Target,
    params: &mut Map<String, Value>,
) -> Result<String, RpcError> {
    let (object, key) = match target {
        Target::Name => (params, "name"),
        Target::Uri => (params, "uri"),
        Target::Reference => {
            let reference = params
                .get_mut("ref")
                .and_then(Value::as_object_mut)
                .ok_or_else(|| {
                    RpcError::invalid_params("completion/complete needs a `ref` object")
                })?;
            let key = if reference.contains_key("uri") {
                "uri"
            } else {
                "name"
            };
            (reference, key)
        }
    };
    let value = object
        .get(key)
        .and_then(Value::as_str)
        .ok_or_else(|| RpcError::invalid_params(format!("params need a string `{key}`")))?;
    let split = if key == "uri" {
        split_uri(value)
    } else {
        split_name(value)
    };
    let Some((upstream, own)) = split else {
        return Err(RpcError::invalid_params(format!(
            "`{value}` names no upstream: with several upstreams, names are \
             `UPSTREAM{NAME_SEPARATOR}name` and URIs `UPSTREAM{URI_SEPARATOR}uri`"
        )));
    };
    let (upstream, own) = (upstream.to_owned(), own.to_owned());
    object.insert(key.to_owned(), Value::String(own));
    Ok(upstream)
}

fn wrap_field(object: &mut Value, key: &str, wrap: impl Fn(&str) -> String) {
    if let Some(field) = object.get_mut(key)
        && let Some(text) = field.as_str()
    {
        *field = Value::String(wrap(text));
    }
}

fn each<'a>(result: &'a mut Value, key: &str) -> impl Iterator<Item = &'a mut Value> {
    result
        .get_mut(key)
        .and_then(Value::as_array_mut)
        .into_iter()
        .flatten()
}

/// Content blocks that point at resources (`resource_link`, embedded
/// `resource`) get the upstream's URIs wrapped.
fn wrap_content(blocks: &mut Value, upstream: &str) {
    let Some(blocks) = blocks.as_array_mut() else {
        return;
    };
    for block in blocks {
        match block.get("type").and_then(Value::as_str) {
            Some("resource_link") => wrap_field(block, "uri", |uri| wrap_uri(upstream, uri)),
            Some("resource") => {
                if let Some(resource) = block.get_mut("resource") {
                    wrap_field(resource, "uri", |uri| wrap_uri(upstream, uri));
                }
            }
            _ => {}
        }
    }
}

/// Rewrites the result of `method` from `upstream` into the names clients
/// see.
pub(crate) fn wrap_result(method: &str, upstream: &str, result: &mut Value) {
    let name = |name: &str| wrap_name(upstream, name);
    let uri = |uri: &str| wrap_uri(upstream, uri);
    match method {
        "tools/list" => each(result, "tools").for_each(|tool| wrap_field(tool, "name", name)),
        "prompts/list" => {
            each(result, "prompts").for_each(|prompt| wrap_field(prompt, "name", name))
        }
        "resources/list" => {
            each(result, "resources").for_each(|resource| wrap_field(resource, "uri", uri))
        }
        "resources/templates/list" => each(result, "resourceTemplates")
            .for_each(|template| wrap_field(template, "uriTemplate", uri)),
        "resources/read" => {
            each(result, "contents").for_each(|contents| wrap_field(contents, "uri", uri))
        }
        "tools/call" => {
            if let Some(content) = result.get_mut("content") {
                wrap_content(content, upstream);
            }
        }
        "prompts/get" => each(result, "messages").for_each(|message| {
            if let Some(content) = message.get_mut("content") {
                // One block per message (a single object), wrapped as a list of one.
                let mut blocks = Value::Array(vec![content.take()]);
                wrap_content(&mut blocks, upstream);
                if let Value::Array(mut blocks) = blocks
                    && let Some(block) = blocks.pop()
                {
                    *content = block;
                }
            }
        }),
        _ => {}
    }
}

/// Rewrites the params of a notification from `upstream` (its
/// `resources/updated` URI) into the names clients see.
pub(crate) fn wrap_notification(method: &str, upstream: &str, params: &mut Value) {
    if method == "notifications/resources/updated" {
        wrap_field(params, "uri", |uri| wrap_uri(upstream, uri));
    }
}

/// The key of a list result's items.
pub(crate) fn list_key(method: &str) -> Option<&'static str> {
    Some(match method {
        "tools/list" => "tools",
        "prompts/list" => "prompts",
        "resources/list" => "resources",
        "resources/templates/list" => "resourceTemplates",
        _ => return None,
    })
}

/// Where a merged list is: for each upstream still to page, the cursor to
/// ask it for (`None`: its first page). Opaque to clients: base64url of
/// JSON.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct MergedCursor {
    pub(crate) pending: BTreeMap<String, Option<String>>,
}

impl MergedCursor {
    /// The first page: every upstream from its start.
    pub(crate) fn start<'a>(upstreams: impl IntoIterator<Item = &'a str>) -> Self {
        Self {
            pending: upstreams
                .into_iter()
                .map(|name| (name.to_owned(), None))
                .collect(),
        }
    }

    pub(crate) fn encode(&self) -> String {
        let json = serde_json::to_vec(&self.pending).unwrap_or_default();
        URL_SAFE_NO_PAD.encode(json)
    }

    pub(crate) fn decode(cursor: &str) -> Result<Self, RpcError> {
        let invalid = || RpcError::invalid_params("invalid cursor: not one this gateway gave");
        if cursor.len() > MAX_CURSOR_CHARS {
            return Err(invalid());
        }
        let json = URL_SAFE_NO_PAD.decode(cursor).map_err(|_| invalid())?;
        let pending = serde_json::from_slice(&json).map_err(|_| invalid())?;
        Ok(Self { pending })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests fail loudly")]

    use serde_json::json;

    use super::*;

    #[test]
    fn names_and_uris_round_trip_whatever_the_upstream_names_hold() {
        for tool in ["echo", "a__b", "__", "x_", "", "with+plus"] {
            let wrapped = wrap_name("files", tool);
            assert_eq!(split_name(&wrapped), Some(("files", tool)), "{wrapped}");
        }
        for uri in ["file:///a+b", "demo://slow/{ms}", "x+y://z", ""] {
            let wrapped = wrap_uri("git-hub", uri);
            assert_eq!(split_uri(&wrapped), Some(("git-hub", uri)), "{wrapped}");
        }
        assert_eq!(split_name("echo"), None);
        assert_eq!(split_uri("file:///a"), None);
        assert_eq!(
            split_uri("1abc+file:///a"),
            None,
            "names start with a letter"
        );
    }

    #[test]
    fn upstream_names_are_letters_digits_and_hyphens() {
        assert!(is_valid_upstream_name("search-2"));
        for bad in ["", "2fast", "a_b", "a+b", "a b", "ä", &"x".repeat(65)] {
            assert!(!is_valid_upstream_name(bad), "{bad}");
        }
    }

    #[test]
    fn params_lose_their_prefix_and_name_the_upstream() {
        let mut params = json!({"name": "a__echo", "arguments": {"text": "hi"}});
        let upstream = unwrap_params(Target::Name, params.as_object_mut().unwrap()).unwrap();
        assert_eq!((upstream.as_str(), &params["name"]), ("a", &json!("echo")));
        assert_eq!(params["arguments"]["text"], "hi");

        let mut params = json!({"ref": {"type": "ref/resource", "uri": "b+demo://x/{id}"}});
        let upstream = unwrap_params(Target::Reference, params.as_object_mut().unwrap()).unwrap();
        assert_eq!(
            (upstream.as_str(), &params["ref"]["uri"]),
            ("b", &json!("demo://x/{id}"))
        );

        let mut params = json!({"uri": "file:///plain"});
        let error = unwrap_params(Target::Uri, params.as_object_mut().unwrap()).unwrap_err();
        assert_eq!(error.code, -32602);
        assert!(
            error.message.contains("names no upstream"),
            "{}",
            error.message
        );
    }

    #[test]
    fn results_name_things_as_clients_see_them() {
        let mut list = json!({"tools": [{"name": "echo", "inputSchema": {}}], "nextCursor": "c"});
        wrap_result("tools/list", "a", &mut list);
        assert_eq!(list["tools"][0]["name"], "a__echo");
        assert_eq!(list["nextCursor"], "c", "cursors are the merger's business");

        let mut call = json!({"content": [
            {"type": "text", "text": "x"},
            {"type": "resource_link", "uri": "file:///r", "name": "r"},
            {"type": "resource", "resource": {"uri": "file:///e", "text": "e"}},
        ]});
        wrap_result("tools/call", "a", &mut call);
        assert_eq!(call["content"][1]["uri"], "a+file:///r");
        assert_eq!(call["content"][2]["resource"]["uri"], "a+file:///e");

        let mut templates = json!({"resourceTemplates": [{"uriTemplate": "demo://slow/{ms}"}]});
        wrap_result("resources/templates/list", "b", &mut templates);
        assert_eq!(
            templates["resourceTemplates"][0]["uriTemplate"],
            "b+demo://slow/{ms}"
        );

        let mut prompt = json!({"messages": [{"role": "user", "content":
            {"type": "resource", "resource": {"uri": "file:///p"}}}]});
        wrap_result("prompts/get", "c", &mut prompt);
        assert_eq!(
            prompt["messages"][0]["content"]["resource"]["uri"],
            "c+file:///p"
        );
    }

    #[test]
    fn merged_cursors_round_trip_and_refuse_foreign_ones() {
        let mut cursor = MergedCursor::start(["a", "b"]);
        cursor.pending.insert("b".into(), Some("page-2".into()));
        assert_eq!(MergedCursor::decode(&cursor.encode()).unwrap(), cursor);
        assert_eq!(
            MergedCursor::decode("not base64!").unwrap_err().code,
            -32602
        );
        assert!(MergedCursor::decode(&URL_SAFE_NO_PAD.encode("[1]")).is_err());
    }
}
