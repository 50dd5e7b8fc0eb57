//! Responses and the conversions handlers return.

use bytes::Bytes;
use http::header::{HeaderValue, CONTENT_TYPE};
use http::StatusCode;
use percore_http::{Body, BodyError, FileBody};
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
}

#[inline(always)]
fn with_type(body: Body, content_type: HeaderValue) -> Response {
    let mut r = Response::new(body);
    // The default map owns no memory: forgetting it skips its drop glue
    // (about 60 instructions per response).
    std::mem::forget(std::mem::replace(
        r.headers_mut(),
        percore_http::header_pool::take_with(CONTENT_TYPE, content_type),
    ));
    r
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
        with_type(Body::from(self), OCTET_STREAM)
    }
}

impl IntoResponse for Response {
    fn into_response(self) -> Response {
        self
    }
}

impl IntoResponse for &'static str {
    #[inline]
    fn into_response(self) -> Response {
        with_type(Body::from(self), TEXT)
    }
}

impl IntoResponse for String {
    fn into_response(self) -> Response {
        with_type(Body::from(self), TEXT)
    }
}

impl IntoResponse for Bytes {
    fn into_response(self) -> Response {
        with_type(Body::from(self), OCTET_STREAM)
    }
}

impl IntoResponse for Vec<u8> {
    fn into_response(self) -> Response {
        with_type(Body::from(self), OCTET_STREAM)
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
        let text = match self.canonical_reason() {
            Some(reason) => format!("{} {}\n", self.as_u16(), reason),
            None => format!("{}\n", self.as_u16()),
        };
        let mut r = with_type(Body::from(text), TEXT);
        *r.status_mut() = self;
        r
    }
}

impl<T: IntoResponse> IntoResponse for (StatusCode, T) {
    fn into_response(self) -> Response {
        let mut r = self.1.into_response();
        *r.status_mut() = self.0;
        r
    }
}

impl<T: IntoResponse, E: IntoResponse> IntoResponse for Result<T, E> {
    fn into_response(self) -> Response {
        match self {
            Ok(v) => v.into_response(),
            Err(e) => e.into_response(),
        }
    }
}

impl IntoResponse for BodyError {
    fn into_response(self) -> Response {
        super::HttpError::from(self).into_response()
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
            Ok(v) => with_type(Body::from(v), JSON),
            Err(e) => (
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("JSON serialisation failed: {e}\n"),
            )
                .into_response(),
        }
    }
}

/// An HTML response (`text/html; charset=utf-8`).
#[derive(Debug, Clone)]
pub struct Html<T>(pub T);

impl<T: Into<Body>> IntoResponse for Html<T> {
    fn into_response(self) -> Response {
        with_type(self.0.into(), HTML)
    }
}
