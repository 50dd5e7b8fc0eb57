//! HTTP/2 frames (RFC 9113 §4 and §6): the 9-byte header, the typed frames,
//! a zero-copy [`FrameDecoder`] and encoders writing into a `BytesMut`.

mod decode;
mod encode;
mod header;
mod settings;

use bytes::Bytes;

use super::ErrorCode;

pub use decode::{decode_preface, FrameDecoder, Role};
pub use encode::{
    encode_continuation, encode_data, encode_data_head, encode_goaway, encode_headers, encode_ping,
    encode_ping_ack, encode_priority, encode_push_promise, encode_rst_stream, encode_settings,
    encode_settings_ack, encode_window_update,
};
pub use header::{flags, FrameHeader, FrameType};
pub use settings::{SettingId, Settings};

/// The client connection preface (RFC 9113 §3.4), sent before the client's
/// first SETTINGS frame.
pub const PREFACE: &[u8; 24] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// The smallest SETTINGS_MAX_FRAME_SIZE, and the initial value (2^14).
pub const DEFAULT_MAX_FRAME_SIZE: u32 = 16_384;
/// The largest SETTINGS_MAX_FRAME_SIZE (2^24 - 1).
pub const MAX_MAX_FRAME_SIZE: u32 = 16_777_215;
/// The largest flow-control window (2^31 - 1).
pub const MAX_WINDOW_SIZE: u32 = 0x7fff_ffff;

/// A decoded frame. Payloads are `Bytes` split off the read buffer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    /// DATA (type 0x0).
    Data(Data),
    /// HEADERS (type 0x1).
    Headers(Headers),
    /// PRIORITY (type 0x2).
    Priority(Priority),
    /// RST_STREAM (type 0x3).
    RstStream(RstStream),
    /// SETTINGS (type 0x4).
    Settings(SettingsFrame),
    /// PUSH_PROMISE (type 0x5); only ever returned to a client.
    PushPromise(PushPromise),
    /// PING (type 0x6).
    Ping(Ping),
    /// GOAWAY (type 0x7).
    GoAway(GoAway),
    /// WINDOW_UPDATE (type 0x8).
    WindowUpdate(WindowUpdate),
    /// CONTINUATION (type 0x9).
    Continuation(Continuation),
    /// A frame of an unknown type, payload discarded. The connection must
    /// ignore it (RFC 9113 §4.1); the decoder has already rejected one
    /// arriving inside a header block.
    Unknown(FrameHeader),
}

impl Frame {
    /// The stream the frame belongs to (0 for connection-level frames).
    pub fn stream_id(&self) -> u32 {
        match self {
            Frame::Data(f) => f.stream_id,
            Frame::Headers(f) => f.stream_id,
            Frame::Priority(f) => f.stream_id,
            Frame::RstStream(f) => f.stream_id,
            Frame::PushPromise(f) => f.stream_id,
            Frame::WindowUpdate(f) => f.stream_id,
            Frame::Continuation(f) => f.stream_id,
            Frame::Unknown(h) => h.stream_id,
            Frame::Settings(_) | Frame::Ping(_) | Frame::GoAway(_) => 0,
        }
    }
}

/// A DATA frame, padding removed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Data {
    /// The stream (never 0).
    pub stream_id: u32,
    /// END_STREAM flag.
    pub end_stream: bool,
    /// The data, without padding.
    pub data: Bytes,
    /// The whole payload length including padding: what counts against
    /// flow control (RFC 9113 §6.1).
    pub flow_len: u32,
}

/// Stream dependency and weight (RFC 9113 §5.3.2, deprecated but parsed).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PrioritySpec {
    /// Exclusive flag.
    pub exclusive: bool,
    /// The stream depended upon.
    pub dependency: u32,
    /// Weight minus one (0..=255), as on the wire.
    pub weight: u8,
}

/// A HEADERS frame, padding and priority removed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Headers {
    /// The stream (never 0).
    pub stream_id: u32,
    /// END_STREAM flag.
    pub end_stream: bool,
    /// END_HEADERS flag: no CONTINUATION follows.
    pub end_headers: bool,
    /// The PRIORITY fields, if the flag was set.
    pub priority: Option<PrioritySpec>,
    /// The header block fragment (HPACK).
    pub fragment: Bytes,
}

/// A PRIORITY frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Priority {
    /// The stream (never 0).
    pub stream_id: u32,
    /// Dependency and weight.
    pub spec: PrioritySpec,
}

/// A RST_STREAM frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RstStream {
    /// The stream (never 0).
    pub stream_id: u32,
    /// Why the stream is reset.
    pub code: ErrorCode,
}

/// A SETTINGS frame (validated values, see [`Settings`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SettingsFrame {
    /// ACK flag (then `settings` is empty).
    pub ack: bool,
    /// The parameters present in the frame.
    pub settings: Settings,
}

/// A PUSH_PROMISE frame, padding removed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushPromise {
    /// The associated stream (never 0).
    pub stream_id: u32,
    /// The reserved stream.
    pub promised_stream_id: u32,
    /// END_HEADERS flag.
    pub end_headers: bool,
    /// The header block fragment.
    pub fragment: Bytes,
}

/// A PING frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ping {
    /// ACK flag.
    pub ack: bool,
    /// The opaque data, to echo in the ACK.
    pub payload: [u8; 8],
}

/// A GOAWAY frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GoAway {
    /// The last peer-initiated stream that was or may be processed.
    pub last_stream_id: u32,
    /// Why the connection is closing.
    pub code: ErrorCode,
    /// Opaque diagnostic data.
    pub debug_data: Bytes,
}

/// A WINDOW_UPDATE frame (increment is never 0).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WindowUpdate {
    /// The stream, or 0 for the connection window.
    pub stream_id: u32,
    /// The window increment, 1..=2^31-1.
    pub increment: u32,
}

/// A CONTINUATION frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Continuation {
    /// The stream (never 0).
    pub stream_id: u32,
    /// END_HEADERS flag.
    pub end_headers: bool,
    /// The header block fragment.
    pub fragment: Bytes,
}
