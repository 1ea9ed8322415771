//! What the cache does with a request: which rule applies, which tags its
//! entries carry, and the keys it may be kept under. Pure: reads the
//! request, touches no state.

use std::{collections::HashMap, fmt, sync::Arc};

use mcp_service::{CacheKey, CacheScope, McpRequest, Partition, Principal};

use crate::{
    freshness::Rule,
    generations::{Tag, Tags},
};

/// Whether a tool is read-only (`annotations.readOnlyHint`), as the server
/// declared it: the cache keeps results of `tools/call` only for tools that
/// are both opted in and read-only.
///
/// Closures `Fn(&str) -> Option<bool>` implement it; `None` means the tool
/// is unknown, which is not read-only. For an rmcp handler:
/// `move |name: &str| handler.get_tool(name)?.annotations?.read_only_hint`.
pub trait ToolInfo: Send + Sync + 'static {
    /// `Some(true)` when `tool` is declared read-only.
    fn read_only(&self, tool: &str) -> Option<bool>;
}

impl<F: Fn(&str) -> Option<bool> + Send + Sync + 'static> ToolInfo for F {
    fn read_only(&self, tool: &str) -> Option<bool> {
        self(tool)
    }
}

/// The methods the cache keeps by default: discovery, the four lists and
/// resource reads.
pub const DEFAULT_METHODS: [&str; 6] = [
    "server/discover",
    "tools/list",
    "prompts/list",
    "resources/list",
    "resources/templates/list",
    "resources/read",
];

/// The operator's rules: the cacheable methods and tools.
#[derive(Clone)]
pub(crate) struct Rules {
    /// A handful of methods: a scan beats hashing.
    pub(crate) methods: Vec<(Box<str>, Rule)>,
    pub(crate) tools: HashMap<Box<str>, Rule>,
    pub(crate) tool_info: Option<Arc<dyn ToolInfo>>,
}

impl fmt::Debug for Rules {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Rules")
            .field("methods", &self.methods)
            .field("tools", &self.tools)
            .field("tool_info", &self.tool_info.is_some())
            .finish()
    }
}

impl Default for Rules {
    fn default() -> Self {
        Self {
            methods: DEFAULT_METHODS
                .iter()
                .map(|method| (Box::from(*method), Rule::HINTED))
                .collect(),
            tools: HashMap::new(),
            tool_info: None,
        }
    }
}

/// The cache's plan for one request.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Plan {
    pub(crate) rule: Rule,
    /// The key of a public entry, and of the private mark.
    pub(crate) public: CacheKey,
    pub(crate) principal: Option<Principal>,
    /// The key of the asker's private entry, when there is an asker.
    pub(crate) private: Option<CacheKey>,
}

/// Where an entry lives: a key and the partition it may be served to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Target {
    pub(crate) key: CacheKey,
    pub(crate) partition: Partition,
}

impl Plan {
    /// The tags of `request`'s entries: its method, its resource, tool or
    /// prompt, and itself. Only a fill needs them, so a hit never hashes them.
    pub(crate) fn tags<Req: McpRequest>(&self, request: &Req) -> Tags {
        let method = Tag::Method(request.method());
        let key = Tag::Key(self.public);
        let target = match (
            request.tool_name(),
            request.resource_uri(),
            request.prompt_name(),
        ) {
            (Some(tool), _, _) => Some(Tag::Tool(tool)),
            (None, Some(uri), _) => Some(Tag::Resource(uri)),
            (None, None, Some(prompt)) => Some(Tag::Prompt(prompt)),
            (None, None, None) => None,
        };
        match target {
            Some(target) => Tags::new(&[method, target, key]),
            None => Tags::new(&[method, key]),
        }
    }

    pub(crate) fn public_target(&self) -> Target {
        Target {
            key: self.public,
            partition: Partition::Public,
        }
    }

    pub(crate) fn private_target(&self) -> Option<Target> {
        Some(Target {
            key: self.private?,
            partition: Partition::Principal(self.principal?),
        })
    }

    /// Where a result of `scope` goes; `None` for a private result without
    /// an asker.
    pub(crate) fn target_for(&self, scope: CacheScope) -> Option<Target> {
        match scope {
            CacheScope::Public => Some(self.public_target()),
            CacheScope::Private => self.private_target(),
        }
    }
}

impl Rules {
    pub(crate) fn method(&self, method: &str) -> Option<Rule> {
        self.methods
            .iter()
            .find(|(name, _)| &**name == method)
            .map(|(_, rule)| *rule)
    }

    /// The plan for `request`, or `None` when the cache must not touch it.
    pub(crate) fn plan<Req: McpRequest>(&self, request: &Req) -> Option<Plan> {
        if request.is_retry() {
            return None;
        }
        let method = request.method();
        let rule = if let Some(tool) = request.tool_name() {
            let rule = *self.tools.get(tool)?;
            // Opted in is not enough: the server must say it is read-only.
            if self.tool_info.as_ref()?.read_only(tool) != Some(true) {
                return None;
            }
            rule
        } else {
            self.method(method)?
        };
        let digest = request.params_digest()?;
        let version = request.protocol_version();
        let public = CacheKey::new(method, digest, version, Partition::Public);
        let principal = request.principal();
        let private = principal.map(|principal| {
            CacheKey::new(method, digest, version, Partition::Principal(principal))
        });
        Some(Plan {
            rule,
            public,
            principal,
            private,
        })
    }
}
