//! The parser on well-formed and hostile bodies, fed whole and in pieces.

use super::*;

/// Parses `body` fed in pieces of `piece` bytes: each part's
/// `Content-Disposition` (or "") and data.
fn parse_in(
    body: &[u8],
    piece: usize,
    limits: MultipartLimits,
) -> Result<Vec<(String, Vec<u8>)>, MultipartError> {
    let mut p = Parser::new("B0undary", limits);
    let mut parts: Vec<(String, Vec<u8>)> = Vec::new();
    let mut chunks = body.chunks(piece.max(1));
    loop {
        match p.next()? {
            Event::Part(h) => {
                let cd = h
                    .get("content-disposition")
                    .map_or(String::new(), |v| v.to_str().unwrap().to_string());
                parts.push((cd, Vec::new()));
            }
            Event::Data(d) => parts
                .last_mut()
                .expect("data inside a part")
                .1
                .extend_from_slice(&d),
            Event::End => return Ok(parts),
            Event::NeedMore => match chunks.next() {
                Some(c) => p.push(c)?,
                None => p.finish(),
            },
        }
    }
}

fn parse(body: &[u8]) -> Result<Vec<(String, Vec<u8>)>, MultipartError> {
    let whole = parse_in(body, body.len(), MultipartLimits::default());
    for piece in [1, 2, 3, 7, 13] {
        assert_eq!(
            parse_in(body, piece, MultipartLimits::default()),
            whole,
            "in pieces of {piece}"
        );
    }
    whole
}

const FORM: &[u8] = b"--B0undary\r\n\
content-disposition: form-data; name=\"field\"\r\n\
\r\n\
value\r\n\
--B0undary\r\n\
Content-Disposition: form-data; name=\"file\"; filename=\"a.txt\"\r\n\
Content-Type: text/plain\r\n\
\r\n\
line 1\r\n--B0und\r\n--B0undar line 2\r\n\
--B0undary--\r\n";

#[test]
fn parts_and_their_data_whatever_the_pieces() {
    let parts = parse(FORM).unwrap();
    assert_eq!(parts.len(), 2);
    assert_eq!(
        parts[0],
        ("form-data; name=\"field\"".into(), b"value".to_vec())
    );
    assert_eq!(parts[1].0, "form-data; name=\"file\"; filename=\"a.txt\"");
    assert_eq!(parts[1].1, b"line 1\r\n--B0und\r\n--B0undar line 2");
}

#[test]
fn preamble_padding_epilogue_and_empty_parts() {
    let body = b"this is a preamble\r\n--B0undary  \t\r\n\r\n\r\n--B0undary\r\nx-a: 1\r\n\r\n\r\n--B0undary--epilogue\r\n--B0undary\r\n";
    let parts = parse(body).unwrap();
    assert_eq!(
        parts,
        [(String::new(), Vec::new()), (String::new(), Vec::new())]
    );
    let empty_form = parse(b"--B0undary--").unwrap();
    assert!(empty_form.is_empty());
}

#[test]
fn malformed_bodies_are_errors() {
    let cases: &[(&[u8], &str)] = &[
        (b"", "the body ended before the closing delimiter"),
        (
            b"--B0undary\r\n\r\nno end",
            "the body ended before the closing delimiter",
        ),
        (
            b"--B0undary\r\nhead: but no empty line",
            "the body ended before the closing delimiter",
        ),
        (
            b"--B0undaryX\r\n\r\n--B0undary--",
            "a delimiter is not followed by a line break",
        ),
        (
            b"--B0undary\r\nbad header\r\n\r\n--B0undary--",
            "a part's header line is invalid",
        ),
        (
            b"--B0undary\r\n: empty name\r\n\r\n--B0undary--",
            "a part's header line is invalid",
        ),
        (
            b"--B0undary\r\nx: a\0b\r\n\r\n--B0undary--",
            "a part's header line is invalid",
        ),
        (
            b"--B0undary\r\n\r\ndata\r\n--B0undary",
            "the body ended before the closing delimiter",
        ),
    ];
    for (body, why) in cases {
        assert_eq!(
            parse(body),
            Err(MultipartError::Malformed(why)),
            "{:?}",
            String::from_utf8_lossy(body)
        );
    }
    let no_delimiter = vec![b'x'; 20_000];
    assert_eq!(
        parse_in(&no_delimiter, 1000, MultipartLimits::default()),
        Err(MultipartError::Malformed("no delimiter in the first 8 KiB"))
    );
    // A delimiter past the first 8 KiB is refused whether or not the
    // body arrives at once.
    let late = [&[b'p'; 9000][..], b"\r\n--B0undary--"].concat();
    for piece in [late.len(), 1000, 7] {
        assert_eq!(
            parse_in(&late, piece, MultipartLimits::default()),
            Err(MultipartError::Malformed("no delimiter in the first 8 KiB"))
        );
    }
    let padding = format!("--B0undary{}\r\n\r\n--B0undary--", " ".repeat(100));
    assert_eq!(
        parse(padding.as_bytes()),
        Err(MultipartError::Malformed(
            "too much padding after a delimiter"
        ))
    );
}

