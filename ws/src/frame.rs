//! Frame header decoding and encoding (RFC 6455 §5.2).

use crate::{ProtocolError, Role};
use bytes::{BufMut, BytesMut};

/// Frame opcode. Reserved opcodes (3-7, 0xB-0xF) are rejected at decode time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpCode {
    /// 0x0: continuation of a fragmented message.
    Continuation,
    /// 0x1: first frame of a text message.
    Text,
    /// 0x2: first frame of a binary message.
    Binary,
    /// 0x8: connection close.
    Close,
    /// 0x9: ping.
    Ping,
    /// 0xA: pong.
    Pong,
}

impl OpCode {
    /// Parses the 4-bit opcode; `None` for reserved values.
    pub fn from_u8(v: u8) -> Option<OpCode> {
        Some(match v {
            0x0 => OpCode::Continuation,
            0x1 => OpCode::Text,
            0x2 => OpCode::Binary,
            0x8 => OpCode::Close,
            0x9 => OpCode::Ping,
            0xA => OpCode::Pong,
            _ => return None,
        })
    }

    /// The 4-bit wire value.
    pub fn as_u8(self) -> u8 {
        match self {
            OpCode::Continuation => 0x0,
            OpCode::Text => 0x1,
            OpCode::Binary => 0x2,
            OpCode::Close => 0x8,
            OpCode::Ping => 0x9,
            OpCode::Pong => 0xA,
        }
    }

    /// Close, Ping and Pong are control opcodes.
    pub fn is_control(self) -> bool {
        matches!(self, OpCode::Close | OpCode::Ping | OpCode::Pong)
    }
}

/// Maximum payload of a control frame.
pub const MAX_CONTROL_PAYLOAD: usize = 125;

/// A decoded or to-be-encoded frame header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameHeader {
    /// Final fragment of a message.
    pub fin: bool,
    /// RSV1 (permessage-deflate "compressed" bit).
    pub rsv1: bool,
    /// RSV2, always rejected (no extension uses it).
    pub rsv2: bool,
    /// RSV3, always rejected (no extension uses it).
    pub rsv3: bool,
    /// Opcode.
    pub opcode: OpCode,
    /// Masking key if the MASK bit is set.
    pub mask: Option<[u8; 4]>,
    /// Payload length in bytes.
    pub payload_len: u64,
}

