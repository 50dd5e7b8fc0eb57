//! The sans-IO codec: frames ⇄ messages, fragmentation, compression, close
//! handshake.

use crate::deflate::{Compressed, DeflateConfig, Deflater, InflateError, Inflater};
use crate::frame::{FrameHeader, OpCode, MAX_CONTROL_PAYLOAD};
use crate::mask::apply_mask;
use crate::message::{is_valid_close_code, CloseFrame, Message, Utf8Bytes};
use crate::rng::MaskSource;
use crate::utf8::Utf8Validator;
use crate::{EncodeError, ProtocolError};
use bytes::{Buf, Bytes, BytesMut};

/// Outgoing payloads at least this long are handed to the driver uncopied by
/// [`Codec::encode_vectored`]; shorter ones are cheaper to copy than to send
/// as a separate buffer.
const ZERO_COPY_MIN: usize = 16 * 1024;

/// Which end of the connection this codec is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Receives masked frames, sends unmasked frames.
    Server,
    /// Receives unmasked frames, sends masked frames.
    Client,
}

/// Codec limits and options.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// Largest accepted frame payload (default 16 MiB); larger → 1009.
    pub max_frame_size: usize,
    /// Largest accepted message, after decompression (default 64 MiB);
    /// larger → 1009.
    pub max_message_size: usize,
    /// Split outgoing data messages into frames of at most this many payload
    /// bytes (`None`: one frame per message).
    pub auto_fragment_size: Option<usize>,
    /// Negotiated permessage-deflate parameters, `None` if not negotiated.
    pub deflate: Option<DeflateConfig>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            max_frame_size: 16 << 20,
            max_message_size: 64 << 20,
            auto_fragment_size: None,
            deflate: None,
        }
    }
}

/// Close handshake progress.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CloseState {
    /// No Close sent or received.
    Open,
    /// We sent a Close; incoming data messages are discarded, control frames
    /// are still returned, until the peer's Close arrives.
    CloseSent,
    /// The peer sent a Close; we must answer with [`Codec::close_reply`] and
    /// send nothing else. Further input is ignored.
    CloseReceived,
    /// Both Close frames exchanged: the driver closes the TCP connection.
    Closed,
}

/// The data message being received.
#[derive(Debug, Clone, Copy)]
struct InMessage {
    text: bool,
    compressed: bool,
    /// Payload bytes received on the wire for this message so far.
    wire_len: usize,
    /// Number of frames so far.
    frames: usize,
}

/// Sans-IO WebSocket codec for one connection.
///
/// The driver reads bytes into a `BytesMut`, calls [`decode`](Self::decode)
/// until it returns `Ok(None)`, and writes what [`encode`](Self::encode) puts
/// into its output buffer. Driver duties:
///
/// * on `Message::Ping(p)` encode `Message::Pong(p)` ([`Message::pong_reply`]);
/// * on `Message::Close(_)` encode [`close_reply`](Self::close_reply), then
///   close TCP when [`is_closed`](Self::is_closed) (a server closes TCP first);
/// * on `Err(e)` encode `Message::Close(Some(CloseFrame::new(e.close_code(),
///   "")))` ([`ProtocolError::close_message`]) and close TCP. The error is
///   sticky: later `decode` calls return it again.
///
/// ```
/// use bytes::BytesMut;
/// use percore_ws::{Codec, Config, Message, Role};
///
/// let mut client = Codec::new(Role::Client, Config::default());
/// let mut server = Codec::new(Role::Server, Config::default());
/// let mut wire = BytesMut::new();
/// client.encode(&Message::text("hello"), &mut wire).unwrap();
/// assert_eq!(server.decode(&mut wire).unwrap(), Some(Message::text("hello")));
/// assert_eq!(server.decode(&mut wire).unwrap(), None);
/// ```
pub struct Codec {
    role: Role,
    config: Config,
    /// Header of the frame whose payload is being received.
    frame: Option<FrameHeader>,
    /// Payload bytes of `frame` already unmasked (and validated) in the buffer.
    frame_done: usize,
    msg: Option<InMessage>,
    /// Reassembly buffer for fragmented or compressed messages.
    assembly: Vec<u8>,
    utf8: Utf8Validator,
    inflater: Option<Inflater>,
    deflater: Option<Deflater>,
    scratch: Vec<u8>,
    close: CloseState,
    close_reply: Option<CloseFrame>,
    failed: Option<ProtocolError>,
    mask: MaskSource,
}

