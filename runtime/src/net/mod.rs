//! Networking: TCP, Unix-domain and UDP sockets on the current core's driver.
//!
//! Every operation takes its buffer by value and returns it with the result
//! (see [`crate::buf`]). A socket belongs to the runtime of the thread that
//! created it.

pub(crate) mod socket;
mod tcp;
mod udp;
mod unix;

pub use tcp::{reserve_port, ListenOptions, PortReservation, TcpListener, TcpStream};
pub use udp::UdpSocket;
pub use unix::{UnixListener, UnixStream};

/// Implements the owned-buffer stream API on a type whose field `inner` is a
/// `socket::Socket`.
macro_rules! stream_io {
    ($ty:ty) => {
        impl $ty {
            /// Reads into `buf`: appends to a `Vec<u8>`/`BytesMut`'s spare
            /// capacity, overwrites a `Box<[u8]>`. `Ok(0)` means end of stream
            /// (or a buffer without room).
            pub async fn read<B: $crate::buf::IoBufMut>(
                &self,
                buf: B,
            ) -> (std::io::Result<usize>, B) {
                self.inner.read(buf).await
            }

            /// Writes some of `buf`'s bytes; returns how many.
            pub async fn write<B: $crate::buf::IoBuf>(
                &self,
                buf: B,
            ) -> (std::io::Result<usize>, B) {
                self.inner.write(buf).await
            }

            /// Writes all of `buf`'s bytes.
            pub async fn write_all<B: $crate::buf::IoBuf>(
                &self,
                buf: B,
            ) -> (std::io::Result<()>, B) {
                $crate::io::write_all(self, buf).await
            }

            /// Writes some bytes of `bufs`, in order, in one syscall (at most
            /// 1024 buffers per call).
            pub async fn writev<B: $crate::buf::IoBuf>(
                &self,
                bufs: Vec<B>,
            ) -> (std::io::Result<usize>, Vec<B>) {
                self.inner.writev(bufs).await
            }

            /// Writes every byte of `chunks`, in order, with vectored writes;
            /// returns the emptied vector for reuse.
            pub async fn write_all_vectored(
                &self,
                chunks: Vec<bytes::Bytes>,
            ) -> (std::io::Result<()>, Vec<bytes::Bytes>) {
                $crate::io::write_all_vectored(self, chunks).await
            }

            /// [`write_all_vectored`](Self::write_all_vectored), failing with
            /// `TimedOut` when the peer accepts no byte for `stall`.
            pub async fn write_all_vectored_timeout(
                &self,
                chunks: Vec<bytes::Bytes>,
                stall: std::time::Duration,
            ) -> (std::io::Result<()>, Vec<bytes::Bytes>) {
                $crate::io::write_all_vectored_timeout(self, chunks, stall).await
            }

            /// Shuts down the read, write or both halves.
            pub fn shutdown(&self, how: std::net::Shutdown) -> std::io::Result<()> {
                self.inner.shutdown(how)
            }
        }

        impl $crate::io::OwnedRead for $ty {
            async fn read<B: $crate::buf::IoBufMut>(&self, buf: B) -> (std::io::Result<usize>, B) {
                self.inner.read(buf).await
            }

            #[inline]
            fn direct(&self) -> Option<$crate::io::DirectSocket<'_>> {
                Some($crate::io::DirectSocket(&self.inner))
            }
        }

        impl $crate::io::OwnedWrite for $ty {
            async fn write<B: $crate::buf::IoBuf>(&self, buf: B) -> (std::io::Result<usize>, B) {
                self.inner.write(buf).await
            }

            async fn writev<B: $crate::buf::IoBuf>(
                &self,
                bufs: Vec<B>,
            ) -> (std::io::Result<usize>, Vec<B>) {
                self.inner.writev(bufs).await
            }

            #[inline]
            fn try_write<B: $crate::buf::IoBuf>(&self, buf: &B) -> Option<std::io::Result<usize>> {
                self.inner.try_write(buf)
            }
        }

        impl std::os::fd::AsRawFd for $ty {
            fn as_raw_fd(&self) -> std::os::fd::RawFd {
                self.inner.raw()
            }
        }
    };
}
pub(crate) use stream_io;
