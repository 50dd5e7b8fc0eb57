//! WebSocket connections: the upgrade handshake, then echo round trips
//! (one binary message of `--msg-size` bytes out, its echo back) with the
//! sans-IO codec in the client role.

use std::rc::Rc;

use bytes::BytesMut;
use http::Method;
use percore_http::h1::{encode_request_head, parse_response_head, RequestFraming};
use percore_ws::handshake::{client_request_headers, verify_response};
use percore_ws::{Codec, Config, Message, Role};

use crate::clock::Tick;
use crate::conn::Conn;
use crate::io::{keep_connected, read_more, write_all, Alarm, Got, Watch};
use crate::plan::Core;
use crate::stats::ErrorKind;

/// Runs one connection (reconnecting as needed) until the run is over.
pub async fn connection(core: &Core) {
    keep_connected(core, |stream, owed, watch| {
        session(core, stream, owed, watch)
    })
    .await;
}

/// Upgrades, then runs round trips until the connection must be replaced
/// (`true`) or the run is over (`false`); returns that and the round trips
/// still owed. A failed upgrade is one failed round trip.
async fn session(core: &Core, stream: Conn, mut owed: u64, watch: Rc<Watch>) -> (bool, u64) {
    let mut buf = BytesMut::with_capacity(64 * 1024);
    watch.arm(Tick::now());
    if let Err(failure) = handshake(core, &stream, &mut buf, &watch).await {
        return match failure {
            Some(kind) => {
                core.error(kind, 1);
                (true, owed - 1)
            }
            None => (false, owed),
        };
    }
    let mut codec = Codec::new(Role::Client, Config::default());
    let mut out = BytesMut::with_capacity(core.plan.ws_payload.len() + 16);
    let message = Message::Binary(core.plan.ws_payload.clone());
    loop {
        if owed == 0 {
            owed = core.claim(1);
            if owed == 0 {
                return (false, 0);
            }
        }
        out.clear();
        if codec.encode(&message, &mut out).is_err() {
            core.error(ErrorKind::Protocol, 1);
            return (true, owed - 1);
        }
        let started = Tick::now();
        watch.arm(started);
        let (res, o) = match watch.guard(stream.write_all(out)).await {
            Ok(done) => done,
            Err(Alarm::Over) => return (false, owed),
            Err(Alarm::TimedOut) => {
                core.error(ErrorKind::Timeout, 1);
                return (true, owed - 1);
            }
        };
        out = o;
        owed -= 1;
        if res.is_err() {
            core.error(ErrorKind::Io, 1);
            return (true, owed);
        }
        loop {
            match codec.decode(&mut buf) {
                Ok(Some(Message::Binary(_) | Message::Text(_))) => {
                    core.response(started, Tick::now(), 200);
                    watch.disarm();
                    break;
                }
                Ok(Some(ping @ Message::Ping(_))) => {
                    let mut pong = BytesMut::new();
                    if let Some(reply) = ping.pong_reply() {
                        let _ = codec.encode(&reply, &mut pong);
                    }
                    if write_all(&stream, pong.freeze(), &watch).await.is_err() {
                        core.error(ErrorKind::Io, 1);
                        return (true, owed);
                    }
                }
                Ok(Some(Message::Pong(_))) => {}
                Ok(Some(Message::Close(_))) => {
                    core.error(ErrorKind::Io, 1);
                    return (true, owed);
                }
                Ok(None) => match read_more(&stream, &mut buf, &watch).await {
                    Got::Data => watch.arm(Tick::now()),
                    got => match got.error_kind() {
                        Some(kind) => {
                            core.error(kind, 1);
                            return (true, owed);
                        }
                        None => return (false, owed),
                    },
                },
                Err(_) => {
                    core.error(ErrorKind::Protocol, 1);
                    return (true, owed);
                }
            }
        }
    }
}

/// Sends the upgrade request and checks the answer; leaves any bytes
/// after the response head in `buf`. `Err(None)`: the run is over.
async fn handshake(
    core: &Core,
    stream: &Conn,
    buf: &mut BytesMut,
    watch: &Watch,
) -> Result<(), Option<ErrorKind>> {
    let target = &core.plan.target;
    let (key, headers) = client_request_headers(&target.authority, &[], None)
        .map_err(|_| Some(ErrorKind::Protocol))?;
    let mut request = BytesMut::new();
    encode_request_head(
        &mut request,
        &Method::GET,
        &target.path,
        &target.authority,
        &headers,
        RequestFraming::Empty,
    );
    write_all(stream, request.freeze(), watch).await?;
    let head = loop {
        match parse_response_head(buf, &Method::GET, &core.plan.limits) {
            Ok(Some(head)) => break head,
            Ok(None) => match read_more(stream, buf, watch).await {
                Got::Data => {}
                got => return Err(got.error_kind()),
            },
            Err(_) => return Err(Some(ErrorKind::Protocol)),
        }
    };
    verify_response(head.status, &head.headers, &key, &[], None)
        .map(|_| ())
        .map_err(|_| Some(ErrorKind::Protocol))
}
