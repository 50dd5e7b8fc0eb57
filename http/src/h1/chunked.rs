//! The chunked transfer coding (RFC 9112 §7.1), one byte of framing at a
//! time so that any split of the input gives the same result.

use bytes::{Buf, BytesMut};

use super::error::DecodeError;
use super::event::BodyEvent;
use super::trailers::Trailers;
use crate::Limits;

/// Most significant hex digits in a chunk size (64 bits).
const MAX_SIZE_DIGITS: u8 = 16;

/// Where in a chunk extension (`*( BWS ";" BWS name [ BWS "=" BWS value ] )`)
/// the decoder is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ext {
    /// Whitespace after the size or a value: only more of it or `;` may follow.
    Bws,
    /// After `;`: whitespace, then a name.
    Semi,
    /// Inside a name.
    Name,
    /// Whitespace after a name: `=` or `;` must follow.
    NameBws,
    /// After `=`: whitespace, then a token or quoted string.
    Eq,
    /// Inside a token value.
    Token,
    /// Inside a quoted-string value.
    Quoted,
    /// After a backslash inside a quoted string.
    QuotedEsc,
    /// After the closing quote.
    AfterQuoted,
}

#[derive(Debug)]
enum St {
    /// Reading hex digits: `digits` in all, `sig` after the leading zeros.
    Size { value: u64, digits: usize, sig: u8 },
    /// After the size, inside extensions; `extra` bytes of the line so far
    /// beyond its significant digits.
    Ext { size: u64, extra: usize, at: Ext },
    /// Expecting LF after the size line's CR.
    SizeLf { size: u64 },
    /// Inside chunk data.
    Data { remaining: u64 },
    /// Expecting CR after chunk data.
    DataCr,
    /// Expecting LF after chunk data.
    DataLf,
    /// Inside the trailer section.
    Trailers(Trailers),
}

/// Decoder state of a chunked body.
#[derive(Debug)]
pub(super) struct Chunked {
    st: St,
    received: u64,
    max_body: u64,
    max_ext: usize,
    max_trailer_bytes: usize,
    max_trailer_fields: usize,
}

fn tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric()
        || matches!(
            b,
            b'!' | b'#'
                | b'$'
                | b'%'
                | b'&'
                | b'\''
                | b'*'
                | b'+'
                | b'-'
                | b'.'
                | b'^'
                | b'_'
                | b'`'
                | b'|'
                | b'~'
        )
}

fn ws(b: u8) -> bool {
    b == b' ' || b == b'\t'
}

/// qdtext: HTAB / SP / %x21 / %x23-5B / %x5D-7E / obs-text.
fn qdtext(b: u8) -> bool {
    matches!(b, b'\t' | b' ' | 0x21 | 0x23..=0x5b | 0x5d..=0x7e | 0x80..=0xff)
}

