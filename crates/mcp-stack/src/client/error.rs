//! What can go wrong below rmcp's transport, and while connecting.

use std::time::Duration;

use rmcp::service::ClientInitializeError;

/// A failure of the HTTP client itself: a URL it cannot reach, a request it
/// cannot build or send, a response body it refuses to keep.
///
/// rmcp wraps it in
/// [`StreamableHttpError::Client`](rmcp::transport::streamable_http_client::StreamableHttpError::Client);
/// the HTTP meaning of a response (401, 404 session expired, 429, 5xx, a
/// JSON body over its limit) is mapped to rmcp's own variants instead.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HttpClientError {
    /// The URL is `https://`. TLS is not built in, to keep a TLS stack out of
    /// the dependency tree.
    #[error(
        "{url}: https:// needs TLS, which this client does not build in; \
         use http:// (loopback, a private network) or put a TLS-terminating proxy beside it"
    )]
    TlsNotSupported {
        /// The URL as given.
        url: String,
    },
    /// The URL has a scheme other than `http` or `https`.
    #[error("{url}: only http:// URLs are supported, not {scheme}://")]
    UnsupportedScheme {
        /// The URL as given.
        url: String,
        /// Its scheme.
        scheme: String,
    },
    /// The URL does not parse, or lacks a scheme or a host.
    #[error("{url} is not a usable URL: {reason}")]
    InvalidUrl {
        /// The URL as given.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A header value cannot be sent (a session id or token with control
    /// characters, for instance).
    #[error("the {name} header value cannot be sent: {source}")]
    InvalidHeader {
        /// The header's name.
        name: &'static str,
        /// Why the value was refused.
        #[source]
        source: http::header::InvalidHeaderValue,
    },
    /// The JSON-RPC message could not be encoded.
    #[error("could not encode the JSON-RPC message: {0}")]
    Encode(#[source] serde_json::Error),
    /// No TCP connection could be made to the server (refused,
    /// unreachable, its name did not resolve).
    #[error("connecting to {address} failed: {source}")]
    Connect {
        /// The `host:port` connected to.
        address: String,
        /// The operating system's reason.
        #[source]
        source: std::io::Error,
    },
    /// The TCP connection was not made within the connect timeout.
    #[error("connecting to {address} took longer than {after:?}")]
    ConnectTimeout {
        /// The `host:port` connected to.
        address: String,
        /// The configured connect timeout.
        after: Duration,
    },
    /// Exchanging the request failed: the connection reset or closed, or
    /// the response head was malformed (`InvalidData`, with what was wrong).
    #[error("HTTP request failed: {0}")]
    Request(#[source] std::io::Error),
    /// The connection failed while the response body was being read, or
    /// the body's framing was malformed.
    #[error("reading the response body failed: {0}")]
    Body(#[source] std::io::Error),
    /// No complete answer within the request timeout.
    #[error("no response within {after:?}")]
    Timeout {
        /// The configured request timeout.
        after: Duration,
    },
    /// One server-sent event grew past the transport's
    /// `max_sse_event_size`; the stream was stopped there.
    #[error("an SSE event exceeded the maximum size of {max_bytes} bytes")]
    SseEventTooLarge {
        /// The limit that was exceeded.
        max_bytes: usize,
    },
}

/// Why [`connect`](super::connect) or [`Endpoint::connect`](super::Endpoint::connect)
/// produced no running client.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConnectError {
    /// The URL cannot be used (not http://, not a URL).
    #[error(transparent)]
    Url(#[from] HttpClientError),
    /// The MCP handshake (`initialize`, `notifications/initialized`) failed.
    #[error("the MCP handshake with {url} failed: {source}")]
    Handshake {
        /// The server's URL.
        url: String,
        /// rmcp's reason, boxed because it is large.
        #[source]
        source: Box<ClientInitializeError>,
    },
}
