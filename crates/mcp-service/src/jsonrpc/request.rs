//! [`JsonRpcRequest`]: a raw JSON-RPC request whose params stay raw.

use std::{
    borrow::Cow,
    collections::HashMap,
    fmt,
    sync::{Arc, OnceLock},
};

use serde::{
    Deserialize, Deserializer,
    de::{self, IgnoredAny, MapAccess, Unexpected, Visitor},
};
use serde_json::{error::Category, value::RawValue};
use tokio_util::sync::CancellationToken;

use super::skim::Reader;
use crate::{
    error::RpcError, key::ParamsDigest, method::MethodClass, principal::Principal,
    request::McpRequest,
};

/// Size limits applied while decoding a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DecodeLimits {
    /// The largest message accepted, in bytes. Default 16 MiB, the cap MCP
    /// clients put on one message.
    pub max_message_bytes: usize,
    /// The largest `params` accepted, in bytes. Default 4 MiB, rmcp's default
    /// request body limit.
    pub max_params_bytes: usize,
}

impl Default for DecodeLimits {
    fn default() -> Self {
        Self {
            max_message_bytes: 16 << 20,
            max_params_bytes: 4 << 20,
        }
    }
}

/// Why a message is not a valid request, with the id to answer to when it
/// could be read.
#[derive(Debug, Clone)]
pub struct DecodeError {
    /// The request id, when the envelope was readable enough to have one.
    pub id: Option<Box<RawValue>>,
    /// The JSON-RPC error to answer with: -32700, -32600 or -32602.
    pub error: RpcError,
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.error.fmt(f)
    }
}

impl std::error::Error for DecodeError {}

/// A JSON-RPC request or notification, for gateways and servers not written
/// with rmcp.
///
/// The params are kept as raw JSON text and never become a
/// `serde_json::Value`: a gateway forwards them as they came, the key is
/// hashed from the text, and a handler parses them into its own type with
/// [`params_as`](Self::params_as). The few fields layers read (tool or prompt
/// name, URI, cursor, retry markers, protocol version) are picked out once, at
/// decode, and checked against their MCP types.
///
/// Cloning is cheap: the message is shared, and only what a layer may add
/// (extensions, a cancellation token) is per clone, so a retry or a
/// background refresh keeps its copy for a reference count.
#[derive(Debug, Clone)]
pub struct JsonRpcRequest {
    message: Arc<Message>,
    session_protocol_version: Option<Arc<str>>,
    extensions: http::Extensions,
    cancellation: Option<CancellationToken>,
    principal: OnceLock<Option<Principal>>,
}

/// What was received: never changed once decoded.
#[derive(Debug, Clone)]
struct Message {
    id: Option<Box<RawValue>>,
    method: Box<str>,
    /// Of `method`, found once: every layer asks.
    class: MethodClass,
    /// Checked JSON text: an object.
    params: Option<Box<str>>,
    /// `params` as a [`RawValue`], made the first time one is asked for:
    /// forwarding, encoding and hashing read the text, and a second check
    /// of it would cost a call more than the first.
    params_raw: OnceLock<Box<RawValue>>,
    fields: Fields,
}

impl JsonRpcRequest {
    /// Decodes one JSON-RPC message.
    ///
    /// Errors, each with the code a client expects: -32700 when the bytes are
    /// not JSON; -32600 when the message is too large, not an object, has no
    /// `"jsonrpc": "2.0"`, no string `method`, or an `id` that is not a string
    /// or an integer (batches are refused: MCP dropped them); -32602 when
    /// `params` is not an object, is larger than the limit, or a field MCP
    /// defines has the wrong type or is missing (`name` of `tools/call`, `uri`
    /// of `resources/read`).
    pub fn decode(message: &[u8], limits: &DecodeLimits) -> Result<Self, DecodeError> {
        if message.len() > limits.max_message_bytes {
            return Err(DecodeError {
                id: None,
                error: RpcError::invalid_request(format!(
                    "message of {} bytes exceeds the limit of {} bytes",
                    message.len(),
                    limits.max_message_bytes
                )),
            });
        }
        match skim_request(message) {
            Some((envelope, fields)) => envelope.into_request(limits, Some(fields)),
            None => Self::decode_with_serde(message, limits),
        }
    }

