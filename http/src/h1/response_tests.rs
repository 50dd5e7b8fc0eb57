//! Table tests of the client codec: response heads (good, malformed, over
//! the limits, split at every byte), response bodies and request heads.

use bytes::BytesMut;
use http::{HeaderMap, Method, StatusCode, Version};

use super::*;
use crate::h1::{
    encode_request_head, parse_response_head_lazy, parse_response_head_memo, LazyResponseHead,
    RequestFraming, ResponseHeadMemo, MEMO_MAX_HEAD,
};

fn parse(input: &[u8], method: &Method) -> Result<Option<ResponseHead>, ResponseError> {
    parse_with(input, method, &Limits::default())
}

/// `parse_response_head`, after checking that `frame_response_head`
/// gives the same answer (every table test here covers both).
fn parse_with(
    input: &[u8],
    method: &Method,
    limits: &Limits,
) -> Result<Option<ResponseHead>, ResponseError> {
    let mut buf = BytesMut::from(input);
    let full = parse_response_head(&mut buf, method, limits);
    let frame = frame_response_head(input, method, limits);
    let shown = String::from_utf8_lossy(input);
    match (&full, &frame) {
        (Ok(Some(head)), Ok(Some(f))) => {
            assert_eq!(
                (f.version, f.status, f.body, f.keep_alive),
                (head.version, head.status, head.body, head.keep_alive),
                "{shown:?}"
            );
            assert_eq!(f.len, input.len() - buf.len(), "{shown:?}");
        }
        (Ok(None), Ok(None)) => {}
        (Err(a), Err(b)) => assert_eq!(a, b, "{shown:?}"),
        _ => panic!("{shown:?}: parse {full:?}, frame {frame:?}"),
    }
    // The memo's frame: the same answer, framed, then (a head it kept)
    // from the memo.
    let mut memo = ResponseHeadMemo::default();
    for _ in 0..2 {
        assert_eq!(memo.frame(input, method, limits), frame, "{shown:?}");
    }
    if let Ok(Some(f)) = &frame {
        let kept = memo.answer(input, method, limits).is_some();
        assert_eq!(kept, f.len <= MEMO_MAX_HEAD, "{shown:?}");
    }
    lazy_agrees(input, method, limits, &full, buf.len());
    full
}

/// `parse_response_head_lazy` on `input` against the full parser's
/// outcome (`left`: the bytes it left in the buffer): the same verdict,
/// the same rest, and, built from the kept bytes, the same header map
/// and `Content-Encoding`. The same for `parse_response_head_memo` with a
/// memo primed by this input under this method and limits (then a head
/// it accepted is the memo's answer), under another method, and under
/// other limits.
fn lazy_agrees(
    input: &[u8],
    method: &Method,
    limits: &Limits,
    full: &Result<Option<ResponseHead>, ResponseError>,
    left: usize,
) {
    check_lazy(input, full, left, |buf| {
        parse_response_head_lazy(buf, method, limits)
    });
    let other = match *method {
        Method::HEAD => Method::GET,
        _ => Method::HEAD,
    };
    let small = Limits::default().max_head_size(48).max_headers(2);
    for (primed, (m, l)) in [(method, limits), (&other, limits), (method, &small)]
        .into_iter()
        .enumerate()
    {
        let mut memo = ResponseHeadMemo::default();
        let _ = parse_response_head_memo(&mut BytesMut::from(input), m, l, &mut memo);
        if primed == 0 && matches!(full, Ok(Some(_))) && input.len() - left <= MEMO_MAX_HEAD {
            let shown = String::from_utf8_lossy(input);
            assert!(memo.answer(input, method, limits).is_some(), "{shown:?}");
        }
        check_lazy(input, full, left, |buf| {
            parse_response_head_memo(buf, method, limits, &mut memo)
        });
    }
}

/// `parse` on a buffer of `input` against the full parser's outcome.
fn check_lazy(
    input: &[u8],
    full: &Result<Option<ResponseHead>, ResponseError>,
    left: usize,
    parse: impl FnOnce(&mut BytesMut) -> Result<Option<LazyResponseHead>, ResponseError>,
) {
    let mut buf = BytesMut::from(input);
    let lazy = parse(&mut buf);
    let shown = String::from_utf8_lossy(input);
    match (full, &lazy) {
        (Ok(Some(head)), Ok(Some(l))) => {
            assert_eq!(
                (l.version, l.status, l.body, l.keep_alive),
                (head.version, head.status, head.body, head.keep_alive),
                "{shown:?}"
            );
            assert_eq!(buf.len(), left, "{shown:?}");
            assert_eq!(l.headers(), head.headers, "{shown:?}");
            assert_eq!(
                l.content_encoding(),
                head.headers
                    .get(http::header::CONTENT_ENCODING)
                    .map(|v| v.as_bytes()),
                "{shown:?}"
            );
        }
        (Ok(None), Ok(None)) => assert_eq!(buf.len(), input.len(), "{shown:?}"),
        (Err(a), Err(b)) => assert_eq!(a, b, "{shown:?}"),
        _ => panic!("{shown:?}: parse {full:?}, lazy {lazy:?}"),
    }
}

