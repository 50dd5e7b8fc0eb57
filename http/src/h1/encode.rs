//! Response encoding: status line, headers, framing, chunks. No `format!`
//! and no allocation besides the growth of `dst`.

use bytes::BytesMut;
use http::header::{HeaderName, HeaderValue};
use http::header::{CONNECTION, CONTENT_LENGTH, DATE, TRANSFER_ENCODING};
use http::{HeaderMap, StatusCode, Version};

use super::status::status_line_11;

/// How the body that follows a response head is framed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResponseBody {
    /// No body: written as `content-length: 0` (so the connection can be
    /// reused), like `Length(0)`.
    Empty,
    /// Exactly this many bytes (`content-length`). For a HEAD request pass
    /// the length of the body a GET would get, and send no body.
    Length(u64),
    /// Chunks of unknown total length (`transfer-encoding: chunked`); write
    /// them with [`encode_chunk`] and end with [`encode_last_chunk`].
    Chunked,
    /// Bytes of unknown total length, ended by closing the connection (no
    /// framing field): for HTTP/1.0, which has no chunked coding. Pass
    /// `close = true` with it, and close once the body is written.
    CloseDelimited,
}

/// The interim response sent before reading an `Expect: 100-continue` body.
pub const CONTINUE_100: &[u8] = b"HTTP/1.1 100 Continue\r\n\r\n";

/// Writes a response head into `dst`.
///
/// The status line says `HTTP/1.0` when `version` is HTTP/1.0 and
/// `HTTP/1.1` otherwise. Fields are written in this order:
///
/// 1. `date: <date>` (pass [`DateCache::get`](super::DateCache::get));
/// 2. the caller's `headers`, in order, except `content-length`,
///    `transfer-encoding` and `date`, which the encoder owns, and except
///    `connection` when `close` is set;
/// 3. the framing: `content-length: N` for [`ResponseBody::Length`] (and
///    `0` for [`ResponseBody::Empty`]), `transfer-encoding: chunked` for
///    [`ResponseBody::Chunked`], nothing for
///    [`ResponseBody::CloseDelimited`]; none at all for 1xx, 204 and 304,
///    which cannot have a body (the caller must not send one either);
/// 4. `connection: close` when `close` is set; otherwise the caller's
///    `connection` field, if any, stands (e.g. `upgrade` on a 101), and an
///    HTTP/1.0 response without one gets `connection: keep-alive`. A caller
///    that puts `close` in its own `connection` field must also close.
///
/// For a HEAD request, pass the framing the GET response would have and
/// write no body.
///
/// ```
/// use bytes::BytesMut;
/// use http::{HeaderMap, StatusCode, Version};
/// use percore_http::h1::{encode_response_head, ResponseBody};
/// let mut dst = BytesMut::new();
/// encode_response_head(&mut dst, Version::HTTP_11, StatusCode::OK, &HeaderMap::new(),
///     ResponseBody::Length(2), b"Sun, 06 Nov 1994 08:49:37 GMT", false);
/// assert_eq!(&dst[..], &b"HTTP/1.1 200 OK\r\ndate: Sun, 06 Nov 1994 08:49:37 GMT\r\ncontent-length: 2\r\n\r\n"[..]);
/// ```
pub fn encode_response_head(
    dst: &mut BytesMut,
    version: Version,
    status: StatusCode,
    headers: &HeaderMap,
    body: ResponseBody,
    date: &[u8],
    close: bool,
) {
    encode_response_fields(dst, version, status, headers, body, date, close)
}

/// [`encode_response_head`] with the fields as any sequence of pairs (a
/// `HeaderMap`'s, or one `content-type` of an answer that has no map),
/// written by the same rules.
///
/// ```
/// use bytes::BytesMut;
/// use http::{header::CONTENT_TYPE, HeaderValue, StatusCode, Version};
/// use percore_http::h1::{encode_response_fields, ResponseBody};
/// let mut dst = BytesMut::new();
/// let text = HeaderValue::from_static("text/plain");
/// encode_response_fields(&mut dst, Version::HTTP_11, StatusCode::OK, [(&CONTENT_TYPE, &text)],
///     ResponseBody::Length(2), b"Sun, 06 Nov 1994 08:49:37 GMT", false);
/// assert_eq!(&dst[..], &b"HTTP/1.1 200 OK\r\ndate: Sun, 06 Nov 1994 08:49:37 GMT\r\ncontent-type: text/plain\r\ncontent-length: 2\r\n\r\n"[..]);
/// ```
pub fn encode_response_fields<'a>(
    dst: &mut BytesMut,
    version: Version,
    status: StatusCode,
    fields: impl IntoIterator<Item = (&'a HeaderName, &'a HeaderValue)>,
    body: ResponseBody,
    date: &[u8],
    close: bool,
) {
    let fields = fields.into_iter();
    dst.reserve(96 + date.len() + fields.size_hint().0 * 32);
    write_status_line(dst, version, status);
    dst.extend_from_slice(b"date: ");
    dst.extend_from_slice(date);
    dst.extend_from_slice(b"\r\n");
    let mut user_connection = false;
    for (name, value) in fields {
        if name == CONTENT_LENGTH || name == TRANSFER_ENCODING || name == DATE {
            continue;
        }
        if name == CONNECTION {
            if close {
                continue;
            }
            user_connection = true;
        }
        write_field(dst, name.as_str().as_bytes(), value.as_bytes());
    }
    let code = status.as_u16();
    if !(status.is_informational() || code == 204 || code == 304) {
        match body {
            ResponseBody::Empty => dst.extend_from_slice(b"content-length: 0\r\n"),
            ResponseBody::Length(n) => {
                dst.extend_from_slice(b"content-length: ");
                dst.extend_from_slice(itoa::Buffer::new().format(n).as_bytes());
                dst.extend_from_slice(b"\r\n");
            }
            ResponseBody::Chunked => dst.extend_from_slice(b"transfer-encoding: chunked\r\n"),
            ResponseBody::CloseDelimited => {}
        }
    }
    if close {
        dst.extend_from_slice(b"connection: close\r\n");
    } else if version == Version::HTTP_10 && !user_connection {
        dst.extend_from_slice(b"connection: keep-alive\r\n");
    }
    dst.extend_from_slice(b"\r\n");
}

