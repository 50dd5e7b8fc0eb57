//! Per-core caches of header values both drivers write into every
//! response: the `Date` text (formatted at most once a second), the `date`
//! value HTTP/2 hands to HPACK, and the last `content-length` value.

use std::cell::RefCell;
use std::time::SystemTime;

use http::HeaderValue;

use crate::h1::DateCache;

thread_local! {
    static DATE: RefCell<DateCache> = RefCell::new(DateCache::new());

    /// The current date as a header value, rebuilt when the text changes.
    static DATE_VALUE: RefCell<HeaderValue> = const { RefCell::new(HeaderValue::from_static("")) };

    /// The last content-length value built on this core: responses of one
    /// route tend to repeat their length, and a clone is a reference count.
    static LAST_LENGTH: RefCell<Option<(u64, HeaderValue)>> = const { RefCell::new(None) };
}

/// Runs `f` with the current IMF-fixdate (formatted at most once a second).
pub(crate) fn with_date<R>(f: impl FnOnce(&[u8]) -> R) -> R {
    DATE.with(|d| {
        let mut d = d.borrow_mut();
        d.update(SystemTime::now());
        f(d.get())
    })
}

/// The cached `date` value (a cheap clone of shared bytes).
pub(crate) fn date_value() -> HeaderValue {
    DATE_VALUE.with(|cell| {
        let mut cached = cell.borrow_mut();
        with_date(|now| {
            if cached.as_bytes() != now {
                if let Ok(v) = HeaderValue::from_bytes(now) {
                    *cached = v;
                }
            }
        });
        cached.clone()
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
    fn cached_date_value_is_the_current_date() {
        // Retried: the second may turn between the two reads.
        let same = (0..3).any(|_| {
            let value = date_value();
            assert_eq!(value.len(), "Sun, 06 Nov 1994 08:49:37 GMT".len());
            with_date(|now| value.as_bytes() == now)
        });
        assert!(same, "the cached value follows the date");
    }
}
