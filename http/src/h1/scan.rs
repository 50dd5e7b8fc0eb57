//! The request-head scanner: one pass over the bytes makes every check of
//! the request line and the field lines (the syntax httparse checks, the
//! line endings, the limits) and the RFC 9112 / RFC 9110 checks of the
//! target and of the framing fields, recording where each part lives.
//!
//! Its verdict is that of httparse followed by the checks made on what it
//! found (the reference parser, `super::reference`, kept for the tests and
//! the fuzz target that compare the two): a syntax error is reported where
//! httparse reports it (so an incomplete head with one is refused as soon
//! as the faulty byte arrives), while an error of meaning (a target `Uri`
//! refuses, a bad `Host` value, a bare LF line ending) is kept until the
//! head is complete, and then reported in the order the checks were made.

use bytes::BytesMut;
use http::{Method, Version};

use super::error::ParseError;
use super::fields::Facts;
use super::head::{valid_name, Fields, RawHead};
use super::memo::HeadMemo;
use super::target::{origin_form_ok, parse_target, path_byte, query_byte};
use super::wide::{first_flagged, Run};
use crate::Limits;

/// [`CLASS`]: a token character (tchar): methods and field names.
pub(super) const TOKEN: u8 = 1;
/// [`CLASS`]: a byte httparse takes in a request target.
const URI: u8 = 2;
/// [`CLASS`]: a byte `Uri` takes in a path (`?` and `#` not included).
pub(super) const PATH: u8 = 4;
/// [`CLASS`]: a byte `Uri` takes in a query.
pub(super) const QUERY: u8 = 8;
/// [`CLASS`]: a field-value byte (HTAB, SP, VCHAR, obs-text).
pub(super) const VALUE: u8 = 16;

/// The classes of every byte, one table for the whole scan.
static CLASS: [u8; 256] = {
    let mut table = [0; 256];
    let mut i = 0;
    while i < 256 {
        let c = i as u8;
        let token = matches!(c, b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9'
            | b'!' | b'#' | b'$' | b'%' | b'&' | b'\'' | b'*' | b'+'
            | b'-' | b'.' | b'^' | b'_' | b'`' | b'|' | b'~');
        let uri = matches!(c, b'!'..=0x7e | 0x80..=0xff);
        let path = path_byte(c);
        let query = query_byte(c);
        let value = matches!(c, b'\t' | b' '..=0x7e | 0x80..=0xff);
        table[i] = if token { TOKEN } else { 0 }
            | if uri { URI } else { 0 }
            | if path { PATH } else { 0 }
            | if query { QUERY } else { 0 }
            | if value { VALUE } else { 0 };
        i += 1;
    }
    table
};

pub(super) fn class(b: u8) -> u8 {
    CLASS[usize::from(b)]
}

/// The next byte, or "incomplete" out of the enclosing function (`$over`:
/// the buffer holds more than `max_head_size` bytes).
macro_rules! next {
    ($data:ident, $pos:ident, $over:ident) => {
        match $data.get($pos) {
            Some(&b) => {
                $pos += 1;
                b
            }
            None => return incomplete($over),
        }
    };
}

/// What a scan that needs more bytes answers: `Ok(None)`, or 431 when the
/// buffer already holds more than `max_head_size` bytes (`over`).
#[inline]
fn incomplete(over: bool) -> Result<Option<RawHead>, ParseError> {
    if over {
        Err(ParseError::HeadTooLarge)
    } else {
        Ok(None)
    }
}

/// Where the first byte of `data` at or after `pos` outside `mask` is.
#[inline(always)]
pub(super) fn skip(data: &[u8], pos: usize, mask: u8) -> usize {
    let rest = data.get(pos..).unwrap_or_default();
    pos + rest
        .iter()
        .position(|&b| class(b) & mask == 0)
        .unwrap_or(rest.len())
}

/// [`skip`] for a run the wide scan knows: sixteen bytes at a time up to
/// a byte it flags, that byte checked with the table (and passed when in
/// the class), and the last bytes (under sixteen) through the table.
#[inline(always)]
pub(super) fn skip_run(data: &[u8], mut pos: usize, mask: u8, run: Run) -> usize {
    loop {
        pos = first_flagged(data, pos, run);
        match data.get(pos) {
            Some(&b) if class(b) & mask != 0 => pos += 1,
            _ => return pos,
        }
    }
}

