//! One HTTP/1.1 client connection (RFC 9112), read and written by the task
//! holding it.
//!
//! A request goes out in one vectored write. The response head is parsed
//! with `httparse`, and its header values share one copy of it. The body
//! is framed by `Content-Length`, by the chunked coding, or by the
//! connection's end, and its data is handed out as it arrives.
//!
//! This client speaks to MCP servers: small requests that wait for an
//! answer, then either a JSON body or an event stream. It sends no
//! `Expect`, never upgrades, and reads one response at a time.

use std::{
    future::poll_fn,
    io::{self, Write as _},
    mem::MaybeUninit,
    pin::Pin,
    task::{Context, Poll, ready},
};

use bytes::{Buf, Bytes};
use http::{
    HeaderMap, HeaderName, HeaderValue, Method, Response, StatusCode, Version, header,
    request::Parts,
};
use tokio::{
    io::{AsyncRead, AsyncWriteExt, ReadBuf},
    net::TcpStream,
};

/// The most a response head may take.
pub(crate) const MAX_HEAD_BYTES: usize = 64 * 1024;
/// The most header fields a response head may have.
const MAX_HEADERS: usize = 100;
/// The most a chunk-size line (with its extensions) may take.
const MAX_CHUNK_LINE_BYTES: usize = 4096;
/// The most the trailer section of a chunked body may take.
const MAX_TRAILER_BYTES: usize = 64 * 1024;
/// How much one read asks the socket for.
const READ_SIZE: usize = 8 * 1024;

/// A connection to one server.
pub(crate) struct Conn {
    io: TcpStream,
    /// Bytes read and not yet consumed.
    read: Buffer,
    /// Whether the last response let the connection carry another request.
    keep_alive: bool,
}

impl Conn {
    pub(crate) fn new(io: TcpStream) -> Self {
        Self {
            io,
            read: Buffer::default(),
            keep_alive: true,
        }
    }

    /// Whether a request may follow the response just read to its end:
    /// the server did not say close, and sent nothing past the response.
    pub(crate) fn reusable(&self) -> bool {
        self.keep_alive && self.read.is_empty()
    }

    /// Writes a request: `head` from [`encode_head`], then `body`.
    pub(crate) async fn write(&mut self, head: &[u8], body: &[u8]) -> io::Result<()> {
        let mut request = head.chain(body);
        self.io.write_all_buf(&mut request).await
    }

    /// Whether the server closed this idle connection, or sent bytes no
    /// request asked for (which ends it too). Registers `cx` for a close
    /// still to come; costs no system call unless the socket became
    /// readable.
    pub(crate) fn closed_while_idle(&mut self, cx: &mut Context<'_>) -> bool {
        match self.io.poll_read_ready(cx) {
            Poll::Pending => false,
            Poll::Ready(Err(_)) => true,
            Poll::Ready(Ok(())) => {
                let mut byte = [0; 1];
                // `WouldBlock` also clears the readiness a read left set.
                !matches!(self.io.try_read(&mut byte), Err(error) if error.kind() == io::ErrorKind::WouldBlock)
            }
        }
    }

