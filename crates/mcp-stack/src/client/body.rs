//! Reading a response body without letting the server decide how much memory
//! it takes.

use bytes::Buf;
use http_body::Body;
use http_body_util::BodyExt;

/// The most a declared `Content-Length` may reserve up front: the length is
/// the server's claim, the bytes are what count.
const MAX_PREALLOCATION: usize = 64 * 1024;

/// Why a body was not read whole.
#[derive(Debug)]
pub(crate) enum BodyError<E> {
    /// It is, or says it is, longer than the limit.
    TooLarge,
    /// The connection failed while reading it.
    Read(E),
}

/// The whole body, or [`BodyError::TooLarge`] as soon as it passes
/// `max_bytes` (before reading anything when the declared length does).
pub(crate) async fn read_whole<B>(
    mut body: B,
    declared_length: Option<u64>,
    max_bytes: usize,
) -> Result<Vec<u8>, BodyError<B::Error>>
where
    B: Body + Unpin,
{
    if declared_length.is_some_and(|length| length > max_bytes as u64) {
        return Err(BodyError::TooLarge);
    }
    let mut whole = with_declared_capacity(declared_length);
    while let Some(frame) = body.frame().await {
        let Ok(data) = frame.map_err(BodyError::Read)?.into_data() else {
            continue;
        };
        append_bounded(&mut whole, data, max_bytes).map_err(|TooLarge| BodyError::TooLarge)?;
    }
    Ok(whole)
}

/// A body grew past its limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct TooLarge;

/// An empty buffer for a body of `declared_length`, reserving no more than
/// [`MAX_PREALLOCATION`] whatever the length claims.
pub(crate) fn with_declared_capacity(declared_length: Option<u64>) -> Vec<u8> {
    let capacity = declared_length
        .and_then(|length| usize::try_from(length).ok())
        .unwrap_or(0)
        .min(MAX_PREALLOCATION);
    Vec::with_capacity(capacity)
}

/// Appends `data` to `whole`, or refuses (appending nothing) when `whole`
/// would pass `max_bytes`: the step of reading a body frame by frame, for
/// callers that poll the body themselves.
pub(crate) fn append_bounded(
    whole: &mut Vec<u8>,
    mut data: impl Buf,
    max_bytes: usize,
) -> Result<(), TooLarge> {
    if data.remaining() > max_bytes.saturating_sub(whole.len()) {
        return Err(TooLarge);
    }
    while data.has_remaining() {
        let chunk = data.chunk();
        whole.extend_from_slice(chunk);
        let read = chunk.len();
        data.advance(read);
    }
    Ok(())
}

/// At most the first `max_bytes` of the body, for an error message; stops
/// reading once it has them.
pub(crate) async fn read_prefix<B>(mut body: B, max_bytes: usize) -> Result<Vec<u8>, B::Error>
where
    B: Body + Unpin,
{
    let mut prefix = Vec::new();
    while prefix.len() < max_bytes {
        let Some(frame) = body.frame().await else {
            break;
        };
        let Ok(mut data) = frame?.into_data() else {
            continue;
        };
        while data.has_remaining() && prefix.len() < max_bytes {
            let chunk = data.chunk();
            let take = chunk.len().min(max_bytes - prefix.len());
            prefix.extend_from_slice(&chunk[..take]);
            data.advance(take);
        }
    }
    Ok(prefix)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::panic, reason = "tests fail loudly")]

    use std::convert::Infallible;

    use bytes::Bytes;
    use futures::stream;
    use http_body::Frame;
    use http_body_util::StreamBody;

    use super::*;

    fn chunks(
        parts: &'static [&'static str],
    ) -> StreamBody<impl futures::Stream<Item = Result<Frame<Bytes>, Infallible>> + Unpin> {
        StreamBody::new(stream::iter(
            parts
                .iter()
                .map(|part| Ok(Frame::data(Bytes::from_static(part.as_bytes())))),
        ))
    }

    #[tokio::test]
    async fn a_body_at_the_limit_is_read_whole() {
        let body = read_whole(chunks(&["abcd", "", "efgh"]), None, 8).await;
        assert_eq!(body.unwrap(), b"abcdefgh");
    }

    #[tokio::test]
    async fn one_byte_over_is_refused_whatever_the_declared_length() {
        for declared in [None, Some(1)] {
            let body = read_whole(chunks(&["abcd", "efghi"]), declared, 8).await;
            assert!(matches!(body, Err(BodyError::TooLarge)));
        }
    }

    #[tokio::test]
    async fn a_declared_length_over_the_limit_is_refused_unread() {
        let never = StreamBody::new(stream::poll_fn(
            |_| -> std::task::Poll<Option<Result<Frame<Bytes>, Infallible>>> {
                panic!("the body must not be polled")
            },
        ));
        let body = read_whole(never, Some(u64::MAX), 8).await;
        assert!(matches!(body, Err(BodyError::TooLarge)));
    }

    #[tokio::test]
    async fn a_prefix_stops_at_its_size() {
        let prefix = read_prefix(chunks(&["ab", "cdef", "gh"]), 3).await.unwrap();
        assert_eq!(prefix, b"abc");
        let short = read_prefix(chunks(&["ab"]), 3).await.unwrap();
        assert_eq!(short, b"ab");
        assert!(read_prefix(chunks(&["ab"]), 0).await.unwrap().is_empty());
    }
}
