//! [`StackedHandler`]: an rmcp `ServerHandler` whose requests pass through a
//! tower stack before they reach the handler it wraps.

#![expect(
    deprecated,
    reason = "legacy methods are still served to older clients"
)]

use std::{borrow::Cow, future::Future, sync::Arc};

use rmcp::{
    ErrorData, ServerHandler,
    model::{
        CallToolRequestParams, CallToolResponse, CallToolResult, CancelTaskParams,
        CancelledNotificationParam, ClientRequest, CompleteRequestParams, CompleteResult,
        ContentBlock, CustomNotification, CustomRequest, CustomResult, DiscoverRequestParams,
        DiscoverResult, GetPromptRequestParams, GetPromptResponse, GetSkillRequestParams,
        GetSkillResult, GetTaskParams, GetTaskResult, InitializeRequestParams, InitializeResult,
        ListPromptsResult, ListResourceTemplatesResult, ListResourcesResult, ListSkillsResult,
        ListToolsResult, PaginatedRequestParams, ProgressNotificationParam, ProtocolVersion,
        ReadResourceDirectoryRequestParams, ReadResourceDirectoryResult, ReadResourceRequestParams,
        ReadResourceResponse, Request, RequestNoParam, RequestOptionalParam, ServerConfig,
        ServerResult, SetLevelRequestParams, SubscribeRequestParams, SubscriptionFilter, Tool,
        UnsubscribeRequestParams, UpdateTaskParams,
    },
    service::{
        MaybeSendFuture, NotificationContext, RequestContext, RoleServer, SubscriptionContext,
    },
};
use tower::{Layer, Service};

use super::{HandlerService, RmcpRequest};
use crate::{
    ThreadCopies,
    error::{EdgeReply, McpError},
    method::MethodClass,
};

/// An rmcp [`ServerHandler`] that routes every request through a tower stack
/// whose innermost service calls the wrapped handler.
///
/// Serve it wherever rmcp takes a handler (stdio, Streamable HTTP). Every
/// request method goes through the stack; `subscriptions/listen`,
/// `get_info`, `get_tool` and notifications go straight to the handler,
/// because they are not request/response calls. The context, with its
/// cancellation token and HTTP `Parts`, travels inside [`RmcpRequest`].
///
/// Nothing is spawned per request, so rmcp's task-locals stay in place.
///
/// When the stack rejects a `tools/call` (rate limited, overloaded, circuit
/// open, ...), the client gets a tool result with `isError: true` and a
/// readable message, so the model sees why; other methods get the JSON-RPC
/// error of [`McpError::to_rpc_error`].
///
/// ```
/// use mcp_service::{McpRequest, rmcp::{RmcpRequest, StackedHandler}};
/// use rmcp::{ServerHandler, model::ServerConfig};
/// use tower::ServiceBuilder;
///
/// #[derive(Clone)]
/// struct Hello;
/// impl ServerHandler for Hello {
///     fn get_info(&self) -> ServerConfig {
///         ServerConfig::default()
///     }
/// }
///
/// // Layers read the request through `McpRequest`; here, a log line per tool call.
/// let handler = StackedHandler::new(
///     Hello,
///     ServiceBuilder::new().map_request(|request: RmcpRequest| {
///         if let Some(tool) = request.tool_name() {
///             println!("calling {tool}");
///         }
///         request
///     }),
/// );
/// assert_eq!(handler.get_info().capabilities, Hello.get_info().capabilities);
/// ```
pub struct StackedHandler<H, S> {
    handler: Arc<H>,
    /// The stack, called from `&self` without a clone per request.
    stack: ThreadCopies<S>,
}

impl<H, S: Clone> StackedHandler<H, S> {
    /// Wraps `handler` in `layer`.
    pub fn new<L>(handler: H, layer: L) -> Self
    where
        L: Layer<HandlerService<H>, Service = S>,
    {
        let handler = Arc::new(handler);
        let stack = ThreadCopies::new(layer.layer(HandlerService::from_arc(handler.clone())));
        Self { handler, stack }
    }
}

impl<H, S> StackedHandler<H, S> {
    /// The wrapped handler.
    pub fn handler(&self) -> &H {
        &self.handler
    }

