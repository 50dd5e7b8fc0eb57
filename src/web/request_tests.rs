//! The request read as a raw head answers as the one built from `http`
//! types, whatever is asked first (its rarely used parts are made on
//! first use).

use std::rc::Rc;

use bytes::BytesMut;
use percore_http::{Limits, RequestBody};

use super::Request;
use crate::web::app::AppState;
use crate::web::test_heads::raw_head;

const HEAD: &[u8] = b"GET /a/b?x=1&y=2 HTTP/1.1\r\nHost: example.com\r\nCookie: theme=dark; lang=en\r\nX-Two: 1\r\nx-two: 2\r\n\r\n";

fn raw() -> Request {
    Request::from_head(
        raw_head(HEAD),
        RequestBody::empty(),
        Rc::new(AppState::default()),
    )
}

fn eager() -> Request {
    let mut buf = BytesMut::from(HEAD);
    let head = percore_http::h1::parse_request_head(&mut buf, &Limits::default())
        .expect("a valid head")
        .expect("a whole head");
    let mut req = http::Request::new(RequestBody::empty());
    *req.method_mut() = head.method;
    *req.uri_mut() = head.uri;
    *req.version_mut() = head.version;
    *req.headers_mut() = head.headers;
    Request::from_http(req)
}

#[derive(Clone, Debug, PartialEq)]
struct Mark(u32);

#[test]
fn a_raw_request_answers_as_the_eager_one() {
    let (r, e) = (raw(), eager());
    assert_eq!(r.method(), e.method());
    assert_eq!(r.path(), e.path());
    assert_eq!(r.query_string(), e.query_string());
    assert_eq!(r.version(), e.version());
    assert_eq!(r.header("x-two"), Some("1"));
    assert_eq!(r.cookie("lang"), e.cookie("lang"));
    assert_eq!(r.cookie("theme"), Some("dark"));
    assert_eq!(r.uri(), e.uri());
    assert_eq!(r.headers(), e.headers());
    assert_eq!(r.headers().get_all("x-two").iter().count(), 2);
    assert!(r.extensions().get::<Mark>().is_none());
}

#[test]
fn extensions_and_lazy_parts_survive_each_other_and_into_http() {
    // Extensions set before the map is built, then the map, then more
    // extensions: all kept, and carried into the `http::Request`.
    let mut r = raw();
    r.extensions_mut().insert(Mark(1));
    assert_eq!(r.headers()["host"], "example.com");
    assert_eq!(r.extensions().get::<Mark>(), Some(&Mark(1)));
    r.extensions_mut().insert(7u8);
    let uri = r.uri().clone();
    let http = r.into_http();
    assert_eq!(http.extensions().get::<Mark>(), Some(&Mark(1)));
    assert_eq!(http.extensions().get::<u8>(), Some(&7));
    assert_eq!(http.uri(), &uri);
    assert_eq!(http.headers(), eager().headers());

    // Nothing asked before: built from the head.
    let http = raw().into_http();
    let want = eager().into_http();
    assert_eq!(http.method(), want.method());
    assert_eq!(http.uri(), want.uri());
    assert_eq!(http.version(), want.version());
    assert_eq!(http.headers(), want.headers());
    assert!(http.extensions().get::<Mark>().is_none());
}

#[test]
fn nested_states_and_sessions_need_the_lazy_parts_only_when_set() {
    let mut r = raw();
    assert!(r.session().is_err(), "no Sessions middleware");
    assert!(r.state::<u32>().is_none());
    r.push_state(Rc::new(AppState::default()));
    r.push_state(Rc::new(AppState::default()));
    assert_eq!(r.nested().len(), 2);
    assert!(r.state::<u32>().is_none());
    assert_eq!(r.header("host"), Some("example.com"));
}
