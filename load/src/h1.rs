//! HTTP/1.1 connections: the pre-encoded request written `depth` times at
//! once (pipelining; 1 without), then `depth` responses read with the
//! sans-IO response parser and body decoder.

use std::time::Instant;

use bytes::{Buf, BytesMut};
use http::Method;
use percore_http::h1::{
    parse_response_head, BodyEvent, ResponseDecoder, ResponseFraming, MAX_INTERIM_RESPONSES,
};
use percore_runtime::net::TcpStream;

use crate::h1_head::{scan, Scan};
use crate::io::{keep_connected, read_more, Got};
use crate::plan::Core;
use crate::stats::ErrorKind;

/// Runs one connection (reconnecting as needed) until the run is over.
pub async fn connection(core: &Core, depth: usize) {
    keep_connected(core, |stream, owed| session(core, stream, owed, depth)).await;
}

/// How reading one response ended.
enum Outcome {
    /// A complete response; whether the connection may carry more.
    Done { status: u16, keep_alive: bool },
    /// The connection failed: the waiting requests failed with this kind
    /// (`None`: the run is over, nothing counted).
    Failed(Option<ErrorKind>),
}

/// Sends batches of up to `depth` requests and reads their responses
/// until the connection must be replaced (`true`) or the run is over
/// (`false`); returns that and the requests still owed.
async fn session(core: &Core, stream: TcpStream, mut owed: u64, depth: usize) -> (bool, u64) {
    let plan = &core.plan;
    let mut buf = BytesMut::with_capacity(64 * 1024);
    loop {
        if owed < depth as u64 {
            owed += plan.budget.claim(depth as u64 - owed);
        }
        let batch = owed.min(depth as u64);
        if batch == 0 {
            return (false, 0);
        }
        let bytes = plan.h1_batch.slice(..batch as usize * plan.h1_len);
        let started = Instant::now();
        let (res, _) = stream.write_all(bytes).await;
        owed -= batch;
        if res.is_err() {
            core.error(ErrorKind::Io, batch);
            return (true, owed);
        }
        let mut waiting = batch;
        while waiting > 0 {
            match read_response(core, &stream, &mut buf).await {
                Outcome::Done { status, keep_alive } => {
                    core.response(started, status);
                    waiting -= 1;
                    if !keep_alive {
                        // The server answers no more on this connection:
                        // send the rest again on the next one.
                        return (true, owed + waiting);
                    }
                }
                Outcome::Failed(Some(kind)) => {
                    core.error(kind, waiting);
                    return (true, owed);
                }
                Outcome::Failed(None) => return (false, owed),
            }
        }
    }
}

/// What the load generator keeps of a response head.
struct Head {
    status: u16,
    framing: ResponseFraming,
    keep_alive: bool,
}

/// Reads one final response (skipping interim ones), body included.
async fn read_response(core: &Core, stream: &TcpStream, buf: &mut BytesMut) -> Outcome {
    let mut interim = 0;
    let head = loop {
        match read_head(core, stream, buf).await {
            // A server that sends interim heads forever is a protocol error,
            // not a request that never ends.
            Ok(head) if head.status < 200 => {
                interim += 1;
                if interim > MAX_INTERIM_RESPONSES {
                    return Outcome::Failed(Some(ErrorKind::Protocol));
                }
            }
            Ok(head) => break head,
            Err(outcome) => return outcome,
        }
    };
    let mut body = ResponseDecoder::new(head.framing, &core.plan.limits);
    loop {
        match body.decode(buf) {
            Ok(BodyEvent::End { .. }) => break,
            Ok(BodyEvent::Data(_)) => {}
            Ok(BodyEvent::NeedMore) => match read_more(stream, buf, core).await {
                Got::Data => {}
                Got::Closed if buf.is_empty() && body.decode_eof().is_some() => break,
                got => return Outcome::Failed(got.error_kind()),
            },
            Err(_) => return Outcome::Failed(Some(ErrorKind::Protocol)),
        }
    }
    Outcome::Done {
        status: head.status,
        keep_alive: head.keep_alive,
    }
}

/// Reads a response head: the allocation-free scan for plain heads,
/// percore's full parser for the rest.
async fn read_head(core: &Core, stream: &TcpStream, buf: &mut BytesMut) -> Result<Head, Outcome> {
    let plan = &core.plan;
    let head_request = plan.method == Method::HEAD;
    loop {
        let complete = match scan(buf, head_request, plan.limits.max_head_size) {
            Scan::Head(h) => {
                buf.advance(h.len);
                Some(Head {
                    status: h.status,
                    framing: h.framing,
                    keep_alive: h.keep_alive,
                })
            }
            Scan::Partial => None,
            Scan::Unusual => match parse_response_head(buf, &plan.method, &plan.limits) {
                Ok(head) => head.map(|h| Head {
                    status: h.status.as_u16(),
                    framing: h.body,
                    keep_alive: h.keep_alive,
                }),
                Err(_) => return Err(Outcome::Failed(Some(ErrorKind::Protocol))),
            },
        };
        if let Some(head) = complete {
            return Ok(head);
        }
        match read_more(stream, buf, core).await {
            Got::Data => {}
            got => return Err(Outcome::Failed(got.error_kind())),
        }
    }
}
