//! The client's connections: keep-alive HTTP/1.1, pooled per host.
//!
//! A request takes its host's most recently used idle connection (so the
//! others can age out) or opens one, and the connection comes back when the
//! response body has been read to its end. A body dropped before its end
//! comes back at once when the rest has already arrived; otherwise the
//! host's upkeep task reads it in the background (at most
//! [`MAX_DRAIN_BYTES`] within [`DRAIN_TIME`], else the connection is
//! closed). That task also closes idle connections past the idle timeout.
//!
//! A connection ([`h1::Conn`]) has no task of its own: whoever holds it
//! reads and writes it. The request's task writes the request and reads
//! the response and its body; the upkeep task drains abandoned bodies and
//! looks at idle connections on each sweep, so one the server closed goes
//! within a sweep (a request finds it out before writing, too). A call
//! through the pool thus wakes no other task, and nothing is spawned per
//! request or per connection; a host costs one upkeep task.
//!
//! A request that could not be written to a pooled connection (the server
//! closed it while it was idle) goes out on another connection; one that
//! was written is never written twice.

use std::{
    future::Future,
    io,
    pin::Pin,
    sync::{Arc, Mutex, OnceLock, PoisonError, Weak},
    task::{Context, Poll, Waker},
    time::Duration,
};

use bytes::Bytes;
use http::{
    HeaderValue, Request, Response, Uri,
    header::HOST,
    uri::{Authority, PathAndQuery},
};
use http_body::{Body as _, Frame, SizeHint};
use http_body_util::Full;
use tokio::{net::TcpStream, sync::mpsc, time::Instant};

use super::{
    HttpClientError,
    h1::{self, Conn, Framing},
};

/// The most of an abandoned body the upkeep task reads to reuse its
/// connection; a longer body closes it.
pub(crate) const MAX_DRAIN_BYTES: usize = 1 << 20;
/// How long an abandoned body may take to end before its connection is
/// closed instead.
pub(crate) const DRAIN_TIME: Duration = Duration::from_secs(5);
/// How often the upkeep task looks for idle connections and drains past
/// their time.
const SWEEP_EVERY: Duration = Duration::from_secs(1);

/// The pool's bounds, from the [`HttpClientBuilder`](super::HttpClientBuilder).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits {
    pub(crate) max_idle_per_host: usize,
    pub(crate) idle_timeout: Duration,
    pub(crate) connect_timeout: Duration,
}

/// The pools of every host this client reached.
pub(crate) struct Pool {
    limits: Limits,
    /// A client talks to the few hosts it was configured for: a scan beats
    /// hashing the authority of every request.
    hosts: Mutex<Vec<Arc<Host>>>,
}

/// A response on its way, sent on a pooled connection.
pub(crate) type ResponseFuture =
    Pin<Box<dyn Future<Output = Result<Response<Body>, HttpClientError>> + Send>>;

impl Pool {
    pub(crate) fn new(limits: Limits) -> Self {
        Self {
            limits,
            hosts: Mutex::new(Vec::new()),
        }
    }

    /// Sends `request` to the host of its absolute URI, with the URI
    /// rewritten to its path and a `Host` header unless it has one.
    pub(crate) fn request(&self, mut request: Request<Full<Bytes>>) -> ResponseFuture {
        let host = match self.host(request.uri()) {
            Ok(host) => host,
            Err(error) => return Box::pin(std::future::ready(Err(error))),
        };
        let path = request
            .uri()
            .path_and_query()
            .cloned()
            .unwrap_or_else(|| PathAndQuery::from_static("/"));
        *request.uri_mut() = Uri::from(path);
        if !request.headers().contains_key(HOST) {
            request.headers_mut().insert(HOST, host.host_header.clone());
        }
        Box::pin(host.send(request))
    }

    fn host(&self, uri: &Uri) -> Result<Arc<Host>, HttpClientError> {
        let Some(authority) = uri.authority() else {
            return Err(HttpClientError::InvalidUrl {
                url: uri.to_string(),
                reason: "it has no host".to_owned(),
            });
        };
        let mut hosts = self.hosts.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(host) = hosts.iter().find(|host| host.authority == *authority) {
            return Ok(host.clone());
        }
        let host = Arc::new(Host::new(authority, self.limits)?);
        hosts.push(host.clone());
        Ok(host)
    }

