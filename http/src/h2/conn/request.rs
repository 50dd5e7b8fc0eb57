//! Request header lists → `http` requests, with the checks of RFC 9113 §8:
//! pseudo-headers (order, duplicates, missing, unknown), lowercase names,
//! no connection-specific fields, `te: trailers` only, and content-length.

use bytes::{BufMut, Bytes, BytesMut};
use http::header::{HeaderName, HeaderValue, CONTENT_LENGTH, COOKIE, HOST};
use http::uri::{Authority, PathAndQuery, Scheme};
use http::{HeaderMap, Method, Request, Uri, Version};

use crate::h2::hpack::HeaderField;

/// Why a header list is malformed (a stream error PROTOCOL_ERROR).
pub(crate) type Malformed = &'static str;

/// Fields that are HTTP/1.1 connection management (RFC 9113 §8.2.2).
const CONNECTION_SPECIFIC: [&[u8]; 5] = [
    b"connection",
    b"keep-alive",
    b"proxy-connection",
    b"transfer-encoding",
    b"upgrade",
];

/// A decoded request head.
#[derive(Debug)]
pub(crate) struct RequestHead {
    pub request: Request<()>,
    /// The declared content-length, checked against the DATA received.
    pub content_length: Option<u64>,
}

/// Checks a regular field name: lowercase token characters only.
fn valid_name(name: &[u8]) -> bool {
    !name.is_empty() && name.iter().all(|&b| LOWERCASE_TOKEN[usize::from(b)])
}

/// Bytes allowed in an HTTP/2 field name: token characters (RFC 9110
/// §5.6.2) except uppercase letters. A table, as every name of every
/// request passes through here.
static LOWERCASE_TOKEN: [bool; 256] = {
    let mut table = [false; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        table[b] = c.is_ascii_graphic()
            && !c.is_ascii_uppercase()
            && !matches!(
                c,
                b'(' | b')'
                    | b','
                    | b'/'
                    | b':'
                    | b';'
                    | b'<'
                    | b'='
                    | b'>'
                    | b'?'
                    | b'@'
                    | b'['
                    | b'\\'
                    | b']'
                    | b'{'
                    | b'}'
                    | b'"'
            );
        b += 1;
    }
    table
};

/// Checks a field value: no NUL, CR, LF, and no leading or trailing
/// whitespace (RFC 9113 §8.2.1).
fn valid_value(value: &[u8]) -> bool {
    if value.iter().any(|&b| b == 0 || b == b'\r' || b == b'\n') {
        return false;
    }
    !matches!(value.first(), Some(b' ' | b'\t')) && !matches!(value.last(), Some(b' ' | b'\t'))
}

/// Builds the regular fields of a header list (requests and trailers).
fn regular_field(
    headers: &mut HeaderMap,
    cookies: &mut Vec<Bytes>,
    field: HeaderField,
) -> Result<(), Malformed> {
    if !valid_name(&field.name) {
        return Err("invalid header name");
    }
    if CONNECTION_SPECIFIC.contains(&&field.name[..]) {
        return Err("connection-specific header field");
    }
    if &field.name[..] == b"te" && &field.value[..] != b"trailers" {
        return Err("te other than trailers");
    }
    if !valid_value(&field.value) {
        return Err("invalid header value");
    }
    if &field.name[..] == b"cookie" {
        // Crumbs split across fields are joined again (RFC 9113 §8.2.3).
        cookies.push(field.value);
        return Ok(());
    }
    let name = HeaderName::from_bytes(&field.name).map_err(|_| "invalid header name")?;
    let value = HeaderValue::from_maybe_shared(field.value).map_err(|_| "invalid header value")?;
    headers.append(name, value);
    Ok(())
}

fn join_cookies(headers: &mut HeaderMap, cookies: Vec<Bytes>) -> Result<(), Malformed> {
    if cookies.is_empty() {
        return Ok(());
    }
    let mut joined = BytesMut::new();
    for (i, c) in cookies.iter().enumerate() {
        if i > 0 {
            joined.put_slice(b"; ");
        }
        joined.put_slice(c);
    }
    let value = HeaderValue::from_maybe_shared(joined.freeze()).map_err(|_| "invalid cookie")?;
    headers.insert(COOKIE, value);
    Ok(())
}

