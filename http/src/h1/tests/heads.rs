//! Request heads: valid forms, every malformed case with its exact error,
//! limits at their boundary, all fed every way.

use bytes::BytesMut;
use http::{Method, StatusCode, Version};

use super::*;

fn parse(input: &[u8]) -> Result<Option<RequestHead>, ParseError> {
    parse_request_head(&mut BytesMut::from(input), &Limits::default())
}

fn head(input: &[u8]) -> RequestHead {
    parse_every_way(input, &Limits::default());
    match parse(input) {
        Ok(Some(h)) => h,
        other => panic!("{:?}: {other:?}", String::from_utf8_lossy(input)),
    }
}

#[test]
fn origin_form_get() {
    let h = head(b"GET /a/b?c=d HTTP/1.1\r\nHost: example.com\r\nX-Y: z\r\nx-y: w\r\n\r\n");
    assert_eq!(h.method, Method::GET);
    assert_eq!(h.uri.path(), "/a/b");
    assert_eq!(h.uri.query(), Some("c=d"));
    assert_eq!(h.version, Version::HTTP_11);
    let xy: Vec<_> = h.headers.get_all("x-y").iter().collect();
    assert_eq!(xy, ["z", "w"]);
    assert_eq!(h.headers["host"], "example.com");
    assert_eq!(h.body, BodyKind::Empty);
    assert!(h.keep_alive);
    assert!(!h.expect_continue);
    assert_eq!(h.upgrade, None);
}

#[test]
fn framing() {
    let cases: &[(&[u8], BodyKind)] = &[
        (
            b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\n",
            BodyKind::Length(5),
        ),
        (
            b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n",
            BodyKind::Empty,
        ),
        (
            b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 007\r\n\r\n",
            BodyKind::Length(7),
        ),
        (
            b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\n",
            BodyKind::Length(3),
        ),
        (
            b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3, 3\r\n\r\n",
            BodyKind::Length(3),
        ),
        (
            b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n",
            BodyKind::Chunked,
        ),
        (
            b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: ChUnKeD \r\n\r\n",
            BodyKind::Chunked,
        ),
        (
            b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: ,chunked,\r\n\r\n",
            BodyKind::Chunked,
        ),
        (
            b"POST / HTTP/1.0\r\nContent-Length: 2\r\n\r\n",
            BodyKind::Length(2),
        ),
    ];
    for (input, want) in cases {
        assert_eq!(
            head(input).body,
            *want,
            "{:?}",
            String::from_utf8_lossy(input)
        );
    }
    let max = b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 18446744073709551615\r\n\r\n";
    let limits = Limits {
        max_body_size: u64::MAX,
        ..Limits::default()
    };
    let h = parse_request_head(&mut BytesMut::from(&max[..]), &limits);
    assert_eq!(h.unwrap().unwrap().body, BodyKind::Length(u64::MAX));
}

#[test]
fn request_target_forms() {
    let h = head(b"GET http://x.org/p?q HTTP/1.1\r\nHost: x.org\r\n\r\n");
    assert_eq!(h.uri.scheme_str(), Some("http"));
    assert_eq!(h.uri.host(), Some("x.org"));
    assert_eq!(h.uri.path(), "/p");
    assert_eq!(head(b"OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n").uri, "*");
    let h = head(b"CONNECT x.org:443 HTTP/1.1\r\nHost: x.org:443\r\n\r\n");
    assert_eq!(h.uri.authority().unwrap(), "x.org:443");
    let h = head(b"PURGE /x HTTP/1.1\r\nHost: a\r\n\r\n");
    assert_eq!(h.method.as_str(), "PURGE");
}

