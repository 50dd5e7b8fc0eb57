//! A per-core pool of emptied `HeaderMap`s.
//!
//! Every request and every response carries a `HeaderMap`, and a fresh one
//! costs two allocations and two frees (its index table and its entries). A
//! core serves requests one after another, so the maps of finished requests
//! and responses are kept, cleared but with their memory, and handed to the
//! next ones. The pool is thread-local (percore never moves a request between
//! cores), bounded in count, and keeps only modest maps, so a request with a
//! hundred headers does not leave a large map behind.
//!
//! ```
//! use percore_http::header_pool;
//! let mut map = header_pool::take();
//! map.insert(http::header::HOST, "example.com".parse().unwrap());
//! header_pool::recycle(map);
//! let again = header_pool::take();
//! assert!(again.is_empty());
//! ```
//!
//! A map that comes back holding exactly one field is kept with it, in a
//! pool of its own: [`take_with`] hands it out as it is when the field is
//! the one asked for (a response's `content-type`, typically), so the
//! common response neither clears nor inserts.

use http::header::{HeaderName, HeaderValue};
use http::HeaderMap;
use percore_runtime::local_pool::LocalPool;

/// Most maps one core keeps.
const MAX_POOLED: usize = 32;
/// Largest map (in entries it can hold without growing) worth keeping.
const MAX_CAPACITY: usize = 64;

thread_local! {
    static POOL: LocalPool<HeaderMap> = const { LocalPool::new(MAX_POOLED) };
    /// Maps returned with exactly one (not sensitive) field, kept with it.
    static ONE_FIELD: LocalPool<HeaderMap> = const { LocalPool::new(MAX_POOLED) };
}

/// An empty map: a recycled one when the pool has it, else a new one (which
/// allocates nothing until its first insert).
#[inline]
pub fn take() -> HeaderMap {
    if let Some(map) = POOL.try_with(LocalPool::pop).ok().flatten() {
        return map;
    }
    match ONE_FIELD.try_with(LocalPool::pop).ok().flatten() {
        Some(mut map) => {
            map.clear();
            map
        }
        None => HeaderMap::new(),
    }
}

/// A map holding exactly the field `name: value` (as if by `insert` into
/// [`take`]'s map): a recycled map that came back with that one field is
/// handed out as it is, without clearing it or inserting again.
///
/// ```
/// use http::header::{HeaderValue, CONTENT_TYPE};
/// use percore_http::header_pool;
/// let text = HeaderValue::from_static("text/plain");
/// let map = header_pool::take_with(CONTENT_TYPE, text.clone());
/// header_pool::recycle(map);
/// let again = header_pool::take_with(CONTENT_TYPE, text.clone());
/// assert_eq!(again.len(), 1);
/// assert_eq!(again[CONTENT_TYPE], text);
/// ```
#[inline]
pub fn take_with(name: HeaderName, value: HeaderValue) -> HeaderMap {
    if let Some(mut map) = ONE_FIELD.try_with(LocalPool::pop).ok().flatten() {
        let same = map
            .iter()
            .next()
            .is_some_and(|(n, v)| *n == name && same_value(v, &value) && !value.is_sensitive());
        if !same {
            map.clear();
            map.insert(name, value);
        }
        return map;
    }
    let mut map = take();
    map.insert(name, value);
    map
}

/// Whether two values hold the same bytes: first by where the bytes are
/// (a `const` value, like the web layer's `content-type`s, points at the
/// same static text every time), then by comparing them.
#[inline]
pub(crate) fn same_value(a: &HeaderValue, b: &HeaderValue) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    (a.as_ptr() == b.as_ptr() && a.len() == b.len()) || a == b
}