fn hex_value(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// The next extension state after byte `b`, `Ok(None)` when `b` is the CR
/// ending the size line.
fn ext_step(at: Ext, b: u8) -> Result<Option<Ext>, DecodeError> {
    let bad = |why| Err(DecodeError::BadChunk(why));
    let next = match (at, b) {
        (Ext::Name | Ext::Token | Ext::AfterQuoted, b'\r') => return Ok(None),
        (Ext::Bws | Ext::Token | Ext::AfterQuoted, _) if ws(b) => Ext::Bws,
        (Ext::Name | Ext::NameBws, _) if ws(b) => Ext::NameBws,
        (Ext::Semi | Ext::Eq, _) if ws(b) => at,
        (Ext::Bws | Ext::Name | Ext::NameBws | Ext::Token | Ext::AfterQuoted, b';') => Ext::Semi,
        (Ext::Semi | Ext::Name, _) if tchar(b) => Ext::Name,
        (Ext::Name | Ext::NameBws, b'=') => Ext::Eq,
        (Ext::Eq | Ext::Token, _) if tchar(b) => Ext::Token,
        (Ext::Eq, b'"') => Ext::Quoted,
        (Ext::Quoted, b'"') => Ext::AfterQuoted,
        (Ext::Quoted, b'\\') => Ext::QuotedEsc,
        (Ext::Quoted, _) if qdtext(b) => Ext::Quoted,
        (Ext::QuotedEsc, _)
            if b == b'\t' || b == b' ' || (0x21..=0x7e).contains(&b) || b >= 0x80 =>
        {
            Ext::Quoted
        }
        (_, b'\r') => return bad("chunk size line ends after whitespace or inside an extension"),
        (_, b'\n') => return bad("bare LF in chunk size line"),
        _ => return bad("invalid byte in chunk extension"),
    };
    // A name must follow `;`, and whitespace before CR is not allowed:
    // both are caught above because `Semi`, `Eq`, `Bws`, `NameBws` and
    // `Quoted*` do not accept CR.
    Ok(Some(next))
}

impl Chunked {
    pub(super) fn new(limits: &Limits) -> Chunked {
        Chunked {
            st: St::Size {
                value: 0,
                digits: 0,
                sig: 0,
            },
            received: 0,
            max_body: limits.max_body_size,
            max_ext: limits.max_chunk_ext_size,
            max_trailer_bytes: limits.max_head_size,
            max_trailer_fields: limits.max_headers,
        }
    }

    /// Decodes the next piece from the front of `buf`.
    pub(super) fn decode(&mut self, buf: &mut BytesMut) -> Result<BodyEvent, DecodeError> {
        let mut consumed = 0usize;
        loop {
            match &mut self.st {
                St::Data { remaining } => {
                    buf.advance(consumed);
                    if buf.is_empty() {
                        return Ok(BodyEvent::NeedMore);
                    }
                    let n = usize::try_from(*remaining).map_or(buf.len(), |r| r.min(buf.len()));
                    // n <= remaining: no underflow.
                    *remaining -= n as u64;
                    if *remaining == 0 {
                        self.st = St::DataCr;
                    }
                    return Ok(BodyEvent::Data(buf.split_to(n).freeze()));
                }
                St::Trailers(t) => {
                    buf.advance(consumed);
                    return t.decode(buf);
                }
                _ => {
                    let Some(&b) = buf.get(consumed) else {
                        buf.advance(consumed);
                        return Ok(BodyEvent::NeedMore);
                    };
                    consumed += 1;
                    self.step(b)?;
                }
            }
        }
    }

    /// One byte of framing (size line or the CRLF after data).
    fn step(&mut self, b: u8) -> Result<(), DecodeError> {
        let bad = |why| Err(DecodeError::BadChunk(why));
        self.st = match self.st {
            St::Size { value, digits, sig } => match hex_value(b) {
                Some(d) => {
                    let sig = if value == 0 && d == 0 { sig } else { sig + 1 };
                    if sig > MAX_SIZE_DIGITS {
                        return bad("chunk size has more than 16 hex digits");
                    }
                    let digits = digits.saturating_add(1);
                    self.check_extra(digits - usize::from(sig.max(1)))?;
                    St::Size {
                        value: (value << 4) | u64::from(d),
                        digits,
                        sig,
                    }
                }
                None if digits == 0 => return bad("chunk size must start with a hex digit"),
                None => {
                    let extra = digits - usize::from(sig.max(1));
                    match b {
                        b'\r' => St::SizeLf { size: value },
                        b';' | b' ' | b'\t' => {
                            let extra = extra.saturating_add(1);
                            self.check_extra(extra)?;
                            let at = if b == b';' { Ext::Semi } else { Ext::Bws };
                            St::Ext {
                                size: value,
                                extra,
                                at,
                            }
                        }
                        b'\n' => return bad("bare LF in chunk size line"),
                        _ => return bad("invalid byte in chunk size"),
                    }
                }
            },
            St::Ext { size, extra, at } => match ext_step(at, b)? {
                None => St::SizeLf { size },
                Some(at) => {
                    let extra = extra.saturating_add(1);
                    self.check_extra(extra)?;
                    St::Ext { size, extra, at }
                }
            },
            St::SizeLf { size } => {
                if b != b'\n' {
                    return bad("bare CR in chunk size line");
                }
                if size == 0 {
                    St::Trailers(Trailers::new(
                        self.max_trailer_bytes,
                        self.max_trailer_fields,
                    ))
                } else {
                    self.received = match self.received.checked_add(size) {
                        Some(r) if r <= self.max_body => r,
                        _ => return Err(DecodeError::TooLarge),
                    };
                    St::Data { remaining: size }
                }
            }
            St::DataCr => {
                if b != b'\r' {
                    return bad("chunk data must be followed by CRLF");
                }
                St::DataLf
            }
            St::DataLf => {
                if b != b'\n' {
                    return bad("chunk data must be followed by CRLF");
                }
                St::Size {
                    value: 0,
                    digits: 0,
                    sig: 0,
                }
            }
            St::Data { .. } | St::Trailers(_) => return bad("internal: no framing expected"),
        };
        Ok(())
    }

    fn check_extra(&self, extra: usize) -> Result<(), DecodeError> {
        if extra > self.max_ext {
            Err(DecodeError::BadChunk(
                "chunk size line longer than max_chunk_ext_size",
            ))
        } else {
            Ok(())
        }
    }
}
