//! The borrowed head: its checks are those of the `http` types it no longer
//! builds up front, its answers those of the types built from it, and
//! malformed heads get the statuses they always got.

use bytes::{Bytes, BytesMut};
use http::header::HeaderName;
use http::{Method, Uri};

use super::super::parse_raw_head;
use super::super::target::origin_form_ok;
use super::*;
use crate::Limits;

fn raw(input: &[u8]) -> Result<Option<RawHead>, ParseError> {
    parse_raw_head(&mut BytesMut::from(input), &Limits::default())
}

fn ok(input: &[u8]) -> RawHead {
    raw(input).unwrap().unwrap()
}

/// The raw answers equal those of the `http` types built from the head.
fn assert_consistent(h: &RawHead) {
    let uri = h.uri();
    assert_eq!(h.path(), uri.path());
    assert_eq!(h.path_bytes(), uri.path().as_bytes());
    assert_eq!(h.query(), uri.query());
    let map = h.headers();
    assert_eq!(
        map.len(),
        h.field_count(),
        "every field made it into the map"
    );
    for (name, _) in h.fields() {
        let name = std::str::from_utf8(name).unwrap();
        assert_eq!(
            h.header(name),
            map.get(name).and_then(|v| v.to_str().ok()),
            "{name}"
        );
        assert_eq!(h.header_bytes(name), map.get(name).map(|v| v.as_bytes()));
    }
    assert_eq!(h.header("absent"), None);
    let req = h.clone().into_request(());
    assert_eq!(req.method(), h.method());
    assert_eq!(req.uri(), &uri);
    assert_eq!(req.version(), h.version());
    assert_eq!(req.headers(), &map);
}

/// `b` in a field name (`X<b>: v`) or value (`X: a<b>b`), through the
/// whole parser.
fn accepted_in_field(b: u8, in_name: bool) -> bool {
    let mut input = b"GET / HTTP/1.1\r\nHost: a\r\n".to_vec();
    if in_name {
        input.extend_from_slice(&[b'X', b, b':', b' ', b'v']);
    } else {
        input.extend_from_slice(&[b'X', b':', b' ', b'a', b, b'b']);
    }
    input.extend_from_slice(b"\r\n\r\n");
    match raw(&input) {
        Ok(Some(h)) => {
            assert_eq!(
                h.headers().len(),
                2,
                "byte {b:#x}: accepted but not mappable"
            );
            true
        }
        Ok(None) => panic!("byte {b:#x}: incomplete"),
        Err(_) => false,
    }
}

#[test]
fn field_bytes_are_refused_as_the_http_types_refuse_them() {
    // The parser relies on httparse for the bytes of names and values:
    // every byte is accepted exactly when `HeaderName` / `HeaderValue`
    // accept it (the line-structure bytes aside).
    for b in (0..=255u8).filter(|b| !matches!(b, b'\r' | b'\n' | b':')) {
        assert_eq!(
            accepted_in_field(b, true),
            HeaderName::from_bytes(&[b'x', b]).is_ok(),
            "name byte {b:#x}"
        );
    }
    for b in (0..=255u8).filter(|b| !matches!(b, b'\r' | b'\n')) {
        assert_eq!(
            accepted_in_field(b, false),
            http::HeaderValue::from_bytes(&[b'a', b, b'b']).is_ok(),
            "value byte {b:#x}"
        );
        // And the text lookup agrees with `HeaderValue::to_str`.
        let value = [b'a', b, b'b'];
        let text = http::HeaderValue::from_bytes(&value)
            .ok()
            .and_then(|v| v.to_str().ok().map(str::to_owned));
        assert_eq!(
            visible_ascii(&value).then(|| String::from_utf8(value.to_vec()).unwrap()),
            text,
            "byte {b:#x}"
        );
    }
    assert!(valid_name(&vec![b'a'; 65_535]));
    assert!(!valid_name(&vec![b'a'; 65_536]));
    assert!(HeaderName::from_bytes(&vec![b'a'; 65_536]).is_err());
    // A name that long is refused with 400 when the limits let it through.
    let limits = Limits::default().max_head_size(200_000);
    let mut input = b"GET / HTTP/1.1\r\nHost: a\r\n".to_vec();
    input.extend(std::iter::repeat_n(b'n', 65_536));
    input.extend_from_slice(b": v\r\n\r\n");
    let err = parse_raw_head(&mut BytesMut::from(&input[..]), &limits).unwrap_err();
    assert_eq!(err.status().as_u16(), 400);
}

