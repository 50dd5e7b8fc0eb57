//! Request heads: httparse for the syntax, then the RFC 9112 / RFC 9110
//! rules httparse leaves to us (line endings, targets, framing, Host,
//! versions, limits).
//!
//! Results never depend on how the bytes were split across reads: every
//! limit is applied to a window of the buffer that only grows with it, so a
//! head fed one byte at a time yields `Ok(None)` until it yields exactly
//! what the whole head yields at once.

use std::mem::MaybeUninit;

use bytes::{Bytes, BytesMut};
use http::header::HeaderValue;
use http::{HeaderMap, Method, Uri, Version};

use super::error::ParseError;
use super::fields::BodyKind;
use super::head::{check, Found, RawHead};
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

/// Header slots tried on the stack before falling back to the heap: more
/// than browsers send, few enough that clearing them costs little.
const STACK_HEADERS: usize = 32;

/// Where one field lives in the head: `[name start, name end, value start,
/// value end]` (a head never nears 4 GiB, and one that did would fail the
/// bounds check in `check`, not wrap).
type FieldPos = [u32; 4];

/// What httparse found in a complete head.
#[derive(Debug)]
struct Scanned {
    head_len: usize,
    method: (usize, usize),
    target: (usize, usize),
    minor: u8,
    fields: usize,
}

/// The part of the buffer handed to httparse, and why it was cut.
#[derive(Debug, Clone, Copy)]
struct Window {
    len: usize,
    /// Cut one byte past `max_uri_len` bytes of request target.
    uri_cut: bool,
    /// Cut at `max_head_size`.
    head_cut: bool,
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
    skip_empty_lines(buf);
    if buf.is_empty() {
        return Ok(None);
    }
    let window = window(buf, limits);
    let data = buf.get(..window.len).unwrap_or_default();
    let mut slots: [MaybeUninit<httparse::Header<'_>>; STACK_HEADERS] =
        [const { MaybeUninit::uninit() }; STACK_HEADERS];
    let mut pos = [[0; 4]; STACK_HEADERS];
    let first_try = limits.max_headers.min(STACK_HEADERS);
    let scanned = match scan(data, &mut slots[..first_try], &mut pos[..first_try]) {
        Err(ParseError::TooManyHeaders) if limits.max_headers > STACK_HEADERS => {
            // A field line takes at least 3 bytes ("a:\n"): no need for more
            // slots than the window could hold, whatever the limit says.
            let most = limits.max_headers.min(window.len / 3 + 1);
            let mut slots = vec![MaybeUninit::uninit(); most];
            let mut heap_pos = vec![[0; 4]; most];
            let scanned = scan(data, &mut slots, &mut heap_pos);
            return match scanned? {
                Some(s) => build(buf, &s, &heap_pos, limits).map(Some),
                None => incomplete(window),
            };
        }
        other => other?,
    };
    match scanned {
        Some(s) => build(buf, &s, &pos, limits).map(Some),
        None => incomplete(window),
    }
}

/// Drops complete `CRLF` pairs from the front of `buf`.
pub(super) fn skip_empty_lines(buf: &mut BytesMut) {
    let pairs = buf
        .chunks_exact(2)
        .take_while(|pair| *pair == b"\r\n")
        .count();
    if pairs > 0 {
        let _ = buf.split_to(pairs * 2);
    }
}

/// The verdict on a head httparse found incomplete in its window.
fn incomplete(window: Window) -> Result<Option<RawHead>, ParseError> {
    if window.uri_cut {
        Err(ParseError::UriTooLong)
    } else if window.head_cut {
        Err(ParseError::HeadTooLarge)
    } else {
        Ok(None)
    }
}

/// Start of the request line: past any empty lines httparse would skip.
fn line_start(data: &[u8]) -> usize {
    data.iter()
        .position(|&b| b != b'\r' && b != b'\n')
        .unwrap_or(data.len())
}

/// The bytes httparse may look at: at most `max_head_size`, and no more
/// than one byte of request target past `max_uri_len`.
fn window(buf: &[u8], limits: &Limits) -> Window {
    let mut w = Window {
        len: buf.len(),
        uri_cut: false,
        head_cut: false,
    };
    if w.len > limits.max_head_size {
        w.len = limits.max_head_size;
        w.head_cut = true;
    }
    if w.len <= limits.max_uri_len {
        return w; // the target cannot be too long yet
    }
    let data = buf.get(..w.len).unwrap_or_default();
    let start = line_start(data);
    let line = data.get(start..).unwrap_or_default();
    let ends_token = |b: &u8| matches!(b, b' ' | b'\r' | b'\n');
    let Some(sp) = line.iter().position(ends_token) else {
        return w;
    };
    if line.get(sp) != Some(&b' ') {
        return w;
    }
    let target = line.get(sp + 1..).unwrap_or_default();
    let target_len = target.iter().position(ends_token).unwrap_or(target.len());
    if target_len > limits.max_uri_len {
        // start + sp + 1 + max_uri_len + 1 <= w.len, as the target is longer.
        w.len = start + sp + 2 + limits.max_uri_len;
        w.uri_cut = true;
        w.head_cut = false;
    }
    w
}

/// Runs httparse over `data`, recording where each field lives.
fn scan<'b>(
    data: &'b [u8],
    slots: &mut [MaybeUninit<httparse::Header<'b>>],
    pos: &mut [FieldPos],
) -> Result<Option<Scanned>, ParseError> {
    let base = data.as_ptr() as usize;
    let offset = |s: &[u8]| (s.as_ptr() as usize).wrapping_sub(base);
    let range = |s: &[u8]| {
        if s.is_empty() {
            (0, 0)
        } else {
            (offset(s), offset(s).saturating_add(s.len()))
        }
    };
    let mut req = httparse::Request::new(&mut []);
    let head_len = match req.parse_with_uninit_headers(data, slots) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(e) => return Err(map_httparse_error(e, data)),
    };
    let (Some(method), Some(path), Some(minor)) = (req.method, req.path, req.version) else {
        return Err(ParseError::BadRequest("malformed request line"));
    };
    let mut fields = 0;
    for (h, p) in req.headers.iter().zip(pos.iter_mut()) {
        let (name, value) = (narrow(range(h.name.as_bytes())), narrow(range(h.value)));
        *p = [name.0, name.1, value.0, value.1];
        fields += 1;
    }
    Ok(Some(Scanned {
        head_len,
        method: range(method.as_bytes()),
        target: range(path.as_bytes()),
        minor,
        fields,
    }))
}

