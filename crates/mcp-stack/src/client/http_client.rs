//! The pooled HTTP/1.1 client and its builder.

use std::{sync::Arc, time::Duration};

use bytes::Bytes;
use http::{Request, Response, Uri};
use http_body_util::Full;
use tokio::time::Instant;

use super::{
    Endpoint, HttpClientError,
    pool::{Body, Limits, Pool, ResponseFuture},
};

/// Default for [`HttpClientBuilder::max_idle_per_host`].
pub const DEFAULT_MAX_IDLE_PER_HOST: usize = 32;
/// Default for [`HttpClientBuilder::idle_timeout`].
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(30);
/// Default for [`HttpClientBuilder::connect_timeout`].
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Default for [`HttpClientBuilder::request_timeout`].
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

/// An MCP Streamable HTTP client: keep-alive HTTP/1.1
/// connections in one pool, shared by every clone.
///
/// It implements rmcp's
/// [`StreamableHttpClient`](rmcp::transport::streamable_http_client::StreamableHttpClient),
/// so [`StreamableHttpClientTransport`](rmcp::transport::StreamableHttpClientTransport)
/// runs over it; [`HttpClient::endpoint`] builds that transport for one
/// server. Cloning is two reference-count increments: give every session to
/// the same upstream a clone and they share its idle connections.
///
/// Plain `http://` only; `https://` is refused with
/// [`HttpClientError::TlsNotSupported`].
#[derive(Debug, Clone)]
pub struct HttpClient {
    pool: Arc<Pool>,
    request_timeout: Duration,
}

impl HttpClient {
    /// A client with the [`HttpClientBuilder`] defaults.
    pub fn new() -> Self {
        Self::builder().build()
    }

    /// A builder to change the pool's limits and the timeouts.
    pub fn builder() -> HttpClientBuilder {
        HttpClientBuilder::default()
    }

    /// The MCP server at `url` (`http://host:port/path`), reached through
    /// this client's pool. Refuses anything but a plain `http://` URL.
    pub fn endpoint(&self, url: &str) -> Result<Endpoint, HttpClientError> {
        parse_url(url)?;
        Ok(Endpoint::new(self.clone(), url))
    }

    /// Sends `request`; the request timeout starts now and ends at the
    /// returned deadline, which a caller reading a whole body keeps to.
    pub(super) async fn send(
        &self,
        request: Request<Full<Bytes>>,
    ) -> Result<(Response<Body>, Instant), HttpClientError> {
        let deadline = Instant::now() + self.request_timeout;
        let response = tokio::time::timeout_at(deadline, self.pool.request(request))
            .await
            .map_err(|_| self.timed_out())??;
        Ok((response, deadline))
    }

    /// Sends `request` on the pool with no timeout of its own, for callers
    /// that poll the exchange themselves and keep their own deadline (the
    /// gateway's upstream leg, under the stack's timeout).
    pub(crate) fn start(&self, request: Request<Full<Bytes>>) -> ResponseFuture {
        self.pool.request(request)
    }

    pub(super) fn timed_out(&self) -> HttpClientError {
        HttpClientError::Timeout {
            after: self.request_timeout,
        }
    }
}

impl Default for HttpClient {
    fn default() -> Self {
        Self::new()
    }
}

/// Checks that `url` is a plain `http://` URL with a host.
pub(crate) fn parse_url(url: &str) -> Result<Uri, HttpClientError> {
    let invalid = |reason: &str| HttpClientError::InvalidUrl {
        url: url.to_owned(),
        reason: reason.to_owned(),
    };
    let uri: Uri =
        url.parse()
            .map_err(|error: http::uri::InvalidUri| HttpClientError::InvalidUrl {
                url: url.to_owned(),
                reason: error.to_string(),
            })?;
    match uri.scheme_str() {
        Some(scheme) if scheme.eq_ignore_ascii_case("http") => {}
        Some(scheme) if scheme.eq_ignore_ascii_case("https") => {
            return Err(HttpClientError::TlsNotSupported {
                url: url.to_owned(),
            });
        }
        Some(scheme) => {
            return Err(HttpClientError::UnsupportedScheme {
                url: url.to_owned(),
                scheme: scheme.to_owned(),
            });
        }
        None => return Err(invalid("it has no scheme (expected http://)")),
    }
    if uri.host().is_none_or(str::is_empty) {
        return Err(invalid("it has no host"));
    }
    Ok(uri)
}

