//! The 9-byte frame header (RFC 9113 §4.1).

use bytes::{BufMut, BytesMut};

/// Frame type octets (RFC 9113 §6).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameType;

impl FrameType {
    /// DATA.
    pub const DATA: u8 = 0x0;
    /// HEADERS.
    pub const HEADERS: u8 = 0x1;
    /// PRIORITY.
    pub const PRIORITY: u8 = 0x2;
    /// RST_STREAM.
    pub const RST_STREAM: u8 = 0x3;
    /// SETTINGS.
    pub const SETTINGS: u8 = 0x4;
    /// PUSH_PROMISE.
    pub const PUSH_PROMISE: u8 = 0x5;
    /// PING.
    pub const PING: u8 = 0x6;
    /// GOAWAY.
    pub const GOAWAY: u8 = 0x7;
    /// WINDOW_UPDATE.
    pub const WINDOW_UPDATE: u8 = 0x8;
    /// CONTINUATION.
    pub const CONTINUATION: u8 = 0x9;
}

/// Frame flag bits.
pub mod flags {
    /// DATA, HEADERS: last frame of the stream.
    pub const END_STREAM: u8 = 0x1;
    /// SETTINGS, PING: acknowledgement.
    pub const ACK: u8 = 0x1;
    /// HEADERS, PUSH_PROMISE, CONTINUATION: end of the header block.
    pub const END_HEADERS: u8 = 0x4;
    /// DATA, HEADERS, PUSH_PROMISE: a pad length octet and padding are present.
    pub const PADDED: u8 = 0x8;
    /// HEADERS: exclusive flag, dependency and weight are present.
    pub const PRIORITY: u8 = 0x20;
}

/// The frame header: 24-bit length, type, flags, 31-bit stream id (the
/// reserved bit is ignored on decode and sent as 0).
///
/// ```
/// use percore_http::h2::frame::FrameHeader;
/// let h = FrameHeader::parse(&[0, 0, 8, 6, 1, 0x80, 0, 0, 0]);
/// assert_eq!((h.length, h.kind, h.flags, h.stream_id), (8, 6, 1, 0));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameHeader {
    /// Payload length (24 bits).
    pub length: u32,
    /// Frame type octet.
    pub kind: u8,
    /// Flags octet.
    pub flags: u8,
    /// Stream id (31 bits).
    pub stream_id: u32,
}

impl FrameHeader {
    /// The encoded size of a frame header.
    pub const LEN: usize = 9;

    /// Parses the 9 header octets.
    pub fn parse(b: &[u8; 9]) -> FrameHeader {
        FrameHeader {
            length: u32::from_be_bytes([0, b[0], b[1], b[2]]),
            kind: b[3],
            flags: b[4],
            stream_id: u32::from_be_bytes([b[5], b[6], b[7], b[8]]) & 0x7fff_ffff,
        }
    }

    /// Whether `flag` is set.
    pub fn has(&self, flag: u8) -> bool {
        self.flags & flag != 0
    }

    /// Writes the 9 header octets (length truncated to 24 bits, stream id to 31).
    pub fn encode(&self, dst: &mut BytesMut) {
        let len = self.length.to_be_bytes();
        dst.put_slice(&len[1..]);
        dst.put_u8(self.kind);
        dst.put_u8(self.flags);
        dst.put_u32(self.stream_id & 0x7fff_ffff);
    }
}
