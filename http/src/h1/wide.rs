//! Sixteen bytes at a time for the scanner's byte loops: where, from
//! `pos`, the first byte that may end a run of one byte class is. Each
//! [`Run`] flags a superset of the bytes outside its class (so a byte not
//! flagged is in it); the scanner checks a flagged byte with its table and
//! goes on past it when it is in the class after all (a `_` in a field
//! name, a tab in a value).
//!
//! On x86_64 this is SSE2 (part of the architecture's baseline); on other
//! targets, and under Miri, [`first_flagged`] looks at no chunk and the
//! scanner's table loop does all the work. The tests compare both on every
//! byte at every position of a chunk.

/// The byte runs the scanner skips.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Run {
    /// A method or a field name: letters, digits and `-` go unflagged.
    Token,
    /// An origin-form path: 0x21..=0x7e but `#`, `<`, `>`, `?` and `` ` ``.
    Path,
    /// A query: 0x21..=0x7e but `"`, `#`, `<` and `>`.
    Query,
    /// A field value: any byte but the ones under 0x20 and DEL.
    Value,
}

/// The position of the first flagged byte at or after `pos`, looking at
/// whole 16-byte chunks only: if no chunk from `pos` on has one, the
/// position of the first byte after the last whole chunk (fewer than 16
/// bytes before the end of `data`, which the caller goes through itself).
#[cfg(all(target_arch = "x86_64", not(miri)))]
#[inline(always)]
pub(super) fn first_flagged(data: &[u8], mut pos: usize, run: Run) -> usize {
    while let Some(chunk) = data.get(pos..pos + 16) {
        // SAFETY: `flags` only needs SSE2, which every x86_64 CPU has (it
        // is part of the architecture's baseline, enabled for this target).
        let flags = unsafe { sse2::flags(chunk, run) };
        if flags != 0 {
            return pos + flags.trailing_zeros() as usize;
        }
        pos += 16;
    }
    pos
}

/// [`first_flagged`] where there is no SSE2, and under Miri: no chunk.
#[cfg(not(all(target_arch = "x86_64", not(miri))))]
#[inline(always)]
pub(super) fn first_flagged(_data: &[u8], pos: usize, _run: Run) -> usize {
    pos
}

/// Whether `data[start..end]`, a `Host` value, is certainly one
/// `target::valid_host` takes: letters, digits, `.` and `-`, then at most
/// a `:` and digits (a reg-name and a port), the sixteen bytes from `start`
/// looked at at once. `false` says nothing (a value longer than sixteen
/// bytes, fewer than sixteen bytes in `data` from `start`, another byte, no
/// SSE2): the caller checks the value byte by byte.
#[cfg(all(target_arch = "x86_64", not(miri)))]
#[inline(always)]
pub(super) fn simple_host(data: &[u8], start: usize, end: usize) -> bool {
    let (Some(chunk), Some(len)) = (data.get(start..start + 16), end.checked_sub(start)) else {
        return false;
    };
    if len > 16 {
        return false;
    }
    // SAFETY: `host_flags` only needs SSE2, which every x86_64 CPU has.
    let (odd, digits) = unsafe { sse2::host_flags(chunk) };
    let value = (1u32 << len) - 1;
    let odd = odd & value;
    if odd == 0 {
        return true;
    }
    let colon = odd.trailing_zeros();
    // The bits after the colon, up to the value's end.
    let port = value & !((2u32 << colon) - 1);
    chunk.get(colon as usize) == Some(&b':') && digits & port == port
}

/// [`simple_host`] where there is no SSE2, and under Miri: nothing known.
#[cfg(not(all(target_arch = "x86_64", not(miri))))]
#[inline(always)]
pub(super) fn simple_host(_data: &[u8], _start: usize, _end: usize) -> bool {
    false
}

#[cfg(all(target_arch = "x86_64", not(miri)))]
mod sse2 {
    use core::arch::x86_64::{
        __m128i, _mm_cmpeq_epi8, _mm_loadu_si128, _mm_min_epu8, _mm_movemask_epi8, _mm_or_si128,
        _mm_set1_epi8, _mm_sub_epi8,
    };

