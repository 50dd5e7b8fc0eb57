//! Body decoding: Content-Length and chunked, valid and malformed, fed
//! whole, byte by byte and split at every point.

use bytes::{Bytes, BytesMut};
use http::StatusCode;

use super::*;

fn complete(body: &[u8], rest: &[u8]) -> Decoded {
    Decoded::Complete(body.to_vec(), None, rest.to_vec())
}

#[test]
fn content_length_never_overreads() {
    let limits = Limits::default();
    assert_eq!(
        decode_every_way(BodyKind::Length(4), b"abcdGET / HTTP/1.1", &limits),
        complete(b"abcd", b"GET / HTTP/1.1")
    );
    assert_eq!(
        decode_every_way(BodyKind::Length(4), b"abc", &limits),
        Decoded::Incomplete(b"abc".to_vec())
    );
    let mut dec = BodyDecoder::new(BodyKind::Length(4), &limits);
    assert_eq!(dec.remaining(), Some(4));
    let mut buf = BytesMut::from(&b"ab"[..]);
    assert_eq!(
        dec.decode(&mut buf).unwrap(),
        BodyEvent::Data(Bytes::from_static(b"ab"))
    );
    assert_eq!(dec.remaining(), Some(2));
    assert_eq!(dec.decode(&mut buf).unwrap(), BodyEvent::NeedMore);
    buf.extend_from_slice(b"cdef");
    assert_eq!(
        dec.decode(&mut buf).unwrap(),
        BodyEvent::Data(Bytes::from_static(b"cd"))
    );
    assert!(!dec.is_done());
    assert_eq!(
        dec.decode(&mut buf).unwrap(),
        BodyEvent::End { trailers: None }
    );
    assert!(dec.is_done());
    assert_eq!(&buf[..], b"ef");
}

#[test]
fn empty_bodies_end_at_once() {
    let limits = Limits::default();
    for kind in [BodyKind::Empty, BodyKind::Length(0)] {
        let mut dec = BodyDecoder::new(kind, &limits);
        let mut buf = BytesMut::from(&b"GET"[..]);
        assert_eq!(
            dec.decode(&mut buf).unwrap(),
            BodyEvent::End { trailers: None }
        );
        assert_eq!(&buf[..], b"GET");
    }
}

#[test]
fn declared_length_over_the_limit_fails() {
    let limits = Limits {
        max_body_size: 10,
        ..Limits::default()
    };
    assert_eq!(
        decode_every_way(BodyKind::Length(10), b"0123456789", &limits),
        complete(b"0123456789", b"")
    );
    assert_eq!(
        decode_every_way(BodyKind::Length(11), b"0123456789a", &limits),
        Decoded::Failed(Vec::new(), DecodeError::TooLarge)
    );
}

#[test]
fn chunked_valid() {
    let limits = Limits::default();
    let cases: &[(&[u8], &[u8])] = &[
        (b"5\r\nhello\r\n0\r\n\r\n", b"hello"),
        (
            b"A\r\n0123456789\r\na\r\nabcdefghij\r\n0\r\n\r\n",
            b"0123456789abcdefghij",
        ),
        (b"005\r\nhello\r\n000\r\n\r\n", b"hello"),
        (b"1\r\nx\r\n1\r\ny\r\n0\r\n\r\n", b"xy"),
        (b"5;name=value\r\nhello\r\n0\r\n\r\n", b"hello"),
        (b"5;name\r\nhello\r\n0\r\n\r\n", b"hello"),
        (b"5;a=b;c=d;e\r\nhello\r\n0\r\n\r\n", b"hello"),
        (b"5;a=\"q;\\\"x\"\r\nhello\r\n0;end\r\n\r\n", b"hello"),
        (b"5 ;a\r\nhello\r\n0\r\n\r\n", b"hello"),
        (b"5\t; a = b ; c = \"d\"\r\nhello\r\n0\r\n\r\n", b"hello"),
        (b"5;a=\"\"\r\nhello\r\n0\r\n\r\n", b"hello"),
        (b"5;a=\"\xe9\"\r\nhello\r\n0\r\n\r\n", b"hello"),
        // Escapes in a quoted value: SP, HTAB, the VCHAR edges, obs-text.
        (b"5;a=\"x\\ y\\\tz\"\r\nhello\r\n0\r\n\r\n", b"hello"),
        (
            b"5;a=\"\\!\\~\\\x80\\\xff\"\r\nhello\r\n0\r\n\r\n",
            b"hello",
        ),
        (b"0\r\n\r\n", b""),
        (b"3\r\n\r\n\r\r\n0\r\n\r\n", b"\r\n\r"),
    ];
    for (input, want) in cases {
        let mut with_next = input.to_vec();
        with_next.extend_from_slice(b"GET / HTTP/1.1\r\n");
        assert_eq!(
            decode_every_way(BodyKind::Chunked, &with_next, &limits),
            complete(want, b"GET / HTTP/1.1\r\n"),
            "{:?}",
            String::from_utf8_lossy(input)
        );
    }
}

