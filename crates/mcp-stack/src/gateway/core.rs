//! The gateway's routing: which upstream a client message goes to, the
//! names it is rewritten to on the way, and the answers the gateway makes
//! itself (a merged `initialize`, merged lists, `ping`).

use std::{collections::HashMap, sync::Arc, time::Duration};

use futures::future::join_all;
use http::HeaderValue;
use mcp_service::{
    McpError, McpRequest, RpcError, ThreadCopies,
    jsonrpc::{DecodeLimits, JsonRpcRequest, JsonRpcResponse},
};
use serde_json::{Map, Value, json, value::RawValue};
use tower::ServiceExt;

use super::{
    SESSION_VERSIONS,
    namespace::{self, MergedCursor, Target},
    session::{CallContext, ClientSession, SessionTable, TooManySessions, new_session_id},
    upstream::Leg,
    wire::Envelope,
};
use crate::{StackLayer, StackService};

/// One upstream: its leaf and the stack around it.
pub(crate) struct Upstream {
    pub(crate) name: Arc<str>,
    pub(crate) leg: Leg,
    /// The stack around the leg, called without a clone per request.
    pub(crate) service: ThreadCopies<StackService<Leg>>,
    pub(crate) stack: StackLayer,
}

impl Upstream {
    /// Through the stack.
    async fn call(&self, request: JsonRpcRequest) -> Result<JsonRpcResponse, McpError> {
        self.service.oneshot(request).await
    }

    /// A tool call through the stack. A rejection becomes the tool result
    /// the edge would make of it, naming this upstream when its message
    /// does not (a breaker's, a limit's, a deadline's), so a client of
    /// several upstreams reads which one failed.
    async fn call_tool(&self, request: JsonRpcRequest) -> Result<JsonRpcResponse, McpError> {
        match self.call(request).await {
            Err(error) if error.is_rejection() => {
                let message = error.to_string();
                let named = format!("upstream {}", self.name);
                let message = if message.contains(&named) {
                    message
                } else {
                    format!("{message} ({named})")
                };
                Ok(JsonRpcResponse::tool_error(&message))
            }
            outcome => outcome,
        }
    }

    /// Past the stack: notifications, which no layer limits or caches.
    async fn send(&self, request: JsonRpcRequest) -> Result<JsonRpcResponse, McpError> {
        self.leg.clone().oneshot(request).await
    }
}

/// Everything the edge routes to.
pub(crate) struct Core {
    pub(crate) upstreams: Vec<Upstream>,
    by_name: HashMap<Arc<str>, usize>,
    pub(crate) sessions: Arc<SessionTable>,
    pub(crate) limits: DecodeLimits,
    pub(crate) max_body_bytes: usize,
    pub(crate) allowed_hosts: Vec<String>,
}

/// The version a client gets: the one it asked for when the gateway speaks
/// it, else the newest session-based one.
pub(crate) fn negotiate(asked: Option<&str>) -> &'static str {
    asked
        .and_then(|asked| SESSION_VERSIONS.iter().find(|known| **known == asked))
        .copied()
        .unwrap_or(SESSION_VERSIONS[0])
}

/// The `protocolVersion` an `initialize` asks for, when it names one.
pub(crate) fn asked_version(request: &JsonRpcRequest) -> Option<String> {
    #[derive(serde::Deserialize)]
    struct Asked {
        #[serde(rename = "protocolVersion")]
        protocol_version: Option<String>,
    }
    request
        .params_as::<Asked>()
        .ok()
        .and_then(|asked| asked.protocol_version)
}

/// `initialize` with `params.protocolVersion` set to `version`.
fn offer_version(request: JsonRpcRequest, version: &str) -> Result<JsonRpcRequest, McpError> {
    let mut params = match request.params_as::<Value>()? {
        Value::Object(params) => params,
        _ => return Err(RpcError::invalid_params("initialize params must be an object").into()),
    };
    params.insert("protocolVersion".into(), Value::from(version));
    Ok(request.with_params(Some(to_raw(&Value::Object(params))?))?)
}

fn to_raw(value: &Value) -> Result<Box<RawValue>, McpError> {
    serde_json::value::to_raw_value(value)
        .map_err(|error| RpcError::internal(error.to_string()).into())
}

fn parse(response: &JsonRpcResponse) -> Result<Value, McpError> {
    serde_json::from_str(response.result().get()).map_err(|error| {
        RpcError::internal(format!("an upstream result is not JSON: {error}")).into()
    })
}

