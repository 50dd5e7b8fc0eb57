//! The receive side: frames in, checked against the stream states, flow
//! control and the attack limits; events out.

use bytes::BytesMut;

use super::role::Role;
use super::{fields, Connection, HeaderBlock, Phase, DEFAULT_WINDOW};
use crate::h2::frame::{self, Frame, Settings};
use crate::h2::{ErrorCode, H2Error};

impl<R: Role> Connection<R> {
    /// Processes every complete frame in `buf` (consumed as it goes).
    /// `Err` is a connection error: its GOAWAY is queued.
    pub(super) fn recv(&mut self, buf: &mut BytesMut) -> Result<(), H2Error> {
        loop {
            match self.phase {
                Phase::Failed => {
                    return Err(H2Error::connection(
                        ErrorCode::ProtocolError,
                        "connection failed",
                    ))
                }
                Phase::Preface => match frame::decode_preface(buf) {
                    Ok(true) => self.phase = Phase::FirstSettings,
                    Ok(false) => return Ok(()),
                    Err(e) => return Err(self.fail(e)),
                },
                _ => {}
            }
            let frame = match self.frame_decoder.decode(buf) {
                Ok(Some(f)) => f,
                Ok(None) => return Ok(()),
                Err(e) => {
                    self.handle_error(e)?;
                    continue;
                }
            };
            if self.phase == Phase::FirstSettings {
                if !matches!(&frame, Frame::Settings(s) if !s.ack) {
                    return Err(self.fail(H2Error::connection(
                        ErrorCode::ProtocolError,
                        "first frame is not SETTINGS",
                    )));
                }
                self.phase = Phase::Open;
            }
            if let Err(e) = self.on_frame(frame) {
                self.handle_error(e)?;
            }
        }
    }

    /// The application consumed `len` body bytes of `stream_id`: give the
    /// windows back (WINDOW_UPDATE once half a window is due).
    pub(super) fn release(&mut self, stream_id: u32, len: usize) {
        let len = len as u32;
        self.release_connection(len);
        let Some(stream) = self.streams.get_mut(&stream_id) else {
            return;
        };
        if !stream.remote_open() {
            return;
        }
        if let Some(increment) = stream.recv_window.release(len) {
            frame::encode_window_update(stream_id, increment, &mut self.out);
        }
    }

    fn release_connection(&mut self, len: u32) {
        if let Some(increment) = self.recv_window.release(len) {
            frame::encode_window_update(0, increment, &mut self.out);
        }
    }

    /// A stream error resets its stream; a connection error fails the
    /// connection (and is returned).
    fn handle_error(&mut self, e: H2Error) -> Result<(), H2Error> {
        match e {
            H2Error::Connection { .. } => Err(self.fail(e)),
            H2Error::Stream {
                stream_id, code, ..
            } => {
                if let Err(e) = self.counts.local_error_reset() {
                    return Err(self.fail(e));
                }
                if self.streams.remove(&stream_id).is_some() {
                    self.events.push_back(R::reset_event(stream_id, code));
                }
                frame::encode_rst_stream(stream_id, code, &mut self.out);
                self.recently_closed.remember(stream_id, true);
                Ok(())
            }
        }
    }

    /// Queues the GOAWAY of a connection error; every stream is reset.
    pub(super) fn fail(&mut self, e: H2Error) -> H2Error {
        if self.phase != Phase::Failed {
            if let H2Error::Connection { code, reason } = &e {
                frame::encode_goaway(
                    self.last_peer_stream,
                    *code,
                    reason.as_bytes(),
                    &mut self.out,
                );
            }
            self.phase = Phase::Failed;
            self.ready.clear();
            for (id, _) in self.streams.drain() {
                self.events.push_back(R::reset_event(id, ErrorCode::Cancel));
            }
        }
        e
    }

