//! Request encoding, for the client role: request line, `Host`, the
//! caller's fields, framing. Chunks and trailers use the same
//! [`encode_chunk`](super::encode_chunk) / [`encode_last_chunk`](super::encode_last_chunk)
//! as responses.

use bytes::BytesMut;
use http::header::{CONTENT_LENGTH, HOST, TRANSFER_ENCODING};
use http::{HeaderMap, Method};

/// How the body that follows a request head is framed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestFraming {
    /// No body: no framing field, except `content-length: 0` for methods
    /// that define a meaning for content (POST, PUT, PATCH), as RFC 9110
    /// §8.6 asks.
    Empty,
    /// Exactly this many bytes (`content-length`).
    Length(u64),
    /// Chunks of unknown total length (`transfer-encoding: chunked`),
    /// ended with [`encode_last_chunk`](super::encode_last_chunk), which
    /// carries the trailers.
    Chunked,
}

/// Writes an HTTP/1.1 request head into `dst`.
///
/// `target` is the origin-form target (path and query, e.g. `/a?b=1`);
/// `host` the authority for the `Host` field, written first unless
/// `headers` has its own. The caller's `content-length` and
/// `transfer-encoding` are skipped: the encoder owns the framing.
///
/// ```
/// use bytes::BytesMut;
/// use http::{HeaderMap, Method};
/// use percore_http::h1::{encode_request_head, RequestFraming};
/// let mut dst = BytesMut::new();
/// encode_request_head(&mut dst, &Method::POST, "/up?x=1", "example.com:8080",
///     &HeaderMap::new(), RequestFraming::Length(3));
/// assert_eq!(&dst[..], &b"POST /up?x=1 HTTP/1.1\r\nhost: example.com:8080\r\ncontent-length: 3\r\n\r\n"[..]);
/// ```
pub fn encode_request_head(
    dst: &mut BytesMut,
    method: &Method,
    target: &str,
    host: &str,
    headers: &HeaderMap,
    body: RequestFraming,
) {
    dst.reserve(64 + target.len() + host.len() + headers.len() * 32);
    request_line(dst, method, target);
    if !headers.contains_key(HOST) {
        write_field(dst, b"host", host.as_bytes());
    }
    write_fields(dst, headers);
    framing(dst, method, body);
}

/// Header fields encoded once for many request heads (a client's default
/// fields): [`encode_request_head_with`] copies them in one piece instead
/// of walking the map for each request.
#[derive(Debug, Clone, Default)]
pub struct EncodedFields {
    lines: Vec<u8>,
    has_host: bool,
}

impl EncodedFields {
    /// `headers` as [`encode_request_head`] writes them (framing fields
    /// left out).
    pub fn new(headers: &HeaderMap) -> EncodedFields {
        let mut lines = BytesMut::new();
        write_fields(&mut lines, headers);
        EncodedFields {
            lines: lines.to_vec(),
            has_host: headers.contains_key(HOST),
        }
    }
}

/// [`encode_request_head`] with fields encoded beforehand: the same bytes
/// as with the map they were made from.
///
/// ```
/// use bytes::BytesMut;
/// use http::{header, HeaderMap, HeaderValue, Method};
/// use percore_http::h1::{encode_request_head, encode_request_head_with, EncodedFields, RequestFraming};
/// let mut map = HeaderMap::new();
/// map.insert(header::ACCEPT, HeaderValue::from_static("*/*"));
/// let (mut a, mut b) = (BytesMut::new(), BytesMut::new());
/// encode_request_head(&mut a, &Method::GET, "/x", "h", &map, RequestFraming::Empty);
/// encode_request_head_with(&mut b, &Method::GET, "/x", "h", &EncodedFields::new(&map), RequestFraming::Empty);
/// assert_eq!(a, b);
/// ```
pub fn encode_request_head_with(
    dst: &mut BytesMut,
    method: &Method,
    target: &str,
    host: &str,
    fields: &EncodedFields,
    body: RequestFraming,
) {
    dst.reserve(64 + target.len() + host.len() + fields.lines.len());
    request_line(dst, method, target);
    if !fields.has_host {
        write_field(dst, b"host", host.as_bytes());
    }
    dst.extend_from_slice(&fields.lines);
    framing(dst, method, body);
}

fn request_line(dst: &mut BytesMut, method: &Method, target: &str) {
    dst.extend_from_slice(method.as_str().as_bytes());
    dst.extend_from_slice(b" ");
    dst.extend_from_slice(if target.is_empty() { "/" } else { target }.as_bytes());
    dst.extend_from_slice(b" HTTP/1.1\r\n");
}

/// The caller's fields, without the framing ones (the encoder's).
fn write_fields(dst: &mut BytesMut, headers: &HeaderMap) {
    for (name, value) in headers {
        if name == CONTENT_LENGTH || name == TRANSFER_ENCODING {
            continue;
        }
        write_field(dst, name.as_str().as_bytes(), value.as_bytes());
    }
}

/// The framing field and the blank line that ends the head.
fn framing(dst: &mut BytesMut, method: &Method, body: RequestFraming) {
    match body {
        RequestFraming::Empty => {
            if matches!(*method, Method::POST | Method::PUT | Method::PATCH) {
                dst.extend_from_slice(b"content-length: 0\r\n");
            }
        }
        RequestFraming::Length(n) => {
            dst.extend_from_slice(b"content-length: ");
            dst.extend_from_slice(itoa::Buffer::new().format(n).as_bytes());
            dst.extend_from_slice(b"\r\n");
        }
        RequestFraming::Chunked => dst.extend_from_slice(b"transfer-encoding: chunked\r\n"),
    }
    dst.extend_from_slice(b"\r\n");
}

fn write_field(dst: &mut BytesMut, name: &[u8], value: &[u8]) {
    dst.extend_from_slice(name);
    dst.extend_from_slice(b": ");
    dst.extend_from_slice(value);
    dst.extend_from_slice(b"\r\n");
}