#[test]
fn origin_form_targets_are_checked_as_uri_checks_them() {
    // Every ASCII byte (but `#`, refused before either check) in the path
    // and in the query.
    for b in (0..0x80u8).filter(|&b| b != b'#') {
        for target in [vec![b'/', b'a', b], vec![b'/', b'?', b'a', b]] {
            let uri = Uri::from_maybe_shared(Bytes::from(target.clone()));
            let mine = origin_form_ok(&target);
            assert_eq!(mine.is_ok(), uri.is_ok(), "target {target:?}");
            if let (Ok(q), Ok(uri)) = (mine, uri) {
                assert_eq!(q.map(|q| &target[q..]), uri.query().map(str::as_bytes));
            }
        }
    }
    let long = [b"/".as_slice(), &vec![b'a'; 65_534]].concat();
    assert_eq!(
        origin_form_ok(&long).is_ok(),
        Uri::from_maybe_shared(Bytes::from(long.clone())).is_ok()
    );
    let too_long = [long.as_slice(), b"a"].concat();
    assert!(origin_form_ok(&too_long).is_err());
    assert!(Uri::from_maybe_shared(Bytes::from(too_long)).is_err());
}

#[test]
fn answers_match_the_built_types() {
    for input in [
        &b"GET / HTTP/1.1\r\nHost: a\r\n\r\n"[..],
        b"GET /plaintext HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nUser-Agent: h2load\r\n\r\n",
        b"GET /a/b?x=1&y=%20 HTTP/1.1\r\nhost: a\r\nACCEPT: text/html\r\naccept: */*\r\n\r\n",
        b"GET /? HTTP/1.1\r\nHost: a\r\nX-Empty:\r\nX-Obs: caf\xc3\xa9\r\n\r\n",
        b"GET /{\"a\"} HTTP/1.0\r\n\r\n",
        b"GET http://example.com/p?q HTTP/1.1\r\nHost: example.com\r\n\r\n",
        b"GET http://example.com HTTP/1.1\r\nHost: example.com\r\n\r\n",
        b"OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n",
        b"CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n",
        b"POST /u HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabc",
        b"PURGE /cache HTTP/1.1\r\nHost: a\r\n\r\n",
    ] {
        assert_consistent(&ok(input));
    }
}

#[test]
fn many_fields_and_long_heads_live_on_the_heap() {
    let mut input = b"GET /x HTTP/1.1\r\nHost: a\r\n".to_vec();
    for i in 0..40 {
        input.extend_from_slice(format!("X-F{i}: v{i}\r\n").as_bytes());
    }
    input.extend_from_slice(b"\r\n");
    let h = ok(&input);
    assert_eq!(h.field_count(), 41);
    assert_eq!(h.header("x-f39"), Some("v39"));
    assert_consistent(&h);

    // A head over 64 KiB cannot use 16-bit offsets.
    let limits = Limits::default().max_head_size(200_000);
    let mut input = b"GET /y HTTP/1.1\r\nHost: a\r\nX-Big: ".to_vec();
    input.extend(std::iter::repeat_n(b'b', 70_000));
    input.extend_from_slice(b"\r\nX-After: yes\r\n\r\n");
    let h = parse_raw_head(&mut BytesMut::from(&input[..]), &limits)
        .unwrap()
        .unwrap();
    assert_eq!(h.header("x-after"), Some("yes"));
    assert_eq!(h.header_bytes("x-big").map(<[u8]>::len), Some(70_000));
    assert_consistent(&h);
}

