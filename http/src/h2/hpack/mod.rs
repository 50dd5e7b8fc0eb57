//! HPACK header compression (RFC 7541).
//!
//! * [`Decoder`]: header block → list of [`HeaderField`]s (name and value as
//!   `Bytes`, zero-copy for plain literals), with the header list size
//!   limit of SETTINGS_MAX_HEADER_LIST_SIZE.
//! * [`Encoder`]: `http::HeaderMap` + pseudo-headers → header block, using
//!   the static table, a dynamic table capped by our limit and the peer's
//!   SETTINGS_HEADER_TABLE_SIZE, and Huffman coding when shorter.
//!
//! Names are not validated here (the connection checks lowercase, pseudo
//! header rules and converts to `http` types).
//!
//! ```
//! use bytes::{Bytes, BytesMut};
//! use percore_http::h2::hpack::{Decoder, Encoder};
//! let mut enc = Encoder::new(4096);
//! let mut dec = Decoder::new(4096);
//! for _ in 0..2 {
//!     let mut block = BytesMut::new();
//!     enc.encode_fields([(&b"x-id"[..], &b"42"[..])], &mut block);
//!     let fields = dec.decode(&block.freeze(), 16_384).unwrap();
//!     assert_eq!((&fields[0].name[..], &fields[0].value[..]), (&b"x-id"[..], &b"42"[..]));
//! }
//! assert_eq!(dec.table().len(), 1); // indexed once, then referenced
//! ```

mod decoder;
mod encoder;
mod error;
pub mod huffman;
mod huffman_table;
mod primitive;
mod table;

pub use decoder::{Decoder, HeaderField};
pub(crate) use encoder::is_connection_specific;
pub use encoder::Encoder;
pub use error::HpackError;
pub use primitive::{decode_integer, encode_integer};
pub use table::{DynamicTable, STATIC_TABLE};

/// The size an entry takes in the dynamic table and in the header list
/// size: name + value + 32 octets (RFC 7541 §4.1, RFC 9113 §6.5.2).
pub fn entry_size(name: &[u8], value: &[u8]) -> usize {
    name.len() + value.len() + 32
}

/// The initial SETTINGS_HEADER_TABLE_SIZE (4096).
pub const DEFAULT_TABLE_SIZE: usize = 4096;
