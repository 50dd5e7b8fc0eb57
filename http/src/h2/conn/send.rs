//! The send side: heads, DATA and trailers queued per stream, written
//! round-robin within the flow-control windows by `poll_output`; resets;
//! and the expiry of streams whose data waits on a window the peer keeps
//! shut.

use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use http::HeaderMap;

use super::role::Role;
use super::stream::{State, Stream};
use super::{Connection, StreamGone};
use crate::h2::frame;
use crate::h2::ErrorCode;

impl<R: Role> Connection<R> {
    /// Frames the head block `block` of `stream_id` (HEADERS, split into
    /// CONTINUATION frames if the peer's frame size asks for it).
    pub(super) fn write_head(&mut self, stream_id: u32, block: &[u8], end_stream: bool) {
        frame::encode_headers(
            stream_id,
            block,
            end_stream,
            self.peer.max_frame_size as u32,
            &mut self.out,
        );
        if end_stream {
            self.close_local(stream_id);
        }
    }

    /// Queues body bytes for `stream_id` (sent as the windows allow);
    /// `end_stream` ends our side of the stream.
    pub(super) fn send_data(
        &mut self,
        stream_id: u32,
        data: Bytes,
        end_stream: bool,
    ) -> Result<(), StreamGone> {
        let Some(stream) = self.streams.get_mut(&stream_id) else {
            return Err(StreamGone);
        };
        if !stream.accepts_output() {
            return Err(StreamGone);
        }
        if !data.is_empty() {
            stream.pending_len += data.len();
            stream.pending.push_back(data);
        }
        stream.end_queued = end_stream;
        self.schedule(stream_id);
        Ok(())
    }

    /// Ends our side of `stream_id` with trailers (after queued data).
    pub(super) fn send_trailers(
        &mut self,
        stream_id: u32,
        trailers: HeaderMap,
    ) -> Result<(), StreamGone> {
        let Some(stream) = self.streams.get_mut(&stream_id) else {
            return Err(StreamGone);
        };
        if !stream.accepts_output() {
            return Err(StreamGone);
        }
        stream.trailers = Some(trailers);
        self.schedule(stream_id);
        Ok(())
    }

    /// Bytes of `stream_id` queued and not yet written; `None` when the
    /// stream is gone.
    pub(super) fn queued(&self, stream_id: u32) -> Option<usize> {
        self.streams.get(&stream_id).map(|s| s.pending_len)
    }

    /// Whether `stream_id` has queued data but no send window to carry it.
    pub(super) fn is_blocked_on_window(&self, stream_id: u32) -> bool {
        self.streams
            .get(&stream_id)
            .is_some_and(|s| s.blocked_on_window(self.send_window.is_open()))
    }

    /// Resets with CANCEL every stream whose queued data has waited
    /// `timeout` or longer for a window; returns when the next stream
    /// still waiting would expire. Sending any DATA restarts a stream's
    /// clock.
    pub(super) fn expire_window_stalls(
        &mut self,
        now: Instant,
        timeout: Duration,
    ) -> Option<Instant> {
        let conn_open = self.send_window.is_open();
        let mut expired = Vec::new();
        let mut next: Option<Instant> = None;
        for (&id, stream) in self.streams.iter_mut() {
            if !stream.blocked_on_window(conn_open) {
                stream.window_wait_since = None;
                continue;
            }
            let deadline = *stream.window_wait_since.get_or_insert(now) + timeout;
            if deadline <= now {
                expired.push(id);
            } else {
                next = Some(next.map_or(deadline, |n| n.min(deadline)));
            }
        }
        for id in expired {
            self.reset(id, ErrorCode::Cancel);
        }
        next
    }

    /// Resets `stream_id` from our side.
    pub(super) fn reset(&mut self, stream_id: u32, code: ErrorCode) {
        if self.streams.remove(&stream_id).is_some() {
            frame::encode_rst_stream(stream_id, code, &mut self.out);
            self.recently_closed.remember(stream_id, true);
        }
    }

    /// Moves pending output into `dst`: control frames and headers first,
    /// then DATA frames of the streams in turn, one frame per stream per
    /// round, while the windows allow and `dst` holds less than `max` bytes.
    pub(super) fn poll_output(&mut self, dst: &mut BytesMut, max: usize) {
        if !self.out.is_empty() {
            if dst.is_empty() {
                std::mem::swap(dst, &mut self.out);
            } else {
                dst.extend_from_slice(&self.out);
                self.out.clear();
            }
        }
        self.counts.output_drained();
        let mut rounds_without_progress = 0;
        while dst.len() < max
            && !self.ready.is_empty()
            && rounds_without_progress < self.ready.len()
        {
            let Some(id) = self.ready.pop_front() else {
                break;
            };
            let progressed = self.write_stream_frame(id, dst);
            let keep = self.streams.get(&id).is_some_and(|s| s.has_output());
            if keep {
                self.ready.push_back(id);
            } else if let Some(s) = self.streams.get_mut(&id) {
                s.scheduled = false;
            }
            if progressed {
                rounds_without_progress = 0;
            } else {
                rounds_without_progress += 1;
            }
        }
        if !self.out.is_empty() {
            // Resets queued while sending data.
            dst.extend_from_slice(&self.out);
            self.out.clear();
        }
    }