/// Scans the head at the front of `buf`, looking at no more than its first
/// `max_head_size` bytes, and splits it off once complete and checked.
/// `Ok(None)`: more bytes are needed; 431 if the buffer holds more than
/// `max_head_size` bytes and no complete head. An accepted head is shown
/// to `memo`, if any (before it is built: the common case builds it in
/// the place it is returned to).
pub(super) fn scan(
    buf: &mut BytesMut,
    limits: &Limits,
    memo: Option<&mut HeadMemo>,
) -> Result<Option<RawHead>, ParseError> {
    let over = buf.len() > limits.max_head_size;
    let data = buf.get(..limits.max_head_size).unwrap_or(&buf[..]);
    let mut pos = 0;
    let mut bare_lf = false;
    // Empty lines httparse skips (the `CRLF` pairs are gone already: any
    // left is a stray line break, refused once the head is complete).
    let mut b = next!(data, pos, over);
    while b == b'\r' || b == b'\n' {
        if b == b'\r' && next!(data, pos, over) != b'\n' {
            return Err(ParseError::BadRequest("invalid line ending"));
        }
        bare_lf = true;
        b = next!(data, pos, over);
    }
    // The method: 1*tchar SP.
    let method_start = pos - 1;
    let mut error = None;
    // `GET ` compared at once; any other method byte by byte.
    let get: Option<[u8; 4]> = data
        .get(method_start..method_start + 4)
        .and_then(|w| w.try_into().ok());
    let method = if get == Some(*b"GET ") {
        pos = method_start + 4;
        Method::GET
    } else {
        if class(b) & TOKEN == 0 {
            return Err(TOKEN_ERROR);
        }
        pos = skip_run(data, pos, TOKEN, Run::Token);
        if next!(data, pos, over) != b' ' {
            return Err(TOKEN_ERROR);
        }
        let method_bytes = data.get(method_start..pos - 1).unwrap_or_default();
        match method_bytes {
            b"GET" => Method::GET,
            _ => Method::from_bytes(method_bytes).unwrap_or_else(|_| {
                error = Some(ParseError::BadRequest("invalid method"));
                Method::GET
            }),
        }
    };
    // The target: 1*(bytes httparse takes) SP, at most `max_uri_len`.
    let target_start = pos;
    let uri_end = data
        .len()
        .min(target_start.saturating_add(limits.max_uri_len));
    // Origin-form (the usual case) is checked as it is scanned: its path,
    // then its query, must reach the target's end.
    let mut origin = None;
    let mut origin_end = pos;
    let window = data.get(..uri_end).unwrap_or_default();
    if data.get(pos) == Some(&b'/') && method != Method::CONNECT {
        pos = skip_run(window, pos, PATH, Run::Path);
        let mut query = None;
        if window.get(pos) == Some(&b'?') {
            query = Some(pos + 1 - target_start);
            pos = skip_run(window, pos + 1, QUERY, Run::Query);
        }
        origin = Some(query);
        origin_end = pos;
    }
    // (An origin-form target usually ends at the space: nothing to skip.)
    if window.get(pos) != Some(&b' ') {
        pos = skip(window, pos, URI);
    }
    let target_end = pos;
    match data.get(pos) {
        None => return incomplete(over),
        Some(&b' ') => pos += 1,
        Some(&b) if class(b) & URI != 0 => return Err(ParseError::UriTooLong),
        Some(_) => return Err(TOKEN_ERROR),
    }
    if target_end == target_start {
        return Err(TOKEN_ERROR);
    }
    let target = target_bytes(data, target_start, target_end);
    let too_long = target.len() > usize::from(u16::MAX - 1);
    if origin.is_some() && (origin_end != target_end || too_long) && error.is_none() {
        // Not a path and query `Uri` takes: the reason, once complete.
        error = origin_form_ok(target).err();
    }
    // A path and query that reach the target's end passed only ASCII
    // bytes (the `PATH` and `QUERY` classes hold nothing else).
    let origin_whole = origin.is_some() && origin_end == target_end;
    if !origin_whole && !target.is_ascii() && std::str::from_utf8(target).is_err() {
        return Err(TOKEN_ERROR);
    }
    // The version: HTTP/1.0 or HTTP/1.1, then the line's end; the usual
    // `HTTP/1.1` CRLF compared at once.
    let line_end: Option<[u8; 10]> = data.get(pos..pos + 10).and_then(|w| w.try_into().ok());
    let version;
    if line_end == Some(*b"HTTP/1.1\r\n") {
        version = Version::HTTP_11;
        pos += 10;
    } else {
        version = match data.get(pos..pos + 8) {
            Some(b"HTTP/1.1") => Version::HTTP_11,
            Some(b"HTTP/1.0") => Version::HTTP_10,
            Some(_) => return Err(version_error(data.get(pos..).unwrap_or_default())),
            None => {
                let rest = data.get(pos..).unwrap_or_default();
                return if b"HTTP/1.".starts_with(rest) {
                    incomplete(over)
                } else {
                    Err(version_error(rest))
                };
            }
        };
        pos += 8;
        match next!(data, pos, over) {
            b'\r' => {
                if next!(data, pos, over) != b'\n' {
                    return Err(ParseError::BadRequest("invalid line ending"));
                }
            }
            b'\n' => bare_lf = true,
            _ => return Err(ParseError::BadRequest("invalid line ending")),
        }
    }
    // The field lines, up to the empty line.
    let mut fields = Fields::new();
    let mut facts = Facts::default();
    let Some(end) = scan_fields(
        data,
        pos,
        limits,
        &mut fields,
        &mut facts,
        &mut error,
        &mut bare_lf,
    )?
    else {
        return incomplete(over);
    };
    pos = end;
    // The head is complete: the errors kept until now, in the order the
    // reference finds them (a bare LF, the target, the fields).
    if bare_lf {
        return Err(ParseError::BadRequest("bare LF line ending"));
    }
    let uri = match origin {
        Some(_) => None,
        None => {
            let target =
                bytes::Bytes::copy_from_slice(target_bytes(data, target_start, target_end));
            Some(std::sync::Arc::new(parse_target(&method, target)?))
        }
    };
    if let Some(e) = error {
        return Err(e);
    }
    let outcome = facts.finish(version, limits)?;
    let query = origin.flatten().map(|q| target_start + q);
    let bytes = buf.split_to(pos).freeze();
    // Two `RawHead::assemble` calls, each the returned expression, so the
    // head is built in the return slot: one call bound to a local (or
    // through a closure) measured 20-30 instructions more per request
    // (callgrind, `CALLGRIND_VARY=1000 ... h1pipe`: 3 289 against 3 266).
    if let Some(memo) = memo {
        if memo.accepted(&bytes, limits) {
            // The same head twice in a row: the memo keeps it (rare).
            let head = RawHead::assemble(
                bytes,
                method,
                version,
                (target_start, target_end),
                query,
                uri,
                fields,
                &outcome,
            );
            memo.keep_head(&head);
            return Ok(Some(head));
        }
    }
    Ok(Some(RawHead::assemble(
        bytes,
        method,
        version,
        (target_start, target_end),
        query,
        uri,
        fields,
        &outcome,
    )))
}

