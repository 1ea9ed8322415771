//! [`StreamRequest`] and [`StreamResponse`] for rmcp's typed requests and results.

use std::ops::Range;

use mcp_service::{CacheScope, McpError, McpResponse, rmcp::RmcpRequest};
use rmcp::model::{self, ClientRequest, ResourceContents, ServerResult};
use xxhash_rust::xxh3::Xxh3;

use super::{Content, ListKind, PagedList, ReadResult, StreamRequest, StreamResponse};
use crate::{error::internal, progress::Progress};

impl StreamRequest for RmcpRequest {
    fn progress(&self) -> Option<Progress> {
        let context = self.context();
        let token = context.meta.get_progress_token()?;
        Some(Progress::rmcp(context.peer.clone(), token))
    }

    fn with_resource_uri(self, uri: &str) -> Result<Self, McpError> {
        let (mut request, context) = self.into_parts();
        match &mut request {
            ClientRequest::ReadResourceRequest(read) => uri.clone_into(&mut read.params.uri),
            _ => return Err(internal("only resources/read has a URI to rewrite")),
        }
        Ok(Self::new(request, context))
    }

    fn with_cursor(self, cursor: Option<&str>) -> Result<Self, McpError> {
        let (mut request, context) = self.into_parts();
        let params = match &mut request {
            ClientRequest::ListToolsRequest(list) => &mut list.params,
            ClientRequest::ListPromptsRequest(list) => &mut list.params,
            ClientRequest::ListResourcesRequest(list) => &mut list.params,
            ClientRequest::ListResourceTemplatesRequest(list) => &mut list.params,
            ClientRequest::ListSkillsRequest(list) => &mut list.params,
            _ => return Err(internal("only list requests have a cursor to rewrite")),
        };
        let cursor = cursor.map(ToOwned::to_owned);
        match params {
            Some(params) => params.cursor = cursor,
            None if cursor.is_some() => {
                *params = Some(model::PaginatedRequestParams::default().with_cursor(cursor));
            }
            None => {}
        }
        Ok(Self::new(request, context))
    }
}

/// The typed lists, seen alike.
trait TypedList {
    type Item;
    fn items(&self) -> &[Self::Item];
    /// What tells an item from the others: its name or URI.
    fn identity(item: &Self::Item) -> &str;
    fn items_mut(&mut self) -> &mut Vec<Self::Item>;
    fn next_cursor_mut(&mut self) -> &mut Option<String>;
    fn next_cursor(&self) -> Option<&str>;
}

macro_rules! typed_lists {
    ($($result:ident . $items:ident : $item:ident . $identity:ident => $kind:ident),* $(,)?) => {
        $(impl TypedList for model::$result {
            type Item = model::$item;
            fn items(&self) -> &[model::$item] {
                &self.$items
            }
            fn identity(item: &model::$item) -> &str {
                &item.$identity
            }
            fn items_mut(&mut self) -> &mut Vec<model::$item> {
                &mut self.$items
            }
            fn next_cursor_mut(&mut self) -> &mut Option<String> {
                &mut self.next_cursor
            }
            fn next_cursor(&self) -> Option<&str> {
                self.next_cursor.as_deref()
            }
        })*

        fn is_list_of(result: &ServerResult, kind: ListKind) -> bool {
            match result {
                $(ServerResult::$result(_) => kind == ListKind::$kind,)*
                _ => false,
            }
        }
    };
}

typed_lists! {
    ListToolsResult.tools: Tool.name => Tools,
    ListPromptsResult.prompts: Prompt.name => Prompts,
    ListResourcesResult.resources: Resource.uri => Resources,
    ListResourceTemplatesResult.resource_templates: ResourceTemplate.uri_template => ResourceTemplates,
    ListSkillsResult.skills: Skill.uri => Skills,
}

/// Runs `$body` with `$list` bound to the typed list inside `$value`.
macro_rules! with_list {
    ($value:expr, $list:ident => $body:expr, else $otherwise:expr) => {
        match $value {
            ServerResult::ListToolsResult($list) => $body,
            ServerResult::ListPromptsResult($list) => $body,
            ServerResult::ListResourcesResult($list) => $body,
            ServerResult::ListResourceTemplatesResult($list) => $body,
            ServerResult::ListSkillsResult($list) => $body,
            _ => $otherwise,
        }
    };
}

