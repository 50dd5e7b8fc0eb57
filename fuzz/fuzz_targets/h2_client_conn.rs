//! Arbitrary server bytes into the HTTP/2 client connection after it
//! opened three streams (a GET, a HEAD and a POST with a body), with a
//! caller that consumes every body and opens a new stream whenever the
//! connection allows. Checks: no panic; output stays bounded; the
//! client never has more streams open than the server allowed, and a
//! connection error leaves it done.
#![no_main]
use bytes::{Bytes, BytesMut};
use libfuzzer_sys::fuzz_target;
use percore_http::h2::conn::{ClientConnection, ClientEvent};
use percore_http::h2::frame;
use percore_http::Limits;

fuzz_target!(|data: &[u8]| {
    let limits = Limits::default().h2_max_header_list_size(4096);
    let mut conn = ClientConnection::new(&limits);
    let get = http::Request::get("http://fuzz/").body(()).unwrap();
    let head = http::Request::head("http://fuzz/h").body(()).unwrap();
    let post = http::Request::post("http://fuzz/p").body(()).unwrap();
    let _ = conn.send_request(&get, true);
    let _ = conn.send_request(&head, true);
    if let Ok(id) = conn.send_request(&post, false) {
        let _ = conn.send_data(id, Bytes::from(vec![b'x'; 100_000]), true);
    }
    // The server's first frame must be SETTINGS: start with an empty one,
    // so the input reaches the streams (later SETTINGS are fuzzed).
    let mut buf = BytesMut::new();
    frame::encode_settings(&Default::default(), &mut buf);
    let mut out = BytesMut::new();
    // The most streams the server ever allowed (three were open before
    // its SETTINGS could say anything).
    let mut allowed = 3usize;
    // The first byte picks the piece size.
    let step = data.first().map_or(1, |b| *b as usize % 64 + 1);
    for piece in data.get(1..).unwrap_or_default().chunks(step) {
        buf.extend_from_slice(piece);
        let failed = conn.recv(&mut buf).is_err();
        while let Some(ev) = conn.poll_event() {
            if let ClientEvent::Data {
                stream_id, data, ..
            } = ev
            {
                conn.release(stream_id, data.len());
            }
        }
        allowed = allowed.max(conn.max_concurrent_streams() as usize);
        if conn.can_open_stream() {
            let _ = conn.send_request(&get, true);
        }
        assert!(conn.active_streams() <= allowed);
        out.clear();
        conn.poll_output(&mut out, 1 << 20);
        assert!(out.len() < 4 << 20);
        if failed {
            assert!(conn.is_done());
            return;
        }
    }
});
