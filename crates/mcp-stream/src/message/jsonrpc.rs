//! [`StreamRequest`] and [`StreamResponse`] for raw JSON-RPC, whose params
//! and results stay JSON text: lists are paged by slicing that text.

use std::{borrow::Cow, collections::BTreeMap, ops::Range};

use mcp_service::{
    CacheScope, McpError, McpRequest, McpResponse,
    jsonrpc::{JsonRpcRequest, JsonRpcResponse},
};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, value::RawValue};
use xxhash_rust::xxh3::xxh3_64;

use super::{Content, ListKind, PagedList, ReadResult, StreamRequest, StreamResponse};
use crate::{
    error::internal,
    progress::{Progress, ProgressSender},
};

#[derive(Deserialize)]
struct ProgressView {
    #[serde(rename = "_meta")]
    meta: Option<ProgressMeta>,
}

#[derive(Deserialize)]
struct ProgressMeta {
    #[serde(rename = "progressToken")]
    progress_token: Option<Value>,
}

/// The params with `member` set to `value` (or removed, for `None`).
fn rewrite(
    request: JsonRpcRequest,
    member: &str,
    value: Option<&str>,
) -> Result<JsonRpcRequest, McpError> {
    let mut params: Map<String, Value> = request.params_as().map_err(McpError::from)?;
    match value {
        Some(value) => {
            params.insert(member.to_owned(), Value::from(value));
        }
        None => {
            params.remove(member);
        }
    }
    let raw = serde_json::value::to_raw_value(&params).map_err(|e| internal(e.to_string()))?;
    request.with_params(Some(raw)).map_err(McpError::from)
}

impl StreamRequest for JsonRpcRequest {
    fn progress(&self) -> Option<Progress> {
        let sender = self.extension::<ProgressSender>()?.clone();
        let token = self
            .params_as::<ProgressView>()
            .ok()?
            .meta?
            .progress_token?;
        (token.is_string() || token.is_i64()).then(|| Progress::sender(sender, token))
    }

    fn with_resource_uri(self, uri: &str) -> Result<Self, McpError> {
        rewrite(self, "uri", Some(uri))
    }

    fn with_cursor(self, cursor: Option<&str>) -> Result<Self, McpError> {
        if cursor.is_none() && self.cursor().is_none() {
            return Ok(self);
        }
        rewrite(self, "cursor", cursor)
    }
}

/// A JSON-RPC list result taken apart for paging: where each item and
/// each other member lies in the result text, so a page is cut out of the
/// text without parsing the items.
#[derive(Debug)]
pub struct RawList {
    response: JsonRpcResponse,
    kind: ListKind,
    /// The spans of the items in the result text.
    items: Vec<Range<usize>>,
    /// The span of the items array.
    array: Range<usize>,
    /// The other members, by name, with the span of each value.
    others: Vec<(String, Range<usize>)>,
    next_cursor: Option<String>,
}

#[derive(Deserialize)]
struct Members<'a>(#[serde(borrow)] BTreeMap<Cow<'a, str>, &'a RawValue>);

/// Where `inner` lies in `outer`, which contains it.
fn span(outer: &str, inner: &str) -> Range<usize> {
    let start = (inner.as_ptr() as usize).saturating_sub(outer.as_ptr() as usize);
    start..start + inner.len()
}

fn parse_list(text: &str, kind: ListKind) -> Option<ParsedList> {
    let Members(members) = serde_json::from_str(text).ok()?;
    let array = members.get(kind.items_key())?;
    let items: Vec<&RawValue> = serde_json::from_str(array.get()).ok()?;
    let next_cursor = match members.get("nextCursor") {
        None => None,
        Some(raw) => Some(serde_json::from_str::<Option<String>>(raw.get()).ok()?),
    }
    .flatten();
    Some(ParsedList {
        items: items.iter().map(|item| span(text, item.get())).collect(),
        array: span(text, array.get()),
        others: members
            .iter()
            .filter(|(name, _)| *name != kind.items_key() && *name != "nextCursor")
            .map(|(name, value)| (name.to_string(), span(text, value.get())))
            .collect(),
        next_cursor,
    })
}

struct ParsedList {
    items: Vec<Range<usize>>,
    array: Range<usize>,
    others: Vec<(String, Range<usize>)>,
    next_cursor: Option<String>,
}

impl PagedList<JsonRpcResponse> for RawList {
    fn items(&self) -> usize {
        self.items.len()
    }

