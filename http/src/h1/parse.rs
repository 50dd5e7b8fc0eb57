//! Request heads: httparse for the syntax, then the RFC 9112/9110 rules
//! httparse leaves to us (framing, Host, versions, limits).

use bytes::{Bytes, BytesMut};
use http::header::{HeaderName, HeaderValue};
use http::{HeaderMap, Method, Uri, Version};

use super::error::ParseError;
use crate::Limits;

/// How the request body is framed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyKind {
    /// No body.
    Empty,
    /// Exactly this many bytes.
    Length(u64),
    /// Chunked transfer coding.
    Chunked,
}

/// A parsed request head.
#[derive(Debug)]
pub struct RequestHead {
    /// The method.
    pub method: Method,
    /// The request target (origin-, absolute-, authority- or asterisk-form).
    pub uri: Uri,
    /// HTTP/1.0 or HTTP/1.1.
    pub version: Version,
    /// The header fields (values share the head's buffer).
    pub headers: HeaderMap,
    /// Body framing.
    pub body: BodyKind,
    /// Whether the connection may stay open after this exchange.
    pub keep_alive: bool,
    /// `Expect: 100-continue` was sent.
    pub expect_continue: bool,
    /// The `Upgrade` value, when `Connection` lists `upgrade`.
    pub upgrade: Option<HeaderValue>,
}

/// Headers parsed on the stack before falling back to the heap.
const STACK_HEADERS: usize = 64;

/// Parses one request head from the front of `buf`.
///
/// Returns `Ok(None)` when more bytes are needed, and on success splits the
/// head off `buf` (which then starts at the body or the next request).
pub fn parse_request_head(
    buf: &mut BytesMut,
    limits: &Limits,
) -> Result<Option<RequestHead>, ParseError> {
    // RFC 9112 §2.2: ignore empty lines before the request line.
    let leading = buf
        .iter()
        .position(|&b| b != b'\r' && b != b'\n')
        .unwrap_or(buf.len());
    if leading > 0 {
        let _ = buf.split_to(leading);
    }
    if buf.is_empty() {
        return Ok(None);
    }
    let max_headers = limits.max_headers.max(1);
    let mut stack = [httparse::EMPTY_HEADER; STACK_HEADERS];
    let mut heap;
    let slots: &mut [httparse::Header<'_>] = if max_headers <= STACK_HEADERS {
        &mut stack[..max_headers]
    } else {
        heap = vec![httparse::EMPTY_HEADER; max_headers];
        &mut heap
    };
    let mut req = httparse::Request::new(slots);
    let status = match req.parse(buf) {
        Ok(s) => s,
        Err(httparse::Error::TooManyHeaders) => return Err(ParseError::HeadersTooLarge),
        Err(httparse::Error::Version) => return Err(version_error(buf)),
        Err(httparse::Error::HeaderName) => {
            return Err(ParseError::BadRequest("invalid header name"))
        }
        Err(httparse::Error::HeaderValue) => {
            return Err(ParseError::BadRequest("invalid header value"))
        }
        Err(httparse::Error::Token) => return Err(ParseError::BadRequest("invalid token")),
        Err(httparse::Error::NewLine) => return Err(ParseError::BadRequest("invalid line ending")),
        Err(_) => return Err(ParseError::BadRequest("malformed request head")),
    };
    let head_len = match status {
        httparse::Status::Partial => {
            if buf.len() > limits.max_head_size {
                return Err(ParseError::HeadersTooLarge);
            }
            if !buf.contains(&b'\n') && buf.len() > limits.max_uri_len + 32 {
                return Err(ParseError::UriTooLong);
            }
            return Ok(None);
        }
        httparse::Status::Complete(n) => n,
    };
    if head_len > limits.max_head_size {
        return Err(ParseError::HeadersTooLarge);
    }
    let method_str = req.method.unwrap_or("");
    let path = req.path.unwrap_or("");
    if path.len() > limits.max_uri_len {
        return Err(ParseError::UriTooLong);
    }
    let version = match req.version {
        Some(0) => Version::HTTP_10,
        Some(1) => Version::HTTP_11,
        _ => return Err(ParseError::VersionNotSupported),
    };
    let method = Method::from_bytes(method_str.as_bytes())
        .map_err(|_| ParseError::BadRequest("invalid method"))?;

    // Remember where each piece lives, then take the head out of `buf`
    // so that header values can share its memory.
    let base = buf.as_ptr() as usize;
    let offset = |s: &[u8]| s.as_ptr() as usize - base;
    let path_range = (offset(path.as_bytes()), path.len());
    let fields: Vec<(usize, usize, usize, usize)> = req
        .headers
        .iter()
        .map(|h| {
            (
                offset(h.name.as_bytes()),
                h.name.len(),
                offset(h.value),
                h.value.len(),
            )
        })
        .collect();
    let head: Bytes = buf.split_to(head_len).freeze();

    let uri = parse_target(
        &method,
        head.slice(path_range.0..path_range.0 + path_range.1),
    )?;
    let mut headers = HeaderMap::with_capacity(fields.len());
    for (no, nl, vo, vl) in fields {
        let name = HeaderName::from_bytes(&head[no..no + nl])
            .map_err(|_| ParseError::BadRequest("invalid header name"))?;
        let value = HeaderValue::from_maybe_shared(head.slice(vo..vo + vl))
            .map_err(|_| ParseError::BadRequest("invalid header value"))?;
        headers.append(name, value);
    }
    finish_head(method, uri, version, headers, limits).map(Some)
}