impl Core {
    pub(crate) fn new(
        upstreams: Vec<Upstream>,
        sessions: Arc<SessionTable>,
        limits: DecodeLimits,
        max_body_bytes: usize,
        allowed_hosts: Vec<String>,
    ) -> Self {
        let by_name = upstreams
            .iter()
            .enumerate()
            .map(|(index, upstream)| (upstream.name.clone(), index))
            .collect();
        Self {
            upstreams,
            by_name,
            sessions,
            limits,
            max_body_bytes,
            allowed_hosts,
        }
    }

    fn namespaced(&self) -> bool {
        self.upstreams.len() > 1
    }

    /// A client's `initialize`: a new session with an upstream session per
    /// upstream. With one upstream its answer is the answer; with several
    /// the gateway answers with their capabilities merged.
    pub(crate) async fn initialize(
        &self,
        mut request: JsonRpcRequest,
        authorization: Option<HeaderValue>,
    ) -> Result<(Arc<ClientSession>, JsonRpcResponse), McpError> {
        let asked = asked_version(&request);
        let id = new_session_id()
            .ok_or_else(|| McpError::unavailable("no randomness for a session id"))?;
        let version = negotiate(asked.as_deref());
        if asked.as_deref() != Some(version) {
            // A version the gateway's sessions do not speak (2026-07-28 and
            // later carry no session; or one it does not know): offer the
            // upstream the negotiated one, as the header says, so the two
            // agree and the client sees what it gets.
            request = offer_version(request, version)?;
        }
        let session = Arc::new(ClientSession::new(
            id,
            version.into(),
            request.params().map(ToOwned::to_owned),
            self.upstreams.len(),
        ));
        request.insert_extension(CallContext {
            session: Some(session.clone()),
            relay: None,
            authorization,
        });
        let request = request.with_session_protocol_version(version);
        let answers = join_all(
            self.upstreams
                .iter()
                .map(|upstream| upstream.call(request.clone())),
        )
        .await;
        let result = if self.namespaced() {
            let mut opened = Vec::new();
            for (upstream, answer) in self.upstreams.iter().zip(answers) {
                match answer {
                    Ok(answer) => opened.push((upstream.name.clone(), parse(&answer)?)),
                    Err(error) => {
                        tracing::warn!(upstream = %upstream.name, %error, "upstream left out of a new session");
                    }
                }
            }
            if opened.is_empty() {
                return Err(McpError::unavailable("no upstream could open a session"));
            }
            JsonRpcResponse::from_value(&merged_initialize(version, &opened))?
        } else {
            let Some(answer) = answers.into_iter().next() else {
                return Err(McpError::unavailable("the gateway has no upstream"));
            };
            let answer = answer?;
            #[derive(serde::Deserialize)]
            struct Negotiated {
                #[serde(rename = "protocolVersion")]
                protocol_version: Option<String>,
            }
            if let Some(negotiated) = serde_json::from_str::<Negotiated>(answer.result().get())
                .ok()
                .and_then(|answer| answer.protocol_version)
            {
                session.set_protocol_version(negotiated.into());
            }
            answer
        };
        self.sessions
            .insert(session.clone())
            .map_err(|TooManySessions| McpError::Overloaded)?;
        Ok((session, result))
    }

    /// A client request, routed.
    pub(crate) async fn call(&self, request: JsonRpcRequest) -> Result<JsonRpcResponse, McpError> {
        if request.method() == "ping" {
            return JsonRpcResponse::from_value(&json!({}));
        }
        if !self.namespaced() {
            let upstream = self
                .upstreams
                .first()
                .ok_or_else(|| McpError::unavailable("no upstream"))?;
            return match request.method() {
                "subscriptions/listen" => upstream.send(request).await,
                "tools/call" => upstream.call_tool(request).await,
                _ => upstream.call(request).await,
            };
        }
        let method = request.method().to_owned();
        if namespace::list_key(&method).is_some() {
            return self.merged_list(request).await;
        }
        if let Some(target) = Target::of(&method) {
            let mut params: Map<String, Value> = request.params_as()?;
            let name = namespace::unwrap_params(target, &mut params)?;
            let upstream = self.upstream(&name)?;
            let request = request.with_params(Some(to_raw(&Value::Object(params))?))?;
            let answer = if method == "tools/call" {
                upstream.call_tool(request).await?
            } else {
                upstream.call(request).await?
            };
            if method == "tools/call" && !answer.result().get().contains("\"resource") {
                return Ok(answer);
            }
            let mut result = parse(&answer)?;
            namespace::wrap_result(&method, &upstream.name, &mut result);
            return JsonRpcResponse::from_value(&result);
        }
        match method.as_str() {
            "logging/setLevel" => {
                join_all(
                    self.upstreams
                        .iter()
                        .map(|upstream| upstream.call(request.clone())),
                )
                .await;
                JsonRpcResponse::from_value(&json!({}))
            }
            _ => Err(RpcError::method_not_found(&method).into()),
        }
    }

