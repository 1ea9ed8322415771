//! The rmcp adapter through a real rmcp client and server: every
//! `ClientRequest` variant reaches the wrapped handler, the bypasses bypass,
//! rejections of `tools/call` become tool errors, and cancellation and HTTP
//! parts reach the layers.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests fail loudly"
)]
#![expect(
    deprecated,
    reason = "legacy methods (logging, resources/subscribe) must be forwarded too"
)]

use std::{
    collections::BTreeSet,
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst},
    },
    task::{Context, Poll},
    time::Duration,
};

use mcp_service::{
    McpError, McpRequest, Principal,
    rmcp::{RmcpRequest, StackedHandler},
};
use mcp_testkit::{DemoHandler, connect, connect_with};
use rmcp::{
    ClientHandler, ClientLifecycleMode, ErrorData, ServerHandler,
    model::{
        CallToolRequestParams, CallToolResponse, CallToolResult, CancelTaskParams,
        ClientCapabilities, ClientConfig, ClientRequest, CompleteRequestParams, CompleteResult,
        CustomRequest, CustomResult, DiscoverResult, ErrorCode, GetPromptRequestParams,
        GetPromptResponse, GetPromptResult, GetSkillRequestParams, GetSkillResult, GetTaskParams,
        GetTaskResult, Implementation, InitializeRequestParams, InitializeResult,
        ListPromptsResult, ListResourceTemplatesResult, ListResourcesResult, ListSkillsResult,
        ListToolsResult, PaginatedRequestParams, ProtocolVersion,
        ReadResourceDirectoryRequestParams, ReadResourceDirectoryResult, ReadResourceRequestParams,
        ReadResourceResponse, ReadResourceResult, ServerCapabilities, ServerConfig, ServerResult,
        SetLevelRequestParams, SubscribeRequestParams, SubscriptionFilter,
        UnsubscribeRequestParams, UpdateTaskParams,
    },
    service::{RequestContext, RoleServer, SubscriptionContext},
};
use serde_json::{Value, json};
use tower::{ServiceBuilder, service_fn};

type Log = Arc<Mutex<Vec<String>>>;

fn push(log: &Log, entry: &str) {
    log.lock().unwrap().push(entry.to_owned());
}

fn take(log: &Log) -> Vec<String> {
    std::mem::take(&mut *log.lock().unwrap())
}

/// A handler that records which of its methods ran and advertises every
/// capability, so rmcp's own gates let every method through.
#[derive(Clone, Default)]
struct Recording {
    log: Log,
}

fn parse<T: serde::de::DeserializeOwned>(value: Value) -> T {
    serde_json::from_value(value).unwrap()
}

/// What handlers answer for methods whose results are awkward to build:
/// a recognizable error, which must come back to the client unchanged.
fn reached(method: &str) -> ErrorData {
    ErrorData::new(
        ErrorCode(-32050),
        format!("reached {method}"),
        Some(json!({"m": method})),
    )
}

impl ServerHandler for Recording {
    fn get_info(&self) -> ServerConfig {
        let mut capabilities = ServerCapabilities::builder()
            .enable_tools()
            .enable_prompts()
            .enable_resources()
            .enable_resources_subscribe()
            .enable_completions()
            .enable_logging()
            .enable_tasks()
            .enable_skills_with_directory_read()
            .build();
        capabilities.resources.get_or_insert_default().list_changed = Some(true);
        capabilities.tools.get_or_insert_default().list_changed = Some(true);
        ServerConfig::new(capabilities)
    }

