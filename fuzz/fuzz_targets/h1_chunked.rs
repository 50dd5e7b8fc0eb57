//! Arbitrary bytes into a chunked `BodyDecoder`, in arbitrary pieces (the
//! first byte seeds the piece sizes). Checks: no panic; `Data` is never
//! empty and never exceeds the input; the outcome (body, trailers, leftover
//! or error) is the same as when the input arrives at once.
#![no_main]
use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use percore_http::h1::{BodyDecoder, BodyEvent, BodyKind};
use percore_http::Limits;

fn limits() -> Limits {
    Limits::default()
        .max_head_size(256)
        .max_headers(8)
        .max_body_size(1 << 20)
        .max_chunk_ext_size(32)
}

/// Decodes `input` in pieces whose sizes come from `seed`.
fn decode(input: &[u8], mut seed: u32, limits: &Limits) -> String {
    let mut decoder = BodyDecoder::new(BodyKind::Chunked, limits);
    let mut buf = BytesMut::new();
    let mut body = Vec::new();
    let mut fed = 0usize;
    loop {
        match decoder.decode(&mut buf) {
            Ok(BodyEvent::Data(d)) => {
                assert!(!d.is_empty());
                body.extend_from_slice(&d);
                assert!(body.len() <= input.len());
            }
            Ok(BodyEvent::End { trailers }) => {
                buf.extend_from_slice(&input[fed..]);
                return format!("end {body:?} {trailers:?} {:?}", &buf[..]);
            }
            Ok(BodyEvent::NeedMore) => {
                if fed == input.len() {
                    return format!("more {body:?}");
                }
                let step = if seed == 0 {
                    input.len()
                } else {
                    // xorshift: piece sizes 1..=16
                    seed ^= seed << 13;
                    seed ^= seed >> 17;
                    seed ^= seed << 5;
                    (seed % 16 + 1) as usize
                };
                let end = fed.saturating_add(step).min(input.len());
                buf.extend_from_slice(&input[fed..end]);
                fed = end;
            }
            Err(e) => {
                assert_eq!(decoder.decode(&mut buf), Err(e.clone()));
                return format!("err {body:?} {e:?}");
            }
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&seed, input)) = data.split_first() else {
        return;
    };
    let limits = limits();
    let whole = decode(input, 0, &limits);
    let pieces = decode(input, u32::from(seed) | 1, &limits);
    assert_eq!(pieces, whole);
});