impl FrameHeader {
    /// Decodes a header from the start of `buf`, checking it for a receiver
    /// with role `role`.
    ///
    /// Returns `Ok(None)` when more bytes are needed, else the header and its
    /// length in bytes. Checks, in the order the bytes arrive: reserved
    /// opcodes, RSV2/RSV3 (RSV1 is left to the caller, which knows whether
    /// deflate was negotiated), fragmented or oversized control frames, the
    /// MASK bit for the role (a server receives masked frames only, a client
    /// unmasked only), minimal length encoding, the 64-bit MSB, and
    /// `max_frame_size` (→ 1009). The checks that can be made on the first two
    /// bytes are made before the rest of the header has arrived, so that the
    /// result does not depend on how the input is split.
    ///
    /// ```
    /// use percore_ws::frame::{FrameHeader, OpCode};
    /// use percore_ws::Role;
    /// // Masked "Hello" from RFC 6455 §5.7, as received by a server.
    /// let bytes = [0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58];
    /// let (h, len) = FrameHeader::decode(&bytes, Role::Server, 1 << 20).unwrap().unwrap();
    /// assert_eq!((h.opcode, h.fin, h.payload_len, len), (OpCode::Text, true, 5, 6));
    /// assert_eq!(h.mask, Some([0x37, 0xfa, 0x21, 0x3d]));
    /// ```
    pub fn decode(
        buf: &[u8],
        role: Role,
        max_frame_size: usize,
    ) -> Result<Option<(FrameHeader, usize)>, ProtocolError> {
        let Some(&b0) = buf.first() else {
            return Ok(None);
        };
        let fin = b0 & 0x80 != 0;
        let rsv2 = b0 & 0x20 != 0;
        let rsv3 = b0 & 0x10 != 0;
        let Some(opcode) = OpCode::from_u8(b0 & 0x0f) else {
            return Err(ProtocolError::Protocol("reserved opcode"));
        };
        if rsv2 || rsv3 {
            return Err(ProtocolError::Protocol("RSV2/RSV3 set without extension"));
        }
        if opcode.is_control() && !fin {
            return Err(ProtocolError::Protocol("fragmented control frame"));
        }
        let Some(&b1) = buf.get(1) else {
            return Ok(None);
        };
        let masked = b1 & 0x80 != 0;
        let len7 = b1 & 0x7f;
        if opcode.is_control() && len7 > MAX_CONTROL_PAYLOAD as u8 {
            return Err(ProtocolError::Protocol(
                "control frame payload over 125 bytes",
            ));
        }
        match role {
            Role::Server if !masked => {
                return Err(ProtocolError::Protocol("unmasked frame from client"))
            }
            Role::Client if masked => {
                return Err(ProtocolError::Protocol("masked frame from server"))
            }
            _ => {}
        }
        let ext_len = match len7 {
            126 => 2,
            127 => 8,
            _ => 0,
        };
        let header_len = 2 + ext_len + if masked { 4 } else { 0 };
        // The extended length can be checked before the mask key arrives.
        if buf.len() < 2 + ext_len {
            return Ok(None);
        }
        let payload_len: u64 = match ext_len {
            0 => len7 as u64,
            2 => {
                let v = u16::from_be_bytes([buf[2], buf[3]]) as u64;
                if v < 126 {
                    return Err(ProtocolError::Protocol("non-minimal 16-bit length"));
                }
                v
            }
            _ => {
                let mut b = [0u8; 8];
                b.copy_from_slice(&buf[2..10]);
                let v = u64::from_be_bytes(b);
                if v >> 63 != 0 {
                    return Err(ProtocolError::Protocol("64-bit length with MSB set"));
                }
                if v <= 0xffff {
                    return Err(ProtocolError::Protocol("non-minimal 64-bit length"));
                }
                v
            }
        };
        if payload_len > max_frame_size as u64 {
            return Err(ProtocolError::TooBig("frame over max_frame_size"));
        }
        if buf.len() < header_len {
            return Ok(None);
        }
        let mask = if masked {
            let m = &buf[2 + ext_len..header_len];
            Some([m[0], m[1], m[2], m[3]])
        } else {
            None
        };
        let header = FrameHeader {
            fin,
            rsv1: b0 & 0x40 != 0,
            rsv2,
            rsv3,
            opcode,
            mask,
            payload_len,
        };
        Ok(Some((header, header_len)))
    }

    /// Number of bytes [`encode`](Self::encode) writes.
    pub fn encoded_len(&self) -> usize {
        let ext = match self.payload_len {
            0..=125 => 0,
            126..=0xffff => 2,
            _ => 8,
        };
        2 + ext + if self.mask.is_some() { 4 } else { 0 }
    }

