//! Per-core caches of header values both drivers write into every
//! response: the `Date` text (formatted at most once a second; the one of
//! the core: HTTP/1.1's head cache keys its kept head by the text's
//! generation), the `date` value HTTP/2 hands to HPACK, and the last
//! `content-length` value.
//!
//! The `Date` costs no clock read per response: the wall clock is read
//! once a second, and in between the cached text is kept while the loop
//! turn's own monotonic reading ([`coarse_now`]) is before the instant
//! the second ends. So a `Date` may lag the true time by at most one loop
//! turn (the turn's reading is behind the true time by how long the turn
//! has run), never by more than that; a step of the wall clock shows at
//! the next second.

use std::cell::RefCell;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use http::HeaderValue;
use percore_runtime::time::coarse_now;

use crate::h1::DateCache;

/// The cached date text and until when (monotonic) it stays current.
pub(crate) struct Date {
    cache: DateCache,
    until: Option<Instant>,
}

impl Date {
    /// No date yet: the first [`refresh`](Self::refresh) reads the clock.
    pub(crate) const EMPTY: Date = Date {
        cache: DateCache::EMPTY,
        until: None,
    };

    /// The date text (IMF-fixdate).
    #[inline]
    pub(crate) fn text(&self) -> &[u8] {
        self.cache.get()
    }

    /// Makes the text current, as of the turn's reading `now`; whether the
    /// text changed.
    #[inline]
    pub(crate) fn refresh(&mut self, now: Instant) -> bool {
        if self.until.is_some_and(|until| now < until) {
            return false;
        }
        let wall = SystemTime::now();
        let changed = self.cache.update(wall);
        let into_second = wall
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        // `now` is at or before the wall reading: the text's end falls at
        // or before the true end of its second.
        self.until = Some(now + Duration::from_nanos(u64::from(1_000_000_000 - into_second)));
        changed
    }
}

/// A core's `Date` text and its generation: a count bumped each time the
/// text is formatted again, so that what was made from one text (a kept
/// response head, the HTTP/2 `date` value) is checked by one comparison.
struct CoreDate {
    date: Date,
    generation: u64,
}

thread_local! {
    /// The core's one `Date` (both drivers, every response).
    static DATE: RefCell<CoreDate> = const {
        RefCell::new(CoreDate {
            date: Date::EMPTY,
            generation: 0,
        })
    };

    /// The current date as a header value and the generation it was made
    /// from, rebuilt when the text changes.
    static DATE_VALUE: RefCell<(u64, HeaderValue)> =
        const { RefCell::new((0, HeaderValue::from_static(""))) };

    /// The last content-length value built on this core: responses of one
    /// route tend to repeat their length, and a clone is a reference count.
    static LAST_LENGTH: RefCell<Option<(u64, HeaderValue)>> = const { RefCell::new(None) };
}

/// Runs `f` with the current IMF-fixdate (formatted at most once a
/// second) and its generation (changed whenever the text changes).
#[inline]
pub(crate) fn with_date<R>(f: impl FnOnce(&[u8], u64) -> R) -> R {
    DATE.with(|d| {
        let mut d = d.borrow_mut();
        let d = &mut *d;
        if d.date.refresh(coarse_now()) {
            d.generation += 1;
        }
        f(d.date.text(), d.generation)
    })
}

/// The cached `date` value (a cheap clone of shared bytes).
pub(crate) fn date_value() -> HeaderValue {
    DATE_VALUE.with(|cell| {
        let mut cached = cell.borrow_mut();
        with_date(|now, generation| {
            if cached.0 != generation {
                if let Ok(v) = HeaderValue::from_bytes(now) {
                    *cached = (generation, v);
                }
            }
        });
        cached.1.clone()
    })
}

/// `n` as a header value, reusing the previous one when the length repeats.
pub(crate) fn length_value(n: u64) -> HeaderValue {
    LAST_LENGTH.with(|cell| {
        let mut last = cell.borrow_mut();
        match &*last {
            Some((m, v)) if *m == n => v.clone(),
            _ => {
                let v = HeaderValue::from(n);
                *last = Some((n, v.clone()));
                v
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::{date_value, length_value, with_date};

    #[test]
    fn cached_length_value_follows_the_length() {
        for n in [13u64, 13, 0, 13, 1 << 40, 1 << 40, 7] {
            assert_eq!(length_value(n), n.to_string().as_str());
        }
    }

    #[test]
    fn date_is_read_again_once_its_second_ends() {
        use super::Date;
        use crate::h1::DateCache;
        use std::time::{Duration, Instant};
        let mut d = Date {
            cache: DateCache::EMPTY,
            until: None,
        };
        let now = Instant::now();
        d.refresh(now);
        let until = d.until.expect("a first refresh reads the clock");
        assert!(until > now && until <= now + Duration::from_secs(1));
        assert_ne!(d.cache.get(), DateCache::EMPTY.get());
        // Within the second: kept as it is.
        d.cache = DateCache::EMPTY;
        d.refresh(until - Duration::from_nanos(1));
        assert_eq!(d.cache.get(), DateCache::EMPTY.get());
        assert_eq!(d.until, Some(until));
        // At its end: read and formatted again, valid for at most a second.
        d.refresh(until);
        assert_ne!(d.cache.get(), DateCache::EMPTY.get());
        let next = d.until.unwrap();
        assert!(next > until && next <= until + Duration::from_secs(1));
    }

    #[test]
    fn a_refresh_says_whether_the_text_changed() {
        use super::Date;
        use crate::h1::DateCache;
        use std::time::Instant;
        let mut d = Date {
            cache: DateCache::EMPTY,
            until: None,
        };
        assert!(d.refresh(Instant::now()), "the first text is new");
        // Within the second: no clock read, no change.
        let until = d.until.expect("a first refresh reads the clock");
        assert!(!d.refresh(until - std::time::Duration::from_nanos(1)));
        // A clock read that may land in the same second (the monotonic
        // clock said it was over): true only if the text did change.
        for _ in 0..3 {
            let before = d.text().to_vec();
            d.until = None;
            let changed = d.refresh(Instant::now());
            assert_eq!(changed, d.text() != before.as_slice());
        }
    }

    #[test]
    fn cached_date_value_is_the_current_date() {
        // Retried: the second may turn between the two reads.
        let same = (0..3).any(|_| {
            let value = date_value();
            assert_eq!(value.len(), "Sun, 06 Nov 1994 08:49:37 GMT".len());
            with_date(|now, _| value.as_bytes() == now)
        });
        assert!(same, "the cached value follows the date");
    }
}
