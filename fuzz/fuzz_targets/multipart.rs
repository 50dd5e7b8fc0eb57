//! Arbitrary bytes into the `multipart/form-data` parser, in arbitrary
//! pieces (the first byte seeds the piece sizes). Checks: no panic; no
//! empty `Data`; the data out never exceeds the input; the outcome (parts,
//! their heads and data, or the error) is the same as when the body
//! arrives at once.
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

/// Parses `input` in pieces whose sizes come from `seed`.
fn parse(input: &[u8], mut seed: u32) -> String {
    let mut parser = Parser::new("b", limits());
    let mut out = Vec::new();
    let mut data_len = 0usize;
    let mut fed = 0usize;
    loop {
        match parser.next() {
            Ok(Event::Part(head)) => out.push(format!("part {head:?}")),
            Ok(Event::Data(d)) => {
                assert!(!d.is_empty());
                data_len += d.len();
                assert!(data_len <= input.len());
                out.push(format!("data {d:?}"));
            }
            Ok(Event::End) => return format!("end {}", join_data(out)),
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
                    return format!("error {e}");
                }
                fed = end;
            }
            Err(e) => return format!("error {e} after {}", join_data(out)),
        }
    }
}

/// The events with each part's data joined (pieces split data differently).
fn join_data(events: Vec<String>) -> String {
    let mut joined: Vec<String> = Vec::new();
    for e in events {
        match (joined.last_mut(), e.strip_prefix("data ")) {
            (Some(last), Some(d)) if last.starts_with("data ") => last.push_str(d),
            _ => joined.push(e),
        }
    }
    joined.join("|")
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
    // Errors may be found at different points, but both or neither fail.
    assert_eq!(whole.starts_with("error"), pieces.starts_with("error"), "{whole}\n{pieces}");
    if !whole.starts_with("error") {
        assert_eq!(whole, pieces);
    }
});
