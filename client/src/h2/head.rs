//! The request head as HTTP/2 sends it: borrowed parts of the request
//! (no `http::Request`, `Uri` or header map built per request).

use std::borrow::Cow;

use http::header::{self, HeaderMap, HeaderValue};
use percore_http::h2::conn::RequestHead;
use percore_http::Body;

use crate::client::{authority, request_target, Prepared};

/// What [`H2Pool::open`](super::H2Pool::open) opens a stream with.
#[derive(Clone, Copy)]
pub(super) enum Outgoing<'a> {
    /// A request as an `http::Request` (an extended CONNECT: a
    /// WebSocket over HTTP/2).
    Request(&'a http::Request<()>),
    /// A request's head as borrowed parts.
    Head(&'a RequestHead<'a>),
}

impl Outgoing<'_> {
    /// Whether this is an extended CONNECT (RFC 8441).
    pub(super) fn is_tunnel(&self) -> bool {
        match self {
            Outgoing::Request(r) => r
                .extensions()
                .get::<percore_http::upgrade::Protocol>()
                .is_some(),
            Outgoing::Head(_) => false,
        }
    }
}

/// The header fields of a request over HTTP/2: `headers`, with the
/// body's length as `content-length` when it is known (then a copy; a
/// request without a body borrows them).
pub(super) fn fields<'a>(headers: &'a HeaderMap, body: &Body) -> Cow<'a, HeaderMap> {
    let length = match body {
        Body::Empty => None,
        Body::Full(b) => Some(b.len() as u64),
        Body::Stream(s) => s.size_hint(),
    };
    match length.filter(|&n| n > 0 || !matches!(body, Body::Empty)) {
        Some(n) => {
            let mut owned = headers.clone();
            owned.insert(header::CONTENT_LENGTH, HeaderValue::from(n));
            Cow::Owned(owned)
        }
        None => Cow::Borrowed(headers),
    }
}

/// The request head of `req` with `fields`: the URL's scheme, authority
/// (host and port, no credentials) and path with query, slices of its
/// text.
pub(super) fn request_head<'a>(req: &'a Prepared, fields: &'a HeaderMap) -> RequestHead<'a> {
    RequestHead {
        method: &req.method,
        scheme: req.url.scheme(),
        authority: Some(authority(&req.url)),
        path: request_target(&req.url),
        headers: fields,
    }
}
