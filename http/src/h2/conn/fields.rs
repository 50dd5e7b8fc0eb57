//! The field rules every HTTP/2 header list shares (RFC 9113 §8.2):
//! lowercase names, no connection-specific fields, `te: trailers` only,
//! clean values, cookie crumbs joined, one content-length; and trailer
//! sections (no pseudo-headers).

use bytes::{BufMut, Bytes, BytesMut};
use http::header::{HeaderName, HeaderValue, CONTENT_LENGTH, COOKIE};
use http::HeaderMap;

use crate::h2::hpack::is_connection_specific;
use crate::h2::hpack::HeaderField;

/// Why a header list is malformed (a stream error PROTOCOL_ERROR).
pub(crate) type Malformed = &'static str;

/// Checks a regular field name: lowercase token characters only.
fn valid_name(name: &[u8]) -> bool {
    !name.is_empty() && name.iter().all(|&b| LOWERCASE_TOKEN[usize::from(b)])
}

/// Bytes allowed in an HTTP/2 field name: token characters (RFC 9110
/// §5.6.2) except uppercase letters. A table, as every name of every
/// request passes through here.
static LOWERCASE_TOKEN: [bool; 256] = {
    let mut table = [false; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        table[b] = c.is_ascii_graphic()
            && !c.is_ascii_uppercase()
            && !matches!(
                c,
                b'(' | b')'
                    | b','
                    | b'/'
                    | b':'
                    | b';'
                    | b'<'
                    | b'='
                    | b'>'
                    | b'?'
                    | b'@'
                    | b'['
                    | b'\\'
                    | b']'
                    | b'{'
                    | b'}'
                    | b'"'
            );
        b += 1;
    }
    table
};

/// Checks a field value: no control character but HTAB (RFC 9113
/// §8.2.1 forbids NUL, CR and LF; `http::HeaderValue` refuses the other
/// controls and DEL), and no leading or trailing whitespace. One pass,
/// eight bytes at a time: a word with no byte below 0x20 and none equal
/// to 0x7f is clean; only a word that may hold one (a tab, most often) is
/// looked at byte by byte.
fn valid_value(value: &[u8]) -> bool {
    const ONES: u64 = u64::from_ne_bytes([0x01; 8]);
    const HIGHS: u64 = u64::from_ne_bytes([0x80; 8]);
    let bad = |&b: &u8| (b < 0x20 && b != b'\t') || b == 0x7f;
    let mut words = value.chunks_exact(8);
    for word in &mut words {
        let x = u64::from_ne_bytes(word.try_into().expect("eight bytes"));
        // A byte below 0x20 (exact as a test for any, for a bound up to
        // 0x80: a borrow reaches a byte only from a lower flagged one)...
        let below = x.wrapping_sub(0x20 * ONES) & !x & HIGHS;
        // ...or a byte equal to 0x7f (a zero byte of x ^ 0x7f..).
        let del = x ^ (0x7f * ONES);
        let del = del.wrapping_sub(ONES) & !del & HIGHS;
        if (below | del) != 0 && word.iter().any(bad) {
            return false;
        }
    }
    if words.remainder().iter().any(bad) {
        return false;
    }
    !matches!(value.first(), Some(b' ' | b'\t')) && !matches!(value.last(), Some(b' ' | b'\t'))
}

/// Checks one regular field of a header list (a head or trailers) by
/// every rule a field must keep, whether or not it is then kept.
pub(crate) fn check_regular_field(name: &[u8], value: &[u8]) -> Result<(), Malformed> {
    if !valid_name(name) {
        return Err("invalid header name");
    }
    if is_connection_specific(name) {
        return Err("connection-specific header field");
    }
    if name == b"te" && value != b"trailers" {
        return Err("te other than trailers");
    }
    if !valid_value(value) {
        return Err("invalid header value");
    }
    Ok(())
}

/// Adds one regular field of a header list (a head or trailers) to
/// `headers`; cookie crumbs go to `cookies`, for [`join_cookies`].
pub(crate) fn regular_field(
    headers: &mut HeaderMap,
    cookies: &mut Vec<Bytes>,
    field: HeaderField,
) -> Result<(), Malformed> {
    check_regular_field(&field.name, &field.value)?;
    if &field.name[..] == b"cookie" {
        // Crumbs split across fields are joined again (RFC 9113 §8.2.3).
        cookies.push(field.value);
        return Ok(());
    }
    let name = HeaderName::from_bytes(&field.name).map_err(|_| "invalid header name")?;
    let value = HeaderValue::from_maybe_shared(field.value).map_err(|_| "invalid header value")?;
    headers.append(name, value);
    Ok(())
}

