//! Response encoding: status line, headers, framing, chunks.

use bytes::BytesMut;
use http::header::{CONNECTION, CONTENT_LENGTH, DATE, TRANSFER_ENCODING};
use http::{HeaderMap, StatusCode, Version};

/// What the caller will send after the head.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResponseBody {
    /// Exactly this many bytes (`content-length`). For a HEAD request pass
    /// the length of the body a GET would get, and send no body.
    Length(u64),
    /// Chunks of unknown total length (`transfer-encoding: chunked`).
    Chunked,
}

/// The interim response sent before reading an `Expect: 100-continue` body.
pub const CONTINUE_100: &[u8] = b"HTTP/1.1 100 Continue\r\n\r\n";

fn status_line(version: Version, status: StatusCode) -> Option<&'static [u8]> {
    if version != Version::HTTP_11 {
        return None;
    }
    Some(match status.as_u16() {
        200 => b"HTTP/1.1 200 OK\r\n",
        201 => b"HTTP/1.1 201 Created\r\n",
        204 => b"HTTP/1.1 204 No Content\r\n",
        301 => b"HTTP/1.1 301 Moved Permanently\r\n",
        302 => b"HTTP/1.1 302 Found\r\n",
        304 => b"HTTP/1.1 304 Not Modified\r\n",
        400 => b"HTTP/1.1 400 Bad Request\r\n",
        404 => b"HTTP/1.1 404 Not Found\r\n",
        405 => b"HTTP/1.1 405 Method Not Allowed\r\n",
        413 => b"HTTP/1.1 413 Payload Too Large\r\n",
        500 => b"HTTP/1.1 500 Internal Server Error\r\n",
        _ => return None,
    })
}

/// Writes a response head into `dst`.
///
/// The encoder owns the framing: any `content-length`, `transfer-encoding`
/// or `date` in `headers` is ignored and replaced by the values derived from
/// `body` and `date`. A `connection` header from the caller is kept as is
/// (e.g. `upgrade` on a 101); otherwise `connection: close` is written when
/// `close` is set, and `connection: keep-alive` for a kept-alive HTTP/1.0
/// exchange. Responses that cannot have a body (1xx, 204) get no framing
/// headers, and neither does 304.
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
    dst.reserve(128 + headers.len() * 32);
    match status_line(version, status) {
        Some(line) => dst.extend_from_slice(line),
        None => {
            dst.extend_from_slice(if version == Version::HTTP_10 {
                b"HTTP/1.0 "
            } else {
                b"HTTP/1.1 "
            });
            dst.extend_from_slice(status.as_str().as_bytes());
            dst.extend_from_slice(b" ");
            dst.extend_from_slice(status.canonical_reason().unwrap_or("Unknown").as_bytes());
            dst.extend_from_slice(b"\r\n");
        }
    }
    dst.extend_from_slice(b"date: ");
    dst.extend_from_slice(date);
    dst.extend_from_slice(b"\r\n");
    let mut user_connection = false;
    for (name, value) in headers {
        if name == CONTENT_LENGTH || name == TRANSFER_ENCODING || name == DATE {
            continue;
        }
        if name == CONNECTION {
            user_connection = true;
        }
        dst.extend_from_slice(name.as_str().as_bytes());
        dst.extend_from_slice(b": ");
        dst.extend_from_slice(value.as_bytes());
        dst.extend_from_slice(b"\r\n");
    }
    let code = status.as_u16();
    let framing_allowed = !(status.is_informational() || code == 204 || code == 304);
    if framing_allowed {
        match body {
            ResponseBody::Length(n) => {
                dst.extend_from_slice(b"content-length: ");
                dst.extend_from_slice(itoa::Buffer::new().format(n).as_bytes());
                dst.extend_from_slice(b"\r\n");
            }
            ResponseBody::Chunked => dst.extend_from_slice(b"transfer-encoding: chunked\r\n"),
        }
    }
    if !user_connection {
        if close {
            dst.extend_from_slice(b"connection: close\r\n");
        } else if version == Version::HTTP_10 {
            dst.extend_from_slice(b"connection: keep-alive\r\n");
        }
    }
    dst.extend_from_slice(b"\r\n");
}

/// Writes the size line of a chunk of `len` bytes.
pub fn encode_chunk_header(dst: &mut BytesMut, len: usize) {
    let mut hex = [0u8; 16];
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
    dst.extend_from_slice(&hex[i..]);
    dst.extend_from_slice(b"\r\n");
}

/// Writes one chunk (size line, data, CRLF). Empty data writes nothing:
/// an empty chunk would end the body.
pub fn encode_chunk(dst: &mut BytesMut, data: &[u8]) {
    if data.is_empty() {
        return;
    }
    encode_chunk_header(dst, data.len());
    dst.extend_from_slice(data);
    dst.extend_from_slice(b"\r\n");
}

/// Writes the last chunk and optional trailer fields.
pub fn encode_last_chunk(dst: &mut BytesMut, trailers: Option<&HeaderMap>) {
    dst.extend_from_slice(b"0\r\n");
    if let Some(t) = trailers {
        for (name, value) in t {
            dst.extend_from_slice(name.as_str().as_bytes());
            dst.extend_from_slice(b": ");
            dst.extend_from_slice(value.as_bytes());
            dst.extend_from_slice(b"\r\n");
        }
    }
    dst.extend_from_slice(b"\r\n");
}
