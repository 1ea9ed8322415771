//! `POST /admin/invalidate`, mounted with `--admin`: drops cache entries
//! here and, with Redis, on every node, the way a server does when its data
//! changes. For tests and operators on loopback: it has no access check, so
//! never serve it on an address others can reach.
//!
//! The body is a JSON object naming one thing to drop:
//! `{"uri": "demo://static/hello"}` (what was read of a resource),
//! `{"method": "tools/list"}`, `{"tool": "slow"}` or `{"all": true}`. The
//! answer comes once the invalidation is applied here and told to Redis (or
//! kept for it, while Redis is down).

use axum::{Router, body::Bytes, http::StatusCode, routing::post};
use mcp_cache::Invalidator;
use serde_json::{Map, Value};

/// What one request asks to drop.
#[derive(Debug, PartialEq)]
enum Target {
    Resource(String),
    Method(String),
    Tool(String),
    All,
}

/// The target a body names, or what is wrong with it.
fn target(body: &[u8]) -> Result<Target, String> {
    let object: Map<String, Value> = serde_json::from_slice(body)
        .map_err(|error| format!("the body must be a JSON object: {error}"))?;
    let [(key, value)] =
        <[_; 1]>::try_from(object.into_iter().collect::<Vec<_>>()).map_err(|found| {
            format!(
                "name exactly one of uri, method, tool, all; got {} keys",
                found.len()
            )
        })?;
    let text = |value: Value| match value {
        Value::String(text) if !text.is_empty() => Ok(text),
        other => Err(format!("`{key}` must be a non-empty string, not {other}")),
    };
    match key.as_str() {
        "uri" => text(value).map(Target::Resource),
        "method" => text(value).map(Target::Method),
        "tool" => text(value).map(Target::Tool),
        "all" if value == Value::Bool(true) => Ok(Target::All),
        "all" => Err("`all` must be true".into()),
        other => Err(format!(
            "unknown key `{other}`: name one of uri, method, tool, all"
        )),
    }
}

/// The admin routes; `invalidator` is `None` when the cache is off.
pub fn routes(invalidator: Option<Invalidator>) -> Router {
    Router::new().route(
        "/admin/invalidate",
        post(move |body: Bytes| {
            let invalidator = invalidator.clone();
            async move {
                let Some(invalidator) = invalidator else {
                    return (StatusCode::NOT_FOUND, "the cache is off\n".to_owned());
                };
                let target = match target(&body) {
                    Ok(target) => target,
                    Err(problem) => return (StatusCode::BAD_REQUEST, format!("{problem}\n")),
                };
                let done = match &target {
                    Target::Resource(uri) => {
                        invalidator.resource(uri).await;
                        format!("resource {uri}")
                    }
                    Target::Method(method) => {
                        invalidator.method(method).await;
                        format!("method {method}")
                    }
                    Target::Tool(tool) => {
                        invalidator.tool(tool).await;
                        format!("tool {tool}")
                    }
                    Target::All => {
                        invalidator.all().await;
                        "everything".to_owned()
                    }
                };
                (StatusCode::OK, format!("invalidated {done}\n"))
            }
        }),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_name_one_target_or_say_what_is_wrong() {
        assert_eq!(
            target(br#"{"uri":"demo://static/hello"}"#),
            Ok(Target::Resource("demo://static/hello".into()))
        );
        assert_eq!(
            target(br#"{"method":"tools/list"}"#),
            Ok(Target::Method("tools/list".into()))
        );
        assert_eq!(
            target(br#"{"tool":"slow"}"#),
            Ok(Target::Tool("slow".into()))
        );
        assert_eq!(target(br#"{"all":true}"#), Ok(Target::All));
        for (body, problem) in [
            (&b"nope"[..], "must be a JSON object"),
            (b"{}", "exactly one"),
            (br#"{"uri":"a","tool":"b"}"#, "exactly one"),
            (br#"{"uri":7}"#, "non-empty string"),
            (br#"{"all":false}"#, "must be true"),
            (br#"{"key":"x"}"#, "unknown key"),
        ] {
            let error = target(body).unwrap_err();
            assert!(error.contains(problem), "{error}");
        }
    }
}