/// Builds an [`HttpClient`]. Every knob has a default a careful operator
/// would keep for an upstream on the same host or network.
#[derive(Debug, Clone)]
pub struct HttpClientBuilder {
    max_idle_per_host: usize,
    idle_timeout: Duration,
    connect_timeout: Duration,
    request_timeout: Duration,
}

impl Default for HttpClientBuilder {
    fn default() -> Self {
        Self {
            max_idle_per_host: DEFAULT_MAX_IDLE_PER_HOST,
            idle_timeout: DEFAULT_IDLE_TIMEOUT,
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            request_timeout: DEFAULT_REQUEST_TIMEOUT,
        }
    }
}

impl HttpClientBuilder {
    /// How many idle keep-alive connections the pool keeps per host
    /// (default [`DEFAULT_MAX_IDLE_PER_HOST`], 32). Busy connections are not
    /// limited: a burst opens what it needs, and the surplus is closed when it
    /// goes idle.
    pub fn max_idle_per_host(mut self, connections: usize) -> Self {
        self.max_idle_per_host = connections;
        self
    }

    /// How long an idle connection stays in the pool (default
    /// [`DEFAULT_IDLE_TIMEOUT`], 30 s): one idle longer is not used again
    /// and is closed within a second. Keep it shorter than the server's and
    /// load balancers' keep-alive so the client, not the server, closes
    /// first; a request the server's close kept from going out is sent on
    /// another connection.
    pub fn idle_timeout(mut self, timeout: Duration) -> Self {
        self.idle_timeout = timeout;
        self
    }

    /// How long establishing a TCP connection may take (default
    /// [`DEFAULT_CONNECT_TIMEOUT`], 5 s).
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// How long a request may wait for a complete answer (default
    /// [`DEFAULT_REQUEST_TIMEOUT`], 60 s): the response head, and the whole
    /// body when it is JSON. An SSE response only needs its head in time: the
    /// stream stays open as long as the server has messages for it.
    pub fn request_timeout(mut self, timeout: Duration) -> Self {
        self.request_timeout = timeout;
        self
    }

    /// The client, with an empty pool.
    pub fn build(self) -> HttpClient {
        HttpClient {
            pool: Arc::new(Pool::new(Limits {
                max_idle_per_host: self.max_idle_per_host,
                idle_timeout: self.idle_timeout,
                connect_timeout: self.connect_timeout,
            })),
            request_timeout: self.request_timeout,
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests fail loudly")]

    use super::*;

    #[test]
    fn http_urls_parse() {
        let uri = parse_url("http://127.0.0.1:8080/mcp").unwrap();
        assert_eq!(uri.path(), "/mcp");
        assert!(parse_url("HTTP://localhost/mcp").is_ok());
    }

    #[test]
    fn https_is_refused_for_want_of_tls() {
        let error = parse_url("https://example.com/mcp").unwrap_err();
        assert!(matches!(error, HttpClientError::TlsNotSupported { .. }));
        assert!(error.to_string().contains("TLS"), "{error}");
    }

    #[test]
    fn other_urls_are_refused_with_the_reason() {
        assert!(matches!(
            parse_url("ws://localhost/mcp"),
            Err(HttpClientError::UnsupportedScheme { scheme, .. }) if scheme == "ws"
        ));
        assert!(matches!(
            parse_url("/mcp"),
            Err(HttpClientError::InvalidUrl { .. })
        ));
        assert!(matches!(
            parse_url("not a url"),
            Err(HttpClientError::InvalidUrl { .. })
        ));
    }
}
