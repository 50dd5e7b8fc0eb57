//! Pre-encoded status lines for the common status codes.

use http::StatusCode;

/// The complete `HTTP/1.1 <code> <reason>\r\n` line of a common status.
pub(super) fn status_line_11(status: StatusCode) -> Option<&'static [u8]> {
    Some(match status.as_u16() {
        100 => b"HTTP/1.1 100 Continue\r\n",
        101 => b"HTTP/1.1 101 Switching Protocols\r\n",
        200 => b"HTTP/1.1 200 OK\r\n",
        201 => b"HTTP/1.1 201 Created\r\n",
        202 => b"HTTP/1.1 202 Accepted\r\n",
        204 => b"HTTP/1.1 204 No Content\r\n",
        206 => b"HTTP/1.1 206 Partial Content\r\n",
        301 => b"HTTP/1.1 301 Moved Permanently\r\n",
        302 => b"HTTP/1.1 302 Found\r\n",
        303 => b"HTTP/1.1 303 See Other\r\n",
        304 => b"HTTP/1.1 304 Not Modified\r\n",
        307 => b"HTTP/1.1 307 Temporary Redirect\r\n",
        308 => b"HTTP/1.1 308 Permanent Redirect\r\n",
        400 => b"HTTP/1.1 400 Bad Request\r\n",
        401 => b"HTTP/1.1 401 Unauthorized\r\n",
        403 => b"HTTP/1.1 403 Forbidden\r\n",
        404 => b"HTTP/1.1 404 Not Found\r\n",
        405 => b"HTTP/1.1 405 Method Not Allowed\r\n",
        408 => b"HTTP/1.1 408 Request Timeout\r\n",
        409 => b"HTTP/1.1 409 Conflict\r\n",
        411 => b"HTTP/1.1 411 Length Required\r\n",
        413 => b"HTTP/1.1 413 Payload Too Large\r\n",
        414 => b"HTTP/1.1 414 URI Too Long\r\n",
        415 => b"HTTP/1.1 415 Unsupported Media Type\r\n",
        417 => b"HTTP/1.1 417 Expectation Failed\r\n",
        422 => b"HTTP/1.1 422 Unprocessable Entity\r\n",
        429 => b"HTTP/1.1 429 Too Many Requests\r\n",
        431 => b"HTTP/1.1 431 Request Header Fields Too Large\r\n",
        500 => b"HTTP/1.1 500 Internal Server Error\r\n",
        501 => b"HTTP/1.1 501 Not Implemented\r\n",
        502 => b"HTTP/1.1 502 Bad Gateway\r\n",
        503 => b"HTTP/1.1 503 Service Unavailable\r\n",
        504 => b"HTTP/1.1 504 Gateway Timeout\r\n",
        505 => b"HTTP/1.1 505 HTTP Version Not Supported\r\n",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every pre-encoded line says what the slow path would write.
    #[test]
    fn table_matches_canonical_reasons() {
        for code in 100..=599u16 {
            let status = StatusCode::from_u16(code).unwrap();
            if let Some(line) = status_line_11(status) {
                let want = format!(
                    "HTTP/1.1 {} {}\r\n",
                    status.as_str(),
                    status.canonical_reason().unwrap()
                );
                assert_eq!(line, want.as_bytes(), "{code}");
            }
        }
    }
}
