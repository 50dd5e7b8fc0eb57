//! HPACK decoding errors.

use std::fmt;

use crate::h2::{ErrorCode, H2Error};

/// Why a header block could not be decoded.
///
/// Every error but [`HpackError::HeaderListTooLarge`] leaves the
/// decompression context unusable: a connection error COMPRESSION_ERROR.
/// `HeaderListTooLarge` is reported only after the whole block was decoded
/// (the dynamic table stays in sync), so the connection can refuse just the
/// stream (431 or RST_STREAM):
///
/// ```
/// use percore_http::h2::hpack::HpackError;
/// assert!(HpackError::InvalidHuffman.into_h2_error(1).is_connection());
/// assert!(!HpackError::HeaderListTooLarge.into_h2_error(1).is_connection());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HpackError {
    /// The block ends inside a representation.
    Truncated,
    /// An integer does not fit in 32 bits (or uses too many octets).
    IntegerOverflow,
    /// Index 0, or an index beyond the static + dynamic tables.
    InvalidIndex,
    /// Bad Huffman code: EOS symbol, padding longer than 7 bits or not all ones.
    InvalidHuffman,
    /// A string literal longer than the header list size limit.
    StringTooLong,
    /// A dynamic table size update above SETTINGS_HEADER_TABLE_SIZE.
    SizeUpdateTooLarge,
    /// A dynamic table size update after a header field.
    SizeUpdateNotAtStart,
    /// Our SETTINGS_HEADER_TABLE_SIZE shrank and the block does not start
    /// with the required size update.
    SizeUpdateMissing,
    /// The decoded header list exceeds the limit (name + value + 32 per field).
    HeaderListTooLarge,
}

impl HpackError {
    /// Whether this error only concerns the stream (the header list was too
    /// large, the dynamic table is intact).
    pub fn is_stream_error(&self) -> bool {
        matches!(self, HpackError::HeaderListTooLarge)
    }

    /// The HTTP/2 error: COMPRESSION_ERROR for the connection, or for
    /// [`HpackError::HeaderListTooLarge`] a stream error (a server may
    /// answer 431 instead of resetting).
    pub fn into_h2_error(self, stream_id: u32) -> H2Error {
        if self.is_stream_error() {
            H2Error::stream(stream_id, ErrorCode::ProtocolError, "header list too large")
        } else {
            H2Error::connection(ErrorCode::CompressionError, self.reason())
        }
    }

    fn reason(&self) -> &'static str {
        match self {
            HpackError::Truncated => "truncated header block",
            HpackError::IntegerOverflow => "HPACK integer overflow",
            HpackError::InvalidIndex => "invalid HPACK index",
            HpackError::InvalidHuffman => "invalid Huffman code",
            HpackError::StringTooLong => "HPACK string too long",
            HpackError::SizeUpdateTooLarge => "table size update above the limit",
            HpackError::SizeUpdateNotAtStart => "table size update after a header field",
            HpackError::SizeUpdateMissing => "required table size update missing",
            HpackError::HeaderListTooLarge => "header list too large",
        }
    }
}

impl fmt::Display for HpackError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.reason())
    }
}

impl std::error::Error for HpackError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_name_their_reason() {
        assert_eq!(HpackError::InvalidIndex.to_string(), "invalid HPACK index");
        assert_eq!(
            HpackError::InvalidHuffman.into_h2_error(1),
            H2Error::connection(ErrorCode::CompressionError, "invalid Huffman code")
        );
        assert_eq!(
            HpackError::HeaderListTooLarge.into_h2_error(3),
            H2Error::stream(3, ErrorCode::ProtocolError, "header list too large")
        );
    }
}
