//! The `Range` request header (RFC 9110 §14.2), byte ranges only.
//!
//! Hostile input stays cheap: at most [`MAX_RANGES`] ranges are considered
//! (more, and the header is ignored: the whole file is sent once), and
//! overlapping or adjacent ranges are merged, so the bytes sent never exceed
//! the file's length however the ranges are written. Malformed headers
//! (another unit, garbage, numbers past `u64`, `last < first`) are ignored,
//! as the RFC asks.
//!
//! ```
//! use percore::web::static_files::range::{parse_range, ByteRange, RangeRequest};
//! assert_eq!(
//!     parse_range("bytes=0-4, -3", 10),
//!     RangeRequest::Partial(vec![ByteRange { start: 0, end: 4 }, ByteRange { start: 7, end: 9 }])
//! );
//! assert_eq!(parse_range("bytes=20-", 10), RangeRequest::Unsatisfiable);
//! assert_eq!(parse_range("lines=1-2", 10), RangeRequest::Full);
//! ```

/// Most ranges one request may ask for; a header with more is ignored.
pub const MAX_RANGES: usize = 16;

/// An inclusive byte range inside the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ByteRange {
    /// First byte.
    pub start: u64,
    /// Last byte (inclusive).
    pub end: u64,
}

impl ByteRange {
    /// Bytes in the range.
    pub fn len(&self) -> u64 {
        self.end - self.start + 1
    }

    /// Never true: a range holds at least one byte.
    pub fn is_empty(&self) -> bool {
        false
    }
}

/// What a `Range` header asks of a file of a given length.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RangeRequest {
    /// The whole file (no usable `Range`): 200.
    Full,
    /// These ranges, in the order to send them; disjoint, none adjacent: 206.
    Partial(Vec<ByteRange>),
    /// Well-formed, but no range overlaps the file: 416.
    Unsatisfiable,
}

/// Parses `header` against a file of `len` bytes.
pub fn parse_range(header: &str, len: u64) -> RangeRequest {
    let Some((unit, specs)) = header.split_once('=') else {
        return RangeRequest::Full;
    };
    if !unit.trim().eq_ignore_ascii_case("bytes") {
        return RangeRequest::Full;
    }
    let mut ranges = Vec::new();
    let mut count = 0;
    for spec in specs.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        count += 1;
        if count > MAX_RANGES {
            return RangeRequest::Full;
        }
        match parse_spec(spec, len) {
            Spec::Invalid => return RangeRequest::Full,
            Spec::Outside => {}
            Spec::Range(r) => ranges.push(r),
        }
    }
    if count == 0 {
        return RangeRequest::Full;
    }
    if ranges.is_empty() {
        return RangeRequest::Unsatisfiable;
    }
    coalesce(&mut ranges);
    RangeRequest::Partial(ranges)
}

enum Spec {
    Invalid,
    /// Well-formed but past the end of the file.
    Outside,
    Range(ByteRange),
}

fn parse_spec(spec: &str, len: u64) -> Spec {
    let Some((first, last)) = spec.split_once('-') else {
        return Spec::Invalid;
    };
    if first.is_empty() {
        // A suffix: the last `n` bytes.
        return match number(last) {
            None => Spec::Invalid,
            Some(0) => Spec::Outside,
            Some(_) if len == 0 => Spec::Outside,
            Some(n) => Spec::Range(ByteRange {
                start: len - n.min(len),
                end: len - 1,
            }),
        };
    }
    let Some(start) = number(first) else {
        return Spec::Invalid;
    };
    let end = if last.is_empty() {
        u64::MAX
    } else {
        match number(last) {
            Some(end) if end >= start => end,
            _ => return Spec::Invalid,
        }
    };
    if start >= len {
        return Spec::Outside;
    }
    Spec::Range(ByteRange {
        start,
        end: end.min(len - 1),
    })
}