/// The next byte, or `Ok(None)` (more bytes needed) out of the enclosing
/// function ([`scan_fields`]).
macro_rules! byte {
    ($data:ident, $pos:ident) => {
        match $data.get($pos) {
            Some(&b) => {
                $pos += 1;
                b
            }
            None => return Ok(None),
        }
    };
}

/// The field lines from `pos` up to and past the empty line: where the
/// head ends, or `Ok(None)` when more bytes are needed. Each field is
/// pushed to `fields` and shown to `facts` (until an `error` is kept);
/// `bare_lf` is set for a line ended by LF alone. Its own function (not
/// inlined into [`scan`]): the request line's values are not live here,
/// so the loop keeps its own in registers.
#[inline(never)]
fn scan_fields(
    data: &[u8],
    mut pos: usize,
    limits: &Limits,
    fields: &mut Fields,
    facts: &mut Facts,
    error: &mut Option<ParseError>,
    bare_lf: &mut bool,
) -> Result<Option<usize>, ParseError> {
    loop {
        let b = byte!(data, pos);
        if b == b'\r' {
            if byte!(data, pos) != b'\n' {
                return Err(ParseError::BadRequest("invalid line ending"));
            }
            return Ok(Some(pos));
        }
        if b == b'\n' {
            *bare_lf = true;
            return Ok(Some(pos));
        }
        if class(b) & TOKEN == 0 {
            return Err(NAME_ERROR);
        }
        let name_start = pos - 1;
        let (name_end, value_start, value_end) = match simple_line(data, name_start) {
            Some((name_end, value_start, value_end)) => {
                pos = value_end + 2;
                (name_end, value_start, value_end)
            }
            None => {
                pos = skip_run(data, pos, TOKEN, Run::Token);
                let name_end = pos;
                if byte!(data, pos) != b':' {
                    return Err(NAME_ERROR);
                }
                // OWS, then the value up to the line's end.
                let mut b = byte!(data, pos);
                while b == b' ' || b == b'\t' {
                    b = byte!(data, pos);
                }
                let value_start = pos - 1;
                let mut value_end = value_start;
                if class(b) & VALUE != 0 {
                    pos = skip_run(data, pos, VALUE, Run::Value);
                    value_end = pos;
                    b = byte!(data, pos);
                }
                match b {
                    b'\r' => {
                        if byte!(data, pos) != b'\n' {
                            return Err(VALUE_ERROR);
                        }
                    }
                    b'\n' => *bare_lf = true,
                    _ => return Err(VALUE_ERROR),
                }
                // Trailing OWS is not part of the value.
                while value_end > value_start
                    && matches!(data.get(value_end - 1), Some(b' ' | b'\t'))
                {
                    value_end -= 1;
                }
                (name_end, value_start, value_end)
            }
        };
        if fields.len() == limits.max_headers {
            return Err(ParseError::TooManyHeaders);
        }
        if error.is_none() {
            let name = data.get(name_start..name_end).unwrap_or_default();
            if !valid_name(name) {
                *error = Some(NAME_ERROR);
            } else if let Err(e) = facts.observe_request_raw(
                name,
                data.get(value_start..value_end).unwrap_or_default(),
                fields.len(),
                Some((data, value_start)),
            ) {
                *error = Some(e);
            }
        }
        fields.push([name_start, name_end, value_start, value_end]);
    }
}

