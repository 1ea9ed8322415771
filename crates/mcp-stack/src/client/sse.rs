//! Server-sent events, parsed with a bound on the size of one event.
//!
//! A parser buffers an event until its blank line, so a server that never
//! sends one could grow that buffer forever. [`EventParser`] keeps at most
//! `max_event_bytes` of an event; past that it drops the event's fields as
//! they arrive and says so, and the stream decides what the loss means
//! ([`Oversize`]).
//!
//! An oversized event must not end the stream with an error: rmcp answers a
//! stream error by reconnecting with `Last-Event-ID`, the server replays the
//! same event, and the client loops. Instead the request it belonged to
//! fails, or the event is skipped past.

use std::{
    collections::VecDeque,
    pin::Pin,
    task::{Context, Poll, ready},
};

use bytes::Bytes;
use futures::{Stream, StreamExt, stream::BoxStream};
use http_body::Body;
use rmcp::{
    ErrorData,
    model::{RequestId, ServerJsonRpcMessage},
};
use sse_stream::{Error as SseError, Sse};

use super::HttpClientError;

/// What an event larger than the limit does to its stream.
#[derive(Debug, Clone)]
pub(super) enum Oversize {
    /// The stream answers this request (a POST's response): the request
    /// fails with a JSON-RPC error naming the limit, at once, and the stream
    /// ends there, so an endless event costs no more than the limit.
    FailRequest(RequestId),
    /// The session's GET stream: the event is dropped with a warning, its
    /// `id` is passed on so a resumed stream starts after it, and the
    /// stream goes on.
    Skip,
}

/// The events of an SSE response body, none kept beyond `max_event_bytes`.
pub(super) fn event_stream<B>(
    body: B,
    max_event_bytes: usize,
    oversize: Oversize,
) -> BoxStream<'static, Result<Sse, SseError>>
where
    B: Body<Data = Bytes, Error = std::io::Error> + Send + 'static,
{
    Events {
        body,
        parser: EventParser::new(max_event_bytes),
        parsed: VecDeque::new(),
        oversize,
        finished: false,
    }
    .boxed()
}

pin_project_lite::pin_project! {
    struct Events<B> {
        #[pin]
        body: B,
        parser: EventParser,
        parsed: VecDeque<Parsed>,
        oversize: Oversize,
        finished: bool,
    }
}

impl<B> Stream for Events<B>
where
    B: Body<Data = Bytes, Error = std::io::Error>,
{
    type Item = Result<Sse, SseError>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let mut this = self.project();
        loop {
            match this.parsed.pop_front() {
                Some(Parsed::Event(event)) => return Poll::Ready(Some(Ok(event))),
                Some(Parsed::Overflowing) => {
                    let max_bytes = this.parser.max_event_bytes;
                    match this.oversize {
                        Oversize::FailRequest(request) => {
                            this.parsed.clear();
                            *this.finished = true;
                            return Poll::Ready(Some(refusal(request, max_bytes)));
                        }
                        Oversize::Skip => tracing::warn!(
                            max_bytes,
                            "skipping a server-sent event over the size limit"
                        ),
                    }
                    continue;
                }
                Some(Parsed::Skipped { id }) => {
                    if let Some(id) = id {
                        return Poll::Ready(Some(Ok(Sse::default().id(id))));
                    }
                    continue;
                }
                None => {}
            }
            if *this.finished {
                return Poll::Ready(None);
            }
            match ready!(this.body.as_mut().poll_frame(cx)) {
                // An event cut off by the end of the body is dropped, as the
                // SSE specification says.
                None => *this.finished = true,
                Some(Err(error)) => {
                    *this.finished = true;
                    let error = HttpClientError::Body(error);
                    return Poll::Ready(Some(Err(SseError::Body(Box::new(error)))));
                }
                Some(Ok(frame)) => {
                    if let Some(data) = frame.data_ref() {
                        this.parser.feed(data, this.parsed);
                    }
                }
            }
        }
    }
}

/// The JSON-RPC error that stands for a response refused for its size.
fn refusal(request: &RequestId, max_bytes: usize) -> Result<Sse, SseError> {
    let error = ErrorData::internal_error(
        format!(
            "the response was refused: a server-sent event exceeded this client's limit \
             of {max_bytes} bytes (max_sse_event_size)"
        ),
        None,
    );
    let message = ServerJsonRpcMessage::error(error, Some(request.clone()));
    match serde_json::to_string(&message) {
        Ok(data) => Ok(Sse::default().data(data)),
        Err(_) => Err(SseError::Body(Box::new(
            HttpClientError::SseEventTooLarge { max_bytes },
        ))),
    }
}

/// What the parser found in the bytes it was fed.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Parsed {
    /// A complete event.
    Event(Sse),
    /// The event in progress just passed the limit; what it had is dropped.
    Overflowing,
    /// The oversized event ended; `id` is the id it carried, if any.
    Skipped {
        /// The event's `id` field.
        id: Option<String>,
    },
}

