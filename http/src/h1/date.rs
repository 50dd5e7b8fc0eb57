//! The `Date` header value, formatted at most once per second.

use std::time::{SystemTime, UNIX_EPOCH};

/// Caches the IMF-fixdate of the current second.
///
/// ```
/// use percore_http::h1::DateCache;
/// use std::time::{Duration, UNIX_EPOCH};
/// let mut d = DateCache::new();
/// assert!(d.update(UNIX_EPOCH + Duration::from_secs(784111777)));
/// assert_eq!(d.get(), b"Sun, 06 Nov 1994 08:49:37 GMT");
/// assert!(!d.update(UNIX_EPOCH + Duration::from_millis(784111777_900)));
/// ```
#[derive(Debug)]
pub struct DateCache {
    second: u64,
    text: [u8; 29],
}

impl Default for DateCache {
    fn default() -> Self {
        DateCache::new()
    }
}

impl DateCache {
    /// A cache holding no date yet (blank text); the first
    /// [`update`](Self::update) fills it.
    pub const EMPTY: DateCache = DateCache {
        second: u64::MAX,
        text: [b' '; 29],
    };

    /// A cache holding the current time.
    pub fn new() -> DateCache {
        let mut d = DateCache::EMPTY;
        d.update(SystemTime::now());
        d
    }

    /// Reformats if `now` is in a different second than the cached value;
    /// whether it did (the text changed).
    pub fn update(&mut self, now: SystemTime) -> bool {
        let secs = now.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
        if secs == self.second {
            return false;
        }
        self.second = secs;
        self.text = format_imf_fixdate(secs);
        true
    }

    /// The cached value, e.g. `Sun, 06 Nov 1994 08:49:37 GMT`.
    pub fn get(&self) -> &[u8] {
        &self.text
    }
}

/// Formats seconds since the Unix epoch as an IMF-fixdate (RFC 9110 §5.6.7).
fn format_imf_fixdate(secs: u64) -> [u8; 29] {
    const DAYS: [&[u8; 3]; 7] = [b"Thu", b"Fri", b"Sat", b"Sun", b"Mon", b"Tue", b"Wed"];
    const MONTHS: [&[u8; 3]; 12] = [
        b"Jan", b"Feb", b"Mar", b"Apr", b"May", b"Jun", b"Jul", b"Aug", b"Sep", b"Oct", b"Nov",
        b"Dec",
    ];
    let days = secs / 86_400;
    let rem = secs % 86_400;
    let (hour, minute, second) = (rem / 3600, (rem % 3600) / 60, rem % 60);
    // Civil date from days since 1970-01-01 (H. Hinnant's algorithm).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);

    let mut out = [b' '; 29];
    out[..3].copy_from_slice(DAYS[(days % 7) as usize]);
    out[3] = b',';
    let two = |v: u64| [b'0' + (v / 10 % 10) as u8, b'0' + (v % 10) as u8];
    out[5..7].copy_from_slice(&two(day as u64));
    out[8..11].copy_from_slice(MONTHS[(month - 1) as usize]);
    let y = year.clamp(0, 9999) as u64;
    out[12..16].copy_from_slice(&[
        b'0' + (y / 1000) as u8,
        b'0' + (y / 100 % 10) as u8,
        b'0' + (y / 10 % 10) as u8,
        b'0' + (y % 10) as u8,
    ]);
    out[17..19].copy_from_slice(&two(hour));
    out[19] = b':';
    out[20..22].copy_from_slice(&two(minute));
    out[22] = b':';
    out[23..25].copy_from_slice(&two(second));
    out[26..29].copy_from_slice(b"GMT");
    out
}

#[cfg(test)]
mod tests {
    use super::{format_imf_fixdate, DateCache};
    use std::time::{Duration, UNIX_EPOCH};

    #[test]
    fn known_dates() {
        let cases: &[(u64, &str)] = &[
            (0, "Thu, 01 Jan 1970 00:00:00 GMT"),
            (86_399, "Thu, 01 Jan 1970 23:59:59 GMT"),
            (86_400, "Fri, 02 Jan 1970 00:00:00 GMT"),
            (68_169_600, "Tue, 29 Feb 1972 00:00:00 GMT"),
            (784_111_777, "Sun, 06 Nov 1994 08:49:37 GMT"),
            (946_684_799, "Fri, 31 Dec 1999 23:59:59 GMT"),
            (951_782_400, "Tue, 29 Feb 2000 00:00:00 GMT"),
            (951_868_800, "Wed, 01 Mar 2000 00:00:00 GMT"),
            (1_709_251_199, "Thu, 29 Feb 2024 23:59:59 GMT"),
            (1_798_761_599, "Thu, 31 Dec 2026 23:59:59 GMT"),
            (4_107_456_000, "Sun, 28 Feb 2100 00:00:00 GMT"),
            (4_107_542_400, "Mon, 01 Mar 2100 00:00:00 GMT"),
            (13_574_563_200, "Tue, 29 Feb 2400 00:00:00 GMT"),
            (253_402_300_799, "Fri, 31 Dec 9999 23:59:59 GMT"),
        ];
        for &(secs, want) in cases {
            assert_eq!(
                std::str::from_utf8(&format_imf_fixdate(secs)).unwrap(),
                want,
                "{secs}"
            );
        }
    }

    #[test]
    fn cache_reformats_only_on_a_new_second() {
        let mut d = DateCache::new();
        let t = UNIX_EPOCH + Duration::from_secs(784_111_777);
        d.update(t);
        assert_eq!(d.get(), b"Sun, 06 Nov 1994 08:49:37 GMT");
        d.update(t + Duration::from_millis(999));
        assert_eq!(d.get(), b"Sun, 06 Nov 1994 08:49:37 GMT");
        d.update(t + Duration::from_secs(1));
        assert_eq!(d.get(), b"Sun, 06 Nov 1994 08:49:38 GMT");
        // Before the epoch: clamped to it rather than panicking.
        d.update(UNIX_EPOCH - Duration::from_secs(5));
        assert_eq!(d.get(), b"Thu, 01 Jan 1970 00:00:00 GMT");
        // Far future: year clamped to four digits.
        d.update(UNIX_EPOCH + Duration::from_secs(u64::MAX / 4));
        assert_eq!(d.get().len(), 29);
    }
}