    /// Reads more of the response into the buffer; `Ready(Ok(0))` when the
    /// server closed the connection.
    fn poll_fill(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<usize>> {
        let mut room = ReadBuf::new(self.read.room());
        ready!(Pin::new(&mut self.io).poll_read(cx, &mut room))?;
        let got = room.filled().len();
        self.read.end += got;
        Poll::Ready(Ok(got))
    }

    /// Reads the head of the response to a request made with `method`,
    /// skipping interim (1xx) responses.
    pub(crate) async fn read_head(
        &mut self,
        method: &Method,
    ) -> io::Result<(Response<()>, Framing)> {
        loop {
            if let Some(head) = self.parse_head(method)? {
                return Ok(head);
            }
            if self.read.len() >= MAX_HEAD_BYTES {
                return Err(invalid(format!(
                    "the response head is over {MAX_HEAD_BYTES} bytes"
                )));
            }
            if poll_fn(|cx| self.poll_fill(cx)).await? == 0 {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    if self.read.is_empty() {
                        "the server closed the connection without answering"
                    } else {
                        "the server closed the connection in the middle of the response head"
                    },
                ));
            }
        }
    }

    /// The response head at the start of the buffer, taken out of it, or
    /// `None` when more bytes are needed.
    fn parse_head(&mut self, method: &Method) -> io::Result<Option<(Response<()>, Framing)>> {
        loop {
            let mut fields = [const { MaybeUninit::<httparse::Header<'_>>::uninit() }; MAX_HEADERS];
            let mut parsed = httparse::Response::new(&mut []);
            let config = httparse::ParserConfig::default();
            let length = match config.parse_response_with_uninit_headers(
                &mut parsed,
                self.read.as_slice(),
                &mut fields,
            ) {
                Ok(httparse::Status::Complete(length)) => length,
                Ok(httparse::Status::Partial) => return Ok(None),
                Err(httparse::Error::TooManyHeaders) => {
                    return Err(invalid(format!(
                        "a response head with more than {MAX_HEADERS} header fields"
                    )));
                }
                Err(error) => return Err(invalid(format!("a malformed response head: {error}"))),
            };
            let code = parsed.code.unwrap_or_default();
            let status = StatusCode::from_u16(code)
                .map_err(|_| invalid(format!("a response with status {code}")))?;
            if status.is_informational() {
                if status == StatusCode::SWITCHING_PROTOCOLS {
                    return Err(invalid(
                        "the server switched protocols, which this client does not ask for",
                    ));
                }
                self.read.advance(length);
                continue;
            }
            let version = match parsed.version {
                Some(0) => Version::HTTP_10,
                _ => Version::HTTP_11,
            };
            // One copy of the head, which the header values share.
            let head = Bytes::copy_from_slice(&self.read.as_slice()[..length]);
            let start = self.read.as_slice().as_ptr() as usize;
            let mut headers = HeaderMap::with_capacity(parsed.headers.len());
            for field in parsed.headers.iter() {
                let name = header_name(field.name.as_bytes())
                    .ok_or_else(|| invalid("a response header with an invalid name"))?;
                let at = field.value.as_ptr() as usize - start;
                let value = HeaderValue::from_maybe_shared(head.slice(at..at + field.value.len()))
                    .map_err(|_| invalid(format!("an invalid value of response header {name}")))?;
                headers.append(name, value);
            }
            self.read.advance(length);
            let (framing, framed_to_reuse) = Framing::of(method, status, &headers)?;
            self.keep_alive = framed_to_reuse && keeps_alive(version, &headers);
            let mut response = Response::new(());
            *response.status_mut() = status;
            *response.version_mut() = version;
            *response.headers_mut() = headers;
            return Ok(Some((response, framing)));
        }
    }
}

/// A request's head: its line and fields, with `Content-Length` set by
/// this client (any framing header given is dropped, as is `Connection`:
/// the pool decides about the connection).
pub(crate) fn encode_head(parts: &Parts, body_len: usize) -> Vec<u8> {
    let path = parts
        .uri
        .path_and_query()
        .map_or("/", http::uri::PathAndQuery::as_str);
    let mut head = Vec::with_capacity(128 + parts.headers.len() * 48);
    head.extend_from_slice(parts.method.as_str().as_bytes());
    head.push(b' ');
    head.extend_from_slice(path.as_bytes());
    head.extend_from_slice(b" HTTP/1.1\r\n");
    for (name, value) in &parts.headers {
        if matches!(
            *name,
            header::CONTENT_LENGTH | header::TRANSFER_ENCODING | header::CONNECTION
        ) {
            continue;
        }
        head.extend_from_slice(name.as_str().as_bytes());
        head.extend_from_slice(b": ");
        head.extend_from_slice(value.as_bytes());
        head.extend_from_slice(b"\r\n");
    }
    let needs_length =
        body_len > 0 || matches!(parts.method, Method::POST | Method::PUT | Method::PATCH);
    if needs_length {
        head.extend_from_slice(b"content-length: ");
        // Written into the Vec, with no String in between.
        let _ = write!(head, "{body_len}");
        head.extend_from_slice(b"\r\n");
    }
    head.extend_from_slice(b"\r\n");
    head
}

/// A header name, without a copy for the names MCP servers send that are
/// not among HTTP's standard ones.
fn header_name(bytes: &[u8]) -> Option<HeaderName> {
    const KNOWN: [&str; 3] = [
        "mcp-session-id",
        "mcp-protocol-version",
        "x-accel-buffering",
    ];
    KNOWN
        .iter()
        .find(|known| known.as_bytes().eq_ignore_ascii_case(bytes))
        .map(|known| HeaderName::from_static(known))
        .or_else(|| HeaderName::from_bytes(bytes).ok())
}

/// Whether the server lets the connection carry another request.
fn keeps_alive(version: Version, headers: &HeaderMap) -> bool {
    let says = |token: &str| {
        headers.get_all(header::CONNECTION).iter().any(|value| {
            value
                .as_bytes()
                .split(|byte| *byte == b',')
                .any(|item| item.trim_ascii().eq_ignore_ascii_case(token.as_bytes()))
        })
    };
    if version == Version::HTTP_10 {
        says("keep-alive")
    } else {
        !says("close")
    }
}

/// How a response body ends, and how much of it is left.
#[derive(Debug)]
pub(crate) enum Framing {
    /// `Content-Length`: this many bytes are left.
    Length(u64),
    /// The chunked coding.
    Chunked(Chunked),
    /// Neither: the body ends with the connection.
    UntilClose,
    /// Read to its end.
    Done,
}

impl Framing {
    /// The framing of a response (RFC 9112, section 6.3), and whether the
    /// connection may be reused after it.
    fn of(method: &Method, status: StatusCode, headers: &HeaderMap) -> io::Result<(Self, bool)> {
        if *method == Method::HEAD
            || status == StatusCode::NO_CONTENT
            || status == StatusCode::NOT_MODIFIED
        {
            return Ok((Self::Done, true));
        }
        let mut codings = headers.get_all(header::TRANSFER_ENCODING).iter().peekable();
        if codings.peek().is_some() {
            let last = codings
                .last()
                .and_then(|value| value.as_bytes().rsplit(|byte| *byte == b',').next())
                .map(<[u8]>::trim_ascii)
                .unwrap_or_default();
            if !last.eq_ignore_ascii_case(b"chunked") {
                return Ok((Self::UntilClose, false));
            }
            // With a Content-Length beside it, the sender is suspect: read
            // this body, then close.
            let alone = !headers.contains_key(header::CONTENT_LENGTH);
            return Ok((Self::Chunked(Chunked::Size), alone));
        }
        let mut length = None;
        for value in headers.get_all(header::CONTENT_LENGTH) {
            for item in value.as_bytes().split(|byte| *byte == b',') {
                let parsed = parse_length(item.trim_ascii())
                    .ok_or_else(|| invalid("a response with an invalid Content-Length"))?;
                if length.is_some_and(|seen| seen != parsed) {
                    return Err(invalid("a response with differing Content-Length values"));
                }
                length = Some(parsed);
            }
        }
        Ok(match length {
            Some(0) => (Self::Done, true),
            Some(length) => (Self::Length(length), true),
            None => (Self::UntilClose, false),
        })
    }

    pub(crate) fn is_done(&self) -> bool {
        matches!(self, Self::Done)
    }

    /// The bytes of the body left to read, when known.
    pub(crate) fn remaining(&self) -> Option<u64> {
        match self {
            Self::Length(left) => Some(*left),
            Self::Done => Some(0),
            Self::Chunked(_) | Self::UntilClose => None,
        }
    }

    /// The next piece of the body, read from `conn` as needed;
    /// `Ready(None)` at its end.
    pub(crate) fn poll_data(
        &mut self,
        conn: &mut Conn,
        cx: &mut Context<'_>,
    ) -> Poll<Option<io::Result<Bytes>>> {
        loop {
            match self {
                Self::Done => return Poll::Ready(None),
                Self::Length(left) => {
                    if !conn.read.is_empty() {
                        let take = usize::try_from(*left)
                            .unwrap_or(usize::MAX)
                            .min(conn.read.len());
                        *left -= take as u64;
                        let data = conn.read.take(take);
                        if *left == 0 {
                            *self = Self::Done;
                        }
                        return Poll::Ready(Some(Ok(data)));
                    }
                }
                Self::UntilClose => {
                    if !conn.read.is_empty() {
                        let all = conn.read.len();
                        return Poll::Ready(Some(Ok(conn.read.take(all))));
                    }
                }
                Self::Chunked(chunked) => match chunked.step(&mut conn.read) {
                    Err(error) => return Poll::Ready(Some(Err(error))),
                    Ok(Step::Data(data)) => return Poll::Ready(Some(Ok(data))),
                    Ok(Step::End) => {
                        *self = Self::Done;
                        return Poll::Ready(None);
                    }
                    Ok(Step::More) => {}
                },
            }
            match ready!(conn.poll_fill(cx)) {
                Err(error) => return Poll::Ready(Some(Err(error))),
                Ok(0) if matches!(self, Self::UntilClose) => {
                    // Its framing already ruled the connection out for reuse.
                    *self = Self::Done;
                    return Poll::Ready(None);
                }
                Ok(0) => {
                    return Poll::Ready(Some(Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "the server closed the connection before the body's end",
                    ))));
                }
                Ok(_) => {}
            }
        }
    }
}