/// Turns a decoded request header list into a request (RFC 9113 §8.3.1).
pub(crate) fn request_from_fields(fields: Vec<HeaderField>) -> Result<RequestHead, Malformed> {
    let mut method: Option<Bytes> = None;
    let mut scheme: Option<Bytes> = None;
    let mut authority: Option<Bytes> = None;
    let mut path: Option<Bytes> = None;
    let mut headers = HeaderMap::with_capacity(fields.len());
    let mut cookies = Vec::new();
    let mut regular_seen = false;
    for field in fields {
        if field.name.first() == Some(&b':') {
            if regular_seen {
                return Err("pseudo-header after a regular field");
            }
            let slot = match &field.name[..] {
                b":method" => &mut method,
                b":scheme" => &mut scheme,
                b":authority" => &mut authority,
                b":path" => &mut path,
                _ => return Err("unknown or response pseudo-header"),
            };
            if slot.replace(field.value).is_some() {
                return Err("duplicate pseudo-header");
            }
            continue;
        }
        regular_seen = true;
        regular_field(&mut headers, &mut cookies, field)?;
    }
    join_cookies(&mut headers, cookies)?;
    let method =
        Method::from_bytes(&method.ok_or("missing :method")?).map_err(|_| "bad :method")?;
    let mut uri = Uri::builder();
    if method == Method::CONNECT {
        // RFC 9113 §8.5: only :method and :authority.
        if scheme.is_some() || path.is_some() {
            return Err(":scheme or :path in CONNECT");
        }
        let authority = authority.ok_or("CONNECT without :authority")?;
        uri = uri.authority(Authority::from_maybe_shared(authority).map_err(|_| "bad :authority")?);
    } else {
        let scheme = scheme.ok_or("missing :scheme")?;
        let path = path.ok_or("missing :path")?;
        if path.is_empty() {
            return Err("empty :path");
        }
        if &path[..] != b"*" && path[0] != b'/' && !path.starts_with(b"http") {
            return Err("bad :path");
        }
        if &path[..] == b"*" && method != Method::OPTIONS {
            return Err(":path * outside OPTIONS");
        }
        let scheme = Scheme::try_from(&scheme[..]).map_err(|_| "bad :scheme")?;
        let authority = match authority {
            Some(a) => Some(a),
            // Without :authority, Host names the target (RFC 9113 §8.3.1).
            None => headers
                .get(HOST)
                .map(|h| Bytes::copy_from_slice(h.as_bytes())),
        };
        // A URI has a scheme only together with an authority; without
        // either it is origin-form, as HTTP/1.1 requests usually are.
        if let Some(a) = authority {
            uri = uri
                .scheme(scheme)
                .authority(Authority::from_maybe_shared(a).map_err(|_| "bad :authority")?);
        }
        let pq = if &path[..] == b"*" {
            PathAndQuery::from_static("*")
        } else {
            PathAndQuery::from_maybe_shared(path).map_err(|_| "bad :path")?
        };
        uri = uri.path_and_query(pq);
    }
    let uri = uri.build().map_err(|_| "bad request target")?;
    let content_length = match headers.get(CONTENT_LENGTH) {
        None => None,
        Some(v) => {
            let mut all = headers.get_all(CONTENT_LENGTH).iter();
            let first = all.next().map(|v| v.as_bytes());
            if all.any(|other| Some(other.as_bytes()) != first) {
                return Err("conflicting content-length");
            }
            let text = std::str::from_utf8(v.as_bytes()).map_err(|_| "bad content-length")?;
            if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
                return Err("bad content-length");
            }
            Some(text.parse::<u64>().map_err(|_| "bad content-length")?)
        }
    };
    let mut request = Request::new(());
    *request.method_mut() = method;
    *request.uri_mut() = uri;
    *request.version_mut() = Version::HTTP_2;
    *request.headers_mut() = headers;
    Ok(RequestHead {
        request,
        content_length,
    })
}

/// Turns a trailer header list into a map: no pseudo-headers allowed.
pub(crate) fn trailers_from_fields(fields: Vec<HeaderField>) -> Result<HeaderMap, Malformed> {
    let mut headers = HeaderMap::new();
    let mut cookies = Vec::new();
    for field in fields {
        if field.name.first() == Some(&b':') {
            return Err("pseudo-header in trailers");
        }
        regular_field(&mut headers, &mut cookies, field)?;
    }
    join_cookies(&mut headers, cookies)?;
    // Fields a trailer section may not carry are dropped, as HTTP/1.1 does.
    Ok(crate::body::allowed_trailers(headers).unwrap_or_default())
}
