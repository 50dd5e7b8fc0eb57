//! Unit tests of the RESP2 codec.

use super::*;

fn decode_all(input: &[u8], limits: RespLimits) -> Result<Vec<Value>, ProtocolError> {
    let mut dec = Decoder::new(limits);
    dec.feed(input)?;
    let mut out = Vec::new();
    while let Some(v) = dec.decode()? {
        out.push(v);
    }
    Ok(out)
}

fn one(input: &[u8]) -> Result<Option<Value>, ProtocolError> {
    let mut dec = Decoder::new(RespLimits::default());
    dec.feed(input)?;
    dec.decode()
}

#[test]
fn decodes_every_type() {
    let all = decode_all(
            b"+OK\r\n-ERR no\r\n:-12\r\n$3\r\na\r\n\r\n$0\r\n\r\n$-1\r\n*-1\r\n*0\r\n*2\r\n:1\r\n*1\r\n+x\r\n",
            RespLimits::default(),
        )
        .unwrap();
    assert_eq!(
        all,
        vec![
            Value::Status("OK".into()),
            Value::Error("ERR no".into()),
            Value::Int(-12),
            Value::Bulk("a\r\n".into()),
            Value::Bulk("".into()),
            Value::Nil,
            Value::Nil,
            Value::Array(vec![]),
            Value::Array(vec![
                Value::Int(1),
                Value::Array(vec![Value::Status("x".into())])
            ]),
        ]
    );
}

#[test]
fn every_split_point_gives_the_same_values() {
    let input = b"*3\r\n$5\r\nhello\r\n:42\r\n*1\r\n-E\r\n+PONG\r\n";
    let whole = decode_all(input, RespLimits::default()).unwrap();
    for cut in 0..input.len() {
        let mut dec = Decoder::new(RespLimits::default());
        let mut out = Vec::new();
        dec.feed(&input[..cut]).unwrap();
        while let Some(v) = dec.decode().unwrap() {
            out.push(v);
        }
        dec.feed(&input[cut..]).unwrap();
        while let Some(v) = dec.decode().unwrap() {
            out.push(v);
        }
        assert_eq!(out, whole, "cut at {cut}");
        assert_eq!(dec.buffered(), 0);
    }
}

#[test]
fn truncated_frames_wait_and_never_error() {
    let input = b"*2\r\n$5\r\nhello\r\n:42\r\n";
    for cut in 0..input.len() {
        assert_eq!(one(&input[..cut]), Ok(None), "cut at {cut}");
    }
}

#[test]
fn bad_type_bytes_are_errors() {
    for b in [b'?', b'%', b'_', b'#', b'x', 0, 0xff, b'\r'] {
        assert_eq!(one(&[b, b'\r', b'\n']), Err(ProtocolError::BadType(b)));
    }
    // Inside an array too.
    assert_eq!(one(b"*2\r\n:1\r\n!\r\n"), Err(ProtocolError::BadType(b'!')));
}

#[test]
fn bad_and_negative_lengths_are_errors() {
    assert_eq!(one(b"$-2\r\n"), Err(ProtocolError::NegativeLength(-2)));
    assert_eq!(one(b"*-5\r\n"), Err(ProtocolError::NegativeLength(-5)));
    for bad in [
        &b"$\r\n"[..],
        b"$1x\r\n",
        b"$+1\r\n",
        b"$ 1\r\n",
        b"*--1\r\n",
        b":\r\n",
        b":12a\r\n",
        b":99999999999999999999\r\n",
        b":9223372036854775808\r\n",
    ] {
        assert_eq!(one(bad), Err(ProtocolError::BadNumber), "{bad:?}");
    }
    assert_eq!(
        one(b":-9223372036854775808\r\n"),
        Ok(Some(Value::Int(i64::MIN)))
    );
}

#[test]
fn huge_lengths_are_refused_before_any_byte_is_awaited() {
    assert!(matches!(
        one(b"$9223372036854775807\r\n"),
        Err(ProtocolError::TooLarge {
            what: "bulk string",
            ..
        })
    ));
    assert!(matches!(
        one(b"*4294967296\r\n"),
        Err(ProtocolError::TooLarge { what: "array", .. })
    ));
    let small = RespLimits::default().max_bulk_len(4).max_array_len(2);
    assert!(decode_all(b"$4\r\nabcd\r\n", small).is_ok());
    assert!(decode_all(b"$5\r\nabcde\r\n", small).is_err());
    assert!(decode_all(b"*2\r\n:1\r\n:2\r\n", small).is_ok());
    assert!(decode_all(b"*3\r\n:1\r\n:2\r\n:3\r\n", small).is_err());
}

#[test]
fn a_big_announced_array_reserves_only_what_is_there() {
    // 1 Mi elements announced, 3 sent: incomplete, and cheap.
    assert_eq!(one(b"*1048576\r\n:1\r\n:2\r\n:3\r\n"), Ok(None));
}