    /// [`decode`](Self::decode) for messages the skim declines.
    fn decode_with_serde(message: &[u8], limits: &DecodeLimits) -> Result<Self, DecodeError> {
        let envelope: Envelope<'_> = serde_json::from_slice(message).map_err(|error| {
            let error = match error.classify() {
                Category::Syntax | Category::Eof | Category::Io => {
                    RpcError::parse_error(format!("invalid JSON: {error}"))
                }
                Category::Data => RpcError::invalid_request(format!("invalid request: {error}")),
            };
            DecodeError { id: None, error }
        })?;
        envelope.into_request(limits, None)
    }

    /// A request built in code, checked like a decoded one. `id` is `None`
    /// for a notification.
    pub fn new(
        id: Option<RequestId>,
        method: &str,
        params: Option<&serde_json::Value>,
    ) -> Result<Self, RpcError> {
        let id = id.map(|id| id.to_raw());
        let params = params
            .map(serde_json::value::to_raw_value)
            .transpose()
            .map_err(|error| RpcError::invalid_params(error.to_string()))?;
        Self::from_parts(
            id,
            method.into(),
            params.map(Into::into),
            &DecodeLimits::default(),
            None,
        )
        .map_err(|error| error.error)
    }

    fn from_parts(
        id: Option<Box<RawValue>>,
        method: Box<str>,
        params: Option<Box<str>>,
        limits: &DecodeLimits,
        fields: Option<FieldsWire>,
    ) -> Result<Self, DecodeError> {
        let fail = |error: RpcError, id: &Option<Box<RawValue>>| DecodeError {
            id: id.clone(),
            error,
        };
        if let Some(params) = &params {
            let size = params.len();
            if size > limits.max_params_bytes {
                return Err(fail(
                    RpcError::invalid_params(format!(
                        "params of {size} bytes exceed the limit of {} bytes",
                        limits.max_params_bytes
                    ))
                    .with_data(serde_json::json!({
                        "sizeBytes": size,
                        "limitBytes": limits.max_params_bytes,
                    })),
                    &id,
                ));
            }
            if !params.starts_with('{') {
                return Err(fail(
                    RpcError::invalid_params("params must be an object"),
                    &id,
                ));
            }
        }
        let fields = match fields {
            Some(wire) => wire.check(&method),
            None => Fields::read(&method, params.as_deref()),
        }
        .map_err(|error| fail(error, &id))?;
        Ok(Self {
            message: Arc::new(Message {
                id,
                class: MethodClass::of(&method),
                method,
                params,
                params_raw: OnceLock::new(),
                fields,
            }),
            session_protocol_version: None,
            extensions: http::Extensions::new(),
            cancellation: None,
            principal: OnceLock::new(),
        })
    }

    /// The same request with other params, checked as at decode (without a
    /// size limit: the server, not the client, wrote them). The id, the
    /// session protocol version, the extensions and the cancellation token
    /// stay, so a layer can rewrite a field (a cursor, a URI) and call on.
    pub fn with_params(self, params: Option<Box<RawValue>>) -> Result<Self, RpcError> {
        let limits = DecodeLimits {
            max_message_bytes: usize::MAX,
            max_params_bytes: usize::MAX,
        };
        let Message { id, method, .. } =
            Arc::try_unwrap(self.message).unwrap_or_else(|shared| (*shared).clone());
        let rewritten = Self::from_parts(id, method, params.map(Into::into), &limits, None)
            .map_err(|error| error.error)?;
        Ok(Self {
            session_protocol_version: self.session_protocol_version,
            extensions: self.extensions,
            cancellation: self.cancellation,
            principal: self.principal,
            ..rewritten
        })
    }

    /// The request id as raw JSON; `None` for a notification.
    pub fn id(&self) -> Option<&RawValue> {
        self.message.id.as_deref()
    }

    /// Whether this is a notification, which gets no response.
    pub fn is_notification(&self) -> bool {
        self.message.id.is_none()
    }

    /// The params as raw JSON.
    pub fn params(&self) -> Option<&RawValue> {
        let text = self.message.params.as_deref()?;
        Some(self.message.params_raw.get_or_init(|| {
            // The text was checked as JSON when it came.
            RawValue::from_string(text.to_owned()).unwrap_or_else(|_| null())
        }))
    }

    /// The params as JSON text, exactly as received.
    pub fn params_text(&self) -> Option<&str> {
        self.message.params.as_deref()
    }

    /// The params parsed into `T`; absent params parse as `{}`.
    pub fn params_as<'a, T: Deserialize<'a>>(&'a self) -> Result<T, RpcError> {
        let text = self.message.params.as_deref().unwrap_or("{}");
        serde_json::from_str(text).map_err(|error| RpcError::invalid_params(error.to_string()))
    }

    /// The protocol version the session negotiated, for requests whose
    /// `_meta` does not carry one (the edge knows it from the session or the
    /// `MCP-Protocol-Version` header).
    #[must_use]
    pub fn with_session_protocol_version(mut self, version: impl Into<Arc<str>>) -> Self {
        self.session_protocol_version = Some(version.into());
        self
    }

    /// The token the edge cancels when the client cancels the request.
    #[must_use]
    pub fn with_cancellation(mut self, token: CancellationToken) -> Self {
        self.cancellation = Some(token);
        self
    }

    /// The request as JSON-RPC bytes, params exactly as received.
    pub fn encode(&self) -> Vec<u8> {
        let message = &self.message;
        let params = message.params.as_deref();
        let mut out = Vec::with_capacity(48 + message.method.len() + params.map_or(0, str::len));
        out.extend_from_slice(br#"{"jsonrpc":"2.0","#);
        if let Some(id) = &message.id {
            out.extend_from_slice(br#""id":"#);
            out.extend_from_slice(id.get().as_bytes());
            out.push(b',');
        }
        out.extend_from_slice(br#""method":"#);
        push_string(&mut out, &message.method);
        if let Some(params) = params {
            out.extend_from_slice(br#","params":"#);
            out.extend_from_slice(params.as_bytes());
        }
        out.push(b'}');
        out
    }
}

/// `text` as a JSON string.
fn push_string(out: &mut Vec<u8>, text: &str) {
    if super::skim::plain_run(text.as_bytes()).is_none() {
        // Nothing to escape: the common case, every method MCP defines.
        out.push(b'"');
        out.extend_from_slice(text.as_bytes());
        out.push(b'"');
    } else {
        // Writing a string into a Vec cannot fail.
        let _ = serde_json::to_writer(&mut *out, text);
    }
}

impl McpRequest for JsonRpcRequest {
    fn method(&self) -> &str {
        &self.message.method
    }

    fn class(&self) -> MethodClass {
        self.message.class
    }

    fn tool_name(&self) -> Option<&str> {
        (self.class() == MethodClass::ToolCall)
            .then_some(self.message.fields.name.as_deref())
            .flatten()
    }

    fn prompt_name(&self) -> Option<&str> {
        (&*self.message.method == "prompts/get")
            .then_some(self.message.fields.name.as_deref())
            .flatten()
    }

    fn resource_uri(&self) -> Option<&str> {
        self.message.fields.uri.as_deref()
    }

    fn cursor(&self) -> Option<&str> {
        self.message.fields.cursor.as_deref()
    }

    fn is_retry(&self) -> bool {
        self.message.fields.retry
    }

    fn protocol_version(&self) -> Option<&str> {
        self.message
            .fields
            .protocol_version
            .as_deref()
            .or(self.session_protocol_version.as_deref())
    }

    fn meta_str(&self, key: &str) -> Option<Cow<'_, str>> {
        #[derive(Deserialize)]
        struct WithMeta<'a> {
            #[serde(rename = "_meta", borrow)]
            meta: Option<HashMap<Cow<'a, str>, &'a RawValue>>,
        }
        let params = self.message.params.as_deref()?;
        let meta = serde_json::from_str::<WithMeta<'_>>(params).ok()?.meta?;
        let value = meta.get(key)?.get();
        // Borrowed unless the string has escapes.
        match serde_json::from_str::<&str>(value) {
            Ok(text) => Some(Cow::Borrowed(text)),
            Err(_) => serde_json::from_str::<String>(value).ok().map(Cow::Owned),
        }
    }

    fn params_digest(&self) -> Option<ParamsDigest> {
        match self.message.params.as_deref() {
            Some(params) => ParamsDigest::of_json(params).ok(),
            None => Some(ParamsDigest::empty()),
        }
    }

    fn principal(&self) -> Option<Principal> {
        *self.principal.get_or_init(|| {
            self.extensions
                .get::<Principal>()
                .copied()
                .or_else(|| self.http_parts().and_then(Principal::from_parts))
        })
    }

    fn http_parts(&self) -> Option<&http::request::Parts> {
        self.extensions.get()
    }

    fn cancellation(&self) -> Option<&CancellationToken> {
        self.cancellation.as_ref()
    }

    fn extension<T: Send + Sync + 'static>(&self) -> Option<&T> {
        self.extensions.get()
    }

    fn insert_extension<T: Clone + Send + Sync + 'static>(&mut self, value: T) -> Option<T> {
        self.principal = OnceLock::new();
        self.extensions.insert(value)
    }
}

