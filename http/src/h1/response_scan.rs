//! The common response head framed without httparse: one pass over a
//! head whose every byte is plainly fine (an `HTTP/1.x` status line with
//! a three-digit code of 100 or more and a reason phrase, then
//! `name: value` lines, every line ending in CRLF, no more fields than
//! the stack array holds). Anything else (an odd byte, a line httparse
//! might refuse, an incomplete head, a framing field the rules refuse)
//! gets no answer here: [`super::response::frame_head`] then asks
//! httparse, so every verdict other than a plain head's is httparse's,
//! and a plain head gets the fields httparse would have found (the
//! tests and the `h1_response_head` fuzz target compare the two).
//!
//! The byte runs (reason phrase, names, values) go sixteen bytes at a
//! time where SSE2 is there ([`first_flagged`]), as the request scanner's.

use http::{Method, StatusCode, Version};

use super::fields::Facts;
use super::response::{framing, offset_in, Framed, ResponseError, ResponseFrame, MAX_NAME_LEN};
use super::scan::{class, TOKEN};
use super::wide::{first_flagged, Run};

/// The head at the front of `window` (after `skipped` bytes of blank
/// lines in the caller's buffer), framed as `frame_head` frames it with
/// httparse, when it is a plain one with at most `slots` fields; `None`
/// when it is not (or not complete yet): the caller asks httparse.
pub(super) fn plain_head(
    window: &[u8],
    skipped: usize,
    method: &Method,
    slots: usize,
) -> Option<Result<Framed, ResponseError>> {
    let (version, status) = status_line(window)?;
    let mut pos = line_end(window, 13)?;
    let mut facts = Facts::default();
    let mut coding = None;
    let mut fields = 0;
    while window.get(pos..pos + 2)? != b"\r\n" {
        let colon = name_end(window, pos)?;
        let name = window.get(pos..colon)?;
        let mut start = colon + 1;
        while matches!(window.get(start), Some(b' ' | b'\t')) {
            start += 1;
        }
        let end = value_end(window, start)?;
        let value = trim_end(window.get(start..end)?);
        fields += 1;
        if fields > slots || name.len() > MAX_NAME_LEN {
            return None;
        }
        if coding.is_none() && name.eq_ignore_ascii_case(b"content-encoding") {
            let (from, to) = offset_in(window, value);
            coding = Some((skipped + from, skipped + to));
        }
        // A refused field: httparse may refuse a later line first.
        facts.observe_response_raw(name, value).ok()?;
        pos = end + 2;
    }
    let len = skipped + pos + 2;
    Some(
        framing(facts, version, status, method).map(|(body, keep_alive)| Framed::Head {
            frame: ResponseFrame {
                len,
                version,
                status,
                body,
                keep_alive,
            },
            coding,
        }),
    )
}

/// `HTTP/1.0 ` or `HTTP/1.1 `, three digits (100 or more) and a space.
fn status_line(window: &[u8]) -> Option<(Version, StatusCode)> {
    let line: &[u8; 13] = window.get(..13)?.try_into().ok()?;
    let version = match &line[..9] {
        b"HTTP/1.1 " => Version::HTTP_11,
        b"HTTP/1.0 " => Version::HTTP_10,
        _ => return None,
    };
    let digit = |b: u8| b.wrapping_sub(b'0');
    let (h, t, o) = (digit(line[9]), digit(line[10]), digit(line[11]));
    if !(1..=9).contains(&h) || t > 9 || o > 9 || line[12] != b' ' {
        return None;
    }
    let code = u16::from(h) * 100 + u16::from(t) * 10 + u16::from(o);
    Some((version, StatusCode::from_u16(code).ok()?))
}

/// Where the line from `pos` (a reason phrase: HTAB, SP, VCHAR,
/// obs-text) ends: the position after its CRLF.
fn line_end(window: &[u8], pos: usize) -> Option<usize> {
    value_end(window, pos).map(|cr| cr + 2)
}

/// The position of the CR of the CRLF that ends the field value (or
/// reason phrase) from `pos`; `None` for any control byte, DEL, or a CR
/// without its LF on the way.
fn value_end(window: &[u8], mut pos: usize) -> Option<usize> {
    loop {
        pos = first_flagged(window, pos, Run::Value);
        match *window.get(pos)? {
            b'\r' => return (window.get(pos + 1) == Some(&b'\n')).then_some(pos),
            b'\t' => pos += 1,
            0x20..=0x7e | 0x80..=0xff => pos += 1,
            _ => return None,
        }
    }
}

/// The position of the colon after the field name from `pos` (one or
/// more token characters).
fn name_end(window: &[u8], start: usize) -> Option<usize> {
    let mut pos = start;
    loop {
        pos = first_flagged(window, pos, Run::Token);
        let b = *window.get(pos)?;
        if b == b':' && pos > start {
            return Some(pos);
        }
        if class(b) & TOKEN == 0 {
            return None;
        }
        pos += 1;
    }
}

/// `value` without trailing SP and HTAB (as httparse gives it).
fn trim_end(value: &[u8]) -> &[u8] {
    let keep = value
        .iter()
        .rposition(|&b| b != b' ' && b != b'\t')
        .map_or(0, |last| last + 1);
    value.get(..keep).unwrap_or_default()
}
