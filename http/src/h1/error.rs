//! Errors of the HTTP/1.1 codec, each with the status code to answer.

use std::fmt;

use http::StatusCode;

/// Why a request head was rejected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParseError {
    /// Malformed or forbidden syntax (400).
    BadRequest(&'static str),
    /// The head is larger than `max_head_size`, or has too many fields (431).
    HeadersTooLarge,
    /// The request target is longer than `max_uri_len` (414).
    UriTooLong,
    /// The declared body is larger than `max_body_size` (413).
    BodyTooLarge,
    /// A transfer coding we do not implement (501).
    NotImplemented(&'static str),
    /// An HTTP version other than 1.0 and 1.1 (505).
    VersionNotSupported,
}

impl ParseError {
    /// The status code to answer with.
    pub fn status(&self) -> StatusCode {
        match self {
            ParseError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ParseError::HeadersTooLarge => StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
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
            ParseError::HeadersTooLarge => f.write_str("request header fields too large"),
            ParseError::UriTooLong => f.write_str("request target too long"),
            ParseError::BodyTooLarge => f.write_str("declared body too large"),
            ParseError::NotImplemented(why) => write!(f, "not implemented: {why}"),
            ParseError::VersionNotSupported => f.write_str("HTTP version not supported"),
        }
    }
}

impl std::error::Error for ParseError {}

/// Why a request body could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DecodeError {
    /// Bad chunked framing (400).
    BadChunk(&'static str),
    /// Malformed trailer section (400).
    BadTrailers(&'static str),
    /// The body exceeds `max_body_size` (413).
    TooLarge,
}

impl DecodeError {
    /// The status code to answer with.
    pub fn status(&self) -> StatusCode {
        match self {
            DecodeError::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            _ => StatusCode::BAD_REQUEST,
        }
    }
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DecodeError::BadChunk(why) => write!(f, "bad chunked encoding: {why}"),
            DecodeError::BadTrailers(why) => write!(f, "bad trailers: {why}"),
            DecodeError::TooLarge => f.write_str("body too large"),
        }
    }
}

impl std::error::Error for DecodeError {}