    fn on_frame(&mut self, frame: Frame) -> Result<(), H2Error> {
        match frame {
            Frame::Settings(s) => self.on_settings(s),
            Frame::Ping(p) => {
                if p.ack {
                    R::on_ping_ack(self, p.payload);
                } else {
                    self.counts.ack_owed()?;
                    frame::encode_ping_ack(p.payload, &mut self.out);
                }
                Ok(())
            }
            Frame::GoAway(g) => {
                R::on_goaway(self, g);
                Ok(())
            }
            Frame::WindowUpdate(w) => self.on_window_update(w.stream_id, w.increment),
            Frame::Headers(h) => {
                self.check_headers_allowed(h.stream_id, h.end_stream)?;
                let block = HeaderBlock {
                    stream_id: h.stream_id,
                    end_stream: h.end_stream,
                    self_dependent: h.priority.is_some_and(|p| p.dependency == h.stream_id),
                    fragments: h.fragment,
                };
                if h.end_headers {
                    self.on_header_block(block)
                } else {
                    let buffered = block.fragments.len();
                    self.block = Some(block);
                    self.check_block_size(buffered)
                }
            }
            Frame::Continuation(c) => {
                let Some(buffered) = self.block.as_ref().map(|b| b.fragments.len()) else {
                    return Err(H2Error::connection(
                        ErrorCode::ProtocolError,
                        "CONTINUATION without HEADERS",
                    ));
                };
                // Bound the block before growing it, and grow it in place:
                // after the first CONTINUATION the block owns its buffer
                // alone, so `try_into_mut` takes it back without a copy
                // (many tiny CONTINUATIONs cost linear, not quadratic, work).
                self.check_block_size(buffered + c.fragment.len())?;
                let block = self.block.as_mut().expect("checked above");
                let mut joined = std::mem::take(&mut block.fragments)
                    .try_into_mut()
                    .unwrap_or_else(|shared| BytesMut::from(&shared[..]));
                joined.extend_from_slice(&c.fragment);
                block.fragments = joined.freeze();
                if c.end_headers {
                    let block = self.block.take().expect("checked above");
                    self.on_header_block(block)?;
                }
                Ok(())
            }
            Frame::Data(d) => self.on_data(d),
            Frame::RstStream(r) => self.on_rst_stream(r.stream_id, r.code),
            Frame::Priority(p) => {
                if p.spec.dependency == p.stream_id {
                    return Err(H2Error::stream(
                        p.stream_id,
                        ErrorCode::ProtocolError,
                        "stream depends on itself",
                    ));
                }
                Ok(())
            }
            // A server never gets one (its decoder refuses it); a client
            // announced SETTINGS_ENABLE_PUSH = 0 (RFC 9113 §6.6).
            Frame::PushPromise(_) => Err(H2Error::connection(
                ErrorCode::ProtocolError,
                "PUSH_PROMISE with push disabled",
            )),
            Frame::Unknown(_) => Ok(()),
        }
    }

    fn on_settings(&mut self, s: frame::SettingsFrame) -> Result<(), H2Error> {
        if s.ack {
            self.settings_unacked = false;
            return Ok(());
        }
        self.counts.ack_owed()?;
        self.apply_peer_settings(&s.settings)?;
        frame::encode_settings_ack(&mut self.out);
        Ok(())
    }

    pub(super) fn apply_peer_settings(&mut self, s: &Settings) -> Result<(), H2Error> {
        if matches!(R::SIDE, frame::Role::Client) && s.enable_push == Some(true) {
            // RFC 9113 §6.5.2: only a client may enable push.
            return Err(H2Error::connection(
                ErrorCode::ProtocolError,
                "server sent SETTINGS_ENABLE_PUSH = 1",
            ));
        }
        if let Some(size) = s.header_table_size {
            let size = size.min(self.limits.h2_max_encoder_table_size) as usize;
            self.hpack_encoder.set_max_table_size(size);
        }
        if let Some(size) = s.max_frame_size {
            self.peer.max_frame_size = size as usize;
        }
        if let Some(n) = s.max_concurrent_streams {
            self.peer.max_concurrent_streams = n;
        }
        if let Some(on) = s.enable_connect_protocol {
            if self.peer.enable_connect_protocol && !on {
                // RFC 8441 §3: once offered, it cannot be withdrawn.
                return Err(H2Error::connection(
                    ErrorCode::ProtocolError,
                    "SETTINGS_ENABLE_CONNECT_PROTOCOL withdrawn",
                ));
            }
            self.peer.enable_connect_protocol = on;
        }
        if let Some(window) = s.initial_window_size {
            let delta = i64::from(window) - self.peer.initial_window;
            self.peer.initial_window = i64::from(window);
            let mut reopened = Vec::new();
            for (id, stream) in &mut self.streams {
                let was_closed = !stream.send_window.is_open();
                if stream.send_window.grow(delta).is_err() {
                    return Err(H2Error::connection(
                        ErrorCode::FlowControlError,
                        "window overflow from SETTINGS",
                    ));
                }
                if was_closed && stream.send_window.is_open() && stream.pending_len > 0 {
                    reopened.push(*id);
                }
            }
            for id in reopened {
                self.schedule(id);
            }
        }
        Ok(())
    }

