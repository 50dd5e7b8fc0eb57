//! The trailer section after the last chunk (RFC 9112 §7.1.2).
//!
//! The section is scanned as bytes arrive (strict `CRLF`, bounded size and
//! field count) and stays in the buffer until its final empty line; then
//! httparse checks the fields and the values share the section's memory.

use bytes::{Bytes, BytesMut};
use http::header::{HeaderName, HeaderValue};
use http::HeaderMap;

use super::error::DecodeError;
use super::event::BodyEvent;

/// Scanner state of a trailer section. Between calls the caller may only
/// append to the buffer: `scanned` counts bytes already looked at.
#[derive(Debug)]
pub(super) struct Trailers {
    scanned: usize,
    line_len: usize,
    cr: bool,
    fields: usize,
    max_bytes: usize,
    max_fields: usize,
}

impl Trailers {
    pub(super) fn new(max_bytes: usize, max_fields: usize) -> Trailers {
        Trailers {
            scanned: 0,
            line_len: 0,
            cr: false,
            fields: 0,
            max_bytes,
            max_fields,
        }
    }

    /// Scans new bytes; on the final empty line, takes the section off `buf`.
    pub(super) fn decode(&mut self, buf: &mut BytesMut) -> Result<BodyEvent, DecodeError> {
        while let Some(&b) = buf.get(self.scanned) {
            self.scanned += 1;
            if self.scanned > self.max_bytes {
                return Err(DecodeError::TrailersTooLarge);
            }
            if self.cr {
                if b != b'\n' {
                    return Err(DecodeError::BadTrailers("bare CR"));
                }
                self.cr = false;
                if self.line_len == 0 {
                    return self.finish(buf);
                }
                self.line_len = 0;
            } else if b == b'\r' {
                self.cr = true;
            } else if b == b'\n' {
                return Err(DecodeError::BadTrailers("bare LF"));
            } else {
                if self.line_len == 0 {
                    if b == b' ' || b == b'\t' {
                        return Err(DecodeError::BadTrailers("obs-fold line"));
                    }
                    self.fields += 1;
                    if self.fields > self.max_fields {
                        return Err(DecodeError::TrailersTooLarge);
                    }
                }
                self.line_len += 1;
            }
        }
        Ok(BodyEvent::NeedMore)
    }

    fn finish(&self, buf: &mut BytesMut) -> Result<BodyEvent, DecodeError> {
        let section = buf.split_to(self.scanned.min(buf.len())).freeze();
        if self.fields == 0 {
            return Ok(BodyEvent::End { trailers: None });
        }
        let malformed = DecodeError::BadTrailers("malformed trailer field");
        let mut slots = vec![httparse::EMPTY_HEADER; self.fields];
        let fields = match httparse::parse_headers(&section, &mut slots) {
            Ok(httparse::Status::Complete((len, fields))) if len == section.len() => fields,
            _ => return Err(malformed),
        };
        let mut map = HeaderMap::with_capacity(fields.len());
        for f in fields.iter() {
            let name = HeaderName::from_bytes(f.name.as_bytes()).map_err(|_| malformed.clone())?;
            let value = HeaderValue::from_maybe_shared(share(&section, f.value)?)
                .map_err(|_| malformed.clone())?;
            map.append(name, value);
        }
        // Fields a trailer section may not carry are dropped here, once,
        // for every user of the decoder.
        Ok(BodyEvent::End {
            trailers: crate::body::allowed_trailers(map),
        })
    }
}

/// `part` (a sub-slice of `whole`) as a `Bytes` sharing `whole`'s memory.
fn share(whole: &Bytes, part: &[u8]) -> Result<Bytes, DecodeError> {
    if part.is_empty() {
        return Ok(Bytes::new());
    }
    let start = (part.as_ptr() as usize)
        .checked_sub(whole.as_ptr() as usize)
        .ok_or(DecodeError::BadTrailers("malformed trailer field"))?;
    let end = start
        .checked_add(part.len())
        .filter(|&e| e <= whole.len())
        .ok_or(DecodeError::BadTrailers("malformed trailer field"))?;
    Ok(whole.slice(start..end))
}
