//! The client role's state and its answers to the shared connection core
//! ([`Role`]): which events a response head, DATA, trailers, a reset, a
//! GOAWAY and a PING acknowledgement become, which stream ids are idle,
//! and how a request's header block is encoded and framed.

use bytes::{Bytes, BytesMut};
use http::{HeaderMap, Method, StatusCode};

use super::client::ClientEvent;
use super::request_encode::RequestTarget;
use super::response;
use super::role::Role;
use super::{Connection, HeaderBlock, Phase};
use crate::h2::frame::{self, GoAway};
use crate::h2::hpack::HeaderField;
use crate::h2::{ErrorCode, H2Error};
use crate::upgrade::Protocol;

impl Connection<Client> {
    /// Encodes a request's header block (into the role's reused buffer)
    /// and frames it on stream `id`.
    pub(super) fn encode_and_write(
        &mut self,
        id: u32,
        target: &RequestTarget<'_>,
        method: &Method,
        protocol: Option<&Protocol>,
        headers: &HeaderMap,
        end_stream: bool,
    ) {
        let mut block = std::mem::take(&mut self.role.block);
        block.clear();
        target.encode(
            &mut self.hpack_encoder,
            method,
            protocol,
            headers,
            &mut block,
        );
        self.write_head(id, &block, end_stream);
        // Kept for the next request unless a rare large head grew it.
        if block.capacity() <= 16 * 1024 {
            self.role.block = block;
        }
    }
}

/// The client role's state.
#[derive(Debug)]
pub(super) struct Client {
    /// The id of the next stream we open.
    pub(super) next_stream_id: u32,
    /// Whether response heads keep their regular fields.
    pub(super) keep_fields: bool,
    /// The header block being encoded: one buffer reused by every
    /// request (no allocation, nor growth, per request).
    pub(super) block: BytesMut,
}

impl Role for Client {
    const SIDE: frame::Role = frame::Role::Client;
    const COUNTS_PEER_RESETS: bool = false;
    const DRAIN_AFTER_LOCAL_END: bool = false;
    type Event = ClientEvent;

    fn data_event(stream_id: u32, data: Bytes, end_stream: bool) -> ClientEvent {
        ClientEvent::Data {
            stream_id,
            data,
            end_stream,
        }
    }

    fn trailers_event(stream_id: u32, trailers: HeaderMap) -> ClientEvent {
        ClientEvent::Trailers {
            stream_id,
            trailers,
        }
    }

    fn reset_event(stream_id: u32, code: ErrorCode) -> ClientEvent {
        ClientEvent::Reset { stream_id, code }
    }

    fn is_idle(conn: &Connection<Client>, stream_id: u32) -> bool {
        // Even ids would be pushed streams, and push is off.
        stream_id.is_multiple_of(2) || stream_id >= conn.role.next_stream_id
    }

    fn check_unknown_stream(conn: &Connection<Client>, stream_id: u32) -> Result<(), H2Error> {
        if Client::is_idle(conn, stream_id) {
            return Err(H2Error::connection(
                ErrorCode::ProtocolError,
                "HEADERS on an idle stream",
            ));
        }
        match conn.recently_closed.get(stream_id) {
            // Late frames after our RST_STREAM are ignored.
            Some(true) => Ok(()),
            _ => Err(H2Error::connection(
                ErrorCode::StreamClosed,
                "HEADERS on a closed stream",
            )),
        }
    }

    fn on_head(
        conn: &mut Connection<Client>,
        block: HeaderBlock,
        fields: Result<Vec<HeaderField>, H2Error>,
    ) -> Result<(), H2Error> {
        let id = block.stream_id;
        let Some(stream) = conn.streams.get_mut(&id) else {
            // A late head of a stream we reset: decoded (the HPACK state
            // must follow) and dropped.
            return Ok(());
        };
        let head = response::response_from_fields(fields?, conn.role.keep_fields)
            .map_err(|m| H2Error::stream(id, ErrorCode::ProtocolError, m))?;
        let status = head.response.status();
        let malformed = |m| Err(H2Error::stream(id, ErrorCode::ProtocolError, m));
        if status.is_informational() {
            if status == StatusCode::SWITCHING_PROTOCOLS {
                return malformed("101 in HTTP/2");
            }
            if block.end_stream {
                return malformed("interim response with END_STREAM");
            }
            conn.events.push_back(ClientEvent::Informational {
                stream_id: id,
                response: head.response,
            });
            return Ok(());
        }
        stream.head_received = true;
        // A HEAD request's response, 204 and 304 carry no body whatever
        // their content-length says (RFC 9110 §6.4.1).
        let no_body = stream.method_is_head
            || status == StatusCode::NO_CONTENT
            || status == StatusCode::NOT_MODIFIED;
        stream.content_length = if no_body {
            Some(0)
        } else {
            head.content_length
        };
        if block.end_stream && stream.content_length.is_some_and(|n| n > 0) {
            return malformed("content-length without a body");
        }
        let closed = block.end_stream && stream.close_remote();
        conn.events.push_back(ClientEvent::Response {
            stream_id: id,
            response: head.response,
            end_stream: block.end_stream,
        });
        if closed {
            conn.finish_stream(id);
        }
        Ok(())
    }

    fn on_goaway(conn: &mut Connection<Client>, goaway: GoAway) {
        if conn.phase != Phase::Failed {
            conn.phase = Phase::GoingAway;
        }
        let last = goaway.last_stream_id;
        conn.events.push_back(ClientEvent::GoAway {
            last_stream_id: last,
            code: goaway.code,
            debug_data: goaway.debug_data,
        });
        // Streams above `last` were not processed: refused, retryable.
        let mut refused: Vec<u32> = conn
            .streams
            .keys()
            .copied()
            .filter(|&id| id > last)
            .collect();
        refused.sort_unstable();
        for id in refused {
            conn.streams.remove(&id);
            conn.recently_closed.remember(id, true);
            conn.events.push_back(ClientEvent::Reset {
                stream_id: id,
                code: ErrorCode::RefusedStream,
            });
        }
    }

    fn on_ping_ack(conn: &mut Connection<Client>, payload: [u8; 8]) {
        conn.events.push_back(ClientEvent::PingAck { payload });
    }
}
