//! A response head kept as its bytes: the status, the framing and the
//! connection verdict read by [`parse_response_head`]'s rules (syntax,
//! limits, framing conflicts: the same `Ok(None)` and the same errors),
//! the header map built only when asked ([`response_fields`]). A client
//! that reads the status and the body never pays for the map.

use bytes::{Bytes, BytesMut};
use http::{HeaderMap, Method, StatusCode, Version};

use super::response::{frame_head, parse_response_head, Framed, ResponseError, ResponseFraming};
use crate::Limits;

/// A parsed response head whose fields stay in its bytes. Made by
/// [`parse_response_head_lazy`].
#[derive(Debug, Clone)]
pub struct LazyResponseHead {
    /// HTTP/1.0 or HTTP/1.1.
    pub version: Version,
    /// The status code (100–999).
    pub status: StatusCode,
    /// Body framing, given the request's method.
    pub body: ResponseFraming,
    /// As [`ResponseHead::keep_alive`](super::ResponseHead::keep_alive).
    pub keep_alive: bool,
    /// The first `Content-Encoding` value (a slice of `head`).
    coding: Option<Bytes>,
    /// The head's bytes, blank lines before the status line included.
    head: Bytes,
}

impl LazyResponseHead {
    /// The first `Content-Encoding` field's value, if the head has one.
    pub fn content_encoding(&self) -> Option<&[u8]> {
        self.coding.as_deref()
    }

    /// The head's bytes (for [`response_fields`]).
    pub fn bytes(&self) -> &Bytes {
        &self.head
    }

    /// The head's bytes, the rest dropped.
    pub fn into_bytes(self) -> Bytes {
        self.head
    }

    /// The header map, as [`parse_response_head`] would have built it.
    pub fn headers(&self) -> HeaderMap {
        response_fields(&self.head)
    }
}

/// [`parse_response_head`] without the header map: on success the head
/// (and the blank lines before it) is split off `buf`, which then starts
/// at the body. Every head one accepts the other accepts, with the same
/// status, framing and keep-alive; every one it refuses it refuses with
/// the same error.
///
/// ```
/// use bytes::BytesMut;
/// use http::Method;
/// use percore_http::{h1::{parse_response_head_lazy, ResponseFraming}, Limits};
/// let mut buf = BytesMut::from(&b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi"[..]);
/// let head = parse_response_head_lazy(&mut buf, &Method::GET, &Limits::default()).unwrap().unwrap();
/// assert_eq!((head.status.as_u16(), head.body), (200, ResponseFraming::Length(2)));
/// assert_eq!(&buf[..], b"hi");
/// assert_eq!(head.headers()["content-length"], "2");
/// ```
pub fn parse_response_head_lazy(
    buf: &mut BytesMut,
    method: &Method,
    limits: &Limits,
) -> Result<Option<LazyResponseHead>, ResponseError> {
    let (frame, coding) = match frame_head(buf, method, limits)? {
        Framed::Incomplete => return Ok(None),
        Framed::Head { frame, coding } => (frame, coding),
        Framed::ManyFields { skipped } => return many_fields(buf, skipped, method, limits),
    };
    let head = buf.split_to(frame.len.min(buf.len())).freeze();
    let coding = coding
        .filter(|&(start, end)| start <= end && end <= head.len())
        .map(|(start, end)| head.slice(start..end));
    Ok(Some(LazyResponseHead {
        version: frame.version,
        status: frame.status,
        body: frame.body,
        keep_alive: frame.keep_alive,
        coding,
        head,
    }))
}

/// A head with more fields than the stack array: the allocating parser
/// decides, its map dropped (rare; [`response_fields`] builds it again
/// when asked).
fn many_fields(
    buf: &mut BytesMut,
    skipped: usize,
    method: &Method,
    limits: &Limits,
) -> Result<Option<LazyResponseHead>, ResponseError> {
    let mut rest = BytesMut::from(buf.get(skipped..).unwrap_or_default());
    let before = rest.len();
    let Some(full) = parse_response_head(&mut rest, method, limits)? else {
        return Ok(None);
    };
    let head = buf.split_to(skipped + before - rest.len()).freeze();
    let coding = full
        .headers
        .get(http::header::CONTENT_ENCODING)
        .map(|v| Bytes::copy_from_slice(v.as_bytes()));
    Ok(Some(LazyResponseHead {
        version: full.version,
        status: full.status,
        body: full.body,
        keep_alive: full.keep_alive,
        coding,
        head,
    }))
}

/// The header map of a head [`parse_response_head_lazy`] accepted (its
/// [`LazyResponseHead::bytes`]): the fields in order, as
/// [`parse_response_head`] builds them (values share one copy of the
/// head). (Bytes it
/// did not accept give an empty map: the rules are the same, so that
/// does not happen.)
pub fn response_fields(head: &Bytes) -> HeaderMap {
    let limits = Limits::default()
        .max_head_size(head.len())
        .max_headers(head.len() / 3 + 1);
    let mut buf = BytesMut::from(&head[..]);
    match parse_response_head(&mut buf, &Method::GET, &limits) {
        Ok(Some(parsed)) => parsed.headers,
        _ => HeaderMap::new(),
    }
}