#[test]
fn leading_empty_lines_are_skipped() {
    let h = head(b"\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n");
    assert_eq!(h.uri, "/");
    // They are dropped even before a request line arrives.
    let mut buf = BytesMut::from(&b"\r\n\r\n\r"[..]);
    assert!(parse_request_head(&mut buf, &Limits::default())
        .unwrap()
        .is_none());
    assert_eq!(&buf[..], b"\r");
    // Many of them cost neither a limit nor buffer space.
    let limits = Limits {
        max_head_size: 64,
        ..Limits::default()
    };
    let mut input = b"\r\n".repeat(1000);
    input.extend_from_slice(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n");
    let mut buf = BytesMut::from(&input[..]);
    assert!(parse_request_head(&mut buf, &limits).unwrap().is_some());
}

#[test]
fn connection_semantics() {
    let cases: &[(&[u8], bool)] = &[
        (b"GET / HTTP/1.1\r\nHost: a\r\n\r\n", true),
        (
            b"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
            false,
        ),
        (
            b"GET / HTTP/1.1\r\nHost: a\r\nConnection: foo, CLOSE\r\n\r\n",
            false,
        ),
        (
            b"GET / HTTP/1.1\r\nHost: a\r\nConnection: foo\r\nConnection: close\r\n\r\n",
            false,
        ),
        (
            b"GET / HTTP/1.1\r\nHost: a\r\nConnection: closed\r\n\r\n",
            true,
        ),
        (b"GET / HTTP/1.0\r\n\r\n", false),
        (b"GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n", true),
        (b"GET / HTTP/1.0\r\nConnection: x ,keep-alive\r\n\r\n", true),
        (
            b"GET / HTTP/1.0\r\nConnection: keep-alive, close\r\n\r\n",
            false,
        ),
    ];
    for (input, keep_alive) in cases {
        assert_eq!(
            head(input).keep_alive,
            *keep_alive,
            "{:?}",
            String::from_utf8_lossy(input)
        );
    }
    assert!(head(b"PUT / HTTP/1.1\r\nHost: a\r\nExpect: 100-Continue\r\n\r\n").expect_continue);
    assert!(!head(b"PUT / HTTP/1.1\r\nHost: a\r\nExpect: 100-continuex\r\n\r\n").expect_continue);
    let h = head(b"GET / HTTP/1.1\r\nHost: a\r\nConnection: keep-alive, Upgrade\r\nUpgrade: websocket\r\n\r\n");
    assert_eq!(h.upgrade.unwrap(), "websocket");
    // Upgrade without the Connection token is not an upgrade.
    assert_eq!(
        head(b"GET / HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\n\r\n").upgrade,
        None
    );
    // The Connection token without an Upgrade field names nothing; of two
    // Upgrade fields the first counts.
    assert_eq!(
        head(b"GET / HTTP/1.1\r\nHost: a\r\nConnection: upgrade\r\nX-A: b\r\n\r\n").upgrade,
        None
    );
    let h = head(b"GET / HTTP/1.1\r\nConnection: upgrade\r\nUpgrade: websocket\r\nUpgrade: h2c\r\nHost: a\r\n\r\n");
    assert_eq!(h.upgrade.unwrap(), "websocket");
}

/// Every malformed head, with the exact error.
#[test]
fn malformed_heads() {
    use ParseError::*;
    let cases: &[(&[u8], ParseError)] = &[
        // Host
        (b"GET / HTTP/1.1\r\n\r\n", BadRequest("missing Host header")),
        (b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", BadRequest("more than one Host header")),
        (b"GET / HTTP/1.1\r\nHost: a\r\nhost: a\r\n\r\n", BadRequest("more than one Host header")),
        (b"GET / HTTP/1.1\r\nHost: a b\r\n\r\n", BadRequest("invalid Host value")),
        (b"GET / HTTP/1.1\r\nHost: u@a\r\n\r\n", BadRequest("invalid Host value")),
        (b"GET / HTTP/1.0\r\nHost: a/b\r\n\r\n", BadRequest("invalid Host value")),
        // Content-Length
        (b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n", BadRequest("both Content-Length and Transfer-Encoding")),
        (b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 1\r\n\r\n", BadRequest("both Content-Length and Transfer-Encoding")),
        (b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", BadRequest("conflicting Content-Length values")),
        (b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1, 2\r\n\r\n", BadRequest("conflicting Content-Length values")),
        (b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: +5\r\n\r\n", BadRequest("invalid Content-Length")),
        (b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: -1\r\n\r\n", BadRequest("invalid Content-Length")),
        (b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0x10\r\n\r\n", BadRequest("invalid Content-Length")),
        (b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: \r\n\r\n", BadRequest("invalid Content-Length")),
        (b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1 2\r\n\r\n", BadRequest("invalid Content-Length")),
        (b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5,\r\n\r\n", BadRequest("invalid Content-Length")),
        (b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1.0\r\n\r\n", BadRequest("invalid Content-Length")),
        (b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 18446744073709551616\r\n\r\n", BadRequest("invalid Content-Length")),
        (b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 99999999999999999999999\r\n\r\n", BadRequest("invalid Content-Length")),
        // Transfer-Encoding
        (b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\n", BadRequest("chunked must be the final transfer coding, once")),
        (b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, gzip\r\n\r\n", BadRequest("chunked must be the final transfer coding, once")),
        (b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n", BadRequest("chunked must be the final transfer coding, once")),
        (b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, chunked\r\n\r\n", BadRequest("chunked must be the final transfer coding, once")),
        (b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: \r\n\r\n", BadRequest("chunked must be the final transfer coding, once")),
        (b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked;q=1\r\n\r\n", BadRequest("chunked must be the final transfer coding, once")),
        (b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: xchunked\r\n\r\n", BadRequest("chunked must be the final transfer coding, once")),
        (b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", NotImplemented("transfer codings other than chunked")),
        (b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n", NotImplemented("transfer codings other than chunked")),
        (b"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", BadRequest("Transfer-Encoding in an HTTP/1.0 request")),
        // Field syntax
        (b"GET / HTTP/1.1\r\nHost: a\r\nX: a\r\n b\r\n\r\n", BadRequest("invalid header name")), // obs-fold
        (b"GET / HTTP/1.1\r\nHost: a\r\nX: a\r\n\tb\r\n\r\n", BadRequest("invalid header name")), // obs-fold
        (b"GET / HTTP/1.1\r\n Host: a\r\n\r\n", BadRequest("invalid header name")),
        (b"GET / HTTP/1.1\r\nHost: a\r\nX: a\rb\r\n\r\n", BadRequest("invalid header value")), // bare CR
        (b"GET / HTTP/1.1\r\nHost: a\r\nX: a\0b\r\n\r\n", BadRequest("invalid header value")),
        (b"GET / HTTP/1.1\r\nHost: a\r\nX: a\x7fb\r\n\r\n", BadRequest("invalid header value")),
        (b"GET / HTTP/1.1\r\nHost: a\r\nX: a\x01\r\n\r\n", BadRequest("invalid header value")),
        (b"GET / HTTP/1.1\r\nHost: a\r\nX Y: z\r\n\r\n", BadRequest("invalid header name")),
        (b"GET / HTTP/1.1\r\nHost: a\r\nX\x01: z\r\n\r\n", BadRequest("invalid header name")),
        (b"GET / HTTP/1.1\r\nHost: a\r\nX\xc3\xa9: z\r\n\r\n", BadRequest("invalid header name")),
        (b"GET / HTTP/1.1\r\nHost : a\r\n\r\n", BadRequest("invalid header name")),
        (b"GET / HTTP/1.1\r\n: a\r\n\r\n", BadRequest("invalid header name")),
        (b"GET / HTTP/1.1\r\nHost a\r\n\r\n", BadRequest("invalid header name")),
        (b"GET / HTTP/1.1\r\nHost: a\r\r\n\r\n", BadRequest("invalid header value")),
        // Line endings
        (b"GET / HTTP/1.1\nHost: a\r\n\r\n", BadRequest("bare LF line ending")),
        (b"GET / HTTP/1.1\r\nHost: a\n\r\n", BadRequest("bare LF line ending")),
        (b"GET / HTTP/1.1\r\nHost: a\r\n\n", BadRequest("bare LF line ending")),
        (b"\nGET / HTTP/1.1\r\nHost: a\r\n\r\n", BadRequest("bare LF line ending")),
        (b"\r\n\nGET / HTTP/1.1\r\nHost: a\r\n\r\n", BadRequest("bare LF line ending")),
        (b"GET / HTTP/1.1\r\nHost: a\r\nX: b\nY: c\r\n\r\n", BadRequest("bare LF line ending")),
        (b"GET / HTTP/1.1\r\nHost: a\r\nX: b \nY: c\r\n\r\n", BadRequest("bare LF line ending")),
        (b"GET / HTTP/1.0\n\r\n", BadRequest("bare LF line ending")),
        (b"GET / HTTP/1.0\r\n\n", BadRequest("bare LF line ending")),
        (b"GET / HTTP/1.0\n\n", BadRequest("bare LF line ending")),
        (b"\rGET / HTTP/1.1\r\nHost: a\r\n\r\n", BadRequest("invalid line ending")),
        (b"GET / HTTP/1.1\rHost: a\r\n\r\n", BadRequest("invalid line ending")),
        // Request line
        (b"G(T / HTTP/1.1\r\nHost: a\r\n\r\n", BadRequest("invalid method or request target")),
        (b"GET  / HTTP/1.1\r\nHost: a\r\n\r\n", BadRequest("invalid method or request target")),
        (b"GET /  HTTP/1.1\r\nHost: a\r\n\r\n", BadRequest("malformed HTTP version")),
        (b"GET\t/ HTTP/1.1\r\nHost: a\r\n\r\n", BadRequest("invalid method or request target")),
        (b"GET / HTTP/1.1 \r\nHost: a\r\n\r\n", BadRequest("invalid line ending")),
        (b"GET /\r\n\r\n", BadRequest("invalid method or request target")),
        (b" GET / HTTP/1.1\r\nHost: a\r\n\r\n", BadRequest("invalid method or request target")),
        (b"GET /a\x00 HTTP/1.1\r\nHost: a\r\n\r\n", BadRequest("invalid method or request target")),
        (b"GET /\xff HTTP/1.1\r\nHost: a\r\n\r\n", BadRequest("invalid method or request target")),
        (b"GET /\xc3\xa9 HTTP/1.1\r\nHost: a\r\n\r\n", BadRequest("request target has a fragment or non-ASCII bytes")),
        (b"GET /a#b HTTP/1.1\r\nHost: a\r\n\r\n", BadRequest("request target has a fragment or non-ASCII bytes")),
        (b"GET * HTTP/1.1\r\nHost: a\r\n\r\n", BadRequest("asterisk-form is only for OPTIONS")),
        (b"GET foo HTTP/1.1\r\nHost: a\r\n\r\n", BadRequest("request target is neither origin- nor absolute-form")),
        (b"GET x.org:80 HTTP/1.1\r\nHost: a\r\n\r\n", BadRequest("request target is neither origin- nor absolute-form")),
        (b"GET /a`b HTTP/1.1\r\nHost: a\r\n\r\n", BadRequest("invalid request target")),
        (b"CONNECT /x HTTP/1.1\r\nHost: a\r\n\r\n", BadRequest("CONNECT needs authority-form")),
        (b"CONNECT x.org HTTP/1.1\r\nHost: a\r\n\r\n", BadRequest("CONNECT needs authority-form host:port")),
        (b"CONNECT u@x.org:443 HTTP/1.1\r\nHost: a\r\n\r\n", BadRequest("CONNECT needs authority-form")),
        // Versions
        (b"GET / HTTP/2.0\r\nHost: a\r\n\r\n", VersionNotSupported),
        (b"GET / HTTP/1.2\r\nHost: a\r\n\r\n", VersionNotSupported),
        (b"GET / HTTP/3\r\nHost: a\r\n\r\n", VersionNotSupported),
        (b"GET / HTTP/9.9\r\nHost: a\r\n\r\n", VersionNotSupported),
        (b"GET / HTTP/0.9\r\n\r\n", VersionNotSupported),
        (b"GET / HTTP/1.1x\r\nHost: a\r\n\r\n", BadRequest("invalid line ending")),
        (b"GET / HTTP/1.5x\r\nHost: a\r\n\r\n", VersionNotSupported),
        (b"GET / HTTP/x\r\nHost: a\r\n\r\n", BadRequest("malformed HTTP version")),
        (b"GET / FOO/1.1\r\nHost: a\r\n\r\n", BadRequest("malformed HTTP version")),
        (b"GET / http/1.1\r\nHost: a\r\n\r\n", BadRequest("malformed HTTP version")),
        (b"GET / HTTP/1.1\r\n\r\n\r\n", BadRequest("missing Host header")),
    ];
    for (input, want) in cases {
        let name = String::from_utf8_lossy(input);
        assert_eq!(parse(input).unwrap_err(), *want, "{name:?}");
        // The same verdict whichever way the bytes arrive.
        parse_every_way(input, &Limits::default());
    }
}

#[test]
fn statuses_of_errors() {
    use ParseError::*;
    let cases = [
        (BadRequest("x"), 400),
        (HeadTooLarge, 431),
        (TooManyHeaders, 431),
        (UriTooLong, 414),
        (BodyTooLarge, 413),
        (NotImplemented("x"), 501),
        (VersionNotSupported, 505),
    ];
    for (e, code) in cases {
        assert_eq!(e.status().as_u16(), code, "{e}");
    }
}

/// A target over the limit is refused as soon as its first octet too many
/// arrives: what follows it is never looked at, however short the method,
/// and empty lines before the request line do not move the measure.
#[test]
fn uri_too_long_is_decided_at_the_limit() {
    let limits = Limits {
        max_uri_len: 8,
        max_head_size: 200,
        ..Limits::default()
    };
    let fields = "Host: a\r\nX-Fill: 0123456789abcdef0123456789abcdef\r\n\r\n";
    for head in [
        format!("GET /aaaaaaaa\x01 HTTP/1.1\r\n{fields}"),
        format!("A /aaaaaaaa\x01 HTTP/1.1\r\n{fields}"),
        format!("\n\nGET /aaaaaaaa\x01 HTTP/1.1\r\n{fields}"),
        format!("\nGET /aaaaaaaa HTTP/1.1\r\n{fields}"),
    ] {
        let out = parse_every_way(head.as_bytes(), &limits);
        assert_eq!(
            out,
            head_outcome(&Err(ParseError::UriTooLong), b""),
            "{head:?}"
        );
    }
}

/// Limits: the limit itself passes, one more is rejected, whole or in pieces.
#[test]
fn limits_at_the_boundary() {
    let limits = Limits {
        max_headers: 4,
        max_uri_len: 20,
        max_head_size: 200,
        max_body_size: 100,
        ..Limits::default()
    };
    let ok = |s: &[u8]| {
        let out = parse_every_way(s, &limits);
        assert!(out.starts_with("Ok(Some("), "{out}");
    };
    let err = |s: &[u8], e: ParseError| {
        let out = parse_every_way(s, &limits);
        assert_eq!(out, head_outcome(&Err(e), b""));
    };
    // Fields: 4 OK, 5 → 431.
    ok(b"GET / HTTP/1.1\r\nHost: a\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n");
    err(
        b"GET / HTTP/1.1\r\nHost: a\r\nA: 1\r\nB: 2\r\nC: 3\r\nD: 4\r\n\r\n",
        ParseError::TooManyHeaders,
    );
    // Target: 20 OK, 21 → 414, complete or not.
    let target = |n: usize| format!("GET /{} HTTP/1.1\r\nHost: a\r\n\r\n", "a".repeat(n - 1));
    ok(target(20).as_bytes());
    err(target(21).as_bytes(), ParseError::UriTooLong);
    let partial = |n: usize| format!("GET /{}", "a".repeat(n - 1));
    assert!(parse_every_way(partial(20).as_bytes(), &limits).starts_with("Ok(None)"));
    err(partial(21).as_bytes(), ParseError::UriTooLong);
    // Head: 200 bytes OK, 201 → 431, complete or not.
    let base = b"GET / HTTP/1.1\r\nHost: a\r\nX: \r\n\r\n".len();
    let fill = |n: usize| {
        format!(
            "GET / HTTP/1.1\r\nHost: a\r\nX: {}\r\n\r\n",
            "v".repeat(n - base)
        )
    };
    ok(fill(200).as_bytes());
    err(fill(201).as_bytes(), ParseError::HeadTooLarge);
    let unfinished = |n: usize| {
        let mut s = fill(n + 4).into_bytes();
        s.truncate(n);
        s
    };
    assert!(parse_every_way(&unfinished(200), &limits).starts_with("Ok(None)"));
    err(&unfinished(201), ParseError::HeadTooLarge);
    // Declared body: 100 OK, 101 → 413, also with Expect: 100-continue.
    ok(b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 100\r\n\r\n");
    err(
        b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 101\r\n\r\n",
        ParseError::BodyTooLarge,
    );
    err(
        b"POST / HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 101\r\n\r\n",
        ParseError::BodyTooLarge,
    );
    assert_eq!(
        ParseError::BodyTooLarge.status(),
        StatusCode::PAYLOAD_TOO_LARGE
    );
}

/// Above 64 fields the parser retries with heap slots: same boundary.
#[test]
fn many_headers_past_the_stack_array() {
    let limits = Limits {
        max_headers: 70,
        ..Limits::default()
    };
    let with = |n: usize| {
        let mut s = String::from("GET / HTTP/1.1\r\nHost: a\r\n");
        for i in 1..n {
            s.push_str(&format!("X-{i}: {i}\r\n"));
        }
        s.push_str("\r\n");
        s
    };
    let mut buf = BytesMut::from(with(70).as_bytes());
    let h = parse_request_head(&mut buf, &limits).unwrap().unwrap();
    assert_eq!(h.headers.len(), 70);
    assert_eq!(h.headers["x-69"], "69");
    let mut buf = BytesMut::from(with(71).as_bytes());
    assert_eq!(
        parse_request_head(&mut buf, &limits).unwrap_err(),
        ParseError::TooManyHeaders
    );
    // The default limit (100) works too.
    let mut buf = BytesMut::from(with(100).as_bytes());
    assert!(parse_request_head(&mut buf, &Limits::default()).is_ok());
    let mut buf = BytesMut::from(with(101).as_bytes());
    assert_eq!(
        parse_request_head(&mut buf, &Limits::default()).unwrap_err(),
        ParseError::TooManyHeaders
    );
    // A limit of 0 fields admits only HTTP/1.0 heads without any.
    let none = Limits {
        max_headers: 0,
        ..Limits::default()
    };
    let mut buf = BytesMut::from(&b"GET / HTTP/1.0\r\n\r\n"[..]);
    assert!(parse_request_head(&mut buf, &none).unwrap().is_some());
    let mut buf = BytesMut::from(&b"GET / HTTP/1.0\r\nA: b\r\n\r\n"[..]);
    assert_eq!(
        parse_request_head(&mut buf, &none).unwrap_err(),
        ParseError::TooManyHeaders
    );
}

#[test]
fn incomplete_heads_wait_for_more() {
    let full = b"GET /x HTTP/1.1\r\nHost: a\r\n\r\n";
    for cut in 0..full.len() {
        assert!(parse(&full[..cut]).unwrap().is_none(), "cut at {cut}");
    }
}

#[test]
fn values_share_the_head_buffer() {
    let mut buf =
        BytesMut::from(&b"GET /p HTTP/1.1\r\nHost: a\r\nX-Long: abcdefghijklmnop\r\n\r\n"[..]);
    let start = buf.as_ptr() as usize;
    let end = start + buf.len();
    let h = parse_request_head(&mut buf, &Limits::default())
        .unwrap()
        .unwrap();
    let v = h.headers["x-long"].as_bytes().as_ptr() as usize;
    assert!((start..end).contains(&v), "value was copied");
}

/// Every LF in `bytes` follows a CR.
fn crlf_everywhere(bytes: &[u8]) -> bool {
    bytes
        .iter()
        .enumerate()
        .all(|(i, &b)| b != b'\n' || (i > 0 && bytes[i - 1] == b'\r'))
}

#[test]
fn no_accepted_head_has_a_bare_lf() {
    // The parser checks line endings only where httparse ended lines; this
    // drops or inserts CR and LF bytes all over valid heads and checks, byte
    // by byte, that whatever is accepted ends every line in CRLF.
    let bases: [&[u8]; 3] = [
        b"GET /a?b=c HTTP/1.1\r\nHost: h\r\nX-A: 1 2\r\nX-B:\r\n\r\n",
        b"\r\n\r\nPOST /u HTTP/1.1\r\nHost: h:80\r\nContent-Length: 2\r\n\r\nhi",
        b"GET / HTTP/1.0\r\n\r\n",
    ];
    let mut seed = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let mut accepted = 0;
    for _ in 0..20_000 {
        let base = bases[(next() % 3) as usize];
        let mut input = base.to_vec();
        for _ in 0..1 + next() % 3 {
            let at = (next() % input.len() as u64) as usize;
            match next() % 4 {
                0 => input[at] = b'\n',
                1 => input.insert(at, b'\n'),
                2 if input[at] == b'\r' => {
                    input.remove(at);
                }
                _ => input.insert(at, b'\r'),
            }
        }
        let mut buf = BytesMut::from(&input[..]);
        if let Ok(Some(_)) = parse_request_head(&mut buf, &Limits::default()) {
            let head_len = input.len() - buf.len();
            assert!(
                crlf_everywhere(&input[..head_len]),
                "accepted a bare LF: {:?}",
                String::from_utf8_lossy(&input)
            );
            accepted += 1;
        }
    }
    assert!(accepted > 0, "the mutations left nothing to accept");
}
