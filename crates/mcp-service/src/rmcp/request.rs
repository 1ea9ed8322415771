//! [`RmcpRequest`]: an rmcp request and its context, as layers see it.

use std::{borrow::Cow, sync::OnceLock};

use rmcp::{
    model::{ClientRequest, ProtocolVersion},
    service::{RequestContext, RoleServer},
};
use tokio_util::sync::CancellationToken;

use crate::{key::ParamsDigest, principal::Principal, request::McpRequest};

/// A typed rmcp request with its [`RequestContext`]: what flows through a
/// tower stack built on [`HandlerService`](super::HandlerService).
///
/// The context carries the cancellation token (`ctx.ct`), the request `_meta`,
/// the peer, and its extensions, which hold the HTTP `Parts` when the request
/// came over Streamable HTTP.
///
/// Cloning keeps the context, so a retry is the same request to the handler.
#[derive(Debug, Clone)]
pub struct RmcpRequest {
    request: ClientRequest,
    context: RequestContext<RoleServer>,
    principal: OnceLock<Option<Principal>>,
    protocol_version: OnceLock<Option<ProtocolVersion>>,
}

impl RmcpRequest {
    /// Pairs a request with its context.
    pub fn new(request: ClientRequest, context: RequestContext<RoleServer>) -> Self {
        Self {
            request,
            context,
            principal: OnceLock::new(),
            protocol_version: OnceLock::new(),
        }
    }

    /// The typed request.
    pub fn request(&self) -> &ClientRequest {
        &self.request
    }

    /// The request context.
    pub fn context(&self) -> &RequestContext<RoleServer> {
        &self.context
    }

    /// The request and its context, taken apart.
    pub fn into_parts(self) -> (ClientRequest, RequestContext<RoleServer>) {
        (self.request, self.context)
    }
}

/// The principal of an rmcp request context: a [`Principal`] extension, else
/// the one of its HTTP `Parts` (see [`Principal::from_parts`]).
pub fn principal_of(context: &RequestContext<RoleServer>) -> Option<Principal> {
    let extensions = &context.extensions;
    extensions.get::<Principal>().copied().or_else(|| {
        extensions
            .get::<http::request::Parts>()
            .and_then(Principal::from_parts)
    })
}

impl McpRequest for RmcpRequest {
    fn method(&self) -> &str {
        self.request.method()
    }

    fn tool_name(&self) -> Option<&str> {
        match &self.request {
            ClientRequest::CallToolRequest(request) => Some(&request.params.name),
            _ => None,
        }
    }

    fn prompt_name(&self) -> Option<&str> {
        match &self.request {
            ClientRequest::GetPromptRequest(request) => Some(&request.params.name),
            _ => None,
        }
    }

    fn resource_uri(&self) -> Option<&str> {
        match &self.request {
            ClientRequest::ReadResourceRequest(request) => Some(&request.params.uri),
            ClientRequest::SubscribeRequest(request) => Some(&request.params.uri),
            ClientRequest::UnsubscribeRequest(request) => Some(&request.params.uri),
            ClientRequest::GetSkillRequest(request) => Some(&request.params.uri),
            ClientRequest::ReadResourceDirectoryRequest(request) => Some(&request.params.uri),
            _ => None,
        }
    }

    fn cursor(&self) -> Option<&str> {
        let params = match &self.request {
            ClientRequest::ListToolsRequest(request) => &request.params,
            ClientRequest::ListPromptsRequest(request) => &request.params,
            ClientRequest::ListResourcesRequest(request) => &request.params,
            ClientRequest::ListResourceTemplatesRequest(request) => &request.params,
            ClientRequest::ListSkillsRequest(request) => &request.params,
            _ => return None,
        };
        params.as_ref()?.cursor.as_deref()
    }

    fn is_retry(&self) -> bool {
        let (input_responses, request_state) = match &self.request {
            ClientRequest::CallToolRequest(r) => {
                (r.params.input_responses.is_some(), &r.params.request_state)
            }
            ClientRequest::GetPromptRequest(r) => {
                (r.params.input_responses.is_some(), &r.params.request_state)
            }
            ClientRequest::ReadResourceRequest(r) => {
                (r.params.input_responses.is_some(), &r.params.request_state)
            }
            _ => return false,
        };
        input_responses || request_state.is_some()
    }

    fn protocol_version(&self) -> Option<&str> {
        self.protocol_version
            .get_or_init(|| self.context.protocol_version())
            .as_ref()
            .map(ProtocolVersion::as_str)
    }

    fn meta_str(&self, key: &str) -> Option<Cow<'_, str>> {
        // rmcp moves the request's `_meta` into the context.
        let meta = &self.context.meta.0.0;
        meta.get(key)
            .and_then(serde_json::Value::as_str)
            .map(Cow::Borrowed)
    }

    fn params_digest(&self) -> Option<ParamsDigest> {
        macro_rules! digest {
            (params: $($required:ident),* ; optional: $($optional:ident),* ; none: $($none:ident),*) => {
                match &self.request {
                    $(ClientRequest::$required(r) => ParamsDigest::of_value(&r.params).ok(),)*
                    $(ClientRequest::$optional(r) => match &r.params {
                        Some(params) => ParamsDigest::of_value(params).ok(),
                        None => Some(ParamsDigest::empty()),
                    },)*
                    $(ClientRequest::$none(_) => Some(ParamsDigest::empty()),)*
                    ClientRequest::CustomRequest(r) => match &r.params {
                        Some(params) => ParamsDigest::of_value(params).ok(),
                        None => Some(ParamsDigest::empty()),
                    },
                    // A variant from a newer rmcp: its params are unknown here,
                    // so it is never shared.
                    _ => None,
                }
            };
        }
        digest!(
            params: InitializeRequest, DiscoverRequest, CompleteRequest, SetLevelRequest,
                GetPromptRequest, ReadResourceRequest, SubscriptionsListenRequest,
                SubscribeRequest, UnsubscribeRequest, CallToolRequest, GetTaskRequest,
                UpdateTaskRequest, CancelTaskRequest, GetSkillRequest,
                ReadResourceDirectoryRequest;
            optional: ListPromptsRequest, ListResourcesRequest, ListResourceTemplatesRequest,
                ListToolsRequest, ListSkillsRequest;
            none: PingRequest
        )
    }

    fn principal(&self) -> Option<Principal> {
        *self.principal.get_or_init(|| principal_of(&self.context))
    }

    fn http_parts(&self) -> Option<&http::request::Parts> {
        self.context.extensions.get()
    }

    fn cancellation(&self) -> Option<&CancellationToken> {
        Some(&self.context.ct)
    }

    fn extension<T: Send + Sync + 'static>(&self) -> Option<&T> {
        self.context.extensions.get()
    }

    fn insert_extension<T: Clone + Send + Sync + 'static>(&mut self, value: T) -> Option<T> {
        self.principal = OnceLock::new();
        self.context.extensions.insert(value)
    }
}
