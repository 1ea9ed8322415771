//! [`HandlerService`]: the leaf of a stack, a tower `Service` that calls an
//! rmcp `ServerHandler`.

use std::{
    future::Future,
    pin::Pin,
    sync::Arc,
    task::{Context, Poll},
};

use rmcp::{
    ServerHandler,
    model::{ClientRequest, ServerResult},
    service::RoleServer,
};
use tower::Service;

use super::RmcpRequest;
use crate::error::McpError;

/// The future of [`HandlerService`].
///
/// Boxed: the handler's futures are unnameable `impl Future` types that
/// borrow the handler, so the leaf owns an `Arc` of it inside one allocation.
/// Every layer above keeps a named, allocation-free future.
pub type HandlerFuture = Pin<Box<dyn Future<Output = Result<ServerResult, McpError>> + Send>>;

/// A tower `Service` that answers [`RmcpRequest`]s by calling the matching
/// method of an rmcp [`ServerHandler`]: the innermost service of a stack.
///
/// It does what rmcp's own dispatch does after validation, so a handler
/// behind a stack behaves as it does without one. Clones share the handler.
pub struct HandlerService<H> {
    handler: Arc<H>,
}

impl<H> HandlerService<H> {
    /// A service over `handler`.
    pub fn new(handler: H) -> Self {
        Self::from_arc(Arc::new(handler))
    }

    /// A service over a shared handler.
    pub fn from_arc(handler: Arc<H>) -> Self {
        Self { handler }
    }

    /// The handler.
    pub fn handler(&self) -> &Arc<H> {
        &self.handler
    }
}

impl<H> Clone for HandlerService<H> {
    fn clone(&self) -> Self {
        Self {
            handler: self.handler.clone(),
        }
    }
}

impl<H> std::fmt::Debug for HandlerService<H> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HandlerService").finish_non_exhaustive()
    }
}

impl<H: ServerHandler> Service<RmcpRequest> for HandlerService<H> {
    type Response = ServerResult;
    type Error = McpError;
    type Future = HandlerFuture;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), McpError>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: RmcpRequest) -> HandlerFuture {
        let handler = self.handler.clone();
        Box::pin(async move { dispatch(&*handler, request).await })
    }
}

#[expect(
    deprecated,
    reason = "legacy methods are still served to older clients"
)]
async fn dispatch<H: ServerHandler>(
    handler: &H,
    request: RmcpRequest,
) -> Result<ServerResult, McpError> {
    let (request, context) = request.into_parts();
    let result = match request {
        ClientRequest::InitializeRequest(r) => handler
            .initialize(r.params, context)
            .await
            .map(ServerResult::InitializeResult),
        ClientRequest::DiscoverRequest(_) => handler
            .discover(context)
            .await
            .map(ServerResult::DiscoverResult),
        ClientRequest::PingRequest(_) => handler.ping(context).await.map(ServerResult::empty),
        ClientRequest::CompleteRequest(r) => handler
            .complete(r.params, context)
            .await
            .map(ServerResult::CompleteResult),
        ClientRequest::SetLevelRequest(r) => handler
            .set_level(r.params, context)
            .await
            .map(ServerResult::empty),
        ClientRequest::GetPromptRequest(r) => handler
            .get_prompt(r.params, context)
            .await
            .map(ServerResult::from),
        ClientRequest::ListPromptsRequest(r) => handler
            .list_prompts(r.params, context)
            .await
            .map(ServerResult::ListPromptsResult),
        ClientRequest::ListResourcesRequest(r) => handler
            .list_resources(r.params, context)
            .await
            .map(ServerResult::ListResourcesResult),
        ClientRequest::ListResourceTemplatesRequest(r) => handler
            .list_resource_templates(r.params, context)
            .await
            .map(ServerResult::ListResourceTemplatesResult),
        ClientRequest::ReadResourceRequest(r) => handler
            .read_resource(r.params, context)
            .await
            .map(ServerResult::from),
        ClientRequest::SubscribeRequest(r) => handler
            .subscribe(r.params, context)
            .await
            .map(ServerResult::empty),
        ClientRequest::UnsubscribeRequest(r) => handler
            .unsubscribe(r.params, context)
            .await
            .map(ServerResult::empty),
        ClientRequest::CallToolRequest(r) => handler
            .call_tool(r.params, context)
            .await
            .map(ServerResult::from),
        ClientRequest::ListToolsRequest(r) => handler
            .list_tools(r.params, context)
            .await
            .map(ServerResult::ListToolsResult),
        ClientRequest::CustomRequest(r) => handler
            .on_custom_request(r, context)
            .await
            .map(ServerResult::CustomResult),
        ClientRequest::GetTaskRequest(r) => handler
            .get_task(r.params, context)
            .await
            .map(ServerResult::GetTaskResult),
        ClientRequest::UpdateTaskRequest(r) => handler
            .update_task(r.params, context)
            .await
            .map(ServerResult::task_ack),
        ClientRequest::CancelTaskRequest(r) => handler
            .cancel_task(r.params, context)
            .await
            .map(ServerResult::task_ack),
        ClientRequest::ListSkillsRequest(r) => handler
            .list_skills(r.params, context)
            .await
            .map(ServerResult::ListSkillsResult),
        ClientRequest::GetSkillRequest(r) => handler
            .get_skill(r.params, context)
            .await
            .map(ServerResult::GetSkillResult),
        ClientRequest::ReadResourceDirectoryRequest(r) => handler
            .read_resource_directory(r.params, context)
            .await
            .map(ServerResult::ListResourcesResult),
        // `subscriptions/listen` bypasses stacks (it lives as long as the
        // subscription) and variants of a newer rmcp are not listed above:
        // rmcp's own dispatch serves both, so nothing becomes method-not-found.
        other => rmcp::Service::<RoleServer>::handle_request(handler, other, context).await,
    };
    result.map_err(McpError::from)
}