impl std::fmt::Debug for Codec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Codec")
            .field("role", &self.role)
            .field("config", &self.config)
            .field("close", &self.close)
            .field("failed", &self.failed)
            .finish_non_exhaustive()
    }
}

impl Codec {
    /// A codec for `role` with `config`.
    ///
    /// A client masks outgoing frames with keys from a fast, non-cryptographic
    /// PRNG (splitmix64 seeded from `std`'s `RandomState`, a process counter
    /// and the clock); see [`with_mask_source`](Self::with_mask_source).
    pub fn new(role: Role, config: Config) -> Self {
        let server = role == Role::Server;
        Codec {
            role,
            deflater: config.deflate.map(|d| Deflater::new(&d, server)),
            inflater: config.deflate.map(|d| Inflater::new(&d, server)),
            config,
            frame: None,
            frame_done: 0,
            msg: None,
            assembly: Vec::new(),
            utf8: Utf8Validator::new(),
            scratch: Vec::new(),
            close: CloseState::Open,
            close_reply: None,
            failed: None,
            mask: MaskSource::new(),
        }
    }

    /// Uses `f` to produce client masking keys (e.g. a CSPRNG).
    pub fn with_mask_source(mut self, f: impl FnMut() -> [u8; 4] + Send + 'static) -> Self {
        self.mask = MaskSource::Custom(Box::new(f));
        self
    }

