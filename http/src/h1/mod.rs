//! HTTP/1.1 sans-IO codec: request heads in, body bytes in, response bytes
//! out. No sockets here; `crate::server::h1` drives it.
//!
//! ```
//! use bytes::BytesMut;
//! use percore_http::{h1, Limits};
//! let mut buf = BytesMut::from(&b"GET /hi HTTP/1.1\r\nHost: x\r\n\r\nnext"[..]);
//! let head = h1::parse_request_head(&mut buf, &Limits::default()).unwrap().unwrap();
//! assert_eq!(head.uri.path(), "/hi");
//! assert_eq!(&buf[..], b"next"); // the head was split off
//! ```

mod body;
mod date;
mod encode;
mod error;
mod parse;

pub use body::{BodyDecoder, BodyEvent};
pub use date::DateCache;
pub use encode::{
    encode_chunk, encode_chunk_header, encode_last_chunk, encode_response_head, ResponseBody,
    CONTINUE_100,
};
pub use error::{DecodeError, ParseError};
pub use parse::{parse_request_head, BodyKind, RequestHead};

#[cfg(test)]
mod tests;
