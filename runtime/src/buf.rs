//! Owned buffers for completion-style I/O.
//!
//! An I/O operation takes its buffer by value and gives it back with the
//! result: `read(buf) -> (io::Result<usize>, buf)`. While the operation is in
//! flight the driver owns the buffer, so the kernel (io_uring) never writes
//! into memory that was freed or moved. The pointers these traits hand out
//! must therefore stay valid when the buffer value itself is moved: heap
//! storage (`Vec`, `BytesMut`, `Box<[u8]>`, `Bytes`) or `'static` data.
//!
//! Reads **append**: a read writes into the spare capacity of a `Vec<u8>` or
//! `BytesMut` (after `len()`, up to `capacity()`) and grows `len()` by the
//! number of bytes read. A `Box<[u8]>` has no spare capacity; a read
//! overwrites it from the start and the caller uses the returned count.
//!
//! ```
//! use percore_runtime::buf::IoBufMut;
//! let mut v: Vec<u8> = Vec::with_capacity(16);
//! v.extend_from_slice(b"ab");
//! let (_, room) = v.read_target();
//! assert_eq!(room, 14);
//! ```

use bytes::{Bytes, BytesMut};

/// A buffer whose initialised bytes an operation may send.
///
/// # Safety
/// `write_source` must return a pointer to `len` initialised bytes that stay
/// valid and unchanged while the value is alive, even when the value is moved.
pub unsafe trait IoBuf: Send + 'static {
    /// Pointer to and length of the bytes to write.
    fn write_source(&self) -> (*const u8, usize);

    /// The bytes to write, as a slice.
    fn as_bytes(&self) -> &[u8];
}

/// A buffer the kernel may write into.
///
/// # Safety
/// `read_target` must return a pointer to `len` writable bytes that stay
/// valid while the value is alive, even when the value is moved, and
/// `advance_written(n)` must only mark bytes the kernel wrote as initialised.
pub unsafe trait IoBufMut: Send + 'static {
    /// Pointer to and length of the region a read may fill.
    fn read_target(&mut self) -> (*mut u8, usize);

    /// Records that the first `n` bytes of the read target were written.
    ///
    /// # Safety
    /// `n` bytes starting at the pointer returned by `read_target` must have
    /// been initialised.
    unsafe fn advance_written(&mut self, n: usize);
}

// SAFETY: a Vec's heap storage does not move when the Vec value moves; the
// initialised part is `..len()`.
unsafe impl IoBuf for Vec<u8> {
    fn write_source(&self) -> (*const u8, usize) {
        (self.as_ptr(), self.len())
    }
    fn as_bytes(&self) -> &[u8] {
        self
    }
}

// SAFETY: the spare capacity `len()..capacity()` is owned, writable heap
// memory that stays put while the Vec is not resized.
unsafe impl IoBufMut for Vec<u8> {
    fn read_target(&mut self) -> (*mut u8, usize) {
        let len = self.len();
        // SAFETY: `len <= capacity`, so the offset stays inside the allocation.
        (unsafe { self.as_mut_ptr().add(len) }, self.capacity() - len)
    }
    unsafe fn advance_written(&mut self, n: usize) {
        // SAFETY: the caller guarantees `n` bytes after `len` were written.
        unsafe { self.set_len(self.len() + n) }
    }
}

// SAFETY: BytesMut's storage is heap memory that moves with neither the
// handle nor a clone of it; `..len()` is initialised.
unsafe impl IoBuf for BytesMut {
    fn write_source(&self) -> (*const u8, usize) {
        (self.as_ptr(), self.len())
    }
    fn as_bytes(&self) -> &[u8] {
        self
    }
}

// SAFETY: `spare_capacity_mut` is owned writable heap memory.
unsafe impl IoBufMut for BytesMut {
    fn read_target(&mut self) -> (*mut u8, usize) {
        let spare = self.spare_capacity_mut();
        (spare.as_mut_ptr().cast(), spare.len())
    }
    unsafe fn advance_written(&mut self, n: usize) {
        // SAFETY: the caller guarantees `n` bytes after `len` were written.
        unsafe { self.set_len(self.len() + n) }
    }
}

// SAFETY: a boxed slice is fully initialised heap memory.
unsafe impl IoBuf for Box<[u8]> {
    fn write_source(&self) -> (*const u8, usize) {
        (self.as_ptr(), self.len())
    }
    fn as_bytes(&self) -> &[u8] {
        self
    }
}

// SAFETY: a boxed slice is initialised heap memory; a read overwrites it.
unsafe impl IoBufMut for Box<[u8]> {
    fn read_target(&mut self) -> (*mut u8, usize) {
        (self.as_mut_ptr(), self.len())
    }
    unsafe fn advance_written(&mut self, _n: usize) {}
}

