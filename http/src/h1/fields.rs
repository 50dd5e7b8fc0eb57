//! The header fields that decide framing and connection handling
//! (RFC 9112 §6, §9.3; RFC 9110 §7.2, §7.6.1, §10.1.1), gathered in one pass
//! while the header map is built.

use http::header::{self, HeaderName, HeaderValue};
use http::Version;

use super::error::ParseError;
use super::target::valid_host;
use super::wide::simple_host;
use crate::field_list::elements;
use crate::Limits;

/// How the request body is framed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyKind {
    /// No body.
    Empty,
    /// Exactly this many bytes (`Content-Length`, never 0).
    Length(u64),
    /// Chunked transfer coding.
    Chunked,
}

/// What the framing and connection fields said, before the final verdict.
#[derive(Debug, Default)]
pub(super) struct Facts {
    hosts: usize,
    content_length: Option<u64>,
    transfer_encoding: bool,
    /// Transfer codings seen, in order.
    codings: usize,
    chunked: usize,
    last_is_chunked: bool,
    close: bool,
    keep_alive: bool,
    upgrade_token: bool,
    expect_continue: bool,
    /// Index of the first `Upgrade` field (heads kept as offsets).
    upgrade_at: Option<usize>,
}

/// The verdict on a head's fields.
#[derive(Debug)]
pub(super) struct Outcome {
    pub body: BodyKind,
    pub keep_alive: bool,
    pub expect_continue: bool,
    /// Index of the first `Upgrade` field, when `Connection` lists
    /// `upgrade` (for a head observed with [`Facts::observe_request_raw`]).
    pub upgrade_at: Option<usize>,
}

/// `1*DIGIT` as a u64; `None` on anything else or on overflow.
fn parse_decimal(digits: &[u8]) -> Option<u64> {
    if digits.is_empty() {
        return None;
    }
    digits.iter().try_fold(0u64, |acc, &d| {
        if !d.is_ascii_digit() {
            return None;
        }
        acc.checked_mul(10)?.checked_add(u64::from(d - b'0'))
    })
}

/// The fields that play a part in framing and connection handling.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum FieldKind {
    Host,
    ContentLength,
    TransferEncoding,
    Connection,
    Expect,
    Upgrade,
    Other,
}

impl FieldKind {
    fn of(name: &HeaderName) -> FieldKind {
        if name == header::HOST {
            FieldKind::Host
        } else if name == header::CONTENT_LENGTH {
            FieldKind::ContentLength
        } else if name == header::TRANSFER_ENCODING {
            FieldKind::TransferEncoding
        } else if name == header::CONNECTION {
            FieldKind::Connection
        } else if name == header::EXPECT {
            FieldKind::Expect
        } else if name == header::UPGRADE {
            FieldKind::Upgrade
        } else {
            FieldKind::Other
        }
    }

    /// The same classification for a name as it came off the wire (any
    /// case), without building a `HeaderName`.
    pub(super) fn of_raw(name: &[u8]) -> FieldKind {
        match name.len() {
            4 if same_name(name, b"host") => FieldKind::Host,
            14 if same_name(name, b"content-length") => FieldKind::ContentLength,
            17 if same_name(name, b"transfer-encoding") => FieldKind::TransferEncoding,
            10 if same_name(name, b"connection") => FieldKind::Connection,
            6 if same_name(name, b"expect") => FieldKind::Expect,
            7 if same_name(name, b"upgrade") => FieldKind::Upgrade,
            _ => FieldKind::Other,
        }
    }
}

/// Whether `name` may be one of the fields [`FieldKind::of_raw`] knows:
/// their lengths and first letters told apart with one table lookup, so
/// the other fields (most of a head's) cost no comparison of their names.
#[inline(always)]
pub(super) fn maybe_framing(name: &[u8]) -> bool {
    /// By name length (up to 17): the first letter, lowercase, of the
    /// known names of that length (`connection` and `content-length`
    /// both `c`; 0: none).
    const FIRST: [u8; 18] = {
        let mut t = [0; 18];
        t[4] = b'h';
        t[6] = b'e';
        t[7] = b'u';
        t[10] = b'c';
        t[14] = b'c';
        t[17] = b't';
        t
    };
    match (FIRST.get(name.len()), name.first()) {
        (Some(&letter), Some(&b)) => b | 0x20 == letter,
        _ => false,
    }
}