/// The memo answers the head it kept and nothing else: not a part of
/// it, nor the same bytes under another method or other limits, nor a
/// head one byte apart; a head it did not accept, or a longer one than
/// it keeps, leaves no answer for it. `frame` and the parser share it.
#[test]
fn the_memo_answers_the_same_head_and_nothing_else() {
    let head: &[u8] = b"HTTP/1.1 200 OK\r\nDate: Sun, 06 Dec 2026 12:00:00 GMT\r\nContent-Encoding: gzip\r\nContent-Length: 2\r\n\r\n";
    let input = [head, b"hi"].concat();
    let (get, limits) = (Method::GET, Limits::default());
    let mut memo = ResponseHeadMemo::default();
    for _ in 0..3 {
        let mut buf = BytesMut::from(&input[..]);
        let got = parse_response_head_memo(&mut buf, &get, &limits, &mut memo);
        let got = got.unwrap().unwrap();
        assert_eq!(
            (got.status, got.body),
            (StatusCode::OK, ResponseFraming::Length(2))
        );
        assert_eq!(got.content_encoding(), Some(&b"gzip"[..]));
        assert_eq!((&got.bytes()[..], &buf[..]), (head, &b"hi"[..]));
        assert!(memo.answer(&input, &get, &limits).is_some());
    }
    assert!(memo
        .answer(&input[..head.len() - 1], &get, &limits)
        .is_none());
    assert!(memo.answer(&input, &Method::HEAD, &limits).is_none());
    let fewer = Limits::default().max_headers(8);
    assert!(memo.answer(&input, &get, &fewer).is_none());
    for at in 0..head.len() {
        let mut other = input.clone();
        other[at] ^= 0x01;
        assert!(memo.answer(&other, &get, &limits).is_none(), "byte {at}");
    }
    // A refused head: refused again, and the memo still answers its head.
    let mut bad = BytesMut::from(&b"HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n"[..]);
    assert!(parse_response_head_memo(&mut bad, &get, &limits, &mut memo).is_err());
    assert!(memo.answer(&input, &get, &limits).is_some());
    // A head longer than the memo keeps: parsed, and not kept.
    let long = format!(
        "HTTP/1.1 200 OK\r\nx: {}\r\n\r\n",
        "a".repeat(MEMO_MAX_HEAD)
    );
    let mut buf = BytesMut::from(long.as_bytes());
    let got = parse_response_head_memo(&mut buf, &get, &limits, &mut memo).unwrap();
    assert_eq!(got.map(|h| h.status), Some(StatusCode::OK));
    assert!(memo.answer(long.as_bytes(), &get, &limits).is_none());
    assert!(memo.answer(&input, &get, &limits).is_none());
    // A head its `frame` framed is kept with its coding, for the parser;
    // one the parser kept, `frame` answers. No input: no head, the memo's
    // head kept.
    let framed = memo.frame(&input, &get, &limits).unwrap().unwrap();
    let length = ResponseFraming::Length(2);
    assert_eq!((framed.len, framed.body), (head.len(), length));
    assert_eq!(memo.frame(b"", &get, &limits), Ok(None));
    let (_, coding) = *memo.answer(&input, &get, &limits).unwrap();
    assert_eq!(coding.map(|(a, b)| &input[a..b]), Some(&b"gzip"[..]));
    let mut buf = BytesMut::from(&input[..]);
    let got = parse_response_head_memo(&mut buf, &get, &limits, &mut memo);
    let coding = got.unwrap().unwrap().content_encoding().map(<[u8]>::to_vec);
    assert_eq!(
        (coding.as_deref(), &buf[..]),
        (Some(&b"gzip"[..]), &b"hi"[..])
    );
    let mut other = ResponseHeadMemo::default();
    let _ = parse_response_head_memo(&mut BytesMut::from(&input[..]), &get, &limits, &mut other);
    assert_eq!(other.frame(&input, &get, &limits), Ok(Some(framed)));
}

