//! [`Reply`]: the answer to an HTTP/1.1 request as the server writes it.
//!
//! Most answers are a status, a `content-type` and a body already in
//! memory (a web handler's `&str`, `String`, bytes or JSON). Built as an
//! `http::Response`, such an answer takes a `HeaderMap` from the core's
//! pool, and the server walks that map to write the head and gives it
//! back. A [`Plain`] answer is those three parts as they are: the server
//! writes its head from them. Anything else is a [`Response`]; and a
//! `Plain` becomes the same `Response` whenever one is asked for
//! ([`Reply::into_response`]).

use bytes::Bytes;
use http::header::{HeaderValue, CONTENT_TYPE};
use http::StatusCode;
use percore_runtime::local_pool::replace_empty;

use crate::body::Body;
use crate::service::Response;

/// An answer to a request: a [`Response`], or a [`Plain`] in-memory
/// answer whose head is written from its parts (no `HeaderMap`).
///
/// ```
/// use bytes::Bytes;
/// use http::{header::CONTENT_TYPE, HeaderValue, StatusCode};
/// use percore_http::{Plain, Reply};
/// let reply = Reply::Plain(Plain {
///     status: StatusCode::OK,
///     content_type: HeaderValue::from_static("text/plain"),
///     body: Bytes::from_static(b"hi"),
/// });
/// assert_eq!(reply.status(), StatusCode::OK);
/// let resp = reply.into_response();
/// assert_eq!(resp.headers()[CONTENT_TYPE], "text/plain");
/// assert_eq!(resp.headers().len(), 1);
/// ```
#[derive(Debug)]
pub enum Reply {
    /// Any response (boxed: a reply moves several times on its way to
    /// the wire, and the common [`Plain`] one stays small enough to move
    /// without a `memcpy` call).
    Response(Box<Response>),
    /// A status, a `content-type` and a body in memory.
    Plain(Plain),
}

/// An answer with one field, `content-type`, and a body in memory: the
/// response [`Plain::into_response`] gives, kept as its parts.
#[derive(Debug, Clone)]
pub struct Plain {
    /// The status.
    pub status: StatusCode,
    /// The `content-type` field's value.
    pub content_type: HeaderValue,
    /// The body (its length is the `content-length`).
    pub body: Bytes,
}

impl Plain {
    /// The same answer as a response: `status`, a map holding exactly
    /// `content-type` (taken from the core's pool), and `body` as
    /// [`Body::Full`].
    #[inline]
    pub fn into_response(self) -> Response {
        let mut r = typed_response(Body::Full(self.body), self.content_type);
        *r.status_mut() = self.status;
        r
    }
}

/// `body` as a 200 response whose one field is `content-type` (the map
/// taken from the core's pool).
///
/// ```
/// use http::{header::CONTENT_TYPE, HeaderValue};
/// use percore_http::{typed_response, Body};
/// let r = typed_response(Body::from("hi"), HeaderValue::from_static("text/plain"));
/// assert_eq!(r.headers()[CONTENT_TYPE], "text/plain");
/// assert_eq!(r.headers().len(), 1);
/// ```
#[inline]
pub fn typed_response(body: Body, content_type: HeaderValue) -> Response {
    let mut r = Response::new(body);
    // The default map owns no memory: no drop glue for it.
    replace_empty(
        r.headers_mut(),
        crate::header_pool::take_with(CONTENT_TYPE, content_type),
    );
    r
}

impl Reply {
    /// The answer's status.
    #[inline]
    pub fn status(&self) -> StatusCode {
        match self {
            Reply::Response(r) => r.status(),
            Reply::Plain(p) => p.status,
        }
    }

    /// Sets the answer's status.
    #[inline]
    pub fn set_status(&mut self, status: StatusCode) {
        match self {
            Reply::Response(r) => *r.status_mut() = status,
            Reply::Plain(p) => p.status = status,
        }
    }

    /// The answer as a response (a [`Plain`] one built as
    /// [`Plain::into_response`] builds it).
    #[inline]
    pub fn into_response(self) -> Response {
        match self {
            Reply::Response(r) => *r,
            Reply::Plain(p) => p.into_response(),
        }
    }
}

impl From<Response> for Reply {
    #[inline]
    fn from(r: Response) -> Reply {
        Reply::Response(Box::new(r))
    }
}

impl From<Plain> for Reply {
    #[inline]
    fn from(p: Plain) -> Reply {
        Reply::Plain(p)
    }
}