/// The longest line kept while skipping an oversized event: enough for its
/// `id`, which is all that is kept of it.
const MAX_SKIPPED_LINE: usize = 1024;
/// A line buffer that grew past this is let go after its line, so one large
/// event does not pin its size in memory for the stream's whole life.
const MAX_IDLE_LINE_CAPACITY: usize = 64 * 1024;

/// An incremental SSE parser (the WHATWG event-stream format) that keeps at
/// most `max_event_bytes` of one event: its field lines, each with the
/// newline that joins it, plus the line still being received.
#[derive(Debug)]
pub(crate) struct EventParser {
    max_event_bytes: usize,
    line: Vec<u8>,
    /// The line in progress is too long to keep; its remaining bytes are dropped.
    line_dropped: bool,
    // A CR ends a line; an LF right after it belongs to the same line end.
    after_cr: bool,
    at_start: bool,
    event: Option<Sse>,
    event_bytes: usize,
    /// The event in progress passed the limit: it is being skipped.
    oversized: bool,
    skipped_id: Option<String>,
}

impl EventParser {
    pub(crate) fn new(max_event_bytes: usize) -> Self {
        Self {
            max_event_bytes,
            line: Vec::new(),
            line_dropped: false,
            after_cr: false,
            at_start: true,
            event: None,
            event_bytes: 0,
            oversized: false,
            skipped_id: None,
        }
    }

    /// Parses the next bytes of the stream, appending what they complete.
    pub(crate) fn feed(&mut self, mut bytes: &[u8], out: &mut VecDeque<Parsed>) {
        if self.at_start && !bytes.is_empty() {
            self.at_start = false;
            bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
        }
        while let Some((&first, rest)) = bytes.split_first() {
            if std::mem::take(&mut self.after_cr) && first == b'\n' {
                bytes = rest;
                continue;
            }
            match memchr::memchr2(b'\n', b'\r', bytes) {
                None => {
                    self.extend_line(bytes, out);
                    return;
                }
                Some(end) => {
                    let line = &bytes[..end];
                    if self.line.is_empty() && !self.line_dropped && line.len() <= self.room() {
                        // The whole line is in these bytes: read it where it
                        // is, as `end_line` would read it from the buffer.
                        if line.is_empty() {
                            self.dispatch(out);
                        } else {
                            self.field(line);
                        }
                    } else {
                        self.extend_line(line, out);
                        self.end_line(out);
                    }
                    self.after_cr = bytes[end] == b'\r';
                    bytes = &bytes[end + 1..];
                }
            }
        }
    }

    /// How long the line in progress may grow.
    fn room(&self) -> usize {
        if self.oversized {
            MAX_SKIPPED_LINE
        } else {
            self.max_event_bytes.saturating_sub(self.event_bytes)
        }
    }

    fn extend_line(&mut self, part: &[u8], out: &mut VecDeque<Parsed>) {
        if part.is_empty() || self.line_dropped {
            return;
        }
        let room = self.room();
        if self.line.len() + part.len() <= room {
            self.line.extend_from_slice(part);
            return;
        }
        let is_comment = self.line.first().or(part.first()) == Some(&b':');
        if !self.oversized && !is_comment {
            self.oversized = true;
            self.skipped_id = self.event.take().and_then(|event| event.id);
            out.push_back(Parsed::Overflowing);
        }
        self.line_dropped = true;
        self.clear_line();
    }

    fn end_line(&mut self, out: &mut VecDeque<Parsed>) {
        if std::mem::take(&mut self.line_dropped) {
            return;
        }
        if self.line.is_empty() {
            self.dispatch(out);
            return;
        }
        let line = std::mem::take(&mut self.line);
        self.field(&line);
        self.line = line;
        self.clear_line();
    }

    /// A blank line: the event in progress is complete.
    fn dispatch(&mut self, out: &mut VecDeque<Parsed>) {
        if std::mem::take(&mut self.oversized) {
            out.push_back(Parsed::Skipped {
                id: self.skipped_id.take(),
            });
        } else if let Some(event) = self.event.take() {
            out.push_back(Parsed::Event(event));
        }
        self.event_bytes = 0;
    }

    fn field(&mut self, line: &[u8]) {
        if line.first() == Some(&b':') {
            return;
        }
        let (name, value) = match line.iter().position(|&b| b == b':') {
            Some(colon) => {
                let value = &line[colon + 1..];
                (&line[..colon], value.strip_prefix(b" ").unwrap_or(value))
            }
            None => (line, &[][..]),
        };
        let text = || match std::str::from_utf8(value) {
            // Checked at the speed of ASCII, as nearly every field is.
            Ok(text) => text.to_owned(),
            Err(_) => String::from_utf8_lossy(value).into_owned(),
        };
        if self.oversized {
            if name == b"id" && !value.contains(&0) {
                self.skipped_id = Some(text());
            }
            return;
        }
        let event = match name {
            b"data" | b"event" | b"id" | b"retry" => self.event.get_or_insert_default(),
            // Unknown fields are ignored, as the specification says.
            _ => return,
        };
        match name {
            b"data" => match &mut event.data {
                Some(data) => {
                    data.push('\n');
                    data.push_str(&String::from_utf8_lossy(value));
                }
                None => event.data = Some(text()),
            },
            b"event" => event.event = Some(text()),
            // An id with a NUL is ignored, as the specification says.
            b"id" if !value.contains(&0) => event.id = Some(text()),
            b"retry" => {
                if let Some(retry) = std::str::from_utf8(value)
                    .ok()
                    .and_then(|value| value.parse().ok())
                {
                    event.retry = Some(retry);
                }
            }
            _ => {}
        }
        self.event_bytes = self.event_bytes.saturating_add(line.len() + 1);
    }

