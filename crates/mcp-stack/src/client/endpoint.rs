//! One MCP server reached through an [`HttpClient`]: its URL, credentials and
//! rmcp transport settings.

use http::{HeaderName, HeaderValue, header::AUTHORIZATION};
use rmcp::{
    ClientHandler, RoleClient, ServiceExt,
    service::RunningService,
    transport::{
        StreamableHttpClientTransport, streamable_http_client::StreamableHttpClientTransportConfig,
    },
};

use super::{ConnectError, HttpClient};

/// rmcp's Streamable HTTP transport over an [`HttpClient`].
pub type HttpTransport = StreamableHttpClientTransport<HttpClient>;

/// An MCP server's URL with what to send it, ready to
/// [`connect`](Self::connect) or to make a [`transport`](Self::transport).
///
/// Made by [`HttpClient::endpoint`], which checked the URL. Cloning it and
/// connecting each clone gives independent MCP sessions over one pool.
#[derive(Debug, Clone)]
pub struct Endpoint {
    client: HttpClient,
    config: StreamableHttpClientTransportConfig,
}

impl Endpoint {
    pub(super) fn new(client: HttpClient, url: &str) -> Self {
        Self {
            client,
            config: StreamableHttpClientTransportConfig::with_uri(url),
        }
    }

    /// The server's URL.
    pub fn url(&self) -> &str {
        &self.config.uri
    }

    /// Sends `Authorization: Bearer <token>` with every request (the token
    /// without the `Bearer ` prefix). It wins over an `Authorization` set
    /// with [`header`](Self::header).
    pub fn bearer_token(mut self, token: impl Into<String>) -> Self {
        self.config.auth_header = Some(token.into());
        self
    }

    /// Sends this exact `Authorization` value with every request, for a
    /// scheme other than bearer or to forward a client's header as it came.
    pub fn authorization(self, mut value: HeaderValue) -> Self {
        // Sensitive values are left out of Debug output and HTTP/2 header tables.
        value.set_sensitive(true);
        self.header(AUTHORIZATION, value)
    }

    /// Sends a header with every request. `Accept`, `Mcp-Session-Id` and
    /// `Last-Event-ID` belong to the transport: setting one makes every
    /// request fail with rmcp's `ReservedHeaderConflict`.
    pub fn header(mut self, name: HeaderName, value: HeaderValue) -> Self {
        self.config.custom_headers.insert(name, value);
        self
    }

    /// The largest server-sent event accepted, in raw bytes (rmcp's default:
    /// 16 MiB, the cap MCP clients put on one message). A larger event ends
    /// its stream with an error instead of being buffered.
    pub fn max_sse_event_size(mut self, bytes: usize) -> Self {
        self.config.max_sse_event_size = bytes;
        self
    }

    /// The largest JSON response body accepted (rmcp's default: 16 MiB).
    pub fn max_json_response_size(mut self, bytes: usize) -> Self {
        self.config.max_json_response_size = bytes;
        self
    }

    /// rmcp's transport settings, for the knobs not named here (retry policy,
    /// concurrent POSTs, session recovery).
    pub fn config_mut(&mut self) -> &mut StreamableHttpClientTransportConfig {
        &mut self.config
    }

    /// rmcp's transport for this server; serve a `ClientHandler` on it.
    pub fn transport(self) -> HttpTransport {
        StreamableHttpClientTransport::with_client(self.client, self.config)
    }

    /// Runs the MCP handshake with `handler` as the client and returns the
    /// running session. Closing it (`close`, `cancel`) deletes the session on
    /// the server (`DELETE` with its `Mcp-Session-Id`) before returning;
    /// dropping it does the same in the background.
    pub async fn connect<H: ClientHandler>(
        self,
        handler: H,
    ) -> Result<RunningService<RoleClient, H>, ConnectError> {
        let url = self.url().to_owned();
        handler
            .serve(self.transport())
            .await
            .map_err(|source| ConnectError::Handshake {
                url,
                source: Box::new(source),
            })
    }
}
