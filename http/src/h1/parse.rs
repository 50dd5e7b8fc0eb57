//! Request heads: one scan of the bytes (`super::scan`) checks the syntax
//! and the RFC 9112 / RFC 9110 rules (line endings, targets, framing,
//! Host, versions, limits).
//!
//! Results never depend on how the bytes were split across reads: every
//! limit is applied to a window of the buffer that only grows with it, so a
//! head fed one byte at a time yields `Ok(None)` until it yields exactly
//! what the whole head yields at once.

use bytes::BytesMut;
use http::header::HeaderValue;
use http::{HeaderMap, Method, Uri, Version};

use super::error::ParseError;
use super::fields::BodyKind;
use super::head::RawHead;
use super::memo::HeadMemo;
use super::scan::scan;
use crate::Limits;

/// A parsed request head.
#[derive(Debug, Clone)]
pub struct RequestHead {
    /// The method.
    pub method: Method,
    /// The request target (origin-, absolute-, authority- or asterisk-form).
    pub uri: Uri,
    /// HTTP/1.0 or HTTP/1.1.
    pub version: Version,
    /// The header fields, in order; values share the head's buffer.
    pub headers: HeaderMap,
    /// Body framing.
    pub body: BodyKind,
    /// Whether the connection may stay open after this exchange: HTTP/1.1
    /// unless `Connection: close`; HTTP/1.0 only with `Connection: keep-alive`.
    pub keep_alive: bool,
    /// `Expect: 100-continue` was sent (any version; the caller decides
    /// whether to send `100 Continue`, which HTTP/1.0 clients do not expect).
    pub expect_continue: bool,
    /// The first `Upgrade` value, when `Connection` lists `upgrade`.
    pub upgrade: Option<HeaderValue>,
}

/// Parses one request head from the front of `buf`.
///
/// Returns `Ok(None)` when more bytes are needed. On success the head is
/// split off `buf`, which then starts at the body (or the next request);
/// header values and the target share the head's memory.
///
/// Empty lines (`CRLF`) before the request line are discarded as they
/// arrive (RFC 9112 §2.2), so they never count against a limit nor stay in
/// the buffer; the connection's idle timeout bounds a peer that sends only
/// those. Line endings must be `CRLF`: a bare LF or bare CR is a 400.
///
/// On `Err`, the buffer's contents are unspecified: answer with
/// [`ParseError::status`] and close the connection.
///
/// ```
/// use bytes::BytesMut;
/// use percore_http::{h1::{parse_request_head, BodyKind}, Limits};
/// let limits = Limits::default();
/// let mut buf = BytesMut::from(&b"POST /u HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n\r\nhi"[..]);
/// let head = parse_request_head(&mut buf, &limits).unwrap().unwrap();
/// assert_eq!(head.body, BodyKind::Length(2));
/// assert_eq!(&buf[..], b"hi");
///
/// let mut partial = BytesMut::from(&b"GET / HTTP/1.1\r\nHo"[..]);
/// assert!(parse_request_head(&mut partial, &limits).unwrap().is_none());
///
/// let mut bad = BytesMut::from(&b"GET / HTTP/2.0\r\n\r\n"[..]);
/// let err = parse_request_head(&mut bad, &limits).unwrap_err();
/// assert_eq!(err.status().as_u16(), 505);
/// ```
pub fn parse_request_head(
    buf: &mut BytesMut,
    limits: &Limits,
) -> Result<Option<RequestHead>, ParseError> {
    let Some(raw) = parse_raw_head(buf, limits)? else {
        return Ok(None);
    };
    Ok(Some(RequestHead {
        uri: raw.uri(),
        version: raw.version(),
        headers: raw.headers(),
        body: raw.body_kind(),
        keep_alive: raw.keep_alive(),
        expect_continue: raw.expect_continue(),
        upgrade: raw.upgrade(),
        method: raw.method().clone(),
    }))
}

/// [`parse_request_head`] without building `http` types: the same checks,
/// the same errors, the same effect on `buf`; the head is kept as its bytes
/// plus offsets ([`RawHead`]), which answer the method, path, query and
/// field lookups by themselves.
///
/// ```
/// use bytes::BytesMut;
/// use percore_http::{h1::parse_raw_head, Limits};
/// let mut buf = BytesMut::from(&b"GET /p HTTP/1.1\r\nHost: a\r\n\r\n"[..]);
/// let head = parse_raw_head(&mut buf, &Limits::default()).unwrap().unwrap();
/// assert_eq!((head.method().as_str(), head.path()), ("GET", "/p"));
/// assert_eq!(head.header("HOST"), Some("a"));
/// ```
pub fn parse_raw_head(buf: &mut BytesMut, limits: &Limits) -> Result<Option<RawHead>, ParseError> {
    parse_raw_head_with(buf, limits, None)
}

/// [`parse_raw_head`], showing an accepted head to `memo`.
#[inline]
pub(super) fn parse_raw_head_with(
    buf: &mut BytesMut,
    limits: &Limits,
    memo: Option<&mut HeadMemo>,
) -> Result<Option<RawHead>, ParseError> {
    skip_empty_lines(buf);
    if buf.is_empty() {
        return Ok(None);
    }
    scan(buf, limits, memo)
}

/// Drops complete `CRLF` pairs from the front of `buf`.
pub(super) fn skip_empty_lines(buf: &mut BytesMut) {
    if !buf.starts_with(b"\r\n") {
        return;
    }
    let pairs = buf
        .chunks_exact(2)
        .take_while(|pair| *pair == b"\r\n")
        .count();
    if pairs > 0 {
        let _ = buf.split_to(pairs * 2);
    }
}