/// A typed list result taken apart for paging; see [`PagedList`].
#[derive(Debug)]
pub struct RmcpList(ServerResult);

/// The digest of the items' identities in order: it changes when an item
/// is added, removed, moved or renamed, which is what would shift a page
/// boundary, and costs a hash of the names rather than a serialization of
/// the whole list on every page.
fn identities<L: TypedList>(list: &L) -> u64 {
    let mut hasher = Xxh3::new();
    for item in list.items() {
        let identity = L::identity(item);
        hasher.update(&(identity.len() as u64).to_le_bytes());
        hasher.update(identity.as_bytes());
    }
    hasher.digest()
}

fn page<L: TypedList>(list: &mut L, range: Range<usize>, next_cursor: Option<String>) {
    let items = list.items_mut();
    items.truncate(range.end);
    items.drain(..range.start.min(items.len()));
    *list.next_cursor_mut() = next_cursor;
}

impl PagedList<ServerResult> for RmcpList {
    fn items(&self) -> usize {
        with_list!(&self.0, list => list.items().len(), else 0)
    }

    fn next_cursor(&self) -> Option<&str> {
        with_list!(&self.0, list => TypedList::next_cursor(list), else None)
    }

    fn digest(&self) -> u64 {
        with_list!(&self.0, list => identities(list), else 0)
    }

    fn into_page(
        mut self,
        range: Range<usize>,
        next_cursor: Option<String>,
    ) -> Result<ServerResult, McpError> {
        with_list!(&mut self.0, list => page(list, range, next_cursor), else {});
        Ok(self.0)
    }

    fn into_response(self) -> ServerResult {
        self.0
    }
}

fn scope(scope: CacheScope) -> model::CacheScope {
    match scope {
        CacheScope::Public => model::CacheScope::Public,
        CacheScope::Private => model::CacheScope::Private,
    }
}

impl StreamResponse for ServerResult {
    type List = RmcpList;

    fn into_list(self, kind: ListKind) -> Result<RmcpList, Self> {
        if is_list_of(&self, kind) {
            Ok(RmcpList(self))
        } else {
            Err(self)
        }
    }

    fn into_read(self) -> Result<ReadResult, Self> {
        let hint = self.cache_hint();
        let mut read = match self {
            ServerResult::ReadResourceResult(read)
                if matches!(
                    read.contents.as_slice(),
                    [ResourceContents::TextResourceContents { .. }
                        | ResourceContents::BlobResourceContents { .. }]
                ) =>
            {
                read
            }
            other => return Err(other),
        };
        let meta = read.meta.take().map(|meta| meta.0).unwrap_or_default();
        let (uri, mime_type, content) = match read.contents.pop() {
            Some(ResourceContents::TextResourceContents {
                uri,
                mime_type,
                text,
                ..
            }) => (uri, mime_type, Content::Text(text)),
            Some(ResourceContents::BlobResourceContents {
                uri,
                mime_type,
                blob,
                ..
            }) => (uri, mime_type, Content::Blob(blob)),
            // Checked above; a newer variant would have stayed in the result.
            other => {
                read.contents.extend(other);
                return Err(ServerResult::ReadResourceResult(read));
            }
        };
        Ok(ReadResult {
            uri,
            mime_type,
            content,
            hint,
            meta,
        })
    }

    fn from_read(read: ReadResult) -> Result<Self, McpError> {
        let contents = match read.content {
            Content::Text(text) => ResourceContents::TextResourceContents {
                uri: read.uri,
                mime_type: read.mime_type,
                text,
                meta: None,
            },
            Content::Blob(blob) => ResourceContents::BlobResourceContents {
                uri: read.uri,
                mime_type: read.mime_type,
                blob,
                meta: None,
            },
        };
        let mut result = model::ReadResourceResult::new(vec![contents]);
        result.ttl_ms = read
            .hint
            .ttl
            .map(|ttl| u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX));
        result.cache_scope = read.hint.scope.map(scope);
        if !read.meta.is_empty() {
            result.meta = Some(model::MetaObject(read.meta));
        }
        Ok(ServerResult::ReadResourceResult(result))
    }
}
