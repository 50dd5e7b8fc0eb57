//! SETTINGS parameters (RFC 9113 §6.5.2): parsing with validation, encoding.

use bytes::{BufMut, BytesMut};

use super::{DEFAULT_MAX_FRAME_SIZE, MAX_MAX_FRAME_SIZE, MAX_WINDOW_SIZE};
use crate::h2::{ErrorCode, H2Error};

/// A SETTINGS parameter identifier.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u16)]
pub enum SettingId {
    /// SETTINGS_HEADER_TABLE_SIZE (0x1).
    HeaderTableSize = 1,
    /// SETTINGS_ENABLE_PUSH (0x2).
    EnablePush = 2,
    /// SETTINGS_MAX_CONCURRENT_STREAMS (0x3).
    MaxConcurrentStreams = 3,
    /// SETTINGS_INITIAL_WINDOW_SIZE (0x4).
    InitialWindowSize = 4,
    /// SETTINGS_MAX_FRAME_SIZE (0x5).
    MaxFrameSize = 5,
    /// SETTINGS_MAX_HEADER_LIST_SIZE (0x6).
    MaxHeaderListSize = 6,
    /// SETTINGS_ENABLE_CONNECT_PROTOCOL (0x8, RFC 8441 §3).
    EnableConnectProtocol = 8,
}

/// The parameters carried by one SETTINGS frame; `None` = not present
/// (keep the current value). When a parameter repeats, the last one wins.
///
/// ```
/// use bytes::BytesMut;
/// use percore_http::h2::frame::Settings;
/// let s = Settings { max_frame_size: Some(32_768), enable_push: Some(false), ..Settings::default() };
/// let mut buf = BytesMut::new();
/// s.encode_payload(&mut buf);
/// assert_eq!(buf.len(), 12);
/// assert_eq!(Settings::parse(&buf).unwrap(), s);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Settings {
    /// SETTINGS_HEADER_TABLE_SIZE.
    pub header_table_size: Option<u32>,
    /// SETTINGS_ENABLE_PUSH (0 or 1).
    pub enable_push: Option<bool>,
    /// SETTINGS_MAX_CONCURRENT_STREAMS.
    pub max_concurrent_streams: Option<u32>,
    /// SETTINGS_INITIAL_WINDOW_SIZE (≤ 2^31-1).
    pub initial_window_size: Option<u32>,
    /// SETTINGS_MAX_FRAME_SIZE (16384..=16777215).
    pub max_frame_size: Option<u32>,
    /// SETTINGS_MAX_HEADER_LIST_SIZE.
    pub max_header_list_size: Option<u32>,
    /// SETTINGS_ENABLE_CONNECT_PROTOCOL (0 or 1): the extended CONNECT of
    /// RFC 8441 (WebSocket over HTTP/2) is accepted.
    pub enable_connect_protocol: Option<bool>,
}

impl Settings {
    /// Parses a SETTINGS payload (not an ACK). Unknown identifiers are
    /// ignored. Errors (all connection errors): length not a multiple of 6
    /// → FRAME_SIZE_ERROR; ENABLE_PUSH not 0/1 → PROTOCOL_ERROR;
    /// INITIAL_WINDOW_SIZE > 2^31-1 → FLOW_CONTROL_ERROR; MAX_FRAME_SIZE
    /// outside 16384..=16777215 → PROTOCOL_ERROR; ENABLE_CONNECT_PROTOCOL
    /// not 0/1 → PROTOCOL_ERROR.
    pub fn parse(payload: &[u8]) -> Result<Settings, H2Error> {
        if !payload.len().is_multiple_of(6) {
            return Err(H2Error::connection(
                ErrorCode::FrameSizeError,
                "SETTINGS length not a multiple of 6",
            ));
        }
        let mut s = Settings::default();
        for p in payload.chunks_exact(6) {
            let id = u16::from_be_bytes([p[0], p[1]]);
            let v = u32::from_be_bytes([p[2], p[3], p[4], p[5]]);
            match id {
                1 => s.header_table_size = Some(v),
                2 => {
                    if v > 1 {
                        return Err(H2Error::connection(
                            ErrorCode::ProtocolError,
                            "SETTINGS_ENABLE_PUSH not 0 or 1",
                        ));
                    }
                    s.enable_push = Some(v == 1);
                }
                3 => s.max_concurrent_streams = Some(v),
                4 => {
                    if v > MAX_WINDOW_SIZE {
                        return Err(H2Error::connection(
                            ErrorCode::FlowControlError,
                            "SETTINGS_INITIAL_WINDOW_SIZE above 2^31-1",
                        ));
                    }
                    s.initial_window_size = Some(v);
                }
                5 => {
                    if !(DEFAULT_MAX_FRAME_SIZE..=MAX_MAX_FRAME_SIZE).contains(&v) {
                        return Err(H2Error::connection(
                            ErrorCode::ProtocolError,
                            "SETTINGS_MAX_FRAME_SIZE out of range",
                        ));
                    }
                    s.max_frame_size = Some(v);
                }
                6 => s.max_header_list_size = Some(v),
                8 => {
                    if v > 1 {
                        return Err(H2Error::connection(
                            ErrorCode::ProtocolError,
                            "SETTINGS_ENABLE_CONNECT_PROTOCOL not 0 or 1",
                        ));
                    }
                    s.enable_connect_protocol = Some(v == 1);
                }
                _ => {}
            }
        }
        Ok(s)
    }

    /// The parameters present, in identifier order.
    pub fn iter(&self) -> impl Iterator<Item = (SettingId, u32)> {
        [
            (SettingId::HeaderTableSize, self.header_table_size),
            (SettingId::EnablePush, self.enable_push.map(u32::from)),
            (SettingId::MaxConcurrentStreams, self.max_concurrent_streams),
            (SettingId::InitialWindowSize, self.initial_window_size),
            (SettingId::MaxFrameSize, self.max_frame_size),
            (SettingId::MaxHeaderListSize, self.max_header_list_size),
            (
                SettingId::EnableConnectProtocol,
                self.enable_connect_protocol.map(u32::from),
            ),
        ]
        .into_iter()
        .filter_map(|(id, v)| v.map(|v| (id, v)))
    }

    /// The payload length: 6 octets per parameter present.
    pub fn payload_len(&self) -> usize {
        self.iter().count() * 6
    }

    /// Writes the payload (without frame header).
    pub fn encode_payload(&self, dst: &mut BytesMut) {
        for (id, v) in self.iter() {
            dst.put_u16(id as u16);
            dst.put_u32(v);
        }
    }
}