/// A field's offsets as `u32`; one past `u32::MAX` saturates, which the
/// bounds check in `build` then rejects.
fn narrow((start, end): (usize, usize)) -> (u32, u32) {
    let to_u32 = |n: usize| u32::try_from(n).unwrap_or(u32::MAX);
    (to_u32(start), to_u32(end))
}

fn map_httparse_error(e: httparse::Error, data: &[u8]) -> ParseError {
    match e {
        httparse::Error::TooManyHeaders => ParseError::TooManyHeaders,
        httparse::Error::Version => version_error(data),
        httparse::Error::HeaderName => ParseError::BadRequest("invalid header name"),
        httparse::Error::HeaderValue => ParseError::BadRequest("invalid header value"),
        httparse::Error::Token => ParseError::BadRequest("invalid method or request target"),
        httparse::Error::NewLine => ParseError::BadRequest("invalid line ending"),
        httparse::Error::Status => ParseError::BadRequest("malformed request line"),
    }
}

/// 505 for a version that looks like `HTTP/<digit>` but is not 1.0 or 1.1,
/// 400 otherwise.
///
/// httparse reports a version error as soon as the first wrong byte of the
/// version arrives, so the verdict looks only at the first six bytes: it
/// must be the same whether it sees `HTTP/2` or `HTTP/2.0\r\n`.
fn version_error(data: &[u8]) -> ParseError {
    let line = data.get(line_start(data)..).unwrap_or_default();
    let mut parts = line.splitn(3, |&b| b == b' ');
    let version = parts.nth(2).unwrap_or_default();
    let six = version.get(..6).unwrap_or(version);
    match six {
        [b'H', b'T', b'T', b'P', b'/', d] if d.is_ascii_digit() => ParseError::VersionNotSupported,
        _ => ParseError::BadRequest("malformed HTTP version"),
    }
}

/// Whether every line of `head` ends in `CRLF`, checked only where lines
/// end: httparse ends a line at any LF (and rejects a CR not followed by
/// one), so the line breaks are exactly those before each field name and
/// the two that close the head. Anything left before the request line
/// (`skip_empty_lines` removed the `CRLF` pairs) is a stray line break.
fn crlf_only(head: &[u8], s: &Scanned, pos: &[FieldPos]) -> bool {
    if s.method.0 != 0 || !head.ends_with(b"\r\n\r\n") {
        return false;
    }
    pos.iter().take(s.fields).all(|p| {
        let name_start = p[0] as usize;
        name_start >= 2 && head.get(name_start - 2..name_start) == Some(&b"\r\n"[..])
    })
}

/// Checks a complete head and splits it off `buf`, as a [`RawHead`].
fn build(
    buf: &mut BytesMut,
    s: &Scanned,
    pos: &[FieldPos],
    limits: &Limits,
) -> Result<RawHead, ParseError> {
    let head_bytes = buf.get(..s.head_len).unwrap_or_default();
    if !crlf_only(head_bytes, s, pos) {
        return Err(ParseError::BadRequest("bare LF line ending"));
    }
    let head: Bytes = buf.split_to(s.head_len).freeze();
    let found = Found {
        method: s.method,
        target: s.target,
        minor: s.minor,
        fields: pos.get(..s.fields).unwrap_or_default(),
    };
    check(head, &found, limits)
}
