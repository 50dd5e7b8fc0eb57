//! Arbitrary bytes into `parse_request_head`, then into the body decoder of
//! whatever head came out. Checks: no panic; the head is taken off the front
//! of the buffer and has no bare LF; body data never exceeds the input nor
//! the declared length; the verdict does not depend on where the input is
//! split.
#![no_main]
use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use percore_http::h1::{parse_request_head, BodyDecoder, BodyEvent, BodyKind};
use percore_http::Limits;

fn limits() -> Limits {
    // Small limits so that the fuzzer reaches every boundary.
    Limits::default()
        .max_head_size(1024)
        .max_headers(16)
        .max_uri_len(128)
        .max_body_size(4096)
        .max_chunk_ext_size(32)
}

/// The verdict on `input` fed in two pieces split at `cut`.
fn parse_split(input: &[u8], cut: usize, limits: &Limits) -> String {
    let mut buf = BytesMut::from(&input[..cut]);
    let first = parse_request_head(&mut buf, limits);
    if !matches!(first, Ok(None)) {
        buf.extend_from_slice(&input[cut..]);
        return format!("{first:?} {:?}", if first.is_ok() { &buf[..] } else { b"" });
    }
    buf.extend_from_slice(&input[cut..]);
    let r = parse_request_head(&mut buf, limits);
    format!("{r:?} {:?}", if r.is_ok() { &buf[..] } else { b"" })
}

fuzz_target!(|data: &[u8]| {
    let limits = limits();
    let mut buf = BytesMut::from(data);
    let result = parse_request_head(&mut buf, &limits);
    let whole = format!(
        "{result:?} {:?}",
        if result.is_ok() { &buf[..] } else { b"" }
    );
    if let Ok(Some(head)) = result {
        // The head came off the front; the rest is untouched.
        assert!(data.ends_with(&buf));
        // Every line of an accepted head ends in CRLF: no bare LF anywhere.
        let head_bytes = &data[..data.len() - buf.len()];
        for (i, &b) in head_bytes.iter().enumerate() {
            assert!(b != b'\n' || (i > 0 && head_bytes[i - 1] == b'\r'));
        }
        let available = buf.len();
        let mut decoder = BodyDecoder::new(head.body, &limits);
        let mut total = 0usize;
        // Data until the decoder needs more, ends or fails.
        while let Ok(BodyEvent::Data(d)) = decoder.decode(&mut buf) {
            assert!(!d.is_empty());
            total += d.len();
            assert!(total <= available);
        }
        if let BodyKind::Length(n) = head.body {
            assert!(total as u64 <= n);
            assert!(n <= limits.max_body_size);
        }
        assert!(total as u64 <= limits.max_body_size);
    }
    // Split independence, at a point the input chooses.
    if !data.is_empty() {
        let cut = usize::from(data[0]) * data.len() / 256;
        assert_eq!(parse_split(data, cut, &limits), whole, "split at {cut}");
    }
});
