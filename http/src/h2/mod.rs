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

/// The hasher of stream-id tables: [`FxHasher`](crate::FxHasher). Ids
/// are small odd integers chosen by the peer, which a multiplicative hash
/// spreads well, and a table is per connection (its size capped by the
/// concurrent-stream limit), so hash flooding buys an attacker nothing.
pub type StreamIdHasher = crate::FxBuildHasher;

#[cfg(test)]
mod tests;
