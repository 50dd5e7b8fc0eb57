//! Arbitrary bytes into the client's response parser and body decoder, in
//! arbitrary pieces (the first byte seeds the piece sizes and picks the
//! request method). Checks: no panic; the outcome (head, body, trailers or
//! error) is the same as when the input arrives at once; a body never
//! yields more bytes than it was given; `frame_response_head` (no header
//! map) gives the same answer as `parse_response_head`, with few fields
//! (its stack array) and many (its heap fallback); so does
//! `parse_response_head_lazy` (the client's), whose map built later from
//! the kept bytes is the full parser's map; and so does
//! `parse_response_head_memo` with a memo primed by the same input (a head
//! it accepted is then the memo's answer).
#![no_main]
use bytes::BytesMut;
use http::Method;
use libfuzzer_sys::fuzz_target;
use percore_http::h1::{
    frame_response_head, parse_response_head, parse_response_head_lazy, parse_response_head_memo,
    BodyEvent, ResponseDecoder, ResponseHeadMemo, FRAME_STACK_FIELDS,
};
use percore_http::Limits;

fn limits() -> Limits {
    Limits::default()
        .max_head_size(512)
        .max_headers(8)
        .max_body_size(1 << 16)
        .max_chunk_ext_size(32)
}

/// Feeds the next piece of `input` into `buf`; false when it is all fed.
fn feed(buf: &mut BytesMut, input: &[u8], fed: &mut usize, seed: &mut u32) -> bool {
    if *fed == input.len() {
        return false;
    }
    let step = if *seed == 0 {
        input.len()
    } else {
        *seed ^= *seed << 13;
        *seed ^= *seed >> 17;
        *seed ^= *seed << 5;
        (*seed % 16 + 1) as usize
    };
    let end = fed.saturating_add(step).min(input.len());
    buf.extend_from_slice(&input[*fed..end]);
    *fed = end;
    true
}

fn run(input: &[u8], mut seed: u32, method: &Method) -> String {
    let limits = limits();
    let mut buf = BytesMut::new();
    let mut fed = 0;
    let head = loop {
        match parse_response_head(&mut buf, method, &limits) {
            Ok(Some(head)) if head.status.is_informational() => continue,
            Ok(Some(head)) => break head,
            Ok(None) => {
                if !feed(&mut buf, input, &mut fed, &mut seed) {
                    return "head incomplete".into();
                }
            }
            Err(e) => return format!("head error {e:?}"),
        }
    };
    let mut decoder = ResponseDecoder::new(head.body, &limits);
    let mut body = Vec::new();
    loop {
        match decoder.decode(&mut buf) {
            Ok(BodyEvent::Data(d)) => {
                assert!(!d.is_empty());
                body.extend_from_slice(&d);
                assert!(body.len() <= input.len());
            }
            Ok(BodyEvent::End { trailers }) => {
                buf.extend_from_slice(&input[fed..]);
                return format!(
                    "{:?} {:?} {body:?} {trailers:?} {:?}",
                    head.status,
                    head.headers,
                    &buf[..]
                );
            }
            Ok(BodyEvent::NeedMore) => {
                if !feed(&mut buf, input, &mut fed, &mut seed) {
                    return format!("eof {:?} {body:?}", decoder.decode_eof());
                }
            }
            Err(e) => return format!("body error {body:?} {e:?}"),
        }
    }
}

/// Both head parsers on `input` at once: the same verdict.
fn frame_agrees(input: &[u8], method: &Method, limits: &Limits) {
    let mut buf = BytesMut::from(input);
    let full = parse_response_head(&mut buf, method, limits);
    let frame = frame_response_head(input, method, limits);
    match (&full, &frame) {
        (Ok(Some(h)), Ok(Some(f))) => {
            assert_eq!(
                (h.version, h.status, h.body, h.keep_alive),
                (f.version, f.status, f.body, f.keep_alive)
            );
            assert_eq!(f.len, input.len() - buf.len());
        }
        (Ok(None), Ok(None)) => {}
        (Err(a), Err(b)) => assert_eq!(a, b),
        _ => panic!("parse {full:?}, frame {frame:?}"),
    }
    let mut rest = BytesMut::from(input);
    let lazy = parse_response_head_lazy(&mut rest, method, limits);
    match (&full, &lazy) {
        (Ok(Some(h)), Ok(Some(l))) => {
            assert_eq!(
                (h.version, h.status, h.body, h.keep_alive),
                (l.version, l.status, l.body, l.keep_alive)
            );
            assert_eq!(rest, buf);
            assert_eq!(l.headers(), h.headers);
            assert_eq!(
                l.content_encoding(),
                h.headers.get("content-encoding").map(|v| v.as_bytes())
            );
        }
        (Ok(None), Ok(None)) => assert_eq!(&rest[..], input),
        (Err(a), Err(b)) => assert_eq!(a, b),
        _ => panic!("parse {full:?}, lazy {lazy:?}"),
    }
    let mut memo = ResponseHeadMemo::default();
    let _ = parse_response_head_memo(&mut BytesMut::from(input), method, limits, &mut memo);
    let mut again = BytesMut::from(input);
    let memoed = parse_response_head_memo(&mut again, method, limits, &mut memo);
    match (&lazy, &memoed) {
        (Ok(Some(l)), Ok(Some(m))) => {
            assert_eq!(
                (l.version, l.status, l.body, l.keep_alive),
                (m.version, m.status, m.body, m.keep_alive)
            );
            assert_eq!((l.bytes(), l.content_encoding()), (m.bytes(), m.content_encoding()));
            assert_eq!(again, rest);
        }
        (Ok(None), Ok(None)) => assert_eq!(&again[..], input),
        (Err(a), Err(b)) => assert_eq!(a, b),
        _ => panic!("lazy {lazy:?}, memo {memoed:?}"),
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&seed, input)) = data.split_first() else {
        return;
    };
    let method = if seed & 1 == 0 {
        Method::GET
    } else {
        Method::HEAD
    };
    let whole = run(input, 0, &method);
    let pieces = run(input, u32::from(seed) | 1, &method);
    assert_eq!(pieces, whole);
    frame_agrees(input, &method, &limits());
    let many = Limits::default()
        .max_head_size(4096)
        .max_headers(FRAME_STACK_FIELDS + 8);
    frame_agrees(input, &method, &many);
});
