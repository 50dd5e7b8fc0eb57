//! HTTP/2 error codes (RFC 9113 §7) and the connection-or-stream error type.

use std::fmt;

/// An HTTP/2 error code, as carried by RST_STREAM and GOAWAY.
///
/// Unknown values are preserved (RFC 9113 §7: they must not trigger any
/// special behaviour, but may be logged):
///
/// ```
/// use percore_http::h2::ErrorCode;
/// assert_eq!(ErrorCode::from(0x1), ErrorCode::ProtocolError);
/// assert_eq!(ErrorCode::from(0xabc), ErrorCode::Unknown(0xabc));
/// assert_eq!(u32::from(ErrorCode::Http11Required), 0xd);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorCode {
    /// 0x0: graceful shutdown, or no error.
    NoError,
    /// 0x1: unspecific protocol error.
    ProtocolError,
    /// 0x2: unexpected internal error.
    InternalError,
    /// 0x3: the peer violated flow control.
    FlowControlError,
    /// 0x4: SETTINGS not acknowledged in time.
    SettingsTimeout,
    /// 0x5: frame received on a half-closed stream.
    StreamClosed,
    /// 0x6: frame with an invalid size.
    FrameSizeError,
    /// 0x7: stream refused before any processing.
    RefusedStream,
    /// 0x8: the stream is no longer needed.
    Cancel,
    /// 0x9: the header compression context cannot be maintained.
    CompressionError,
    /// 0xa: the CONNECT tunnel was reset or abnormally closed.
    ConnectError,
    /// 0xb: the peer generates excessive load.
    EnhanceYourCalm,
    /// 0xc: the transport does not meet minimum security requirements.
    InadequateSecurity,
    /// 0xd: HTTP/1.1 must be used instead.
    Http11Required,
    /// Any other value, preserved as received.
    Unknown(u32),
}

impl From<u32> for ErrorCode {
    fn from(v: u32) -> Self {
        match v {
            0x0 => ErrorCode::NoError,
            0x1 => ErrorCode::ProtocolError,
            0x2 => ErrorCode::InternalError,
            0x3 => ErrorCode::FlowControlError,
            0x4 => ErrorCode::SettingsTimeout,
            0x5 => ErrorCode::StreamClosed,
            0x6 => ErrorCode::FrameSizeError,
            0x7 => ErrorCode::RefusedStream,
            0x8 => ErrorCode::Cancel,
            0x9 => ErrorCode::CompressionError,
            0xa => ErrorCode::ConnectError,
            0xb => ErrorCode::EnhanceYourCalm,
            0xc => ErrorCode::InadequateSecurity,
            0xd => ErrorCode::Http11Required,
            other => ErrorCode::Unknown(other),
        }
    }
}

impl From<ErrorCode> for u32 {
    fn from(c: ErrorCode) -> u32 {
        match c {
            ErrorCode::NoError => 0x0,
            ErrorCode::ProtocolError => 0x1,
            ErrorCode::InternalError => 0x2,
            ErrorCode::FlowControlError => 0x3,
            ErrorCode::SettingsTimeout => 0x4,
            ErrorCode::StreamClosed => 0x5,
            ErrorCode::FrameSizeError => 0x6,
            ErrorCode::RefusedStream => 0x7,
            ErrorCode::Cancel => 0x8,
            ErrorCode::CompressionError => 0x9,
            ErrorCode::ConnectError => 0xa,
            ErrorCode::EnhanceYourCalm => 0xb,
            ErrorCode::InadequateSecurity => 0xc,
            ErrorCode::Http11Required => 0xd,
            ErrorCode::Unknown(v) => v,
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match self {
            ErrorCode::NoError => "NO_ERROR",
            ErrorCode::ProtocolError => "PROTOCOL_ERROR",
            ErrorCode::InternalError => "INTERNAL_ERROR",
            ErrorCode::FlowControlError => "FLOW_CONTROL_ERROR",
            ErrorCode::SettingsTimeout => "SETTINGS_TIMEOUT",
            ErrorCode::StreamClosed => "STREAM_CLOSED",
            ErrorCode::FrameSizeError => "FRAME_SIZE_ERROR",
            ErrorCode::RefusedStream => "REFUSED_STREAM",
            ErrorCode::Cancel => "CANCEL",
            ErrorCode::CompressionError => "COMPRESSION_ERROR",
            ErrorCode::ConnectError => "CONNECT_ERROR",
            ErrorCode::EnhanceYourCalm => "ENHANCE_YOUR_CALM",
            ErrorCode::InadequateSecurity => "INADEQUATE_SECURITY",
            ErrorCode::Http11Required => "HTTP_1_1_REQUIRED",
            ErrorCode::Unknown(v) => return write!(f, "UNKNOWN(0x{v:x})"),
        };
        f.write_str(name)
    }
}

/// An HTTP/2 protocol error: either the whole connection fails (answer with
/// GOAWAY carrying `code`, then close) or a single stream does (answer with
/// RST_STREAM on `stream_id`; the connection goes on).
///
/// ```
/// use percore_http::h2::{ErrorCode, H2Error};
/// let e = H2Error::stream(3, ErrorCode::ProtocolError, "zero window increment");
/// assert!(!e.is_connection());
/// assert_eq!(e.code(), ErrorCode::ProtocolError);
/// assert_eq!(e.stream_id(), Some(3));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum H2Error {
    /// Fatal for the connection: send GOAWAY with `code`, then close.
    Connection {
        /// The GOAWAY error code.
        code: ErrorCode,
        /// What went wrong (for logs and GOAWAY debug data).
        reason: &'static str,
    },
    /// Fatal for one stream only: send RST_STREAM with `code`.
    Stream {
        /// The stream to reset (never 0).
        stream_id: u32,
        /// The RST_STREAM error code.
        code: ErrorCode,
        /// What went wrong (for logs).
        reason: &'static str,
    },
}

impl H2Error {
    /// A connection error.
    pub fn connection(code: ErrorCode, reason: &'static str) -> Self {
        H2Error::Connection { code, reason }
    }

    /// A stream error on `stream_id`.
    pub fn stream(stream_id: u32, code: ErrorCode, reason: &'static str) -> Self {
        H2Error::Stream {
            stream_id,
            code,
            reason,
        }
    }

    /// Whether the whole connection must be closed (GOAWAY).
    pub fn is_connection(&self) -> bool {
        matches!(self, H2Error::Connection { .. })
    }

    /// The error code to send.
    pub fn code(&self) -> ErrorCode {
        match self {
            H2Error::Connection { code, .. } | H2Error::Stream { code, .. } => *code,
        }
    }

    /// The stream to reset, for a stream error.
    pub fn stream_id(&self) -> Option<u32> {
        match self {
            H2Error::Connection { .. } => None,
            H2Error::Stream { stream_id, .. } => Some(*stream_id),
        }
    }

    /// The human-readable reason.
    pub fn reason(&self) -> &'static str {
        match self {
            H2Error::Connection { reason, .. } | H2Error::Stream { reason, .. } => reason,
        }
    }
}

impl fmt::Display for H2Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            H2Error::Connection { code, reason } => write!(f, "connection error {code}: {reason}"),
            H2Error::Stream {
                stream_id,
                code,
                reason,
            } => write!(f, "stream {stream_id} error {code}: {reason}"),
        }
    }
}

impl std::error::Error for H2Error {}
