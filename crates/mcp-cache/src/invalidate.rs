//! [`Invalidator`]: drops entries by tag, here and, with Redis, on every
//! node; and the map from MCP's change notifications onto it.

use std::sync::Arc;

use mcp_service::{McpRequest, Partition};
use serde_json::Value;

use crate::{core::Core, generations::Tag, load::load_key};

/// Drops cache entries. Cheap to clone; every method costs one counter a
/// tag, whatever the number of entries it drops, and with Redis one round
/// trip that tells every node.
///
/// An invalidation also covers fills in progress: a call that started
/// before it can no longer store its result.
///
/// ```
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// let cache = mcp_cache::CacheLayer::new();
/// let invalidator = cache.invalidator();
/// // The server changed its tools: what `tools/list` returned is gone.
/// invalidator
///     .notification("notifications/tools/list_changed", None)
///     .await;
/// invalidator.resource("file:///etc/motd").await;
/// # });
/// ```
#[derive(Clone)]
pub struct Invalidator {
    core: Arc<Core>,
}

impl std::fmt::Debug for Invalidator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Invalidator").finish_non_exhaustive()
    }
}

impl Invalidator {
    pub(crate) fn new(core: Arc<Core>) -> Self {
        Self { core }
    }

    /// Drops everything.
    pub async fn all(&self) {
        self.tags(&[Tag::All]).await;
    }

    /// Drops every entry of `method`, such as every page of `tools/list`
    /// for every principal.
    pub async fn method(&self, method: &str) {
        self.tags(&[Tag::Method(method)]).await;
    }

    /// Drops what was read of resource `uri`.
    pub async fn resource(&self, uri: &str) {
        self.tags(&[Tag::Resource(uri)]).await;
    }

    /// Drops the cached calls of `tool`.
    pub async fn tool(&self, tool: &str) {
        self.tags(&[Tag::Tool(tool)]).await;
    }

    /// Drops the cached `prompts/get` of prompt `name`.
    pub async fn prompt(&self, name: &str) {
        self.tags(&[Tag::Prompt(name)]).await;
    }

    /// Drops the value [`get_or_load`](crate::CacheLayer::get_or_load) keeps
    /// under `key`.
    pub async fn key(&self, key: &str) {
        if let Some(key) = load_key(key) {
            self.tags(&[Tag::Key(key)]).await;
        }
    }

    /// Drops the entries of requests equal to `request` (whatever their
    /// `_meta`), for every principal.
    pub async fn request(&self, request: &impl McpRequest) {
        if let Some(key) = request.cache_key(Partition::Public) {
            self.tags(&[Tag::Key(key)]).await;
        }
    }

    /// Drops everything `tags` name, in one step.
    pub async fn tags(&self, tags: &[Tag<'_>]) {
        self.core.invalidate(tags).await;
    }

    /// Applies an MCP change notification a server sent: returns whether it
    /// was one that changes cached results.
    ///
    /// | notification | drops |
    /// |---|---|
    /// | `notifications/tools/list_changed` | `tools/list` |
    /// | `notifications/prompts/list_changed` | `prompts/list`, `prompts/get` |
    /// | `notifications/resources/list_changed` | `resources/list`, `resources/templates/list` |
    /// | `notifications/resources/updated { uri }` | what was read of `uri` |
    pub async fn notification(&self, method: &str, params: Option<&Value>) -> bool {
        match method {
            "notifications/tools/list_changed" => self.method("tools/list").await,
            "notifications/prompts/list_changed" => {
                self.tags(&[Tag::Method("prompts/list"), Tag::Method("prompts/get")])
                    .await;
            }
            "notifications/resources/list_changed" => {
                self.tags(&[
                    Tag::Method("resources/list"),
                    Tag::Method("resources/templates/list"),
                ])
                .await;
            }
            "notifications/resources/updated" => {
                match params
                    .and_then(|params| params.get("uri"))
                    .and_then(Value::as_str)
                {
                    Some(uri) => self.resource(uri).await,
                    None => return false,
                }
            }
            _ => return false,
        }
        true
    }
}
