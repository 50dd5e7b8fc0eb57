//! A bounded, per-thread free list: the one mechanism behind percore's
//! per-core pools (write buffers, header maps). Items are given back
//! emptied by their owner; the pool only keeps at most `max` of them and
//! never panics when reached again from within a `push` or `pop` (a
//! reentrant call simply finds nothing or keeps nothing).
//!
//! ```
//! use percore_runtime::local_pool::LocalPool;
//! thread_local! {
//!     static POOL: LocalPool<Vec<u8>> = const { LocalPool::new(2) };
//! }
//! POOL.with(|p| {
//!     p.push(Vec::with_capacity(16));
//!     p.push(Vec::new());
//!     p.push(Vec::new()); // over the bound: dropped
//!     assert_eq!(p.len(), 2);
//!     assert!(p.pop().is_some());
//! });
//! ```

use std::cell::RefCell;

/// A free list of at most `max` items, meant for a `thread_local!`.
#[derive(Debug)]
pub struct LocalPool<T> {
    items: RefCell<Vec<T>>,
    max: usize,
}

impl<T> LocalPool<T> {
    /// An empty pool that keeps at most `max` items.
    pub const fn new(max: usize) -> LocalPool<T> {
        LocalPool {
            items: RefCell::new(Vec::new()),
            max,
        }
    }

    /// A kept item, if any.
    #[inline]
    pub fn pop(&self) -> Option<T> {
        self.items.try_borrow_mut().ok()?.pop()
    }

    /// Keeps `item` if there is room; otherwise drops it.
    #[inline]
    pub fn push(&self, item: T) {
        if let Ok(mut items) = self.items.try_borrow_mut() {
            if items.len() < self.max {
                items.push(item);
            }
        }
    }

    /// How many items are kept.
    pub fn len(&self) -> usize {
        self.items.borrow().len()
    }

    /// Whether no item is kept.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}
