//! The request-head memo (`h1::HeadMemo`) against a fresh parse over a
//! sequence of heads: the input (after a control byte) is sent three times
//! in a row, so that heads repeat, and fed in pieces of 1 to 64 bytes, so
//! that the memo also sees every kind of partial head; after each piece,
//! heads are parsed with the memo and with `parse_raw_head` until one of
//! them needs more bytes. Checks: the same verdict (the same error, or the
//! same head) and the same rest of the buffer every time, also when the
//! limits change between two heads.
#![no_main]
use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use percore_http::h1::{parse_raw_head, reference, HeadMemo};
use percore_http::Limits;

fn limits(tight: bool) -> Limits {
    // Small limits so that the fuzzer reaches every boundary.
    if tight {
        Limits::default()
            .max_head_size(96)
            .max_headers(3)
            .max_uri_len(12)
            .max_body_size(9)
    } else {
        Limits::default()
            .max_head_size(1024)
            .max_headers(24)
            .max_uri_len(128)
            .max_body_size(4096)
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&control, heads)) = data.split_first() else {
        return;
    };
    let step = 1 + usize::from(control >> 2);
    let stream = [heads, heads, heads].concat();
    let mut memo = HeadMemo::new();
    let mut with_memo = BytesMut::new();
    let mut fresh = BytesMut::new();
    let mut parsed = 0usize;
    for piece in stream.chunks(step) {
        with_memo.extend_from_slice(piece);
        fresh.extend_from_slice(piece);
        loop {
            // Bit 0: the first limits; bit 1: switch them at every other head.
            let tight = (control & 1 == 1) ^ (control & 2 == 2 && parsed % 2 == 1);
            let limits = limits(tight);
            let m = memo.parse(&mut with_memo, &limits);
            let f = parse_raw_head(&mut fresh, &limits);
            assert_eq!(with_memo, fresh);
            match (&m, &f) {
                (Ok(Some(a)), Ok(Some(b))) => {
                    assert_eq!(reference::answers(a), reference::answers(b))
                }
                (Ok(None), Ok(None)) => break,
                (Err(a), Err(b)) => {
                    assert_eq!(a, b);
                    return;
                }
                _ => panic!("memo {m:?} but fresh {f:?}"),
            }
            parsed += 1;
            // A body would be read here; the fuzzer's bytes go on as the
            // next head instead.
        }
    }
});
