//! The frame decoder: bytes in, validated [`Frame`]s out, zero-copy.

use bytes::{Buf, Bytes, BytesMut};

use super::header::{flags, FrameHeader, FrameType};
use super::{
    Continuation, Data, Frame, GoAway, Headers, Ping, Priority, PrioritySpec, PushPromise,
    RstStream, Settings, SettingsFrame, WindowUpdate, DEFAULT_MAX_FRAME_SIZE, MAX_MAX_FRAME_SIZE,
    PREFACE,
};
use crate::h2::{ErrorCode, H2Error};
use crate::Limits;

/// Which end of the connection decodes (a server rejects PUSH_PROMISE).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// This end initiated the connection.
    Client,
    /// This end accepted the connection.
    Server,
}

/// Decodes frames from a read buffer, enforcing every per-frame rule of
/// RFC 9113 §4–6 plus the header-block sequencing rule (only CONTINUATION
/// frames of the same stream may follow a HEADERS/PUSH_PROMISE without
/// END_HEADERS).
///
/// * `Ok(None)`: need more bytes (nothing consumed).
/// * `Ok(Some(frame))`: one frame taken off the front of the buffer.
/// * `Err(e)` with `e.is_connection()`: send GOAWAY and close; the decoder
///   keeps returning that error.
/// * `Err(e)` stream error: the offending frame was consumed; send
///   RST_STREAM and keep decoding.
///
/// ```
/// use bytes::BytesMut;
/// use percore_http::h2::frame::{self, Frame, FrameDecoder, Role};
/// let mut buf = BytesMut::new();
/// frame::encode_ping(*b"12345678", &mut buf);
/// frame::encode_data(1, b"hello", true, &mut buf);
/// let mut dec = FrameDecoder::new(Role::Server, 16_384);
/// assert!(matches!(dec.decode(&mut buf), Ok(Some(Frame::Ping(p))) if !p.ack));
/// match dec.decode(&mut buf).unwrap().unwrap() {
///     Frame::Data(d) => assert_eq!((d.stream_id, &d.data[..], d.end_stream), (1, &b"hello"[..], true)),
///     other => panic!("{other:?}"),
/// }
/// assert_eq!(dec.decode(&mut buf), Ok(None));
/// ```
#[derive(Debug, Clone)]
pub struct FrameDecoder {
    role: Role,
    max_frame_size: u32,
    max_continuation_frames: u32,
    /// Stream whose header block is open, and CONTINUATION frames seen in it.
    open_block: Option<(u32, u32)>,
    failed: Option<H2Error>,
}

fn conn(code: ErrorCode, reason: &'static str) -> H2Error {
    H2Error::connection(code, reason)
}

impl FrameDecoder {
    /// A decoder accepting payloads up to `max_frame_size` (the value we
    /// advertise in SETTINGS_MAX_FRAME_SIZE; clamped to 16384..=16777215).
    pub fn new(role: Role, max_frame_size: u32) -> FrameDecoder {
        FrameDecoder {
            role,
            max_frame_size: max_frame_size.clamp(DEFAULT_MAX_FRAME_SIZE, MAX_MAX_FRAME_SIZE),
            max_continuation_frames: u32::MAX,
            open_block: None,
            failed: None,
        }
    }

    /// A decoder using `limits.h2_max_frame_size` and
    /// `limits.h2_max_continuation_frames` (more CONTINUATION frames in one
    /// header block → connection error ENHANCE_YOUR_CALM).
    pub fn with_limits(role: Role, limits: &Limits) -> FrameDecoder {
        let mut d = FrameDecoder::new(role, limits.h2_max_frame_size);
        d.max_continuation_frames = limits.h2_max_continuation_frames;
        d
    }

    /// Changes the largest accepted payload (clamped to 16384..=16777215).
    pub fn set_max_frame_size(&mut self, max_frame_size: u32) {
        self.max_frame_size = max_frame_size.clamp(DEFAULT_MAX_FRAME_SIZE, MAX_MAX_FRAME_SIZE);
    }

    /// The largest accepted payload.
    pub fn max_frame_size(&self) -> u32 {
        self.max_frame_size
    }

    /// The stream whose header block awaits CONTINUATION frames, if any.
    pub fn open_header_block(&self) -> Option<u32> {
        self.open_block.map(|(id, _)| id)
    }

    /// Decodes the next frame at the front of `buf`; see the type docs.
    pub fn decode(&mut self, buf: &mut BytesMut) -> Result<Option<Frame>, H2Error> {
        if let Some(e) = &self.failed {
            return Err(e.clone());
        }
        match self.decode_inner(buf) {
            Err(e) if e.is_connection() => {
                self.failed = Some(e.clone());
                Err(e)
            }
            other => other,
        }
    }