    async fn initialize(
        &self,
        request: InitializeRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<InitializeResult, ErrorData> {
        push(&self.log, "initialize");
        context.peer.set_peer_info(request.clone());
        self.negotiate_initialize(&request)
    }

    async fn discover(&self, _: RequestContext<RoleServer>) -> Result<DiscoverResult, ErrorData> {
        push(&self.log, "discover");
        Ok(DiscoverResult::from_server_info(
            self.supported_protocol_versions().into_owned(),
            self.get_info(),
        ))
    }

    async fn ping(&self, _: RequestContext<RoleServer>) -> Result<(), ErrorData> {
        push(&self.log, "ping");
        Ok(())
    }

    async fn complete(
        &self,
        _: CompleteRequestParams,
        _: RequestContext<RoleServer>,
    ) -> Result<CompleteResult, ErrorData> {
        push(&self.log, "complete");
        Ok(parse(json!({"completion": {"values": ["a"]}})))
    }

    async fn set_level(
        &self,
        _: SetLevelRequestParams,
        _: RequestContext<RoleServer>,
    ) -> Result<(), ErrorData> {
        push(&self.log, "set_level");
        Ok(())
    }

    async fn get_prompt(
        &self,
        _: GetPromptRequestParams,
        _: RequestContext<RoleServer>,
    ) -> Result<GetPromptResponse, ErrorData> {
        push(&self.log, "get_prompt");
        Ok(GetPromptResponse::Complete(GetPromptResult::new(vec![])))
    }

    async fn list_prompts(
        &self,
        _: Option<PaginatedRequestParams>,
        _: RequestContext<RoleServer>,
    ) -> Result<ListPromptsResult, ErrorData> {
        push(&self.log, "list_prompts");
        Ok(ListPromptsResult::with_all_items(vec![]))
    }

    async fn list_resources(
        &self,
        _: Option<PaginatedRequestParams>,
        _: RequestContext<RoleServer>,
    ) -> Result<ListResourcesResult, ErrorData> {
        push(&self.log, "list_resources");
        Ok(ListResourcesResult::with_all_items(vec![]))
    }

    async fn list_resource_templates(
        &self,
        _: Option<PaginatedRequestParams>,
        _: RequestContext<RoleServer>,
    ) -> Result<ListResourceTemplatesResult, ErrorData> {
        push(&self.log, "list_resource_templates");
        Ok(ListResourceTemplatesResult::with_all_items(vec![]))
    }

    async fn read_resource(
        &self,
        _: ReadResourceRequestParams,
        _: RequestContext<RoleServer>,
    ) -> Result<ReadResourceResponse, ErrorData> {
        push(&self.log, "read_resource");
        Ok(ReadResourceResponse::Complete(ReadResourceResult::new(
            vec![],
        )))
    }

    fn accepted_subscription_filter(
        &self,
        requested: &SubscriptionFilter,
    ) -> Option<SubscriptionFilter> {
        Some(requested.clone())
    }

    async fn listen(&self, _: SubscriptionContext) -> Result<(), ErrorData> {
        push(&self.log, "listen");
        Ok(())
    }

    async fn subscribe(
        &self,
        _: SubscribeRequestParams,
        _: RequestContext<RoleServer>,
    ) -> Result<(), ErrorData> {
        push(&self.log, "subscribe");
        Ok(())
    }

    async fn unsubscribe(
        &self,
        _: UnsubscribeRequestParams,
        _: RequestContext<RoleServer>,
    ) -> Result<(), ErrorData> {
        push(&self.log, "unsubscribe");
        Ok(())
    }

    async fn call_tool(
        &self,
        params: CallToolRequestParams,
        _: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        push(&self.log, "call_tool");
        Ok(CallToolResponse::Complete(CallToolResult::success(vec![
            rmcp::model::ContentBlock::text(params.name.to_string()),
        ])))
    }

    async fn list_tools(
        &self,
        _: Option<PaginatedRequestParams>,
        _: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        push(&self.log, "list_tools");
        Ok(ListToolsResult::with_all_items(vec![]))
    }

    async fn on_custom_request(
        &self,
        request: CustomRequest,
        _: RequestContext<RoleServer>,
    ) -> Result<CustomResult, ErrorData> {
        push(&self.log, "on_custom_request");
        Ok(CustomResult::new(json!({ "echoed": request.method })))
    }

    async fn on_roots_list_changed(&self, _: rmcp::service::NotificationContext<RoleServer>) {
        push(&self.log, "on_roots_list_changed");
    }

    async fn get_task(
        &self,
        _: GetTaskParams,
        _: RequestContext<RoleServer>,
    ) -> Result<GetTaskResult, ErrorData> {
        push(&self.log, "get_task");
        Err(reached("get_task"))
    }

    async fn update_task(
        &self,
        _: UpdateTaskParams,
        _: RequestContext<RoleServer>,
    ) -> Result<(), ErrorData> {
        push(&self.log, "update_task");
        Ok(())
    }

    async fn cancel_task(
        &self,
        _: CancelTaskParams,
        _: RequestContext<RoleServer>,
    ) -> Result<(), ErrorData> {
        push(&self.log, "cancel_task");
        Ok(())
    }

    async fn list_skills(
        &self,
        _: Option<PaginatedRequestParams>,
        _: RequestContext<RoleServer>,
    ) -> Result<ListSkillsResult, ErrorData> {
        push(&self.log, "list_skills");
        Err(reached("list_skills"))
    }

    async fn get_skill(
        &self,
        _: GetSkillRequestParams,
        _: RequestContext<RoleServer>,
    ) -> Result<GetSkillResult, ErrorData> {
        push(&self.log, "get_skill");
        Err(reached("get_skill"))
    }

    async fn read_resource_directory(
        &self,
        _: ReadResourceDirectoryRequestParams,
        _: RequestContext<RoleServer>,
    ) -> Result<ReadResourceDirectoryResult, ErrorData> {
        push(&self.log, "read_resource_directory");
        Ok(ListResourcesResult::with_all_items(vec![]))
    }
}

/// A client that declares the tasks extension, so `tasks/*` pass rmcp's gate.
#[derive(Clone)]
struct TaskClient;

impl ClientHandler for TaskClient {
    fn get_info(&self) -> ClientConfig {
        ClientConfig::new(
            ClientCapabilities::builder().enable_tasks().build(),
            Implementation::new("mcp-service-tests", "0"),
        )
    }
}

/// A stack that logs each method it carries, and what the request view
/// exposes, before handing the request on.
fn logged(handler: Recording, stack_log: Log) -> impl ServerHandler {
    StackedHandler::new(
        handler,
        ServiceBuilder::new().map_request(move |request: RmcpRequest| {
            assert!(
                request.cancellation().is_some(),
                "cancellation reaches the layers"
            );
            push(&stack_log, request.method());
            request
        }),
    )
}

fn request(method: &str, params: Value) -> ClientRequest {
    parse(json!({ "method": method, "params": params }))
}

/// The name of a variant; `None` for one this test does not know, which
/// means rmcp grew a method the adapter may not forward.
fn variant(request: &ClientRequest) -> Option<&'static str> {
    Some(match request {
        ClientRequest::PingRequest(_) => "PingRequest",
        ClientRequest::InitializeRequest(_) => "InitializeRequest",
        ClientRequest::DiscoverRequest(_) => "DiscoverRequest",
        ClientRequest::CompleteRequest(_) => "CompleteRequest",
        ClientRequest::SetLevelRequest(_) => "SetLevelRequest",
        ClientRequest::GetPromptRequest(_) => "GetPromptRequest",
        ClientRequest::ListPromptsRequest(_) => "ListPromptsRequest",
        ClientRequest::ListResourcesRequest(_) => "ListResourcesRequest",
        ClientRequest::ListResourceTemplatesRequest(_) => "ListResourceTemplatesRequest",
        ClientRequest::ReadResourceRequest(_) => "ReadResourceRequest",
        ClientRequest::SubscriptionsListenRequest(_) => "SubscriptionsListenRequest",
        ClientRequest::SubscribeRequest(_) => "SubscribeRequest",
        ClientRequest::UnsubscribeRequest(_) => "UnsubscribeRequest",
        ClientRequest::CallToolRequest(_) => "CallToolRequest",
        ClientRequest::ListToolsRequest(_) => "ListToolsRequest",
        ClientRequest::GetTaskRequest(_) => "GetTaskRequest",
        ClientRequest::UpdateTaskRequest(_) => "UpdateTaskRequest",
        ClientRequest::CancelTaskRequest(_) => "CancelTaskRequest",
        ClientRequest::ListSkillsRequest(_) => "ListSkillsRequest",
        ClientRequest::GetSkillRequest(_) => "GetSkillRequest",
        ClientRequest::ReadResourceDirectoryRequest(_) => "ReadResourceDirectoryRequest",
        ClientRequest::CustomRequest(_) => "CustomRequest",
        _ => return None,
    })
}