    /// The stack requests go through.
    pub fn stack(&self) -> &S {
        self.stack.get_ref()
    }
}

impl<H, S: Clone> Clone for StackedHandler<H, S> {
    fn clone(&self) -> Self {
        Self {
            handler: self.handler.clone(),
            stack: self.stack.clone(),
        }
    }
}

impl<H, S> StackedHandler<H, S>
where
    S: Service<RmcpRequest, Response = ServerResult> + Clone,
    S::Error: Into<McpError>,
{
    async fn call(
        &self,
        request: ClientRequest,
        context: RequestContext<RoleServer>,
    ) -> Result<ServerResult, McpError> {
        self.stack
            .oneshot(RmcpRequest::new(request, context))
            .await
            .map_err(Into::into)
    }

    /// Calls the stack and takes the result variant `pick` expects.
    async fn route<T>(
        &self,
        request: ClientRequest,
        context: RequestContext<RoleServer>,
        pick: fn(ServerResult) -> Option<T>,
    ) -> Result<T, ErrorData> {
        match self.call(request, context).await {
            Ok(result) => pick(result).ok_or_else(mismatched_result),
            Err(error) => Err(error.into()),
        }
    }
}

fn mismatched_result() -> ErrorData {
    ErrorData::internal_error("a layer answered with the result of another method", None)
}

fn empty(result: ServerResult) -> Option<()> {
    matches!(
        result,
        ServerResult::EmptyResult(_) | ServerResult::TaskAckResult(_)
    )
    .then_some(())
}

fn optional<M: Default, P>(params: Option<P>) -> RequestOptionalParam<M, P> {
    RequestOptionalParam {
        method: M::default(),
        params,
        extensions: Default::default(),
    }
}

macro_rules! pick {
    ($variant:ident) => {
        |result| match result {
            ServerResult::$variant(result) => Some(result),
            _ => None,
        }
    };
}