/// Whether `name` is `known` (lowercase letters and `-`) in any case; from
/// four bytes on a word at a time (the last word overlapping the one
/// before), each of `known`'s letters compared with its case bit (0x20)
/// set in `name`, which maps exactly the two cases of a letter onto it.
#[inline(always)]
pub(super) fn same_name(name: &[u8], known: &[u8]) -> bool {
    if name.len() != known.len() {
        return false;
    }
    let len = known.len();
    if len < 4 {
        return name.eq_ignore_ascii_case(known);
    }
    if len < 8 {
        let word = |b: &[u8], at: usize| {
            let mut w = [0; 4];
            w.copy_from_slice(b.get(at..at + 4).unwrap_or(&[0; 4]));
            u32::from_le_bytes(w)
        };
        let same = |at: usize| {
            let k = word(known, at);
            word(name, at) | ((k & 0x4040_4040) >> 1) == k
        };
        return same(0) && same(len - 4);
    }
    let word = |b: &[u8], at: usize| {
        let mut w = [0; 8];
        w.copy_from_slice(b.get(at..at + 8).unwrap_or(&[0; 8]));
        u64::from_le_bytes(w)
    };
    let same = |at: usize| {
        let k = word(known, at);
        word(name, at) | ((k & 0x4040_4040_4040_4040) >> 1) == k
    };
    (0..len - 8).step_by(8).all(same) && same(len - 8)
}

impl Facts {
    /// Looks at one field; fails early on values that are wrong on their own.
    pub(super) fn observe(
        &mut self,
        name: &HeaderName,
        value: &HeaderValue,
    ) -> Result<(), ParseError> {
        self.observe_value(FieldKind::of(name), value.as_bytes())
    }

    /// [`Facts::observe`] for request field number `index` as it came off
    /// the wire (name in any case; both already checked). `wide`: the
    /// buffer the value is in and where it starts there, for
    /// [`simple_host`] to pass a `Host` value at once (else, or with
    /// `None`, it is checked byte by byte). Inlined into the scan: a name
    /// that cannot be a framing field costs a table lookup, and a `Host`
    /// whose value the wide scan passes costs no call.
    #[inline(always)]
    pub(super) fn observe_request_raw(
        &mut self,
        name: &[u8],
        value: &[u8],
        index: usize,
        wide: Option<(&[u8], usize)>,
    ) -> Result<(), ParseError> {
        if !maybe_framing(name) {
            return Ok(());
        }
        if name.len() == 4 {
            // `host` is the one known name of four bytes.
            if !same_name(name, b"host") {
                return Ok(());
            }
            let simple = match wide {
                Some((data, start)) => simple_host(data, start, start + value.len()),
                None => false,
            };
            if simple {
                self.hosts += 1;
                return Ok(());
            }
            return self.observe_slow(FieldKind::Host, value);
        }
        self.observe_request_known(name, value, index)
    }

    /// [`Facts::observe_request_raw`] for a name of another length that
    /// [`maybe_framing`] let through.
    #[inline(never)]
    fn observe_request_known(
        &mut self,
        name: &[u8],
        value: &[u8],
        index: usize,
    ) -> Result<(), ParseError> {
        match FieldKind::of_raw(name) {
            FieldKind::Other => Ok(()),
            FieldKind::Upgrade => {
                if self.upgrade_at.is_none() {
                    self.upgrade_at = Some(index);
                }
                Ok(())
            }
            kind => self.observe_value(kind, value),
        }
    }

    /// [`Facts::observe_value`], kept out of the scan's loop.
    #[cold]
    #[inline(never)]
    fn observe_slow(&mut self, kind: FieldKind, value: &[u8]) -> Result<(), ParseError> {
        self.observe_value(kind, value)
    }

    /// [`Facts::observe`] for a response field as it came off the wire
    /// (name in any case, value already checked by httparse): `Host` and
    /// `Upgrade` play no part in a response's framing.
    pub(super) fn observe_response_raw(
        &mut self,
        name: &[u8],
        value: &[u8],
    ) -> Result<(), ParseError> {
        match FieldKind::of_raw(name) {
            FieldKind::Host | FieldKind::Upgrade | FieldKind::Other => Ok(()),
            kind => self.observe_value(kind, value),
        }
    }