    fn on_window_update(&mut self, stream_id: u32, increment: u32) -> Result<(), H2Error> {
        if stream_id == 0 {
            if self.send_window.grow(i64::from(increment)).is_err() {
                return Err(H2Error::connection(
                    ErrorCode::FlowControlError,
                    "connection window overflow",
                ));
            }
            return Ok(());
        }
        if R::is_idle(self, stream_id) {
            return Err(H2Error::connection(
                ErrorCode::ProtocolError,
                "WINDOW_UPDATE on an idle stream",
            ));
        }
        let Some(stream) = self.streams.get_mut(&stream_id) else {
            // Closed: ignore (RFC 9113 §5.1).
            return Ok(());
        };
        if stream.send_window.grow(i64::from(increment)).is_err() {
            return Err(H2Error::stream(
                stream_id,
                ErrorCode::FlowControlError,
                "stream window overflow",
            ));
        }
        if stream.pending_len > 0 {
            self.schedule(stream_id);
        }
        Ok(())
    }

    fn on_rst_stream(&mut self, stream_id: u32, code: ErrorCode) -> Result<(), H2Error> {
        if R::is_idle(self, stream_id) {
            return Err(H2Error::connection(
                ErrorCode::ProtocolError,
                "RST_STREAM on an idle stream",
            ));
        }
        if let Some(stream) = self.streams.remove(&stream_id) {
            // A stream reset before we finished answering it (CVE-2023-44487).
            // An open tunnel was answered too: closing it is its peer's right.
            let answered = Self::is_draining(&stream)
                || (stream.end_queued && stream.pending_len == 0)
                || (stream.tunnel && stream.head_sent);
            if R::COUNTS_PEER_RESETS && !answered {
                self.counts.peer_reset()?;
            }
            self.events.push_back(R::reset_event(stream_id, code));
            self.recently_closed.remember(stream_id, false);
        }
        Ok(())
    }

    /// HEADERS on `stream_id`: the peer's head or trailers on a stream in
    /// the table, or (the role decides) a new stream.
    fn check_headers_allowed(&mut self, stream_id: u32, end_stream: bool) -> Result<(), H2Error> {
        let Some(stream) = self.streams.get(&stream_id) else {
            return R::check_unknown_stream(self, stream_id);
        };
        if !stream.remote_open() {
            return Err(H2Error::connection(
                ErrorCode::StreamClosed,
                "HEADERS after END_STREAM",
            ));
        }
        if stream.head_received && !end_stream {
            return Err(H2Error::connection(
                ErrorCode::ProtocolError,
                "trailers without END_STREAM",
            ));
        }
        Ok(())
    }

    /// Bounds a header block still waiting for CONTINUATION frames (the
    /// 2024 CONTINUATION flood): twice the header-list limit at most.
    fn check_block_size(&self, buffered: usize) -> Result<(), H2Error> {
        if buffered > 2 * self.limits.h2_max_header_list_size as usize + 1024 {
            return Err(H2Error::connection(
                ErrorCode::EnhanceYourCalm,
                "header block too large",
            ));
        }
        Ok(())
    }

    fn on_header_block(&mut self, block: HeaderBlock) -> Result<(), H2Error> {
        let id = block.stream_id;
        let fields = match self.hpack_decoder.decode(
            &block.fragments,
            self.limits.h2_max_header_list_size as usize,
        ) {
            Ok(fields) => Ok(fields),
            Err(e) if e.is_stream_error() => Err(e.into_h2_error(id)),
            Err(e) => return Err(e.into_h2_error(id)),
        };
        if block.self_dependent {
            return Err(H2Error::stream(
                id,
                ErrorCode::ProtocolError,
                "stream depends on itself",
            ));
        }
        let Some(stream) = self.streams.get_mut(&id).filter(|s| s.head_received) else {
            return R::on_head(self, block, fields);
        };
        if stream.tunnel {
            // RFC 9113 §8.5: only DATA and stream management on a CONNECT stream.
            return Err(H2Error::stream(
                id,
                ErrorCode::ProtocolError,
                "HEADERS on a CONNECT stream",
            ));
        }
        let trailers = fields
            .map_err(|_| H2Error::stream(id, ErrorCode::ProtocolError, "trailers too large"))
            .and_then(|f| {
                fields::trailers_from_fields(f)
                    .map_err(|m| H2Error::stream(id, ErrorCode::ProtocolError, m))
            })?;
        if stream.content_length.is_some_and(|n| n != stream.received) {
            return Err(H2Error::stream(
                id,
                ErrorCode::ProtocolError,
                "body shorter than content-length",
            ));
        }
        let draining = Self::is_draining(stream);
        let closed = stream.close_remote();
        if !draining {
            self.events.push_back(R::trailers_event(id, trailers));
        }
        if closed {
            self.finish_stream(id);
        }
        Ok(())
    }

