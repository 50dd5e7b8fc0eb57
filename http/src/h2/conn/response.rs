//! Response header lists → `http` responses, with the checks of RFC 9113
//! §8.3.2: exactly one `:status` (three digits), no other pseudo-header,
//! and the field rules every header list shares.

use http::{Response, StatusCode, Version};

use super::fields::{
    self, check_regular_field, join_cookies, regular_field, ContentLength, Malformed,
};
use crate::h2::hpack::HeaderField;

/// A decoded response head.
#[derive(Debug)]
pub(crate) struct ResponseHead {
    /// Status, headers; version HTTP/2.
    pub response: Response<()>,
    /// The declared content-length.
    pub content_length: Option<u64>,
}

/// Turns a decoded response header list into a response; without
/// `keep_fields` every field is checked the same way but none is kept
/// (the response's header map is empty).
pub(crate) fn response_from_fields(
    fields: Vec<HeaderField>,
    keep_fields: bool,
) -> Result<ResponseHead, Malformed> {
    if !keep_fields {
        return bare_response(&fields);
    }
    let mut status: Option<StatusCode> = None;
    let mut headers = http::HeaderMap::with_capacity(fields.len());
    let mut cookies = Vec::new();
    let mut regular_seen = false;
    for field in fields {
        if field.name.first() == Some(&b':') {
            pseudo_field(&field, regular_seen, &mut status)?;
            continue;
        }
        regular_seen = true;
        regular_field(&mut headers, &mut cookies, field)?;
    }
    join_cookies(&mut headers, cookies)?;
    let status = status.ok_or("missing :status")?;
    let content_length = fields::content_length(&headers)?;
    Ok(head(status, headers, content_length))
}

/// [`response_from_fields`] without a header map: the same checks, the
/// status and the content-length kept.
fn bare_response(fields: &[HeaderField]) -> Result<ResponseHead, Malformed> {
    let mut status: Option<StatusCode> = None;
    let mut regular_seen = false;
    let mut length = ContentLength::default();
    for field in fields {
        if field.name.first() == Some(&b':') {
            pseudo_field(field, regular_seen, &mut status)?;
            continue;
        }
        regular_seen = true;
        check_regular_field(&field.name, &field.value)?;
        if &field.name[..] == b"content-length" {
            length.observe(&field.value);
        }
    }
    let status = status.ok_or("missing :status")?;
    Ok(head(status, http::HeaderMap::new(), length.finish()?))
}

/// A response's pseudo-header: `:status` once, before any regular field.
fn pseudo_field(
    field: &HeaderField,
    regular_seen: bool,
    status: &mut Option<StatusCode>,
) -> Result<(), Malformed> {
    if regular_seen {
        return Err("pseudo-header after a regular field");
    }
    if &field.name[..] != b":status" {
        return Err("unknown or request pseudo-header");
    }
    if status.is_some() {
        return Err("duplicate :status");
    }
    *status = Some(parse_status(&field.value)?);
    Ok(())
}

fn head(status: StatusCode, headers: http::HeaderMap, content_length: Option<u64>) -> ResponseHead {
    let mut response = Response::new(());
    *response.status_mut() = status;
    *response.version_mut() = Version::HTTP_2;
    *response.headers_mut() = headers;
    ResponseHead {
        response,
        content_length,
    }
}

/// `:status` is exactly three digits, 100–599.
fn parse_status(value: &[u8]) -> Result<StatusCode, Malformed> {
    if value.len() != 3 || !value.iter().all(u8::is_ascii_digit) || value[0] > b'5' {
        return Err("bad :status");
    }
    StatusCode::from_bytes(value).map_err(|_| "bad :status")
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    fn fields(list: &[(&'static str, &'static str)]) -> Vec<HeaderField> {
        list.iter()
            .map(|(n, v)| HeaderField {
                name: Bytes::from_static(n.as_bytes()),
                value: Bytes::from_static(v.as_bytes()),
                sensitive: false,
            })
            .collect()
    }

    #[test]
    fn a_valid_response_head() {
        let list = [
            (":status", "200"),
            ("content-length", "5"),
            ("cookie", "a=1"),
            ("cookie", "b=2"),
        ];
        let bare = response_from_fields(fields(&list), false).unwrap();
        assert_eq!(bare.response.status(), StatusCode::OK);
        assert_eq!(bare.content_length, Some(5));
        assert!(bare.response.headers().is_empty());
        let head = response_from_fields(fields(&list), true).unwrap();
        assert_eq!(head.response.status(), StatusCode::OK);
        assert_eq!(head.response.version(), Version::HTTP_2);
        assert_eq!(head.content_length, Some(5));
        assert_eq!(head.response.headers()["cookie"], "a=1; b=2");
    }

    #[test]
    fn every_status_from_100_to_599() {
        for (text, code) in [
            ("100", 100),
            ("204", 204),
            ("404", 404),
            ("500", 500),
            ("599", 599),
        ] {
            let value = Bytes::from_static(text.as_bytes());
            assert_eq!(
                parse_status(&value),
                Ok(StatusCode::from_u16(code).unwrap())
            );
        }
        for bad in ["600", "999", "5000", "50", "5x0", ""] {
            assert_eq!(parse_status(bad.as_bytes()), Err("bad :status"), "{bad:?}");
        }
    }

    #[test]
    fn malformed_response_heads() {
        let cases: &[&[(&str, &str)]] = &[
            &[],
            &[("server", "x")],
            &[(":status", "20")],
            &[(":status", "2000")],
            &[(":status", "+20")],
            &[(":status", "099")],
            &[(":status", "600")],
            &[(":status", "200"), (":status", "200")],
            &[(":status", "200"), (":path", "/")],
            &[("server", "x"), (":status", "200")],
            &[(":status", "200"), ("Server", "x")],
            &[(":status", "200"), ("connection", "close")],
            &[
                (":status", "200"),
                ("content-length", "1"),
                ("content-length", "2"),
            ],
            &[(":status", "200"), ("content-length", "-1")],
            &[(":status", "200"), ("x", "a\x01b")],
            &[(":status", "200"), ("x", "a\x7fb")],
            &[(":status", "200"), ("cookie", "a\x01b")],
            &[(":status", "200"), ("te", "gzip")],
            &[(":status", "200"), ("x", " a")],
        ];
        for case in cases {
            let kept = response_from_fields(fields(case), true).unwrap_err();
            let bare = response_from_fields(fields(case), false).unwrap_err();
            assert_eq!(kept, bare, "{case:?}");
        }
    }
}