/// Every variant rmcp 3.11 has. A newer rmcp with more fails `variant` above
/// only when it is sent, so the count is checked too.
const ALL_VARIANTS: usize = 22;

#[tokio::test]
async fn every_client_request_variant_reaches_the_inner_handler() {
    let mut covered = BTreeSet::new();

    // A session with the `initialize` handshake (2025-11-25 and older).
    let (inner_log, stack_log) = (Log::default(), Log::default());
    let handler = logged(
        Recording {
            log: inner_log.clone(),
        },
        stack_log.clone(),
    );
    let legacy = connect_with(handler, TaskClient, ClientLifecycleMode::Initialize)
        .await
        .unwrap();
    covered.insert("InitializeRequest");
    assert_eq!(take(&inner_log), ["initialize"]);
    assert_eq!(take(&stack_log), ["initialize"]);

    let cases: Vec<(ClientRequest, &str, Result<Value, i32>)> = vec![
        (request("ping", json!({})), "ping", Ok(json!({}))),
        (
            request(
                "completion/complete",
                json!({"ref": {"type": "ref/prompt", "name": "p"}, "argument": {"name": "a", "value": "b"}}),
            ),
            "complete",
            Ok(json!({"completion": {"values": ["a"]}})),
        ),
        (
            request("logging/setLevel", json!({"level": "info"})),
            "set_level",
            Ok(json!({})),
        ),
        (
            request("prompts/get", json!({"name": "p"})),
            "get_prompt",
            Ok(json!({"messages": []})),
        ),
        (
            request("prompts/list", json!({})),
            "list_prompts",
            Ok(json!({"prompts": []})),
        ),
        (
            request("resources/list", json!({})),
            "list_resources",
            Ok(json!({"resources": []})),
        ),
        (
            request("resources/templates/list", json!({})),
            "list_resource_templates",
            Ok(json!({"resourceTemplates": []})),
        ),
        (
            request("resources/read", json!({"uri": "demo://x"})),
            "read_resource",
            Ok(json!({"contents": []})),
        ),
        (
            request("resources/subscribe", json!({"uri": "demo://x"})),
            "subscribe",
            Ok(json!({})),
        ),
        (
            request("resources/unsubscribe", json!({"uri": "demo://x"})),
            "unsubscribe",
            Ok(json!({})),
        ),
        (
            request("tools/call", json!({"name": "t", "arguments": {}})),
            "call_tool",
            Ok(json!({"content": [{"type": "text", "text": "t"}]})),
        ),
        (
            request("tools/list", json!({})),
            "list_tools",
            Ok(json!({"tools": []})),
        ),
        (
            request("tasks/get", json!({"taskId": "t1"})),
            "get_task",
            Err(-32050),
        ),
        (
            request(
                "tasks/update",
                json!({"taskId": "t1", "inputResponses": {}}),
            ),
            "update_task",
            Ok(json!({})),
        ),
        (
            request("tasks/cancel", json!({"taskId": "t1"})),
            "cancel_task",
            Ok(json!({})),
        ),
        (
            request("skills/list", json!({})),
            "list_skills",
            Err(-32050),
        ),
        (
            request("skills/get", json!({"uri": "skill://demo/SKILL.md"})),
            "get_skill",
            Err(-32050),
        ),
        (
            request("resources/directory/read", json!({"uri": "skill://demo/"})),
            "read_resource_directory",
            Ok(json!({"resources": []})),
        ),
        (
            request("vendor/echo", json!({"x": 1})),
            "on_custom_request",
            Ok(json!({"echoed": "vendor/echo"})),
        ),
    ];
    for (request, inner_method, expected) in cases {
        let name = variant(&request).expect("a variant this test knows");
        let method = request.method().to_owned();
        let answer = legacy.client.peer().send_request(request).await;
        match (answer, expected) {
            (Ok(result), Ok(expected)) => {
                let result = serde_json::to_value(&result).unwrap();
                for (key, value) in expected.as_object().unwrap() {
                    assert_eq!(&result[key], value, "{method}: {result}");
                }
            }
            (Err(rmcp::ServiceError::McpError(error)), Err(code)) => {
                assert_eq!(error.code.0, code, "{method}: {error:?}");
                assert_eq!(error.message, format!("reached {inner_method}"));
            }
            (answer, expected) => panic!("{method}: got {answer:?}, expected {expected:?}"),
        }
        assert_eq!(
            take(&inner_log),
            [inner_method],
            "{method} reached the handler once"
        );
        assert_eq!(
            take(&stack_log),
            [method.as_str()],
            "{method} went through the stack"
        );
        covered.insert(name);
    }
    // Notifications go straight to the handler: there is no response to shape.
    legacy
        .client
        .peer()
        .notify_roots_list_changed()
        .await
        .unwrap();
    tokio::time::timeout(Duration::from_secs(10), async {
        while inner_log.lock().unwrap().is_empty() {
            tokio::task::yield_now().await;
        }
    })
    .await
    .expect("the notification reached the handler");
    assert_eq!(take(&inner_log), ["on_roots_list_changed"]);
    assert!(
        take(&stack_log).is_empty(),
        "notifications bypass the stack"
    );
    drop(legacy);

    // A 2026-07-28 session: `server/discover`, and `subscriptions/listen`,
    // which bypasses the stack because it lives as long as the subscription.
    let (inner_log, stack_log) = (Log::default(), Log::default());
    let handler = logged(
        Recording {
            log: inner_log.clone(),
        },
        stack_log.clone(),
    );
    let modern = connect_with(
        handler,
        TaskClient,
        ClientLifecycleMode::Discover {
            preferred_versions: vec![ProtocolVersion::V_2026_07_28],
        },
    )
    .await
    .unwrap();
    covered.insert("DiscoverRequest");
    assert_eq!(take(&inner_log), ["discover"]);
    assert_eq!(take(&stack_log), ["server/discover"]);

    let listen = request(
        "subscriptions/listen",
        json!({"notifications": {"toolsListChanged": true}}),
    );
    covered.insert(variant(&listen).unwrap());
    let result = tokio::time::timeout(
        Duration::from_secs(10),
        modern.client.peer().send_request(listen),
    )
    .await
    .expect("listen ends when the handler returns")
    .unwrap();
    assert!(
        matches!(result, ServerResult::SubscriptionsListenResult(_)),
        "{result:?}"
    );
    assert_eq!(take(&inner_log), ["listen"]);
    assert!(take(&stack_log).is_empty(), "listen bypasses the stack");
    drop(modern);

    assert_eq!(covered.len(), ALL_VARIANTS, "covered: {covered:?}");
}

