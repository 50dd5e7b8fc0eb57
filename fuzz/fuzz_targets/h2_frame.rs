//! Arbitrary bytes into an HTTP/2 `FrameDecoder`, whole and in pieces (the
//! first byte seeds the piece sizes and picks the role). Checks: no panic;
//! frames never claim more than the input; DATA is never larger than its
//! flow-controlled length; the outcome does not depend on the splits.
#![no_main]
use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use percore_http::h2::frame::{Frame, FrameDecoder, Role};

/// Decodes `input` in pieces whose sizes come from `seed` (0: all at once).
fn decode(input: &[u8], role: Role, mut seed: u32) -> String {
    let mut dec = FrameDecoder::new(role, 16_384);
    let mut buf = BytesMut::new();
    let mut out = String::new();
    let mut fed = 0usize;
    loop {
        match dec.decode(&mut buf) {
            Ok(Some(f)) => {
                if let Frame::Data(d) = &f {
                    assert!(d.data.len() <= d.flow_len as usize);
                }
                assert!(fed - buf.len() <= input.len());
                out.push_str(&format!("{f:?}\n"));
            }
            Ok(None) => {
                if fed == input.len() {
                    out.push_str(&format!("more {}\n", buf.len()));
                    return out;
                }
                let step = if seed == 0 {
                    input.len()
                } else {
                    seed ^= seed << 13;
                    seed ^= seed >> 17;
                    seed ^= seed << 5;
                    (seed % 24 + 1) as usize
                };
                let end = fed.saturating_add(step).min(input.len());
                buf.extend_from_slice(&input[fed..end]);
                fed = end;
            }
            Err(e) => {
                out.push_str(&format!("err {e:?}\n"));
                if e.is_connection() {
                    // Sticky.
                    assert_eq!(dec.decode(&mut buf), Err(e));
                    return out;
                }
            }
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&seed, input)) = data.split_first() else {
        return;
    };
    let role = if seed & 1 == 0 {
        Role::Server
    } else {
        Role::Client
    };
    let whole = decode(input, role, 0);
    let pieces = decode(input, role, u32::from(seed) | 1);
    assert_eq!(pieces, whole);
});