    /// Idle connections of the host of `uri`, for tests.
    #[cfg(test)]
    fn idle_count(&self, uri: &str) -> usize {
        let uri: Uri = uri.parse().expect("a test URI");
        self.host(&uri).map_or(0, |host| host.lock_idle().len())
    }
}

impl std::fmt::Debug for Pool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pool")
            .field("limits", &self.limits)
            .finish_non_exhaustive()
    }
}

/// One host's connections.
struct Host {
    authority: Authority,
    /// Where to connect: `host:port`, the port 80 unless given.
    address: String,
    host_header: HeaderValue,
    limits: Limits,
    /// Most recently used last.
    idle: Mutex<Vec<Idle>>,
    /// The upkeep task's inbox, made with the first connection (a runtime
    /// is at hand then).
    upkeep: OnceLock<mpsc::UnboundedSender<Draining>>,
}

struct Idle {
    conn: Conn,
    since: Instant,
}

impl Idle {
    /// Idle for less than `timeout` at `now`, and not closed by the server
    /// (looked at with `cx`, which a close still to come wakes).
    fn usable(&mut self, now: Instant, timeout: Duration, cx: &mut Context<'_>) -> bool {
        now.duration_since(self.since) < timeout && !self.conn.closed_while_idle(cx)
    }
}

impl Host {
    fn new(authority: &Authority, limits: Limits) -> Result<Self, HttpClientError> {
        let host_header = HeaderValue::from_str(authority.as_str()).map_err(|source| {
            HttpClientError::InvalidHeader {
                name: "Host",
                source,
            }
        })?;
        Ok(Self {
            authority: authority.clone(),
            address: format!(
                "{}:{}",
                authority.host(),
                authority.port_u16().unwrap_or(80)
            ),
            host_header,
            limits,
            idle: Mutex::new(Vec::new()),
            upkeep: OnceLock::new(),
        })
    }

    fn lock_idle(&self) -> std::sync::MutexGuard<'_, Vec<Idle>> {
        self.idle.lock().unwrap_or_else(PoisonError::into_inner)
    }

    async fn send(
        self: Arc<Self>,
        request: Request<Full<Bytes>>,
    ) -> Result<Response<Body>, HttpClientError> {
        let (parts, body) = request.into_parts();
        let body = whole(body);
        let head = h1::encode_head(&parts, body.len());
        loop {
            let (mut conn, pooled) = match self.checkout() {
                Some(conn) => (conn, true),
                None => (self.connect().await?, false),
            };
            if let Err(error) = conn.write(&head, &body).await {
                // Not all written: the server cannot have taken it.
                if pooled {
                    continue;
                }
                return Err(HttpClientError::Request(error));
            }
            let (response, framing) = conn
                .read_head(&parts.method)
                .await
                .map_err(HttpClientError::Request)?;
            return Ok(response.map(|()| Body::new(conn, framing, self)));
        }
    }

    /// The most recently used live idle connection; older dead or expired
    /// ones met on the way are closed.
    fn checkout(&self) -> Option<Conn> {
        let now = Instant::now();
        let mut cx = Context::from_waker(Waker::noop());
        let mut idle = self.lock_idle();
        while let Some(mut connection) = idle.pop() {
            if connection.usable(now, self.limits.idle_timeout, &mut cx) {
                return Some(connection.conn);
            }
        }
        None
    }

    /// A connection whose exchange is over, kept if there is room.
    fn give_back(&self, conn: Conn) {
        if !conn.reusable() {
            return;
        }
        let mut idle = self.lock_idle();
        if idle.len() < self.limits.max_idle_per_host {
            idle.push(Idle {
                conn,
                since: Instant::now(),
            });
        }
    }

    /// Closes the idle connections that outlived the idle timeout or that
    /// the server closed (each is looked at here, with `cx`, to find out).
    fn sweep_idle(&self, now: Instant, cx: &mut Context<'_>) {
        self.lock_idle()
            .retain_mut(|idle| idle.usable(now, self.limits.idle_timeout, cx));
    }

    async fn connect(self: &Arc<Self>) -> Result<Conn, HttpClientError> {
        let connecting = TcpStream::connect(&*self.address);
        let stream = tokio::time::timeout(self.limits.connect_timeout, connecting)
            .await
            .map_err(|_| HttpClientError::ConnectTimeout {
                address: self.address.clone(),
                after: self.limits.connect_timeout,
            })?
            .map_err(|source| HttpClientError::Connect {
                address: self.address.clone(),
                source,
            })?;
        // MCP messages are small writes that wait for an answer: Nagle's
        // algorithm would hold them back for the previous segment's ACK.
        let _ = stream.set_nodelay(true);
        self.upkeep.get_or_init(|| {
            let (inbox, bodies) = mpsc::unbounded_channel();
            let upkeep = Upkeep::new(Arc::downgrade(self), bodies, self.limits.idle_timeout);
            tokio::spawn(upkeep);
            inbox
        });
        Ok(Conn::new(stream))
    }

    /// Hands a body dropped before its end to the upkeep task.
    fn drain(&self, draining: Draining) {
        if let Some(inbox) = self.upkeep.get() {
            // Refused only when the task is gone: the connection closes.
            let _ = inbox.send(draining);
        }
    }
}

