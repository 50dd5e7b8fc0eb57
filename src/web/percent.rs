//! Percent-encoding (RFC 3986 §2.1), in one place for the web layer, on
//! the `percent-encoding` crate: a lenient decoder (routing), a strict one
//! (static paths, RFC 8187 file names), and the two sets links encode with.

use std::borrow::Cow;

use percent_encoding::{percent_decode_str, utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};

/// Everything but RFC 3986's unreserved characters (`A-Z a-z 0-9 - . _ ~`):
/// safe anywhere in a URL, e.g. a relative link that must not read as a scheme.
pub(crate) const UNRESERVED: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// What a path segment must encode: [`UNRESERVED`] less the sub-delimiters,
/// `:` and `@`, which a segment may carry as they are (RFC 3986 §3.3).
pub(crate) const PATH_SEGMENT: &AsciiSet = &UNRESERVED
    .remove(b'!')
    .remove(b'$')
    .remove(b'&')
    .remove(b'\'')
    .remove(b'(')
    .remove(b')')
    .remove(b'*')
    .remove(b'+')
    .remove(b',')
    .remove(b';')
    .remove(b'=')
    .remove(b':')
    .remove(b'@');

/// `value` with every byte of `set` (and every non-ASCII byte) as `%XX`.
pub(crate) fn encode<'a>(value: &'a str, set: &'static AsciiSet) -> Cow<'a, str> {
    utf8_percent_encode(value, set).into()
}

/// Decodes `%XX` escapes; a malformed escape is kept as it is, and bytes
/// that are not UTF-8 once decoded become U+FFFD.
pub(crate) fn decode_lenient(value: &str) -> Cow<'_, str> {
    percent_decode_str(value).decode_utf8_lossy()
}

/// Decodes `%XX` escapes, or `None` if a `%` is not followed by two hex
/// digits. The bytes are as decoded (not checked for UTF-8).
pub(crate) fn decode_strict(value: &str) -> Option<Cow<'_, [u8]>> {
    let bytes = value.as_bytes();
    let well_formed = bytes.iter().enumerate().all(|(i, &b)| {
        b != b'%'
            || bytes
                .get(i + 1..i + 3)
                .is_some_and(|h| h.iter().all(u8::is_ascii_hexdigit))
    });
    well_formed.then(|| percent_decode_str(value).into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lenient_keeps_malformed_escapes() {
        assert_eq!(decode_lenient("a%2Fb%20c"), "a/b c");
        assert_eq!(decode_lenient("100%"), "100%");
        assert_eq!(decode_lenient("%zz%4"), "%zz%4");
        assert_eq!(decode_lenient("%ff"), "\u{fffd}");
        assert!(matches!(decode_lenient("plain"), Cow::Borrowed("plain")));
    }

    #[test]
    fn strict_refuses_malformed_escapes() {
        assert_eq!(decode_strict("a%2fb").as_deref(), Some(&b"a/b"[..]));
        assert_eq!(decode_strict("%c0%ae").as_deref(), Some(&[0xc0, 0xae][..]));
        assert_eq!(
            decode_strict("%252e").as_deref(),
            Some(&b"%2e"[..]),
            "decoded once"
        );
        for bad in ["%", "a%", "%4", "%4g", "%g4", "x%zz"] {
            assert_eq!(decode_strict(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn the_sets_encode_what_they_must() {
        assert_eq!(encode("a b/c?d:é~", UNRESERVED), "a%20b%2Fc%3Fd%3A%C3%A9~");
        assert_eq!(
            encode("a b/c?d:@!$&'()*+,;=", PATH_SEGMENT),
            "a%20b%2Fc%3Fd:@!$&'()*+,;="
        );
    }
}
