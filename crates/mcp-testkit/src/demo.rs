//! A demo MCP server with knobs, which counts what reaches it.

use std::{
    collections::HashMap,
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use mcp_service::rmcp::principal_of as principal;
use rmcp::{
    ErrorData, ServerHandler,
    model::{
        CacheScope, CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock,
        GetPromptRequestParams, GetPromptResponse, GetPromptResult, JsonObject, ListPromptsResult,
        ListResourceTemplatesResult, ListResourcesResult, ListToolsResult, PaginatedRequestParams,
        Prompt, PromptArgument, PromptMessage, ReadResourceRequestParams, ReadResourceResponse,
        ReadResourceResult, Resource, ResourceContents, ResourceTemplate, Role, ServerCapabilities,
        ServerConfig, Tool, ToolAnnotations,
    },
    service::{RequestContext, RoleServer},
};
use serde_json::{Value, json};

/// The knobs of a [`DemoHandler`].
#[derive(Debug, Clone)]
pub struct DemoConfig {
    /// Added to every tool call (on tokio's clock, so paused-clock tests work).
    pub tool_delay: Duration,
    /// The `flaky` tool fails with a JSON-RPC internal error on every Nth call.
    pub fail_every: u64,
    /// How many `demo://generated/{n}` resources `resources/list` shows.
    pub generated_resources: usize,
    /// `ttlMs` on public results; `None` sends no hint.
    pub ttl_ms: Option<u64>,
}

impl Default for DemoConfig {
    fn default() -> Self {
        Self {
            tool_delay: Duration::ZERO,
            fail_every: 2,
            generated_resources: 3,
            ttl_ms: Some(60_000),
        }
    }
}

/// A demo MCP server.
///
/// Tools: `echo {text}` (read-only), `slow {ms}`, `flaky`, `counter` (has a
/// side effect), `whoami` (the caller's principal). Resources:
/// `demo://static/readme` (public), `demo://generated/{bytes}` (a text of
/// that many bytes), `demo://private/profile` (private, differs per
/// principal). Prompt: `greet {name}`.
///
/// Clones share the call counters.
#[derive(Debug, Clone, Default)]
pub struct DemoHandler {
    config: DemoConfig,
    calls: Arc<Mutex<HashMap<String, u64>>>,
    failing: Arc<AtomicBool>,
}

impl DemoHandler {
    /// A demo server with these knobs.
    pub fn new(config: DemoConfig) -> Self {
        Self {
            config,
            calls: Arc::default(),
            failing: Arc::default(),
        }
    }

    /// While set, every tool call, read and list fails with an internal
    /// error ("backend down"), as a server whose backend is out. Clones
    /// share the switch.
    pub fn set_failing(&self, failing: bool) {
        self.failing.store(failing, Ordering::SeqCst);
    }

    fn check(&self) -> Result<(), ErrorData> {
        if self.failing.load(Ordering::SeqCst) {
            return Err(ErrorData::internal_error("backend down", None));
        }
        Ok(())
    }

    /// How many times `key` (a method, or `tools/call:NAME`) reached the handler.
    pub fn calls(&self, key: &str) -> u64 {
        self.lock().get(key).copied().unwrap_or(0)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, u64>> {
        // A panicking test thread must not hide the counts from the others.
        self.calls
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn count(&self, key: &str) -> u64 {
        let mut calls = self.lock();
        let count = calls.entry(key.to_owned()).or_insert(0);
        *count += 1;
        *count
    }

    fn tools() -> Vec<Tool> {
        let schema = |properties: Value| -> Arc<JsonObject> {
            let schema = json!({ "type": "object", "properties": properties });
            Arc::new(schema.as_object().cloned().unwrap_or_default())
        };
        vec![
            Tool::new(
                "echo",
                "Returns its text.",
                schema(json!({"text": {"type": "string"}})),
            )
            .annotate(ToolAnnotations::new().read_only(true)),
            Tool::new(
                "slow",
                "Sleeps `ms` milliseconds.",
                schema(json!({"ms": {"type": "integer"}})),
            ),
            Tool::new("flaky", "Fails on every Nth call.", schema(json!({}))),
            Tool::new(
                "counter",
                "Counts its calls (a side effect).",
                schema(json!({})),
            ),
            Tool::new(
                "whoami",
                "Returns the caller's principal.",
                schema(json!({})),
            )
            .annotate(ToolAnnotations::new().read_only(true)),
        ]
    }

    fn hinted<T>(&self, result: T, with_ttl: fn(T, u64) -> T) -> T {
        match self.config.ttl_ms {
            Some(ttl) => with_ttl(result, ttl),
            None => result,
        }
    }
}

fn text(text: impl Into<String>) -> CallToolResult {
    CallToolResult::success(vec![ContentBlock::text(text)])
}

impl ServerHandler for DemoHandler {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(
            ServerCapabilities::builder()
                .enable_tools()
                .enable_resources()
                .enable_prompts()
                .build(),
        )
    }

    async fn list_tools(
        &self,
        _: Option<PaginatedRequestParams>,
        _: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        self.count("tools/list");
        self.check()?;
        Ok(self
            .hinted(
                ListToolsResult::with_all_items(Self::tools()),
                ListToolsResult::with_ttl_ms,
            )
            .with_cache_scope(CacheScope::Public))
    }

    fn get_tool(&self, name: &str) -> Option<Tool> {
        Self::tools().into_iter().find(|tool| tool.name == name)
    }

    async fn call_tool(
        &self,
        params: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        let name = params.name.to_string();
        self.count("tools/call");
        self.check()?;
        let count = self.count(&format!("tools/call:{name}"));
        if !self.config.tool_delay.is_zero() {
            tokio::time::sleep(self.config.tool_delay).await;
        }
        let argument = |key: &str| params.arguments.as_ref().and_then(|args| args.get(key));
        let result = match name.as_str() {
            "echo" => text(argument("text").and_then(Value::as_str).unwrap_or_default()),
            "slow" => {
                let ms = argument("ms").and_then(Value::as_u64).unwrap_or(100);
                tokio::time::sleep(Duration::from_millis(ms)).await;
                text(format!("slept {ms} ms"))
            }
            "flaky" if count.is_multiple_of(self.config.fail_every.max(1)) => {
                return Err(ErrorData::internal_error(
                    format!("flaky failure on call {count}"),
                    None,
                ));
            }
            "flaky" => text(format!("ok on call {count}")),
            "counter" => text(count.to_string()),
            "whoami" => {
                text(principal(&context).map_or_else(|| "anonymous".into(), |p| p.to_string()))
            }
            other => {
                return Err(ErrorData::invalid_params(
                    format!("unknown tool {other}"),
                    None,
                ));
            }
        };
        Ok(CallToolResponse::Complete(result))
    }

    async fn list_resources(
        &self,
        _: Option<PaginatedRequestParams>,
        _: RequestContext<RoleServer>,
    ) -> Result<ListResourcesResult, ErrorData> {
        self.count("resources/list");
        self.check()?;
        let mut resources = vec![
            Resource::new("demo://static/readme", "readme"),
            Resource::new("demo://private/profile", "profile"),
        ];
        resources.extend((1..=self.config.generated_resources).map(|n| {
            Resource::new(
                format!("demo://generated/{}", n * 1024),
                format!("generated-{n}"),
            )
        }));
        Ok(self
            .hinted(
                ListResourcesResult::with_all_items(resources),
                ListResourcesResult::with_ttl_ms,
            )
            .with_cache_scope(CacheScope::Public))
    }

    async fn list_resource_templates(
        &self,
        _: Option<PaginatedRequestParams>,
        _: RequestContext<RoleServer>,
    ) -> Result<ListResourceTemplatesResult, ErrorData> {
        self.count("resources/templates/list");
        Ok(ListResourceTemplatesResult::with_all_items(vec![
            ResourceTemplate::new("demo://generated/{bytes}", "generated"),
        ]))
    }

    async fn read_resource(
        &self,
        params: ReadResourceRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<ReadResourceResponse, ErrorData> {
        self.count("resources/read");
        self.check()?;
        let uri = params.uri;
        let result = if uri == "demo://static/readme" {
            let contents = ResourceContents::text("mcp-stack demo server", uri);
            self.hinted(
                ReadResourceResult::new(vec![contents]),
                ReadResourceResult::with_ttl_ms,
            )
            .with_cache_scope(CacheScope::Public)
        } else if uri == "demo://private/profile" {
            let who = principal(&context).map_or_else(|| "anonymous".into(), |p| p.to_string());
            let contents = ResourceContents::text(format!("profile of {who}"), uri);
            self.hinted(
                ReadResourceResult::new(vec![contents]),
                ReadResourceResult::with_ttl_ms,
            )
            .with_cache_scope(CacheScope::Private)
        } else if let Some(bytes) = uri.strip_prefix("demo://generated/") {
            let bytes: usize = bytes
                .parse()
                .map_err(|_| ErrorData::invalid_params(format!("not a size: {bytes}"), None))?;
            let body: String = "0123456789abcdef".chars().cycle().take(bytes).collect();
            let contents = ResourceContents::text(body, uri);
            self.hinted(
                ReadResourceResult::new(vec![contents]),
                ReadResourceResult::with_ttl_ms,
            )
            .with_cache_scope(CacheScope::Public)
        } else {
            return Err(ErrorData::resource_not_found(
                format!("no resource {uri}"),
                None,
            ));
        };
        Ok(ReadResourceResponse::Complete(result))
    }

    async fn list_prompts(
        &self,
        _: Option<PaginatedRequestParams>,
        _: RequestContext<RoleServer>,
    ) -> Result<ListPromptsResult, ErrorData> {
        self.count("prompts/list");
        self.check()?;
        let argument = PromptArgument::new("name");
        Ok(ListPromptsResult::with_all_items(vec![Prompt::new(
            "greet",
            Some("Greets someone."),
            Some(vec![argument]),
        )]))
    }

    async fn get_prompt(
        &self,
        params: GetPromptRequestParams,
        _: RequestContext<RoleServer>,
    ) -> Result<GetPromptResponse, ErrorData> {
        self.count("prompts/get");
        self.check()?;
        if params.name != "greet" {
            return Err(ErrorData::invalid_params(
                format!("unknown prompt {}", params.name),
                None,
            ));
        }
        let name = params
            .arguments
            .as_ref()
            .and_then(|args| args.get("name"))
            .and_then(Value::as_str)
            .unwrap_or("world");
        let message = PromptMessage::new_text(Role::User, format!("Say hello to {name}."));
        Ok(GetPromptResponse::Complete(GetPromptResult::new(vec![
            message,
        ])))
    }
}
