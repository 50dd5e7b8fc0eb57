//! The encoder side: messages in, frames out (fragmentation, compression,
//! masking, our Close).

use super::{CloseState, Codec, Role};
use crate::deflate::Compressed;
use crate::frame::{FrameHeader, OpCode, MAX_CONTROL_PAYLOAD};
use crate::mask::apply_mask;
use crate::message::{is_valid_close_code, Message};
use crate::EncodeError;
use bytes::{Bytes, BytesMut};

/// Outgoing payloads at least this long are handed to the driver uncopied by
/// [`Codec::encode_vectored`]; shorter ones are cheaper to copy than to send
/// as a separate buffer.
const ZERO_COPY_MIN: usize = 16 * 1024;

impl Codec {
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
        let plain = self.role == Role::Server && self.compression.is_none() && single_frame;
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
        let mut scratch = Vec::new();
        let (payload, compressed): (&[u8], bool) = match &mut self.compression {
            Some(c) => {
                scratch = std::mem::take(&mut c.scratch);
                match c.deflater.compress(data, &mut scratch) {
                    Compressed::Yes => (&scratch, true),
                    Compressed::Skipped => (data, false),
                    Compressed::Failed => {
                        c.scratch = scratch;
                        return Err(EncodeError::Compression);
                    }
                }
            }
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
        if let Some(c) = &mut self.compression {
            // Kept for the next message only by a connection that keeps
            // its compression context anyway, and only up to 1 MiB:
            // without context takeover an idle connection holds no
            // compression state, its buffer included.
            if c.deflater.keeps_context() && scratch.capacity() <= 1 << 20 {
                c.scratch = scratch;
            }
        }
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
    use crate::{CloseFrame, Codec, Config, DeflateConfig, EncodeError, Message, Role};
    use bytes::{Bytes, BytesMut};

    #[test]
    fn control_payloads_of_125_octets_are_the_limit() {
        let mut server = Codec::new(Role::Server, Config::default());
        let mut out = BytesMut::new();
        let ping = |n| Message::Ping(Bytes::from(vec![b'p'; n]));
        server.encode(&ping(125), &mut out).unwrap();
        assert_eq!(out.len(), 2 + 125);
        assert_eq!(
            server.encode(&ping(126), &mut out),
            Err(EncodeError::ControlTooLong)
        );
        assert_eq!(out.len(), 2 + 125, "a refused frame writes nothing");
        // A Close: 2 octets of code and at most 123 of reason.
        let close = |n| Message::Close(Some(CloseFrame::new(1000, "r".repeat(n))));
        assert_eq!(
            server.encode(&close(124), &mut out),
            Err(EncodeError::ControlTooLong)
        );
        server.encode(&close(123), &mut out).unwrap();
        assert_eq!(out.len(), 2 + 125 + 2 + 125);
    }

    /// Under context takeover, the buffer a message is compressed into is
    /// kept for the next message, unless it grew over 1 MiB: a connection
    /// does not hold on to the memory of its largest message.
    #[test]
    fn a_compression_buffer_over_1_mib_is_not_kept() {
        let config = Config {
            deflate: Some(DeflateConfig::context_takeover()),
            ..Config::default()
        };
        let mut server = Codec::new(Role::Server, config);
        let mut out = BytesMut::new();
        let small = Message::binary(vec![b'a'; 1000]);
        server.encode(&small, &mut out).unwrap();
        assert!(server.compression.as_ref().unwrap().scratch.capacity() > 0);
        // 2 MiB that do not compress (xorshift), so the compressed message
        // takes over 1 MiB.
        let mut x = 0x2545_f491_4f6c_dd1d_u64;
        let noise: Vec<u8> = (0..2 << 20)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect();
        server.encode(&Message::binary(noise), &mut out).unwrap();
        assert_eq!(server.compression.as_ref().unwrap().scratch.capacity(), 0);
        server.encode(&small, &mut out).unwrap();
        assert!(server.compression.as_ref().unwrap().scratch.capacity() > 0);
    }

    /// Without context takeover (the default), no compression buffer is
    /// kept between messages: an idle connection holds none.
    #[test]
    fn without_context_takeover_no_compression_buffer_is_kept() {
        let config = Config {
            deflate: Some(DeflateConfig::default()),
            ..Config::default()
        };
        let mut server = Codec::new(Role::Server, config);
        let mut out = BytesMut::new();
        let msg = Message::binary(vec![b'a'; 1000]);
        server.encode(&msg, &mut out).unwrap();
        assert_eq!(out[0] & 0x40, 0x40, "compressed (RSV1)");
        let scratch = &server.compression.as_ref().unwrap().scratch;
        assert_eq!(scratch.capacity(), 0);
    }
}
