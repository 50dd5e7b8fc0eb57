//! Response encoding: exact bytes.

use bytes::BytesMut;
use http::header::{
    HeaderValue, CONNECTION, CONTENT_LENGTH, CONTENT_TYPE, DATE, TRANSFER_ENCODING,
};
use http::{HeaderMap, StatusCode, Version};

use super::*;

const DATE_VALUE: &[u8] = b"Sun, 06 Nov 1994 08:49:37 GMT";

fn encode(
    version: Version,
    status: u16,
    headers: &HeaderMap,
    body: ResponseBody,
    close: bool,
) -> String {
    let mut dst = BytesMut::new();
    let status = StatusCode::from_u16(status).unwrap();
    encode_response_head(&mut dst, version, status, headers, body, DATE_VALUE, close);
    String::from_utf8(dst.to_vec()).unwrap()
}

fn map(fields: &[(http::header::HeaderName, &'static str)]) -> HeaderMap {
    let mut m = HeaderMap::new();
    for (k, v) in fields {
        m.append(k.clone(), HeaderValue::from_static(v));
    }
    m
}

const D: &str = "date: Sun, 06 Nov 1994 08:49:37 GMT\r\n";

#[test]
fn ok_with_length_and_two_headers() {
    let h = map(&[
        (CONTENT_TYPE, "text/plain"),
        (http::header::SERVER, "percore"),
    ]);
    assert_eq!(
        encode(Version::HTTP_11, 200, &h, ResponseBody::Length(13), false),
        format!("HTTP/1.1 200 OK\r\n{D}content-type: text/plain\r\nserver: percore\r\ncontent-length: 13\r\n\r\n")
    );
}

#[test]
fn framing_fields_belong_to_the_encoder() {
    let h = map(&[
        (CONTENT_LENGTH, "999"),
        (TRANSFER_ENCODING, "gzip"),
        (DATE, "yesterday"),
        (CONTENT_TYPE, "a/b"),
    ]);
    assert_eq!(
        encode(Version::HTTP_11, 200, &h, ResponseBody::Chunked, false),
        format!("HTTP/1.1 200 OK\r\n{D}content-type: a/b\r\ntransfer-encoding: chunked\r\n\r\n")
    );
    assert_eq!(
        encode(Version::HTTP_11, 200, &h, ResponseBody::Empty, false),
        format!("HTTP/1.1 200 OK\r\n{D}content-type: a/b\r\ncontent-length: 0\r\n\r\n")
    );
    assert_eq!(
        encode(
            Version::HTTP_11,
            200,
            &HeaderMap::new(),
            ResponseBody::Length(u64::MAX),
            false
        ),
        format!("HTTP/1.1 200 OK\r\n{D}content-length: 18446744073709551615\r\n\r\n")
    );
}

#[test]
fn no_framing_where_no_body_is_allowed() {
    for (code, line) in [
        (100, "HTTP/1.1 100 Continue"),
        (101, "HTTP/1.1 101 Switching Protocols"),
        (103, "HTTP/1.1 103 Early Hints"),
        (204, "HTTP/1.1 204 No Content"),
        (304, "HTTP/1.1 304 Not Modified"),
    ] {
        for body in [
            ResponseBody::Length(5),
            ResponseBody::Chunked,
            ResponseBody::Empty,
        ] {
            assert_eq!(
                encode(Version::HTTP_11, code, &HeaderMap::new(), body, false),
                format!("{line}\r\n{D}\r\n")
            );
        }
    }
}

#[test]
fn connection_rules() {
    let upgrade = map(&[
        (CONNECTION, "upgrade"),
        (http::header::UPGRADE, "websocket"),
    ]);
    // The caller's connection field stands on a kept-alive exchange ...
    assert_eq!(
        encode(Version::HTTP_11, 101, &upgrade, ResponseBody::Empty, false),
        format!("HTTP/1.1 101 Switching Protocols\r\n{D}connection: upgrade\r\nupgrade: websocket\r\n\r\n")
    );
    // ... and is replaced when closing.
    assert_eq!(
        encode(Version::HTTP_11, 400, &upgrade, ResponseBody::Length(0), true),
        format!("HTTP/1.1 400 Bad Request\r\n{D}upgrade: websocket\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
    );
    // HTTP/1.0: keep-alive is said explicitly, once.
    assert_eq!(
        encode(
            Version::HTTP_10,
            200,
            &HeaderMap::new(),
            ResponseBody::Length(1),
            false
        ),
        format!("HTTP/1.0 200 OK\r\n{D}content-length: 1\r\nconnection: keep-alive\r\n\r\n")
    );
    let ka = map(&[(CONNECTION, "keep-alive")]);
    assert_eq!(
        encode(Version::HTTP_10, 200, &ka, ResponseBody::Length(1), false),
        format!("HTTP/1.0 200 OK\r\n{D}connection: keep-alive\r\ncontent-length: 1\r\n\r\n")
    );
    assert_eq!(
        encode(
            Version::HTTP_10,
            404,
            &HeaderMap::new(),
            ResponseBody::Length(1),
            true
        ),
        format!("HTTP/1.0 404 Not Found\r\n{D}content-length: 1\r\nconnection: close\r\n\r\n")
    );
}

#[test]
fn status_lines() {
    let line = |v, code| {
        let s = encode(v, code, &HeaderMap::new(), ResponseBody::Empty, false);
        s.split("\r\n").next().unwrap().to_string()
    };
    assert_eq!(line(Version::HTTP_11, 418), "HTTP/1.1 418 I'm a teapot");
    assert_eq!(line(Version::HTTP_11, 599), "HTTP/1.1 599 ");
    assert_eq!(line(Version::HTTP_10, 599), "HTTP/1.0 599 ");
    assert_eq!(
        line(Version::HTTP_10, 503),
        "HTTP/1.0 503 Service Unavailable"
    );
    assert_eq!(line(Version::HTTP_2, 200), "HTTP/1.1 200 OK");
}

#[test]
fn chunks() {
    let mut dst = BytesMut::new();
    encode_chunk(&mut dst, b"hello world, this is 31 bytes!!");
    encode_chunk(&mut dst, b"");
    encode_chunk_header(&mut dst, 0xabcdef);
    encode_chunk_header(&mut dst, usize::MAX);
    let trailers = map(&[
        (http::header::HeaderName::from_static("x-sum"), "7"),
        (CONTENT_LENGTH, "1"),
    ]);
    encode_last_chunk(&mut dst, Some(&trailers));
    encode_last_chunk(&mut dst, None);
    assert_eq!(
        &dst[..],
        &b"1f\r\nhello world, this is 31 bytes!!\r\nabcdef\r\nffffffffffffffff\r\n0\r\nx-sum: 7\r\n\r\n0\r\n\r\n"[..]
    );
    assert_eq!(CONTINUE_100, b"HTTP/1.1 100 Continue\r\n\r\n");
}

#[test]
fn a_close_delimited_body_has_no_framing_field_and_closes() {
    let h = map(&[(CONTENT_LENGTH, "5"), (CONTENT_TYPE, "a/b")]);
    assert_eq!(
        encode(
            Version::HTTP_10,
            200,
            &h,
            ResponseBody::CloseDelimited,
            true
        ),
        format!("HTTP/1.0 200 OK\r\n{D}content-type: a/b\r\nconnection: close\r\n\r\n")
    );
}