pub(crate) fn join_cookies(headers: &mut HeaderMap, cookies: Vec<Bytes>) -> Result<(), Malformed> {
    if cookies.is_empty() {
        return Ok(());
    }
    let mut joined = BytesMut::new();
    for (i, c) in cookies.iter().enumerate() {
        if i > 0 {
            joined.put_slice(b"; ");
        }
        joined.put_slice(c);
    }
    let value = HeaderValue::from_maybe_shared(joined.freeze()).map_err(|_| "invalid cookie")?;
    headers.insert(COOKIE, value);
    Ok(())
}

/// The content-length of a head: `None` without one; malformed when
/// repeated with different values or not a decimal number.
#[inline(always)]
pub(crate) fn content_length(headers: &HeaderMap) -> Result<Option<u64>, Malformed> {
    let mut length = ContentLength::default();
    for value in headers.get_all(CONTENT_LENGTH) {
        length.observe(value.as_bytes());
    }
    length.finish()
}

/// The content-length rule, fed one field value at a time (from a header
/// map or straight from a header list).
#[derive(Debug, Default)]
pub(crate) struct ContentLength<'a> {
    first: Option<&'a [u8]>,
    conflict: bool,
}

impl<'a> ContentLength<'a> {
    /// One content-length field's value.
    pub(crate) fn observe(&mut self, value: &'a [u8]) {
        match self.first {
            None => self.first = Some(value),
            Some(first) => self.conflict |= first != value,
        }
    }

    /// The declared length once every field was seen.
    pub(crate) fn finish(self) -> Result<Option<u64>, Malformed> {
        if self.conflict {
            return Err("conflicting content-length");
        }
        let Some(v) = self.first else {
            return Ok(None);
        };
        let text = std::str::from_utf8(v).map_err(|_| "bad content-length")?;
        if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
            return Err("bad content-length");
        }
        Ok(Some(text.parse::<u64>().map_err(|_| "bad content-length")?))
    }
}