#[tokio::test]
async fn bypassed_methods_answer_from_the_inner_handler() {
    let stack_log = Log::default();
    let inner = DemoHandler::default();
    let handler = StackedHandler::new(
        inner.clone(),
        ServiceBuilder::new().map_request({
            let stack_log = stack_log.clone();
            move |request: RmcpRequest| {
                push(&stack_log, request.method());
                request
            }
        }),
    );
    assert_eq!(
        handler.get_info().capabilities,
        inner.get_info().capabilities
    );
    assert_eq!(
        handler.get_tool("echo").map(|tool| tool.name),
        inner.get_tool("echo").map(|tool| tool.name)
    );
    assert!(handler.get_tool("missing").is_none());
    assert_eq!(
        handler.supported_protocol_versions(),
        inner.supported_protocol_versions()
    );
    assert!(
        take(&stack_log).is_empty(),
        "none of these touched the stack"
    );
}

#[tokio::test]
async fn a_rejected_tool_call_reaches_the_model_as_a_tool_error() {
    // A stack that rejects tool calls and reads, and lets the rest through.
    let inner = DemoHandler::default();
    let pair = connect(StackedHandler::new(
        inner.clone(),
        tower::layer::layer_fn(|leaf: mcp_service::rmcp::HandlerService<DemoHandler>| {
            let mut leaf = leaf;
            service_fn(move |request: RmcpRequest| {
                let rejected = match request.method() {
                    "tools/call" | "resources/read" => Some(McpError::RateLimited {
                        retry_after: Duration::from_millis(1500),
                    }),
                    _ => None,
                };
                let call = tower::Service::call(&mut leaf, request);
                async move {
                    match rejected {
                        Some(error) => Err(error),
                        None => call.await,
                    }
                }
            })
        }),
    ))
    .await
    .unwrap();

    let tool = pair
        .client
        .call_tool(CallToolRequestParams::new("echo"))
        .await
        .unwrap();
    assert_eq!(tool.is_error, Some(true));
    let text = serde_json::to_value(&tool.content).unwrap()[0]["text"].clone();
    assert_eq!(text, "rate limit exceeded; retry after 1500 ms");

    let read = pair
        .client
        .read_resource(ReadResourceRequestParams::new("demo://static/readme"))
        .await
        .unwrap_err();
    let rmcp::ServiceError::McpError(error) = read else {
        panic!("expected a JSON-RPC error, got {read:?}");
    };
    assert_eq!(error.code.0, -32010);
    assert_eq!(error.data.unwrap()["retryAfterMs"], 1500);
    assert_eq!(inner.calls("tools/call"), 0, "rejected before the handler");
}

