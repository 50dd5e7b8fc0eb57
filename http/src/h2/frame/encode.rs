//! Frame encoders: each appends one complete frame (or, for header blocks,
//! a HEADERS/PUSH_PROMISE + CONTINUATION sequence) to a `BytesMut`.
//!
//! Payload sizes are the caller's business: DATA must fit the peer's
//! SETTINGS_MAX_FRAME_SIZE and flow-control windows. Header blocks are
//! split here, given the peer's max frame size.

use bytes::{BufMut, BytesMut};

use super::header::{flags, FrameHeader, FrameType};
use super::{PrioritySpec, Settings, DEFAULT_MAX_FRAME_SIZE};
use crate::h2::ErrorCode;

fn head(dst: &mut BytesMut, length: usize, kind: u8, flags: u8, stream_id: u32) {
    FrameHeader {
        length: length as u32,
        kind,
        flags,
        stream_id,
    }
    .encode(dst);
}

/// Appends a DATA frame (unpadded).
pub fn encode_data(stream_id: u32, data: &[u8], end_stream: bool, dst: &mut BytesMut) {
    encode_data_head(stream_id, data.len(), end_stream, dst);
    dst.put_slice(data);
}

/// Appends the header of an unpadded DATA frame of `len` payload bytes,
/// with room reserved for them: the caller appends the payload (from
/// several buffers, without joining them first).
///
/// ```
/// use bytes::{BufMut, BytesMut};
/// use percore_http::h2::frame::{encode_data, encode_data_head};
/// let (mut a, mut b) = (BytesMut::new(), BytesMut::new());
/// encode_data(3, b"hello", true, &mut a);
/// encode_data_head(3, 5, true, &mut b);
/// b.put_slice(b"he");
/// b.put_slice(b"llo");
/// assert_eq!(a, b);
/// ```
pub fn encode_data_head(stream_id: u32, len: usize, end_stream: bool, dst: &mut BytesMut) {
    let f = if end_stream { flags::END_STREAM } else { 0 };
    dst.reserve(FrameHeader::LEN + len);
    head(dst, len, FrameType::DATA, f, stream_id);
}

/// Appends a header block as one HEADERS frame followed by as many
/// CONTINUATION frames as needed so that no payload exceeds
/// `max_frame_size` (the peer's SETTINGS_MAX_FRAME_SIZE; values below 16384
/// are treated as 16384).
///
/// ```
/// use bytes::BytesMut;
/// use percore_http::h2::frame::encode_headers;
/// let mut buf = BytesMut::new();
/// encode_headers(1, &[0x88; 20_000], true, 16_384, &mut buf);
/// assert_eq!(buf.len(), 9 + 16_384 + 9 + 3_616);
/// assert_eq!(buf[4], 0x1); // HEADERS: END_STREAM, no END_HEADERS
/// assert_eq!((buf[9 + 16_384 + 3], buf[9 + 16_384 + 4]), (0x9, 0x4)); // CONTINUATION, END_HEADERS
/// ```
pub fn encode_headers(
    stream_id: u32,
    block: &[u8],
    end_stream: bool,
    max_frame_size: u32,
    dst: &mut BytesMut,
) {
    let max = (max_frame_size.max(DEFAULT_MAX_FRAME_SIZE)) as usize;
    let first = block.len().min(max);
    let mut f = if end_stream { flags::END_STREAM } else { 0 };
    if first == block.len() {
        f |= flags::END_HEADERS;
    }
    dst.reserve(block.len() + FrameHeader::LEN * (1 + block.len() / max));
    head(dst, first, FrameType::HEADERS, f, stream_id);
    dst.put_slice(&block[..first]);
    continuations(stream_id, &block[first..], max, dst);
}

fn continuations(stream_id: u32, mut rest: &[u8], max: usize, dst: &mut BytesMut) {
    while !rest.is_empty() {
        let n = rest.len().min(max);
        encode_continuation(stream_id, &rest[..n], n == rest.len(), dst);
        rest = &rest[n..];
    }
}