#[test]
fn bad_line_ends_are_errors() {
    assert_eq!(one(b"+OK\n"), Err(ProtocolError::BadLineEnd));
    assert_eq!(one(b"+O\rK\r\n"), Err(ProtocolError::BadLineEnd));
    assert_eq!(one(b"$2\r\nabXY"), Err(ProtocolError::BadLineEnd));
    assert_eq!(one(b"$2\r\nab\r"), Ok(None));
}

#[test]
fn endless_lines_and_buffers_are_bounded() {
    let limits = RespLimits::default().max_line_len(8);
    assert_eq!(decode_all(b"+12345678\r\n", limits).unwrap().len(), 1);
    assert!(matches!(
        decode_all(b"+123456789", limits),
        Err(ProtocolError::TooLarge { what: "line", .. })
    ));
    // A line of exactly the limit, still waiting for its CR LF, waits.
    assert_eq!(decode_all(b"+12345678\r", limits), Ok(vec![]));
    let mut dec = Decoder::new(RespLimits::default().max_buffered(10));
    dec.feed(b"$100\r\n").unwrap();
    dec.feed(b"abcd").unwrap();
    assert!(dec.feed(b"e").is_err());
}

#[test]
fn nesting_is_bounded_without_recursing_past_the_limit() {
    let deep = |n: usize| {
        let mut v = b"*1\r\n".repeat(n);
        v.extend_from_slice(b":1\r\n");
        v
    };
    assert!(one(&deep(16)).unwrap().is_some());
    assert_eq!(one(&deep(17)), Err(ProtocolError::TooDeep(16)));
    // Far deeper than any stack would survive without the limit.
    assert_eq!(one(&deep(1_000_000)), Err(ProtocolError::TooDeep(16)));
    // Empty arrays add no depth.
    let mut v = b"*1\r\n".repeat(16);
    v.extend_from_slice(b"*0\r\n");
    assert!(one(&v).unwrap().is_some());
}

#[test]
fn after_an_error_the_decoder_is_not_trusted_but_does_not_panic() {
    let mut dec = Decoder::new(RespLimits::default());
    dec.feed(b"&junk\r\n").unwrap();
    assert!(dec.decode().is_err());
    assert!(dec.decode().is_err());
}

#[test]
fn a_value_that_ends_the_input_is_complete() {
    assert_eq!(
        one(b"$5\r\nhello\r\n"),
        Ok(Some(Value::Bulk("hello".into())))
    );
    assert_eq!(one(b"$5\r\nhello\r"), Ok(None));
}

#[test]
fn a_complete_line_over_the_limit_is_refused_one_at_the_limit_waits() {
    let limits = RespLimits::default().max_line_len(8);
    assert!(matches!(
        decode_all(b"+123456789\r\n", limits),
        Err(ProtocolError::TooLarge { what: "line", .. })
    ));
    assert_eq!(decode_all(b"+12345678", limits), Ok(vec![]));
}

#[test]
fn buffered_counts_what_waits() {
    let mut dec = Decoder::new(RespLimits::default());
    dec.feed(b":1\r\n$3\r\nab").unwrap();
    assert_eq!(dec.buffered(), 10);
    assert_eq!(dec.decode(), Ok(Some(Value::Int(1))));
    assert_eq!(dec.buffered(), 6);
}

#[test]
fn accessors_setters_and_messages() {
    assert_eq!(Value::Bulk("b".into()).as_bytes(), Some(&b"b"[..]));
    assert_eq!(Value::Status("OK".into()).as_bytes(), Some(&b"OK"[..]));
    assert_eq!(Value::Int(1).as_bytes(), None);
    assert_eq!(Value::Int(-7).as_int(), Some(-7));
    assert_eq!(Value::Nil.as_int(), None);
    let l = RespLimits::default().max_depth(3);
    assert_eq!(l.max_depth, 3);
    assert_eq!(
        ProtocolError::TooDeep(3).to_string(),
        "RESP: arrays nested deeper than 3"
    );
    assert_eq!(
        ProtocolError::BadType(b'?').to_string(),
        "RESP: bad type byte 0x3f"
    );
}

#[test]
fn commands_are_binary_safe() {
    let mut out = BytesMut::new();
    Cmd::new("SET")
        .arg([0u8, b'\r', b'\n'])
        .arg("")
        .encode(&mut out);
    let back = decode_all(&out, RespLimits::default()).unwrap();
    assert_eq!(
        back,
        vec![Value::Array(vec![
            Value::Bulk("SET".into()),
            Value::Bulk(Bytes::from_static(&[0, b'\r', b'\n'])),
            Value::Bulk("".into()),
        ])]
    );
}
