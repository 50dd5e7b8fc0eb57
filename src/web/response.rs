//! Responses and the conversions handlers return.

use bytes::Bytes;
use http::header::HeaderValue;
use http::StatusCode;
use percore_http::{typed_response, Body, BodyError, FileBody, Plain, Reply};
use serde::Serialize;

/// A response.
pub type Response = http::Response<Body>;

/// Anything a handler may return.
///
/// ```
/// use percore::web::{IntoResponse, StatusCode};
/// let r = (StatusCode::CREATED, "made").into_response();
/// assert_eq!(r.status(), StatusCode::CREATED);
/// ```
pub trait IntoResponse {
    /// Converts into a response.
    fn into_response(self) -> Response;

    /// Converts into the answer the server writes: the same response as
    /// [`into_response`](Self::into_response) gives, but an in-memory
    /// body with only a `content-type` (`&str`, `String`, bytes, [`Json`],
    /// [`Html`], with or without a status) stays a [`Plain`], whose head
    /// is written without a `HeaderMap`. The default is
    /// `Reply::from(self.into_response())`; a route whose handler's
    /// answer passes through middleware is always a [`Response`].
    ///
    /// ```
    /// use percore::web::{IntoResponse, Reply, StatusCode};
    /// let reply = (StatusCode::CREATED, "made").into_reply();
    /// assert!(matches!(reply, Reply::Plain(_)));
    /// let resp = reply.into_response();
    /// assert_eq!(resp.status(), StatusCode::CREATED);
    /// assert_eq!(resp.headers()["content-type"], "text/plain; charset=utf-8");
    /// ```
    #[inline]
    fn into_reply(self) -> Reply
    where
        Self: Sized,
    {
        Reply::from(self.into_response())
    }
}

/// `body` with `content_type` and status 200, as a [`Plain`] answer.
#[inline(always)]
fn plain(body: Bytes, content_type: HeaderValue) -> Plain {
    Plain {
        status: StatusCode::OK,
        content_type,
        body,
    }
}

/// `body` with `content_type`: a [`Plain`] answer when it is in memory.
#[inline(always)]
fn reply_with_type(body: Body, content_type: HeaderValue) -> Reply {
    match body {
        Body::Full(body) => Reply::Plain(plain(body, content_type)),
        body => Reply::from(typed_response(body, content_type)),
    }
}

// Validated at compile time, not per response.
const TEXT: HeaderValue = HeaderValue::from_static("text/plain; charset=utf-8");
const OCTET_STREAM: HeaderValue = HeaderValue::from_static("application/octet-stream");
const JSON: HeaderValue = HeaderValue::from_static("application/json");
const HTML: HeaderValue = HeaderValue::from_static("text/html; charset=utf-8");

/// A file, streamed with its length, as `application/octet-stream` (set
/// another `Content-Type` on the response to name the file's type).
impl IntoResponse for FileBody {
    fn into_response(self) -> Response {
        typed_response(Body::from(self), OCTET_STREAM)
    }
}

impl IntoResponse for Response {
    fn into_response(self) -> Response {
        self
    }

    #[inline]
    fn into_reply(self) -> Reply {
        Reply::from(self)
    }
}

impl IntoResponse for &'static str {
    #[inline]
    fn into_response(self) -> Response {
        self.into_reply().into_response()
    }

    #[inline]
    fn into_reply(self) -> Reply {
        Reply::Plain(plain(Bytes::from_static(self.as_bytes()), TEXT))
    }
}

impl IntoResponse for String {
    fn into_response(self) -> Response {
        self.into_reply().into_response()
    }

    #[inline]
    fn into_reply(self) -> Reply {
        Reply::Plain(plain(Bytes::from(self), TEXT))
    }
}

impl IntoResponse for Bytes {
    fn into_response(self) -> Response {
        self.into_reply().into_response()
    }

    #[inline]
    fn into_reply(self) -> Reply {
        Reply::Plain(plain(self, OCTET_STREAM))
    }
}

impl IntoResponse for Vec<u8> {
    fn into_response(self) -> Response {
        self.into_reply().into_response()
    }

    #[inline]
    fn into_reply(self) -> Reply {
        Reply::Plain(plain(Bytes::from(self), OCTET_STREAM))
    }
}

