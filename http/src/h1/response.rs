//! Response heads and bodies, for the client role: httparse for the syntax,
//! then the same RFC 9112 rules the server applies to requests (strict
//! `CRLF`, framing conflicts, limits), and the response-only framing of
//! RFC 9112 §6.3 (HEAD, 1xx, 204 and 304 have no body; a body without
//! framing runs until the connection closes).

use std::fmt;
use std::mem::MaybeUninit;

use bytes::{Bytes, BytesMut};
use http::header::{HeaderName, HeaderValue};
use http::{HeaderMap, Method, StatusCode, Version};

use super::body::BodyDecoder;
use super::error::DecodeError;
use super::event::BodyEvent;
use super::fields::BodyKind;
use super::fields::Facts;
use super::parse::skip_empty_lines;
use super::response_scan::plain_head;
use crate::Limits;

/// Most interim (1xx) responses a client should accept before the final
/// one: a server that sends them forever is cut off instead of waited on.
pub const MAX_INTERIM_RESPONSES: usize = 32;

/// How a response body is framed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResponseFraming {
    /// No body (HEAD, 1xx, 204, 304, or `Content-Length: 0`).
    Empty,
    /// Exactly this many bytes.
    Length(u64),
    /// Chunked transfer coding.
    Chunked,
    /// Every byte until the server closes the connection.
    UntilClose,
}

/// A parsed response head.
#[derive(Debug, Clone)]
pub struct ResponseHead {
    /// HTTP/1.0 or HTTP/1.1.
    pub version: Version,
    /// The status code (100–999).
    pub status: StatusCode,
    /// The header fields, in order; values share the head's buffer.
    pub headers: HeaderMap,
    /// Body framing, given the request's method.
    pub body: ResponseFraming,
    /// Whether the connection may carry another request once the body is
    /// read: HTTP/1.1 unless `Connection: close`, HTTP/1.0 only with
    /// `Connection: keep-alive`, never for a close-delimited body.
    pub keep_alive: bool,
}

/// Why a response head was rejected. The connection cannot be used again.
///
/// ```
/// use percore_http::h1::ResponseError;
/// assert_eq!(ResponseError::Malformed("x").to_string(), "malformed response: x");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ResponseError {
    /// Malformed syntax or framing.
    Malformed(&'static str),
    /// The head is larger than `Limits::max_head_size`.
    HeadTooLarge,
    /// The head has more fields than `Limits::max_headers`.
    TooManyHeaders,
}

impl fmt::Display for ResponseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ResponseError::Malformed(why) => write!(f, "malformed response: {why}"),
            ResponseError::HeadTooLarge => f.write_str("response head larger than max_head_size"),
            ResponseError::TooManyHeaders => {
                f.write_str("response head has more fields than max_headers")
            }
        }
    }
}

impl std::error::Error for ResponseError {}