#[test]
fn limits_hold_as_bytes_arrive() {
    let small = || MultipartLimits::default();
    let mut many = Vec::new();
    for _ in 0..5 {
        many.extend_from_slice(b"--B0undary\r\n\r\nx\r\n");
    }
    many.extend_from_slice(b"--B0undary--");
    assert_eq!(parse_in(&many, 5, small().max_parts(5)).unwrap().len(), 5);
    assert_eq!(
        parse_in(&many, 5, small().max_parts(4)),
        Err(MultipartError::TooLarge("more parts than max_parts"))
    );
    let big_part = [
        &b"--B0undary\r\n\r\n"[..],
        &[b'z'; 1000],
        b"\r\n--B0undary--",
    ]
    .concat();
    assert!(parse_in(&big_part, 64, small().max_part_size(1000)).is_ok());
    assert_eq!(
        parse_in(&big_part, 64, small().max_part_size(999)),
        Err(MultipartError::TooLarge("a part exceeds max_part_size"))
    );
    assert_eq!(
        parse_in(&big_part, 64, small().max_total_size(500)),
        Err(MultipartError::TooLarge("the body exceeds max_total_size"))
    );
    // A head that never ends is refused once it passes the limit, not buffered.
    let endless_head = [&b"--B0undary\r\nx-a: "[..], &[b'h'; 100_000]].concat();
    assert_eq!(
        parse_in(&endless_head, 100, small().max_head_size(1024)),
        Err(MultipartError::TooLarge(
            "a part's head exceeds max_head_size"
        ))
    );
    // A head of exactly the limit passes in any pieces; one byte more does not.
    let exact = [
        &b"--B0undary\r\nx: "[..],
        &[b'v'; 13],
        b"\r\n\r\n\r\n--B0undary--",
    ]
    .concat();
    for piece in [1, 5, exact.len()] {
        assert!(parse_in(&exact, piece, small().max_head_size(18)).is_ok());
        assert_eq!(
            parse_in(&exact, piece, small().max_head_size(17)),
            Err(MultipartError::TooLarge(
                "a part's head exceeds max_head_size"
            ))
        );
    }
    let mut head = b"--B0undary\r\n".to_vec();
    for i in 0..20 {
        head.extend_from_slice(format!("x-{i}: v\r\n").as_bytes());
    }
    head.extend_from_slice(b"\r\n\r\n--B0undary--");
    assert_eq!(
        parse_in(&head, 7, small().max_headers(16)),
        Err(MultipartError::TooLarge(
            "a part has more header lines than max_headers"
        ))
    );
    assert_eq!(
        parse_in(&head, 7, small().max_headers(20)).map(|p| p.len()),
        Ok(1)
    );
}

#[test]
fn data_is_streamed_not_buffered() {
    // A 1 MiB part fed in 4 KiB pieces comes out as it arrives: the parser
    // never holds more than a piece plus a delimiter's length.
    let mut p = Parser::new("B0undary", MultipartLimits::default());
    p.push(b"--B0undary\r\n\r\n").unwrap();
    assert!(matches!(p.next(), Ok(Event::Part(_))));
    let piece = [b'q'; 4096];
    let mut out = 0;
    for _ in 0..256 {
        p.push(&piece).unwrap();
        loop {
            match p.next().unwrap() {
                Event::Data(d) => out += d.len(),
                Event::NeedMore => break,
                other => panic!("{other:?}"),
            }
        }
        assert!(p.buf.len() < p.delimiter.len(), "held back {}", p.buf.len());
    }
    p.push(b"\r\n--B0undary--").unwrap();
    while let Ok(Event::Data(d)) = p.next() {
        out += d.len();
    }
    assert_eq!(out, 1 << 20);
}

/// The preamble and padding limits hold at their exact edges, however the
/// body is split: a delimiter starting at byte 8 192 of the body as the
/// parser sees it (a CRLF put in front, then the preamble) is found, one
/// byte later it is not; 64 bytes of padding pass, 65 do not.
#[test]
fn preamble_and_padding_limits_at_their_edges() {
    let body = |preamble: usize| [&vec![b'p'; preamble][..], b"\r\n--B0undary--"].concat();
    for piece in [usize::MAX, 1000, 7] {
        let ok = body(MAX_PREAMBLE - 2);
        assert!(
            parse_in(&ok, piece.min(ok.len()), MultipartLimits::default()).is_ok(),
            "in pieces of {piece}"
        );
        let late = body(MAX_PREAMBLE - 1);
        assert_eq!(
            parse_in(&late, piece.min(late.len()), MultipartLimits::default()),
            Err(MultipartError::Malformed("no delimiter in the first 8 KiB")),
            "in pieces of {piece}"
        );
    }
    let padded = |n: usize| format!("--B0undary{}\r\n\r\nv\r\n--B0undary--", " ".repeat(n));
    assert_eq!(parse(padded(MAX_PADDING).as_bytes()).unwrap().len(), 1);
    assert_eq!(
        parse(padded(MAX_PADDING + 1).as_bytes()),
        Err(MultipartError::Malformed(
            "too much padding after a delimiter"
        ))
    );
}