#[tokio::test]
async fn a_client_cancellation_reaches_the_layers() {
    let seen: Arc<Mutex<Option<tokio_util::sync::CancellationToken>>> = Arc::default();
    let handler = StackedHandler::new(
        DemoHandler::default(),
        ServiceBuilder::new().map_request({
            let seen = seen.clone();
            move |request: RmcpRequest| {
                if request.method() == "tools/call" {
                    *seen.lock().unwrap() = request.cancellation().cloned();
                }
                request
            }
        }),
    );
    let pair = connect(handler).await.unwrap();
    let mut params = CallToolRequestParams::new("slow");
    params.arguments = Some(parse(json!({"ms": 60_000})));
    let handle = pair
        .client
        .peer()
        .send_cancellable_request(
            ClientRequest::CallToolRequest(rmcp::model::Request::new(params)),
            Default::default(),
        )
        .await
        .unwrap();
    let token = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            if let Some(token) = seen.lock().unwrap().clone() {
                return token;
            }
            tokio::task::yield_now().await;
        }
    })
    .await
    .expect("the layer saw the call");
    assert!(!token.is_cancelled());
    handle.cancel(Some("test".into())).await.unwrap();
    tokio::time::timeout(Duration::from_secs(10), token.cancelled())
        .await
        .expect("the layer's token is cancelled when the client cancels");
}

