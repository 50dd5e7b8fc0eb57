//! HTTP/2 connections (h2c, prior knowledge): the sans-IO
//! `ClientConnection` with up to `streams` requests open at once, each
//! replaced by a new one as soon as its response is complete.

use std::collections::HashMap;
use std::rc::Rc;

use bytes::BytesMut;
use percore_http::h2::conn::{ClientConnection, ClientEvent};
use percore_http::h2::{ErrorCode, StreamIdHasher};

use crate::clock::Tick;
use crate::conn::Conn;
use crate::io::{keep_connected, read_more, write_all, Got, Watch};
use crate::plan::Core;
use crate::stats::ErrorKind;

/// Runs one connection (reconnecting as needed) until the run is over.
pub async fn connection(core: &Core, streams: usize) {
    keep_connected(core, |stream, owed, watch| {
        session(core, stream, owed, streams, watch)
    })
    .await;
}

/// Requests in flight by stream id.
type OpenMap = HashMap<u32, Open, StreamIdHasher>;

/// A request in flight: when it went out, its response status once known.
struct Open {
    started: Tick,
    status: u16,
}

/// Keeps `streams` requests open until the connection must be replaced
/// (`true`) or the run is over (`false`); returns that and the requests
/// still owed.
async fn session(
    core: &Core,
    stream: Conn,
    mut owed: u64,
    streams: usize,
    watch: Rc<Watch>,
) -> (bool, u64) {
    let plan = &core.plan;
    let mut conn = ClientConnection::new(&plan.limits);
    // Only the status and the framing count here: the fields are checked,
    // not kept.
    conn.keep_response_fields(false);
    let mut open = OpenMap::with_capacity_and_hasher(streams, Default::default());
    let mut inbuf = BytesMut::with_capacity(64 * 1024);
    let mut going_away = false;
    loop {
        // One clock read per turn: the start of every request opened now.
        let turn = Tick::now();
        while !going_away && open.len() < streams && conn.can_open_stream() {
            if owed == 0 {
                owed = core.claim(1);
                if owed == 0 {
                    break;
                }
            }
            let end_stream = plan.body.is_none();
            let sent = match &plan.h2_prepared {
                Some(prepared) => conn.send_prepared(prepared, end_stream),
                None => conn.send_request(&plan.h2_request, end_stream),
            };
            let Ok(id) = sent else {
                going_away = true;
                break;
            };
            if let Some(body) = &plan.body {
                let _ = conn.send_data(id, body.clone(), true);
            }
            owed -= 1;
            open.insert(
                id,
                Open {
                    started: turn,
                    status: 0,
                },
            );
        }
        if open.is_empty() && (going_away || owed == 0) {
            // Replace a closing connection; or nothing is left to send.
            watch.disarm();
            return (going_away, owed);
        }
        if conn.has_output() {
            let mut out = BytesMut::with_capacity(16 * 1024);
            conn.poll_output(&mut out, usize::MAX);
            watch.arm(turn);
            match write_all(&stream, out.freeze(), &watch).await {
                Ok(()) => {}
                Err(Some(kind)) => {
                    core.error(kind, open.len() as u64);
                    return (true, owed);
                }
                Err(None) => return (false, owed),
            }
        }
        let done = match read_more(&stream, &mut inbuf, &watch).await {
            Got::Data => {
                let now = Tick::now();
                watch.arm(now);
                now
            }
            got => match got.error_kind() {
                Some(kind) => {
                    core.error(kind, open.len() as u64);
                    return (true, owed);
                }
                None => return (false, owed),
            },
        };
        if conn.recv(&mut inbuf).is_err() {
            core.error(ErrorKind::Protocol, open.len() as u64);
            return (true, owed);
        }
        while let Some(event) = conn.poll_event() {
            match event {
                ClientEvent::Response {
                    stream_id,
                    response,
                    end_stream,
                } => {
                    if let Some(o) = open.get_mut(&stream_id) {
                        o.status = response.status().as_u16();
                    }
                    if end_stream {
                        finish(core, &mut open, stream_id, done);
                    }
                }
                ClientEvent::Data {
                    stream_id,
                    data,
                    end_stream,
                } => {
                    conn.release(stream_id, data.len());
                    if end_stream {
                        finish(core, &mut open, stream_id, done);
                    }
                }
                ClientEvent::Trailers { stream_id, .. } => finish(core, &mut open, stream_id, done),
                ClientEvent::Reset { stream_id, code } => {
                    if open.remove(&stream_id).is_some() {
                        if code == ErrorCode::RefusedStream {
                            owed += 1; // not processed: send it again
                        } else {
                            core.error(ErrorKind::Protocol, 1);
                        }
                    }
                }
                ClientEvent::GoAway { .. } => going_away = true,
                ClientEvent::Informational { .. } | ClientEvent::PingAck { .. } => {}
            }
        }
    }
}

fn finish(core: &Core, open: &mut OpenMap, stream_id: u32, now: Tick) {
    if let Some(o) = open.remove(&stream_id) {
        core.response(o.started, now, o.status);
    }
}
