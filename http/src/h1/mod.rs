//! HTTP/1.1 sans-IO codec: request heads in, body bytes in, response bytes
//! out. No sockets here; `crate::server::h1` drives it.
//!
//! A connection loop owns one `BytesMut` read buffer and:
//!
//! 1. calls [`parse_request_head`] until it returns a head (reading more on
//!    `Ok(None)`; answering `err.status()` and closing on `Err`), or
//!    [`parse_raw_head`], which makes the same checks but keeps the head as
//!    its bytes plus offsets ([`RawHead`], what the server does);
//! 2. builds a [`BodyDecoder`] from `head.body` and calls
//!    [`BodyDecoder::decode`] until `End` (reading more on `NeedMore`);
//! 3. writes the response with [`encode_response_head`] (and
//!    [`encode_chunk`] / [`encode_last_chunk`] for chunked bodies), using a
//!    per-core [`DateCache`];
//! 4. loops: whatever is left in the buffer is the next pipelined request.
//!
//! ```
//! use bytes::BytesMut;
//! use percore_http::{h1, Limits};
//! let limits = Limits::default();
//! let mut buf = BytesMut::from(&b"POST /hi HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabcGET"[..]);
//! let head = h1::parse_request_head(&mut buf, &limits).unwrap().unwrap();
//! assert_eq!(head.uri.path(), "/hi");
//! let mut body = h1::BodyDecoder::new(head.body, &limits);
//! assert_eq!(body.decode(&mut buf).unwrap(), h1::BodyEvent::Data("abc".into()));
//! assert_eq!(body.decode(&mut buf).unwrap(), h1::BodyEvent::End { trailers: None });
//! assert_eq!(&buf[..], b"GET"); // the start of the next request
//! ```

mod body;
mod chunked;
mod date;
mod encode;
mod error;
mod event;
mod fields;
mod head;
mod memo;
mod parse;
#[cfg(any(test, feature = "reference-parser"))]
#[doc(hidden)]
pub mod reference;
mod request_encode;
mod response;
mod response_lazy;
mod response_scan;
mod scan;
mod status;
mod target;
mod trailers;
mod wide;

pub use body::BodyDecoder;
pub use date::DateCache;
pub use encode::{
    encode_chunk, encode_chunk_header, encode_last_chunk, encode_response_fields,
    encode_response_head, ResponseBody, CONTINUE_100,
};
pub use error::{DecodeError, ParseError};
pub use event::BodyEvent;
pub use fields::BodyKind;
pub use head::{RawHead, RawHeadParts};
pub use memo::{HeadMemo, MEMO_MAX_HEAD};
pub use parse::{parse_raw_head, parse_request_head, RequestHead};
pub use request_encode::{
    encode_request_head, encode_request_head_with, EncodedFields, RequestFraming,
};
pub use response::{
    frame_response_head, parse_response_head, ResponseDecoder, ResponseError, ResponseFrame,
    ResponseFraming, ResponseHead, FRAME_STACK_FIELDS, MAX_INTERIM_RESPONSES,
};
pub use response_lazy::{
    parse_response_head_lazy, parse_response_head_memo, response_fields, LazyResponseHead,
    ResponseHeadMemo,
};

#[cfg(test)]
mod tests;
