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

/// Writes `value` over `slot`, whose old value owns nothing (a pooled
/// item given back emptied, a default that allocates nothing): no drop
/// glue runs for the old value. A value that did own something is leaked,
/// never freed twice.
///
/// ```
/// use percore_runtime::local_pool::replace_empty;
/// let mut slot: Vec<u8> = Vec::new();
/// replace_empty(&mut slot, vec![1, 2]);
/// assert_eq!(slot, [1, 2]);
/// ```
#[inline(always)]
pub fn replace_empty<T>(slot: &mut T, value: T) {
    std::mem::forget(std::mem::replace(slot, value));
}
