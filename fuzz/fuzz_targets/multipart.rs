//! Arbitrary bytes into the `multipart/form-data` parser, in arbitrary
//! pieces (the first byte seeds the piece sizes). Checks: no panic; no
//! empty `Data`; the data out never exceeds the input; the outcome (the
//! parts with their heads and data, or a failure) is the same as when the
//! body arrives at once.
#![no_main]
use libfuzzer_sys::fuzz_target;
use percore::web::multipart::{Event, MultipartLimits, Parser};

fn limits() -> MultipartLimits {
    MultipartLimits::default()
        .max_parts(8)
        .max_part_size(4096)
        .max_total_size(64 * 1024)
        .max_head_size(512)
        .max_headers(4)
}

/// Parses `input` in pieces whose sizes come from `seed`: each part's
/// head and data, then how it ended.
fn parse(input: &[u8], mut seed: u32) -> (Vec<(String, Vec<u8>)>, Option<String>) {
    let mut parser = Parser::new("b", limits());
    let mut parts: Vec<(String, Vec<u8>)> = Vec::new();
    let mut data_len = 0usize;
    let mut fed = 0usize;
    loop {
        match parser.next() {
            Ok(Event::Part(head)) => parts.push((format!("{head:?}"), Vec::new())),
            Ok(Event::Data(d)) => {
                assert!(!d.is_empty());
                data_len += d.len();
                assert!(data_len <= input.len());
                parts
                    .last_mut()
                    .expect("data inside a part")
                    .1
                    .extend_from_slice(&d);
            }
            Ok(Event::End) => return (parts, None),
            Ok(Event::NeedMore) => {
                if fed == input.len() {
                    parser.finish();
                    continue;
                }
                let step = if seed == 0 {
                    input.len() - fed
                } else {
                    seed = seed.wrapping_mul(1_103_515_245).wrapping_add(12_345);
                    1 + (seed as usize >> 16) % 17
                };
                let end = (fed + step).min(input.len());
                if let Err(e) = parser.push(&input[fed..end]) {
                    return (parts, Some(e.to_string()));
                }
                fed = end;
            }
            Err(e) => return (parts, Some(e.to_string())),
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&seed, input)) = data.split_first() else {
        return;
    };
    // Below max_total_size: past it, where parsing stops depends on the
    // pieces (an epilogue counts only if it is pushed).
    if input.len() >= 60 * 1024 {
        return;
    }
    let whole = parse(input, 0);
    let pieces = parse(input, u32::from(seed) + 1);
    // Both fail or neither; a failure may come after a different amount
    // of data, a success must be the same parts with the same data.
    assert_eq!(
        whole.1.is_some(),
        pieces.1.is_some(),
        "{whole:?}\n{pieces:?}"
    );
    if whole.1.is_none() {
        assert_eq!(whole, pieces);
    }
});