/// A body being read to its end so its connection can be used again.
struct Draining {
    reading: Reading,
    read: usize,
    deadline: Instant,
    /// Released with the connection (the gateway's count of connections
    /// in use).
    _held: Option<Box<dyn Send>>,
}

impl Draining {
    /// `Ready(true)`: the body ended and the connection is reusable;
    /// `Ready(false)`: it failed or ran too long, and the connection goes.
    fn poll_end(&mut self, cx: &mut Context<'_>) -> Poll<bool> {
        let Reading { conn, framing, .. } = &mut self.reading;
        loop {
            match framing.poll_data(conn, cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(None) => return Poll::Ready(true),
                Poll::Ready(Some(Err(_))) => return Poll::Ready(false),
                Poll::Ready(Some(Ok(data))) => {
                    self.read = self.read.saturating_add(data.len());
                    if self.read > MAX_DRAIN_BYTES {
                        return Poll::Ready(false);
                    }
                }
            }
        }
    }
}

/// One host's background work: abandoned bodies read to their end, and
/// idle connections closed on time. It ends with its host.
struct Upkeep {
    host: Weak<Host>,
    bodies: mpsc::UnboundedReceiver<Draining>,
    draining: Vec<Draining>,
    sweep: tokio::time::Interval,
    closed: bool,
}

impl Upkeep {
    /// Sweeps every second, or every `idle_timeout` when that is shorter.
    fn new(
        host: Weak<Host>,
        bodies: mpsc::UnboundedReceiver<Draining>,
        idle_timeout: Duration,
    ) -> Self {
        let period = idle_timeout.clamp(Duration::from_millis(10), SWEEP_EVERY);
        let mut sweep = tokio::time::interval_at(Instant::now() + period, period);
        sweep.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        Self {
            host,
            bodies,
            draining: Vec::new(),
            sweep,
            closed: false,
        }
    }
}

impl Future for Upkeep {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        while !this.closed {
            match this.bodies.poll_recv(cx) {
                Poll::Ready(Some(draining)) => this.draining.push(draining),
                Poll::Ready(None) => this.closed = true,
                Poll::Pending => break,
            }
        }
        let mut index = 0;
        while index < this.draining.len() {
            match this.draining[index].poll_end(cx) {
                Poll::Pending => index += 1,
                Poll::Ready(reusable) => {
                    let done = this.draining.swap_remove(index);
                    if reusable {
                        done.reading.host.give_back(done.reading.conn);
                    }
                }
            }
        }
        while this.sweep.poll_tick(cx).is_ready() {
            let now = Instant::now();
            this.draining.retain(|draining| draining.deadline > now);
            match this.host.upgrade() {
                Some(host) => host.sweep_idle(now, cx),
                None => this.closed = true,
            }
        }
        if this.closed && this.draining.is_empty() {
            return Poll::Ready(());
        }
        Poll::Pending
    }
}

/// A response body on a pooled connection: the connection goes back to
/// its pool when the body has been read to its end, or, dropped before
/// that, once the rest has been read (see the module's doc).
pub(crate) struct Body {
    /// `None` once the body has ended (or failed).
    reading: Option<Reading>,
}

/// A body's connection while the body is being read.
struct Reading {
    conn: Conn,
    framing: Framing,
    host: Arc<Host>,
}

impl Body {
    fn new(conn: Conn, framing: Framing, host: Arc<Host>) -> Self {
        let mut body = Self {
            reading: Some(Reading {
                conn,
                framing,
                host,
            }),
        };
        body.finish_if_done();
        body
    }