    fn clear_line(&mut self) {
        if self.line.capacity() > MAX_IDLE_LINE_CAPACITY {
            self.line = Vec::new();
        } else {
            self.line.clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(max: usize, chunks: &[&str]) -> Vec<Parsed> {
        let mut parser = EventParser::new(max);
        let mut out = VecDeque::new();
        for chunk in chunks {
            parser.feed(chunk.as_bytes(), &mut out);
        }
        out.into()
    }

    fn data(text: &str) -> Parsed {
        Parsed::Event(Sse::default().data(text))
    }

    #[test]
    fn events_are_parsed_across_chunks() {
        let parsed = parse(
            1024,
            &[
                "data: a",
                "bc\ndata: def\n",
                "\n",
                "event: ping\nid: 7\nretry: 30\n\n",
            ],
        );
        assert_eq!(
            parsed,
            [
                data("abc\ndef"),
                Parsed::Event(Sse::default().event("ping").id("7").retry(30)),
            ]
        );
    }

    #[test]
    fn every_line_ending_ends_a_line() {
        let parsed = parse(1024, &["data: a\r\n\r\ndata: b\r\rdata: c\r", "\n\r", "\n"]);
        assert_eq!(parsed, [data("a"), data("b"), data("c")]);
    }

    #[test]
    fn comments_unknown_fields_and_a_bom_are_ignored() {
        let parsed = parse(
            1024,
            &["\u{feff}: keep-alive\n\n", "foo: bar\ndata:x\nid: a\0b\n\n"],
        );
        assert_eq!(parsed, [data("x")]);
    }

    #[test]
    fn an_event_at_the_limit_passes() {
        // "data: abc" is 9 bytes, plus its newline: 10.
        assert_eq!(parse(10, &["data: abc\n\n"]), [data("abc")]);
        assert_eq!(parse(10, &["data: abc\n\n", "data: abc\n\n"]).len(), 2);
    }

    #[test]
    fn an_oversized_event_is_reported_then_skipped_with_its_id() {
        let parsed = parse(
            16,
            &[
                "id: 1\ndata: 0123456789",
                "abcdef\nid: 2\n\n",
                "data: ok\n\n",
            ],
        );
        assert_eq!(
            parsed,
            [
                Parsed::Overflowing,
                Parsed::Skipped {
                    id: Some("2".into())
                },
                data("ok"),
            ]
        );
    }

    #[test]
    fn an_endless_line_is_reported_once_and_not_kept() {
        let mut parser = EventParser::new(1024);
        let mut out = VecDeque::new();
        parser.feed(b"data: ", &mut out);
        for _ in 0..1000 {
            parser.feed(&[b'x'; 1000], &mut out);
        }
        assert_eq!(out.into_iter().collect::<Vec<_>>(), [Parsed::Overflowing]);
        // A megabyte went by; the buffer stayed near the limit.
        assert!(parser.line.capacity() < 4096, "{}", parser.line.capacity());
    }

    proptest::proptest! {
        /// Lines read in place (whole in one chunk) and lines put together
        /// across chunks parse alike, at any limit.
        #[test]
        fn how_the_stream_is_cut_does_not_change_its_events(
            pieces in proptest::collection::vec(
                proptest::sample::select(vec![
                    "data: ", "data:", "id: ", "event: ", "retry: 5", ": c", "x", "yz",
                    "\n", "\r", "\r\n", "\n\n", "\0",
                ]),
                0..60,
            ),
            cuts in proptest::collection::vec(0usize..400, 0..8),
            max in proptest::sample::select(vec![4usize, 16, 64, 4096]),
        ) {
            let stream = pieces.concat();
            let mut cuts: Vec<usize> = cuts.into_iter().map(|cut| cut % (stream.len() + 1)).collect();
            cuts.sort_unstable();
            let mut chunks = Vec::new();
            let mut start = 0;
            for cut in cuts {
                chunks.push(&stream[start..cut]);
                start = cut;
            }
            chunks.push(&stream[start..]);
            // Byte by byte, every line is put together in the buffer.
            let bytes: Vec<String> = stream.chars().map(String::from).collect();
            let bytes: Vec<&str> = bytes.iter().map(String::as_str).collect();
            let whole = parse(max, &[&stream]);
            proptest::prop_assert_eq!(&parse(max, &chunks), &whole);
            proptest::prop_assert_eq!(&parse(max, &bytes), &whole);
        }
    }

    #[test]
    fn a_long_comment_is_dropped_without_harm() {
        let long = format!(":{}\n", "x".repeat(100));
        assert_eq!(parse(16, &[&long, "data: ok\n\n"]), [data("ok")]);
    }
}
