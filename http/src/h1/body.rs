//! Request body decoding: Content-Length and chunked (RFC 9112 §7.1).

use bytes::{Bytes, BytesMut};
use http::header::{HeaderName, HeaderValue};
use http::HeaderMap;

use super::error::DecodeError;
use super::parse::BodyKind;
use crate::Limits;

/// What the decoder produced.
#[derive(Debug, PartialEq, Eq)]
pub enum BodyEvent {
    /// Body bytes (split off the input buffer, no copy).
    Data(Bytes),
    /// The input holds no complete next piece: read more.
    NeedMore,
    /// The body is complete; bytes after it stay in the buffer.
    End {
        /// Trailer fields of a chunked body.
        trailers: Option<HeaderMap>,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Chunked {
    /// Reading hex digits of a chunk size.
    Size { value: u64, digits: u8 },
    /// After the size: whitespace or extensions until CR.
    Ext {
        size: u64,
        len: usize,
        quoted: bool,
        escaped: bool,
    },
    /// Expecting LF after the size line's CR.
    SizeLf { size: u64 },
    /// Inside chunk data.
    Data { remaining: u64 },
    /// Expecting CR after chunk data.
    DataCr,
    /// Expecting LF after chunk data.
    DataLf,
    /// Inside the trailer section (after the last chunk's size line).
    Trailers,
}

#[derive(Debug)]
enum State {
    Length { remaining: u64 },
    Chunked(Chunked),
    Done,
}

/// Decodes one request body from the connection's read buffer.
///
/// ```
/// use bytes::BytesMut;
/// use percore_http::{h1::{BodyDecoder, BodyEvent, BodyKind}, Limits};
/// let mut d = BodyDecoder::new(BodyKind::Chunked, &Limits::default());
/// let mut buf = BytesMut::from(&b"5\r\nhello\r\n0\r\n\r\nGET"[..]);
/// assert_eq!(d.decode(&mut buf).unwrap(), BodyEvent::Data("hello".into()));
/// assert_eq!(d.decode(&mut buf).unwrap(), BodyEvent::End { trailers: None });
/// assert_eq!(&buf[..], b"GET");
/// ```
#[derive(Debug)]
pub struct BodyDecoder {
    state: State,
    max_body: u64,
    max_ext: usize,
    max_trailers: usize,
    max_trailer_fields: usize,
    received: u64,
}

/// Longest chunk size in hex digits (leading zeros excluded).
const MAX_SIZE_DIGITS: u8 = 16;

impl BodyDecoder {
    /// A decoder for a body framed as `kind`.
    pub fn new(kind: BodyKind, limits: &Limits) -> BodyDecoder {
        let state = match kind {
            BodyKind::Empty => State::Done,
            BodyKind::Length(n) => State::Length { remaining: n },
            BodyKind::Chunked => State::Chunked(Chunked::Size {
                value: 0,
                digits: 0,
            }),
        };
        BodyDecoder {
            state,
            max_body: limits.max_body_size,
            max_ext: limits.max_chunk_ext_size,
            max_trailers: limits.max_head_size,
            max_trailer_fields: limits.max_headers,
            received: 0,
        }
    }

    /// Bytes still expected, when the framing says (Content-Length).
    pub fn remaining(&self) -> Option<u64> {
        match self.state {
            State::Length { remaining } => Some(remaining),
            State::Done => Some(0),
            State::Chunked(_) => None,
        }
    }

    /// Whether the whole body has been decoded.
    pub fn is_done(&self) -> bool {
        matches!(self.state, State::Done)
    }

    /// Decodes the next piece of body from the front of `buf`.
    pub fn decode(&mut self, buf: &mut BytesMut) -> Result<BodyEvent, DecodeError> {
        match &mut self.state {
            State::Done => Ok(BodyEvent::End { trailers: None }),
            State::Length { remaining } => {
                if *remaining == 0 {
                    self.state = State::Done;
                    return Ok(BodyEvent::End { trailers: None });
                }
                if buf.is_empty() {
                    return Ok(BodyEvent::NeedMore);
                }
                let n = (*remaining).min(buf.len() as u64) as usize;
                *remaining -= n as u64;
                let data = buf.split_to(n).freeze();
                if *remaining == 0 {
                    self.state = State::Length { remaining: 0 };
                }
                Ok(BodyEvent::Data(data))
            }
            State::Chunked(_) => self.decode_chunked(buf),
        }
    }

    fn decode_chunked(&mut self, buf: &mut BytesMut) -> Result<BodyEvent, DecodeError> {
        let State::Chunked(mut st) = self.state else {
            return Ok(BodyEvent::NeedMore);
        };
        let bad = DecodeError::BadChunk;
        let mut consumed = 0usize;
        let result = loop {
            if let Chunked::Data { remaining } = st {
                if consumed < buf.len() {
                    let avail = buf.len() - consumed;
                    let n = remaining.min(avail as u64) as usize;
                    let _ = buf.split_to(consumed);
                    let data = buf.split_to(n).freeze();
                    let left = remaining - n as u64;
                    st = if left == 0 {
                        Chunked::DataCr
                    } else {
                        Chunked::Data { remaining: left }
                    };
                    self.state = State::Chunked(st);
                    return Ok(BodyEvent::Data(data));
                }
                break Ok(BodyEvent::NeedMore);
            }
            if st == Chunked::Trailers {
                break self.take_trailers(buf, consumed);
            }
            let Some(&b) = buf.get(consumed) else {
                break Ok(BodyEvent::NeedMore);
            };
            consumed += 1;
            st = match st {
                Chunked::Size { value, digits } => match hex_value(b) {
                    Some(d) => {
                        let digits = if value == 0 && d == 0 {
                            digits
                        } else {
                            digits + 1
                        };
                        if digits > MAX_SIZE_DIGITS {
                            break Err(bad("chunk size overflows"));
                        }
                        Chunked::Size {
                            value: (value << 4) | u64::from(d),
                            digits: digits.max(1),
                        }
                    }
                    None if digits == 0 => {
                        // No digit at all before this byte.
                        break Err(bad("chunk size must start with a hex digit"));
                    }
                    None => match b {
                        b'\r' => Chunked::SizeLf { size: value },
                        b';' | b' ' | b'\t' => Chunked::Ext {
                            size: value,
                            len: 1,
                            quoted: false,
                            escaped: false,
                        },
                        _ => break Err(bad("invalid byte in chunk size")),
                    },
                },
                Chunked::Ext {
                    size,
                    len,
                    quoted,
                    escaped,
                } => {
                    if len >= self.max_ext {
                        break Err(bad("chunk extension too long"));
                    }
                    match b {
                        b'\r' if !quoted => Chunked::SizeLf { size },
                        b'\t' | b' '..=b'~' | 0x80..=0xff => {
                            let (quoted, escaped) = match (quoted, escaped, b) {
                                (true, true, _) => (true, false),
                                (true, false, b'\\') => (true, true),
                                (true, false, b'"') => (false, false),
                                (false, _, b'"') => (true, false),
                                (q, _, _) => (q, false),
                            };
                            Chunked::Ext {
                                size,
                                len: len + 1,
                                quoted,
                                escaped,
                            }
                        }
                        _ => break Err(bad("invalid byte in chunk extension")),
                    }
                }
                Chunked::SizeLf { size } => {
                    if b != b'\n' {
                        break Err(bad("chunk size line must end with CRLF"));
                    }
                    if size == 0 {
                        Chunked::Trailers
                    } else {
                        self.received = match self.received.checked_add(size) {
                            Some(r) if r <= self.max_body => r,
                            _ => break Err(DecodeError::TooLarge),
                        };
                        Chunked::Data { remaining: size }
                    }
                }
                Chunked::DataCr => {
                    if b != b'\r' {
                        break Err(bad("chunk data must be followed by CRLF"));
                    }
                    Chunked::DataLf
                }
                Chunked::DataLf => {
                    if b != b'\n' {
                        break Err(bad("chunk data must be followed by CRLF"));
                    }
                    Chunked::Size {
                        value: 0,
                        digits: 0,
                    }
                }
                Chunked::Data { .. } | Chunked::Trailers => {
                    unreachable!("handled above")
                }
            };
        };
        match &result {
            Ok(BodyEvent::NeedMore) => {
                // Keep the parsed state; drop the bytes it covers, except in
                // the trailer section, which is parsed as a whole.
                if st != Chunked::Trailers {
                    let _ = buf.split_to(consumed);
                }
                self.state = State::Chunked(st);
            }
            Ok(BodyEvent::End { .. }) => self.state = State::Done,
            _ => {}
        }
        result
    }

    /// Parses the trailer section once it is complete (`CRLF` alone, or
    /// fields followed by an empty line).
    fn take_trailers(
        &mut self,
        buf: &mut BytesMut,
        consumed: usize,
    ) -> Result<BodyEvent, DecodeError> {
        let _ = buf.split_to(consumed);
        if buf.len() >= 2 && &buf[..2] == b"\r\n" {
            let _ = buf.split_to(2);
            return Ok(BodyEvent::End { trailers: None });
        }
        if buf.len() >= 2 && buf[0] == b'\r' {
            return Err(DecodeError::BadTrailers("malformed trailer section"));
        }
        let end = buf.windows(4).position(|w| w == b"\r\n\r\n");
        let Some(end) = end else {
            if buf.len() > self.max_trailers {
                return Err(DecodeError::BadTrailers("trailer section too large"));
            }
            return Ok(BodyEvent::NeedMore);
        };
        let section_len = end + 4;
        if section_len > self.max_trailers {
            return Err(DecodeError::BadTrailers("trailer section too large"));
        }
        let mut slots = vec![httparse::EMPTY_HEADER; self.max_trailer_fields.max(1)];
        let section = buf.split_to(section_len).freeze();
        let parsed = httparse::parse_headers(&section, &mut slots)
            .map_err(|_| DecodeError::BadTrailers("malformed trailer field"))?;
        let httparse::Status::Complete((_, fields)) = parsed else {
            return Err(DecodeError::BadTrailers("malformed trailer section"));
        };
        let mut map = HeaderMap::with_capacity(fields.len());
        for f in fields {
            let name = HeaderName::from_bytes(f.name.as_bytes())
                .map_err(|_| DecodeError::BadTrailers("invalid trailer name"))?;
            let value = HeaderValue::from_bytes(f.value)
                .map_err(|_| DecodeError::BadTrailers("invalid trailer value"))?;
            map.append(name, value);
        }
        Ok(BodyEvent::End {
            trailers: Some(map),
        })
    }
}

fn hex_value(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}