    fn upstream(&self, name: &str) -> Result<&Upstream, McpError> {
        self.by_name
            .get(name)
            .and_then(|index| self.upstreams.get(*index))
            .ok_or_else(|| {
                RpcError::invalid_params(format!("no upstream is named `{name}`")).into()
            })
    }

    /// A list over every upstream: one page of each that has more, merged,
    /// with one cursor for where each one is.
    async fn merged_list(&self, request: JsonRpcRequest) -> Result<JsonRpcResponse, McpError> {
        let method = request.method().to_owned();
        let key = namespace::list_key(&method).unwrap_or("items");
        let cursor = match request.cursor() {
            Some(cursor) => MergedCursor::decode(cursor)?,
            None => MergedCursor::start(self.upstreams.iter().map(|upstream| &*upstream.name)),
        };
        let params: Map<String, Value> = request.params_as()?;
        let mut calls = Vec::new();
        for (name, upstream_cursor) in &cursor.pending {
            let upstream = self.upstream(name)?;
            let mut params = params.clone();
            match upstream_cursor {
                Some(upstream_cursor) => {
                    params.insert("cursor".into(), Value::String(upstream_cursor.clone()))
                }
                None => params.remove("cursor"),
            };
            let request = request
                .clone()
                .with_params(Some(to_raw(&Value::Object(params))?))?;
            calls.push(async move { (upstream, upstream.call(request).await) });
        }
        let mut items = Vec::new();
        let mut next = MergedCursor::default();
        let mut unavailable = Vec::new();
        let mut first_error = None;
        let mut ttl: Option<u64> = None;
        let mut all_ttl = true;
        let mut scope = "public";
        for (upstream, answer) in join_all(calls).await {
            let mut result = match answer.and_then(|answer| parse(&answer)) {
                Ok(result) => result,
                Err(error) => {
                    tracing::warn!(upstream = %upstream.name, %error, %method, "upstream left out of a merged list");
                    unavailable.push(upstream.name.to_string());
                    first_error.get_or_insert(error);
                    continue;
                }
            };
            namespace::wrap_result(&method, &upstream.name, &mut result);
            if let Some(Value::Array(page)) = result.get_mut(key).map(Value::take) {
                items.extend(page);
            }
            if let Some(cursor) = result.get("nextCursor").and_then(Value::as_str) {
                next.pending
                    .insert(upstream.name.to_string(), Some(cursor.to_owned()));
            }
            match result.get("ttlMs").and_then(Value::as_u64) {
                Some(value) => ttl = Some(ttl.map_or(value, |ttl| ttl.min(value))),
                None => all_ttl = false,
            }
            if result.get("cacheScope").and_then(Value::as_str) != Some("public") {
                scope = "private";
            }
        }
        if items.is_empty()
            && let (Some(error), true) = (first_error, unavailable.len() == cursor.pending.len())
        {
            return Err(error);
        }
        let mut result = Map::new();
        result.insert(key.into(), Value::Array(items));
        if !next.pending.is_empty() {
            result.insert("nextCursor".into(), Value::String(next.encode()));
        }
        // Hints for clients that cache, only when every part gave them.
        if let (Some(ttl), true) = (ttl, all_ttl) {
            result.insert("ttlMs".into(), json!(ttl));
            result.insert("cacheScope".into(), json!(scope));
        }
        if !unavailable.is_empty() {
            result.insert(
                "_meta".into(),
                json!({ "io.github.mcp-stack/unavailableUpstreams": unavailable }),
            );
        }
        JsonRpcResponse::from_value(&Value::Object(result))
    }

