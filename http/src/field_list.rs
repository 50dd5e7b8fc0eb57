//! Comma-separated list fields (RFC 9110 §5.6.1): `Connection`,
//! `Upgrade`, `Transfer-Encoding`, `Sec-WebSocket-Protocol` and the like.
//! One reading of the list syntax for the codec, the drivers and the
//! WebSocket handshake.
//!
//! ```
//! use percore_http::field_list;
//! let value = http::HeaderValue::from_static("keep-alive, , Upgrade");
//! let found: Vec<&[u8]> = field_list::elements(value.as_bytes()).collect();
//! assert_eq!(found, [&b"keep-alive"[..], b"Upgrade"]);
//! assert!(field_list::contains(value.as_bytes(), "upgrade"));
//! ```

use http::header::AsHeaderName;
use http::HeaderMap;

/// The comma-separated elements of one field value, without the spaces
/// and tabs around them; empty elements are skipped.
pub fn elements(value: &[u8]) -> impl Iterator<Item = &[u8]> {
    value
        .split(|&b| b == b',')
        .map(<[u8]>::trim_ascii)
        .filter(|t| !t.is_empty())
}

/// Whether one field value lists `token` (ASCII case-insensitive).
pub fn contains(value: &[u8], token: &str) -> bool {
    elements(value).any(|t| t.eq_ignore_ascii_case(token.as_bytes()))
}

/// The elements of every value of field `name` that is text (visible
/// ASCII, spaces and tabs), in order.
pub fn text_elements<K: AsHeaderName>(headers: &HeaderMap, name: K) -> impl Iterator<Item = &str> {
    headers
        .get_all(name)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| elements(v.as_bytes()))
        // Split at ASCII commas and trimmed of ASCII: still UTF-8.
        .filter_map(|t| std::str::from_utf8(t).ok())
}

/// Whether a text value of field `name` lists `token` (ASCII
/// case-insensitive).
pub fn text_contains<K: AsHeaderName>(headers: &HeaderMap, name: K, token: &str) -> bool {
    headers
        .get_all(name)
        .iter()
        .any(|v| v.to_str().is_ok() && contains(v.as_bytes(), token))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn elements_are_trimmed_and_empty_ones_skipped() {
        let got: Vec<&[u8]> = elements(b" a ,\tb\t,,  , c").collect();
        assert_eq!(got, [&b"a"[..], b"b", b"c"]);
        assert_eq!(elements(b"").count(), 0);
        assert_eq!(elements(b" , ,").count(), 0);
        assert!(contains(b"close, Upgrade", "UPGRADE"));
        assert!(!contains(b"closed", "close"));
        assert!(!contains(b"up grade", "upgrade"));
    }

    #[test]
    fn only_text_values_count_across_fields() {
        let mut h = HeaderMap::new();
        h.append("connection", "keep-alive".parse().unwrap());
        h.append("connection", " Upgrade ,x".parse().unwrap());
        h.append(
            "connection",
            http::HeaderValue::from_bytes(b"close, \xff").unwrap(),
        );
        assert_eq!(
            text_elements(&h, "connection").collect::<Vec<_>>(),
            ["keep-alive", "Upgrade", "x"]
        );
        assert!(text_contains(&h, "connection", "upgrade"));
        assert!(!text_contains(&h, "connection", "close"), "not text");
        assert!(!text_contains(&h, "upgrade", "h2c"), "no such field");
    }
}
