//! The per-core cached `Date` header value.

use std::cell::RefCell;
use std::time::SystemTime;

use crate::h1::DateCache;

thread_local! {
    static DATE: RefCell<DateCache> = RefCell::new(DateCache::new());
}

/// Runs `f` with the current IMF-fixdate (formatted at most once a second).
pub(crate) fn with_date<R>(f: impl FnOnce(&[u8]) -> R) -> R {
    DATE.with(|d| {
        let mut d = d.borrow_mut();
        d.update(SystemTime::now());
        f(d.get())
    })
}
