//! A raw JSON-RPC backend for cache tests: counts its calls, takes a set
//! time (on tokio's clock), and answers, fails or returns what a test asks.

#![allow(
    dead_code,
    clippy::unwrap_used,
    reason = "shared by several test files, each using part"
)]

use std::{
    sync::{
        Arc, Mutex,
        atomic::{AtomicU64, Ordering::SeqCst},
    },
    time::Duration,
};

use mcp_service::{
    McpError, McpRequest, Principal, RpcError,
    jsonrpc::{JsonRpcRequest, JsonRpcResponse, RequestId},
};
use serde_json::{Value, json};
use tower::{Service, ServiceExt};

/// What the backend answers.
#[derive(Debug, Clone)]
pub(crate) enum Answer {
    /// A `resources/read` result whose text counts the calls, with these
    /// `ttlMs` and `cacheScope`.
    Read {
        ttl_ms: Option<u64>,
        scope: Option<&'static str>,
    },
    /// This result, as is.
    Result(Value),
    /// A JSON-RPC error with this code.
    Error(i32),
    /// This prepared response, cloned.
    Prepared(JsonRpcResponse),
}

#[derive(Clone)]
pub(crate) struct Backend {
    pub(crate) calls: Arc<AtomicU64>,
    pub(crate) delay: Duration,
    answer: Arc<Mutex<Answer>>,
}

impl Backend {
    pub(crate) fn new(delay: Duration, answer: Answer) -> Self {
        Self {
            calls: Arc::default(),
            delay,
            answer: Arc::new(Mutex::new(answer)),
        }
    }

    pub(crate) fn calls(&self) -> u64 {
        self.calls.load(SeqCst)
    }

    pub(crate) fn answer(&self, answer: Answer) {
        *self.answer.lock().unwrap() = answer;
    }

    pub(crate) fn service(
        &self,
    ) -> impl Service<
        JsonRpcRequest,
        Response = JsonRpcResponse,
        Error = McpError,
        Future = impl Future<Output = Result<JsonRpcResponse, McpError>> + Send,
    > + Clone
    + Send
    + 'static {
        let backend = self.clone();
        tower::service_fn(move |request: JsonRpcRequest| {
            let backend = backend.clone();
            async move {
                let call = backend.calls.fetch_add(1, SeqCst) + 1;
                // A zero sleep still waits for the timer's next tick (1 ms).
                if !backend.delay.is_zero() {
                    tokio::time::sleep(backend.delay).await;
                }
                let answer = backend.answer.lock().unwrap().clone();
                let who = request
                    .principal()
                    .map_or_else(|| "anonymous".to_owned(), |p| p.to_string());
                match answer {
                    Answer::Read { ttl_ms, scope } => {
                        let mut result = json!({
                            "contents": [{
                                "uri": request.resource_uri().unwrap_or_default(),
                                "text": format!("call {call} for {who}"),
                            }],
                        });
                        if let Some(ttl_ms) = ttl_ms {
                            result["ttlMs"] = json!(ttl_ms);
                        }
                        if let Some(scope) = scope {
                            result["cacheScope"] = json!(scope);
                        }
                        JsonRpcResponse::from_value(&result)
                    }
                    Answer::Result(result) => JsonRpcResponse::from_value(&result),
                    Answer::Prepared(response) => Ok(response),
                    Answer::Error(code) => Err(RpcError::new(code, "backend failed").into()),
                }
            }
        })
    }
}

/// A request of `method` with `params`, as `principal` when given.
pub(crate) fn request(method: &str, params: Value, principal: Option<&str>) -> JsonRpcRequest {
    let mut request =
        JsonRpcRequest::new(Some(RequestId::Number(1)), method, Some(&params)).unwrap();
    if let Some(principal) = principal {
        request.insert_extension(Principal::from_identity(principal));
    }
    request
}

pub(crate) fn read(uri: &str) -> JsonRpcRequest {
    request("resources/read", json!({ "uri": uri }), None)
}

/// The text of a `resources/read` result.
pub(crate) fn text(response: &JsonRpcResponse) -> String {
    let value: Value = serde_json::from_str(response.result().get()).unwrap();
    value["contents"][0]["text"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

/// Calls `service` once.
pub(crate) async fn call<S>(
    service: &S,
    request: JsonRpcRequest,
) -> Result<JsonRpcResponse, McpError>
where
    S: Service<JsonRpcRequest, Response = JsonRpcResponse, Error = McpError> + Clone,
{
    service.clone().oneshot(request).await
}
