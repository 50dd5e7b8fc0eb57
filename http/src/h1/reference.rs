//! The request-head parser the scanner (`super::scan`) replaced: httparse
//! for the syntax, then the RFC 9112 / RFC 9110 checks on what it found.
//! Kept as the reference the scanner is compared with, byte string by byte
//! string: by the unit tests and by the `h1_raw_head` fuzz target (feature
//! `reference-parser`). Not used to serve requests.

use std::mem::MaybeUninit;

use bytes::{Bytes, BytesMut};
use http::{Method, Version};

use super::error::ParseError;
use super::fields::Facts;
use super::head::{valid_name, Fields, RawHead};
use super::parse::skip_empty_lines;
use super::scan::version_error;
use super::target::{origin_form_ok, parse_target};
use crate::Limits;

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

/// [`super::parse_raw_head`] as it was made with httparse: the same
/// verdict on every byte string (the tests and the fuzz target check it).
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
        httparse::Error::Version => {
            // The version follows the request line's second space.
            let line = data.get(line_start(data)..).unwrap_or_default();
            version_error(line.splitn(3, |&b| b == b' ').nth(2).unwrap_or_default())
        }
        httparse::Error::HeaderName => ParseError::BadRequest("invalid header name"),
        httparse::Error::HeaderValue => ParseError::BadRequest("invalid header value"),
        httparse::Error::Token => ParseError::BadRequest("invalid method or request target"),
        httparse::Error::NewLine => ParseError::BadRequest("invalid line ending"),
        httparse::Error::Status => ParseError::BadRequest("malformed request line"),
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

/// What the scan found, for [`check`]: offsets into `head`.
pub(super) struct Found<'a> {
    pub method: (usize, usize),
    pub target: (usize, usize),
    pub minor: u8,
    /// `[name start, name end, value start, value end]` per field.
    pub fields: &'a [[u32; 4]],
}

/// Checks a complete head (its bytes, `head`) the way the `http` types and
/// RFC 9112 require, and keeps it as a [`RawHead`]. The order of the checks
/// decides which error a head with several faults gets; it is that of the
/// eager parser this replaced.
pub(super) fn check(head: Bytes, s: &Found<'_>, limits: &Limits) -> Result<RawHead, ParseError> {
    if s.target.1.saturating_sub(s.target.0) > limits.max_uri_len {
        return Err(ParseError::UriTooLong);
    }
    let version = match s.minor {
        0 => Version::HTTP_10,
        1 => Version::HTTP_11,
        _ => return Err(ParseError::VersionNotSupported),
    };
    let method_bytes = head
        .get(s.method.0..s.method.1)
        .ok_or(ParseError::BadRequest("malformed request line"))?;
    let method =
        Method::from_bytes(method_bytes).map_err(|_| ParseError::BadRequest("invalid method"))?;
    let target = head
        .get(s.target.0..s.target.1)
        .ok_or(ParseError::BadRequest("malformed request head"))?;
    let (uri, query) = if target.first() == Some(&b'/') && method != Method::CONNECT {
        // Origin-form: checked here, turned into a `Uri` only if asked.
        let query = origin_form_ok(target)?;
        (None, query.map(|q| s.target.0 + q))
    } else {
        let uri = parse_target(&method, head.slice(s.target.0..s.target.1))?;
        (Some(std::sync::Arc::new(uri)), None)
    };
    let mut fields = Fields::new();
    let mut facts = Facts::default();
    for (i, span) in s.fields.iter().enumerate() {
        let [ns, ne, vs, ve] = span.map(|n| n as usize);
        let (Some(name), Some(value)) = (head.get(ns..ne), head.get(vs..ve)) else {
            return Err(ParseError::BadRequest("malformed request head"));
        };
        // httparse allows exactly the value bytes `HeaderValue` does (tab,
        // visible ASCII, space, obs-text): nothing to check again there.
        if !valid_name(name) {
            return Err(ParseError::BadRequest("invalid header name"));
        }
        facts.observe_request_raw(name, value, i, None)?;
        fields.push([ns, ne, vs, ve]);
    }
    let outcome = facts.finish(version, limits)?;
    Ok(RawHead::assemble(
        head, method, version, s.target, query, uri, fields, &outcome,
    ))
}

/// Everything an accepted head answers (method, target, version, path,
/// query, URI, fields, framing, keep-alive, `Expect`, upgrade, bytes) in
/// one comparable string: what the tests and the fuzz targets compare
/// between the scanner, the memo and this parser.
pub fn answers(h: &RawHead) -> String {
    let fields: Vec<_> = h.fields().collect();
    format!(
        "{} {} {:?} path={:?} query={:?} target={:?} fields={fields:?} body={:?} \
         keep_alive={} continue={} upgrade={:?} bytes={:?}",
        h.method(),
        h.target_str(),
        h.version(),
        h.path(),
        h.query(),
        h.uri(),
        h.body_kind(),
        h.keep_alive(),
        h.expect_continue(),
        h.upgrade(),
        h.as_bytes(),
    )
}

/// A parse's verdict in one comparable string: the error exactly, "needs
/// more bytes", or the head's [`answers`]; each with the rest of the buffer.
pub fn verdict(result: &Result<Option<RawHead>, ParseError>, rest: &[u8]) -> String {
    match result {
        Err(e) => format!("Err({e:?})"),
        Ok(None) => format!("None rest={rest:?}"),
        Ok(Some(h)) => format!("{} rest={rest:?}", answers(h)),
    }
}
