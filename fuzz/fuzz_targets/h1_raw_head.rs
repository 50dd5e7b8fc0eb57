//! Arbitrary bytes into `parse_raw_head`, the borrowed request head. Checks:
//! no panic; exactly the verdict of the httparse-based parser the scanner
//! replaced (`h1::reference`: the same error, or the same head and rest of
//! the buffer); the same verdict as `parse_request_head` (which builds `http`
//! types) on the same bytes, errors with the same status; and for an
//! accepted head, every answer it gives from its offsets (path, query,
//! field lookups) equals the one the `http` types built from it give, with
//! no field or target those types refuse (the checks made up front are
//! at least as strict as theirs).
#![no_main]
use bytes::{Bytes, BytesMut};
use http::Uri;
use libfuzzer_sys::fuzz_target;
use percore_http::h1::{parse_raw_head, parse_request_head, reference};
use percore_http::Limits;

fn limits() -> Limits {
    // Small limits so that the fuzzer reaches every boundary.
    Limits::default()
        .max_head_size(1024)
        .max_headers(24)
        .max_uri_len(128)
        .max_body_size(4096)
}

fuzz_target!(|data: &[u8]| {
    let limits = limits();
    let mut raw_buf = BytesMut::from(data);
    let raw = parse_raw_head(&mut raw_buf, &limits);
    let mut ref_buf = BytesMut::from(data);
    let reference = reference::parse_raw_head(&mut ref_buf, &limits);
    match (&raw, &reference) {
        (Err(a), Err(b)) => assert_eq!(a, b),
        (Ok(None), Ok(None)) => assert_eq!(raw_buf, ref_buf),
        (Ok(Some(a)), Ok(Some(b))) => {
            assert_eq!(raw_buf, ref_buf);
            assert_eq!(reference::answers(a), reference::answers(b));
        }
        _ => panic!("scanner {raw:?} but reference {reference:?}"),
    }
    let mut eager_buf = BytesMut::from(data);
    let eager = parse_request_head(&mut eager_buf, &limits);
    match (&raw, &eager) {
        (Ok(None), Ok(None)) => assert_eq!(raw_buf, eager_buf),
        (Ok(Some(_)), Ok(Some(_))) => assert_eq!(raw_buf, eager_buf),
        (Err(a), Err(b)) => assert_eq!(a.status(), b.status()),
        _ => panic!("raw {raw:?} but eager {eager:?}"),
    }
    let Ok(Some(head)) = raw else { return };
    // The head came off the front (after any empty lines); the rest is
    // untouched.
    assert!(data.ends_with(&raw_buf));
    let head_end = data.len() - raw_buf.len();
    assert!(data[..head_end].ends_with(head.as_bytes()));
    // The target is one `Uri` accepts, with the same path and query.
    let target = Bytes::copy_from_slice(head.target_str().as_bytes());
    let uri = head.uri();
    if target.first() == Some(&b'/') {
        let parsed = Uri::from_maybe_shared(target).expect("origin-form target Uri refuses");
        assert_eq!(parsed, uri);
    }
    assert_eq!(head.path(), uri.path());
    assert_eq!(head.query(), uri.query());
    // Every field is one `HeaderMap` takes, and lookups agree.
    let map = head.headers();
    assert_eq!(map.len(), head.field_count());
    for (name, value) in head.fields() {
        let name = std::str::from_utf8(name).expect("field name is ASCII");
        let first = map.get(name).expect("field in the map");
        assert_eq!(head.header_bytes(name), Some(first.as_bytes()));
        assert_eq!(head.header(name), first.to_str().ok());
        assert!(map.get_all(name).iter().any(|v| v.as_bytes() == value));
    }
    // And the whole request built from it carries the same head.
    let req = head.clone().into_request(());
    assert_eq!(req.method(), head.method());
    assert_eq!(req.headers(), &map);
});