// SAFETY: Bytes is immutable and its storage never moves while referenced.
unsafe impl IoBuf for Bytes {
    fn write_source(&self) -> (*const u8, usize) {
        (self.as_ptr(), self.len())
    }
    fn as_bytes(&self) -> &[u8] {
        self
    }
}

// SAFETY: static data lives for the whole program and is immutable.
unsafe impl IoBuf for &'static [u8] {
    fn write_source(&self) -> (*const u8, usize) {
        (self.as_ptr(), self.len())
    }
    fn as_bytes(&self) -> &[u8] {
        self
    }
}

// SAFETY: static data lives for the whole program and is immutable.
unsafe impl IoBuf for &'static str {
    fn write_source(&self) -> (*const u8, usize) {
        (self.as_ptr(), self.len())
    }
    fn as_bytes(&self) -> &[u8] {
        str::as_bytes(self)
    }
}

// SAFETY: a String's heap storage does not move with the String value.
unsafe impl IoBuf for String {
    fn write_source(&self) -> (*const u8, usize) {
        (self.as_ptr(), self.len())
    }
    fn as_bytes(&self) -> &[u8] {
        str::as_bytes(self)
    }
}

/// Copies as much of `src` as fits into `buf`'s read target, as a read
/// would (appending to a `Vec`/`BytesMut`); returns how many bytes. For
/// streams whose bytes come from memory rather than the kernel (TLS
/// plaintext, an HTTP/2 stream's DATA).
///
/// ```
/// use percore_runtime::buf::fill_from;
/// let mut v: Vec<u8> = Vec::with_capacity(4);
/// assert_eq!(fill_from(&mut v, b"hello"), 4);
/// assert_eq!(v, b"hell");
/// ```
pub fn fill_from<B: IoBufMut>(buf: &mut B, src: &[u8]) -> usize {
    let (target, room) = buf.read_target();
    let n = src.len().min(room);
    // SAFETY: `target` points to `room` writable bytes of `buf` (IoBufMut's
    // contract) and `n <= room`; `src` is a shared borrow, so it cannot
    // alias `buf`'s exclusively borrowed target.
    unsafe { std::ptr::copy_nonoverlapping(src.as_ptr(), target, n) };
    // SAFETY: the copy above initialised those `n` bytes.
    unsafe { buf.advance_written(n) };
    n
}

/// A view of `buf` starting at byte `begin`: what is left to write after a
/// partial write.
///
/// ```
/// use percore_runtime::buf::{IoBuf, Slice};
/// let s = Slice::new(b"hello".to_vec(), 2);
/// assert_eq!(s.as_bytes(), b"llo");
/// assert_eq!(s.into_inner(), b"hello");
/// ```
#[derive(Debug)]
pub struct Slice<B> {
    buf: B,
    begin: usize,
}

impl<B: IoBuf> Slice<B> {
    /// A view of `buf[begin..]` (clamped to the buffer's length).
    pub fn new(buf: B, begin: usize) -> Slice<B> {
        let begin = begin.min(buf.as_bytes().len());
        Slice { buf, begin }
    }

    /// The whole underlying buffer.
    pub fn into_inner(self) -> B {
        self.buf
    }
}

// SAFETY: a sub-range of a valid IoBuf's stable, initialised bytes.
unsafe impl<B: IoBuf> IoBuf for Slice<B> {
    fn write_source(&self) -> (*const u8, usize) {
        let (ptr, len) = self.buf.write_source();
        // SAFETY: `begin <= len` (clamped in `new`).
        (unsafe { ptr.add(self.begin) }, len - self.begin)
    }
    fn as_bytes(&self) -> &[u8] {
        &self.buf.as_bytes()[self.begin..]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vec_reads_append_into_spare_capacity() {
        let mut v = Vec::with_capacity(8);
        v.extend_from_slice(b"xy");
        let (ptr, room) = v.read_target();
        assert_eq!(room, v.capacity() - 2);
        // SAFETY: the target has `room >= 3` writable bytes.
        unsafe {
            std::ptr::copy_nonoverlapping(b"abc".as_ptr(), ptr, 3);
            v.advance_written(3);
        }
        assert_eq!(v, b"xyabc");
    }

    #[test]
    fn bytes_mut_reads_append() {
        let mut b = BytesMut::with_capacity(4);
        let (ptr, room) = b.read_target();
        assert!(room >= 4);
        // SAFETY: at least 4 writable bytes.
        unsafe {
            std::ptr::copy_nonoverlapping(b"hey!".as_ptr(), ptr, 4);
            b.advance_written(4);
        }
        assert_eq!(&b[..], b"hey!");
    }

    #[test]
    fn boxed_slice_is_overwritten() {
        let mut b: Box<[u8]> = vec![0u8; 3].into_boxed_slice();
        assert_eq!(b.read_target().1, 3);
        assert_eq!(b.as_bytes(), &[0, 0, 0]);
    }
}