#[test]
fn framing_and_connection_facts() {
    let h = ok(b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nConnection: close\r\nExpect: 100-continue\r\n\r\n");
    assert_eq!(h.body_kind(), BodyKind::Chunked);
    assert!(!h.keep_alive());
    assert!(h.expect_continue());
    assert!(!h.wants_upgrade());

    let h = ok(b"GET / HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nUpgrade: h2c\r\nConnection: Upgrade\r\n\r\n");
    assert!(h.wants_upgrade());
    assert_eq!(h.upgrade().unwrap(), "websocket");
    // Upgrade without the Connection token is not an upgrade.
    let h = ok(b"GET / HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\n\r\n");
    assert!(!h.wants_upgrade() && h.upgrade().is_none());
    // HTTP/1.0 keeps the connection only when asked.
    assert!(!ok(b"GET / HTTP/1.0\r\n\r\n").keep_alive());
    assert!(ok(b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n").keep_alive());
    assert_eq!(
        *ok(b"DELETE / HTTP/1.1\r\nHost: a\r\n\r\n").method(),
        Method::DELETE
    );
}

#[test]
fn malformed_heads_get_their_status() {
    let limits = Limits::default().max_uri_len(16);
    for (input, status) in [
        (&b"GET / HTTP/1.1\r\n\r\n"[..], 400),                     // no Host
        (b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400),     // two
        (b"GET / HTTP/1.1\r\nHost: a b\r\n\r\n", 400),              // bad Host
        (b"GET / HTTP/1.1\nHost: a\r\n\r\n", 400),                  // bare LF
        (b"GET / HTTP/1.1\r\nHost: a\n\r\n", 400),                  // bare LF
        (b"GET / HTTP/1.1\r\nHost: a\r\nX: a\r\n b\r\n\r\n", 400),  // obs-fold
        (b"GET / HTTP/1.1\r\nHost: a\r\nX\x01: b\r\n\r\n", 400),    // bad name
        (b"GET / HTTP/1.1\r\nHost: a\r\nX: a\x7fb\r\n\r\n", 400),   // DEL
        (b"GET / HTTP/1.1\r\nHost: a\r\n: b\r\n\r\n", 400),         // empty name
        (b"GET /a b HTTP/1.1\r\nHost: a\r\n\r\n", 400),             // space
        (b"GET /a#f HTTP/1.1\r\nHost: a\r\n\r\n", 400),             // fragment
        (b"GET /\xc3\xa9 HTTP/1.1\r\nHost: a\r\n\r\n", 400),        // non-ASCII
        (b"GET /a<b HTTP/1.1\r\nHost: a\r\n\r\n", 400),             // Uri refuses
        (b"GET /?a<b HTTP/1.1\r\nHost: a\r\n\r\n", 400),            // Uri refuses
        (b"GET a/b HTTP/1.1\r\nHost: a\r\n\r\n", 400),              // no form
        (b"GET * HTTP/1.1\r\nHost: a\r\n\r\n", 400),                // * not OPTIONS
        (b"CONNECT /x HTTP/1.1\r\nHost: a\r\n\r\n", 400),           // not authority
        (b"G\x01T / HTTP/1.1\r\nHost: a\r\n\r\n", 400),             // method
        (b"GET / HTTP/2.0\r\nHost: a\r\n\r\n", 505),
        (b"GET / HTTP/1.1 \r\nHost: a\r\n\r\n", 400),
        (b"GET /0123456789abcdef0 HTTP/1.1\r\nHost: a\r\n\r\n", 414),
        (b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", 400),
        (b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: +1\r\n\r\n", 400),
        (b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n", 400),
        (b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, gzip\r\n\r\n", 400),
        (b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", 501),
        (b"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", 400),
        (b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 99999999999999\r\n\r\n", 413),
    ] {
        let got = parse_raw_head(&mut BytesMut::from(input), &limits);
        let err = got.expect_err(&String::from_utf8_lossy(input));
        assert_eq!(
            err.status().as_u16(),
            status,
            "{:?}: {err:?}",
            String::from_utf8_lossy(input)
        );
    }
    // Incomplete heads ask for more, whatever they hold so far.
    for input in [&b"GET / HTTP/1.1\r\nHost: a\r\n"[..], b"GET /a?b", b"\r\n"] {
        assert!(matches!(raw(input), Ok(None)), "{input:?}");
    }
}

#[test]
fn a_pooled_box_carries_nothing_of_the_head_it_held_before() {
    let many: String = (0..12).map(|i| format!("X-F{i}: {i}\r\n")).collect();
    // An extension method longer than 15 bytes is allocated, not inline.
    let rich = format!(
        "PURGE-EVERY-CACHED-COPY http://example.com/a?b=1 HTTP/1.1\r\nHost: example.com\r\n{many}\
         Connection: upgrade\r\nUpgrade: websocket\r\nExpect: 100-continue\r\n\
         Content-Length: 5\r\n\r\n"
    );
    let plain = b"GET /p HTTP/1.0\r\nHost: x\r\n\r\n";
    let expected = crate::h1::reference::verdict(&raw(plain), b"");
    for _ in 0..3 {
        // The rich head's box goes back to the pool and serves the plain one.
        let head = ok(rich.as_bytes());
        assert!(head.wants_upgrade() && head.expect_continue());
        assert_eq!(head.field_count(), 17);
        assert_eq!(head.method().as_str(), "PURGE-EVERY-CACHED-COPY");
        let parts: *const RawHeadParts = &*head;
        drop(head);
        let head = ok(plain);
        assert!(
            std::ptr::eq(parts, &*head),
            "the box came back from the pool"
        );
        assert_eq!(
            crate::h1::reference::verdict(&Ok(Some(head.clone())), b""),
            expected
        );
        assert_eq!(head.method(), Method::GET);
        assert_eq!(head.uri(), "/p");
        assert_eq!(head.field_count(), 1);
        assert!(!head.wants_upgrade() && !head.expect_continue());
        assert_eq!(head.body_kind(), BodyKind::Empty);
        assert!(!head.keep_alive());
        // A clone shares the parts, and outlives the original.
        let copy = head.clone();
        assert!(std::ptr::eq(&*copy, &*head), "a clone shares the parts");
        drop(head);
        assert_eq!(
            crate::h1::reference::verdict(&Ok(Some(copy)), b""),
            expected
        );
    }
}

#[test]
fn memo_answered_heads_share_the_memos_parts_until_the_last_one_goes() {
    let limits = crate::Limits::default();
    let mut memo = crate::h1::HeadMemo::new();
    let one = b"GET /m HTTP/1.1\r\nHost: x\r\n\r\n";
    let mut buf = BytesMut::from(&one.repeat(4)[..]);
    let mut next = || memo.parse(&mut buf, &limits).unwrap().unwrap();
    let (first, second) = (next(), next()); // bytes kept, then the head kept
    let (third, fourth) = (next(), next()); // both from the memo
    assert!(std::ptr::eq(&*third, &*fourth), "one set of parts");
    assert!(!std::ptr::eq(&*first, &*third) && !std::ptr::eq(&*second, &*third));
    let before = BOXES.with(|pool| pool.len());
    drop((third, fourth));
    // The memo still holds the parts: nothing went back to the pool.
    assert_eq!(BOXES.with(|pool| pool.len()), before);
    drop(memo);
    assert_eq!(
        BOXES.with(|pool| pool.len()),
        before + 1,
        "the last handle gave the box back"
    );
    drop((first, second));
    assert_eq!(BOXES.with(|pool| pool.len()), before + 3);
}

#[test]
fn a_head_moves_as_a_pointer() {
    assert_eq!(std::mem::size_of::<RawHead>(), std::mem::size_of::<usize>());
    assert!(std::mem::size_of::<crate::Reply>() <= 88);
}

#[test]
fn the_core_keeps_at_most_its_bound_of_head_boxes() {
    let input = b"GET /a HTTP/1.1\r\nHost: x\r\n\r\n";
    // More live heads at once than the pool keeps, then all dropped.
    let heads: Vec<RawHead> = (0..MAX_POOLED_HEADS + 40).map(|_| ok(input)).collect();
    drop(heads);
    assert_eq!(BOXES.with(|pool| pool.len()), MAX_POOLED_HEADS);
    // Taken again, the kept boxes serve as many heads with no new box.
    let again: Vec<RawHead> = (0..MAX_POOLED_HEADS).map(|_| ok(input)).collect();
    assert_eq!(BOXES.with(|pool| pool.len()), 0);
    assert!(again.iter().all(|h| h.path() == "/a"));
}