#[test]
fn chunked_sizes_at_the_edge() {
    let unlimited = Limits {
        max_body_size: u64::MAX,
        ..Limits::default()
    };
    // 16 significant digits fit; leading zeros do not count as digits.
    assert_eq!(
        decode_every_way(BodyKind::Chunked, b"00ffffffffffffffff\r\nab", &unlimited),
        Decoded::Incomplete(b"ab".to_vec())
    );
    assert_eq!(
        decode_every_way(BodyKind::Chunked, b"FFFFFFFFFFFFFFFF\r\n", &unlimited),
        Decoded::Incomplete(Vec::new())
    );
    assert_eq!(
        decode_every_way(BodyKind::Chunked, b"10000000000000000\r\n", &unlimited),
        Decoded::Failed(
            Vec::new(),
            DecodeError::BadChunk("chunk size has more than 16 hex digits")
        )
    );
    // The running total cannot overflow either.
    assert_eq!(
        decode_every_way(
            BodyKind::Chunked,
            b"1\r\nx\r\nffffffffffffffff\r\n",
            &unlimited
        ),
        Decoded::Failed(b"x".to_vec(), DecodeError::TooLarge)
    );
}

#[test]
fn chunked_malformed() {
    let limits = Limits::default();
    use DecodeError::*;
    let cases: &[(&[u8], &[u8], DecodeError)] = &[
        (
            b"x\r\n",
            b"",
            BadChunk("chunk size must start with a hex digit"),
        ),
        (
            b"-5\r\nhello\r\n0\r\n\r\n",
            b"",
            BadChunk("chunk size must start with a hex digit"),
        ),
        (
            b"+5\r\nhello\r\n0\r\n\r\n",
            b"",
            BadChunk("chunk size must start with a hex digit"),
        ),
        (
            b" 5\r\nhello\r\n0\r\n\r\n",
            b"",
            BadChunk("chunk size must start with a hex digit"),
        ),
        (
            b"0x5\r\nhello\r\n0\r\n\r\n",
            b"",
            BadChunk("invalid byte in chunk size"),
        ),
        (
            b"5g\r\nhello\r\n0\r\n\r\n",
            b"",
            BadChunk("invalid byte in chunk size"),
        ),
        (
            b"\r\nhello\r\n",
            b"",
            BadChunk("chunk size must start with a hex digit"),
        ),
        (
            b"5\nhello\r\n0\r\n\r\n",
            b"",
            BadChunk("bare LF in chunk size line"),
        ),
        (
            b"5\rhello\r\n0\r\n\r\n",
            b"",
            BadChunk("bare CR in chunk size line"),
        ),
        (
            b"5 \r\nhello\r\n0\r\n\r\n",
            b"",
            BadChunk("chunk size line ends after whitespace or inside an extension"),
        ),
        (
            b"5;\r\nhello\r\n0\r\n\r\n",
            b"",
            BadChunk("chunk size line ends after whitespace or inside an extension"),
        ),
        (
            b"5;a \r\nhello\r\n0\r\n\r\n",
            b"",
            BadChunk("chunk size line ends after whitespace or inside an extension"),
        ),
        (
            b"5;a=\r\nhello\r\n0\r\n\r\n",
            b"",
            BadChunk("chunk size line ends after whitespace or inside an extension"),
        ),
        (
            b"5;a=\"x\r\nhello\r\n0\r\n\r\n",
            b"",
            BadChunk("chunk size line ends after whitespace or inside an extension"),
        ),
        (
            b"5;a\nhello\r\n0\r\n\r\n",
            b"",
            BadChunk("bare LF in chunk size line"),
        ),
        (
            b"5;a\x01\r\nhello\r\n0\r\n\r\n",
            b"",
            BadChunk("invalid byte in chunk extension"),
        ),
        (
            b"5;=b\r\nhello\r\n0\r\n\r\n",
            b"",
            BadChunk("invalid byte in chunk extension"),
        ),
        (
            b"5;a=b=c\r\nhello\r\n0\r\n\r\n",
            b"",
            BadChunk("invalid byte in chunk extension"),
        ),
        (
            b"5;a=\"x\"y\r\nhello\r\n0\r\n\r\n",
            b"",
            BadChunk("invalid byte in chunk extension"),
        ),
        (
            b"5 a\r\nhello\r\n0\r\n\r\n",
            b"",
            BadChunk("invalid byte in chunk extension"),
        ),
        (
            b"5;a=\"\\\x01\"\r\nhello\r\n0\r\n\r\n",
            b"",
            BadChunk("invalid byte in chunk extension"),
        ),
        (
            b"5;a=\"\\\x7f\"\r\nhello\r\n0\r\n\r\n",
            b"",
            BadChunk("invalid byte in chunk extension"),
        ),
        (
            b"5\r\nhelloXX0\r\n\r\n",
            b"hello",
            BadChunk("chunk data must be followed by CRLF"),
        ),
        (
            b"5\r\nhello\n0\r\n\r\n",
            b"hello",
            BadChunk("chunk data must be followed by CRLF"),
        ),
        (
            b"5\r\nhello\rX0\r\n\r\n",
            b"hello",
            BadChunk("chunk data must be followed by CRLF"),
        ),
        (
            b"5\r\nhello\r\n0\n\r\n",
            b"hello",
            BadChunk("bare LF in chunk size line"),
        ),
        (b"5\r\nhello\r\n0\r\n\n", b"hello", BadTrailers("bare LF")),
        (
            b"5\r\nhello\r\n0\r\n\r\r\n",
            b"hello",
            BadTrailers("bare CR"),
        ),
        (b"0\r\nX: 1\nY: 2\r\n\r\n", b"", BadTrailers("bare LF")),
        (
            b"0\r\nX: 1\r\n Y\r\n\r\n",
            b"",
            BadTrailers("obs-fold line"),
        ),
        (
            b"0\r\nX: 1\r\nbroken\r\n\r\n",
            b"",
            BadTrailers("malformed trailer field"),
        ),
        (
            b"0\r\nX : 1\r\n\r\n",
            b"",
            BadTrailers("malformed trailer field"),
        ),
        (
            b"0\r\nX: a\x00b\r\n\r\n",
            b"",
            BadTrailers("malformed trailer field"),
        ),
    ];
    for (input, body, want) in cases {
        assert_eq!(
            decode_every_way(BodyKind::Chunked, input, &limits),
            Decoded::Failed(body.to_vec(), want.clone()),
            "{:?}",
            String::from_utf8_lossy(input)
        );
        assert_eq!(want.status(), StatusCode::BAD_REQUEST);
    }
}