/// The lazy head on heads with codings, many fields, odd values: the
/// same map, in order, as the full parser's (`parse_with` compares).
#[test]
fn lazy_head_builds_the_same_map() {
    let mut many = "HTTP/1.1 200 OK\r\nContent-Encoding: br\r\n".to_string();
    for i in 0..FRAME_STACK_FIELDS + 5 {
        many += &format!("x-{i}: {i}\r\nSet-Cookie: c{i}\r\n");
    }
    many += "Content-Length: 2\r\n\r\nhi";
    let heads: [&[u8]; 6] = [
        b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\ncontent-encoding: br\r\nContent-Length: 3\r\n\r\nabc",
        b"\r\n\r\nHTTP/1.1 200 OK\r\nX-A: 1\r\nx-a: 2\r\nX-Empty:\r\nX-High: \xff\xfe\r\n\r\n",
        b"HTTP/1.1 304 Not Modified\r\nETag: \"x\"\r\nContent-Encoding:\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nX-Del: a\x7fb\r\nContent-Length: 0\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nX-Tab: a\tb\r\nContent-Length: 0\r\n\r\n",
        many.as_bytes(),
    ];
    for input in heads {
        for method in [Method::GET, Method::HEAD] {
            let _ = parse_with(input, &method, &Limits::default());
        }
    }
    let mut buf = BytesMut::from(heads[0]);
    let head = parse_response_head_lazy(&mut buf, &Method::GET, &Limits::default())
        .unwrap()
        .unwrap();
    assert_eq!(head.content_encoding(), Some(&b"gzip"[..]));
    assert_eq!(head.headers().get_all("content-encoding").iter().count(), 2);
    assert_eq!(&buf[..], b"abc");
    let few = Limits::default().max_headers(FRAME_STACK_FIELDS + 80);
    let mut buf = BytesMut::from(many.as_bytes());
    let head = parse_response_head_lazy(&mut buf, &Method::GET, &few)
        .unwrap()
        .unwrap();
    assert_eq!(head.content_encoding(), Some(&b"br"[..]));
    assert_eq!(head.headers().len(), 2 * (FRAME_STACK_FIELDS + 5) + 2);
}

/// A field name longer than a `HeaderName` takes is refused by every
/// parser alike (a limit above 64 KiB lets it in).
#[test]
fn an_overlong_field_name_is_refused() {
    let mut input = b"HTTP/1.1 200 OK\r\n".to_vec();
    input.extend(std::iter::repeat_n(b'a', 1 << 16));
    input.extend_from_slice(b": x\r\nContent-Length: 0\r\n\r\n");
    let big = Limits::default().max_head_size(1 << 18);
    assert_eq!(
        parse_with(&input, &Method::GET, &big).unwrap_err(),
        ResponseError::Malformed("invalid header name")
    );
}

/// Random byte changes to sample heads: the frame-only path never
/// disagrees with the full parser (`parse_with` checks).
#[test]
fn frame_agrees_with_the_full_parser_on_mutated_heads() {
    const HEADS: [&[u8]; 8] = [
        b"HTTP/1.1 200 OK\r\nServer: nginx\r\nContent-Length: 6\r\nConnection: keep-alive\r\n\r\nhello\n",
        b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2, 2\r\n\r\nhi",
        b"\r\nHTTP/1.1 200 OK\r\nDate: x\r\n\r\nuntil close",
        b"HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\n",
        b"HTTP/1.1 101 Switching\r\nUpgrade: websocket\r\nHost: h\r\n\r\n",
        b"HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 1\r\n\r\nx",
    ];
    let mut state = 0x9e37_79b9_7f4a_7c15_u64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let alphabet = b"\r\n :,0123456789-abcdeklnorstuCHTP/\t\x00\x7f\x80";
    let small = Limits::default().max_head_size(48).max_headers(2);
    for round in 0..20_000 {
        let mut input = HEADS[(next() % HEADS.len() as u64) as usize].to_vec();
        for _ in 0..1 + next() % 3 {
            let at = (next() % input.len() as u64) as usize;
            let byte = alphabet[(next() % alphabet.len() as u64) as usize];
            match next() % 3 {
                0 => input[at] = byte,
                1 => input.insert(at, byte),
                _ => {
                    input.remove(at);
                }
            }
        }
        let cut = (next() % (input.len() as u64 + 1)) as usize;
        let limits = if round % 4 == 0 {
            small.clone()
        } else {
            Limits::default()
        };
        let method = if round % 5 == 0 {
            Method::HEAD
        } else {
            Method::GET
        };
        let _ = parse_with(&input, &method, &limits);
        let _ = parse_with(&input[..cut], &method, &limits);
    }
}

