//! The smallest request and response for benches, so no id measures building
//! or dropping real ones.

use mcp_service::{CacheHint, McpError, McpRequest, McpResponse, Outcome, ParamsDigest, Principal};
use tokio_util::sync::CancellationToken;

/// A finished call.
#[derive(Debug, Clone, Copy)]
pub struct Done;

impl McpResponse for Done {
    fn outcome(&self) -> Outcome {
        Outcome::Complete
    }
    fn cache_hint(&self) -> CacheHint {
        CacheHint::default()
    }
    fn weight(&self) -> usize {
        0
    }
    fn encode(&self) -> Result<Vec<u8>, McpError> {
        Ok(Vec::new())
    }
    fn decode(_: &[u8]) -> Result<Self, McpError> {
        Ok(Done)
    }
}

/// A `tools/call` of the named tool.
#[derive(Debug, Clone, Copy)]
pub struct Call(pub &'static str);

impl McpRequest for Call {
    fn method(&self) -> &str {
        "tools/call"
    }
    fn tool_name(&self) -> Option<&str> {
        Some(self.0)
    }
    fn prompt_name(&self) -> Option<&str> {
        None
    }
    fn resource_uri(&self) -> Option<&str> {
        None
    }
    fn cursor(&self) -> Option<&str> {
        None
    }
    fn is_retry(&self) -> bool {
        false
    }
    fn protocol_version(&self) -> Option<&str> {
        None
    }
    fn params_digest(&self) -> Option<ParamsDigest> {
        Some(ParamsDigest::empty())
    }
    fn principal(&self) -> Option<Principal> {
        None
    }
    fn http_parts(&self) -> Option<&http::request::Parts> {
        None
    }
    fn cancellation(&self) -> Option<&CancellationToken> {
        None
    }
    fn extension<T: Send + Sync + 'static>(&self) -> Option<&T> {
        None
    }
    fn insert_extension<T: Clone + Send + Sync + 'static>(&mut self, _: T) -> Option<T> {
        None
    }
}

/// The work every id does: answer at once.
pub fn work(_: Call) -> std::future::Ready<Result<Done, McpError>> {
    std::future::ready(Ok(Done))
}
