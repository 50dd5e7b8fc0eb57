//! Arbitrary bytes (after a valid preface) into the HTTP/2 server
//! connection, with a handler that answers every request and consumes
//! every body. Checks: no panic; output stays bounded; the connection's
//! table never holds more streams than the limit.
#![no_main]
use bytes::{Bytes, BytesMut};
use libfuzzer_sys::fuzz_target;
use percore_http::h2::conn::{Event, ServerConnection};
use percore_http::h2::frame::PREFACE;
use percore_http::Limits;

fuzz_target!(|data: &[u8]| {
    let limits = Limits::default()
        .h2_max_concurrent_streams(8);
    let mut conn = ServerConnection::new(&limits);
    let mut buf = BytesMut::from(&PREFACE[..]);
    let mut out = BytesMut::new();
    // The first byte picks the piece size.
    let step = data.first().map_or(1, |b| *b as usize % 64 + 1);
    for piece in data.get(1..).unwrap_or_default().chunks(step) {
        buf.extend_from_slice(piece);
        let failed = conn.recv(&mut buf).is_err();
        while let Some(ev) = conn.poll_event() {
            match ev {
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
                    stream_id, data, ..
                } => conn.release(stream_id, data.len()),
                Event::Trailers { .. } | Event::Reset { .. } => {}
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