impl IntoResponse for Body {
    fn into_response(self) -> Response {
        Response::new(self)
    }
}

impl IntoResponse for () {
    fn into_response(self) -> Response {
        Response::new(Body::Empty)
    }
}

impl IntoResponse for StatusCode {
    fn into_response(self) -> Response {
        self.into_reply().into_response()
    }

    #[inline]
    fn into_reply(self) -> Reply {
        let mut p = plain(Bytes::from(status_text(self)), TEXT);
        p.status = self;
        Reply::Plain(p)
    }
}

impl<T: IntoResponse> IntoResponse for (StatusCode, T) {
    fn into_response(self) -> Response {
        let mut r = self.1.into_response();
        *r.status_mut() = self.0;
        r
    }

    #[inline]
    fn into_reply(self) -> Reply {
        let mut reply = self.1.into_reply();
        reply.set_status(self.0);
        reply
    }
}

impl<T: IntoResponse, E: IntoResponse> IntoResponse for Result<T, E> {
    fn into_response(self) -> Response {
        match self {
            Ok(v) => v.into_response(),
            Err(e) => e.into_response(),
        }
    }

    #[inline]
    fn into_reply(self) -> Reply {
        match self {
            Ok(v) => v.into_reply(),
            Err(e) => e.into_reply(),
        }
    }
}

impl IntoResponse for BodyError {
    fn into_response(self) -> Response {
        super::HttpError::from(self).into_response()
    }
}

/// A status's text body: `404 Not Found\n`.
fn status_text(status: StatusCode) -> String {
    match status.canonical_reason() {
        Some(reason) => format!("{} {}\n", status.as_u16(), reason),
        None => format!("{}\n", status.as_u16()),
    }
}

/// A refused WebSocket upgrade answers with its status and reason.
impl IntoResponse for percore_ws::Refusal {
    fn into_response(self) -> Response {
        percore_ws::Refusal::into_response(self)
    }
}

/// A JSON response (`application/json`), or a JSON body to send.
///
/// ```
/// use percore::web::{IntoResponse, Json};
/// let r = Json(serde_json::json!({"ok": true})).into_response();
/// assert_eq!(r.headers()["content-type"], "application/json");
/// ```
#[derive(Debug, Clone)]
pub struct Json<T>(pub T);

impl<T: Serialize> IntoResponse for Json<T> {
    fn into_response(self) -> Response {
        match serde_json::to_vec(&self.0) {
            Ok(v) => typed_response(Body::from(v), JSON),
            Err(e) => json_failed(e).into_response(),
        }
    }

    #[inline]
    fn into_reply(self) -> Reply {
        match serde_json::to_vec(&self.0) {
            Ok(v) => Reply::Plain(plain(Bytes::from(v), JSON)),
            Err(e) => json_failed(e).into_reply(),
        }
    }
}

/// The answer when a value does not serialise as JSON.
fn json_failed(e: serde_json::Error) -> (StatusCode, String) {
    (
        StatusCode::INTERNAL_SERVER_ERROR,
        format!("JSON serialisation failed: {e}\n"),
    )
}

/// An HTML response (`text/html; charset=utf-8`).
#[derive(Debug, Clone)]
pub struct Html<T>(pub T);

impl<T: Into<Body>> IntoResponse for Html<T> {
    fn into_response(self) -> Response {
        typed_response(self.0.into(), HTML)
    }

    #[inline]
    fn into_reply(self) -> Reply {
        reply_with_type(self.0.into(), HTML)
    }
}

/// A body with the `content-type` you name (`.0`). In memory, it is
/// written as a [`Plain`] answer, like `&str` or [`Html`].
///
/// ```
/// use percore::web::{HeaderValue, IntoResponse, Typed};
/// let r = Typed(HeaderValue::from_static("text/plain"), "Hello").into_response();
/// assert_eq!(r.headers()["content-type"], "text/plain");
/// ```
#[derive(Debug, Clone)]
pub struct Typed<T>(pub HeaderValue, pub T);

impl<T: Into<Body>> IntoResponse for Typed<T> {
    fn into_response(self) -> Response {
        typed_response(self.1.into(), self.0)
    }

    #[inline]
    fn into_reply(self) -> Reply {
        reply_with_type(self.1.into(), self.0)
    }
}

#[cfg(test)]
#[path = "reply_tests.rs"]
mod tests;