#[tokio::test]
async fn principals_from_auth_middleware_reach_layers_and_handler() {
    // Without HTTP, an rmcp request has no principal: the identity comes from
    // the transport or from auth middleware, never from the client's word.
    let seen: Arc<Mutex<Vec<Option<Principal>>>> = Arc::default();
    let handler = StackedHandler::new(
        DemoHandler::default(),
        ServiceBuilder::new().map_request({
            let seen = seen.clone();
            move |request: RmcpRequest| {
                seen.lock().unwrap().push(request.principal());
                request
            }
        }),
    );
    let pair = connect(handler).await.unwrap();
    let who = pair
        .client
        .call_tool(CallToolRequestParams::new("whoami"))
        .await
        .unwrap();
    assert_eq!(
        serde_json::to_value(&who.content).unwrap()[0]["text"],
        "anonymous"
    );
    assert!(seen.lock().unwrap().iter().all(Option::is_none));
}

/// A layer that is not ready the first time each copy of it is asked, and
/// fails readiness once `broken` is set.
struct NotReadyAtFirst<S> {
    inner: S,
    asked: bool,
    broken: Arc<AtomicBool>,
    pending: Arc<AtomicUsize>,
}

impl<S: Clone> Clone for NotReadyAtFirst<S> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            asked: false,
            broken: self.broken.clone(),
            pending: self.pending.clone(),
        }
    }
}