/// Appends one CONTINUATION frame.
pub fn encode_continuation(stream_id: u32, fragment: &[u8], end_headers: bool, dst: &mut BytesMut) {
    let f = if end_headers { flags::END_HEADERS } else { 0 };
    head(dst, fragment.len(), FrameType::CONTINUATION, f, stream_id);
    dst.put_slice(fragment);
}

/// Appends a PUSH_PROMISE (+ CONTINUATION frames, split like
/// [`encode_headers`]).
pub fn encode_push_promise(
    stream_id: u32,
    promised_stream_id: u32,
    block: &[u8],
    max_frame_size: u32,
    dst: &mut BytesMut,
) {
    let max = (max_frame_size.max(DEFAULT_MAX_FRAME_SIZE)) as usize;
    let first = block.len().min(max - 4);
    let f = if first == block.len() {
        flags::END_HEADERS
    } else {
        0
    };
    head(dst, first + 4, FrameType::PUSH_PROMISE, f, stream_id);
    dst.put_u32(promised_stream_id & 0x7fff_ffff);
    dst.put_slice(&block[..first]);
    continuations(stream_id, &block[first..], max, dst);
}

/// Appends a PRIORITY frame.
pub fn encode_priority(stream_id: u32, spec: PrioritySpec, dst: &mut BytesMut) {
    head(dst, 5, FrameType::PRIORITY, 0, stream_id);
    let excl = if spec.exclusive { 0x8000_0000 } else { 0 };
    dst.put_u32(excl | (spec.dependency & 0x7fff_ffff));
    dst.put_u8(spec.weight);
}

/// Appends a RST_STREAM frame.
pub fn encode_rst_stream(stream_id: u32, code: ErrorCode, dst: &mut BytesMut) {
    head(dst, 4, FrameType::RST_STREAM, 0, stream_id);
    dst.put_u32(code.into());
}

/// Appends a SETTINGS frame carrying the parameters present in `settings`.
///
/// ```
/// use bytes::BytesMut;
/// use percore_http::h2::frame::{encode_settings, Settings};
/// let mut buf = BytesMut::new();
/// encode_settings(&Settings { max_concurrent_streams: Some(100), ..Settings::default() }, &mut buf);
/// assert_eq!(&buf[..], &[0, 0, 6, 4, 0, 0, 0, 0, 0, 0, 3, 0, 0, 0, 100]);
/// ```
pub fn encode_settings(settings: &Settings, dst: &mut BytesMut) {
    head(dst, settings.payload_len(), FrameType::SETTINGS, 0, 0);
    settings.encode_payload(dst);
}

/// Appends a SETTINGS frame with the ACK flag.
pub fn encode_settings_ack(dst: &mut BytesMut) {
    head(dst, 0, FrameType::SETTINGS, flags::ACK, 0);
}

/// Appends a PING frame (not an ACK).
pub fn encode_ping(payload: [u8; 8], dst: &mut BytesMut) {
    head(dst, 8, FrameType::PING, 0, 0);
    dst.put_slice(&payload);
}

/// Appends a PING ACK echoing `payload`.
pub fn encode_ping_ack(payload: [u8; 8], dst: &mut BytesMut) {
    head(dst, 8, FrameType::PING, flags::ACK, 0);
    dst.put_slice(&payload);
}

/// Appends a GOAWAY frame.
pub fn encode_goaway(last_stream_id: u32, code: ErrorCode, debug_data: &[u8], dst: &mut BytesMut) {
    head(dst, 8 + debug_data.len(), FrameType::GOAWAY, 0, 0);
    dst.put_u32(last_stream_id & 0x7fff_ffff);
    dst.put_u32(code.into());
    dst.put_slice(debug_data);
}

/// Appends a WINDOW_UPDATE frame (stream 0: the connection window).
pub fn encode_window_update(stream_id: u32, increment: u32, dst: &mut BytesMut) {
    head(dst, 4, FrameType::WINDOW_UPDATE, 0, stream_id);
    dst.put_u32(increment & 0x7fff_ffff);
}