    /// Checks everything that the 9 header octets alone decide.
    fn check_header(&self, h: &FrameHeader) -> Result<(), H2Error> {
        if h.length > self.max_frame_size {
            return Err(conn(
                ErrorCode::FrameSizeError,
                "frame larger than max frame size",
            ));
        }
        match self.open_block {
            Some((id, _)) if h.kind != FrameType::CONTINUATION || h.stream_id != id => {
                return Err(conn(
                    ErrorCode::ProtocolError,
                    "header block interrupted by another frame",
                ));
            }
            None if h.kind == FrameType::CONTINUATION => {
                return Err(conn(
                    ErrorCode::ProtocolError,
                    "CONTINUATION without an open header block",
                ));
            }
            _ => {}
        }
        let zero = h.stream_id == 0;
        let len = h.length;
        match h.kind {
            FrameType::DATA
            | FrameType::HEADERS
            | FrameType::PRIORITY
            | FrameType::RST_STREAM
            | FrameType::PUSH_PROMISE
            | FrameType::CONTINUATION
                if zero =>
            {
                Err(conn(
                    ErrorCode::ProtocolError,
                    "frame type not allowed on stream 0",
                ))
            }
            FrameType::SETTINGS | FrameType::PING | FrameType::GOAWAY if !zero => Err(conn(
                ErrorCode::ProtocolError,
                "connection frame on a non-zero stream",
            )),
            FrameType::PUSH_PROMISE if self.role == Role::Server => Err(conn(
                ErrorCode::ProtocolError,
                "PUSH_PROMISE sent to a server",
            )),
            FrameType::SETTINGS if h.has(flags::ACK) && len != 0 => Err(conn(
                ErrorCode::FrameSizeError,
                "SETTINGS ACK with a payload",
            )),
            FrameType::SETTINGS if !len.is_multiple_of(6) => Err(conn(
                ErrorCode::FrameSizeError,
                "SETTINGS length not a multiple of 6",
            )),
            FrameType::PING if len != 8 => {
                Err(conn(ErrorCode::FrameSizeError, "PING length is not 8"))
            }
            FrameType::GOAWAY if len < 8 => {
                Err(conn(ErrorCode::FrameSizeError, "GOAWAY shorter than 8"))
            }
            FrameType::RST_STREAM if len != 4 => Err(conn(
                ErrorCode::FrameSizeError,
                "RST_STREAM length is not 4",
            )),
            FrameType::WINDOW_UPDATE if len != 4 => Err(conn(
                ErrorCode::FrameSizeError,
                "WINDOW_UPDATE length is not 4",
            )),
            FrameType::DATA | FrameType::PUSH_PROMISE if h.has(flags::PADDED) && len < 1 => Err(
                conn(ErrorCode::FrameSizeError, "padded frame without pad length"),
            ),
            FrameType::PUSH_PROMISE if len < 4 + u32::from(h.has(flags::PADDED)) => {
                Err(conn(ErrorCode::FrameSizeError, "PUSH_PROMISE too short"))
            }
            FrameType::HEADERS
                if len
                    < u32::from(h.has(flags::PADDED)) + 5 * u32::from(h.has(flags::PRIORITY)) =>
            {
                Err(conn(ErrorCode::FrameSizeError, "HEADERS too short"))
            }
            _ => Ok(()),
        }
    }

