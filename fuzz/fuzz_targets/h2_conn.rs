//! Arbitrary bytes (after a valid preface) into the HTTP/2 server
//! connection, with a handler that answers every request and consumes
//! every body; an extended CONNECT (RFC 8441) is answered as a tunnel
//! (200 without END_STREAM) whose DATA is echoed back. Checks: no panic;
//! output stays bounded; the connection's table never holds more streams
//! than the limit.
#![no_main]
use bytes::{Bytes, BytesMut};
use libfuzzer_sys::fuzz_target;
use percore_http::h2::conn::{Event, ServerConnection};
use percore_http::h2::frame::PREFACE;
use percore_http::upgrade::Protocol;
use percore_http::Limits;

fuzz_target!(|data: &[u8]| {
    let limits = Limits::default().h2_max_concurrent_streams(8);
    let mut conn = ServerConnection::new(&limits);
    let mut buf = BytesMut::from(&PREFACE[..]);
    let mut out = BytesMut::new();
    // The first byte picks the piece size.
    let step = data.first().map_or(1, |b| *b as usize % 64 + 1);
    let mut tunnels = std::collections::HashSet::new();
    for piece in data.get(1..).unwrap_or_default().chunks(step) {
        buf.extend_from_slice(piece);
        let failed = conn.recv(&mut buf).is_err();
        while let Some(ev) = conn.poll_event() {
            match ev {
                Event::Request {
                    stream_id, request, ..
                } if request.extensions().get::<Protocol>().is_some() => {
                    tunnels.insert(stream_id);
                    let _ = conn.send_response(
                        stream_id,
                        http::StatusCode::OK,
                        &http::HeaderMap::new(),
                        false,
                    );
                }
                Event::Request { stream_id, .. } => {
                    let _ = conn.send_response(
                        stream_id,
                        http::StatusCode::OK,
                        &http::HeaderMap::new(),
                        false,
                    );
                    let _ = conn.send_data(stream_id, Bytes::from_static(b"fuzz"), true);
                }
                Event::Data {
                    stream_id,
                    data,
                    end_stream,
                } => {
                    conn.release(stream_id, data.len());
                    if tunnels.contains(&stream_id) {
                        let _ = conn.send_data(stream_id, data, end_stream);
                    }
                }
                Event::Reset { stream_id, .. } => {
                    tunnels.remove(&stream_id);
                }
                Event::Trailers { .. } => {}
            }
        }
        assert!(conn.active_streams() <= 8);
        out.clear();
        conn.poll_output(&mut out, 1 << 20);
        assert!(out.len() < 4 << 20);
        if failed {
            return;
        }
    }
});