/// A JSON-RPC request id: a string or an integer, as MCP requires.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum RequestId {
    /// An integer id.
    Number(i64),
    /// A string id.
    String(String),
}

impl RequestId {
    fn to_raw(&self) -> Box<RawValue> {
        let text = match self {
            Self::Number(number) => number.to_string(),
            Self::String(text) => serde_json::Value::from(text.as_str()).to_string(),
        };
        // Both forms are valid JSON by construction.
        RawValue::from_string(text).unwrap_or_else(|_| null())
    }
}

pub(crate) fn null() -> Box<RawValue> {
    serde_json::value::to_raw_value(&()).unwrap_or_default()
}

/// The fields of `params` layers read, typed as MCP defines them.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct FieldsWire {
    name: Option<String>,
    uri: Option<String>,
    cursor: Option<String>,
    input_responses: Option<IgnoredAny>,
    request_state: Option<IgnoredAny>,
    #[serde(rename = "_meta", default, deserialize_with = "meta_wire")]
    meta: Option<MetaWire>,
}

/// `_meta`, an object; anything else is refused without quoting it (serde
/// would quote a string whole, escaped, several times its size).
fn meta_wire<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<MetaWire>, D::Error> {
    let raw = <&RawValue>::deserialize(deserializer)?;
    match raw.get() {
        "null" => Ok(None),
        text if text.starts_with('{') => serde_json::from_str(text)
            .map(Some)
            .map_err(de::Error::custom),
        _ => Err(de::Error::invalid_type(
            Unexpected::Other("not an object"),
            &"an object",
        )),
    }
}