    /// The role.
    pub fn role(&self) -> Role {
        self.role
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Close handshake state.
    pub fn close_state(&self) -> CloseState {
        self.close
    }

    /// True when both Close frames were exchanged: close the TCP connection.
    pub fn is_closed(&self) -> bool {
        self.close == CloseState::Closed
    }

    /// The error that failed the connection, if any.
    pub fn error(&self) -> Option<&ProtocolError> {
        self.failed.as_ref()
    }

    /// After a Close was received and before the reply is sent: the Close to
    /// send back (the peer's code echoed, 1000 if it sent none).
    ///
    /// ```
    /// use bytes::BytesMut;
    /// use percore_ws::{CloseFrame, Codec, Config, Message, Role};
    /// let mut client = Codec::new(Role::Client, Config::default());
    /// let mut server = Codec::new(Role::Server, Config::default());
    /// let mut wire = BytesMut::new();
    /// client.encode(&Message::Close(Some(CloseFrame::new(4000, "bye"))), &mut wire).unwrap();
    /// server.decode(&mut wire).unwrap();
    /// let reply = server.close_reply().unwrap();
    /// assert_eq!(reply, Message::Close(Some(CloseFrame::new(4000, ""))));
    /// server.encode(&reply, &mut wire).unwrap();
    /// assert!(server.is_closed());
    /// client.decode(&mut wire).unwrap();
    /// assert!(client.is_closed());
    /// ```
    pub fn close_reply(&self) -> Option<Message> {
        match self.close {
            CloseState::CloseReceived => Some(Message::Close(self.close_reply.clone())),
            _ => None,
        }
    }

    /// How many more bytes the frame being received needs beyond the
    /// `buffered` bytes already in the decode buffer (0 between frames): a
    /// driver reserves that much room so a large frame is read without
    /// repeated buffer growth.
    ///
    /// ```
    /// use bytes::BytesMut;
    /// use percore_ws::{Codec, Config, Message, Role};
    /// let mut client = Codec::new(Role::Client, Config::default());
    /// let mut server = Codec::new(Role::Server, Config::default());
    /// let mut wire = BytesMut::new();
    /// client.encode(&Message::binary(vec![0u8; 1000]), &mut wire).unwrap();
    /// let mut partial = wire.split_to(108); // 8 header bytes + 100 payload bytes
    /// assert_eq!(server.decode(&mut partial).unwrap(), None);
    /// assert_eq!(server.frame_bytes_wanted(partial.len()), 900);
    /// ```
    pub fn frame_bytes_wanted(&self, buffered: usize) -> usize {
        self.frame
            .map_or(0, |h| (h.payload_len as usize).saturating_sub(buffered))
    }

    fn fail(&mut self, e: ProtocolError) -> ProtocolError {
        self.failed = Some(e.clone());
        self.frame = None;
        self.msg = None;
        self.assembly = Vec::new();
        if let Some(i) = &mut self.inflater {
            i.reset();
        }
        e
    }

    /// Decodes the next message from `buf`, consuming the bytes it used.
    ///
    /// Returns `Ok(None)` when `buf` holds no complete message yet (the
    /// partial frame stays in `buf`, already unmasked and, for text, already
    /// validated: invalid UTF-8 fails before the frame is complete). Control
    /// frames are returned as soon as they are complete, even between the
    /// fragments of a data message. Once a Close has been received, further
    /// input is discarded.
    pub fn decode(&mut self, buf: &mut BytesMut) -> Result<Option<Message>, ProtocolError> {
        loop {
            if let Some(e) = &self.failed {
                return Err(e.clone());
            }
            if matches!(self.close, CloseState::CloseReceived | CloseState::Closed) {
                buf.clear();
                return Ok(None);
            }
            let header = match self.frame {
                Some(h) => h,
                None => {
                    let parsed = FrameHeader::decode(buf, self.role, self.config.max_frame_size);
                    let (h, n) = match parsed {
                        Ok(Some(x)) => x,
                        Ok(None) => return Ok(None),
                        Err(e) => return Err(self.fail(e)),
                    };
                    if let Err(e) = self.start_frame(&h) {
                        return Err(self.fail(e));
                    }
                    buf.advance(n);
                    self.frame = Some(h);
                    self.frame_done = 0;
                    h
                }
            };
            // payload_len <= max_frame_size (a usize), checked by decode.
            let len = header.payload_len as usize;
            let avail = buf.len().min(len);
            if avail > self.frame_done {
                let new = &mut buf[self.frame_done..avail];
                if let Some(key) = header.mask {
                    apply_mask(new, key, self.frame_done);
                }
                if let Some(m) = &self.msg {
                    if m.text && !m.compressed && !header.opcode.is_control() {
                        if let Err(_e) = self.utf8.feed(new) {
                            return Err(self.fail(ProtocolError::InvalidUtf8));
                        }
                    }
                }
                self.frame_done = avail;
            }
            if buf.len() < len {
                return Ok(None);
            }
            let payload = buf.split_to(len).freeze();
            self.frame = None;
            self.frame_done = 0;
            match self.finish_frame(&header, payload) {
                Ok(Some(m)) => return Ok(Some(m)),
                Ok(None) => continue,
                Err(e) => return Err(self.fail(e)),
            }
        }
    }

    /// Stateful header checks, made before the payload arrives.
    fn start_frame(&mut self, h: &FrameHeader) -> Result<(), ProtocolError> {
        if h.opcode.is_control() {
            if h.rsv1 {
                return Err(ProtocolError::Protocol("RSV1 set on a control frame"));
            }
            return Ok(());
        }
        let len = h.payload_len as usize;
        let max = self.config.max_message_size;
        match (h.opcode, &mut self.msg) {
            (OpCode::Continuation, None) => Err(ProtocolError::Protocol(
                "continuation frame without a message",
            )),
            (OpCode::Continuation, Some(m)) => {
                if h.rsv1 {
                    return Err(ProtocolError::Protocol("RSV1 set on a continuation frame"));
                }
                m.wire_len = m.wire_len.saturating_add(len);
                m.frames += 1;
                if m.wire_len > max {
                    return Err(ProtocolError::TooBig("message over max_message_size"));
                }
                Ok(())
            }
            (_, Some(_)) => Err(ProtocolError::Protocol(
                "new data frame before the fragmented message ended",
            )),
            (op, None) => {
                if h.rsv1 && self.inflater.is_none() {
                    return Err(ProtocolError::Protocol(
                        "RSV1 set without permessage-deflate",
                    ));
                }
                if len > max {
                    return Err(ProtocolError::TooBig("message over max_message_size"));
                }
                self.utf8.reset();
                self.assembly.clear();
                self.msg = Some(InMessage {
                    text: op == OpCode::Text,
                    compressed: h.rsv1,
                    wire_len: len,
                    frames: 1,
                });
                Ok(())
            }
        }
    }

    /// Handles a complete (unmasked) frame.
    fn finish_frame(
        &mut self,
        h: &FrameHeader,
        payload: Bytes,
    ) -> Result<Option<Message>, ProtocolError> {
        match h.opcode {
            OpCode::Ping => return Ok(Some(Message::Ping(payload))),
            OpCode::Pong => return Ok(Some(Message::Pong(payload))),
            OpCode::Close => return self.receive_close(payload).map(Some),
            _ => {}
        }
        let Some(m) = self.msg else {
            return Err(ProtocolError::Protocol("data frame without a message"));
        };
        let max = self.config.max_message_size;
        if m.compressed {
            let Some(inf) = self.inflater.as_mut() else {
                return Err(ProtocolError::Protocol(
                    "RSV1 set without permessage-deflate",
                ));
            };
            let start = self.assembly.len();
            let mut r = inf.inflate(&payload, &mut self.assembly, max);
            if r.is_ok() && h.fin {
                r = inf.finish(&mut self.assembly, max);
            }
            match r {
                Ok(()) => {}
                Err(InflateError::TooBig) => {
                    return Err(ProtocolError::TooBig(
                        "inflated message over max_message_size",
                    ))
                }
                Err(InflateError::Corrupt) => {
                    return Err(ProtocolError::Protocol("invalid deflate data"))
                }
            }
            if m.text && self.utf8.feed(&self.assembly[start..]).is_err() {
                return Err(ProtocolError::InvalidUtf8);
            }
        } else if !(h.fin && m.frames == 1) {
            let need = self.assembly.len() + payload.len();
            if need > self.assembly.capacity() {
                // Geometric growth capped at the message limit (m.wire_len,
                // checked against it, bounds `need`).
                let target = (self.assembly.capacity() * 2).clamp(need, max.max(need));
                self.assembly.reserve_exact(target - self.assembly.len());
            }
            self.assembly.extend_from_slice(&payload);
        }
        if !h.fin {
            return Ok(None);
        }
        self.msg = None;
        if m.text && self.utf8.finish().is_err() {
            return Err(ProtocolError::InvalidUtf8);
        }
        let data = if !m.compressed && m.frames == 1 {
            payload
        } else {
            Bytes::from(std::mem::take(&mut self.assembly))
        };
        if self.close == CloseState::CloseSent {
            return Ok(None); // we are closing: data is discarded
        }
        Ok(Some(if m.text {
            Message::Text(Utf8Bytes::from_validated(data))
        } else {
            Message::Binary(data)
        }))
    }

    fn receive_close(&mut self, payload: Bytes) -> Result<Message, ProtocolError> {
        let frame = match payload.len() {
            0 => None,
            1 => return Err(ProtocolError::Protocol("close payload of 1 byte")),
            _ => {
                let code = u16::from_be_bytes([payload[0], payload[1]]);
                if !is_valid_close_code(code) {
                    return Err(ProtocolError::Protocol("invalid close code"));
                }
                let reason = payload.slice(2..);
                if std::str::from_utf8(&reason).is_err() {
                    return Err(ProtocolError::InvalidUtf8);
                }
                Some(CloseFrame {
                    code,
                    reason: Utf8Bytes::from_validated(reason),
                })
            }
        };
        self.close = match self.close {
            CloseState::CloseSent => CloseState::Closed,
            _ => {
                let code = frame.as_ref().map_or(1000, |f| f.code);
                self.close_reply = Some(CloseFrame::new(code, Utf8Bytes::new()));
                CloseState::CloseReceived
            }
        };
        self.msg = None;
        self.assembly = Vec::new();
        Ok(Message::Close(frame))
    }

    /// Encodes `msg` into `out` as one or more frames.
    ///
    /// Data messages are compressed when permessage-deflate was negotiated
    /// (RSV1 on the first frame, trailing `00 00 ff ff` removed) and split
    /// into frames of `auto_fragment_size` payload bytes if configured. A
    /// client masks every frame. Errors leave `out` unchanged:
    /// [`EncodeError::Closed`] once a Close was sent (or, after receiving a
    /// Close, for anything but the Close reply), [`EncodeError::ControlTooLong`]
    /// and [`EncodeError::InvalidCloseCode`] for bad control frames. Sending a
    /// Close moves to [`CloseState::CloseSent`] (or `Closed` if it answers the
    /// peer's Close).
    ///
    /// ```
    /// use bytes::BytesMut;
    /// use percore_ws::{Codec, Config, Message, Role};
    /// let mut server = Codec::new(Role::Server, Config::default());
    /// let mut out = BytesMut::new();
    /// server.encode(&Message::text("Hello"), &mut out).unwrap();
    /// assert_eq!(&out[..], b"\x81\x05Hello");
    /// ```
    pub fn encode(&mut self, msg: &Message, out: &mut BytesMut) -> Result<(), EncodeError> {
        let is_close = matches!(msg, Message::Close(_));
        match self.close {
            CloseState::Open => {}
            CloseState::CloseReceived if is_close => {}
            _ => return Err(EncodeError::Closed),
        }
        match msg {
            Message::Text(t) => self.encode_data(OpCode::Text, t.as_bytes(), out),
            Message::Binary(b) => self.encode_data(OpCode::Binary, b, out),
            Message::Ping(p) => self.encode_control(OpCode::Ping, &[], p, out),
            Message::Pong(p) => self.encode_control(OpCode::Pong, &[], p, out),
            Message::Close(None) => {
                self.encode_control(OpCode::Close, &[], &[], out)?;
                self.after_close_sent();
                Ok(())
            }
            Message::Close(Some(f)) => {
                if !is_valid_close_code(f.code) {
                    return Err(EncodeError::InvalidCloseCode(f.code));
                }
                self.encode_control(
                    OpCode::Close,
                    &f.code.to_be_bytes(),
                    f.reason.as_bytes(),
                    out,
                )?;
                self.after_close_sent();
                Ok(())
            }
        }
    }

    /// Like [`encode`](Self::encode), but a large data message that needs
    /// no masking, compression or fragmentation (a server without
    /// permessage-deflate) gets only its frame header written to `out`; its
    /// payload is returned, uncopied, to be written right after `out`.
    ///
    /// ```
    /// use bytes::{Bytes, BytesMut};
    /// use percore_ws::{Codec, Config, Message, Role};
    /// let mut server = Codec::new(Role::Server, Config::default());
    /// let mut out = BytesMut::new();
    /// let big = Bytes::from(vec![7u8; 1 << 20]);
    /// let payload = server.encode_vectored(&Message::Binary(big.clone()), &mut out).unwrap();
    /// assert_eq!(&out[..], b"\x82\x7f\0\0\0\0\0\x10\0\0");
    /// assert_eq!(payload, Some(big));
    /// ```
    pub fn encode_vectored(
        &mut self,
        msg: &Message,
        out: &mut BytesMut,
    ) -> Result<Option<Bytes>, EncodeError> {
        let len = match msg {
            Message::Binary(b) => b.len(),
            Message::Text(t) => t.len(),
            _ => 0,
        };
        let single_frame = self.config.auto_fragment_size.is_none_or(|max| max >= len);
        let plain = self.role == Role::Server && self.deflater.is_none() && single_frame;
        let (op, payload) = match msg {
            _ if !plain || len < ZERO_COPY_MIN || self.close != CloseState::Open => {
                return self.encode(msg, out).map(|()| None)
            }
            Message::Binary(b) => (OpCode::Binary, b.clone()),
            Message::Text(t) => (OpCode::Text, t.clone().into_bytes()),
            _ => return self.encode(msg, out).map(|()| None),
        };
        let header = self.header(op, true, false, len);
        out.reserve(header.encoded_len());
        header.encode(out);
        Ok(Some(payload))
    }

    fn after_close_sent(&mut self) {
        self.close = match self.close {
            CloseState::CloseReceived => CloseState::Closed,
            _ => CloseState::CloseSent,
        };
    }

    fn encode_control(
        &mut self,
        op: OpCode,
        prefix: &[u8],
        payload: &[u8],
        out: &mut BytesMut,
    ) -> Result<(), EncodeError> {
        if prefix.len() + payload.len() > MAX_CONTROL_PAYLOAD {
            return Err(EncodeError::ControlTooLong);
        }
        self.write_frame(op, true, false, &[prefix, payload], out);
        Ok(())
    }

    fn encode_data(
        &mut self,
        op: OpCode,
        data: &[u8],
        out: &mut BytesMut,
    ) -> Result<(), EncodeError> {
        let mut scratch = std::mem::take(&mut self.scratch);
        let (payload, compressed): (&[u8], bool) = match &mut self.deflater {
            Some(d) => match d.compress(data, &mut scratch) {
                Compressed::Yes => (&scratch, true),
                Compressed::Skipped => (data, false),
                Compressed::Failed => {
                    self.scratch = scratch;
                    return Err(EncodeError::Compression);
                }
            },
            None => (data, false),
        };
        let chunk = self.config.auto_fragment_size.unwrap_or(usize::MAX).max(1);
        let mut rest = payload;
        let mut first = true;
        loop {
            let n = rest.len().min(chunk);
            let (part, tail) = rest.split_at(n);
            let fin = tail.is_empty();
            let opcode = if first { op } else { OpCode::Continuation };
            self.write_frame(opcode, fin, first && compressed, &[part], out);
            first = false;
            rest = tail;
            if fin {
                break;
            }
        }
        if scratch.capacity() > 1 << 20 {
            scratch = Vec::new();
        }
        self.scratch = scratch;
        Ok(())
    }

    fn write_frame(
        &mut self,
        opcode: OpCode,
        fin: bool,
        rsv1: bool,
        parts: &[&[u8]],
        out: &mut BytesMut,
    ) {
        let len: usize = parts.iter().map(|p| p.len()).sum();
        let header = self.header(opcode, fin, rsv1, len);
        out.reserve(header.encoded_len() + len);
        header.encode(out);
        let start = out.len();
        for p in parts {
            out.extend_from_slice(p);
        }
        if let Some(key) = header.mask {
            apply_mask(&mut out[start..], key, 0);
        }
    }

    /// The header of an outgoing frame (masked when we are the client).
    fn header(&mut self, opcode: OpCode, fin: bool, rsv1: bool, len: usize) -> FrameHeader {
        let mask = match self.role {
            Role::Client => Some(self.mask.next_key()),
            Role::Server => None,
        };
        FrameHeader {
            fin,
            rsv1,
            rsv2: false,
            rsv3: false,
            opcode,
            mask,
            payload_len: len as u64,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::CloseFrame;

    fn pair() -> (Codec, Codec) {
        (
            Codec::new(Role::Client, Config::default()),
            Codec::new(Role::Server, Config::default()),
        )
    }

    #[test]
    fn accessors() {
        let config = Config {
            max_frame_size: 1234,
            ..Config::default()
        };
        let codec = Codec::new(Role::Server, config);
        assert_eq!(codec.config().max_frame_size, 1234);
        assert_eq!(codec.role(), Role::Server);
        let debug = format!("{codec:?}");
        assert!(
            debug.starts_with("Codec {") && debug.contains("Server"),
            "{debug}"
        );
    }

    #[test]
    fn closed_only_after_both_close_frames() {
        let (mut client, mut server) = pair();
        let mut wire = BytesMut::new();
        assert!(!client.is_closed() && !server.is_closed());
        client
            .encode(&Message::Close(Some(CloseFrame::new(1000, ""))), &mut wire)
            .unwrap();
        assert!(!client.is_closed());
        server.decode(&mut wire).unwrap();
        assert!(!server.is_closed());
        server
            .encode(&server.close_reply().unwrap(), &mut wire)
            .unwrap();
        assert!(server.is_closed());
        client.decode(&mut wire).unwrap();
        assert!(client.is_closed());
    }

    #[test]
    fn error_is_kept() {
        let (_, mut server) = pair();
        assert_eq!(server.error(), None);
        // An unmasked frame from a client.
        let mut wire = BytesMut::from(&[0x81, 0x00][..]);
        let e = server.decode(&mut wire).unwrap_err();
        assert_eq!(server.error(), Some(&e));
    }

    #[test]
    fn frame_bytes_wanted_counts_down() {
        let (mut client, mut server) = pair();
        let mut wire = BytesMut::new();
        assert_eq!(server.frame_bytes_wanted(0), 0);
        client
            .encode(&Message::binary(vec![7u8; 300]), &mut wire)
            .unwrap();
        // 2 + 2 length + 4 mask octets of header, then 300 of payload.
        let mut partial = wire.split_to(8 + 100);
        assert_eq!(server.decode(&mut partial).unwrap(), None);
        assert_eq!(server.frame_bytes_wanted(partial.len()), 200);
        assert_eq!(server.frame_bytes_wanted(300), 0);
        partial.unsplit(wire);
        assert!(server.decode(&mut partial).unwrap().is_some());
        assert_eq!(server.frame_bytes_wanted(0), 0);
    }

    #[test]
    fn payloads_from_16_kib_are_not_copied() {
        for (len, uncopied) in [(16 * 1024 - 1, false), (16 * 1024, true)] {
            let mut server = Codec::new(Role::Server, Config::default());
            let mut out = BytesMut::new();
            let msg = Message::binary(vec![1u8; len]);
            let rest = server.encode_vectored(&msg, &mut out).unwrap();
            assert_eq!(rest.is_some(), uncopied, "{len}");
            assert_eq!(out.len(), if uncopied { 4 } else { 4 + len });
        }
    }
}