    fn next_cursor(&self) -> Option<&str> {
        self.next_cursor.as_deref()
    }

    fn digest(&self) -> u64 {
        let text = self.response.result().get();
        text.get(self.array.clone())
            .map_or(0, |array| xxh3_64(array.as_bytes()))
    }

    fn into_page(
        self,
        range: Range<usize>,
        next_cursor: Option<String>,
    ) -> Result<JsonRpcResponse, McpError> {
        let text = self.response.result().get();
        let slice = |span: &Range<usize>| text.get(span.clone()).unwrap_or("null");
        let items = self.items.get(range).unwrap_or_default();
        let bytes: usize = items.iter().map(|item| item.len() + 1).sum();
        let mut page = String::with_capacity(bytes + 64);
        page.push('{');
        let member = |page: &mut String, name: &str, value: &str| {
            if page.len() > 1 {
                page.push(',');
            }
            // A member name always serializes.
            page.push_str(&serde_json::to_string(name).unwrap_or_default());
            page.push(':');
            page.push_str(value);
        };
        for (name, value) in &self.others {
            member(&mut page, name, slice(value));
        }
        let mut array = String::with_capacity(bytes + 2);
        array.push('[');
        for (index, item) in items.iter().enumerate() {
            if index > 0 {
                array.push(',');
            }
            array.push_str(slice(item));
        }
        array.push(']');
        member(&mut page, self.kind.items_key(), &array);
        if let Some(next) = next_cursor {
            member(&mut page, "nextCursor", &Value::from(next).to_string());
        }
        page.push('}');
        let raw = RawValue::from_string(page).map_err(|e| internal(e.to_string()))?;
        JsonRpcResponse::from_raw(raw)
    }

    fn into_response(self) -> JsonRpcResponse {
        self.response
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ReadWire {
    contents: Vec<ContentWire>,
    #[serde(rename = "_meta", default)]
    meta: Option<Map<String, Value>>,
}

#[derive(Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
struct ContentWire {
    uri: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    mime_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    text: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    blob: Option<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ReadReply<'a> {
    contents: [&'a ContentWire; 1],
    #[serde(skip_serializing_if = "Option::is_none")]
    ttl_ms: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    cache_scope: Option<&'static str>,
    #[serde(rename = "_meta", skip_serializing_if = "Map::is_empty")]
    meta: &'a Map<String, Value>,
}

impl StreamResponse for JsonRpcResponse {
    type List = RawList;

    fn into_list(self, kind: ListKind) -> Result<RawList, Self> {
        match parse_list(self.result().get(), kind) {
            Some(parsed) => Ok(RawList {
                response: self,
                kind,
                items: parsed.items,
                array: parsed.array,
                others: parsed.others,
                next_cursor: parsed.next_cursor,
            }),
            None => Err(self),
        }
    }

    fn into_read(self) -> Result<ReadResult, Self> {
        let Ok(mut wire) = serde_json::from_str::<ReadWire>(self.result().get()) else {
            return Err(self);
        };
        let (Some(item), true) = (wire.contents.pop(), wire.contents.is_empty()) else {
            return Err(self);
        };
        let content = match (item.text, item.blob) {
            (Some(text), None) => Content::Text(text),
            (None, Some(blob)) => Content::Blob(blob),
            _ => return Err(self),
        };
        Ok(ReadResult {
            uri: item.uri,
            mime_type: item.mime_type,
            content,
            hint: self.cache_hint(),
            meta: wire.meta.unwrap_or_default(),
        })
    }

    fn from_read(read: ReadResult) -> Result<Self, McpError> {
        let (text, blob) = match read.content {
            Content::Text(text) => (Some(text), None),
            Content::Blob(blob) => (None, Some(blob)),
        };
        let content = ContentWire {
            uri: read.uri,
            mime_type: read.mime_type,
            text,
            blob,
        };
        let reply = ReadReply {
            contents: [&content],
            ttl_ms: read
                .hint
                .ttl
                .map(|ttl| u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX)),
            cache_scope: read.hint.scope.map(|scope| match scope {
                CacheScope::Public => "public",
                CacheScope::Private => "private",
            }),
            meta: &read.meta,
        };
        let raw = serde_json::value::to_raw_value(&reply).map_err(|e| internal(e.to_string()))?;
        Self::from_raw(raw)
    }
}