    /// Whether output is waiting (frames, or data the windows allow).
    pub(super) fn has_output(&self) -> bool {
        let conn_open = self.send_window.is_open();
        !self.out.is_empty()
            || self.ready.iter().any(|id| {
                self.streams.get(id).is_some_and(|s| {
                    (s.pending_len == 0 && (s.end_queued || s.trailers.is_some()))
                        || (s.send_window.is_open() && conn_open)
                })
            })
    }

    pub(super) fn schedule(&mut self, id: u32) {
        if let Some(s) = self.streams.get_mut(&id) {
            if !s.scheduled {
                s.scheduled = true;
                self.ready.push_back(id);
            }
        }
    }

    /// Writes at most one DATA frame (or the END_STREAM / trailers) of
    /// stream `id` into `dst`. Returns whether anything was written.
    fn write_stream_frame(&mut self, id: u32, dst: &mut BytesMut) -> bool {
        let max_frame = self.peer.max_frame_size;
        let conn_window = self.send_window.available();
        let Some(stream) = self.streams.get_mut(&id) else {
            return false;
        };
        if stream.pending_len > 0 {
            let allowed = stream
                .send_window
                .available()
                .min(conn_window)
                .min(max_frame as i64);
            if allowed <= 0 {
                return false;
            }
            let n = (allowed as usize).min(stream.pending_len);
            stream.send_window.consume(n);
            self.send_window.consume(n);
            stream.window_wait_since = None;
            let end = stream.pending_len == n && stream.end_queued;
            frame::encode_data_head(id, n, end, dst);
            move_front(stream, n, dst);
            if end {
                stream.end_queued = false;
                self.close_local(id);
            }
            return true;
        }
        if stream.end_queued {
            stream.end_queued = false;
            frame::encode_data(id, &[], true, dst);
            self.close_local(id);
            return true;
        }
        if let Some(trailers) = stream.trailers.take() {
            let mut block = BytesMut::new();
            self.hpack_encoder.encode_trailers(&trailers, &mut block);
            frame::encode_headers(id, &block, true, max_frame as u32, dst);
            self.close_local(id);
            return true;
        }
        false
    }

    /// We sent END_STREAM on `id`. On a server a response is complete
    /// then (RFC 9113 §8.1): a request still arriving is not wanted any
    /// more, but its frames keep being checked (a protocol error in them
    /// still gets its error) while it is drained — DATA discarded and its
    /// window given back — until the request ends, `max_drain_size` bytes
    /// have come, or `expire_drains` runs out of patience; then the
    /// client is asked to stop with RST_STREAM(NO_ERROR). A content-length
    /// that leaves more than `max_drain_size` to come is reset at once.
    /// A client waits for its response instead.
    fn close_local(&mut self, id: u32) {
        let max_drain = self.limits.max_drain_size;
        let Some(stream) = self.streams.get_mut(&id) else {
            return;
        };
        if stream.close_local() {
            self.finish_stream(id);
        } else if R::DRAIN_AFTER_LOCAL_END
            && stream
                .content_length
                .is_some_and(|n| n.saturating_sub(stream.received) > max_drain)
        {
            self.reset(id, ErrorCode::NoError);
        }
    }

    /// Whether `stream` is being drained: we answered it, the peer is
    /// still sending (see `close_local`).
    /// A tunnel (RFC 8441) is not: after our END_STREAM its peer's data
    /// still goes to the tunnel's reader, until the driver lets go of it
    /// (`end_tunnel`).
    pub(super) fn is_draining(stream: &Stream) -> bool {
        R::DRAIN_AFTER_LOCAL_END && stream.state == State::HalfClosedLocal && !stream.tunnel
    }

    /// Resets with NO_ERROR every stream drained for `timeout` or longer
    /// (see `close_local`); returns when the next one would expire, or
    /// `now` when one did (its reset is waiting to be written). A drain's
    /// clock starts at the first call that sees it.
    pub(super) fn expire_drains(&mut self, now: Instant, timeout: Duration) -> Option<Instant> {
        let mut expired = Vec::new();
        let mut next: Option<Instant> = None;
        for (&id, stream) in self.streams.iter_mut() {
            if !Self::is_draining(stream) {
                continue;
            }
            let deadline = *stream.drain_since.get_or_insert(now) + timeout;
            if deadline <= now {
                expired.push(id);
            } else {
                next = Some(next.map_or(deadline, |n| n.min(deadline)));
            }
        }
        if expired.is_empty() {
            return next;
        }
        for id in expired {
            self.reset(id, ErrorCode::NoError);
        }
        Some(now)
    }
}

/// Moves the first `n` queued bytes of `stream` (a DATA payload, possibly
/// spread over several queued chunks) into `dst`: one copy, straight from
/// the queue into the output.
fn move_front(stream: &mut Stream, n: usize, dst: &mut BytesMut) {
    let mut left = n;
    while left > 0 {
        let front = stream.pending.front_mut().expect("pending_len >= n");
        let take = left.min(front.len());
        dst.extend_from_slice(&front[..take]);
        bytes::Buf::advance(front, take);
        if front.is_empty() {
            stream.pending.pop_front();
        }
        left -= take;
    }
    stream.pending_len -= n;
}