/// Where `_meta` carries the request's protocol version.
const PROTOCOL_VERSION_META: &str = "io.modelcontextprotocol/protocolVersion";

#[derive(Debug, Default, Deserialize)]
struct MetaWire {
    #[serde(rename = "io.modelcontextprotocol/protocolVersion")]
    protocol_version: Option<String>,
}

#[derive(Debug, Clone, Default)]
struct Fields {
    name: Option<Box<str>>,
    uri: Option<Box<str>>,
    cursor: Option<Box<str>>,
    retry: bool,
    protocol_version: Option<Box<str>>,
}

impl Fields {
    /// Reads the fields of a known method's params; a custom method's params
    /// are its own business and are not read.
    fn read(method: &str, params: Option<&str>) -> Result<Self, RpcError> {
        if MethodClass::of(method) == MethodClass::Unknown {
            return Ok(Self::default());
        }
        match params {
            Some(params) => serde_json::from_str::<FieldsWire>(params)
                .map_err(|error| RpcError::invalid_params(format!("invalid params: {error}")))?,
            None => FieldsWire::default(),
        }
        .check(method)
    }
}

impl FieldsWire {
    /// The fields, when `method` has those it requires.
    fn check(self, method: &str) -> Result<Fields, RpcError> {
        let wire = self;
        let required = match method {
            "tools/call" | "prompts/get" => Some(("name", wire.name.is_some())),
            "resources/read"
            | "resources/subscribe"
            | "resources/unsubscribe"
            | "skills/get"
            | "resources/directory/read" => Some(("uri", wire.uri.is_some())),
            _ => None,
        };
        if let Some((field, false)) = required {
            return Err(RpcError::invalid_params(format!(
                "{method} requires a string `{field}` in params"
            )));
        }
        Ok(Fields {
            name: wire.name.map(Into::into),
            uri: wire.uri.map(Into::into),
            cursor: wire.cursor.map(Into::into),
            retry: wire.input_responses.is_some() || wire.request_state.is_some(),
            protocol_version: wire
                .meta
                .and_then(|meta| meta.protocol_version)
                .map(Into::into),
        })
    }
}