/// Parses one response head from the front of `buf`, for a request made
/// with `method`.
///
/// Returns `Ok(None)` when more bytes are needed. On success the head is
/// split off `buf`, which then starts at the body. Interim (1xx) heads are
/// returned like any other: the caller skips them and parses again.
/// Complete `CRLF` pairs before the status line are dropped; every line
/// must end in `CRLF`.
///
/// ```
/// use bytes::BytesMut;
/// use http::Method;
/// use percore_http::{h1::{parse_response_head, ResponseFraming}, Limits};
/// let limits = Limits::default();
/// let mut buf = BytesMut::from(&b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi"[..]);
/// let head = parse_response_head(&mut buf, &Method::GET, &limits).unwrap().unwrap();
/// assert_eq!(head.status, 200);
/// assert_eq!(head.body, ResponseFraming::Length(2));
/// assert_eq!(&buf[..], b"hi");
///
/// let mut head_req = BytesMut::from(&b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n"[..]);
/// let head = parse_response_head(&mut head_req, &Method::HEAD, &limits).unwrap().unwrap();
/// assert_eq!(head.body, ResponseFraming::Empty);
/// ```
pub fn parse_response_head(
    buf: &mut BytesMut,
    method: &Method,
    limits: &Limits,
) -> Result<Option<ResponseHead>, ResponseError> {
    skip_empty_lines(buf);
    if buf.is_empty() {
        return Ok(None);
    }
    let cut = buf.len() > limits.max_head_size;
    let window = buf
        .get(..buf.len().min(limits.max_head_size))
        .unwrap_or_default();
    // Most heads fit a stack array of fields; the rest take the heap.
    let mut stack = [const { MaybeUninit::<httparse::Header<'_>>::uninit() }; FRAME_STACK_FIELDS];
    let mut spans = [FieldSpan::default(); FRAME_STACK_FIELDS];
    let stack_slots = limits.max_headers.min(FRAME_STACK_FIELDS);
    let mut res = httparse::Response::new(&mut []);
    let parsed = httparse::ParserConfig::default().parse_response_with_uninit_headers(
        &mut res,
        window,
        &mut stack[..stack_slots],
    );
    let head_len = match parsed {
        Ok(httparse::Status::Complete(n)) => n,
        Err(httparse::Error::TooManyHeaders) if limits.max_headers > FRAME_STACK_FIELDS => {
            return parse_with_heap_fields(buf, method, limits, cut);
        }
        Ok(httparse::Status::Partial) if cut => return Err(ResponseError::HeadTooLarge),
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(e) => return Err(map_httparse_error(e)),
    };
    let head_bytes = window.get(..head_len).unwrap_or_default();
    let (version, status) = status_line(head_bytes, &res)?;
    let count = res.headers.len();
    for (span, h) in spans.iter_mut().zip(res.headers.iter()) {
        *span = FieldSpan::of(head_bytes, h);
    }
    head_from_spans(buf, head_len, &spans[..count], version, status, method).map(Some)
}

/// Where a field's name and value lie in its head.
#[derive(Debug, Clone, Copy, Default)]
struct FieldSpan {
    name: (usize, usize),
    value: (usize, usize),
}

impl FieldSpan {
    fn of(head_bytes: &[u8], h: &httparse::Header<'_>) -> FieldSpan {
        FieldSpan {
            name: offset_in(head_bytes, h.name.as_bytes()),
            value: offset_in(head_bytes, h.value),
        }
    }
}

/// [`parse_response_head`] for a head with more fields than the stack
/// array holds.
fn parse_with_heap_fields(
    buf: &mut BytesMut,
    method: &Method,
    limits: &Limits,
    cut: bool,
) -> Result<Option<ResponseHead>, ResponseError> {
    let window = buf
        .get(..buf.len().min(limits.max_head_size))
        .unwrap_or_default();
    // A field line takes at least 3 bytes: no more slots than that.
    let slots = limits.max_headers.min(window.len() / 3 + 1);
    let mut fields = vec![httparse::EMPTY_HEADER; slots];
    let mut res = httparse::Response::new(&mut fields);
    let head_len = match res.parse(window) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) if cut => return Err(ResponseError::HeadTooLarge),
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(httparse::Error::TooManyHeaders) if slots < limits.max_headers => {
            // Too few slots only because the window is short: wait for more.
            return if cut {
                Err(ResponseError::HeadTooLarge)
            } else {
                Ok(None)
            };
        }
        Err(e) => return Err(map_httparse_error(e)),
    };
    let head_bytes = window.get(..head_len).unwrap_or_default();
    let (version, status) = status_line(head_bytes, &res)?;
    let spans: Vec<_> = res
        .headers
        .iter()
        .map(|h| FieldSpan::of(head_bytes, h))
        .collect();
    head_from_spans(buf, head_len, &spans, version, status, method).map(Some)
}

/// Splits the head off `buf` and builds its header map (values share the
/// head's buffer) and framing.
fn head_from_spans(
    buf: &mut BytesMut,
    head_len: usize,
    spans: &[FieldSpan],
    version: Version,
    status: StatusCode,
    method: &Method,
) -> Result<ResponseHead, ResponseError> {
    let head: Bytes = buf.split_to(head_len).freeze();
    let mut headers = HeaderMap::with_capacity(spans.len());
    let mut facts = Facts::default();
    for span in spans {
        let name = HeaderName::from_bytes(head.get(span.name.0..span.name.1).unwrap_or_default())
            .map_err(|_| ResponseError::Malformed("invalid header name"))?;
        let value = HeaderValue::from_maybe_shared(head.slice(span.value.0..span.value.1))
            .map_err(|_| ResponseError::Malformed("invalid header value"))?;
        if name != http::header::HOST {
            facts.observe(&name, &value).map_err(malformed_field)?;
        }
        headers.append(name, value);
    }
    let (body, keep_alive) = framing(facts, version, status, method)?;
    Ok(ResponseHead {
        version,
        status,
        headers,
        body,
        keep_alive,
    })
}