    /// Lets the body go before its end, keeping `value` until its
    /// connection is free again (see [`release`](Self::release)).
    pub(crate) fn release_holding(mut self, value: impl Send + 'static) {
        self.release(Some(value));
    }

    /// Gives up the rest of the body. Its connection comes back once the
    /// rest has been read: here, when it has come already (an event
    /// stream's end right after its last event), read with no one to
    /// wake; otherwise by the upkeep task, which then holds `value` too.
    fn release<V: Send + 'static>(&mut self, value: Option<V>) {
        let Some(reading) = self.reading.take() else {
            return;
        };
        if reading
            .framing
            .remaining()
            .is_some_and(|left| left > MAX_DRAIN_BYTES as u64)
        {
            // Longer than a drain may read: the connection closes now.
            return;
        }
        let mut draining = Draining {
            reading,
            read: 0,
            deadline: Instant::now() + DRAIN_TIME,
            _held: None,
        };
        match draining.poll_end(&mut Context::from_waker(Waker::noop())) {
            Poll::Ready(true) => draining.reading.host.give_back(draining.reading.conn),
            Poll::Ready(false) => {}
            Poll::Pending => {
                draining._held = value.map(|value| Box::new(value) as Box<dyn Send>);
                draining.reading.host.clone().drain(draining);
            }
        }
    }

    /// Gives the connection back once the body has been read to its end.
    fn finish_if_done(&mut self) {
        if self
            .reading
            .as_ref()
            .is_some_and(|reading| reading.framing.is_done())
            && let Some(reading) = self.reading.take()
        {
            reading.host.give_back(reading.conn);
        }
    }
}

impl std::fmt::Debug for Body {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Body")
            .field("ended", &http_body::Body::is_end_stream(self))
            .finish_non_exhaustive()
    }
}