/// Turns a trailer header list into a map: no pseudo-headers allowed.
pub(crate) fn trailers_from_fields(fields: Vec<HeaderField>) -> Result<HeaderMap, Malformed> {
    let mut headers = HeaderMap::new();
    let mut cookies = Vec::new();
    for field in fields {
        if field.name.first() == Some(&b':') {
            return Err("pseudo-header in trailers");
        }
        regular_field(&mut headers, &mut cookies, field)?;
    }
    join_cookies(&mut headers, cookies)?;
    // Fields a trailer section may not carry are dropped, as HTTP/1.1 does.
    Ok(crate::body::allowed_trailers(headers).unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field(name: &str, value: &[u8]) -> HeaderField {
        HeaderField {
            name: Bytes::copy_from_slice(name.as_bytes()),
            value: Bytes::copy_from_slice(value),
            sensitive: false,
        }
    }

    fn one(name: &str, value: &[u8]) -> Result<HeaderMap, Malformed> {
        let mut headers = HeaderMap::new();
        let mut cookies = Vec::new();
        regular_field(&mut headers, &mut cookies, field(name, value))?;
        join_cookies(&mut headers, cookies)?;
        Ok(headers)
    }

    #[test]
    fn names_are_lowercase_tokens() {
        for name in ["a", "x-y", "!#$%&'*+-.^_`|~09az"] {
            assert!(valid_name(name.as_bytes()), "{name}");
            assert!(one(name, b"v").is_ok(), "{name}");
        }
        assert!(!valid_name(b""));
        for bad in "()<>@,;:\\\"/[]?={} \tAZ\x7f".chars() {
            let name = format!("a{bad}");
            assert!(!valid_name(name.as_bytes()), "{name:?}");
            assert_eq!(one(&name, b"v").unwrap_err(), "invalid header name");
        }
        assert!(!valid_name(b"a\x80"));
    }

    #[test]
    fn every_byte_of_a_long_value_is_checked() {
        // Each position of a value longer than a word, each byte value:
        // the word-at-a-time check agrees with the byte rule.
        for len in [8, 9, 16, 23] {
            for at in 1..len - 1 {
                for b in 0..=255u8 {
                    let mut value = vec![b'a'; len];
                    value[at] = b;
                    let expect = !((b < 0x20 && b != b'\t') || b == 0x7f);
                    assert_eq!(valid_value(&value), expect, "{b:#x} at {at} of {len}");
                }
            }
        }
        assert!(valid_value(b"text/plain; charset=utf-8\x80\xff\tx"));
    }

    #[test]
    fn values_have_no_line_breaks_nul_or_outer_whitespace() {
        for good in [&b""[..], b"a", b"a b", b"a\tb", b"\x80\xff"] {
            assert!(valid_value(good), "{good:?}");
        }
        for bad in [&b"a\0b"[..], b"a\rb", b"a\nb", b" a", b"\ta", b"a ", b"a\t"] {
            assert!(!valid_value(bad), "{bad:?}");
            assert_eq!(one("x", bad).unwrap_err(), "invalid header value");
        }
    }

    #[test]
    fn connection_specific_fields_and_te() {
        for name in [
            "connection",
            "keep-alive",
            "proxy-connection",
            "transfer-encoding",
            "upgrade",
        ] {
            assert_eq!(
                one(name, b"x").unwrap_err(),
                "connection-specific header field"
            );
        }
        assert_eq!(one("te", b"trailers").unwrap()["te"], "trailers");
        assert_eq!(one("te", b"gzip").unwrap_err(), "te other than trailers");
        // Another name with the value `trailers` is just a field.
        assert_eq!(one("tf", b"gzip").unwrap()["tf"], "gzip");
    }

    #[test]
    fn cookie_crumbs_are_joined() {
        let mut headers = HeaderMap::new();
        let mut cookies = Vec::new();
        for crumb in [&b"a=1"[..], b"b=2", b"c=3"] {
            regular_field(&mut headers, &mut cookies, field("cookie", crumb)).unwrap();
        }
        assert!(headers.is_empty());
        join_cookies(&mut headers, cookies).unwrap();
        assert_eq!(headers["cookie"], "a=1; b=2; c=3");
        assert_eq!(one("cookie", b"only=1").unwrap()["cookie"], "only=1");
        let mut headers = HeaderMap::new();
        join_cookies(&mut headers, Vec::new()).unwrap();
        assert!(headers.is_empty());
    }

    #[test]
    fn content_length_rules() {
        let map = |values: &[&str]| {
            let mut h = HeaderMap::new();
            for v in values {
                h.append(CONTENT_LENGTH, HeaderValue::from_str(v).unwrap());
            }
            content_length(&h)
        };
        assert_eq!(map(&[]), Ok(None));
        assert_eq!(map(&["0"]), Ok(Some(0)));
        assert_eq!(map(&["42", "42"]), Ok(Some(42)));
        assert_eq!(map(&["18446744073709551615"]), Ok(Some(u64::MAX)));
        assert_eq!(map(&["42", "43"]), Err("conflicting content-length"));
        assert_eq!(map(&["42", "42", "43"]), Err("conflicting content-length"));
        for bad in ["", "+1", "-1", "1 ", "0x1", "18446744073709551616"] {
            assert_eq!(map(&[bad]), Err("bad content-length"), "{bad:?}");
        }
    }

    #[test]
    fn trailers_take_no_pseudo_headers() {
        let got = trailers_from_fields(vec![field("x-sum", b"1"), field(":status", b"200")]);
        assert_eq!(got.unwrap_err(), "pseudo-header in trailers");
        let got = trailers_from_fields(vec![field("x-sum", b"1"), field("x-Bad", b"1")]);
        assert_eq!(got.unwrap_err(), "invalid header name");
        let got = trailers_from_fields(vec![
            field("x-sum", b"1"),
            field("content-length", b"5"),
            field("x-sum", b"2"),
        ])
        .unwrap();
        assert_eq!(got.get_all("x-sum").iter().collect::<Vec<_>>(), ["1", "2"]);
        assert!(
            got.get("content-length").is_none(),
            "not allowed in trailers"
        );
        assert!(trailers_from_fields(Vec::new()).unwrap().is_empty());
    }
}
