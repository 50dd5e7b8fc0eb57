//! Response header lists → `http` responses, with the checks of RFC 9113
//! §8.3.2: exactly one `:status` (three digits), no other pseudo-header,
//! and the field rules every header list shares.

use http::{Response, StatusCode, Version};

use super::fields::{self, join_cookies, regular_field, Malformed};
use crate::h2::hpack::HeaderField;

/// A decoded response head.
#[derive(Debug)]
pub(crate) struct ResponseHead {
    /// Status, headers; version HTTP/2.
    pub response: Response<()>,
    /// The declared content-length.
    pub content_length: Option<u64>,
}

/// Turns a decoded response header list into a response.
pub(crate) fn response_from_fields(fields: Vec<HeaderField>) -> Result<ResponseHead, Malformed> {
    let mut status: Option<StatusCode> = None;
    let mut headers = http::HeaderMap::with_capacity(fields.len());
    let mut cookies = Vec::new();
    let mut regular_seen = false;
    for field in fields {
        if field.name.first() == Some(&b':') {
            if regular_seen {
                return Err("pseudo-header after a regular field");
            }
            if &field.name[..] != b":status" {
                return Err("unknown or request pseudo-header");
            }
            if status.is_some() {
                return Err("duplicate :status");
            }
            status = Some(parse_status(&field.value)?);
            continue;
        }
        regular_seen = true;
        regular_field(&mut headers, &mut cookies, field)?;
    }
    join_cookies(&mut headers, cookies)?;
    let status = status.ok_or("missing :status")?;
    let content_length = fields::content_length(&headers)?;
    let mut response = Response::new(());
    *response.status_mut() = status;
    *response.version_mut() = Version::HTTP_2;
    *response.headers_mut() = headers;
    Ok(ResponseHead {
        response,
        content_length,
    })
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
        let head = response_from_fields(fields(&[
            (":status", "200"),
            ("content-length", "5"),
            ("cookie", "a=1"),
            ("cookie", "b=2"),
        ]))
        .unwrap();
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
        ];
        for case in cases {
            assert!(response_from_fields(fields(case)).is_err(), "{case:?}");
        }
    }
}