/// What a response head says about framing, without its fields: all a
/// caller that only counts responses (a load generator) needs, found by
/// the same rules as [`parse_response_head`] but with no header map and
/// no allocation (up to [`FRAME_STACK_FIELDS`] fields).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResponseFrame {
    /// Bytes the head takes at the front of the buffer (blank lines
    /// before the status line included): the body starts there.
    pub len: usize,
    /// HTTP/1.0 or HTTP/1.1.
    pub version: Version,
    /// The status code (100–999).
    pub status: StatusCode,
    /// Body framing, given the request's method.
    pub body: ResponseFraming,
    /// As [`ResponseHead::keep_alive`].
    pub keep_alive: bool,
}

/// Fields [`frame_response_head`] reads into a stack array; a head with
/// more (up to `Limits::max_headers`) costs one allocation.
pub const FRAME_STACK_FIELDS: usize = 32;

/// Reads the response head at the front of `buf` (not consumed) as
/// [`parse_response_head`] would — every syntax rule, limit and framing
/// rule, the same `Ok(None)` and errors — but keeps only the status, the
/// framing and the connection verdict.
///
/// ```
/// use http::Method;
/// use percore_http::{h1::{frame_response_head, ResponseFraming}, Limits};
/// let buf = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi";
/// let frame = frame_response_head(buf, &Method::GET, &Limits::default()).unwrap().unwrap();
/// assert_eq!((frame.status.as_u16(), frame.body), (200, ResponseFraming::Length(2)));
/// assert_eq!(&buf[frame.len..], b"hi");
/// assert!(frame_response_head(&buf[..20], &Method::GET, &Limits::default()).unwrap().is_none());
/// ```
pub fn frame_response_head(
    buf: &[u8],
    method: &Method,
    limits: &Limits,
) -> Result<Option<ResponseFrame>, ResponseError> {
    frame_of(frame_head(buf, method, limits)?, buf, method, limits)
}

/// [`frame_response_head`]'s answer from what [`frame_head`] found in
/// `buf` (the allocating parser's for [`Framed::ManyFields`]).
#[inline]
pub(super) fn frame_of(
    framed: Framed,
    buf: &[u8],
    method: &Method,
    limits: &Limits,
) -> Result<Option<ResponseFrame>, ResponseError> {
    match framed {
        Framed::Incomplete => Ok(None),
        Framed::Head { frame, .. } => Ok(Some(frame)),
        Framed::ManyFields { skipped } => Ok(many_fields(buf, skipped, method, limits)?.map(
            |(len, head)| ResponseFrame {
                len,
                version: head.version,
                status: head.status,
                body: head.body,
                keep_alive: head.keep_alive,
            },
        )),
    }
}

/// The answer for a head [`frame_head`] found [`Framed::ManyFields`] in
/// (rare: more fields than the stack holds, maybe not more than the
/// limit): the allocating parser's, on a copy of `buf` after the
/// `skipped` blank lines, with the bytes the head takes from `buf`'s
/// start (the blank lines included).
pub(super) fn many_fields(
    buf: &[u8],
    skipped: usize,
    method: &Method,
    limits: &Limits,
) -> Result<Option<(usize, ResponseHead)>, ResponseError> {
    let rest = buf.get(skipped..).unwrap_or_default();
    let mut copy = BytesMut::from(rest);
    let head = parse_response_head(&mut copy, method, limits)?;
    Ok(head.map(|head| (skipped + rest.len() - copy.len(), head)))
}

/// What [`frame_head`] found.
pub(super) enum Framed {
    /// More bytes are needed.
    Incomplete,
    /// A complete head, and where its first `Content-Encoding` value
    /// lies in the buffer (start, end).
    Head {
        frame: ResponseFrame,
        coding: Option<(usize, usize)>,
    },
    /// More fields than [`FRAME_STACK_FIELDS`] (and the limit allows
    /// more): only the allocating parser can tell; `skipped` bytes of
    /// blank lines come before the status line.
    ManyFields { skipped: usize },
}

