//! `HttpError`: an error a handler returns, answered with its status, a
//! text body and any headers it carries (aiohttp's `HTTPException`).

use std::borrow::Cow;
use std::fmt;

use http::header::{HeaderName, HeaderValue, CONTENT_TYPE};
use http::{HeaderMap, StatusCode};
use percore_http::{Body, BodyError};

use super::{IntoResponse, Response};

/// An HTTP error answer: a status, a message (the text body) and headers.
///
/// Handlers return it with `?` (`Result<T, HttpError>` is a response too).
/// The response it becomes carries a copy of it in its extensions, so an
/// error-page middleware can rewrite it (see [`HttpError::of`]).
///
/// ```
/// use percore::web::{HttpError, IntoResponse, Request, StatusCode};
///
/// async fn user(req: Request) -> Result<String, HttpError> {
///     let id: u32 = req.param("id").unwrap_or("").parse()
///         .map_err(|_| HttpError::bad_request("the user id is a number"))?;
///     Err(HttpError::not_found(format!("no user {id}")))
/// }
///
/// let resp = HttpError::unauthorized("log in first")
///     .header("www-authenticate", "Basic realm=\"percore\"")
///     .into_response();
/// assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
/// assert_eq!(resp.headers()["www-authenticate"], "Basic realm=\"percore\"");
/// ```
#[derive(Debug, Clone)]
pub struct HttpError(Box<Parts>);

/// Boxed, so a `Result<T, HttpError>` stays one pointer wide on the error side.
#[derive(Debug, Clone)]
struct Parts {
    status: StatusCode,
    message: Cow<'static, str>,
    headers: HeaderMap,
}

macro_rules! constructors {
    ($($(#[$doc:meta])* $name:ident => $status:ident,)*) => {
        $(
            $(#[$doc])*
            pub fn $name(message: impl Into<Cow<'static, str>>) -> HttpError {
                HttpError::new(StatusCode::$status, message)
            }
        )*
    };
}

impl HttpError {
    /// An error with any status (use a 4xx or 5xx one).
    pub fn new(status: StatusCode, message: impl Into<Cow<'static, str>>) -> HttpError {
        HttpError(Box::new(Parts {
            status,
            message: message.into(),
            headers: HeaderMap::new(),
        }))
    }

    constructors! {
        /// 400 Bad Request.
        bad_request => BAD_REQUEST,
        /// 401 Unauthorized (add a `WWW-Authenticate` header with [`header`](Self::header)).
        unauthorized => UNAUTHORIZED,
        /// 403 Forbidden.
        forbidden => FORBIDDEN,
        /// 404 Not Found.
        not_found => NOT_FOUND,
        /// 405 Method Not Allowed (add an `Allow` header).
        method_not_allowed => METHOD_NOT_ALLOWED,
        /// 409 Conflict.
        conflict => CONFLICT,
        /// 410 Gone.
        gone => GONE,
        /// 413 Content Too Large.
        payload_too_large => PAYLOAD_TOO_LARGE,
        /// 415 Unsupported Media Type.
        unsupported_media_type => UNSUPPORTED_MEDIA_TYPE,
        /// 422 Unprocessable Content.
        unprocessable => UNPROCESSABLE_ENTITY,
        /// 429 Too Many Requests.
        too_many_requests => TOO_MANY_REQUESTS,
        /// 500 Internal Server Error.
        internal => INTERNAL_SERVER_ERROR,
        /// 503 Service Unavailable.
        service_unavailable => SERVICE_UNAVAILABLE,
    }

    /// Adds a header to the answer (an invalid name or value is a bug in
    /// the caller: it is logged and left out).
    pub fn header(mut self, name: &str, value: &str) -> HttpError {
        match (HeaderName::try_from(name), HeaderValue::try_from(value)) {
            (Ok(n), Ok(v)) => {
                self.0.headers.append(n, v);
            }
            _ => tracing::warn!("HttpError: invalid header {name:?}: {value:?} left out"),
        }
        self
    }

    /// Adds a header already in its wire form.
    pub(crate) fn typed_header(mut self, name: HeaderName, value: HeaderValue) -> HttpError {
        self.0.headers.append(name, value);
        self
    }

    /// The status.
    pub fn status(&self) -> StatusCode {
        self.0.status
    }

    /// The message (the body's text).
    pub fn message(&self) -> &str {
        &self.0.message
    }

    /// The headers the answer carries.
    pub fn headers(&self) -> &HeaderMap {
        &self.0.headers
    }

    /// The error a response was made from, if it was: what an error-page
    /// middleware reads to rewrite the answer.
    ///
    /// ```
    /// use percore::web::{HttpError, IntoResponse};
    /// let resp = HttpError::conflict("name taken").into_response();
    /// assert_eq!(HttpError::of(&resp).unwrap().message(), "name taken");
    /// ```
    pub fn of(resp: &Response) -> Option<&HttpError> {
        resp.extensions().get::<HttpError>()
    }
}

impl fmt::Display for HttpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.0.status.as_u16(), self.0.message)
    }
}

impl std::error::Error for HttpError {}

impl IntoResponse for HttpError {
    fn into_response(self) -> Response {
        let mut resp = Response::new(Body::from(format!("{}\n", self.0.message)));
        *resp.status_mut() = self.0.status;
        let headers = resp.headers_mut();
        headers.insert(
            CONTENT_TYPE,
            HeaderValue::from_static("text/plain; charset=utf-8"),
        );
        for (name, value) in &self.0.headers {
            headers.append(name, value.clone());
        }
        resp.extensions_mut().insert(self);
        resp
    }
}

/// A body that could not be read answers with its status: 413 too large,
/// 408 too slow, 400 malformed or cut short.
impl From<BodyError> for HttpError {
    fn from(e: BodyError) -> HttpError {
        HttpError::new(e.status(), e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answer_has_status_text_headers_and_itself() {
        let resp = HttpError::payload_too_large("at most 1 KiB")
            .header("x-limit", "1024")
            .header("bad name", "x")
            .into_response();
        assert_eq!(resp.status(), StatusCode::PAYLOAD_TOO_LARGE);
        assert_eq!(resp.headers()["x-limit"], "1024");
        assert_eq!(resp.headers().len(), 2, "content-type and x-limit only");
        assert_eq!(HttpError::of(&resp).unwrap().message(), "at most 1 KiB");
    }

    #[test]
    fn body_errors_keep_their_status() {
        assert_eq!(HttpError::from(BodyError::Timeout).status(), 408);
        assert_eq!(HttpError::from(BodyError::TooLarge).status(), 413);
    }
}