/// The top-level members of a message, borrowed from its text.
#[derive(Default)]
struct Envelope<'a> {
    jsonrpc: Option<&'a str>,
    id: Option<&'a RawValue>,
    method: Option<&'a str>,
    params: Option<&'a str>,
}

impl Envelope<'_> {
    /// `fields`, when the params were already read for them.
    fn into_request(
        self,
        limits: &DecodeLimits,
        fields: Option<FieldsWire>,
    ) -> Result<JsonRpcRequest, DecodeError> {
        let invalid = |message: &'static str, id: Option<Box<RawValue>>| DecodeError {
            id,
            error: RpcError::invalid_request(message),
        };
        let id = match self.id {
            None => None,
            Some(raw) if is_valid_id(raw.get()) => Some(raw.to_owned()),
            Some(_) => return Err(invalid("id must be a string or an integer", None)),
        };
        if self.jsonrpc != Some(r#""2.0""#) {
            return Err(invalid(r#"jsonrpc must be "2.0""#, id));
        }
        let method = match self.method.map(method_name) {
            Some(Some(method)) => method,
            Some(None) => return Err(invalid("method must be a string", id)),
            None => return Err(invalid("method is missing", id)),
        };
        JsonRpcRequest::from_parts(id, method, self.params.map(Into::into), limits, fields)
    }
}

/// The envelope and the params' fields in one pass over `message`, for a
/// well-formed message with nothing unusual; `None` leaves the message to
/// serde, which also words any error (see [`skim`](super::skim)).
fn skim_request(message: &[u8]) -> Option<(Envelope<'_>, FieldsWire)> {
    fn raw(text: &str) -> Option<&RawValue> {
        serde_json::from_str(text).ok()
    }
    let mut reader = Reader::new(message)?;
    let mut envelope = Envelope::default();
    let mut fields = Skimmed::default();
    reader.object(|reader, key| {
        let slot = match key {
            "jsonrpc" => &mut envelope.jsonrpc,
            "method" => &mut envelope.method,
            "params" => &mut envelope.params,
            "id" => {
                if envelope.id.is_some() {
                    return None;
                }
                envelope.id = Some(raw(reader.value()?)?);
                return Some(());
            }
            _ => return reader.value().map(drop),
        };
        if slot.is_some() {
            return None;
        }
        *slot = Some(if key == "params" && reader.peek()? == b'{' {
            reader.object(|reader, key| fields.member(reader, key))?
        } else {
            reader.value()?
        });
        Some(())
    })?;
    reader.finish()?;
    let method = envelope.method?.strip_prefix('"')?.strip_suffix('"')?;
    if method.contains('\\') {
        return None;
    }
    if MethodClass::of(method) == MethodClass::Unknown {
        // A custom method's params are not read.
        return Some((envelope, FieldsWire::default()));
    }
    (!fields.unsure).then_some((envelope, fields.wire))
}