/// [`frame_response_head`]'s rules without its heap fallback, noting
/// the first `Content-Encoding` value on the way (the client decodes by
/// it without building a header map).
pub(super) fn frame_head(
    buf: &[u8],
    method: &Method,
    limits: &Limits,
) -> Result<Framed, ResponseError> {
    let skipped = 2 * buf
        .chunks_exact(2)
        .take_while(|pair| *pair == b"\r\n")
        .count();
    let rest = buf.get(skipped..).unwrap_or_default();
    if rest.is_empty() {
        return Ok(Framed::Incomplete);
    }
    let cut = rest.len() > limits.max_head_size;
    let window = rest
        .get(..rest.len().min(limits.max_head_size))
        .unwrap_or_default();
    let stack_slots = limits.max_headers.min(FRAME_STACK_FIELDS);
    // A plain head (the usual one) in one pass of our own; anything
    // else is httparse's to judge.
    if let Some(framed) = plain_head(window, skipped, method, stack_slots) {
        return framed;
    }
    let mut stack = [const { MaybeUninit::<httparse::Header<'_>>::uninit() }; FRAME_STACK_FIELDS];
    let mut res = httparse::Response::new(&mut []);
    let parsed = httparse::ParserConfig::default().parse_response_with_uninit_headers(
        &mut res,
        window,
        &mut stack[..stack_slots],
    );
    match parsed {
        Err(httparse::Error::TooManyHeaders) if limits.max_headers > FRAME_STACK_FIELDS => {
            Ok(Framed::ManyFields { skipped })
        }
        Err(e) => Err(map_httparse_error(e)),
        Ok(httparse::Status::Partial) if cut => Err(ResponseError::HeadTooLarge),
        Ok(httparse::Status::Partial) => Ok(Framed::Incomplete),
        Ok(httparse::Status::Complete(head_len)) => {
            let head_bytes = window.get(..head_len).unwrap_or_default();
            let (version, status) = status_line(head_bytes, &res)?;
            let mut facts = Facts::default();
            let mut coding = None;
            for field in res.headers.iter() {
                let name = field.name.as_bytes();
                if name.len() > MAX_NAME_LEN {
                    // As `HeaderName::from_bytes` (the full parser) rules.
                    return Err(ResponseError::Malformed("invalid header name"));
                }
                if coding.is_none() && name.eq_ignore_ascii_case(b"content-encoding") {
                    let (start, end) = offset_in(head_bytes, field.value);
                    coding = Some((skipped + start, skipped + end));
                }
                facts
                    .observe_response_raw(name, field.value)
                    .map_err(malformed_field)?;
            }
            let (body, keep_alive) = framing(facts, version, status, method)?;
            Ok(Framed::Head {
                frame: ResponseFrame {
                    len: skipped + head_len,
                    version,
                    status,
                    body,
                    keep_alive,
                },
                coding,
            })
        }
    }
}

/// The longest field name a `HeaderName` takes.
pub(super) const MAX_NAME_LEN: usize = (1 << 16) - 1;

/// The status line's rules, shared by both parsers: CRLF line endings
/// only, HTTP/1.0 or 1.1, a status code 100–999.
fn status_line(
    head_bytes: &[u8],
    res: &httparse::Response<'_, '_>,
) -> Result<(Version, StatusCode), ResponseError> {
    if !crlf_only(head_bytes) {
        return Err(ResponseError::Malformed("bare LF line ending"));
    }
    let version = match res.version {
        Some(0) => Version::HTTP_10,
        Some(1) => Version::HTTP_11,
        _ => return Err(ResponseError::Malformed("unsupported HTTP version")),
    };
    let status = res
        .code
        .and_then(|c| StatusCode::from_u16(c).ok())
        .ok_or(ResponseError::Malformed("invalid status code"))?;
    Ok((version, status))
}

fn malformed_field(e: super::ParseError) -> ResponseError {
    match e {
        super::ParseError::BadRequest(why) => ResponseError::Malformed(why),
        _ => ResponseError::Malformed("invalid framing field"),
    }
}

/// The one framing rule for responses (RFC 9112 §6.3), shared by both
/// parsers: the body's framing and whether the connection stays open.
pub(super) fn framing(
    facts: Facts,
    version: Version,
    status: StatusCode,
    method: &Method,
) -> Result<(ResponseFraming, bool), ResponseError> {
    let outcome = facts
        .finish_response(version)
        .map_err(ResponseError::Malformed)?;
    let no_body = method == Method::HEAD
        || status.is_informational()
        || status == StatusCode::NO_CONTENT
        || status == StatusCode::NOT_MODIFIED;
    let body = match (no_body, outcome.chunked, outcome.content_length) {
        (true, _, _) => ResponseFraming::Empty,
        (false, Some(true), _) => ResponseFraming::Chunked,
        (false, Some(false), _) => ResponseFraming::UntilClose,
        (false, None, Some(0)) => ResponseFraming::Empty,
        (false, None, Some(n)) => ResponseFraming::Length(n),
        (false, None, None) => ResponseFraming::UntilClose,
    };
    Ok((
        body,
        outcome.keep_alive && body != ResponseFraming::UntilClose,
    ))
}

/// Whether every LF in `head` follows a CR. (One pass without an early
/// exit, over the byte pairs: the compiler makes it vector code, where
/// `windows(2).all(..)` went a byte at a time.)
fn crlf_only(head: &[u8]) -> bool {
    let next = head.get(1..).unwrap_or_default();
    let bare = head.iter().zip(next).fold(0u8, |acc, (&a, &b)| {
        acc | (u8::from(b == b'\n') & u8::from(a != b'\r'))
    });
    head.first() != Some(&b'\n') && bare == 0
}

/// Where `part` (a sub-slice of `whole`) lies in `whole`.
pub(super) fn offset_in(whole: &[u8], part: &[u8]) -> (usize, usize) {
    if part.is_empty() {
        return (0, 0);
    }
    let start = (part.as_ptr() as usize).wrapping_sub(whole.as_ptr() as usize);
    (start, start.saturating_add(part.len()))
}

fn map_httparse_error(e: httparse::Error) -> ResponseError {
    ResponseError::Malformed(match e {
        httparse::Error::TooManyHeaders => return ResponseError::TooManyHeaders,
        httparse::Error::HeaderName => "invalid header name",
        httparse::Error::HeaderValue => "invalid header value",
        httparse::Error::NewLine => "invalid line ending",
        httparse::Error::Status => "malformed status line",
        httparse::Error::Version => "malformed HTTP version",
        httparse::Error::Token => "invalid token",
    })
}

/// Decodes one response body from the connection's read buffer: the
/// server's [`BodyDecoder`] for `Content-Length` and chunked bodies (same
/// strict chunk rules, trailer limits), plus close-delimited bodies.
///
/// ```
/// use bytes::BytesMut;
/// use percore_http::{h1::{BodyEvent, ResponseDecoder, ResponseFraming}, Limits};
/// let mut d = ResponseDecoder::new(ResponseFraming::UntilClose, &Limits::default());
/// let mut buf = BytesMut::from(&b"all of it"[..]);
/// assert_eq!(d.decode(&mut buf).unwrap(), BodyEvent::Data("all of it".into()));
/// assert_eq!(d.decode(&mut buf).unwrap(), BodyEvent::NeedMore);
/// // the server closed the connection:
/// assert_eq!(d.decode_eof(), Some(BodyEvent::End { trailers: None }));
/// ```
#[derive(Debug)]
pub struct ResponseDecoder {
    inner: Inner,
}

#[derive(Debug)]
enum Inner {
    Framed(BodyDecoder),
    UntilClose { received: u64, max: u64, done: bool },
}

impl ResponseDecoder {
    /// A decoder for a body framed as `framing`; bodies larger than
    /// `limits.max_body_size` fail with [`DecodeError::TooLarge`].
    pub fn new(framing: ResponseFraming, limits: &Limits) -> ResponseDecoder {
        let kind = match framing {
            ResponseFraming::Empty => BodyKind::Empty,
            ResponseFraming::Length(n) => BodyKind::Length(n),
            ResponseFraming::Chunked => BodyKind::Chunked,
            ResponseFraming::UntilClose => {
                return ResponseDecoder {
                    inner: Inner::UntilClose {
                        received: 0,
                        max: limits.max_body_size,
                        done: false,
                    },
                }
            }
        };
        ResponseDecoder {
            inner: Inner::Framed(BodyDecoder::new(kind, limits)),
        }
    }

    /// Whether the whole body has been decoded.
    pub fn is_done(&self) -> bool {
        match &self.inner {
            Inner::Framed(d) => d.is_done(),
            Inner::UntilClose { done, .. } => *done,
        }
    }

    /// Decodes the next piece of body from the front of `buf`.
    pub fn decode(&mut self, buf: &mut BytesMut) -> Result<BodyEvent, DecodeError> {
        match &mut self.inner {
            Inner::Framed(d) => d.decode(buf),
            Inner::UntilClose { done: true, .. } => Ok(BodyEvent::End { trailers: None }),
            Inner::UntilClose { received, max, .. } => {
                if buf.is_empty() {
                    return Ok(BodyEvent::NeedMore);
                }
                *received = received.saturating_add(buf.len() as u64);
                if *received > *max {
                    return Err(DecodeError::TooLarge);
                }
                Ok(BodyEvent::Data(buf.split().freeze()))
            }
        }
    }

    /// The connection reached end of stream with the buffer empty: the end
    /// of a close-delimited body, `None` (a truncated body) otherwise.
    pub fn decode_eof(&mut self) -> Option<BodyEvent> {
        match &mut self.inner {
            Inner::Framed(d) if d.is_done() => Some(BodyEvent::End { trailers: None }),
            Inner::Framed(_) => None,
            Inner::UntilClose { done, .. } => {
                *done = true;
                Some(BodyEvent::End { trailers: None })
            }
        }
    }
}

#[cfg(test)]
#[path = "response_tests.rs"]
mod tests;