    use super::Run;

    /// One bit per byte of `chunk` (16 bytes), set for a flagged byte.
    #[target_feature(enable = "sse2")]
    #[inline]
    pub(super) fn flags(chunk: &[u8], run: Run) -> u32 {
        let Ok(chunk) = <&[u8; 16]>::try_from(chunk) else {
            return 0;
        };
        // SAFETY: `chunk` is 16 readable bytes; `_mm_loadu_si128` reads
        // exactly 16 bytes and needs no alignment; SSE2 is part of the
        // x86_64 baseline, so the instruction exists on every CPU this
        // code runs on.
        let v = unsafe { _mm_loadu_si128(chunk.as_ptr().cast::<__m128i>()) };
        let bad = match run {
            Run::Token => {
                let letter = within(_mm_or_si128(v, splat(0x20)), b'a', b'z');
                let digit = within(v, b'0', b'9');
                let ok = _mm_or_si128(_mm_or_si128(letter, digit), eq(v, b'-'));
                return !mask(ok) & 0xffff;
            }
            Run::Path => {
                let ok = mask(within(v, 0x21, 0x7e));
                let odd = or4(eq(v, b'#'), eq(v, b'<'), eq(v, b'>'), eq(v, b'?'));
                return (!ok & 0xffff) | mask(_mm_or_si128(odd, eq(v, b'`')));
            }
            Run::Query => {
                let ok = mask(within(v, 0x21, 0x7e));
                let odd = or4(eq(v, b'"'), eq(v, b'#'), eq(v, b'<'), eq(v, b'>'));
                return (!ok & 0xffff) | mask(odd);
            }
            Run::Value => _mm_or_si128(within(v, 0, 0x1f), eq(v, 0x7f)),
        };
        mask(bad)
    }

    /// For the 16 bytes of `chunk`: the bytes other than letters, digits,
    /// `.` and `-`; and the digits.
    #[target_feature(enable = "sse2")]
    #[inline]
    pub(super) fn host_flags(chunk: &[u8]) -> (u32, u32) {
        let Ok(chunk) = <&[u8; 16]>::try_from(chunk) else {
            return (0xffff, 0);
        };
        // SAFETY: as in `flags`: 16 readable bytes, no alignment needed.
        let v = unsafe { _mm_loadu_si128(chunk.as_ptr().cast::<__m128i>()) };
        let letter = within(_mm_or_si128(v, splat(0x20)), b'a', b'z');
        let digit = within(v, b'0', b'9');
        let ok = or4(letter, digit, eq(v, b'.'), eq(v, b'-'));
        (!mask(ok) & 0xffff, mask(digit))
    }

    /// Every byte `b`.
    #[target_feature(enable = "sse2")]
    #[inline]
    fn splat(b: u8) -> __m128i {
        _mm_set1_epi8(b as i8)
    }

    /// 0xff where the byte of `v` equals `b`.
    #[target_feature(enable = "sse2")]
    #[inline]
    fn eq(v: __m128i, b: u8) -> __m128i {
        _mm_cmpeq_epi8(v, splat(b))
    }

    /// 0xff where the byte of `v` is in `lo..=hi` (unsigned): `v - lo`,
    /// wrapping, is at most `hi - lo`.
    #[target_feature(enable = "sse2")]
    #[inline]
    fn within(v: __m128i, lo: u8, hi: u8) -> __m128i {
        let shifted = _mm_sub_epi8(v, splat(lo));
        _mm_cmpeq_epi8(_mm_min_epu8(shifted, splat(hi - lo)), shifted)
    }

    #[target_feature(enable = "sse2")]
    #[inline]
    fn or4(a: __m128i, b: __m128i, c: __m128i, d: __m128i) -> __m128i {
        _mm_or_si128(_mm_or_si128(a, b), _mm_or_si128(c, d))
    }

    /// The top bit of each byte, one bit per byte.
    #[target_feature(enable = "sse2")]
    #[inline]
    fn mask(v: __m128i) -> u32 {
        _mm_movemask_epi8(v) as u32
    }
}