/// More fields than the frame path's stack array: the same answer.
#[test]
fn frame_of_a_head_with_many_fields() {
    let mut head = "HTTP/1.1 200 OK\r\n".to_string();
    for i in 0..FRAME_STACK_FIELDS + 5 {
        head += &format!("x-{i}: {i}\r\n");
    }
    head += "Content-Length: 2\r\n\r\nhi";
    let got = parse(head.as_bytes(), &Method::GET).unwrap().unwrap();
    assert_eq!(got.body, ResponseFraming::Length(2));
    let limits = Limits::default().max_headers(FRAME_STACK_FIELDS + 1);
    assert_eq!(
        parse_with(head.as_bytes(), &Method::GET, &limits).unwrap_err(),
        ResponseError::TooManyHeaders
    );
    let few = Limits::default().max_headers(4);
    assert_eq!(
        parse_with(head.as_bytes(), &Method::GET, &few).unwrap_err(),
        ResponseError::TooManyHeaders
    );
}

fn framing(input: &str) -> Result<ResponseFraming, ResponseError> {
    Ok(parse(input.as_bytes(), &Method::GET)?
        .expect("complete")
        .body)
}

#[test]
fn framing_rules() {
    use ResponseFraming::*;
    let cases: &[(&str, ResponseFraming)] = &[
        ("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n", Length(5)),
        ("HTTP/1.1 200 OK\r\nContent-Length: 5, 5\r\n\r\n", Length(5)),
        ("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", Empty),
        (
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
            Chunked,
        ),
        (
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
            Chunked,
        ),
        (
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n",
            UntilClose,
        ),
        ("HTTP/1.1 200 OK\r\n\r\n", UntilClose),
        ("HTTP/1.0 200 OK\r\n\r\n", UntilClose),
        (
            "HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\n",
            Empty,
        ),
        (
            "HTTP/1.1 304 Not Modified\r\nTransfer-Encoding: chunked\r\n\r\n",
            Empty,
        ),
        ("HTTP/1.1 100 Continue\r\n\r\n", Empty),
        (
            "HTTP/1.1 200 OK\r\nHost: not a host?\r\nContent-Length: 1\r\n\r\n",
            Length(1),
        ),
    ];
    for (input, want) in cases {
        assert_eq!(framing(input), Ok(*want), "{input:?}");
    }
    let head = parse(
        b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n",
        &Method::HEAD,
    );
    assert_eq!(head.unwrap().unwrap().body, Empty);
}

#[test]
fn malformed_heads_are_refused() {
    let bad: &[&str] = &[
        "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n",
        "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
        "HTTP/1.1 200 OK\r\nContent-Length: 99999999999999999999999\r\n\r\n",
        "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, chunked\r\n\r\n",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, gzip\r\n\r\n",
        "HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
        "HTTP/1.1 200 OK\nContent-Length: 0\r\n\r\n",
        "HTTP/1.1 200 OK\r\nContent-Length: 0\n\r\n",
        "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\n",
        "HTTP/2.0 200 OK\r\n\r\n",
        "HTTP/1.1 2000 OK\r\n\r\n",
        "HTTP/1.1 099 Low\r\n\r\n",
        "HTTP/1.1 abc OK\r\n\r\n",
        "HTPT/1.1 200 OK\r\n\r\n",
        "garbage\r\n\r\n",
        "HTTP/1.1 200 OK\r\nBad Name: x\r\n\r\n",
        "HTTP/1.1 200 OK\r\n folded: x\r\n\r\n",
        "HTTP/1.1 200 OK\r\nX: a\0b\r\n\r\n",
    ];
    for input in bad {
        let got = parse(input.as_bytes(), &Method::GET);
        assert!(
            matches!(got, Err(ResponseError::Malformed(_))),
            "{input:?} gave {got:?}"
        );
    }
}

#[test]
fn limits_hold() {
    let limits = Limits {
        max_head_size: 64,
        max_headers: 3,
        ..Limits::default()
    };
    let many = "HTTP/1.1 200 OK\r\na: 1\r\nb: 2\r\nc: 3\r\nd: 4\r\n\r\n";
    let got = parse_with(many.as_bytes(), &Method::GET, &limits);
    assert_eq!(got.unwrap_err(), ResponseError::TooManyHeaders);
    let big = format!("HTTP/1.1 200 OK\r\nx: {}\r\n\r\n", "a".repeat(100));
    let got = parse_with(big.as_bytes(), &Method::GET, &limits);
    assert_eq!(got.unwrap_err(), ResponseError::HeadTooLarge);
    // An endless head without its end is refused once it passes the limit.
    let endless = "HTTP/1.1 200 OK\r\n".to_string() + &"x".repeat(80);
    let got = parse_with(endless.as_bytes(), &Method::GET, &limits);
    assert_eq!(got.unwrap_err(), ResponseError::HeadTooLarge);
}