/// The params' fields as the skim finds them.
#[derive(Default)]
struct Skimmed {
    wire: FieldsWire,
    /// The fields met so far, a bit each, as serde counts them: a `null`
    /// counts.
    seen: u8,
    /// A field twice, of a type serde refuses, or escaped: serde says.
    unsure: bool,
}

impl Skimmed {
    /// One member of the params: read into the fields when it is one.
    fn member(&mut self, reader: &mut Reader<'_>, key: &str) -> Option<()> {
        let bit = match key {
            "name" => 1,
            "uri" => 2,
            "cursor" => 4,
            "inputResponses" => 8,
            "requestState" => 16,
            "_meta" => 32,
            _ => return reader.value().map(drop),
        };
        self.unsure |= self.seen & bit != 0;
        self.seen |= bit;
        let wire = &mut self.wire;
        match key {
            "name" => skim_string(reader, &mut wire.name, &mut self.unsure),
            "uri" => skim_string(reader, &mut wire.uri, &mut self.unsure),
            "cursor" => skim_string(reader, &mut wire.cursor, &mut self.unsure),
            "inputResponses" | "requestState" => {
                let slot = if key == "inputResponses" {
                    &mut wire.input_responses
                } else {
                    &mut wire.request_state
                };
                if reader.value()? != "null" {
                    *slot = Some(IgnoredAny);
                }
                Some(())
            }
            _ => match reader.peek()? {
                b'{' => {
                    let mut meta = MetaWire::default();
                    let mut seen = false;
                    reader.object(|reader, key| {
                        if key != PROTOCOL_VERSION_META {
                            return reader.value().map(drop);
                        }
                        self.unsure |= std::mem::replace(&mut seen, true);
                        skim_string(reader, &mut meta.protocol_version, &mut self.unsure)
                    })?;
                    wire.meta = Some(meta);
                    Some(())
                }
                b'n' => reader.value().map(drop),
                _ => {
                    self.unsure = true;
                    reader.value().map(drop)
                }
            },
        }
    }
}

/// A string field without escapes, or `null`; anything else is for serde.
fn skim_string(
    reader: &mut Reader<'_>,
    slot: &mut Option<String>,
    unsure: &mut bool,
) -> Option<()> {
    if reader.peek()? == b'n' {
        return reader.value().map(drop);
    }
    match reader.plain_string() {
        Some(text) => *slot = Some(text.to_owned()),
        None => {
            *unsure = true;
            reader.value()?;
        }
    }
    Some(())
}

/// The method's name from its JSON text: a string with no escape (every
/// method MCP defines) is the text between its quotes; the text was checked
/// as JSON with the message.
fn method_name(raw: &str) -> Option<Box<str>> {
    match raw
        .strip_prefix('"')
        .and_then(|rest| rest.strip_suffix('"'))
    {
        Some(plain) if !plain.contains('\\') => Some(plain.into()),
        _ => serde_json::from_str::<String>(raw)
            .ok()
            .map(String::into_boxed_str),
    }
}

fn is_valid_id(text: &str) -> bool {
    text.starts_with('"') || text.parse::<i64>().is_ok()
}

impl<'de: 'a, 'a> Deserialize<'de> for Envelope<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        // `any`, not `map`: serde_json answers a `map` that is not one
        // with the whole value quoted, never asking the visitor.
        deserializer.deserialize_any(EnvelopeVisitor)
    }
}

struct EnvelopeVisitor;

enum Member {
    Jsonrpc,
    Id,
    Method,
    Params,
    Other,
}