fn write_status_line(dst: &mut BytesMut, version: Version, status: StatusCode) {
    let http10 = version == Version::HTTP_10;
    match status_line_11(status) {
        Some(line) if !http10 => dst.extend_from_slice(line),
        Some(line) => {
            dst.extend_from_slice(b"HTTP/1.0");
            dst.extend_from_slice(line.get(8..).unwrap_or_default());
        }
        None => {
            dst.extend_from_slice(if http10 { b"HTTP/1.0 " } else { b"HTTP/1.1 " });
            dst.extend_from_slice(status.as_str().as_bytes());
            dst.extend_from_slice(b" ");
            // RFC 9112 §4: the reason phrase may be empty.
            dst.extend_from_slice(status.canonical_reason().unwrap_or("").as_bytes());
            dst.extend_from_slice(b"\r\n");
        }
    }
}

fn write_field(dst: &mut BytesMut, name: &[u8], value: &[u8]) {
    dst.extend_from_slice(name);
    dst.extend_from_slice(b": ");
    dst.extend_from_slice(value);
    dst.extend_from_slice(b"\r\n");
}

/// Writes the size line of a chunk of `len` bytes (lowercase hex, `CRLF`).
/// The caller writes the data and the `CRLF` after it; `len` must not be 0,
/// which would end the body.
///
/// ```
/// let mut dst = bytes::BytesMut::new();
/// percore_http::h1::encode_chunk_header(&mut dst, 300);
/// assert_eq!(&dst[..], b"12c\r\n");
/// ```
pub fn encode_chunk_header(dst: &mut BytesMut, len: usize) {
    let mut hex = [0u8; 2 * std::mem::size_of::<usize>()];
    let mut i = hex.len();
    let mut n = len;
    loop {
        i -= 1;
        hex[i] = b"0123456789abcdef"[n & 0xf];
        n >>= 4;
        if n == 0 {
            break;
        }
    }
    dst.reserve(hex.len() - i + 2);
    dst.extend_from_slice(&hex[i..]);
    dst.extend_from_slice(b"\r\n");
}

/// Writes one chunk (size line, data, CRLF). Empty data writes nothing:
/// an empty chunk would end the body.
///
/// ```
/// let mut dst = bytes::BytesMut::new();
/// percore_http::h1::encode_chunk(&mut dst, b"hello");
/// assert_eq!(&dst[..], b"5\r\nhello\r\n");
/// ```
pub fn encode_chunk(dst: &mut BytesMut, data: &[u8]) {
    if data.is_empty() {
        return;
    }
    dst.reserve(data.len() + 20);
    encode_chunk_header(dst, data.len());
    dst.extend_from_slice(data);
    dst.extend_from_slice(b"\r\n");
}

/// Writes the last chunk and the trailer fields, if any. Fields a trailer
/// section may not carry (framing, routing, connection management,
/// authentication, content processing: RFC 9110 §6.5.1) are skipped.
///
/// ```
/// let mut dst = bytes::BytesMut::new();
/// percore_http::h1::encode_last_chunk(&mut dst, None);
/// assert_eq!(&dst[..], b"0\r\n\r\n");
/// ```
pub fn encode_last_chunk(dst: &mut BytesMut, trailers: Option<&HeaderMap>) {
    dst.extend_from_slice(b"0\r\n");
    for (name, value) in trailers.into_iter().flatten() {
        if !crate::body::allowed_in_trailers(name) {
            continue;
        }
        write_field(dst, name.as_str().as_bytes(), value.as_bytes());
    }
    dst.extend_from_slice(b"\r\n");
}