#[test]
fn any_split_gives_the_same_head() {
    let input = b"\r\nHTTP/1.1 404 Not Found\r\nServer: x\r\nContent-Length: 3\r\nConnection: close\r\n\r\nabc";
    let whole = parse(input, &Method::GET).unwrap().unwrap();
    assert_eq!(whole.status, StatusCode::NOT_FOUND);
    assert!(!whole.keep_alive);
    for cut in 0..input.len() - 3 {
        let mut buf = BytesMut::from(&input[..cut]);
        let limits = Limits::default();
        assert!(parse_response_head(&mut buf, &Method::GET, &limits)
            .unwrap()
            .is_none());
        buf.extend_from_slice(&input[cut..]);
        let head = parse_response_head(&mut buf, &Method::GET, &limits)
            .unwrap()
            .unwrap();
        assert_eq!(head.headers, whole.headers);
        assert_eq!(&buf[..], b"abc");
    }
}

#[test]
fn keep_alive_rules() {
    let ka = |s: &str| {
        parse(s.as_bytes(), &Method::GET)
            .unwrap()
            .unwrap()
            .keep_alive
    };
    assert!(ka("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"));
    assert!(!ka(
        "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"
    ));
    assert!(!ka("HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n"));
    assert!(ka(
        "HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 0\r\n\r\n"
    ));
    assert!(!ka("HTTP/1.1 200 OK\r\n\r\n"));
    let head = parse(b"HTTP/1.0 200 OK\r\n\r\n", &Method::GET)
        .unwrap()
        .unwrap();
    assert_eq!(head.version, Version::HTTP_10);
}

fn decode_all(framing: ResponseFraming, input: &[u8], eof: bool) -> Result<Vec<u8>, String> {
    let mut d = ResponseDecoder::new(framing, &Limits::default());
    let mut buf = BytesMut::from(input);
    let mut out = Vec::new();
    loop {
        match d.decode(&mut buf).map_err(|e| e.to_string())? {
            BodyEvent::Data(b) => out.extend_from_slice(&b),
            BodyEvent::End { .. } => return Ok(out),
            BodyEvent::NeedMore if eof => {
                return match d.decode_eof() {
                    Some(_) => Ok(out),
                    None => Err("truncated".into()),
                }
            }
            BodyEvent::NeedMore => return Err("need more".into()),
        }
    }
}

#[test]
fn bodies_decode_or_fail() {
    use ResponseFraming::*;
    assert_eq!(decode_all(Length(3), b"abcdef", false).unwrap(), b"abc");
    assert_eq!(
        decode_all(Length(5), b"abc", true).unwrap_err(),
        "truncated"
    );
    assert_eq!(
        decode_all(Chunked, b"3\r\nabc\r\n0\r\n\r\n", false).unwrap(),
        b"abc"
    );
    assert_eq!(
        decode_all(Chunked, b"3\r\nabc\r\n", true).unwrap_err(),
        "truncated"
    );
    assert!(decode_all(Chunked, b"zz\r\n", false).is_err());
    assert!(decode_all(Chunked, b"3\nabc\r\n0\r\n\r\n", false).is_err());
    assert_eq!(decode_all(UntilClose, b"rest", true).unwrap(), b"rest");
    assert_eq!(decode_all(Empty, b"", true).unwrap(), b"");
    let limits = Limits {
        max_body_size: 4,
        ..Limits::default()
    };
    let mut d = ResponseDecoder::new(UntilClose, &limits);
    assert!(d.decode(&mut BytesMut::from(&b"12345"[..])).is_err());
    let mut d = ResponseDecoder::new(Chunked, &limits);
    assert!(d.decode(&mut BytesMut::from(&b"5\r\n"[..])).is_err());
}

#[test]
fn trailers_come_through() {
    let mut d = ResponseDecoder::new(ResponseFraming::Chunked, &Limits::default());
    let mut buf = BytesMut::from(&b"1\r\na\r\n0\r\nx-sum: 1\r\ncontent-length: 9\r\n\r\n"[..]);
    assert_eq!(d.decode(&mut buf).unwrap(), BodyEvent::Data("a".into()));
    let BodyEvent::End { trailers: Some(t) } = d.decode(&mut buf).unwrap() else {
        panic!("no trailers");
    };
    assert_eq!(t["x-sum"], "1");
    assert!(t.get("content-length").is_none());
}

