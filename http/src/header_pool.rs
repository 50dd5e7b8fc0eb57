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

use http::HeaderMap;
use percore_runtime::local_pool::LocalPool;

/// Most maps one core keeps.
const MAX_POOLED: usize = 32;
/// Largest map (in entries it can hold without growing) worth keeping.
const MAX_CAPACITY: usize = 64;

thread_local! {
    static POOL: LocalPool<HeaderMap> = const { LocalPool::new(MAX_POOLED) };
}

/// An empty map: a recycled one when the pool has it, else a new one (which
/// allocates nothing until its first insert).
#[inline]
pub fn take() -> HeaderMap {
    POOL.try_with(LocalPool::pop)
        .ok()
        .flatten()
        .unwrap_or_default()
}

/// Gives `map` back for reuse: it is cleared (its values dropped) and kept if
/// the pool has room and the map is not oversized; otherwise it is freed.
#[inline]
pub fn recycle(mut map: HeaderMap) {
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
        POOL.with(LocalPool::len)
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