impl<'de> Deserialize<'de> for Member {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct MemberVisitor;
        impl Visitor<'_> for MemberVisitor {
            type Value = Member;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a member name")
            }
            fn visit_str<E>(self, name: &str) -> Result<Member, E> {
                Ok(match name {
                    "jsonrpc" => Member::Jsonrpc,
                    "id" => Member::Id,
                    "method" => Member::Method,
                    "params" => Member::Params,
                    _ => Member::Other,
                })
            }
        }
        deserializer.deserialize_str(MemberVisitor)
    }
}

impl<'de> Visitor<'de> for EnvelopeVisitor {
    type Value = Envelope<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON-RPC request object (batches are not supported)")
    }

    // serde's default quotes an unexpected string whole, escaped: a message
    // that was one long string would come back several times its size.
    fn visit_str<E: de::Error>(self, _: &str) -> Result<Envelope<'de>, E> {
        Err(E::invalid_type(Unexpected::Other("a string"), &self))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Envelope<'de>, A::Error> {
        let mut envelope = Envelope::default();
        while let Some(member) = map.next_key::<Member>()? {
            let (slot, name) = match member {
                Member::Jsonrpc => (&mut envelope.jsonrpc, "jsonrpc"),
                Member::Method => (&mut envelope.method, "method"),
                Member::Params => (&mut envelope.params, "params"),
                Member::Id => {
                    if envelope.id.is_some() {
                        return Err(de::Error::duplicate_field("id"));
                    }
                    envelope.id = Some(map.next_value()?);
                    continue;
                }
                Member::Other => {
                    map.next_value::<IgnoredAny>()?;
                    continue;
                }
            };
            if slot.is_some() {
                return Err(de::Error::duplicate_field(name));
            }
            *slot = Some(map.next_value::<&RawValue>()?.get());
        }
        Ok(envelope)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests fail loudly")]

    use proptest::{prelude::*, sample::select};

    use super::*;

    /// A message from these members, in this order.
    fn message(members: &[(&str, String)]) -> String {
        let members: Vec<String> = members
            .iter()
            .map(|(name, value)| format!("\"{name}\": {value}"))
            .collect();
        format!("{{{}}}", members.join(", "))
    }

    fn params() -> impl Strategy<Value = String> {
        let field = prop_oneof![
            select(vec![r#""echo""#, r#""e\"cho""#, "5", "null", r#""file:\/\/x""#])
                .prop_map(|value| ("name", value)),
            select(vec![r#""demo://a""#, "[]", "null"]).prop_map(|value| ("uri", value)),
            select(vec![r#""c1""#, "null", "7"]).prop_map(|value| ("cursor", value)),
            select(vec!["{}", "null", "[1]"]).prop_map(|value| ("inputResponses", value)),
            select(vec![r#""s""#, "null"]).prop_map(|value| ("requestState", value)),
            select(vec![
                r#"{"io.modelcontextprotocol/protocolVersion": "2026-07-28"}"#,
                r#"{"io.modelcontextprotocol/protocolVersion": 5}"#,
                r#"{"io.modelcontextprotocol/protocolVersion": "a", "io.modelcontextprotocol/protocolVersion": "b"}"#,
                r#"{"progressToken": 1}"#,
                r#""meta""#,
                "null",
            ])
            .prop_map(|value| ("_meta", value)),
            select(vec![r#"{"text": "hi", "n": [1, 2.5]}"#, "null"])
                .prop_map(|value| ("arguments", value)),
            select(vec!["1"]).prop_map(|value| ("n\\u0061me", value)),
        ];
        prop_oneof![
            6 => prop::collection::vec(field, 0..5).prop_map(|fields| {
                let fields: Vec<(&str, String)> =
                    fields.into_iter().map(|(name, value)| (name, value.to_owned())).collect();
                message(&fields)
            }),
            1 => select(vec!["[1]", "null", r#""x""#]).prop_map(str::to_owned),
        ]
    }

    /// Mostly well-formed envelopes, members in any order, now and then one
    /// missing, doubled or of the wrong type.
    fn messages() -> impl Strategy<Value = String> {
        let jsonrpc = select(vec![r#""2.0""#, r#""2.0""#, r#""2.0""#, r#""1.0""#]);
        let id = select(vec!["1", r#""a""#, "-3", "null", "1.5"]);
        let method = select(vec![
            r#""tools/call""#,
            r#""resources/read""#,
            r#""prompts/get""#,
            r#""tools/list""#,
            r#""custom/thing""#,
            r#""tools\/call""#,
            "5",
        ]);
        let members = (
            jsonrpc,
            prop::option::weighted(0.8, id),
            prop::option::weighted(0.95, method),
            prop::option::weighted(0.9, params()),
            prop::option::weighted(0.2, Just(r#"[true, {"y": null}]"#)),
            prop::option::weighted(0.1, 0..4usize),
        );
        members
            .prop_map(|(jsonrpc, id, method, params, extra, doubled)| {
                let mut members = vec![("jsonrpc", jsonrpc.to_owned())];
                members.extend(id.map(|id| ("id", id.to_owned())));
                members.extend(method.map(|method| ("method", method.to_owned())));
                members.extend(params.map(|params| ("params", params)));
                members.extend(extra.map(|extra| ("extra", extra.to_owned())));
                if let Some(member) = doubled.and_then(|at| members.get(at).cloned()) {
                    members.push(member);
                }
                members
            })
            .prop_shuffle()
            .prop_map(|members| message(&members))
    }

    fn by_serde(message: &[u8]) -> String {
        format!(
            "{:?}",
            JsonRpcRequest::decode_with_serde(message, &DecodeLimits::default())
        )
    }

    fn decoded(message: &[u8]) -> String {
        format!(
            "{:?}",
            JsonRpcRequest::decode(message, &DecodeLimits::default())
        )
    }

    #[test]
    fn common_requests_take_the_one_pass_path_and_read_as_serde_reads_them() {
        for message in [
            r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","arguments":{"text":"hi"}}}"#,
            r#"{"jsonrpc":"2.0","id":"x","method":"resources/read","params":{"uri":"demo://slow/100","_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28"}}}"#,
            r#"{"params":{"cursor":"c"},"method":"tools/list","id":2,"jsonrpc":"2.0"}"#,
            r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#,
            r#"{"jsonrpc":"2.0","id":3,"method":"custom/x","params":{"name":5,"name":6}}"#,
            r#"{"jsonrpc":"2.0","id":4,"method":"tools/call","params":{"arguments":{}}}"#,
        ] {
            assert!(skim_request(message.as_bytes()).is_some(), "{message}");
            assert_eq!(
                decoded(message.as_bytes()),
                by_serde(message.as_bytes()),
                "{message}"
            );
        }
    }

    #[test]
    fn what_one_pass_is_unsure_of_goes_to_serde() {
        for message in [
            r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"e\"cho"}}"#,
            r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"a","name":"b"}}"#,
            r#"{"jsonrpc":"2.0","id":1,"id":2,"method":"ping"}"#,
            r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":5}}"#,
            r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"a"}"#,
        ] {
            assert!(skim_request(message.as_bytes()).is_none(), "{message}");
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(3000))]

        #[test]
        fn one_pass_and_serde_read_every_message_alike(message in messages()) {
            prop_assert_eq!(decoded(message.as_bytes()), by_serde(message.as_bytes()), "{}", message);
        }

        #[test]
        fn a_request_encodes_as_it_came(method in "[a-z/\"\\\u{1}é]{1,8}", id in any::<Option<i64>>()) {
            let mut sent = serde_json::json!({"jsonrpc": "2.0", "method": method, "params": {"a": [1, "x"]}});
            if let Some(id) = id {
                sent["id"] = id.into();
            }
            let request = JsonRpcRequest::decode(sent.to_string().as_bytes(), &DecodeLimits::default()).unwrap();
            let encoded: serde_json::Value = serde_json::from_slice(&request.encode()).unwrap();
            prop_assert_eq!(encoded, sent);
        }
    }
}
