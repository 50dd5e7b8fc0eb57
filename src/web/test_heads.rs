//! Test helpers shared by the web layer's unit tests: request heads as the
//! HTTP/1.1 server hands them over, and a middleware that marks what it saw.

use bytes::BytesMut;
use percore_http::h1::RawHead;
use percore_http::Limits;

use super::{Next, Request, Response};

/// `text` (one whole, valid request head) parsed as the server parses it.
pub(crate) fn raw_head(text: &[u8]) -> RawHead {
    let mut buf = BytesMut::from(text);
    percore_http::h1::parse_raw_head(&mut buf, &Limits::default())
        .expect("a valid head")
        .expect("a whole head")
}

/// `method path` with a `Host`, parsed as the server parses it.
pub(crate) fn raw_request(method: &str, path: &str) -> RawHead {
    raw_head(format!("{method} {path} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes())
}

/// A middleware that adds `x-seen: yes` to the answer it passes on.
pub(crate) async fn add_header(req: Request, next: Next) -> Response {
    let mut resp = next.run(req).await;
    resp.headers_mut()
        .insert("x-seen", http::HeaderValue::from_static("yes"));
    resp
}