/// Where a chunked body's decoding is.
#[derive(Debug)]
pub(crate) enum Chunked {
    /// At a chunk-size line.
    Size,
    /// In a chunk's data, this many bytes left.
    Data(u64),
    /// At the line end after a chunk's data.
    DataEnd,
    /// In the trailer section, this many bytes of it read.
    Trailers(usize),
}

enum Step {
    Data(Bytes),
    End,
    /// The buffer holds no further step: read more.
    More,
}

impl Chunked {
    fn step(&mut self, buffer: &mut Buffer) -> io::Result<Step> {
        loop {
            match self {
                Self::Size => {
                    let Some((line, whole)) =
                        next_line(buffer, MAX_CHUNK_LINE_BYTES, "a chunk-size line")?
                    else {
                        return Ok(Step::More);
                    };
                    let digits = buffer.as_slice()[..line]
                        .split(|byte| *byte == b';')
                        .next()
                        .unwrap_or_default()
                        .trim_ascii();
                    let size = parse_hex(digits)
                        .ok_or_else(|| invalid("a chunked body with an invalid chunk size"))?;
                    buffer.advance(whole);
                    *self = if size == 0 {
                        Self::Trailers(0)
                    } else {
                        Self::Data(size)
                    };
                }
                Self::Data(left) => {
                    if buffer.is_empty() {
                        return Ok(Step::More);
                    }
                    let take = usize::try_from(*left)
                        .unwrap_or(usize::MAX)
                        .min(buffer.len());
                    *left -= take as u64;
                    let data = buffer.take(take);
                    if *left == 0 {
                        *self = Self::DataEnd;
                    }
                    return Ok(Step::Data(data));
                }
                Self::DataEnd => {
                    let end = match (buffer.as_slice().first(), buffer.as_slice().get(1)) {
                        (None, _) | (Some(b'\r'), None) => return Ok(Step::More),
                        (Some(b'\n'), _) => 1,
                        (Some(b'\r'), Some(b'\n')) => 2,
                        _ => return Err(invalid("a chunk longer than its size")),
                    };
                    buffer.advance(end);
                    *self = Self::Size;
                }
                Self::Trailers(seen) => {
                    let left = MAX_TRAILER_BYTES.saturating_sub(*seen);
                    let Some((line, whole)) = next_line(buffer, left, "the trailer section")?
                    else {
                        return Ok(Step::More);
                    };
                    buffer.advance(whole);
                    if line == 0 {
                        return Ok(Step::End);
                    }
                    // Trailer fields are read past: nothing here uses them.
                    *seen += whole;
                }
            }
        }
    }
}

