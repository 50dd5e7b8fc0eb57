//! HTTP/2: sans-IO frame codec, HPACK, connection state machines.
//!
//! * [`frame`]: the frame layer (RFC 9113 §4–6): [`frame::FrameDecoder`]
//!   turns a read buffer into validated [`frame::Frame`]s; `frame::encode_*`
//!   write frames.
//! * [`hpack`]: header compression (RFC 7541): [`hpack::Decoder`] and
//!   [`hpack::Encoder`].
//! * [`conn`]: the connection state machine, one core for both roles:
//!   [`conn::ServerConnection`] and [`conn::ClientConnection`].
//! * [`ErrorCode`] and [`H2Error`]: what to answer when the peer misbehaves
//!   (GOAWAY for connection errors, RST_STREAM for stream errors).
//!
//! ```
//! use bytes::BytesMut;
//! use http::{HeaderMap, StatusCode};
//! use percore_http::h2::{frame, hpack};
//! // Server side: encode a response header block and frame it.
//! let mut enc = hpack::Encoder::new(4096);
//! let mut block = BytesMut::new();
//! enc.encode_response(StatusCode::OK, &HeaderMap::new(), &mut block);
//! let mut out = BytesMut::new();
//! frame::encode_headers(1, &block, true, 16_384, &mut out);
//! // Client side: decode it back.
//! let mut dec = frame::FrameDecoder::new(frame::Role::Client, 16_384);
//! let frame::Frame::Headers(h) = dec.decode(&mut out).unwrap().unwrap() else { panic!() };
//! let fields = hpack::Decoder::new(4096).decode(&h.fragment, 16 * 1024).unwrap();
//! assert_eq!((&fields[0].name[..], &fields[0].value[..]), (&b":status"[..], &b"200"[..]));
//! ```

pub mod conn;
mod error;
pub mod frame;
pub mod hpack;

pub use error::{ErrorCode, H2Error};

/// A hasher for stream-id keys: ids are small odd integers chosen by the
/// peer, so a multiplicative hash spreads them well, and the table is
/// per connection (its size is capped by the concurrent-stream limit), so
/// hash flooding buys an attacker nothing.
#[derive(Debug, Clone, Copy, Default)]
pub struct StreamIdHasher;

impl std::hash::BuildHasher for StreamIdHasher {
    type Hasher = StreamIdHash;
    fn build_hasher(&self) -> StreamIdHash {
        StreamIdHash(0)
    }
}

/// The [`std::hash::Hasher`] of [`StreamIdHasher`].
#[derive(Debug, Default)]
pub struct StreamIdHash(u64);

impl std::hash::Hasher for StreamIdHash {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0.rotate_left(8) ^ u64::from(b)).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        }
    }
    fn write_u32(&mut self, n: u32) {
        self.0 = u64::from(n).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    }
}

#[cfg(test)]
mod tests;