impl http_body::Body for Body {
    type Data = Bytes;
    type Error = io::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, io::Error>>> {
        let this = self.get_mut();
        let Some(Reading { conn, framing, .. }) = &mut this.reading else {
            return Poll::Ready(None);
        };
        match std::task::ready!(framing.poll_data(conn, cx)) {
            Some(Ok(data)) => {
                this.finish_if_done();
                Poll::Ready(Some(Ok(Frame::data(data))))
            }
            None => {
                this.finish_if_done();
                Poll::Ready(None)
            }
            Some(Err(error)) => {
                // The connection broke: it is not given back.
                this.reading = None;
                Poll::Ready(Some(Err(error)))
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.reading
            .as_ref()
            .is_none_or(|reading| reading.framing.is_done())
    }

    fn size_hint(&self) -> SizeHint {
        match self
            .reading
            .as_ref()
            .map(|reading| reading.framing.remaining())
        {
            None => SizeHint::with_exact(0),
            Some(Some(left)) => SizeHint::with_exact(left),
            Some(None) => SizeHint::default(),
        }
    }
}

impl Drop for Body {
    fn drop(&mut self) {
        self.release::<()>(None);
    }
}

/// The bytes of a request body, which is whole from the start.
fn whole(mut body: Full<Bytes>) -> Bytes {
    match Pin::new(&mut body).poll_frame(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(Some(Ok(frame))) => frame.into_data().unwrap_or_default(),
        _ => Bytes::new(),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests fail loudly")]

    use std::{
        net::SocketAddr,
        sync::{
            Arc, Mutex,
            atomic::{AtomicBool, Ordering},
        },
    };

    use axum::{Router, extract::ConnectInfo, routing::get};
    use futures::StreamExt as _;
    use http_body_util::BodyExt;

    use super::*;
    use crate::client::h1::tests::read_request_head;

    /// A server that answers with the peer's port, so a test can tell its
    /// connections apart.
    struct Server {
        url: String,
        ports: Arc<Mutex<Vec<u16>>>,
        /// Set when the server dropped an `/endless` body: its connection
        /// was closed.
        endless_dropped: Arc<AtomicBool>,
    }

    struct SetOnDrop(Arc<AtomicBool>);

    impl Drop for SetOnDrop {
        fn drop(&mut self) {
            self.0.store(true, Ordering::SeqCst);
        }
    }

    async fn server() -> Server {
        let ports = Arc::new(Mutex::new(Vec::new()));
        let seen = ports.clone();
        let endless_dropped = Arc::new(AtomicBool::new(false));
        let dropped = endless_dropped.clone();
        let port_of = move |ConnectInfo(peer): ConnectInfo<SocketAddr>| {
            seen.lock().unwrap().push(peer.port());
            async move { peer.port().to_string() }
        };
        let router = Router::new()
            .route("/port", get(port_of.clone()))
            .route(
                "/close",
                get(|| async { ([(http::header::CONNECTION, "close")], "bye") }),
            )
            .route("/big", get(|| async { vec![b'x'; MAX_DRAIN_BYTES + 4096] }))
            .route(
                "/endless",
                get(move || {
                    let guard = SetOnDrop(dropped.clone());
                    async move {
                        let first = futures::stream::once(async {
                            Ok::<_, std::io::Error>(Bytes::from_static(b"first"))
                        });
                        let never = futures::stream::poll_fn(move |_| {
                            let _kept = &guard;
                            Poll::<Option<Result<Bytes, std::io::Error>>>::Pending
                        });
                        axum::body::Body::from_stream(first.chain(never))
                    }
                }),
            );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        tokio::spawn(async move {
            axum::serve(
                listener,
                router.into_make_service_with_connect_info::<SocketAddr>(),
            )
            .await
            .unwrap();
        });
        Server {
            url: format!("http://{address}"),
            ports,
            endless_dropped,
        }
    }

    fn pool(max_idle_per_host: usize) -> Pool {
        Pool::new(Limits {
            max_idle_per_host,
            idle_timeout: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(5),
        })
    }

    fn get_request(url: &str) -> Request<Full<Bytes>> {
        let mut request = Request::new(Full::new(Bytes::new()));
        *request.uri_mut() = url.parse().unwrap();
        request
    }

    async fn text(pool: &Pool, url: &str) -> String {
        let response = pool.request(get_request(url)).await.unwrap();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        String::from_utf8(bytes.to_vec()).unwrap()
    }

    /// Waits (a bounded while) until the host of `url` has `count` idle
    /// connections.
    async fn idle_becomes(pool: &Pool, url: &str, count: usize) {
        let reached = eventually(|| pool.idle_count(url) == count).await;
        assert!(
            reached,
            "{url} has {} idle connections, not {count}",
            pool.idle_count(url)
        );
    }

    /// Whether `condition` holds within two seconds, looked at every 5 ms.
    async fn eventually(mut condition: impl FnMut() -> bool) -> bool {
        for _ in 0..400 {
            if condition() {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        condition()
    }

    #[tokio::test]
    async fn a_connection_read_to_its_end_serves_the_next_request() {
        let server = server().await;
        let pool = pool(4);
        let url = format!("{}/port", server.url);
        let first = text(&pool, &url).await;
        assert_eq!(pool.idle_count(&url), 1);
        assert_eq!(text(&pool, &url).await, first);
        assert_eq!(server.ports.lock().unwrap().len(), 2);
    }

    #[tokio::test]
    async fn a_body_dropped_unread_is_drained_and_its_connection_used_again() {
        let server = server().await;
        let pool = pool(4);
        let url = format!("{}/port", server.url);
        let response = pool.request(get_request(&url)).await.unwrap();
        drop(response);
        idle_becomes(&pool, &url, 1).await;
        let port = text(&pool, &url).await;
        assert_eq!(server.ports.lock().unwrap()[0].to_string(), port);
    }

    #[tokio::test]
    async fn a_body_too_long_to_drain_closes_its_connection() {
        let server = server().await;
        let pool = pool(4);
        let big = format!("{}/big", server.url);
        let response = pool.request(get_request(&big)).await.unwrap();
        drop(response);
        // Drained, it would come back within milliseconds.
        for _ in 0..60 {
            tokio::time::sleep(Duration::from_millis(5)).await;
            assert_eq!(
                pool.idle_count(&big),
                0,
                "a body past the bound was drained"
            );
        }
        let url = format!("{}/port", server.url);
        let first = text(&pool, &url).await;
        assert_eq!(
            text(&pool, &url).await,
            first,
            "the new connection is reused"
        );
    }

    #[tokio::test]
    async fn a_body_that_never_ends_is_given_up_after_the_drain_time() {
        let server = server().await;
        let pool = pool(4);
        let endless = format!("{}/endless", server.url);
        let mut response = pool.request(get_request(&endless)).await.unwrap();
        let frame = response.body_mut().frame().await.unwrap().unwrap();
        assert_eq!(frame.into_data().unwrap(), "first");
        drop(response);
        tokio::task::yield_now().await;
        assert!(!server.endless_dropped.load(Ordering::SeqCst));
        tokio::time::pause();
        tokio::time::advance(DRAIN_TIME + SWEEP_EVERY * 2).await;
        tokio::time::resume();
        assert!(
            eventually(|| server.endless_dropped.load(Ordering::SeqCst)).await,
            "the connection was closed, so the server let the body go"
        );
        assert_eq!(pool.idle_count(&endless), 0);
    }

    #[tokio::test]
    async fn a_connection_the_server_closes_is_not_used_again() {
        let server = server().await;
        let pool = pool(4);
        let close = format!("{}/close", server.url);
        assert_eq!(text(&pool, &close).await, "bye");
        let url = format!("{}/port", server.url);
        // Whether or not the pool saw the close yet, the request goes out.
        text(&pool, &url).await;
        text(&pool, &url).await;
        let ports = server.ports.lock().unwrap().clone();
        assert_eq!(ports.len(), 2);
        assert_eq!(
            ports[0], ports[1],
            "the second request reused the new connection"
        );
    }

    #[tokio::test]
    async fn an_idle_connection_the_server_closed_goes_at_the_next_sweep() {
        use tokio::io::AsyncWriteExt as _;

        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/", listener.local_addr().unwrap());
        let (close, closed) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(async move {
            let (mut socket, _) = listener.accept().await.unwrap();
            read_request_head(&mut socket).await;
            socket
                .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")
                .await
                .unwrap();
            let _ = closed.await;
        });
        let pool = pool(4);
        assert_eq!(text(&pool, &url).await, "ok");
        assert_eq!(pool.idle_count(&url), 1);
        close.send(()).unwrap();
        tokio::time::sleep(Duration::from_millis(50)).await;
        // Far within the idle timeout: only the close can take it.
        tokio::time::pause();
        tokio::time::advance(SWEEP_EVERY * 2).await;
        tokio::time::resume();
        idle_becomes(&pool, &url, 0).await;
    }

    #[tokio::test]
    async fn a_request_after_the_server_closed_an_idle_connection_takes_a_new_one() {
        use tokio::io::AsyncWriteExt as _;

        // Each connection answers once, then the server closes it, with no
        // `Connection: close` to warn the client (as servers with a short
        // keep-alive timeout do).
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/", listener.local_addr().unwrap());
        tokio::spawn(async move {
            loop {
                let (mut socket, _) = listener.accept().await.unwrap();
                tokio::spawn(async move {
                    read_request_head(&mut socket).await;
                    socket
                        .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")
                        .await
                        .unwrap();
                });
            }
        });
        let pool = pool(4);
        for _ in 0..3 {
            assert_eq!(text(&pool, &url).await, "ok");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    #[tokio::test]
    async fn idle_connections_past_the_limit_are_closed() {
        let server = server().await;
        let pool = pool(1);
        let url = format!("{}/port", server.url);
        // Three at once need three connections; only one stays idle.
        let responses =
            futures::future::join_all((0..3).map(|_| pool.request(get_request(&url)))).await;
        for response in responses {
            response.unwrap().into_body().collect().await.unwrap();
        }
        assert_eq!(pool.idle_count(&url), 1);
    }

    #[tokio::test]
    async fn an_idle_connection_past_its_timeout_is_closed() {
        let server = server().await;
        let pool = Pool::new(Limits {
            max_idle_per_host: 4,
            idle_timeout: Duration::from_secs(2),
            connect_timeout: Duration::from_secs(5),
        });
        let url = format!("{}/port", server.url);
        let first = text(&pool, &url).await;
        tokio::time::pause();
        tokio::time::advance(Duration::from_secs(3)).await;
        tokio::time::resume();
        idle_becomes(&pool, &url, 0).await;
        assert_ne!(text(&pool, &url).await, first);
    }

    #[tokio::test]
    async fn a_refused_connection_names_the_address() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let address = listener.local_addr().unwrap();
        drop(listener);
        let pool = pool(4);
        let error = pool
            .request(get_request(&format!("http://{address}/mcp")))
            .await
            .unwrap_err();
        assert!(
            matches!(&error, HttpClientError::Connect { address: at, .. } if *at == address.to_string()),
            "{error}"
        );
        assert!(error.to_string().contains(&address.to_string()), "{error}");
    }
}