    /// A client notification: a cancellation reaches the request it names
    /// (whose leg tells the upstream, under the upstream's id); anything
    /// else goes to every upstream (the one, with one).
    pub(crate) async fn notify(
        &self,
        session: Option<&Arc<ClientSession>>,
        request: JsonRpcRequest,
    ) {
        if request.method() == "notifications/cancelled" {
            #[derive(serde::Deserialize)]
            struct Cancelled<'a> {
                #[serde(rename = "requestId", borrow)]
                request_id: Option<&'a RawValue>,
            }
            if let (
                Some(session),
                Ok(Cancelled {
                    request_id: Some(id),
                }),
            ) = (session, request.params_as())
            {
                session.cancel(id);
            }
            return;
        }
        let sends = self
            .upstreams
            .iter()
            .map(|upstream| upstream.send(request.clone()));
        for outcome in join_all(sends).await {
            if let Err(error) = outcome {
                tracing::debug!(%error, method = request.method(), "a notification did not reach an upstream");
            }
        }
    }

    /// A client's answer to a request an upstream made of it.
    pub(crate) fn answer(&self, session: &ClientSession, answer: &Envelope<'_>) -> bool {
        let Some(id) = answer.id else {
            return false;
        };
        let Some(callback) = session.answered(id) else {
            return false;
        };
        match self.upstreams.get(callback.upstream) {
            Some(upstream) => {
                upstream.leg.answer(&callback, answer);
                true
            }
            None => false,
        }
    }

    /// Ends a client session and its upstream sessions.
    pub(crate) fn end_session(&self, id: &str) -> bool {
        let Some(session) = self.sessions.remove(id) else {
            return false;
        };
        self.close_upstream_sessions(&session);
        true
    }

    pub(crate) fn close_upstream_sessions(&self, session: &ClientSession) {
        for (upstream, slot) in self.upstreams.iter().zip(session.slots.iter()) {
            upstream.leg.close(&slot.get());
        }
    }

    /// Expires idle sessions, every `period`, until the gateway stops.
    pub(crate) async fn reap(self: Arc<Self>, period: Duration) {
        let mut interval = tokio::time::interval(period);
        interval.tick().await;
        loop {
            interval.tick().await;
            for session in self.sessions.expire() {
                self.close_upstream_sessions(&session);
            }
        }
    }
}

/// The gateway's own `initialize` result over several upstreams: their
/// capabilities merged (a capability any one has; a flag any one sets),
/// their instructions one paragraph each.
fn merged_initialize(version: &str, opened: &[(Arc<str>, Value)]) -> Value {
    let mut capabilities = Map::new();
    let mut instructions = Vec::new();
    for (name, result) in opened {
        if let Some(Value::Object(theirs)) = result.get("capabilities") {
            for (capability, value) in theirs {
                let ours = capabilities
                    .entry(capability.clone())
                    .or_insert_with(|| Value::Object(Map::new()));
                if let (Value::Object(ours), Value::Object(value)) = (ours, value) {
                    for (flag, setting) in value {
                        let keep = ours
                            .get(flag)
                            .is_some_and(|current| current == &Value::Bool(true));
                        if !keep {
                            ours.insert(flag.clone(), setting.clone());
                        }
                    }
                }
            }
        }
        if let Some(text) = result.get("instructions").and_then(Value::as_str) {
            instructions.push(format!("{name}: {text}"));
        }
    }
    let mut result = json!({
        "protocolVersion": version,
        "capabilities": capabilities,
        "serverInfo": { "name": "mcp-stack-gateway", "version": env!("CARGO_PKG_VERSION") },
    });
    if !instructions.is_empty() {
        result["instructions"] = Value::String(instructions.join("\n\n"));
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_are_the_clients_when_known_else_the_newest() {
        assert_eq!(negotiate(Some("2025-06-18")), "2025-06-18");
        assert_eq!(negotiate(Some("1999-01-01")), SESSION_VERSIONS[0]);
        assert_eq!(negotiate(None), SESSION_VERSIONS[0]);
    }

    #[test]
    fn capabilities_merge_with_any_flag_set_winning() {
        let opened = [
            (
                Arc::from("a"),
                json!({"capabilities": {"tools": {"listChanged": false}, "logging": {}}, "instructions": "use a"}),
            ),
            (
                Arc::from("b"),
                json!({"capabilities": {"tools": {"listChanged": true}, "resources": {"subscribe": true}}}),
            ),
        ];
        let merged = merged_initialize("2025-11-25", &opened);
        assert_eq!(merged["capabilities"]["tools"]["listChanged"], true);
        assert_eq!(merged["capabilities"]["resources"]["subscribe"], true);
        assert!(merged["capabilities"]["logging"].is_object());
        assert_eq!(merged["instructions"], "a: use a");
        assert_eq!(merged["protocolVersion"], "2025-11-25");
    }
}
