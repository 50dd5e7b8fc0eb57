//! Request body decoding: `Content-Length` and chunked (RFC 9112 §6, §7.1).

use bytes::BytesMut;

use super::chunked::Chunked;
use super::error::DecodeError;
use super::event::BodyEvent;
use super::fields::BodyKind;
use crate::Limits;

#[derive(Debug)]
enum State {
    Length { remaining: u64 },
    Chunked(Chunked),
    Done,
    Failed(DecodeError),
}

/// Decodes one request body from the connection's read buffer.
///
/// Feed it the buffer that [`parse_request_head`](super::parse_request_head)
/// left; it consumes exactly the body and leaves whatever follows. The
/// result never depends on how the bytes were split across reads. Once it
/// fails it keeps returning the same error.
///
/// Limits: the body (declared length, or the sum of chunk sizes) may not
/// exceed `max_body_size` ([`DecodeError::TooLarge`], raised as soon as a
/// chunk size line announces it, before its data is read).
///
/// Chunked framing is strict: every line ends with `CRLF` (a bare LF is an
/// error, although RFC 9112 lets recipients accept it); the size is hex
/// (either case, leading zeros allowed, at most 16 significant digits, no
/// sign, no `0x`); extensions follow the `chunk-ext` grammar and are
/// ignored; everything on a size line besides its significant digits
/// (leading zeros, whitespace, extensions) may take at most
/// `max_chunk_ext_size` bytes. The trailer section, including its final
/// empty line, may take at most `max_head_size` bytes and `max_headers`
/// fields ([`DecodeError::TrailersTooLarge`]).
///
/// ```
/// use bytes::BytesMut;
/// use percore_http::{h1::{BodyDecoder, BodyEvent, BodyKind}, Limits};
/// let mut d = BodyDecoder::new(BodyKind::Chunked, &Limits::default());
/// let mut buf = BytesMut::from(&b"5\r\nhello\r\n0\r\n\r\nGET"[..]);
/// assert_eq!(d.decode(&mut buf).unwrap(), BodyEvent::Data("hello".into()));
/// assert_eq!(d.decode(&mut buf).unwrap(), BodyEvent::End { trailers: None });
/// assert_eq!(&buf[..], b"GET");
/// ```
#[derive(Debug)]
pub struct BodyDecoder {
    state: State,
}

impl BodyDecoder {
    /// A decoder for a body framed as `kind`.
    pub fn new(kind: BodyKind, limits: &Limits) -> BodyDecoder {
        let state = match kind {
            BodyKind::Empty | BodyKind::Length(0) => State::Done,
            BodyKind::Length(n) if n > limits.max_body_size => State::Failed(DecodeError::TooLarge),
            BodyKind::Length(n) => State::Length { remaining: n },
            BodyKind::Chunked => State::Chunked(Chunked::new(limits)),
        };
        BodyDecoder { state }
    }

    /// Bytes still expected, when the framing says (Content-Length).
    pub fn remaining(&self) -> Option<u64> {
        match self.state {
            State::Length { remaining } => Some(remaining),
            State::Done => Some(0),
            State::Chunked(_) | State::Failed(_) => None,
        }
    }

    /// Whether the whole body has been decoded.
    pub fn is_done(&self) -> bool {
        matches!(self.state, State::Done)
    }

    /// Decodes the next piece of body from the front of `buf`.
    pub fn decode(&mut self, buf: &mut BytesMut) -> Result<BodyEvent, DecodeError> {
        let result = match &mut self.state {
            State::Done => return Ok(BodyEvent::End { trailers: None }),
            State::Failed(e) => return Err(e.clone()),
            State::Length { remaining } => Ok(take_length(remaining, buf)),
            State::Chunked(c) => c.decode(buf),
        };
        match &result {
            Ok(BodyEvent::End { .. }) => self.state = State::Done,
            Err(e) => self.state = State::Failed(e.clone()),
            Ok(_) => {}
        }
        result
    }
}

/// Up to `remaining` bytes from the front of `buf`.
fn take_length(remaining: &mut u64, buf: &mut BytesMut) -> BodyEvent {
    if *remaining == 0 {
        return BodyEvent::End { trailers: None };
    }
    if buf.is_empty() {
        return BodyEvent::NeedMore;
    }
    let n = usize::try_from(*remaining).map_or(buf.len(), |r| r.min(buf.len()));
    // n <= remaining, so this cannot underflow.
    *remaining -= n as u64;
    BodyEvent::Data(buf.split_to(n).freeze())
}