/// 505 for a well-formed `HTTP/x.y` version we do not speak, 400 otherwise.
fn version_error(buf: &[u8]) -> ParseError {
    let line_end = buf
        .iter()
        .position(|&b| b == b'\r' || b == b'\n')
        .unwrap_or(buf.len());
    let line = &buf[..line_end];
    let version = line.rsplit(|&b| b == b' ').next().unwrap_or(b"");
    let well_formed = version.len() >= 6
        && version.starts_with(b"HTTP/")
        && version[5..]
            .iter()
            .all(|b| b.is_ascii_digit() || *b == b'.')
        && version[5].is_ascii_digit();
    if well_formed {
        ParseError::VersionNotSupported
    } else {
        ParseError::BadRequest("malformed request line")
    }
}

fn parse_target(method: &Method, target: Bytes) -> Result<Uri, ParseError> {
    if target.is_empty() {
        return Err(ParseError::BadRequest("empty request target"));
    }
    if &target[..] == b"*" {
        return if method == Method::OPTIONS {
            Ok(Uri::from_static("*"))
        } else {
            Err(ParseError::BadRequest("asterisk-form is only for OPTIONS"))
        };
    }
    let first = target[0];
    let uri = Uri::from_maybe_shared(target)
        .map_err(|_| ParseError::BadRequest("invalid request target"))?;
    if method == Method::CONNECT {
        // authority-form only.
        if uri.scheme().is_some() || uri.authority().is_none() || first == b'/' {
            return Err(ParseError::BadRequest("CONNECT needs authority-form"));
        }
        return Ok(uri);
    }
    if first == b'/' || uri.scheme().is_some() && uri.authority().is_some() {
        Ok(uri)
    } else {
        Err(ParseError::BadRequest("invalid request target form"))
    }
}

/// Iterates the comma-separated tokens of every `name` field.
fn tokens<'a>(headers: &'a HeaderMap, name: &'static str) -> impl Iterator<Item = &'a [u8]> + 'a {
    headers.get_all(name).iter().flat_map(|v| {
        v.as_bytes()
            .split(|&b| b == b',')
            .map(|t| t.trim_ascii())
            .filter(|t| !t.is_empty())
    })
}

fn parse_content_length(headers: &HeaderMap) -> Result<Option<u64>, ParseError> {
    let mut found: Option<u64> = None;
    for value in headers.get_all(http::header::CONTENT_LENGTH) {
        for part in value.as_bytes().split(|&b| b == b',') {
            let part = part.trim_ascii();
            if part.is_empty() || part.len() > 19 || !part.iter().all(u8::is_ascii_digit) {
                return Err(ParseError::BadRequest("invalid Content-Length"));
            }
            let n = part
                .iter()
                .try_fold(0u64, |acc, d| {
                    acc.checked_mul(10)?.checked_add(u64::from(d - b'0'))
                })
                .ok_or(ParseError::BadRequest("Content-Length overflows"))?;
            match found {
                Some(prev) if prev != n => {
                    return Err(ParseError::BadRequest("conflicting Content-Length values"))
                }
                _ => found = Some(n),
            }
        }
    }
    Ok(found)
}

fn finish_head(
    method: Method,
    uri: Uri,
    version: Version,
    headers: HeaderMap,
    limits: &Limits,
) -> Result<RequestHead, ParseError> {
    let hosts = headers.get_all(http::header::HOST).iter().count();
    if version == Version::HTTP_11 && hosts == 0 {
        return Err(ParseError::BadRequest("missing Host header"));
    }
    if hosts > 1 {
        return Err(ParseError::BadRequest("more than one Host header"));
    }

    let content_length = parse_content_length(&headers)?;
    let has_te = headers.contains_key(http::header::TRANSFER_ENCODING);
    let body = if has_te {
        if version == Version::HTTP_10 {
            return Err(ParseError::BadRequest(
                "Transfer-Encoding in an HTTP/1.0 request",
            ));
        }
        if content_length.is_some() {
            return Err(ParseError::BadRequest(
                "both Content-Length and Transfer-Encoding",
            ));
        }
        let codings: Vec<&[u8]> = tokens(&headers, "transfer-encoding").collect();
        let chunked_at: Vec<usize> = codings
            .iter()
            .enumerate()
            .filter(|(_, c)| c.eq_ignore_ascii_case(b"chunked"))
            .map(|(i, _)| i)
            .collect();
        match (codings.len(), chunked_at.as_slice()) {
            (1, [0]) => BodyKind::Chunked,
            (n, [last]) if *last + 1 == n => {
                return Err(ParseError::NotImplemented(
                    "transfer codings other than chunked",
                ))
            }
            _ => {
                return Err(ParseError::BadRequest(
                    "chunked must be the final transfer coding, once",
                ))
            }
        }
    } else {
        match content_length {
            Some(n) if n > limits.max_body_size => return Err(ParseError::BodyTooLarge),
            Some(0) | None => BodyKind::Empty,
            Some(n) => BodyKind::Length(n),
        }
    };

    let mut close = false;
    let mut keep_alive_token = false;
    let mut upgrade_token = false;
    for t in tokens(&headers, "connection") {
        if t.eq_ignore_ascii_case(b"close") {
            close = true;
        } else if t.eq_ignore_ascii_case(b"keep-alive") {
            keep_alive_token = true;
        } else if t.eq_ignore_ascii_case(b"upgrade") {
            upgrade_token = true;
        }
    }
    let keep_alive = !close && (version == Version::HTTP_11 || keep_alive_token);
    let expect_continue = headers
        .get(http::header::EXPECT)
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"100-continue"));
    let upgrade = if upgrade_token {
        headers.get(http::header::UPGRADE).cloned()
    } else {
        None
    };
    Ok(RequestHead {
        method,
        uri,
        version,
        headers,
        body,
        keep_alive,
        expect_continue,
        upgrade,
    })
}