    fn on_data(&mut self, d: frame::Data) -> Result<(), H2Error> {
        let id = d.stream_id;
        // Connection window first: every DATA counts, whatever its stream.
        if !self.recv_window.consume(d.flow_len, 0) {
            return Err(H2Error::connection(
                ErrorCode::FlowControlError,
                "connection window exceeded",
            ));
        }
        if d.data.is_empty() && !d.end_stream {
            self.counts.empty_data_frame()?;
        }
        if R::is_idle(self, id) {
            return Err(H2Error::connection(
                ErrorCode::ProtocolError,
                "DATA on an idle stream",
            ));
        }
        let Some(stream) = self.streams.get_mut(&id) else {
            // Closed or reset: give the connection window back at once.
            self.release_connection(d.flow_len);
            if self.recently_closed.get(id) == Some(true) {
                return Ok(());
            }
            return Err(H2Error::stream(
                id,
                ErrorCode::StreamClosed,
                "DATA on a closed stream",
            ));
        };
        if !stream.remote_open() {
            self.release_connection(d.flow_len);
            return Err(H2Error::stream(
                id,
                ErrorCode::StreamClosed,
                "DATA after END_STREAM",
            ));
        }
        if !stream.head_received {
            self.release_connection(d.flow_len);
            return Err(H2Error::stream(
                id,
                ErrorCode::ProtocolError,
                "DATA before the response head",
            ));
        }
        if stream.tunnel && !stream.head_sent {
            // RFC 8441 §5: the tunnel opens with our 2xx; nothing goes
            // through it before.
            self.release_connection(d.flow_len);
            return Err(H2Error::stream(
                id,
                ErrorCode::ProtocolError,
                "DATA on an extended CONNECT before its answer",
            ));
        }
        // Before the peer acknowledged our SETTINGS it may use the default
        // window (RFC 9113 §6.9.3): when ours is smaller, the difference
        // may still come; a larger one is ours from the start.
        let allowance = if self.settings_unacked {
            (DEFAULT_WINDOW - self.our_initial_window).max(0)
        } else {
            0
        };
        if !stream.recv_window.consume(d.flow_len, allowance) {
            return Err(H2Error::stream(
                id,
                ErrorCode::FlowControlError,
                "stream window exceeded",
            ));
        }
        stream.received += d.data.len() as u64;
        if stream.content_length.is_some_and(|n| stream.received > n)
            || (d.end_stream && stream.content_length.is_some_and(|n| stream.received != n))
        {
            return Err(H2Error::stream(
                id,
                ErrorCode::ProtocolError,
                "body length differs from content-length",
            ));
        }
        // Padding is flow-controlled but never reaches the application.
        let padding = d.flow_len as usize - d.data.len();
        if padding > 0 {
            self.release(id, padding);
        }
        let stream = self.streams.get_mut(&id).expect("present above");
        if Self::is_draining(stream) {
            return self.drain_data(id, d);
        }
        let closed = d.end_stream && stream.close_remote();
        self.events
            .push_back(R::data_event(id, d.data, d.end_stream));
        if closed {
            self.finish_stream(id);
        }
        Ok(())
    }

    /// Checked DATA of a stream we already answered (see `close_local`):
    /// discarded, its window given back at once; once more than
    /// `max_drain_size` bytes came this way, the client is asked to stop.
    fn drain_data(&mut self, id: u32, d: frame::Data) -> Result<(), H2Error> {
        let max_drain = self.limits.max_drain_size;
        let stream = self.streams.get_mut(&id).expect("draining");
        stream.drained += u64::from(d.flow_len);
        if d.end_stream {
            stream.close_remote();
            self.finish_stream(id);
        } else if stream.drained > max_drain {
            self.reset(id, ErrorCode::NoError);
        }
        // The stream's window too while it is still drained.
        self.release(id, d.data.len());
        Ok(())
    }
}