/// Gives `map` back for reuse: it is cleared (its values dropped) and kept if
/// the pool has room and the map is not oversized; otherwise it is freed.
#[inline]
pub fn recycle(mut map: HeaderMap) {
    // The common response first: one field, kept with it.
    if map.len() == 1 {
        let plain = map.iter().next().is_some_and(|(_, v)| !v.is_sensitive());
        if plain && map.capacity() <= MAX_CAPACITY {
            let _ = ONE_FIELD.try_with(|pool| pool.push(map));
            return;
        }
    }
    let capacity = map.capacity();
    // `len` counts every value, those of repeated names included, which
    // `capacity` (the index table) does not see.
    if capacity == 0 || capacity > MAX_CAPACITY || map.len() > MAX_CAPACITY {
        return;
    }
    map.clear();
    let _ = POOL.try_with(|pool| pool.push(map));
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::header::{CONTENT_TYPE, HOST};

    fn pooled() -> usize {
        POOL.with(LocalPool::len) + ONE_FIELD.with(LocalPool::len)
    }

    #[test]
    fn a_map_with_one_field_comes_back_with_it_only_when_asked_for_it() {
        let text = HeaderValue::from_static("text/plain");
        let html = HeaderValue::from_static("text/html");
        // Asked for another field or for an empty map: cleared first.
        recycle(take_with(CONTENT_TYPE, text.clone()));
        let other = take_with(CONTENT_TYPE, html.clone());
        assert_eq!(other.len(), 1);
        assert_eq!(other[CONTENT_TYPE], html);
        recycle(other);
        let empty = take();
        assert!(empty.is_empty());
        recycle(take_with(HOST, text.clone()));
        let same_value_other_name = take_with(CONTENT_TYPE, text.clone());
        assert_eq!(same_value_other_name.len(), 1);
        assert_eq!(same_value_other_name[CONTENT_TYPE], text);
        recycle(same_value_other_name);
        let again = take_with(CONTENT_TYPE, text.clone());
        assert_eq!(again.len(), 1);
        assert_eq!(again[CONTENT_TYPE], text);
        // A sensitive value is not kept in its map, nor handed out as kept.
        let mut secret = again;
        let mut hidden = HeaderValue::from_static("text/plain");
        hidden.set_sensitive(true);
        secret.insert(CONTENT_TYPE, hidden);
        recycle(secret);
        let plain = take_with(CONTENT_TYPE, text.clone());
        assert_eq!(plain.len(), 1);
        assert!(!plain[CONTENT_TYPE].is_sensitive());
        let mut asked_sensitive = HeaderValue::from_static("text/plain");
        asked_sensitive.set_sensitive(true);
        recycle(plain);
        let sensitive = take_with(CONTENT_TYPE, asked_sensitive);
        assert!(sensitive[CONTENT_TYPE].is_sensitive());
    }

    #[test]
    fn a_recycled_map_comes_back_empty_with_its_memory() {
        let mut map = take();
        map.insert(HOST, "a".parse().unwrap());
        map.insert(CONTENT_TYPE, "b".parse().unwrap());
        let capacity = map.capacity();
        let before = pooled();
        recycle(map);
        assert_eq!(pooled(), before + 1);
        let again = take();
        assert!(again.is_empty());
        assert_eq!(again.capacity(), capacity);
        assert_eq!(pooled(), before);
    }

    #[test]
    fn empty_and_oversized_maps_are_not_kept() {
        let before = pooled();
        recycle(HeaderMap::new());
        let mut big = HeaderMap::with_capacity(MAX_CAPACITY * 4);
        big.insert(HOST, "a".parse().unwrap());
        recycle(big);
        let mut repeated = HeaderMap::with_capacity(4);
        for _ in 0..MAX_CAPACITY * 4 {
            repeated.append(http::header::SET_COOKIE, "a=b".parse().unwrap());
        }
        assert!(repeated.capacity() <= MAX_CAPACITY, "one name, many values");
        recycle(repeated);
        assert_eq!(pooled(), before);
    }

    #[test]
    fn the_pool_is_bounded() {
        for _ in 0..MAX_POOLED * 2 {
            let mut map = HeaderMap::with_capacity(4);
            map.insert(HOST, "a".parse().unwrap());
            recycle(map);
        }
        assert_eq!(pooled(), MAX_POOLED);
    }
}