/// Fields encoded once give the bytes the map gives, for every framing,
/// method, target and `Host` case.
#[test]
fn encoded_fields_give_the_same_head() {
    let mut maps = vec![HeaderMap::new()];
    let mut h = HeaderMap::new();
    h.insert("user-agent", "percore".parse().unwrap());
    h.append("x-a", "1".parse().unwrap());
    h.append("x-a", "2".parse().unwrap());
    h.insert("content-length", "99".parse().unwrap());
    h.insert("transfer-encoding", "chunked".parse().unwrap());
    maps.push(h.clone());
    h.insert("host", "other".parse().unwrap());
    maps.push(h);
    let framings = [
        RequestFraming::Empty,
        RequestFraming::Length(12345),
        RequestFraming::Chunked,
    ];
    for map in &maps {
        let fields = crate::h1::EncodedFields::new(map);
        for method in [Method::GET, Method::POST, Method::HEAD] {
            for target in ["", "/a?b=1"] {
                for body in framings {
                    let (mut a, mut b) = (BytesMut::new(), BytesMut::new());
                    encode_request_head(&mut a, &method, target, "h:1", map, body);
                    crate::h1::encode_request_head_with(
                        &mut b, &method, target, "h:1", &fields, body,
                    );
                    assert_eq!(a, b, "{map:?} {method} {target:?} {body:?}");
                }
            }
        }
    }
}

#[test]
fn request_heads() {
    let mut h = HeaderMap::new();
    h.insert("x-a", "1".parse().unwrap());
    h.insert("content-length", "99".parse().unwrap());
    let mut dst = BytesMut::new();
    encode_request_head(&mut dst, &Method::GET, "", "h", &h, RequestFraming::Empty);
    assert_eq!(&dst[..], b"GET / HTTP/1.1\r\nhost: h\r\nx-a: 1\r\n\r\n");
    dst.clear();
    encode_request_head(
        &mut dst,
        &Method::PUT,
        "/p",
        "h",
        &HeaderMap::new(),
        RequestFraming::Empty,
    );
    assert_eq!(
        &dst[..],
        b"PUT /p HTTP/1.1\r\nhost: h\r\ncontent-length: 0\r\n\r\n"
    );
    dst.clear();
    h.insert("host", "other".parse().unwrap());
    encode_request_head(
        &mut dst,
        &Method::POST,
        "/",
        "h",
        &h,
        RequestFraming::Chunked,
    );
    assert_eq!(
        &dst[..],
        b"POST / HTTP/1.1\r\nx-a: 1\r\nhost: other\r\ntransfer-encoding: chunked\r\n\r\n"
    );
    // What the encoder writes, the server's parser reads back.
    let mut buf = dst.clone();
    let head = crate::h1::parse_request_head(&mut buf, &Limits::default())
        .unwrap()
        .unwrap();
    assert_eq!(head.body, crate::h1::BodyKind::Chunked);
}

#[test]
fn request_heads_with_a_long_target_or_host() {
    // The capacity reserved up front adds the lengths: a target or host
    // longer than the fixed part must not make it subtract.
    let target = format!("/{}", "t".repeat(200));
    let host = "h".repeat(200);
    for (target, host) in [(target.as_str(), "h"), ("/", host.as_str())] {
        let mut dst = BytesMut::new();
        encode_request_head(
            &mut dst,
            &Method::GET,
            target,
            host,
            &HeaderMap::new(),
            RequestFraming::Length(7),
        );
        let expected =
            format!("GET {target} HTTP/1.1\r\nhost: {host}\r\ncontent-length: 7\r\n\r\n");
        assert_eq!(&dst[..], expected.as_bytes());
    }
}

#[test]
fn errors_name_their_reason() {
    assert_eq!(
        ResponseError::Malformed("x").to_string(),
        "malformed response: x"
    );
    assert_eq!(
        ResponseError::HeadTooLarge.to_string(),
        "response head larger than max_head_size"
    );
    assert_eq!(
        ResponseError::TooManyHeaders.to_string(),
        "response head has more fields than max_headers"
    );
    // A framing field's own reason comes through, not a generic one.
    let got = parse(
        b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n",
        &Method::GET,
    );
    assert_eq!(
        got.unwrap_err(),
        ResponseError::Malformed("conflicting Content-Length values")
    );
}

#[test]
fn head_size_limit_at_its_edge() {
    let limits = Limits {
        max_head_size: 64,
        ..Limits::default()
    };
    let head = format!("HTTP/1.1 200 OK\r\nx: {}\r\n\r\n", "a".repeat(40));
    assert_eq!(head.len(), 64);
    // The first 64 bytes of a longer head: not refused before the limit
    // is passed.
    let longer = format!("HTTP/1.1 200 OK\r\nx: {}\r\n\r\n", "a".repeat(41));
    let mut buf = BytesMut::from(&longer.as_bytes()[..64]);
    let got = parse_response_head(&mut buf, &Method::GET, &limits);
    assert!(matches!(got, Ok(None)), "{got:?}");
    buf.extend_from_slice(b"\n");
    let got = parse_response_head(&mut buf, &Method::GET, &limits);
    assert_eq!(got.unwrap_err(), ResponseError::HeadTooLarge);
    // Exactly the limit and complete: accepted.
    let mut buf = BytesMut::from(head.as_bytes());
    let got = parse_response_head(&mut buf, &Method::GET, &limits).unwrap();
    assert_eq!(got.unwrap().headers["x"].len(), 40);
}

