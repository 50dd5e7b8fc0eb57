//! The decoder side: frames in, messages out (reassembly, decompression,
//! UTF-8 validation, the peer's Close).

use super::{CloseState, Codec, InMessage};
use crate::deflate::InflateError;
use crate::frame::{FrameHeader, OpCode};
use crate::mask::apply_mask;
use crate::message::{is_valid_close_code, CloseFrame, Message, Utf8Bytes};
use crate::ProtocolError;
use bytes::{Buf, Bytes, BytesMut};

impl Codec {
    fn fail(&mut self, e: ProtocolError) -> ProtocolError {
        self.failed = Some(e.clone());
        self.frame = None;
        self.msg = None;
        self.assembly = Vec::new();
        if let Some(c) = &mut self.compression {
            c.inflater.reset();
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
                if h.rsv1 && self.compression.is_none() {
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
            let Some(inf) = self.compression.as_mut().map(|c| &mut c.inflater) else {
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
                self.close_reply = Some(code);
                CloseState::CloseReceived
            }
        };
        self.msg = None;
        self.assembly = Vec::new();
        Ok(Message::Close(frame))
    }
}

#[cfg(test)]
mod tests {
    use crate::{Codec, Config, Message, Role};
    use bytes::BytesMut;

    /// A message of many small fragments is reassembled in a buffer that
    /// grows geometrically (a few reallocations, not one per fragment: a
    /// peer sending one-byte fragments must not cost quadratic copying),
    /// stays within twice what was received (a few tiny fragments must not
    /// make it allocate up to the limit) and never grows beyond
    /// `max_message_size`.
    #[test]
    fn reassembly_grows_geometrically_up_to_the_message_limit() {
        const LIMIT: usize = 1000;
        // One-byte fragments pass through every length; seven-byte ones
        // jump over the powers of two.
        for fragment in [1, 7] {
            let mut client = Codec::new(
                Role::Client,
                Config {
                    auto_fragment_size: Some(fragment),
                    ..Config::default()
                },
            );
            let config = Config {
                max_message_size: LIMIT,
                ..Config::default()
            };
            let mut server = Codec::new(Role::Server, config);
            let payload: Vec<u8> = (0..LIMIT).map(|i| i as u8).collect();
            let mut wire = BytesMut::new();
            client
                .encode(&Message::binary(payload.clone()), &mut wire)
                .unwrap();
            let mut buf = BytesMut::new();
            let mut capacities = vec![server.assembly.capacity()];
            let mut got = None;
            while !wire.is_empty() {
                // One frame: 2 header octets, 4 of mask, the payload.
                buf.extend_from_slice(&wire.split_to(wire.len().min(6 + fragment)));
                let m = server.decode(&mut buf).unwrap();
                if m.is_some() {
                    // The buffer went into the message.
                    got = m;
                    break;
                }
                let (len, capacity) = (server.assembly.len(), server.assembly.capacity());
                assert!(capacity <= LIMIT, "{fragment}: {capacity} over the limit");
                assert!(capacity <= 2 * len, "{fragment}: {capacity} for {len}");
                if capacity != *capacities.last().unwrap() {
                    capacities.push(capacity);
                }
            }
            assert!(wire.is_empty());
            assert_eq!(got, Some(Message::binary(payload)), "{fragment}");
            // 0, 1, 2, 4, ..., 512, then the limit (or 0, 7, 14, ..., 896,
            // then the limit).
            assert!(capacities.len() <= 12, "{fragment}: {capacities:?}");
            assert!(
                capacities
                    .windows(2)
                    .all(|w| w[1] >= 2 * w[0] || w[1] == LIMIT),
                "{fragment}: {capacities:?}"
            );
        }
    }
}
