//! `RequestBuilder`: a request to hand to `App::oneshot`.

use bytes::Bytes;
use http::header::CONTENT_TYPE;
use http::{HeaderName, HeaderValue, Method};

/// Builds a request for [`App::oneshot`](crate::web::App::oneshot).
///
/// ```
/// use percore::web::Method;
/// let req = percore::test::request(Method::PUT, "/users/7")
///     .header("x-trace", "1")
///     .json(r#"{"name":"ada"}"#);
/// assert_eq!(req.headers()["content-type"], "application/json");
/// assert_eq!(req.uri().path(), "/users/7");
/// ```
#[derive(Debug)]
pub struct RequestBuilder {
    inner: http::Request<()>,
}

/// A request with `method` for `uri` (a path with an optional query).
/// Panics on an invalid URI: a bug in the test.
pub fn request(method: Method, uri: &str) -> RequestBuilder {
    let mut inner = http::Request::new(());
    *inner.method_mut() = method;
    *inner.uri_mut() = uri
        .parse()
        .unwrap_or_else(|e| panic!("invalid test URI {uri:?}: {e}"));
    RequestBuilder { inner }
}

/// A GET request for `uri`.
pub fn get(uri: &str) -> RequestBuilder {
    request(Method::GET, uri)
}

/// A POST request for `uri`.
pub fn post(uri: &str) -> RequestBuilder {
    request(Method::POST, uri)
}

impl RequestBuilder {
    /// Adds a header (panics on an invalid name or value: a bug in the test).
    pub fn header(mut self, name: &str, value: &str) -> RequestBuilder {
        let name = HeaderName::try_from(name).unwrap_or_else(|e| panic!("header {name:?}: {e}"));
        let value = HeaderValue::try_from(value).unwrap_or_else(|e| panic!("value {value:?}: {e}"));
        self.inner.headers_mut().append(name, value);
        self
    }

    /// The request with this body.
    pub fn body(self, body: impl Into<Bytes>) -> http::Request<Bytes> {
        self.inner.map(|()| body.into())
    }

    /// The request with this JSON text as its body (`application/json`).
    pub fn json(mut self, json: impl Into<Bytes>) -> http::Request<Bytes> {
        let json_type = HeaderValue::from_static("application/json");
        self.inner.headers_mut().insert(CONTENT_TYPE, json_type);
        self.body(json)
    }

    /// The request with this urlencoded form as its body.
    pub fn form(mut self, form: impl Into<Bytes>) -> http::Request<Bytes> {
        let form_type = HeaderValue::from_static("application/x-www-form-urlencoded");
        self.inner.headers_mut().insert(CONTENT_TYPE, form_type);
        self.body(form)
    }

    /// The request with no body.
    pub fn empty(self) -> http::Request<Bytes> {
        self.body(Bytes::new())
    }
}