/// Digits only (no sign, no spaces), fitting in a `u64`.
fn number(s: &str) -> Option<u64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// Merges overlapping and adjacent ranges (sorting them first, only when
/// some must merge: otherwise the client's order is kept, as RFC 9110 asks).
fn coalesce(ranges: &mut Vec<ByteRange>) {
    let mut sorted = ranges.clone();
    sorted.sort_unstable_by_key(|r| r.start);
    let touching = sorted
        .windows(2)
        .any(|w| w[1].start <= w[0].end.saturating_add(1));
    if !touching {
        return;
    }
    let mut merged: Vec<ByteRange> = Vec::with_capacity(sorted.len());
    for r in sorted {
        match merged.last_mut() {
            Some(last) if r.start <= last.end.saturating_add(1) => last.end = last.end.max(r.end),
            _ => merged.push(r),
        }
    }
    *ranges = merged;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(start: u64, end: u64) -> ByteRange {
        ByteRange { start, end }
    }

    fn partial(header: &str, len: u64) -> Vec<ByteRange> {
        match parse_range(header, len) {
            RangeRequest::Partial(ranges) => ranges,
            other => panic!("{header:?}: {other:?}"),
        }
    }

    #[test]
    fn the_three_forms_and_clamping() {
        assert_eq!(partial("bytes=0-0", 10), [r(0, 0)]);
        assert_eq!(partial("bytes=2-", 10), [r(2, 9)]);
        assert_eq!(partial("bytes=-3", 10), [r(7, 9)]);
        assert_eq!(partial("bytes=-30", 10), [r(0, 9)]);
        assert_eq!(partial("bytes=5-1000", 10), [r(5, 9)]);
        assert_eq!(partial("BYTES = 1-2 ,, 4-5,", 10), [r(1, 2), r(4, 5)]);
        assert_eq!(partial("bytes=8-9,0-1", 10), [r(8, 9), r(0, 1)]);
        assert_eq!(r(3, 5).len(), 3);
    }

    #[test]
    fn unsatisfiable_only_when_no_range_fits() {
        assert_eq!(parse_range("bytes=10-", 10), RangeRequest::Unsatisfiable);
        assert_eq!(parse_range("bytes=-0", 10), RangeRequest::Unsatisfiable);
        assert_eq!(parse_range("bytes=0-", 0), RangeRequest::Unsatisfiable);
        assert_eq!(parse_range("bytes=-5", 0), RangeRequest::Unsatisfiable);
        assert_eq!(partial("bytes=20-30,0-0", 10), [r(0, 0)]);
    }

    #[test]
    fn malformed_headers_are_ignored() {
        for header in [
            "",
            "bytes",
            "bytes=",
            "bytes=,",
            "bytes=abc",
            "bytes=1",
            "bytes=-",
            "bytes=5-2",
            "bytes=1-2-3",
            "bytes=+1-2",
            "bytes=1-+2",
            "bytes=- 5",
            "bytes=1 -2",
            "bytes=0x10-",
            "bytes=99999999999999999999-",
            "bytes=0-99999999999999999999",
            "bytes=-99999999999999999999",
            "bytes=0-1,garbage",
            "items=0-1",
            "=0-1",
            "bytes=１-2",
        ] {
            assert_eq!(parse_range(header, 10), RangeRequest::Full, "{header:?}");
        }
    }

    #[test]
    fn thousands_of_ranges_are_refused_not_served() {
        let many = (0..5000).map(|i| format!("{i}-{i}")).collect::<Vec<_>>();
        let header = format!("bytes={}", many.join(","));
        assert_eq!(parse_range(&header, 1 << 20), RangeRequest::Full);
        let most = format!("bytes={}", many[..MAX_RANGES].join(","));
        assert_eq!(partial(&most, 1 << 20), [r(0, MAX_RANGES as u64 - 1)]);
        let same = format!("bytes={}", vec!["0-"; MAX_RANGES].join(","));
        assert_eq!(partial(&same, 1 << 30), [r(0, (1 << 30) - 1)]);
    }

    #[test]
    fn overlapping_and_adjacent_ranges_merge() {
        assert_eq!(partial("bytes=0-4,2-8", 10), [r(0, 8)]);
        assert_eq!(partial("bytes=5-6,0-4", 10), [r(0, 6)]);
        assert_eq!(partial("bytes=-2,0-", 10), [r(0, 9)]);
        assert_eq!(partial("bytes=7-8,0-1,1-2", 10), [r(0, 2), r(7, 8)]);
        assert_eq!(partial("bytes=0-1,3-4", 10), [r(0, 1), r(3, 4)]);
    }
}