    /// Appends the header (minimal length encoding) to `out`.
    ///
    /// ```
    /// use percore_ws::frame::{FrameHeader, OpCode};
    /// let mut out = bytes::BytesMut::new();
    /// let h = FrameHeader { fin: true, rsv1: false, rsv2: false, rsv3: false,
    ///     opcode: OpCode::Binary, mask: None, payload_len: 300 };
    /// h.encode(&mut out);
    /// assert_eq!(&out[..], &[0x82, 126, 0x01, 0x2c]);
    /// ```
    pub fn encode(&self, out: &mut BytesMut) {
        out.reserve(self.encoded_len());
        let b0 = (self.fin as u8) << 7
            | (self.rsv1 as u8) << 6
            | (self.rsv2 as u8) << 5
            | (self.rsv3 as u8) << 4
            | self.opcode.as_u8();
        let m = if self.mask.is_some() { 0x80 } else { 0 };
        out.put_u8(b0);
        match self.payload_len {
            n @ 0..=125 => out.put_u8(m | n as u8),
            n @ 126..=0xffff => {
                out.put_u8(m | 126);
                out.put_u16(n as u16);
            }
            n => {
                out.put_u8(m | 127);
                out.put_u64(n);
            }
        }
        if let Some(key) = self.mask {
            out.put_slice(&key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hdr(opcode: OpCode, len: u64, mask: Option<[u8; 4]>) -> FrameHeader {
        FrameHeader {
            fin: true,
            rsv1: false,
            rsv2: false,
            rsv3: false,
            opcode,
            mask,
            payload_len: len,
        }
    }

    #[test]
    fn round_trip_lengths() {
        for len in [0u64, 1, 125, 126, 127, 65535, 65536, 1 << 40] {
            for (role, mask) in [(Role::Server, Some([1, 2, 3, 4])), (Role::Client, None)] {
                let h = hdr(OpCode::Binary, len, mask);
                let mut out = BytesMut::new();
                h.encode(&mut out);
                assert_eq!(out.len(), h.encoded_len());
                for cut in 0..out.len() {
                    assert_eq!(FrameHeader::decode(&out[..cut], role, usize::MAX), Ok(None));
                }
                let (d, n) = FrameHeader::decode(&out, role, usize::MAX)
                    .unwrap()
                    .unwrap();
                assert_eq!((d, n), (h, out.len()));
            }
        }
    }

    #[test]
    fn rejects() {
        let p = |b: &[u8], role| FrameHeader::decode(b, role, 1000).map(|o| o.map(|x| x.1));
        assert!(p(&[0x83], Role::Server).is_err()); // reserved data opcode
        assert!(p(&[0x8b], Role::Server).is_err()); // reserved control opcode
        assert!(p(&[0xa1], Role::Server).is_err()); // RSV2
        assert!(p(&[0x91], Role::Server).is_err()); // RSV3
        assert!(p(&[0x09], Role::Server).is_err()); // fragmented ping
        assert!(p(&[0x89, 0xfe], Role::Server).is_err()); // ping len 126
        assert!(p(&[0x81, 0x05], Role::Server).is_err()); // unmasked to server
        assert!(p(&[0x81, 0x85], Role::Client).is_err()); // masked to client
        assert!(p(&[0x82, 126, 0, 125], Role::Client).is_err()); // non-minimal 16
        assert!(p(&[0x82, 127, 0, 0, 0, 0, 0, 0, 0xff, 0xff], Role::Client).is_err());
        assert!(p(&[0x82, 127, 0x80, 0, 0, 0, 0, 0, 0, 0], Role::Client).is_err());
        assert_eq!(
            p(&[0x82, 126, 0x03, 0xe9], Role::Client),
            Err(ProtocolError::TooBig("frame over max_frame_size"))
        );
        assert_eq!(p(&[0x82, 126, 0x03, 0xe8], Role::Client), Ok(Some(4)));
    }

    fn err(b: &[u8], role: Role) -> &'static str {
        match FrameHeader::decode(b, role, usize::MAX) {
            Err(ProtocolError::Protocol(why)) => why,
            other => panic!("{b:02x?}: {other:?}"),
        }
    }

    #[test]
    fn opcodes() {
        let known = [
            (0x0, OpCode::Continuation),
            (0x1, OpCode::Text),
            (0x2, OpCode::Binary),
            (0x8, OpCode::Close),
            (0x9, OpCode::Ping),
            (0xA, OpCode::Pong),
        ];
        for v in 0..16u8 {
            let want = known.iter().find(|(k, _)| *k == v).map(|(_, op)| *op);
            assert_eq!(OpCode::from_u8(v), want, "{v:#x}");
            match want {
                Some(op) => {
                    assert_eq!(op.as_u8(), v);
                    assert_eq!(op.is_control(), v >= 8, "{op:?}");
                    let (h, _) = FrameHeader::decode(&[0x80 | v, 0], Role::Client, 0)
                        .unwrap()
                        .unwrap();
                    assert_eq!(h.opcode, op);
                }
                None => assert_eq!(err(&[0x80 | v], Role::Client), "reserved opcode"),
            }
        }
    }

    #[test]
    fn control_frames_are_unfragmented_and_short() {
        for op in [OpCode::Close, OpCode::Ping, OpCode::Pong] {
            let b0 = op.as_u8();
            assert_eq!(err(&[b0], Role::Client), "fragmented control frame");
            let (h, n) = FrameHeader::decode(&[0x80 | b0, 125], Role::Client, usize::MAX)
                .unwrap()
                .unwrap();
            assert_eq!((h.opcode, h.fin, h.payload_len, n), (op, true, 125, 2));
            for len7 in [126, 127] {
                // Refused on the first two octets, masked or not.
                assert_eq!(
                    err(&[0x80 | b0, len7], Role::Client),
                    "control frame payload over 125 bytes"
                );
                assert_eq!(
                    err(&[0x80 | b0, 0x80 | len7], Role::Server),
                    "control frame payload over 125 bytes"
                );
            }
        }
        // Data frames may be fragmented and use the extended lengths.
        for b0 in [0x00, 0x01, 0x02] {
            let (h, n) = FrameHeader::decode(&[b0, 126, 0, 126], Role::Client, usize::MAX)
                .unwrap()
                .unwrap();
            assert_eq!((h.fin, h.payload_len, n), (false, 126, 4));
        }
    }

    #[test]
    fn extended_lengths_at_their_edges() {
        let dec = |b: &[u8]| FrameHeader::decode(b, Role::Client, usize::MAX);
        assert_eq!(
            dec(&[0x82, 126, 0, 126]).unwrap().unwrap().0.payload_len,
            126
        );
        assert_eq!(
            err(&[0x82, 126, 0, 125], Role::Client),
            "non-minimal 16-bit length"
        );
        let len64 = |v: u64| {
            let mut b = vec![0x82, 127];
            b.extend_from_slice(&v.to_be_bytes());
            b
        };
        let (h, n) = dec(&len64(0x1_0000)).unwrap().unwrap();
        assert_eq!((h.payload_len, n), (0x1_0000, 10));
        assert_eq!(
            err(&len64(0xffff), Role::Client),
            "non-minimal 64-bit length"
        );
        // The top bit of the 64-bit length must be 0: the largest length
        // is 2^63 - 1, and every value with the top bit set is refused.
        let max = u64::MAX >> 1;
        assert_eq!(dec(&len64(max)).unwrap().unwrap().0.payload_len, max);
        for v in [1 << 63, u64::MAX, (1 << 63) | 0x1_0000] {
            assert_eq!(err(&len64(v), Role::Client), "64-bit length with MSB set");
        }
        // The extended length is checked before the masking key arrives.
        let mut b = len64(0xffff);
        b[1] |= 0x80;
        assert_eq!(err(&b, Role::Server), "non-minimal 64-bit length");
        assert_eq!(
            FrameHeader::decode(&[0x82, 0xfe, 0x03, 0xe9], Role::Server, 1000),
            Err(ProtocolError::TooBig("frame over max_frame_size"))
        );
        // A length of exactly max_frame_size is accepted.
        assert_eq!(
            FrameHeader::decode(&[0x82, 0x05], Role::Client, 5),
            Ok(Some((hdr(OpCode::Binary, 5, None), 2)))
        );
    }

    #[test]
    fn header_bits_encode_and_decode() {
        let base = FrameHeader {
            fin: false,
            ..hdr(OpCode::Text, 3, None)
        };
        let cases = [
            (base, 0x01),
            (FrameHeader { fin: true, ..base }, 0x81),
            (FrameHeader { rsv1: true, ..base }, 0x41),
            (FrameHeader { rsv2: true, ..base }, 0x21),
            (FrameHeader { rsv3: true, ..base }, 0x11),
        ];
        for (h, b0) in cases {
            let mut out = BytesMut::new();
            h.encode(&mut out);
            assert_eq!(&out[..], &[b0, 3], "{h:?}");
        }
        // RSV1 decodes (the caller decides about it); RSV2/RSV3 are refused.
        let (h, _) = FrameHeader::decode(&[0x41, 3], Role::Client, usize::MAX)
            .unwrap()
            .unwrap();
        assert_eq!(h, FrameHeader { rsv1: true, ..base });
        for b0 in [0x21, 0x11, 0x31] {
            assert_eq!(err(&[b0], Role::Client), "RSV2/RSV3 set without extension");
        }
        // The MASK bit and key, encoded and decoded.
        let masked = hdr(OpCode::Pong, 0, Some([9, 8, 7, 6]));
        let mut out = BytesMut::new();
        masked.encode(&mut out);
        assert_eq!(&out[..], &[0x8a, 0x80, 9, 8, 7, 6]);
        assert_eq!(
            FrameHeader::decode(&out, Role::Server, 0),
            Ok(Some((masked, 6)))
        );
        assert_eq!(
            err(&[0x8a, 0x00], Role::Server),
            "unmasked frame from client"
        );
        assert_eq!(err(&[0x8a, 0x80], Role::Client), "masked frame from server");
    }
}