impl<S> tower::Service<RmcpRequest> for NotReadyAtFirst<S>
where
    S: tower::Service<RmcpRequest, Error = McpError>,
{
    type Response = S::Response;
    type Error = McpError;
    type Future = S::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), McpError>> {
        if self.broken.load(SeqCst) {
            return Poll::Ready(Err(McpError::Overloaded));
        }
        if !self.asked {
            self.asked = true;
            self.pending.fetch_add(1, SeqCst);
            cx.waker().wake_by_ref();
            return Poll::Pending;
        }
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: RmcpRequest) -> S::Future {
        self.inner.call(request)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_are_answered_whether_the_stack_is_ready_at_once_or_later() {
    let broken = Arc::new(AtomicBool::new(false));
    let pending = Arc::new(AtomicUsize::new(0));
    let inner = DemoHandler::default();
    let pair = connect(StackedHandler::new(
        inner.clone(),
        tower::layer::layer_fn({
            let (broken, pending) = (broken.clone(), pending.clone());
            move |leaf| NotReadyAtFirst {
                inner: leaf,
                asked: false,
                broken: broken.clone(),
                pending: pending.clone(),
            }
        }),
    ))
    .await
    .unwrap();
    let client = pair.client.peer().clone();
    // Concurrent calls from both worker threads: some find their thread's
    // copy busy or not yet ready and go to a clone that waits.
    let calls = (0..200).map(|n| {
        let client = client.clone();
        tokio::spawn(async move {
            let mut params = CallToolRequestParams::new("echo");
            params.arguments = Some(
                json!({ "text": format!("call {n}") })
                    .as_object()
                    .unwrap()
                    .clone(),
            );
            let result = client.call_tool(params).await.unwrap();
            let text = serde_json::to_value(&result.content).unwrap()[0]["text"].clone();
            assert_eq!(text, format!("call {n}"));
        })
    });
    for call in calls.collect::<Vec<_>>() {
        call.await.unwrap();
    }
    assert_eq!(inner.calls("tools/call"), 200);
    let waited = pending.load(SeqCst);
    assert!(waited >= 1, "some calls waited for readiness");
    assert!(
        waited < 200,
        "most calls found a ready copy: {waited} waited"
    );

    broken.store(true, SeqCst);
    let error = client
        .call_tool(CallToolRequestParams::new("echo"))
        .await
        .unwrap();
    assert_eq!(
        error.is_error,
        Some(true),
        "a readiness failure is answered"
    );
    assert_eq!(inner.calls("tools/call"), 200);
}