/// A field line of the usual shape from `start`: a name of letters,
/// digits and `-`, `: `, a value that neither starts nor ends with a
/// space and holds no control byte (so no tab), CRLF; all within the
/// wide scan's whole chunks. Returns the name's end and the value's
/// start and end, which are what the byte-wise scan finds for such a
/// line; `None` for any other line (or one not all in `data` yet), which
/// the byte-wise scan then takes from its start.
#[inline(always)]
fn simple_line(data: &[u8], start: usize) -> Option<(usize, usize, usize)> {
    let name_end = first_flagged(data, start, Run::Token);
    let colon: Option<[u8; 2]> = data
        .get(name_end..name_end + 2)
        .and_then(|w| w.try_into().ok());
    if name_end == start || colon != Some(*b": ") {
        return None;
    }
    let value_start = name_end + 2;
    let value_end = first_flagged(data, value_start, Run::Value);
    let crlf: Option<[u8; 2]> = data
        .get(value_end..value_end + 2)
        .and_then(|w| w.try_into().ok());
    let spaced = data.get(value_start) == Some(&b' ') || data.get(value_end - 1) == Some(&b' ');
    if value_end == value_start || spaced || crlf != Some(*b"\r\n") {
        return None;
    }
    Some((name_end, value_start, value_end))
}

/// The request target's bytes.
fn target_bytes(data: &[u8], start: usize, end: usize) -> &[u8] {
    data.get(start..end).unwrap_or_default()
}

/// The error httparse reports for a bad method or target byte.
const TOKEN_ERROR: ParseError = ParseError::BadRequest("invalid method or request target");
/// The error httparse reports for a bad field-name byte.
const NAME_ERROR: ParseError = ParseError::BadRequest("invalid header name");
/// The error httparse reports for a bad field-value byte.
const VALUE_ERROR: ParseError = ParseError::BadRequest("invalid header value");

/// 505 for a version that looks like `HTTP/<digit>` but is not 1.0 or 1.1,
/// 400 otherwise. The verdict looks only at the first six bytes of the
/// version (`version`: from its start to the end of what arrived), so it
/// is the same whether it sees `HTTP/2` or `HTTP/2.0\r\n`.
pub(super) fn version_error(version: &[u8]) -> ParseError {
    let six = version.get(..6).unwrap_or(version);
    match six {
        [b'H', b'T', b'T', b'P', b'/', d] if d.is_ascii_digit() => ParseError::VersionNotSupported,
        _ => ParseError::BadRequest("malformed HTTP version"),
    }
}