#[test]
fn chunked_truncated_waits() {
    let limits = Limits::default();
    let full = b"5;a=b\r\nhello\r\n0\r\nX: y\r\n\r\n";
    for cut in 0..full.len() {
        let r = decode_in_pieces(BodyKind::Chunked, &full[..cut], &[], &limits);
        assert!(matches!(r, Decoded::Incomplete(_)), "cut {cut}: {r:?}");
    }
}

#[test]
fn chunked_extension_limit() {
    let limits = Limits {
        max_chunk_ext_size: 8,
        ..Limits::default()
    };
    let too_long = || {
        Decoded::Failed(
            Vec::new(),
            DecodeError::BadChunk("chunk size line longer than max_chunk_ext_size"),
        )
    };
    // `;abcdefg` is 8 bytes: OK; one more byte: rejected.
    assert_eq!(
        decode_every_way(BodyKind::Chunked, b"1;abcdefg\r\nx\r\n0\r\n\r\n", &limits),
        complete(b"x", b"")
    );
    assert_eq!(
        decode_every_way(BodyKind::Chunked, b"1;abcdefgh\r\nx\r\n0\r\n\r\n", &limits),
        too_long()
    );
    // Leading zeros share the budget: 8 OK, 9 rejected.
    assert_eq!(
        decode_every_way(BodyKind::Chunked, b"000000001\r\nx\r\n0\r\n\r\n", &limits),
        complete(b"x", b"")
    );
    assert_eq!(
        decode_every_way(BodyKind::Chunked, b"0000000001\r\nx\r\n0\r\n\r\n", &limits),
        too_long()
    );
    assert_eq!(
        decode_every_way(BodyKind::Chunked, b"000000000\r\n\r\n", &limits),
        complete(b"", b"")
    );
    assert_eq!(
        decode_every_way(BodyKind::Chunked, b"0000;abcd\r\n\r\n", &limits),
        complete(b"", b"")
    );
    assert_eq!(
        decode_every_way(BodyKind::Chunked, b"0000;abcde\r\n\r\n", &limits),
        too_long()
    );
    // An endless extension fails without waiting for its end.
    let endless = [b"1;".as_slice(), &[b'a'; 100]].concat();
    assert_eq!(
        decode_in_pieces(BodyKind::Chunked, &endless, &[], &limits),
        too_long()
    );
}