#[test]
fn body_decoders_say_when_they_are_done() {
    use ResponseFraming::*;
    let limits = Limits {
        max_body_size: 4,
        ..Limits::default()
    };
    let mut d = ResponseDecoder::new(Length(2), &limits);
    assert!(!d.is_done());
    assert_eq!(
        d.decode(&mut BytesMut::from(&b"ab"[..])).unwrap(),
        BodyEvent::Data("ab".into())
    );
    assert_eq!(
        d.decode(&mut BytesMut::new()).unwrap(),
        BodyEvent::End { trailers: None }
    );
    assert!(d.is_done());
    // The connection closing after a whole framed body is no truncation.
    assert_eq!(d.decode_eof(), Some(BodyEvent::End { trailers: None }));
    // A close-delimited body of exactly the limit is whole; one byte more
    // is too large.
    let mut d = ResponseDecoder::new(UntilClose, &limits);
    assert!(!d.is_done());
    assert_eq!(
        d.decode(&mut BytesMut::from(&b"1234"[..])).unwrap(),
        BodyEvent::Data("1234".into())
    );
    assert!(!d.is_done());
    assert_eq!(d.decode_eof(), Some(BodyEvent::End { trailers: None }));
    assert!(d.is_done());
    let mut d = ResponseDecoder::new(UntilClose, &limits);
    assert!(d.decode(&mut BytesMut::from(&b"1234"[..])).is_ok());
    assert!(d.decode(&mut BytesMut::from(&b"5"[..])).is_err());
}

/// The plain-head pass (`response_scan`) against httparse, byte by byte:
/// field names, values and reason phrases of every length across the
/// 16-byte chunks, each odd byte at every position (`parse_with`
/// compares the frame and the lazy head with the full parser); and the
/// pass answers plain heads itself, httparse is not asked.
#[test]
fn plain_heads_agree_with_httparse_byte_by_byte() {
    let odd = [
        b'\t', b' ', b'_', b'!', b'~', b':', b'"', b'\r', b'\n', 0x00, 0x1f, 0x7f, 0x80, 0xff,
    ];
    let head = |status: &[u8], name: &[u8], value: &[u8]| {
        let mut h = b"HTTP/1.1 ".to_vec();
        for part in [
            status,
            b"\r\n",
            name,
            b":",
            value,
            b"\r\nContent-Length: 0\r\n\r\n",
        ] {
            h.extend_from_slice(part);
        }
        h
    };
    for len in 1..40 {
        for at in 0..len {
            for &b in &odd {
                let mut run = vec![b'x'; len];
                run[at] = b;
                let mut reason = b"200 ".to_vec();
                reason.extend_from_slice(&run);
                let mut spaced = b" ".to_vec();
                spaced.extend_from_slice(&run);
                for input in [
                    head(&reason, b"X-A", b" 1"),
                    head(b"200 OK", &run, b" 1"),
                    head(b"200 OK", b"X-A", &spaced),
                    head(b"200 OK", b"Content-Encoding", &run),
                ] {
                    let _ = parse_with(&input, &Method::GET, &Limits::default());
                }
            }
        }
    }
    for status in [
        "000", "099", "100", "200", "999", "20a", "2000", "200", "200  x",
    ] {
        let input = head(status.as_bytes(), b"X-A", b"1");
        let _ = parse_with(&input, &Method::GET, &Limits::default());
    }
    let plain = b"HTTP/1.1 200 OK\r\nDate: Sun, 06 Dec 2026 08:56:04 GMT\r\ncontent-type: text/plain; charset=utf-8\r\nContent-Encoding:  gzip \t\r\ncontent-length: 13\r\n\r\nHello, World!";
    let Some(Ok(Framed::Head { frame, coding })) =
        super::plain_head(plain, 0, &Method::GET, FRAME_STACK_FIELDS)
    else {
        panic!("a plain head goes to httparse");
    };
    assert_eq!(frame.body, ResponseFraming::Length(13));
    assert_eq!(frame.len, plain.len() - 13);
    assert_eq!(coding.map(|(s, e)| &plain[s..e]), Some(&b"gzip"[..]));
    let _ = parse_with(plain, &Method::GET, &Limits::default());
    let plain_odd = b"HTTP/1.1 200 OK\r\nX_A: \x80\r\n\r\n";
    let plain_too = super::plain_head(plain_odd, 0, &Method::GET, FRAME_STACK_FIELDS);
    assert!(matches!(plain_too, Some(Ok(_))));
    for not_plain in [
        &b"HTTP/1.1 200 OK\nX-A: 1\r\n\r\n"[..],
        b"HTTP/1.1 200 OK\r\nX-A: 1\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n",
        b"HTTP/1.1 200\r\nX-A: 1\r\n\r\n",
    ] {
        let answer = super::plain_head(not_plain, 0, &Method::GET, FRAME_STACK_FIELDS);
        assert!(answer.is_none(), "{not_plain:?}");
        let _ = parse_with(not_plain, &Method::GET, &Limits::default());
    }
}

