//! Table tests of the HTTP/1.1 codec: valid heads, every malformed case with
//! its status, body framing fed whole and byte by byte.

use bytes::{Bytes, BytesMut};
use http::{Method, StatusCode, Version};

use super::*;
use crate::Limits;

fn parse(input: &[u8]) -> Result<Option<RequestHead>, ParseError> {
    parse_request_head(&mut BytesMut::from(input), &Limits::default())
}

fn status_of(input: &[u8]) -> StatusCode {
    match parse(input) {
        Err(e) => e.status(),
        Ok(Some(_)) => StatusCode::OK,
        Ok(None) => StatusCode::CONTINUE, // incomplete
    }
}

#[test]
fn valid_heads() {
    let h = parse(b"GET /a/b?c=d HTTP/1.1\r\nHost: example.com\r\nX-Y: z\r\n\r\n")
        .unwrap()
        .unwrap();
    assert_eq!(h.method, Method::GET);
    assert_eq!(h.uri.path(), "/a/b");
    assert_eq!(h.uri.query(), Some("c=d"));
    assert_eq!(h.version, Version::HTTP_11);
    assert_eq!(h.headers["x-y"], "z");
    assert_eq!(h.body, BodyKind::Empty);
    assert!(h.keep_alive);

    let h = parse(b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\n")
        .unwrap()
        .unwrap();
    assert_eq!(h.body, BodyKind::Length(5));
    let h = parse(b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: Chunked\r\n\r\n")
        .unwrap()
        .unwrap();
    assert_eq!(h.body, BodyKind::Chunked);
    // Identical duplicate Content-Length values are one value.
    let h = parse(b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\n")
        .unwrap()
        .unwrap();
    assert_eq!(h.body, BodyKind::Length(3));
    let h = parse(b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3, 3\r\n\r\n")
        .unwrap()
        .unwrap();
    assert_eq!(h.body, BodyKind::Length(3));
    // Leading empty lines are skipped.
    assert!(parse(b"\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n")
        .unwrap()
        .is_some());
    // absolute-form, OPTIONS *, CONNECT authority-form.
    let h = parse(b"GET http://x.org/p HTTP/1.1\r\nHost: x.org\r\n\r\n")
        .unwrap()
        .unwrap();
    assert_eq!(h.uri.host(), Some("x.org"));
    assert_eq!(
        parse(b"OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n")
            .unwrap()
            .unwrap()
            .uri,
        "*"
    );
    assert!(
        parse(b"CONNECT x.org:443 HTTP/1.1\r\nHost: x.org:443\r\n\r\n")
            .unwrap()
            .is_some()
    );
    // HTTP/1.0: no Host needed, keep-alive only on request.
    let h = parse(b"GET / HTTP/1.0\r\n\r\n").unwrap().unwrap();
    assert!(!h.keep_alive);
    let h = parse(b"GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n")
        .unwrap()
        .unwrap();
    assert!(h.keep_alive);
    let h = parse(b"GET / HTTP/1.1\r\nHost: a\r\nConnection: foo, close\r\n\r\n")
        .unwrap()
        .unwrap();
    assert!(!h.keep_alive);
    let h = parse(b"GET / HTTP/1.1\r\nHost: a\r\nExpect: 100-Continue\r\n\r\n")
        .unwrap()
        .unwrap();
    assert!(h.expect_continue);
    let h =
        parse(b"GET / HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n")
            .unwrap()
            .unwrap();
    assert_eq!(h.upgrade.unwrap(), "websocket");
}

#[test]
fn malformed_heads_get_the_right_status() {
    let cases: &[(&[u8], u16)] = &[
        (b"GET / HTTP/1.1\r\n\r\n", 400),                                         // no Host
        (b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400),                   // two Hosts
        (b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n", 400),
        (b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", 400),
        (b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1, 2\r\n\r\n", 400),
        (b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: +5\r\n\r\n", 400),
        (b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: -1\r\n\r\n", 400),
        (b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0x10\r\n\r\n", 400),
        (b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: \r\n\r\n", 400),
        (b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 99999999999999999999\r\n\r\n", 400),
        (b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\n", 400),
        (b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, gzip\r\n\r\n", 400),
        (b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n", 400),
        (b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", 501),
        (b"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", 400),
        (b"GET / HTTP/1.1\r\nHost: a\r\nX: a\r\n b\r\n\r\n", 400), // obs-fold
        (b"GET / HTTP/1.1\r\nHost: a\r\nX: a\rb\r\n\r\n", 400),     // bare CR
        (b"GET / HTTP/1.1\r\nHost: a\r\nX: a\0b\r\n\r\n", 400),     // NUL
        (b"GET / HTTP/1.1\r\nHost: a\r\nX Y: z\r\n\r\n", 400),      // space in name
        (b"GET / HTTP/1.1\r\nHost: a\r\nX\x01: z\r\n\r\n", 400),    // CTL in name
        (b"GET / HTTP/1.1\r\nHost : a\r\n\r\n", 400),              // space before colon
        (b"G(T / HTTP/1.1\r\nHost: a\r\n\r\n", 400),               // bad method token
        (b"GET / HTTP/2.0\r\nHost: a\r\n\r\n", 505),
        (b"GET / HTTP/1.2\r\nHost: a\r\n\r\n", 505),
        (b"GET / HTTP/3\r\nHost: a\r\n\r\n", 505),
        (b"GET / FOO/1.1\r\nHost: a\r\n\r\n", 400),
        (b"GET * HTTP/1.1\r\nHost: a\r\n\r\n", 400),               // * only for OPTIONS
        (b"GET foo HTTP/1.1\r\nHost: a\r\n\r\n", 400),             // not origin-form
        (b"CONNECT /x HTTP/1.1\r\nHost: a\r\n\r\n", 400),
    ];
    for (input, want) in cases {
        assert_eq!(
            status_of(input).as_u16(),
            *want,
            "{:?}",
            String::from_utf8_lossy(input)
        );
    }
}

#[test]
fn limits_are_exact() {
    let limits = Limits {
        max_headers: 4,
        max_uri_len: 20,
        max_head_size: 200,
        max_body_size: 100,
        ..Limits::default()
    };
    let p = |s: &[u8]| parse_request_head(&mut BytesMut::from(s), &limits);
    // 4 headers OK, 5 → 431.
    assert!(
        p(b"GET / HTTP/1.1\r\nHost: a\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n")
            .unwrap()
            .is_some()
    );
    let e = p(b"GET / HTTP/1.1\r\nHost: a\r\nA: 1\r\nB: 2\r\nC: 3\r\nD: 4\r\n\r\n").unwrap_err();
    assert_eq!(e.status(), StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE);
    // URI of 20 OK, 21 → 414.
    let uri20 = format!("GET /{} HTTP/1.1\r\nHost: a\r\n\r\n", "a".repeat(19));
    assert!(p(uri20.as_bytes()).unwrap().is_some());
    let uri21 = format!("GET /{} HTTP/1.1\r\nHost: a\r\n\r\n", "a".repeat(20));
    assert_eq!(
        p(uri21.as_bytes()).unwrap_err().status(),
        StatusCode::URI_TOO_LONG
    );
    // A request line that never ends → 414 once it is clearly too long.
    let endless = format!("GET /{}", "a".repeat(100));
    assert_eq!(
        p(endless.as_bytes()).unwrap_err().status(),
        StatusCode::URI_TOO_LONG
    );
    // Head of exactly 200 bytes OK, 201 → 431; an unfinished head over the limit → 431.
    let base = b"GET / HTTP/1.1\r\nHost: a\r\nX: \r\n\r\n".len();
    let fill = |n: usize| format!("GET / HTTP/1.1\r\nHost: a\r\nX: {}\r\n\r\n", "v".repeat(n));
    assert!(p(fill(200 - base).as_bytes()).unwrap().is_some());
    assert_eq!(
        p(fill(201 - base).as_bytes()).unwrap_err().status(),
        StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE
    );
    let unfinished = format!("GET / HTTP/1.1\r\nHost: a\r\nX: {}", "v".repeat(300));
    assert_eq!(
        p(unfinished.as_bytes()).unwrap_err().status(),
        StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE
    );
    // Declared body of 100 OK, 101 → 413 before any body byte arrives.
    assert!(
        p(b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 100\r\n\r\n")
            .unwrap()
            .is_some()
    );
    assert_eq!(
        p(b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 101\r\n\r\n")
            .unwrap_err()
            .status(),
        StatusCode::PAYLOAD_TOO_LARGE
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
fn pipelined_requests_split_cleanly() {
    let limits = Limits::default();
    let mut buf = BytesMut::from(
        &b"POST /1 HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabc\
POST /2 HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nde\r\n0\r\n\r\n\
GET /3 HTTP/1.1\r\nHost: a\r\n\r\nGET"[..],
    );
    let mut bodies = Vec::new();
    for path in ["/1", "/2", "/3"] {
        let head = parse_request_head(&mut buf, &limits).unwrap().unwrap();
        assert_eq!(head.uri.path(), path);
        let mut dec = BodyDecoder::new(head.body, &limits);
        let mut body = Vec::new();
        loop {
            match dec.decode(&mut buf).unwrap() {
                BodyEvent::Data(d) => body.extend_from_slice(&d),
                BodyEvent::End { .. } => break,
                BodyEvent::NeedMore => panic!("everything is buffered"),
            }
        }
        bodies.push(body);
    }
    assert_eq!(bodies, vec![b"abc".to_vec(), b"de".to_vec(), Vec::new()]);
    assert_eq!(&buf[..], b"GET");
}

/// Body, trailers and leftover bytes of a decoded chunked body.
type Decoded = (Vec<u8>, Option<http::HeaderMap>, Vec<u8>);

/// Decodes `input` as a chunked body, feeding it in pieces of `step` bytes.
fn decode_chunked(input: &[u8], step: usize, limits: &Limits) -> Result<Decoded, DecodeError> {
    let mut dec = BodyDecoder::new(BodyKind::Chunked, limits);
    let mut buf = BytesMut::new();
    let mut body = Vec::new();
    let mut fed = 0;
    loop {
        match dec.decode(&mut buf)? {
            BodyEvent::Data(d) => body.extend_from_slice(&d),
            BodyEvent::End { trailers } => return Ok((body, trailers, buf.to_vec())),
            BodyEvent::NeedMore => {
                if fed >= input.len() {
                    return Err(DecodeError::BadChunk("truncated (test)"));
                }
                let end = (fed + step).min(input.len());
                buf.extend_from_slice(&input[fed..end]);
                fed = end;
            }
        }
    }
}

#[test]
fn chunked_valid_cases_in_every_split() {
    let limits = Limits::default();
    let cases: &[(&[u8], &[u8])] = &[
        (b"5\r\nhello\r\n0\r\n\r\n", b"hello"),
        (
            b"A\r\n0123456789\r\na\r\nabcdefghij\r\n0\r\n\r\n",
            b"0123456789abcdefghij",
        ),
        (b"005\r\nhello\r\n000\r\n\r\n", b"hello"),
        (b"5;name=value\r\nhello\r\n0\r\n\r\n", b"hello"),
        (b"5;a=\"q;\\\"x\";b\r\nhello\r\n0;end\r\n\r\n", b"hello"),
        (b"5 ;a\r\nhello\r\n0\r\n\r\n", b"hello"),
        (b"0\r\n\r\n", b""),
    ];
    for (input, want) in cases {
        for step in [1, 2, 3, 7, input.len()] {
            let (body, _, rest) = decode_chunked(input, step, &limits).unwrap_or_else(|e| {
                panic!("{:?} step {step}: {e}", String::from_utf8_lossy(input))
            });
            assert_eq!(&body, want, "{:?}", String::from_utf8_lossy(input));
            assert!(rest.is_empty());
        }
    }
}

#[test]
fn chunked_trailers() {
    let limits = Limits::default();
    for step in [1, 4, 100] {
        let (body, trailers, _) = decode_chunked(
            b"3\r\nabc\r\n0\r\nX-Sum: 1\r\nX-B: 2\r\n\r\n",
            step,
            &limits,
        )
        .unwrap();
        assert_eq!(body, b"abc");
        let t = trailers.unwrap();
        assert_eq!(t["x-sum"], "1");
        assert_eq!(t["x-b"], "2");
    }
}

#[test]
fn chunked_malformed_cases_in_every_split() {
    let limits = Limits {
        max_chunk_ext_size: 16,
        max_head_size: 64,
        ..Limits::default()
    };
    let cases: &[&[u8]] = &[
        b"x\r\n",                                            // not hex
        b"-5\r\nhello\r\n0\r\n\r\n",                         // sign
        b"+5\r\nhello\r\n0\r\n\r\n",                         // sign
        b"0x5\r\nhello\r\n0\r\n\r\n",                        // 0x prefix
        b"\r\nhello\r\n",                                    // no size
        b"10000000000000000\r\n",                            // 17 hex digits
        b"5\nhello\r\n0\r\n\r\n",                            // bare LF after size
        b"5\r\nhelloXX0\r\n\r\n",                            // data not followed by CRLF
        b"5\r\nhello\n0\r\n\r\n",                            // LF only after data
        b"5;aaaaaaaaaaaaaaaaaaaaaaaa\r\nhello\r\n0\r\n\r\n", // extension too long
        b"5;a\x01\r\nhello\r\n0\r\n\r\n",                    // CTL in extension
        b"0\r\nX: 1\r\nbroken\r\n\r\n",                      // malformed trailer
        b"0\r\nX: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n\r\n", // trailers too large
    ];
    for input in cases {
        for step in [1, 3, input.len()] {
            let r = decode_chunked(input, step, &limits);
            match r {
                Err(DecodeError::BadChunk(m)) if m.contains("test") => {
                    panic!(
                        "{:?} step {step}: accepted as incomplete",
                        String::from_utf8_lossy(input)
                    )
                }
                Err(e) => assert_eq!(e.status(), StatusCode::BAD_REQUEST),
                Ok(ok) => panic!(
                    "{:?} step {step}: accepted {ok:?}",
                    String::from_utf8_lossy(input)
                ),
            }
        }
    }
}

#[test]
fn chunked_body_size_limit() {
    let limits = Limits {
        max_body_size: 10,
        ..Limits::default()
    };
    assert!(decode_chunked(b"5\r\nhello\r\n5\r\nworld\r\n0\r\n\r\n", 100, &limits).is_ok());
    let e = decode_chunked(b"5\r\nhello\r\n6\r\nworld!\r\n0\r\n\r\n", 100, &limits).unwrap_err();
    assert_eq!(e, DecodeError::TooLarge);
    let e = decode_chunked(b"ffffffffffffffff\r\n", 100, &limits).unwrap_err();
    assert_eq!(e.status(), StatusCode::PAYLOAD_TOO_LARGE);
}

#[test]
fn content_length_body_never_overreads() {
    let limits = Limits::default();
    let mut dec = BodyDecoder::new(BodyKind::Length(4), &limits);
    let mut buf = BytesMut::from(&b"ab"[..]);
    assert_eq!(
        dec.decode(&mut buf).unwrap(),
        BodyEvent::Data(Bytes::from_static(b"ab"))
    );
    assert_eq!(dec.decode(&mut buf).unwrap(), BodyEvent::NeedMore);
    buf.extend_from_slice(b"cdGET / HTTP/1.1");
    assert_eq!(
        dec.decode(&mut buf).unwrap(),
        BodyEvent::Data(Bytes::from_static(b"cd"))
    );
    assert_eq!(
        dec.decode(&mut buf).unwrap(),
        BodyEvent::End { trailers: None }
    );
    assert_eq!(&buf[..], b"GET / HTTP/1.1");
}

#[test]
fn response_encoding() {
    let date = b"Sun, 06 Nov 1994 08:49:37 GMT";
    let mut h = http::HeaderMap::new();
    h.insert("content-type", "text/plain".parse().unwrap());
    h.insert("content-length", "999".parse().unwrap()); // ignored: framing is ours
    let mut dst = BytesMut::new();
    encode_response_head(
        &mut dst,
        Version::HTTP_11,
        StatusCode::OK,
        &h,
        ResponseBody::Length(13),
        date,
        false,
    );
    assert_eq!(
        &dst[..],
        &b"HTTP/1.1 200 OK\r\ndate: Sun, 06 Nov 1994 08:49:37 GMT\r\ncontent-type: text/plain\r\ncontent-length: 13\r\n\r\n"[..]
    );
    let mut dst = BytesMut::new();
    encode_response_head(
        &mut dst,
        Version::HTTP_11,
        StatusCode::IM_A_TEAPOT,
        &http::HeaderMap::new(),
        ResponseBody::Chunked,
        date,
        true,
    );
    assert_eq!(
        &dst[..],
        &b"HTTP/1.1 418 I'm a teapot\r\ndate: Sun, 06 Nov 1994 08:49:37 GMT\r\ntransfer-encoding: chunked\r\nconnection: close\r\n\r\n"[..]
    );
    let mut dst = BytesMut::new();
    encode_response_head(
        &mut dst,
        Version::HTTP_10,
        StatusCode::NO_CONTENT,
        &http::HeaderMap::new(),
        ResponseBody::Length(0),
        date,
        false,
    );
    assert_eq!(
        &dst[..],
        &b"HTTP/1.0 204 No Content\r\ndate: Sun, 06 Nov 1994 08:49:37 GMT\r\nconnection: keep-alive\r\n\r\n"[..]
    );
    let mut dst = BytesMut::new();
    encode_chunk(&mut dst, b"hello world, this is 31 bytes!!");
    encode_chunk(&mut dst, b"");
    let mut t = http::HeaderMap::new();
    t.insert("x-sum", "7".parse().unwrap());
    encode_last_chunk(&mut dst, Some(&t));
    assert_eq!(
        &dst[..],
        &b"1f\r\nhello world, this is 31 bytes!!\r\n0\r\nx-sum: 7\r\n\r\n"[..]
    );
}