#[test]
fn chunked_body_size_limit() {
    let limits = Limits {
        max_body_size: 10,
        ..Limits::default()
    };
    assert_eq!(
        decode_every_way(
            BodyKind::Chunked,
            b"5\r\nhello\r\n5\r\nworld\r\n0\r\n\r\n",
            &limits
        ),
        complete(b"helloworld", b"")
    );
    // The 11th byte is refused as soon as its size line ends.
    assert_eq!(
        decode_every_way(
            BodyKind::Chunked,
            b"5\r\nhello\r\n6\r\nworld!\r\n0\r\n\r\n",
            &limits
        ),
        Decoded::Failed(b"hello".to_vec(), DecodeError::TooLarge)
    );
    assert_eq!(
        DecodeError::TooLarge.status(),
        StatusCode::PAYLOAD_TOO_LARGE
    );
}

#[test]
fn chunked_trailers() {
    let limits = Limits::default();
    let Decoded::Complete(body, Some(t), rest) = decode_every_way(
        BodyKind::Chunked,
        b"3\r\nabc\r\n0\r\nX-Sum: 1\r\nX-B: 2 \r\nX-E:\r\n\r\nNEXT",
        &limits,
    ) else {
        panic!("no trailers");
    };
    assert_eq!(body, b"abc");
    assert_eq!(rest, b"NEXT");
    assert_eq!(t.len(), 3);
    assert_eq!(t["x-sum"], "1");
    assert_eq!(t["x-b"], "2");
    assert_eq!(t["x-e"], "");
}

#[test]
fn trailer_limits() {
    let limits = Limits {
        max_head_size: 20,
        max_headers: 2,
        ..Limits::default()
    };
    // "X: " + 13 bytes + CRLF + CRLF is 20 bytes: OK; 21: refused.
    let section = |n: usize| format!("0\r\nX: {}\r\n\r\n", "v".repeat(n));
    let Decoded::Complete(_, Some(t), _) =
        decode_every_way(BodyKind::Chunked, section(13).as_bytes(), &limits)
    else {
        panic!("20-byte trailer section refused");
    };
    assert_eq!(t["x"].len(), 13);
    assert_eq!(
        decode_every_way(BodyKind::Chunked, section(14).as_bytes(), &limits),
        Decoded::Failed(Vec::new(), DecodeError::TrailersTooLarge)
    );
    assert_eq!(
        decode_every_way(BodyKind::Chunked, b"0\r\nA: 1\r\nB: 2\r\n\r\n", &limits),
        Decoded::Complete(Vec::new(), Some(two_fields()), Vec::new())
    );
    assert_eq!(
        decode_every_way(
            BodyKind::Chunked,
            b"0\r\nA:1\r\nB:2\r\nC:3\r\n\r\n",
            &limits
        ),
        Decoded::Failed(Vec::new(), DecodeError::TrailersTooLarge)
    );
    assert_eq!(DecodeError::TrailersTooLarge.status().as_u16(), 431);
}

fn two_fields() -> HeaderMap {
    let mut m = HeaderMap::new();
    m.insert("a", "1".parse().unwrap());
    m.insert("b", "2".parse().unwrap());
    m
}

#[test]
fn encoded_chunks_decode_back() {
    let limits = Limits::default();
    let mut wire = BytesMut::new();
    let big = vec![b'z'; 4000];
    encode_chunk(&mut wire, b"hello ");
    encode_chunk(&mut wire, b"");
    encode_chunk(&mut wire, &big);
    encode_last_chunk(&mut wire, Some(&two_fields()));
    let mut want = b"hello ".to_vec();
    want.extend_from_slice(&big);
    assert_eq!(
        decode_in_pieces(BodyKind::Chunked, &wire, &[1, 7, 100, 3000], &limits),
        Decoded::Complete(want, Some(two_fields()), Vec::new())
    );
}

#[test]
fn trailer_fields_a_trailer_may_not_carry_are_dropped() {
    let limits = Limits::default();
    let Decoded::Complete(_, Some(t), _) = decode_every_way(
        BodyKind::Chunked,
        b"0\r\nContent-Length: 5\r\nHost: evil\r\nX-Sum: 1\r\n\r\n",
        &limits,
    ) else {
        panic!("no trailers");
    };
    assert_eq!(t.len(), 1);
    assert_eq!(t["x-sum"], "1");
    let Decoded::Complete(_, none, _) = decode_every_way(
        BodyKind::Chunked,
        b"0\r\nTransfer-Encoding: chunked\r\n\r\n",
        &limits,
    ) else {
        panic!("incomplete");
    };
    assert!(none.is_none(), "{none:?}");
}