/// The length of the next line of `buffer` without its end (CRLF, or a
/// bare LF) and with it; `None` while the line is incomplete. A line longer
/// than `limit` fails, named `what`.
fn next_line(buffer: &Buffer, limit: usize, what: &str) -> io::Result<Option<(usize, usize)>> {
    let bytes = buffer.as_slice();
    let Some(end) = memchr::memchr(b'\n', bytes) else {
        return if bytes.len() > limit {
            Err(invalid(format!("{what} over {limit} bytes")))
        } else {
            Ok(None)
        };
    };
    if end > limit {
        return Err(invalid(format!("{what} over {limit} bytes")));
    }
    let line = if end > 0 && bytes[end - 1] == b'\r' {
        end - 1
    } else {
        end
    };
    Ok(Some((line, end + 1)))
}

/// The bytes read from a connection and not yet consumed. Its memory is
/// zeroed once and read into again and again: this crate has no unsafe
/// code to read into uninitialised memory, and zeroing a fresh buffer for
/// every read would cost more than the read.
#[derive(Default)]
struct Buffer {
    bytes: Vec<u8>,
    start: usize,
    end: usize,
}

impl Buffer {
    fn as_slice(&self) -> &[u8] {
        &self.bytes[self.start..self.end]
    }

    fn len(&self) -> usize {
        self.end - self.start
    }

