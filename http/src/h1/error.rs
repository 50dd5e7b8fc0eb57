//! Errors of the HTTP/1.1 codec, each with the status code to answer.

use std::fmt;

use http::StatusCode;

/// Why a request head was rejected.
///
/// Every variant maps to the status the server should answer with before
/// closing the connection:
///
/// ```
/// use percore_http::h1::ParseError;
/// assert_eq!(ParseError::UriTooLong.status().as_u16(), 414);
/// assert_eq!(ParseError::BadRequest("x").to_string(), "bad request: x");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParseError {
    /// Malformed or forbidden syntax or framing (400).
    BadRequest(&'static str),
    /// The head is larger than `Limits::max_head_size` (431).
    HeadTooLarge,
    /// The head has more fields than `Limits::max_headers` (431).
    TooManyHeaders,
    /// The request target is longer than `Limits::max_uri_len` (414).
    UriTooLong,
    /// The declared `Content-Length` exceeds `Limits::max_body_size` (413).
    BodyTooLarge,
    /// A transfer coding this codec does not implement (501).
    NotImplemented(&'static str),
    /// A well-formed HTTP version other than 1.0 and 1.1 (505).
    VersionNotSupported,
}

impl ParseError {
    /// The status code to answer with.
    pub fn status(&self) -> StatusCode {
        match self {
            ParseError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ParseError::HeadTooLarge | ParseError::TooManyHeaders => {
                StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE
            }
            ParseError::UriTooLong => StatusCode::URI_TOO_LONG,
            ParseError::BodyTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ParseError::NotImplemented(_) => StatusCode::NOT_IMPLEMENTED,
            ParseError::VersionNotSupported => StatusCode::HTTP_VERSION_NOT_SUPPORTED,
        }
    }
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ParseError::BadRequest(why) => write!(f, "bad request: {why}"),
            ParseError::HeadTooLarge => f.write_str("request head larger than max_head_size"),
            ParseError::TooManyHeaders => f.write_str("more header fields than max_headers"),
            ParseError::UriTooLong => f.write_str("request target longer than max_uri_len"),
            ParseError::BodyTooLarge => f.write_str("declared body larger than max_body_size"),
            ParseError::NotImplemented(why) => write!(f, "not implemented: {why}"),
            ParseError::VersionNotSupported => f.write_str("HTTP version not supported"),
        }
    }
}

impl std::error::Error for ParseError {}

/// Why a request body could not be decoded.
///
/// ```
/// use percore_http::h1::DecodeError;
/// assert_eq!(DecodeError::TooLarge.status().as_u16(), 413);
/// assert_eq!(DecodeError::BadChunk("x").status().as_u16(), 400);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DecodeError {
    /// Bad chunked framing: size line, extension or CRLF (400).
    BadChunk(&'static str),
    /// Malformed trailer section (400).
    BadTrailers(&'static str),
    /// The trailer section is larger than `Limits::max_head_size` or has
    /// more fields than `Limits::max_headers` (431).
    TrailersTooLarge,
    /// The body exceeds `Limits::max_body_size` (413).
    TooLarge,
}

impl DecodeError {
    /// The status code to answer with.
    pub fn status(&self) -> StatusCode {
        match self {
            DecodeError::BadChunk(_) | DecodeError::BadTrailers(_) => StatusCode::BAD_REQUEST,
            DecodeError::TrailersTooLarge => StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            DecodeError::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
        }
    }
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DecodeError::BadChunk(why) => write!(f, "bad chunked encoding: {why}"),
            DecodeError::BadTrailers(why) => write!(f, "bad trailer section: {why}"),
            DecodeError::TrailersTooLarge => {
                f.write_str("trailer section larger than max_head_size or max_headers")
            }
            DecodeError::TooLarge => f.write_str("body larger than max_body_size"),
        }
    }
}

impl std::error::Error for DecodeError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_name_their_reason() {
        assert_eq!(ParseError::BadRequest("x").to_string(), "bad request: x");
        assert_eq!(
            ParseError::VersionNotSupported.to_string(),
            "HTTP version not supported"
        );
        assert_eq!(
            DecodeError::BadChunk("x").to_string(),
            "bad chunked encoding: x"
        );
        assert_eq!(
            DecodeError::TooLarge.to_string(),
            "body larger than max_body_size"
        );
    }
}
