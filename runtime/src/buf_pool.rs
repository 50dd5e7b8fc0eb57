//! A per-core pool of write buffers, so that a connection holds one only
//! while it has bytes to send.
//!
//! A server connection encodes its answers into a buffer, writes it, and
//! then usually waits for the peer for much longer than it took to write.
//! Keeping the buffer across that wait costs its capacity per idle
//! connection; freeing it and allocating the next costs a `malloc` and a
//! `free` per answer. Instead the emptied buffer goes back to this pool
//! when its write completes and the next writer on the core takes it: an
//! idle connection holds no write buffer, and the busy ones share a few.
//! The pool is thread-local (percore never moves a connection between
//! cores), bounded in count, and keeps only buffers of [`CAPACITY`].
//!
//! ```
//! use percore_runtime::buf_pool;
//! let mut buf = buf_pool::take();
//! buf.extend_from_slice(b"HTTP/1.1 200 OK\r\n\r\n");
//! buf_pool::recycle(buf);
//! let again = buf_pool::take();
//! assert!(again.is_empty());
//! assert!(again.capacity() >= buf_pool::CAPACITY);
//! ```

use bytes::BytesMut;

use crate::local_pool::LocalPool;

/// The capacity of the buffers handed out.
pub const CAPACITY: usize = 8 * 1024;
/// Most buffers one core keeps.
const MAX_POOLED: usize = 64;

thread_local! {
    static POOL: LocalPool<BytesMut> = const { LocalPool::new(MAX_POOLED) };
}

/// An empty buffer of [`CAPACITY`] bytes: a recycled one when the pool has
/// one, else a new one.
#[inline]
pub fn take() -> BytesMut {
    POOL.try_with(LocalPool::pop)
        .ok()
        .flatten()
        .unwrap_or_else(|| BytesMut::with_capacity(CAPACITY))
}

/// Gives `buf` back for reuse: it is cleared and kept if the pool has room
/// and it has exactly the capacity handed out (a buffer that grew, or one
/// whose start was consumed, is freed).
#[inline]
pub fn recycle(mut buf: BytesMut) {
    if buf.capacity() != CAPACITY {
        return;
    }
    buf.clear();
    let _ = POOL.try_with(|pool| pool.push(buf));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pooled() -> usize {
        POOL.with(LocalPool::len)
    }

    #[test]
    fn a_recycled_buffer_comes_back_empty_with_its_memory() {
        let mut buf = take();
        buf.extend_from_slice(b"hello");
        let ptr = buf.as_ptr();
        let before = pooled();
        recycle(buf);
        assert_eq!(pooled(), before + 1);
        let again = take();
        assert!(again.is_empty());
        assert_eq!(again.capacity(), CAPACITY);
        assert_eq!(again.as_ptr(), ptr, "the same allocation");
        assert_eq!(pooled(), before);
    }

    #[test]
    fn grown_and_consumed_buffers_are_not_kept() {
        let before = pooled();
        let mut grown = take();
        grown.extend_from_slice(&[0; CAPACITY + 1]);
        recycle(grown);
        let mut consumed = take();
        consumed.extend_from_slice(b"abc");
        let _ = consumed.split_to(2);
        recycle(consumed);
        recycle(BytesMut::new());
        assert_eq!(pooled(), before);
    }

    #[test]
    fn the_pool_is_bounded() {
        for _ in 0..MAX_POOLED * 2 {
            recycle(BytesMut::with_capacity(CAPACITY));
        }
        assert_eq!(pooled(), MAX_POOLED);
    }
}