    fn is_empty(&self) -> bool {
        self.start == self.end
    }

    fn advance(&mut self, count: usize) {
        self.start += count;
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
            if self.bytes.len() > READ_SIZE {
                // A long head or line grew it: back to the usual size.
                self.bytes.truncate(READ_SIZE);
                self.bytes.shrink_to_fit();
            }
        }
    }

    /// The next `count` bytes, copied out.
    fn take(&mut self, count: usize) -> Bytes {
        let taken = Bytes::copy_from_slice(&self.bytes[self.start..self.start + count]);
        self.advance(count);
        taken
    }

    /// Space to read into after the unconsumed bytes: the bytes move to
    /// the front, or the buffer grows, when little is left.
    fn room(&mut self) -> &mut [u8] {
        if self.bytes.len() - self.end < READ_SIZE / 8 && self.start > 0 {
            self.bytes.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        if self.bytes.len() - self.end < READ_SIZE / 8 {
            let grown = (self.bytes.len() * 2).max(READ_SIZE);
            self.bytes.resize(grown, 0);
        }
        &mut self.bytes[self.end..]
    }
}

/// A `Content-Length`: decimal digits only.
fn parse_length(digits: &[u8]) -> Option<u64> {
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(digits).ok()?.parse().ok()
}

/// A chunk size: hexadecimal digits only, within `u64`.
fn parse_hex(digits: &[u8]) -> Option<u64> {
    if digits.is_empty() || digits.len() > 16 {
        return None;
    }
    digits.iter().try_fold(0u64, |size, digit| {
        let value = (*digit as char).to_digit(16)?;
        Some((size << 4) | u64::from(value))
    })
}

fn invalid(why: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, why.into())
}

