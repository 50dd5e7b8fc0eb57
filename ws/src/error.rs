//! Error types of the codec.

use std::fmt;

/// A violation by the peer; the connection must be failed.
///
/// The driver sends a Close frame with [`close_code`](Self::close_code) and
/// then closes the TCP connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProtocolError {
    /// Framing or protocol violation (close code 1002).
    Protocol(&'static str),
    /// Text or close-reason payload is not valid UTF-8 (close code 1007).
    InvalidUtf8,
    /// A frame or message exceeds the configured limits (close code 1009).
    TooBig(&'static str),
}

impl ProtocolError {
    /// The close code to send to the peer: 1002, 1007 or 1009.
    ///
    /// ```
    /// use percore_ws::ProtocolError;
    /// assert_eq!(ProtocolError::InvalidUtf8.close_code(), 1007);
    /// ```
    pub fn close_code(&self) -> u16 {
        match self {
            ProtocolError::Protocol(_) => 1002,
            ProtocolError::InvalidUtf8 => 1007,
            ProtocolError::TooBig(_) => 1009,
        }
    }

    /// The Close message to send before closing the connection.
    ///
    /// ```
    /// use percore_ws::{CloseFrame, Message, ProtocolError};
    /// let m = ProtocolError::TooBig("frame").close_message();
    /// assert_eq!(m, Message::Close(Some(CloseFrame::new(1009, ""))));
    /// ```
    pub fn close_message(&self) -> crate::Message {
        crate::Message::Close(Some(crate::CloseFrame::new(
            self.close_code(),
            crate::Utf8Bytes::new(),
        )))
    }
}

impl fmt::Display for ProtocolError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProtocolError::Protocol(m) => write!(f, "websocket protocol error: {m}"),
            ProtocolError::InvalidUtf8 => f.write_str("websocket text is not valid UTF-8"),
            ProtocolError::TooBig(m) => write!(f, "websocket message too big: {m}"),
        }
    }
}

impl std::error::Error for ProtocolError {}

/// An outgoing message that cannot be sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EncodeError {
    /// A Close was already sent, or a Close was received and only the Close
    /// reply may still be sent.
    Closed,
    /// Control frame payload (Ping, Pong, Close code + reason) over 125 bytes.
    ControlTooLong,
    /// The close code may not be sent on the wire (e.g. 1005, 1006, 1015).
    InvalidCloseCode(u16),
    /// The compressor failed (internal error; the message was not sent).
    Compression,
}

impl fmt::Display for EncodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EncodeError::Closed => f.write_str("websocket is closing"),
            EncodeError::ControlTooLong => f.write_str("control frame payload over 125 bytes"),
            EncodeError::InvalidCloseCode(c) => write!(f, "close code {c} may not be sent"),
            EncodeError::Compression => f.write_str("permessage-deflate compression failed"),
        }
    }
}

impl std::error::Error for EncodeError {}