    /// The one rule per framing and connection field.
    fn observe_value(&mut self, kind: FieldKind, value: &[u8]) -> Result<(), ParseError> {
        match kind {
            FieldKind::Host => {
                self.hosts += 1;
                if !valid_host(value) {
                    return Err(ParseError::BadRequest("invalid Host value"));
                }
            }
            FieldKind::ContentLength => {
                // RFC 9110 §8.6: a list of identical values may be taken as one.
                for part in value.split(|&b| b == b',') {
                    let n = parse_decimal(part.trim_ascii())
                        .ok_or(ParseError::BadRequest("invalid Content-Length"))?;
                    match self.content_length {
                        Some(prev) if prev != n => {
                            return Err(ParseError::BadRequest("conflicting Content-Length values"))
                        }
                        _ => self.content_length = Some(n),
                    }
                }
            }
            FieldKind::TransferEncoding => {
                self.transfer_encoding = true;
                for coding in elements(value) {
                    self.codings += 1;
                    self.last_is_chunked = coding.eq_ignore_ascii_case(b"chunked");
                    if self.last_is_chunked {
                        self.chunked += 1;
                    }
                }
            }
            FieldKind::Connection => {
                for option in elements(value) {
                    if option.eq_ignore_ascii_case(b"close") {
                        self.close = true;
                    } else if option.eq_ignore_ascii_case(b"keep-alive") {
                        self.keep_alive = true;
                    } else if option.eq_ignore_ascii_case(b"upgrade") {
                        self.upgrade_token = true;
                    }
                }
            }
            FieldKind::Expect => {
                if value.eq_ignore_ascii_case(b"100-continue") {
                    self.expect_continue = true;
                }
            }
            FieldKind::Upgrade | FieldKind::Other => {}
        }
        Ok(())
    }

    /// The verdict once every field has been seen.
    #[inline(always)]
    pub(super) fn finish(self, version: Version, limits: &Limits) -> Result<Outcome, ParseError> {
        if version == Version::HTTP_11 && self.hosts == 0 {
            return Err(ParseError::BadRequest("missing Host header"));
        }
        if self.hosts > 1 {
            return Err(ParseError::BadRequest("more than one Host header"));
        }
        let body = if self.transfer_encoding {
            self.transfer_coding(version)?
        } else {
            match self.content_length {
                Some(n) if n > limits.max_body_size => return Err(ParseError::BodyTooLarge),
                Some(0) | None => BodyKind::Empty,
                Some(n) => BodyKind::Length(n),
            }
        };
        let keep_alive = !self.close && (version == Version::HTTP_11 || self.keep_alive);
        Ok(Outcome {
            body,
            keep_alive,
            expect_continue: self.expect_continue,
            upgrade_at: self.upgrade_at.filter(|_| self.upgrade_token),
        })
    }

    /// RFC 9112 §6.1 and §6.3: `chunked` must be the final coding, once.
    /// Codings before it (`gzip, chunked`) are well-formed but not
    /// implemented: 501.
    fn transfer_coding(&self, version: Version) -> Result<BodyKind, ParseError> {
        if version == Version::HTTP_10 {
            return Err(ParseError::BadRequest(
                "Transfer-Encoding in an HTTP/1.0 request",
            ));
        }
        if self.content_length.is_some() {
            return Err(ParseError::BadRequest(
                "both Content-Length and Transfer-Encoding",
            ));
        }
        if self.chunked != 1 || !self.last_is_chunked {
            return Err(ParseError::BadRequest(
                "chunked must be the final transfer coding, once",
            ));
        }
        if self.codings > 1 {
            return Err(ParseError::NotImplemented(
                "transfer codings other than chunked",
            ));
        }
        Ok(BodyKind::Chunked)
    }
}

/// The verdict on a response head's fields (RFC 9112 §6.3), for the client.
#[derive(Debug)]
pub(super) struct ResponseOutcome {
    pub content_length: Option<u64>,
    /// `Some(true)`: chunked is the final coding; `Some(false)`: another
    /// coding is (the body runs until the connection closes).
    pub chunked: Option<bool>,
    pub keep_alive: bool,
}

impl Facts {
    /// The framing and connection verdict on a response's fields: `Host`
    /// plays no part; `Transfer-Encoding` with `Content-Length`, or
    /// `chunked` more than once, is refused as a smuggling attempt.
    pub(super) fn finish_response(self, version: Version) -> Result<ResponseOutcome, &'static str> {
        let chunked = if self.transfer_encoding {
            if version == Version::HTTP_10 {
                return Err("Transfer-Encoding in an HTTP/1.0 response");
            }
            if self.content_length.is_some() {
                return Err("both Content-Length and Transfer-Encoding");
            }
            if self.chunked > 1 || (self.chunked == 1 && !self.last_is_chunked) {
                return Err("chunked must be the final transfer coding, once");
            }
            Some(self.last_is_chunked)
        } else {
            None
        };
        Ok(ResponseOutcome {
            content_length: self.content_length,
            chunked,
            keep_alive: !self.close && (version == Version::HTTP_11 || self.keep_alive),
        })
    }
}