impl<H, S> ServerHandler for StackedHandler<H, S>
where
    H: ServerHandler,
    S: Service<RmcpRequest, Response = ServerResult> + Clone + Send + Sync + 'static,
    S::Error: Into<McpError> + Send,
    S::Future: Send,
{
    fn ping(
        &self,
        context: RequestContext<RoleServer>,
    ) -> impl Future<Output = Result<(), ErrorData>> + MaybeSendFuture + '_ {
        let request = ClientRequest::PingRequest(RequestNoParam::default());
        self.route(request, context, empty)
    }

    fn initialize(
        &self,
        params: InitializeRequestParams,
        context: RequestContext<RoleServer>,
    ) -> impl Future<Output = Result<InitializeResult, ErrorData>> + MaybeSendFuture + '_ {
        let request = ClientRequest::InitializeRequest(Request::new(params));
        self.route(request, context, pick!(InitializeResult))
    }

    fn negotiate_initialize(
        &self,
        request: &InitializeRequestParams,
    ) -> Result<InitializeResult, ErrorData> {
        self.handler.negotiate_initialize(request)
    }

    fn supported_protocol_versions(&self) -> Cow<'static, [ProtocolVersion]> {
        self.handler.supported_protocol_versions()
    }

    fn discover(
        &self,
        context: RequestContext<RoleServer>,
    ) -> impl Future<Output = Result<DiscoverResult, ErrorData>> + MaybeSendFuture + '_ {
        let request =
            ClientRequest::DiscoverRequest(Request::new(DiscoverRequestParams::default()));
        self.route(request, context, pick!(DiscoverResult))
    }

    fn complete(
        &self,
        params: CompleteRequestParams,
        context: RequestContext<RoleServer>,
    ) -> impl Future<Output = Result<CompleteResult, ErrorData>> + MaybeSendFuture + '_ {
        let request = ClientRequest::CompleteRequest(Request::new(params));
        self.route(request, context, pick!(CompleteResult))
    }

    fn set_level(
        &self,
        params: SetLevelRequestParams,
        context: RequestContext<RoleServer>,
    ) -> impl Future<Output = Result<(), ErrorData>> + MaybeSendFuture + '_ {
        let request = ClientRequest::SetLevelRequest(Request::new(params));
        self.route(request, context, empty)
    }

    fn get_prompt(
        &self,
        params: GetPromptRequestParams,
        context: RequestContext<RoleServer>,
    ) -> impl Future<Output = Result<GetPromptResponse, ErrorData>> + MaybeSendFuture + '_ {
        let request = ClientRequest::GetPromptRequest(Request::new(params));
        self.route(request, context, |result| match result {
            ServerResult::GetPromptResult(result) => Some(GetPromptResponse::Complete(result)),
            ServerResult::InputRequiredResult(result) => {
                Some(GetPromptResponse::InputRequired(result))
            }
            _ => None,
        })
    }

    fn list_prompts(
        &self,
        params: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> impl Future<Output = Result<ListPromptsResult, ErrorData>> + MaybeSendFuture + '_ {
        let request = ClientRequest::ListPromptsRequest(optional(params));
        self.route(request, context, pick!(ListPromptsResult))
    }

    fn list_resources(
        &self,
        params: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> impl Future<Output = Result<ListResourcesResult, ErrorData>> + MaybeSendFuture + '_ {
        let request = ClientRequest::ListResourcesRequest(optional(params));
        self.route(request, context, pick!(ListResourcesResult))
    }

    fn list_resource_templates(
        &self,
        params: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> impl Future<Output = Result<ListResourceTemplatesResult, ErrorData>> + MaybeSendFuture + '_
    {
        let request = ClientRequest::ListResourceTemplatesRequest(optional(params));
        self.route(request, context, pick!(ListResourceTemplatesResult))
    }

    fn read_resource(
        &self,
        params: ReadResourceRequestParams,
        context: RequestContext<RoleServer>,
    ) -> impl Future<Output = Result<ReadResourceResponse, ErrorData>> + MaybeSendFuture + '_ {
        let request = ClientRequest::ReadResourceRequest(Request::new(params));
        self.route(request, context, |result| match result {
            ServerResult::ReadResourceResult(result) => {
                Some(ReadResourceResponse::Complete(result))
            }
            ServerResult::InputRequiredResult(result) => {
                Some(ReadResourceResponse::InputRequired(result))
            }
            _ => None,
        })
    }

    fn accepted_subscription_filter(
        &self,
        requested: &SubscriptionFilter,
    ) -> Option<SubscriptionFilter> {
        self.handler.accepted_subscription_filter(requested)
    }

    fn listen(
        &self,
        context: SubscriptionContext,
    ) -> impl Future<Output = Result<(), ErrorData>> + MaybeSendFuture + '_ {
        self.handler.listen(context)
    }

    fn subscribe(
        &self,
        params: SubscribeRequestParams,
        context: RequestContext<RoleServer>,
    ) -> impl Future<Output = Result<(), ErrorData>> + MaybeSendFuture + '_ {
        let request = ClientRequest::SubscribeRequest(Request::new(params));
        self.route(request, context, empty)
    }

    fn unsubscribe(
        &self,
        params: UnsubscribeRequestParams,
        context: RequestContext<RoleServer>,
    ) -> impl Future<Output = Result<(), ErrorData>> + MaybeSendFuture + '_ {
        let request = ClientRequest::UnsubscribeRequest(Request::new(params));
        self.route(request, context, empty)
    }

    fn call_tool(
        &self,
        params: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> impl Future<Output = Result<CallToolResponse, ErrorData>> + MaybeSendFuture + '_ {
        let request = ClientRequest::CallToolRequest(Request::new(params));
        async move {
            match self.call(request, context).await {
                Ok(ServerResult::CallToolResult(result)) => Ok(CallToolResponse::Complete(result)),
                Ok(ServerResult::InputRequiredResult(result)) => {
                    Ok(CallToolResponse::InputRequired(result))
                }
                Ok(ServerResult::CreateTaskResult(result)) => Ok(CallToolResponse::Task(result)),
                Ok(_) => Err(mismatched_result()),
                Err(error) => match error.at_edge(MethodClass::ToolCall) {
                    EdgeReply::ToolError(message) => {
                        Ok(CallToolResponse::Complete(CallToolResult::error(vec![
                            ContentBlock::text(message),
                        ])))
                    }
                    EdgeReply::Error(error) => Err(McpError::Rpc(error).into()),
                },
            }
        }
    }

    fn list_tools(
        &self,
        params: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> impl Future<Output = Result<ListToolsResult, ErrorData>> + MaybeSendFuture + '_ {
        let request = ClientRequest::ListToolsRequest(optional(params));
        self.route(request, context, pick!(ListToolsResult))
    }

    fn get_tool(&self, name: &str) -> Option<Tool> {
        self.handler.get_tool(name)
    }

    fn on_custom_request(
        &self,
        request: CustomRequest,
        context: RequestContext<RoleServer>,
    ) -> impl Future<Output = Result<CustomResult, ErrorData>> + MaybeSendFuture + '_ {
        let request = ClientRequest::CustomRequest(request);
        self.route(request, context, pick!(CustomResult))
    }

    fn on_cancelled(
        &self,
        notification: CancelledNotificationParam,
        context: NotificationContext<RoleServer>,
    ) -> impl Future<Output = ()> + MaybeSendFuture + '_ {
        self.handler.on_cancelled(notification, context)
    }

    fn on_progress(
        &self,
        notification: ProgressNotificationParam,
        context: NotificationContext<RoleServer>,
    ) -> impl Future<Output = ()> + MaybeSendFuture + '_ {
        self.handler.on_progress(notification, context)
    }

    fn on_initialized(
        &self,
        context: NotificationContext<RoleServer>,
    ) -> impl Future<Output = ()> + MaybeSendFuture + '_ {
        self.handler.on_initialized(context)
    }

    fn on_roots_list_changed(
        &self,
        context: NotificationContext<RoleServer>,
    ) -> impl Future<Output = ()> + MaybeSendFuture + '_ {
        self.handler.on_roots_list_changed(context)
    }

    fn on_custom_notification(
        &self,
        notification: CustomNotification,
        context: NotificationContext<RoleServer>,
    ) -> impl Future<Output = ()> + MaybeSendFuture + '_ {
        self.handler.on_custom_notification(notification, context)
    }

    fn get_info(&self) -> ServerConfig {
        self.handler.get_info()
    }

    fn get_task(
        &self,
        params: GetTaskParams,
        context: RequestContext<RoleServer>,
    ) -> impl Future<Output = Result<GetTaskResult, ErrorData>> + MaybeSendFuture + '_ {
        let request = ClientRequest::GetTaskRequest(Request::new(params));
        self.route(request, context, pick!(GetTaskResult))
    }

    fn update_task(
        &self,
        params: UpdateTaskParams,
        context: RequestContext<RoleServer>,
    ) -> impl Future<Output = Result<(), ErrorData>> + MaybeSendFuture + '_ {
        let request = ClientRequest::UpdateTaskRequest(Request::new(params));
        self.route(request, context, empty)
    }

    fn cancel_task(
        &self,
        params: CancelTaskParams,
        context: RequestContext<RoleServer>,
    ) -> impl Future<Output = Result<(), ErrorData>> + MaybeSendFuture + '_ {
        let request = ClientRequest::CancelTaskRequest(Request::new(params));
        self.route(request, context, empty)
    }

    fn list_skills(
        &self,
        params: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> impl Future<Output = Result<ListSkillsResult, ErrorData>> + MaybeSendFuture + '_ {
        let request = ClientRequest::ListSkillsRequest(optional(params));
        self.route(request, context, pick!(ListSkillsResult))
    }

    fn get_skill(
        &self,
        params: GetSkillRequestParams,
        context: RequestContext<RoleServer>,
    ) -> impl Future<Output = Result<GetSkillResult, ErrorData>> + MaybeSendFuture + '_ {
        let request = ClientRequest::GetSkillRequest(Request::new(params));
        self.route(request, context, pick!(GetSkillResult))
    }

    fn read_resource_directory(
        &self,
        params: ReadResourceDirectoryRequestParams,
        context: RequestContext<RoleServer>,
    ) -> impl Future<Output = Result<ReadResourceDirectoryResult, ErrorData>> + MaybeSendFuture + '_
    {
        let request = ClientRequest::ReadResourceDirectoryRequest(Request::new(params));
        self.route(request, context, pick!(ListResourcesResult))
    }
}