/// The plain pass's two limits leave the head to httparse rather than
/// answer it: more fields than its slots, and a field name longer than a
/// `HeaderName` takes. Each head still frames as httparse frames it (and
/// a name one byte shorter, or a head within the slots, stays plain).
#[test]
fn plain_pass_limits_leave_the_head_to_httparse() {
    let with_fields = |n: usize| {
        let mut head = b"HTTP/1.1 200 OK\r\n".to_vec();
        for i in 0..n {
            head.extend_from_slice(format!("X-{i}: v\r\n").as_bytes());
        }
        head.extend_from_slice(b"Content-Length: 0\r\n\r\n");
        head
    };
    let fits = with_fields(FRAME_STACK_FIELDS - 1);
    let over = with_fields(FRAME_STACK_FIELDS);
    let plain = |head: &[u8], slots| super::plain_head(head, 0, &Method::GET, slots);
    assert!(matches!(plain(&fits, FRAME_STACK_FIELDS), Some(Ok(_))));
    assert!(plain(&over, FRAME_STACK_FIELDS).is_none());
    let many = Limits {
        max_headers: 2 * FRAME_STACK_FIELDS,
        ..Limits::default()
    };
    let framed = parse_with(&over, &Method::GET, &many).unwrap().unwrap();
    assert_eq!(framed.body, ResponseFraming::Empty);
    assert_eq!(framed.headers.len(), FRAME_STACK_FIELDS + 1);

    let with_name = |len: usize| {
        let mut head = b"HTTP/1.1 200 OK\r\n".to_vec();
        head.extend(std::iter::repeat_n(b'n', len));
        head.extend_from_slice(b": v\r\nContent-Length: 2\r\n\r\n");
        head
    };
    let roomy = Limits {
        max_head_size: 1 << 17,
        ..Limits::default()
    };
    let longest = with_name(MAX_NAME_LEN);
    assert!(matches!(plain(&longest, FRAME_STACK_FIELDS), Some(Ok(_))));
    let framed = parse_with(&longest, &Method::GET, &roomy).unwrap().unwrap();
    assert_eq!(framed.body, ResponseFraming::Length(2));
    let too_long = with_name(MAX_NAME_LEN + 1);
    assert!(plain(&too_long, FRAME_STACK_FIELDS).is_none());
    // httparse takes the name; the header map cannot: the full parser's
    // verdict, whatever it is, is the framer's too (`parse_with` checks).
    let _ = parse_with(&too_long, &Method::GET, &roomy);
}

/// After a run of heads the memo did not answer, it keeps only one in
/// eight (the first eight misses are kept, then the 16th, 24th, ...); a
/// head that starts repeating is answered again within ten heads, and a
/// hit starts the count over.
#[test]
fn after_a_run_of_differing_heads_the_memo_keeps_one_in_eight() {
    let (get, limits) = (Method::GET, Limits::default());
    let head = |i: usize| format!("HTTP/1.1 200 OK\r\nX-Id: {i}\r\nContent-Length: 0\r\n\r\n");
    let mut memo = ResponseHeadMemo::default();
    let framed = |input: &str, memo: &mut ResponseHeadMemo| {
        let mut buf = BytesMut::from(input.as_bytes());
        let got = parse_response_head_memo(&mut buf, &get, &limits, memo);
        assert_eq!(got.unwrap().unwrap().status, StatusCode::OK);
        assert!(buf.is_empty());
    };
    let mut kept = Vec::new();
    for i in 0..40 {
        framed(&head(i), &mut memo);
        if memo.answer(head(i).as_bytes(), &get, &limits).is_some() {
            kept.push(i);
        }
    }
    assert_eq!(kept, [0, 1, 2, 3, 4, 5, 6, 7, 15, 23, 31, 39]);
    let same = head(1000);
    let answered = (0..10).find(|_| {
        let hit = memo.answer(same.as_bytes(), &get, &limits).is_some();
        framed(&same, &mut memo);
        hit
    });
    assert_eq!(answered, Some(8));
    let other = head(2000);
    framed(&other, &mut memo);
    assert!(memo.answer(other.as_bytes(), &get, &limits).is_some());
}
