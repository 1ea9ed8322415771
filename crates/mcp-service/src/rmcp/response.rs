//! [`McpResponse`] for rmcp's `ServerResult`.

use std::time::Duration;

use rmcp::model::{self, ServerResult};

use crate::{
    error::{McpError, RpcError},
    response::{CacheHint, CacheScope, McpResponse, Outcome},
};

/// Counts the bytes a serializer writes, without keeping them.
#[derive(Debug, Default)]
struct ByteCount(usize);

impl std::io::Write for ByteCount {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0 += bytes.len();
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The first byte of an encoded result, then the format version.
const MAGIC: u8 = b'R';
const FORMAT: u8 = 1;

macro_rules! variants {
    ($($tag:literal => $variant:ident),* $(,)?) => {
        /// `ServerResult` is an untagged union: decoding its JSON picks the
        /// first variant that fits, not the one that was encoded. The encoding
        /// therefore names the variant with a tag byte before the JSON.
        fn encode_tagged(result: &ServerResult) -> Result<Vec<u8>, McpError> {
            let mut bytes = vec![MAGIC, FORMAT, 0];
            let written = match result {
                $(ServerResult::$variant(inner) => {
                    bytes[2] = $tag;
                    serde_json::to_writer(&mut bytes, inner)
                })*
                _ => return Err(unsupported("a result variant this version does not know")),
            };
            written.map_err(|error| unsupported(&error.to_string()))?;
            Ok(bytes)
        }

        /// `_meta[key] = value` on the variant's JSON, decoded back into the
        /// same variant.
        fn insert_meta_tagged(result: &mut ServerResult, key: &str, value: serde_json::Value) -> bool {
            match result {
                $(ServerResult::$variant(inner) => with_meta(inner, key, value),)*
                _ => false,
            }
        }

        fn decode_tagged(tag: u8, json: &[u8]) -> Result<ServerResult, McpError> {
            let decoded = match tag {
                $($tag => serde_json::from_slice::<model::$variant>(json).map(ServerResult::$variant),)*
                _ => return Err(corrupt(&format!("unknown result tag {tag}"))),
            };
            decoded.map_err(|error| corrupt(&error.to_string()))
        }
    };
}

variants! {
    1 => DiscoverResult,
    2 => InitializeResult,
    3 => CompleteResult,
    4 => GetPromptResult,
    5 => ListPromptsResult,
    6 => ListResourcesResult,
    7 => ListResourceTemplatesResult,
    8 => ReadResourceResult,
    9 => SubscriptionsListenResult,
    10 => ListToolsResult,
    11 => ListSkillsResult,
    12 => GetSkillResult,
    13 => ElicitResult,
    14 => CreateTaskResult,
    15 => GetTaskResult,
    16 => CallToolResult,
    17 => InputRequiredResult,
    18 => TaskAckResult,
    19 => EmptyResult,
    20 => CustomResult,
}

fn with_meta<T: serde::Serialize + serde::de::DeserializeOwned>(
    inner: &mut T,
    key: &str,
    value: serde_json::Value,
) -> bool {
    let Ok(mut object) = serde_json::to_value(&*inner) else {
        return false;
    };
    if !crate::response::set_meta(&mut object, key, value) {
        return false;
    }
    match serde_json::from_value(object) {
        Ok(updated) => {
            *inner = updated;
            true
        }
        Err(_) => false,
    }
}

fn unsupported(why: &str) -> McpError {
    RpcError::internal(format!("cannot encode result: {why}")).into()
}

fn corrupt(why: &str) -> McpError {
    RpcError::internal(format!("cannot decode stored result: {why}")).into()
}

fn scope(scope: &model::CacheScope) -> CacheScope {
    match scope {
        model::CacheScope::Public => CacheScope::Public,
        // Anything newer than we know is treated as the safe one.
        _ => CacheScope::Private,
    }
}

fn hint(ttl_ms: Option<u64>, cache_scope: Option<&model::CacheScope>) -> CacheHint {
    CacheHint {
        ttl: ttl_ms.map(Duration::from_millis),
        scope: cache_scope.map(scope),
    }
}

impl McpResponse for ServerResult {
    fn outcome(&self) -> Outcome {
        match self {
            ServerResult::CallToolResult(result) if result.is_error == Some(true) => {
                Outcome::ToolError
            }
            ServerResult::InputRequiredResult(_) => Outcome::InputRequired,
            ServerResult::CreateTaskResult(_) => Outcome::Task,
            _ => Outcome::Complete,
        }
    }

    fn cache_hint(&self) -> CacheHint {
        match self {
            ServerResult::DiscoverResult(r) => hint(Some(r.ttl_ms), Some(&r.cache_scope)),
            ServerResult::ListToolsResult(r) => hint(r.ttl_ms, r.cache_scope.as_ref()),
            ServerResult::ListPromptsResult(r) => hint(r.ttl_ms, r.cache_scope.as_ref()),
            ServerResult::ListResourcesResult(r) => hint(r.ttl_ms, r.cache_scope.as_ref()),
            ServerResult::ListResourceTemplatesResult(r) => hint(r.ttl_ms, r.cache_scope.as_ref()),
            ServerResult::ReadResourceResult(r) => hint(r.ttl_ms, r.cache_scope.as_ref()),
            ServerResult::ListSkillsResult(r) => hint(r.ttl_ms, r.cache_scope.as_ref()),
            ServerResult::GetSkillResult(r) => hint(r.ttl_ms, r.cache_scope.as_ref()),
            _ => CacheHint::default(),
        }
    }

    fn weight(&self) -> usize {
        let mut count = ByteCount::default();
        // A result that cannot be serialized cannot be sent either; weigh it
        // as too large to keep.
        match serde_json::to_writer(&mut count, self) {
            Ok(()) => count.0,
            Err(_) => usize::MAX,
        }
    }

    fn encode(&self) -> Result<Vec<u8>, McpError> {
        encode_tagged(self)
    }

    fn insert_meta(&mut self, key: &str, value: serde_json::Value) -> bool {
        insert_meta_tagged(self, key, value)
    }

    fn decode(bytes: &[u8]) -> Result<Self, McpError> {
        match bytes {
            [MAGIC, FORMAT, tag, json @ ..] => decode_tagged(*tag, json),
            _ => Err(corrupt("not an encoded result of this format")),
        }
    }
}