#[cfg(test)]
pub(crate) mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests fail loudly")]

    use proptest::prelude::*;
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

    use super::*;

    /// Reads a request's head from `socket` (tests send no bodies).
    pub(crate) async fn read_request_head(socket: &mut TcpStream) {
        let mut request = Vec::new();
        let mut buffer = [0; 1024];
        while !request.windows(4).any(|end| end == b"\r\n\r\n") {
            let read = socket.read(&mut buffer).await.unwrap();
            assert!(read > 0, "the client closed before its request's end");
            request.extend_from_slice(&buffer[..read]);
        }
    }

    /// A connection to a server that reads one request and sends `answer`
    /// in `pieces` writes, then closes when `close` is set.
    async fn answered(answer: Vec<u8>, cuts: Vec<usize>, close: bool) -> Conn {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let (mut socket, _) = listener.accept().await.unwrap();
            socket.set_nodelay(true).unwrap();
            read_request_head(&mut socket).await;
            let mut at = 0;
            for cut in cuts.into_iter().chain([answer.len()]) {
                let cut = cut.clamp(at, answer.len());
                socket.write_all(&answer[at..cut]).await.unwrap();
                socket.flush().await.unwrap();
                at = cut;
                tokio::task::yield_now().await;
            }
            if !close {
                // Held open until the client is done.
                let _ = socket.read(&mut [0; 16]).await;
            }
        });
        let mut conn = Conn::new(TcpStream::connect(address).await.unwrap());
        conn.write(b"GET / HTTP/1.1\r\nhost: test\r\n\r\n", b"")
            .await
            .unwrap();
        conn
    }

    /// The status, the body and whether the connection may be reused.
    async fn exchange(
        answer: &[u8],
        cuts: Vec<usize>,
        close: bool,
    ) -> io::Result<(u16, Vec<u8>, bool)> {
        let mut conn = answered(answer.to_vec(), cuts, close).await;
        let (response, mut framing) = conn.read_head(&Method::GET).await?;
        let mut body = Vec::new();
        while let Some(data) = poll_fn(|cx| framing.poll_data(&mut conn, cx)).await {
            body.extend_from_slice(&data?);
        }
        Ok((response.status().as_u16(), body, conn.reusable()))
    }

    fn chunked(body: &[u8], sizes: &[usize]) -> Vec<u8> {
        let mut out = b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n".to_vec();
        let mut rest = body;
        let mut sizes = sizes.iter().copied().cycle();
        while !rest.is_empty() {
            let size = sizes.next().unwrap_or(1).clamp(1, rest.len());
            out.extend_from_slice(format!("{size:x};ext=1\r\n").as_bytes());
            out.extend_from_slice(&rest[..size]);
            out.extend_from_slice(b"\r\n");
            rest = &rest[size..];
        }
        out.extend_from_slice(b"0\r\nx-trailer: yes\r\n\r\n");
        out
    }

    #[tokio::test]
    async fn a_length_framed_body_is_read_and_the_connection_kept() {
        let answer = b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\nx-a: 1\r\n\r\nhello";
        let (status, body, reusable) = exchange(answer, vec![], false).await.unwrap();
        assert_eq!(
            (status, body.as_slice(), reusable),
            (200, &b"hello"[..], true)
        );
    }

    #[tokio::test]
    async fn interim_responses_are_skipped() {
        let answer =
            b"HTTP/1.1 103 Early Hints\r\nlink: </a>\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n";
        let (status, body, reusable) = exchange(answer, vec![10], false).await.unwrap();
        assert_eq!((status, body.len(), reusable), (204, 0, true));
    }

    #[tokio::test]
    async fn connection_close_and_http_1_0_end_the_connection() {
        let close =
            b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: keep-alive, close\r\n\r\nok";
        assert!(!exchange(close, vec![], false).await.unwrap().2);
        let old = b"HTTP/1.0 200 OK\r\ncontent-length: 2\r\n\r\nok";
        assert!(!exchange(old, vec![], false).await.unwrap().2);
        let old_kept = b"HTTP/1.0 200 OK\r\ncontent-length: 2\r\nconnection: Keep-Alive\r\n\r\nok";
        assert!(exchange(old_kept, vec![], false).await.unwrap().2);
    }

    #[tokio::test]
    async fn a_body_without_framing_ends_with_the_connection() {
        let answer = b"HTTP/1.1 200 OK\r\n\r\nall of it";
        let (_, body, reusable) = exchange(answer, vec![22], true).await.unwrap();
        assert_eq!((body.as_slice(), reusable), (&b"all of it"[..], false));
    }

    #[tokio::test]
    async fn bytes_past_the_response_make_the_connection_unusable() {
        let answer = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nokEXTRA";
        let (_, body, reusable) = exchange(answer, vec![], false).await.unwrap();
        assert_eq!((body.as_slice(), reusable), (&b"ok"[..], false));
    }

    #[tokio::test]
    async fn malformed_answers_fail_clearly() {
        let cases: [(&[u8], &str); 7] = [
            (
                b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\ncontent-length: 3\r\n\r\nok",
                "differing",
            ),
            (
                b"HTTP/1.1 200 OK\r\ncontent-length: -1\r\n\r\n",
                "invalid Content-Length",
            ),
            (
                b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\nzz\r\n",
                "chunk size",
            ),
            (
                b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n2\r\nokay\r\n0\r\n\r\n",
                "longer than its size",
            ),
            (
                b"HTTP/1.1 101 Switching Protocols\r\n\r\n",
                "switched protocols",
            ),
            (b"NOT HTTP\r\n\r\n", "malformed response head"),
            (
                b"HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\nshort",
                "before the body's end",
            ),
        ];
        for (answer, why) in cases {
            let error = exchange(answer, vec![], true).await.unwrap_err();
            assert!(
                error.to_string().contains(why),
                "{error} for {:?}",
                String::from_utf8_lossy(answer)
            );
        }
        let error = exchange(b"", vec![], true).await.unwrap_err();
        assert!(error.to_string().contains("without answering"), "{error}");
    }

    #[tokio::test]
    async fn a_head_past_its_limit_fails() {
        let mut answer = b"HTTP/1.1 200 OK\r\n".to_vec();
        let filler = format!("x-filler: {}\r\n", "a".repeat(2000));
        while answer.len() <= MAX_HEAD_BYTES {
            answer.extend_from_slice(filler.as_bytes());
        }
        let error = exchange(&answer, vec![], false).await.unwrap_err();
        assert!(error.to_string().contains("head is over"), "{error}");
        let mut many = b"HTTP/1.1 200 OK\r\n".to_vec();
        for _ in 0..=MAX_HEADERS {
            many.extend_from_slice(b"x-a: 1\r\n");
        }
        many.extend_from_slice(b"\r\n");
        let error = exchange(&many, vec![], false).await.unwrap_err();
        assert!(
            error.to_string().contains("more than 100 header fields"),
            "{error}"
        );
    }

    #[test]
    fn known_and_other_header_names_read_alike() {
        assert_eq!(header_name(b"Mcp-Session-Id").unwrap(), "mcp-session-id");
        assert_eq!(header_name(b"X-Other").unwrap(), "x-other");
        assert!(header_name(b"bad name").is_none());
        let (empty_post, ()) = http::Request::post("/mcp").body(()).unwrap().into_parts();
        let head = String::from_utf8(encode_head(&empty_post, 0)).unwrap();
        assert!(head.ends_with("content-length: 0\r\n\r\n"), "{head}");
    }

    #[test]
    fn a_request_head_carries_its_own_length_and_no_framing_headers() {
        let (parts, ()) = http::Request::post("http://example.test/mcp?x=1")
            .header("host", "example.test")
            .header("content-length", "999")
            .header("connection", "close")
            .header("accept", "application/json, text/event-stream")
            .body(())
            .unwrap()
            .into_parts();
        let head = String::from_utf8(encode_head(&parts, 1_234_567_890)).unwrap();
        assert_eq!(
            head,
            "POST /mcp?x=1 HTTP/1.1\r\nhost: example.test\r\naccept: application/json, text/event-stream\r\ncontent-length: 1234567890\r\n\r\n"
        );
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

        /// However the server cuts its writes and its chunks, the body reads
        /// the same and the connection stays usable.
        #[test]
        fn how_a_chunked_body_is_cut_does_not_change_it(
            body in proptest::collection::vec(any::<u8>(), 0..600),
            sizes in proptest::collection::vec(1usize..70, 1..6),
            cuts in proptest::collection::vec(0usize..800, 0..6),
        ) {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            let mut cuts = cuts;
            cuts.sort_unstable();
            let answer = chunked(&body, &sizes);
            let (status, read, reusable) = runtime.block_on(exchange(&answer, cuts, false)).unwrap();
            prop_assert_eq!(status, 200);
            prop_assert_eq!(read, body);
            prop_assert!(reusable);
        }
    }
}