    fn decode_inner(&mut self, buf: &mut BytesMut) -> Result<Option<Frame>, H2Error> {
        let Some(head) = buf.first_chunk::<9>() else {
            return Ok(None);
        };
        let h = FrameHeader::parse(head);
        self.check_header(&h)?;
        let total = FrameHeader::LEN + h.length as usize;
        if buf.len() < total {
            return Ok(None);
        }
        let mut raw = buf.split_to(total);
        raw.advance(FrameHeader::LEN);
        let payload = raw.freeze();
        let id = h.stream_id;
        let frame = match h.kind {
            FrameType::DATA => {
                let data = strip_padding(&h, payload)?;
                Frame::Data(Data {
                    stream_id: id,
                    end_stream: h.has(flags::END_STREAM),
                    data,
                    flow_len: h.length,
                })
            }
            FrameType::HEADERS => {
                let mut block = strip_padding(&h, payload)?;
                let priority = if h.has(flags::PRIORITY) {
                    if block.len() < 5 {
                        return Err(conn(
                            ErrorCode::ProtocolError,
                            "padding exceeds the header block",
                        ));
                    }
                    let spec = priority_spec(&block[..5]);
                    block.advance(5);
                    Some(spec)
                } else {
                    None
                };
                let end_headers = h.has(flags::END_HEADERS);
                self.open_block = (!end_headers).then_some((id, 0));
                Frame::Headers(Headers {
                    stream_id: id,
                    end_stream: h.has(flags::END_STREAM),
                    end_headers,
                    priority,
                    fragment: block,
                })
            }
            FrameType::PRIORITY => {
                if h.length != 5 {
                    return Err(H2Error::stream(
                        id,
                        ErrorCode::FrameSizeError,
                        "PRIORITY length is not 5",
                    ));
                }
                let spec = priority_spec(&payload);
                if spec.dependency == id {
                    return Err(H2Error::stream(
                        id,
                        ErrorCode::ProtocolError,
                        "stream depends on itself",
                    ));
                }
                Frame::Priority(Priority {
                    stream_id: id,
                    spec,
                })
            }
            FrameType::RST_STREAM => Frame::RstStream(RstStream {
                stream_id: id,
                code: ErrorCode::from(read_u32(&payload)),
            }),
            FrameType::SETTINGS => {
                let ack = h.has(flags::ACK);
                let settings = if ack {
                    Settings::default()
                } else {
                    Settings::parse(&payload)?
                };
                Frame::Settings(SettingsFrame { ack, settings })
            }
            FrameType::PUSH_PROMISE => {
                let mut block = strip_padding(&h, payload)?;
                if block.len() < 4 {
                    return Err(conn(
                        ErrorCode::ProtocolError,
                        "padding exceeds the header block",
                    ));
                }
                let promised = read_u32(&block) & 0x7fff_ffff;
                block.advance(4);
                let end_headers = h.has(flags::END_HEADERS);
                self.open_block = (!end_headers).then_some((id, 0));
                Frame::PushPromise(PushPromise {
                    stream_id: id,
                    promised_stream_id: promised,
                    end_headers,
                    fragment: block,
                })
            }
            FrameType::PING => {
                let mut data = [0u8; 8];
                data.copy_from_slice(&payload[..8]);
                Frame::Ping(Ping {
                    ack: h.has(flags::ACK),
                    payload: data,
                })
            }
            FrameType::GOAWAY => Frame::GoAway(GoAway {
                last_stream_id: read_u32(&payload) & 0x7fff_ffff,
                code: ErrorCode::from(read_u32(&payload[4..])),
                debug_data: payload.slice(8..),
            }),
            FrameType::WINDOW_UPDATE => {
                let increment = read_u32(&payload) & 0x7fff_ffff;
                if increment == 0 {
                    let reason = "WINDOW_UPDATE increment of 0";
                    return Err(if id == 0 {
                        conn(ErrorCode::ProtocolError, reason)
                    } else {
                        H2Error::stream(id, ErrorCode::ProtocolError, reason)
                    });
                }
                Frame::WindowUpdate(WindowUpdate {
                    stream_id: id,
                    increment,
                })
            }
            FrameType::CONTINUATION => {
                let end_headers = h.has(flags::END_HEADERS);
                let seen = self.open_block.map_or(0, |(_, n)| n).saturating_add(1);
                if seen > self.max_continuation_frames {
                    return Err(conn(
                        ErrorCode::EnhanceYourCalm,
                        "too many CONTINUATION frames",
                    ));
                }
                self.open_block = (!end_headers).then_some((id, seen));
                Frame::Continuation(Continuation {
                    stream_id: id,
                    end_headers,
                    fragment: payload,
                })
            }
            _ => Frame::Unknown(h),
        };
        Ok(Some(frame))
    }
}

fn read_u32(b: &[u8]) -> u32 {
    u32::from_be_bytes([b[0], b[1], b[2], b[3]])
}

fn priority_spec(b: &[u8]) -> PrioritySpec {
    let dep = read_u32(b);
    PrioritySpec {
        exclusive: dep & 0x8000_0000 != 0,
        dependency: dep & 0x7fff_ffff,
        weight: b[4],
    }
}

/// Removes the pad length octet and the padding of a PADDED frame.
fn strip_padding(h: &FrameHeader, mut payload: Bytes) -> Result<Bytes, H2Error> {
    if !h.has(flags::PADDED) {
        return Ok(payload);
    }
    let Some(&pad) = payload.first() else {
        return Err(conn(
            ErrorCode::FrameSizeError,
            "padded frame without pad length",
        ));
    };
    let pad = usize::from(pad);
    if pad >= payload.len() {
        return Err(conn(
            ErrorCode::ProtocolError,
            "padding as long as the payload",
        ));
    }
    payload.advance(1);
    payload.truncate(payload.len() - pad);
    Ok(payload)
}

/// Checks and removes the client connection preface at the front of `buf`.
///
/// `Ok(true)`: removed. `Ok(false)`: a correct prefix, need more bytes.
/// `Err`: not an HTTP/2 client (connection PROTOCOL_ERROR).
///
/// ```
/// use bytes::BytesMut;
/// use percore_http::h2::frame::{decode_preface, PREFACE};
/// let mut buf = BytesMut::from(&PREFACE[..10]);
/// assert_eq!(decode_preface(&mut buf), Ok(false));
/// buf.extend_from_slice(&PREFACE[10..]);
/// assert_eq!(decode_preface(&mut buf), Ok(true));
/// assert!(buf.is_empty());
/// ```
pub fn decode_preface(buf: &mut BytesMut) -> Result<bool, H2Error> {
    let n = buf.len().min(PREFACE.len());
    if buf[..n] != PREFACE[..n] {
        return Err(conn(ErrorCode::ProtocolError, "bad connection preface"));
    }
    if n < PREFACE.len() {
        return Ok(false);
    }
    buf.advance(PREFACE.len());
    Ok(true)
}
