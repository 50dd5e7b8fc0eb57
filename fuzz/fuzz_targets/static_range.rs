//! Arbitrary `Range` headers against arbitrary file lengths (the first 8
//! bytes). Checks: no panic; a partial answer has 1 to `MAX_RANGES` ranges,
//! each inside the file, no two overlapping or adjacent, so the bytes sent
//! never exceed the file's length.
#![no_main]
use libfuzzer_sys::fuzz_target;
use percore::web::static_files::range::{parse_range, RangeRequest, MAX_RANGES};

fuzz_target!(|data: &[u8]| {
    if data.len() < 8 {
        return;
    }
    let (len, header) = data.split_at(8);
    let len = u64::from_le_bytes(len.try_into().unwrap());
    // Small lengths are where the edge cases are; keep most of them small.
    let len = if len & 1 == 0 {
        len >> 1
    } else {
        (len >> 1) % 4096
    };
    let header = String::from_utf8_lossy(header);
    match parse_range(&header, len) {
        RangeRequest::Full | RangeRequest::Unsatisfiable => {}
        RangeRequest::Partial(ranges) => {
            assert!(!ranges.is_empty() && ranges.len() <= MAX_RANGES);
            let mut total = 0u64;
            for r in &ranges {
                assert!(r.start <= r.end && r.end < len, "{r:?} outside {len}");
                total += r.len();
            }
            assert!(total <= len);
            for (i, a) in ranges.iter().enumerate() {
                for b in &ranges[i + 1..] {
                    assert!(
                        a.end.saturating_add(1) < b.start || b.end.saturating_add(1) < a.start,
                        "{a:?} and {b:?} touch"
                    );
                }
            }
        }
    }
});
