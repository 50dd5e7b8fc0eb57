//! State-machine tests of the server connection: every error case of RFC
//! 9113 §5–§8 we handle, flow control, the attack limits, graceful
//! shutdown. A scripted client writes frames with the codec's encoders
//! and reads the server's output with a client-role decoder.

use bytes::{Bytes, BytesMut};
use http::{HeaderMap, Method, StatusCode};

use crate::h2::conn::{Event, ServerConnection};
use crate::h2::frame::{self, Frame, FrameDecoder, Role, Settings};
use crate::h2::hpack;
use crate::h2::ErrorCode;
use crate::Limits;

struct Client {
    conn: ServerConnection,
    enc: hpack::Encoder,
    dec: hpack::Decoder,
    frames: FrameDecoder,
    result: Result<(), crate::h2::H2Error>,
}

impl Client {
    fn new() -> Client {
        Client::with_limits(Limits::default())
    }

    /// Connected: preface and SETTINGS exchanged, server output drained.
    fn with_limits(limits: Limits) -> Client {
        let mut c = Client::raw(limits);
        let mut buf = BytesMut::from(&frame::PREFACE[..]);
        frame::encode_settings(&Settings::default(), &mut buf);
        frame::encode_settings_ack(&mut buf);
        c.feed(buf);
        let out = c.output();
        assert!(
            matches!(out[0], Frame::Settings(ref s) if !s.ack),
            "{out:?}"
        );
        assert!(out.iter().any(|f| matches!(f, Frame::Settings(s) if s.ack)));
        c
    }

    fn raw(limits: Limits) -> Client {
        Client {
            conn: ServerConnection::new(&limits),
            enc: hpack::Encoder::new(4096),
            dec: hpack::Decoder::new(4096),
            frames: FrameDecoder::new(Role::Client, frame::MAX_MAX_FRAME_SIZE),
            result: Ok(()),
        }
    }

    fn feed(&mut self, mut buf: BytesMut) {
        self.result = self.conn.recv(&mut buf);
    }

    fn output(&mut self) -> Vec<Frame> {
        let mut out = BytesMut::new();
        self.conn.poll_output(&mut out, usize::MAX);
        let mut frames = Vec::new();
        while let Some(f) = self.frames.decode(&mut out).expect("server output decodes") {
            frames.push(f);
        }
        assert!(out.is_empty());
        frames
    }

    fn block(&mut self, fields: &[(&str, &str)]) -> BytesMut {
        let mut block = BytesMut::new();
        self.enc.encode_fields(
            fields.iter().map(|(n, v)| (n.as_bytes(), v.as_bytes())),
            &mut block,
        );
        block
    }

    fn headers(&mut self, id: u32, fields: &[(&str, &str)], end_stream: bool) {
        let block = self.block(fields);
        let mut buf = BytesMut::new();
        frame::encode_headers(id, &block, end_stream, 16_384, &mut buf);
        self.feed(buf);
    }

    fn get(&mut self, id: u32, path: &str) {
        self.headers(
            id,
            &[
                (":method", "GET"),
                (":scheme", "http"),
                (":authority", "x"),
                (":path", path),
            ],
            true,
        );
    }

    fn post(&mut self, id: u32, extra: &[(&str, &str)]) {
        let mut fields = vec![
            (":method", "POST"),
            (":scheme", "http"),
            (":authority", "x"),
            (":path", "/echo"),
        ];
        fields.extend_from_slice(extra);
        self.headers(id, &fields, false);
    }

    fn data(&mut self, id: u32, data: &[u8], end: bool) {
        let mut buf = BytesMut::new();
        frame::encode_data(id, data, end, &mut buf);
        self.feed(buf);
    }

    /// Sends SETTINGS with this SETTINGS_INITIAL_WINDOW_SIZE.
    fn set_initial_window(&mut self, size: u32) {
        let mut buf = BytesMut::new();
        frame::encode_settings(
            &Settings {
                initial_window_size: Some(size),
                ..Settings::default()
            },
            &mut buf,
        );
        self.feed(buf);
    }

    fn events(&mut self) -> Vec<Event> {
        std::iter::from_fn(|| self.conn.poll_event()).collect()
    }

    fn goaway_code(&mut self) -> Option<ErrorCode> {
        self.output().into_iter().find_map(|f| match f {
            Frame::GoAway(g) => Some(g.code),
            _ => None,
        })
    }

    fn rst_code(&mut self, id: u32) -> Option<ErrorCode> {
        self.output().into_iter().find_map(|f| match f {
            Frame::RstStream(r) if r.stream_id == id => Some(r.code),
            _ => None,
        })
    }

    fn respond(&mut self, id: u32, body: &'static [u8]) {
        self.conn
            .send_response(id, StatusCode::OK, &HeaderMap::new(), body.is_empty())
            .unwrap();
        if !body.is_empty() {
            self.conn
                .send_data(id, Bytes::from_static(body), true)
                .unwrap();
        }
    }

    fn decode_status(&mut self, block: &Bytes) -> String {
        let fields = self.dec.decode(block, 1 << 20).unwrap();
        String::from_utf8(fields[0].value.to_vec()).unwrap()
    }
}

#[test]
fn bad_preface_is_a_protocol_error() {
    let mut c = Client::raw(Limits::default());
    c.feed(BytesMut::from(&b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"[..]));
    assert!(c.result.is_err());
    assert_eq!(c.goaway_code(), Some(ErrorCode::ProtocolError));
}

#[test]
fn first_frame_must_be_settings() {
    let mut c = Client::raw(Limits::default());
    let mut buf = BytesMut::from(&frame::PREFACE[..]);
    frame::encode_ping(*b"12345678", &mut buf);
    c.feed(buf);
    assert_eq!(c.goaway_code(), Some(ErrorCode::ProtocolError));
    assert!(c.conn.is_done());
}

#[test]
fn get_and_response_round_trip() {
    let mut c = Client::new();
    c.get(1, "/plaintext?x=1");
    let events = c.events();
    let Event::Request {
        stream_id: 1,
        request,
        end_stream: true,
    } = &events[0]
    else {
        panic!("{events:?}")
    };
    assert_eq!(request.method(), Method::GET);
    assert_eq!(request.uri().path_and_query().unwrap(), "/plaintext?x=1");
    assert_eq!(request.uri().authority().unwrap(), "x");
    assert_eq!(request.version(), http::Version::HTTP_2);
    c.respond(1, b"Hello");
    let out = c.output();
    let Frame::Headers(h) = &out[0] else {
        panic!("{out:?}")
    };
    assert!(!h.end_stream);
    assert_eq!(c.decode_status(&h.fragment), "200");
    assert!(matches!(&out[1], Frame::Data(d) if d.end_stream && &d.data[..] == b"Hello"));
    assert_eq!(c.conn.active_streams(), 0);
}

#[test]
fn ping_and_settings_are_acknowledged() {
    let mut c = Client::new();
    let mut buf = BytesMut::new();
    frame::encode_ping(*b"abcdefgh", &mut buf);
    frame::encode_settings(
        &Settings {
            header_table_size: Some(0),
            ..Settings::default()
        },
        &mut buf,
    );
    c.feed(buf);
    let out = c.output();
    assert!(out
        .iter()
        .any(|f| matches!(f, Frame::Ping(p) if p.ack && &p.payload == b"abcdefgh")));
    assert!(out.iter().any(|f| matches!(f, Frame::Settings(s) if s.ack)));
}

#[test]
fn stream_id_rules() {
    // Even id.
    let mut c = Client::new();
    c.get(2, "/");
    assert_eq!(c.goaway_code(), Some(ErrorCode::ProtocolError));
    // Lower than a previous one.
    let mut c = Client::new();
    c.get(5, "/");
    c.get(3, "/");
    assert_eq!(c.goaway_code(), Some(ErrorCode::ProtocolError));
    // DATA, WINDOW_UPDATE, RST_STREAM on an idle stream.
    for f in [
        (|b: &mut BytesMut| frame::encode_data(7, b"x", false, b)) as fn(&mut BytesMut),
        |b| frame::encode_window_update(7, 1, b),
        |b| frame::encode_rst_stream(7, ErrorCode::Cancel, b),
    ] {
        let mut c = Client::new();
        let mut buf = BytesMut::new();
        f(&mut buf);
        c.feed(buf);
        assert_eq!(c.goaway_code(), Some(ErrorCode::ProtocolError));
    }
}

#[test]
fn closed_and_half_closed_streams() {
    // HEADERS again after END_STREAM (half-closed remote): STREAM_CLOSED.
    let mut c = Client::new();
    c.get(1, "/");
    c.get(1, "/");
    assert_eq!(c.goaway_code(), Some(ErrorCode::StreamClosed));
    // DATA after END_STREAM: stream error STREAM_CLOSED.
    let mut c = Client::new();
    c.get(1, "/");
    c.data(1, b"late", false);
    assert_eq!(c.rst_code(1), Some(ErrorCode::StreamClosed));
    // DATA on a finished stream.
    let mut c = Client::new();
    c.get(1, "/");
    c.respond(1, b"ok");
    c.output();
    c.data(1, b"late", false);
    assert_eq!(c.rst_code(1), Some(ErrorCode::StreamClosed));
    // Frames that follow our RST_STREAM are ignored.
    let mut c = Client::new();
    c.post(1, &[]);
    c.conn.reset(1, ErrorCode::Cancel);
    c.output();
    c.data(1, b"in flight", false);
    assert!(c.result.is_ok());
    assert!(c.output().is_empty());
}

#[test]
fn malformed_requests_are_stream_errors() {
    let cases: &[&[(&str, &str)]] = &[
        &[(":method", "GET"), (":scheme", "http"), (":authority", "x")],
        &[
            (":method", "GET"),
            (":scheme", "http"),
            (":path", "/"),
            (":path", "/"),
        ],
        &[
            (":method", "GET"),
            (":scheme", "http"),
            (":path", "/"),
            (":foo", "bar"),
        ],
        &[
            (":method", "GET"),
            (":scheme", "http"),
            (":path", "/"),
            (":status", "200"),
        ],
        &[
            (":method", "GET"),
            ("accept", "*/*"),
            (":scheme", "http"),
            (":path", "/"),
        ],
        &[
            (":method", "GET"),
            (":scheme", "http"),
            (":path", "/"),
            ("Accept", "*/*"),
        ],
        &[
            (":method", "GET"),
            (":scheme", "http"),
            (":path", "/"),
            ("connection", "keep-alive"),
        ],
        &[
            (":method", "GET"),
            (":scheme", "http"),
            (":path", "/"),
            ("transfer-encoding", "chunked"),
        ],
        &[
            (":method", "GET"),
            (":scheme", "http"),
            (":path", "/"),
            ("te", "gzip"),
        ],
        &[(":method", "GET"), (":scheme", "http"), (":path", "")],
        &[
            (":method", "GET"),
            (":scheme", "http"),
            (":path", "/"),
            ("x", " padded"),
        ],
    ];
    for fields in cases {
        let mut c = Client::new();
        c.headers(1, fields, true);
        assert!(c.result.is_ok(), "{fields:?}");
        assert_eq!(c.rst_code(1), Some(ErrorCode::ProtocolError), "{fields:?}");
        assert!(c.events().is_empty(), "{fields:?}");
    }
    // `te: trailers` is fine, and cookies are joined.
    let mut c = Client::new();
    c.headers(
        1,
        &[
            (":method", "GET"),
            (":scheme", "http"),
            (":path", "/"),
            ("te", "trailers"),
            ("cookie", "a=1"),
            ("cookie", "b=2"),
        ],
        true,
    );
    let events = c.events();
    let Event::Request { request, .. } = &events[0] else {
        panic!()
    };
    assert_eq!(request.headers()["cookie"], "a=1; b=2");
}

#[test]
fn content_length_is_checked_against_data() {
    let mut c = Client::new();
    c.post(1, &[("content-length", "5")]);
    c.data(1, b"abc", true);
    assert_eq!(c.rst_code(1), Some(ErrorCode::ProtocolError));
    let mut c = Client::new();
    c.post(1, &[("content-length", "2")]);
    c.data(1, b"abc", false);
    assert_eq!(c.rst_code(1), Some(ErrorCode::ProtocolError));
    let mut c = Client::new();
    c.post(1, &[("content-length", "3")]);
    c.data(1, b"abc", true);
    assert!(c.rst_code(1).is_none());
}

#[test]
fn request_body_and_trailers() {
    let mut c = Client::new();
    c.post(1, &[]);
    c.data(1, b"part1", false);
    let block = c.block(&[("x-checksum", "abc"), ("content-length", "5")]);
    let mut buf = BytesMut::new();
    frame::encode_headers(1, &block, true, 16_384, &mut buf);
    c.feed(buf);
    let events = c.events();
    assert!(
        matches!(&events[1], Event::Data { data, end_stream: false, .. } if &data[..] == b"part1")
    );
    assert!(
        matches!(&events[2], Event::Trailers { trailers, .. } if trailers["x-checksum"] == "abc")
    );
    // A field a trailer may not carry is dropped, not passed on.
    assert!(matches!(&events[2], Event::Trailers { trailers, .. } if trailers.len() == 1));
    // Trailers without END_STREAM.
    let mut c = Client::new();
    c.post(1, &[]);
    let block = c.block(&[("x", "y")]);
    let mut buf = BytesMut::new();
    frame::encode_headers(1, &block, false, 16_384, &mut buf);
    c.feed(buf);
    assert_eq!(c.goaway_code(), Some(ErrorCode::ProtocolError));
}

#[test]
fn receive_flow_control() {
    let limits = Limits {
        h2_initial_window_size: 65_535,
        ..Limits::default()
    };
    // The stream window is exceeded: FLOW_CONTROL_ERROR on the stream.
    let mut c = Client::with_limits(limits.clone());
    c.post(1, &[]);
    let chunk = vec![0u8; 16_383];
    for _ in 0..4 {
        c.data(1, &chunk, false);
    }
    c.data(1, b"abc", false);
    assert!(c.rst_code(1).is_none(), "exactly the window is fine");
    c.data(1, b"x", false);
    assert_eq!(c.rst_code(1), Some(ErrorCode::FlowControlError));
    // Consumed bytes are given back with WINDOW_UPDATE.
    let mut c = Client::with_limits(limits);
    c.post(1, &[]);
    for _ in 0..3 {
        c.data(1, &chunk, false);
    }
    c.conn.release(1, 10_000);
    assert!(c.output().is_empty(), "updates wait for half a window");
    c.conn.release(1, 39_149);
    let out = c.output();
    assert!(
        out.iter().any(
            |f| matches!(f, Frame::WindowUpdate(w) if w.stream_id == 1 && w.increment == 49_149)
        ),
        "{out:?}"
    );
}

#[test]
fn send_flow_control_and_initial_window_changes() {
    let mut c = Client::new();
    // The client allows 10 bytes per stream.
    c.set_initial_window(10);
    c.output();
    c.get(1, "/");
    c.conn
        .send_response(1, StatusCode::OK, &HeaderMap::new(), false)
        .unwrap();
    c.conn
        .send_data(1, Bytes::from(vec![b'a'; 25]), true)
        .unwrap();
    let out = c.output();
    let sent: usize = out
        .iter()
        .map(|f| {
            if let Frame::Data(d) = f {
                d.data.len()
            } else {
                0
            }
        })
        .sum();
    assert_eq!(sent, 10);
    assert!(c.conn.is_blocked_on_window(1));
    // A larger initial window applies to the open stream.
    c.set_initial_window(20);
    let out = c.output();
    let sent: usize = out
        .iter()
        .map(|f| {
            if let Frame::Data(d) = f {
                d.data.len()
            } else {
                0
            }
        })
        .sum();
    assert_eq!(sent, 10);
    // WINDOW_UPDATE releases the rest.
    let mut buf = BytesMut::new();
    frame::encode_window_update(1, 100, &mut buf);
    c.feed(buf);
    let out = c.output();
    assert!(
        matches!(out.last(), Some(Frame::Data(d)) if d.end_stream && d.data.len() == 5),
        "{out:?}"
    );
    // Window overflow.
    let mut buf = BytesMut::new();
    frame::encode_window_update(0, frame::MAX_WINDOW_SIZE, &mut buf);
    c.feed(buf);
    assert_eq!(c.goaway_code(), Some(ErrorCode::FlowControlError));
}

#[test]
fn streams_share_the_connection_fairly() {
    let mut c = Client::new();
    c.get(1, "/");
    c.get(3, "/");
    for id in [1, 3] {
        c.conn
            .send_response(id, StatusCode::OK, &HeaderMap::new(), false)
            .unwrap();
        c.conn
            .send_data(id, Bytes::from(vec![0u8; 40_000]), true)
            .unwrap();
    }
    let out = c.output();
    let order: Vec<u32> = out
        .iter()
        .filter_map(|f| {
            if let Frame::Data(d) = f {
                Some(d.stream_id)
            } else {
                None
            }
        })
        .collect();
    // 65535 bytes of connection window: frames alternate 1, 3, 1, 3...
    assert!(order.len() >= 4, "{order:?}");
    assert_eq!(&order[..4], &[1, 3, 1, 3]);
}

#[test]
fn concurrent_stream_limit_refuses() {
    let mut c = Client::with_limits(Limits {
        h2_max_concurrent_streams: 2,
        ..Limits::default()
    });
    c.get(1, "/");
    c.get(3, "/");
    c.get(5, "/");
    assert_eq!(c.rst_code(5), Some(ErrorCode::RefusedStream));
    assert_eq!(c.events().len(), 2);
}

#[test]
fn rapid_reset_gets_enhance_your_calm() {
    let mut c = Client::new();
    let mut id = 1;
    for _ in 0..20 {
        c.get(id, "/");
        let mut buf = BytesMut::new();
        frame::encode_rst_stream(id, ErrorCode::Cancel, &mut buf);
        c.feed(buf);
        id += 2;
    }
    assert!(c.result.is_ok());
    c.get(id, "/");
    let mut buf = BytesMut::new();
    frame::encode_rst_stream(id, ErrorCode::Cancel, &mut buf);
    c.feed(buf);
    assert_eq!(c.goaway_code(), Some(ErrorCode::EnhanceYourCalm));
}

#[test]
fn continuation_flood_is_cut_off() {
    let mut c = Client::new();
    let block = c.block(&[(":method", "GET"), (":scheme", "http"), (":path", "/")]);
    let mut buf = BytesMut::new();
    // HEADERS without END_HEADERS, then CONTINUATION frames that never end.
    let mut head = BytesMut::new();
    frame::encode_headers(1, &block, true, 16_384, &mut head);
    head[4] &= !0x4; // clear END_HEADERS
    buf.extend_from_slice(&head);
    for _ in 0..100 {
        frame::encode_continuation(1, &[0x40, 0x01, b'a', 0x01, b'b'], false, &mut buf);
    }
    c.feed(buf);
    assert_eq!(c.goaway_code(), Some(ErrorCode::EnhanceYourCalm));
}

/// A header block still waiting for END_HEADERS may hold exactly twice the
/// header-list limit plus 1 KiB; one byte more is refused before it is
/// buffered (the block grows in place, so large blocks cost no copies).
#[test]
fn pending_header_block_is_bounded_at_its_limit() {
    let limit = 2 * 16 * 1024 + 1024;
    for (extra, refused) in [(0, false), (1, true)] {
        let mut c = Client::new();
        let mut buf = BytesMut::new();
        let mut head = BytesMut::new();
        frame::encode_headers(1, &[0u8; 1024], true, 16_384, &mut head);
        head[4] &= !0x4; // clear END_HEADERS
        buf.extend_from_slice(&head);
        let mut sent = 1024;
        while sent < limit + extra {
            let n = (limit + extra - sent).min(16_384);
            frame::encode_continuation(1, &vec![0u8; n], false, &mut buf);
            sent += n;
        }
        c.feed(buf);
        let code = c.goaway_code();
        if refused {
            assert_eq!(code, Some(ErrorCode::EnhanceYourCalm));
        } else {
            assert_eq!(code, None, "a block of exactly the limit is kept");
        }
    }
}

#[test]
fn empty_data_and_ping_floods() {
    let mut c = Client::new();
    c.post(1, &[]);
    let mut buf = BytesMut::new();
    for _ in 0..101 {
        frame::encode_data(1, b"", false, &mut buf);
    }
    c.feed(buf);
    assert_eq!(c.goaway_code(), Some(ErrorCode::EnhanceYourCalm));

    let mut c = Client::new();
    let mut buf = BytesMut::new();
    for _ in 0..100 {
        frame::encode_ping(*b"flooding", &mut buf);
    }
    c.feed(buf);
    assert_eq!(c.goaway_code(), Some(ErrorCode::EnhanceYourCalm));
}

#[test]
fn too_large_header_list_gets_431() {
    let mut c = Client::with_limits(Limits {
        h2_max_header_list_size: 200,
        ..Limits::default()
    });
    // Many small fields (name + value + 32 each) add up past the limit.
    let mut fields = vec![(":method", "GET"), (":scheme", "http"), (":path", "/")];
    fields.extend(std::iter::repeat_n(("x-field", "some value"), 10));
    c.headers(1, &fields, true);
    assert!(c.result.is_ok());
    let out = c.output();
    let Frame::Headers(h) = &out[0] else {
        panic!("{out:?}")
    };
    assert_eq!(c.decode_status(&h.fragment.clone()), "431");
    // The connection goes on.
    c.get(3, "/");
    assert_eq!(c.events().len(), 1);
}

#[test]
fn bad_hpack_is_a_compression_error() {
    let mut c = Client::new();
    let mut buf = BytesMut::new();
    frame::encode_headers(
        1,
        &[0xff, 0xff, 0xff, 0xff, 0xff, 0xff],
        true,
        16_384,
        &mut buf,
    );
    c.feed(buf);
    assert_eq!(c.goaway_code(), Some(ErrorCode::CompressionError));
}

#[test]
fn graceful_goaway_finishes_open_streams() {
    let mut c = Client::new();
    c.get(1, "/");
    c.conn.go_away();
    let out = c.output();
    assert!(out.iter().any(
        |f| matches!(f, Frame::GoAway(g) if g.last_stream_id == 1 && g.code == ErrorCode::NoError)
    ));
    assert!(!c.conn.is_done());
    // A new stream is refused; the open one still gets its answer.
    c.get(3, "/");
    assert_eq!(c.rst_code(3), Some(ErrorCode::RefusedStream));
    c.respond(1, b"bye");
    assert!(c
        .output()
        .iter()
        .any(|f| matches!(f, Frame::Data(d) if d.stream_id == 1 && d.end_stream)));
    assert!(c.conn.is_done());
}

#[test]
fn upgraded_connection_answers_stream_one() {
    let settings = {
        let mut b = BytesMut::new();
        Settings {
            initial_window_size: Some(100),
            ..Settings::default()
        }
        .encode_payload(&mut b);
        b
    };
    let mut conn = ServerConnection::new_upgraded(&Limits::default(), &settings).unwrap();
    conn.send_response(1, StatusCode::OK, &HeaderMap::new(), false)
        .unwrap();
    conn.send_data(1, Bytes::from(vec![1u8; 150]), true)
        .unwrap();
    let mut out = BytesMut::new();
    conn.poll_output(&mut out, usize::MAX);
    let mut dec = FrameDecoder::new(Role::Client, 16_384);
    let mut data = 0;
    while let Some(f) = dec.decode(&mut out).unwrap() {
        if let Frame::Data(d) = f {
            data += d.data.len();
        }
    }
    // The HTTP2-Settings window of 100 applies.
    assert_eq!(data, 100);
}

#[test]
fn input_split_anywhere_gives_the_same_events() {
    let mut whole = Client::new();
    let mut script = BytesMut::new();
    let block = whole.block(&[(":method", "POST"), (":scheme", "http"), (":path", "/a")]);
    frame::encode_headers(1, &block, false, 16_384, &mut script);
    frame::encode_data(1, b"hello", true, &mut script);
    whole.feed(script.clone());
    let expected = format!("{:?}", whole.events());
    for cut in 1..script.len() {
        let mut c = Client::new();
        c.enc = hpack::Encoder::new(4096);
        let mut first = script.clone();
        let second = first.split_off(cut);
        let mut buf = first;
        c.result = c.conn.recv(&mut buf);
        buf.extend_from_slice(&second);
        c.result = c.conn.recv(&mut buf);
        assert_eq!(format!("{:?}", c.events()), expected, "cut at {cut}");
    }
}

#[test]
fn self_dependency_resets_the_stream_but_keeps_hpack_in_step() {
    let mut c = Client::new();
    let block = c.block(&[
        (":method", "GET"),
        (":scheme", "http"),
        (":path", "/"),
        ("x-indexed", "v"),
    ]);
    let mut buf = BytesMut::new();
    frame::encode_headers(1, &block, true, 16_384, &mut buf);
    // Set PRIORITY with stream 1 depending on itself.
    let mut framed = BytesMut::new();
    let len = block.len() + 5;
    framed.extend_from_slice(&[
        (len >> 16) as u8,
        (len >> 8) as u8,
        len as u8,
        0x1,
        0x4 | 0x1 | 0x20,
        0,
        0,
        0,
        1,
    ]);
    framed.extend_from_slice(&[0, 0, 0, 1, 16]);
    framed.extend_from_slice(&block);
    c.feed(framed);
    assert_eq!(c.rst_code(1), Some(ErrorCode::ProtocolError));
    // The next block refers to the entry the first one indexed.
    c.headers(
        3,
        &[
            (":method", "GET"),
            (":scheme", "http"),
            (":path", "/"),
            ("x-indexed", "v"),
        ],
        true,
    );
    let events = c.events();
    assert!(
        matches!(&events[..], [Event::Request { stream_id: 3, request, .. }] if request.headers()["x-indexed"] == "v"),
        "{events:?}"
    );
}

#[test]
fn a_window_kept_shut_expires_the_stream() {
    use std::time::{Duration, Instant};
    let timeout = Duration::from_secs(30);
    let mut c = Client::new();
    // The client allows no DATA at all on new streams.
    c.set_initial_window(0);
    c.output();
    c.get(1, "/");
    c.get(3, "/");
    for id in [1, 3] {
        c.conn
            .send_response(id, StatusCode::OK, &HeaderMap::new(), false)
            .unwrap();
        c.conn
            .send_data(id, Bytes::from_static(b"hello"), true)
            .unwrap();
    }
    c.output();
    let t0 = Instant::now();
    assert_eq!(c.conn.expire_window_stalls(t0, timeout), Some(t0 + timeout));
    // Stream 3 gets a little window: its DATA goes out and its clock restarts.
    let mut buf = BytesMut::new();
    frame::encode_window_update(3, 2, &mut buf);
    c.feed(buf);
    c.output();
    let t1 = t0 + Duration::from_secs(10);
    assert_eq!(c.conn.expire_window_stalls(t1, timeout), Some(t0 + timeout));
    // Just before its deadline stream 1 is still there.
    let almost = t0 + timeout - Duration::from_millis(1);
    assert_eq!(
        c.conn.expire_window_stalls(almost, timeout),
        Some(t0 + timeout)
    );
    assert_eq!(c.conn.active_streams(), 2);
    // At the deadline it is reset with CANCEL; stream 3 waits until t1 + timeout.
    let at = t0 + timeout;
    assert_eq!(c.conn.expire_window_stalls(at, timeout), Some(t1 + timeout));
    assert_eq!(c.rst_code(1), Some(ErrorCode::Cancel));
    assert_eq!(c.conn.active_streams(), 1);
    assert_eq!(c.conn.expire_window_stalls(t1 + timeout, timeout), None);
    assert_eq!(c.conn.active_streams(), 0);
}

#[test]
fn response_trailers_follow_the_data() {
    let mut c = Client::new();
    c.get(1, "/");
    c.conn
        .send_response(1, StatusCode::OK, &HeaderMap::new(), false)
        .unwrap();
    c.conn
        .send_data(1, Bytes::from_static(b"body"), false)
        .unwrap();
    let mut trailers = HeaderMap::new();
    trailers.insert("x-checksum", http::HeaderValue::from_static("abc"));
    trailers.insert("connection", http::HeaderValue::from_static("close"));
    c.conn.send_trailers(1, trailers).unwrap();
    // Nothing more may be sent on the stream once its trailers are queued.
    assert!(c
        .conn
        .send_data(1, Bytes::from_static(b"late"), true)
        .is_err());
    let out = c.output();
    let kinds: Vec<(&str, bool)> = out
        .iter()
        .filter_map(|f| match f {
            Frame::Headers(h) => Some(("headers", h.end_stream)),
            Frame::Data(d) => Some(("data", d.end_stream)),
            _ => None,
        })
        .collect();
    assert_eq!(
        kinds,
        [("headers", false), ("data", false), ("headers", true)]
    );
    let Some(Frame::Headers(last)) = out.iter().rev().find(|f| matches!(f, Frame::Headers(_)))
    else {
        unreachable!()
    };
    let status = out.iter().find_map(|f| match f {
        Frame::Headers(h) if !h.end_stream => Some(h.fragment.clone()),
        _ => None,
    });
    assert_eq!(c.decode_status(&status.unwrap()), "200");
    let fields = c.dec.decode(&last.fragment, 1 << 20).unwrap();
    let fields: Vec<(&[u8], &[u8])> = fields.iter().map(|f| (&f.name[..], &f.value[..])).collect();
    // Connection-specific fields never reach HTTP/2.
    assert_eq!(fields, [(&b"x-checksum"[..], &b"abc"[..])]);
    assert_eq!(c.conn.active_streams(), 0);
}

#[test]
fn too_many_stream_errors_close_the_connection() {
    let mut c = Client::with_limits(Limits {
        h2_max_local_error_resets: 3,
        ..Limits::default()
    });
    let uppercase = [
        (":method", "GET"),
        (":scheme", "http"),
        (":path", "/"),
        ("X-Upper", "1"),
    ];
    // Each malformed request costs the peer one RST_STREAM...
    for id in [1, 3, 5] {
        c.headers(id, &uppercase, true);
        assert_eq!(c.rst_code(id), Some(ErrorCode::ProtocolError));
        assert!(c.result.is_ok());
    }
    // ...and one more than the limit costs it the connection.
    c.headers(7, &uppercase, true);
    assert!(c.result.is_err());
    assert_eq!(c.goaway_code(), Some(ErrorCode::EnhanceYourCalm));
}

/// A connection whose stream 1 (a POST with `extra` fields, body still
/// coming) has been answered completely: the request is being drained.
fn answered_early(limits: Limits, extra: &[(&str, &str)]) -> Client {
    let mut c = Client::with_limits(limits);
    c.post(1, extra);
    assert!(matches!(
        &c.events()[..],
        [Event::Request { stream_id: 1, .. }]
    ));
    c.respond(1, b"done");
    let out = c.output();
    assert!(
        out.iter()
            .any(|f| matches!(f, Frame::Data(d) if d.stream_id == 1 && d.end_stream)),
        "{out:?}"
    );
    assert!(
        !out.iter().any(|f| matches!(f, Frame::RstStream(_))),
        "the answered request is drained, not reset at once: {out:?}"
    );
    c
}

fn rst(c: &mut Client, id: u32, code: ErrorCode) {
    let mut buf = BytesMut::new();
    frame::encode_rst_stream(id, code, &mut buf);
    c.feed(buf);
}

#[test]
fn early_answer_frames_after_the_clients_reset_are_stream_closed() {
    // DATA after the client's own RST_STREAM: STREAM_CLOSED on the stream.
    let mut c = answered_early(Limits::default(), &[]);
    rst(&mut c, 1, ErrorCode::Cancel);
    assert!(c.result.is_ok());
    assert!(c.output().is_empty());
    c.data(1, b"late", false);
    assert!(c.result.is_ok());
    assert_eq!(c.rst_code(1), Some(ErrorCode::StreamClosed));
    // HEADERS after it: STREAM_CLOSED on the connection.
    let mut c = answered_early(Limits::default(), &[]);
    rst(&mut c, 1, ErrorCode::Cancel);
    c.headers(1, &[("x-late", "1")], true);
    assert_eq!(c.goaway_code(), Some(ErrorCode::StreamClosed));
}

#[test]
fn early_answer_second_headers_without_end_stream_is_an_error() {
    let mut c = answered_early(Limits::default(), &[]);
    c.headers(1, &[("x-more", "1")], false);
    assert!(c.result.is_err());
    assert_eq!(c.goaway_code(), Some(ErrorCode::ProtocolError));
}

#[test]
fn early_answer_trailers_with_a_pseudo_header_are_an_error() {
    let mut c = answered_early(Limits::default(), &[]);
    c.headers(1, &[(":path", "/x")], true);
    assert!(c.result.is_ok());
    assert_eq!(c.rst_code(1), Some(ErrorCode::ProtocolError));
    assert_eq!(c.conn.active_streams(), 0);
    // Good trailers end the drained request quietly (and reach nobody).
    let mut c = answered_early(Limits::default(), &[]);
    c.headers(1, &[("x-checksum", "abc")], true);
    assert!(c.result.is_ok());
    assert!(c.output().is_empty());
    assert!(c.events().is_empty());
    assert_eq!(c.conn.active_streams(), 0);
}

#[test]
fn early_answer_window_update_overflow_is_a_stream_error() {
    let mut c = answered_early(Limits::default(), &[]);
    let mut buf = BytesMut::new();
    frame::encode_window_update(1, frame::MAX_WINDOW_SIZE, &mut buf);
    c.feed(buf);
    assert!(c.result.is_ok());
    assert_eq!(c.rst_code(1), Some(ErrorCode::FlowControlError));
}

#[test]
fn early_answer_content_length_is_still_checked() {
    // One DATA frame, shorter than announced, ends the request.
    let mut c = answered_early(Limits::default(), &[("content-length", "5")]);
    c.data(1, b"abc", true);
    assert_eq!(c.rst_code(1), Some(ErrorCode::ProtocolError));
    // Several DATA frames add up past it.
    let mut c = answered_early(Limits::default(), &[("content-length", "5")]);
    c.data(1, b"abc", false);
    assert!(c.rst_code(1).is_none());
    c.data(1, b"abc", false);
    assert_eq!(c.rst_code(1), Some(ErrorCode::ProtocolError));
    // Several DATA frames stop short of it.
    let mut c = answered_early(Limits::default(), &[("content-length", "9")]);
    c.data(1, b"abc", false);
    c.data(1, b"abc", true);
    assert_eq!(c.rst_code(1), Some(ErrorCode::ProtocolError));
    // Exactly the length: the request ends, nothing is reset.
    let mut c = answered_early(Limits::default(), &[("content-length", "6")]);
    c.data(1, b"abc", false);
    c.data(1, b"abc", true);
    assert!(c.result.is_ok());
    assert!(c.rst_code(1).is_none());
    assert_eq!(c.conn.active_streams(), 0);
    // A length beyond max_drain_size is not waited for: reset at once.
    let limits = Limits {
        max_drain_size: 100,
        ..Limits::default()
    };
    let mut c = Client::with_limits(limits);
    c.post(1, &[("content-length", "101")]);
    c.respond(1, b"done");
    let out = c.output();
    assert!(
        out.iter().any(
            |f| matches!(f, Frame::RstStream(r) if r.stream_id == 1 && r.code == ErrorCode::NoError)
        ),
        "{out:?}"
    );
}

#[test]
fn early_answer_data_is_discarded_and_its_window_given_back() {
    let limits = Limits {
        h2_initial_window_size: 65_535,
        max_drain_size: 1 << 20,
        ..Limits::default()
    };
    let mut c = answered_early(limits, &[]);
    // Three stream windows' worth: accepted only if each is given back.
    let chunk = vec![7u8; 16_384];
    let mut stream_updates = 0u64;
    for _ in 0..12 {
        c.data(1, &chunk, false);
        assert!(c.result.is_ok());
        for f in c.output() {
            match f {
                Frame::WindowUpdate(w) if w.stream_id == 1 => {
                    stream_updates += u64::from(w.increment)
                }
                Frame::WindowUpdate(_) => {}
                other => panic!("unexpected {other:?}"),
            }
        }
    }
    assert!(stream_updates >= 12 * 16_384 - 65_535, "{stream_updates}");
    assert!(c.events().is_empty(), "drained data reaches nobody");
    c.data(1, b"end", true);
    assert!(c.result.is_ok());
    assert!(c.output().iter().all(|f| !matches!(f, Frame::RstStream(_))));
    assert_eq!(c.conn.active_streams(), 0);
}

#[test]
fn early_answer_drain_is_bounded_in_bytes() {
    let limits = Limits {
        max_drain_size: 1000,
        ..Limits::default()
    };
    let mut c = answered_early(limits, &[]);
    c.data(1, &[0; 600], false);
    assert!(c.rst_code(1).is_none());
    c.data(1, &[0; 600], false);
    assert_eq!(c.rst_code(1), Some(ErrorCode::NoError));
    assert_eq!(c.conn.active_streams(), 0);
    // What was in flight when we reset it is ignored.
    c.data(1, &[0; 600], false);
    assert!(c.result.is_ok());
    assert!(c
        .output()
        .iter()
        .all(|f| matches!(f, Frame::WindowUpdate(w) if w.stream_id == 0)));
}

#[test]
fn early_answer_drain_is_bounded_in_time() {
    use std::time::{Duration, Instant};
    let timeout = Duration::from_secs(30);
    let mut c = answered_early(Limits::default(), &[]);
    let t0 = Instant::now();
    assert_eq!(c.conn.expire_drains(t0, timeout), Some(t0 + timeout));
    // Data does not restart the clock.
    c.data(1, b"more", false);
    let almost = t0 + timeout - Duration::from_millis(1);
    assert_eq!(c.conn.expire_drains(almost, timeout), Some(t0 + timeout));
    assert!(c.rst_code(1).is_none());
    let at = t0 + timeout;
    assert_eq!(c.conn.expire_drains(at, timeout), Some(at));
    assert_eq!(c.rst_code(1), Some(ErrorCode::NoError));
    assert_eq!(c.conn.active_streams(), 0);
    assert_eq!(c.conn.expire_drains(at, timeout), None);
    // A zero timeout (the input ended) resets at once.
    let mut c = answered_early(Limits::default(), &[]);
    let now = Instant::now();
    assert_eq!(c.conn.expire_drains(now, Duration::ZERO), Some(now));
    assert_eq!(c.rst_code(1), Some(ErrorCode::NoError));
}

#[test]
fn early_answer_reset_by_the_client_is_not_a_rapid_reset() {
    let limits = Limits {
        h2_max_pending_resets: 2,
        ..Limits::default()
    };
    let mut c = Client::with_limits(limits);
    for id in (1..40).step_by(2) {
        c.post(id, &[]);
        c.respond(id, b"done");
        c.output();
        rst(&mut c, id, ErrorCode::Cancel);
        assert!(c.result.is_ok(), "stream {id}");
    }
    assert_eq!(c.goaway_code(), None);
}

#[test]
fn early_answer_drain_ends_with_a_graceful_shutdown() {
    let mut c = answered_early(Limits::default(), &[]);
    c.get(3, "/");
    c.conn.go_away();
    let out = c.output();
    assert!(
        matches!(&out[..], [Frame::GoAway(g), Frame::RstStream(r)]
            if g.last_stream_id == 3 && r.stream_id == 1 && r.code == ErrorCode::NoError),
        "{out:?}"
    );
    // Stream 3, not answered yet, still is.
    assert_eq!(c.conn.active_streams(), 1);
    c.respond(3, b"bye");
    c.output();
    assert!(c.conn.is_done());
}

/// An RFC 8441 extended CONNECT for `path`, plus `extra` fields.
fn extended_connect<'a>(path: &'a str, extra: &[(&'a str, &'a str)]) -> Vec<(&'a str, &'a str)> {
    let mut fields = vec![
        (":method", "CONNECT"),
        (":protocol", "websocket"),
        (":scheme", "https"),
        (":authority", "x"),
        (":path", path),
    ];
    fields.extend_from_slice(extra);
    fields
}

#[test]
fn connect_protocol_is_advertised_unless_turned_off() {
    let mut c = Client::raw(Limits::default());
    let mut buf = BytesMut::from(&frame::PREFACE[..]);
    frame::encode_settings(&Settings::default(), &mut buf);
    c.feed(buf);
    let out = c.output();
    let Frame::Settings(s) = &out[0] else {
        panic!("{out:?}")
    };
    assert_eq!(s.settings.enable_connect_protocol, Some(true));
    let mut c = Client::raw(Limits::default().h2_enable_connect_protocol(false));
    let mut buf = BytesMut::from(&frame::PREFACE[..]);
    frame::encode_settings(&Settings::default(), &mut buf);
    c.feed(buf);
    let out = c.output();
    let Frame::Settings(s) = &out[0] else {
        panic!("{out:?}")
    };
    assert_eq!(s.settings.enable_connect_protocol, None);
}

#[test]
fn extended_connect_opens_a_tunnel_both_ways() {
    let mut c = Client::new();
    let fields = extended_connect("/ws?room=1", &[("sec-websocket-version", "13")]);
    c.headers(1, &fields, false);
    assert!(c.result.is_ok());
    let events = c.events();
    let Event::Request {
        stream_id: 1,
        request,
        end_stream: false,
    } = &events[0]
    else {
        panic!("{events:?}")
    };
    assert_eq!(request.method(), Method::CONNECT);
    assert_eq!(request.uri().path_and_query().unwrap(), "/ws?room=1");
    assert_eq!(request.uri().scheme_str(), Some("https"));
    assert_eq!(request.uri().authority().unwrap(), "x");
    let protocol = request.extensions().get::<crate::upgrade::Protocol>();
    assert!(protocol.is_some_and(|p| p.is("websocket")));
    c.conn
        .send_response(1, StatusCode::OK, &HeaderMap::new(), false)
        .unwrap();
    c.conn
        .send_data(1, Bytes::from_static(b"\x81\x02hi"), false)
        .unwrap();
    let out = c.output();
    assert!(
        matches!(&out[0], Frame::Headers(h) if !h.end_stream),
        "{out:?}"
    );
    assert!(matches!(&out[1], Frame::Data(d) if !d.end_stream && &d.data[..] == b"\x81\x02hi"));
    // The client's frames flow once the tunnel is open, with no length to add up to.
    c.data(1, b"\x81\x82abcdXY", false);
    c.data(1, b"more", false);
    assert!(c.result.is_ok());
    let events = c.events();
    assert!(
        matches!(
            &events[..],
            [
                Event::Data {
                    end_stream: false,
                    ..
                },
                Event::Data {
                    end_stream: false,
                    ..
                }
            ]
        ),
        "{events:?}"
    );
    // The server ends its side, then the client does: the stream is done.
    c.conn.send_data(1, Bytes::new(), true).unwrap();
    let out = c.output();
    assert!(matches!(&out[0], Frame::Data(d) if d.end_stream));
    c.data(1, b"", true);
    assert!(c.result.is_ok());
    assert_eq!(c.conn.active_streams(), 0);
}

#[test]
fn malformed_extended_connects_are_stream_errors() {
    let cases: Vec<(&str, Vec<(&str, &str)>)> = vec![
        (
            "no :path",
            vec![
                (":method", "CONNECT"),
                (":protocol", "websocket"),
                (":scheme", "https"),
                (":authority", "x"),
            ],
        ),
        (
            "no :scheme",
            vec![
                (":method", "CONNECT"),
                (":protocol", "websocket"),
                (":authority", "x"),
                (":path", "/ws"),
            ],
        ),
        (
            "no :authority",
            vec![
                (":method", "CONNECT"),
                (":protocol", "websocket"),
                (":scheme", "https"),
                (":path", "/ws"),
            ],
        ),
        (
            ":protocol on GET",
            vec![
                (":method", "GET"),
                (":protocol", "websocket"),
                (":scheme", "https"),
                (":authority", "x"),
                (":path", "/ws"),
            ],
        ),
        (
            "empty :protocol",
            vec![
                (":method", "CONNECT"),
                (":protocol", ""),
                (":scheme", "https"),
                (":authority", "x"),
                (":path", "/ws"),
            ],
        ),
        (
            "two :protocol",
            vec![
                (":method", "CONNECT"),
                (":protocol", "websocket"),
                (":protocol", "websocket"),
                (":scheme", "https"),
                (":authority", "x"),
                (":path", "/ws"),
            ],
        ),
        (
            ":protocol after a regular field",
            vec![
                (":method", "CONNECT"),
                (":scheme", "https"),
                (":authority", "x"),
                (":path", "/ws"),
                ("sec-websocket-version", "13"),
                (":protocol", "websocket"),
            ],
        ),
        (
            "plain CONNECT with :path",
            vec![
                (":method", "CONNECT"),
                (":authority", "x:443"),
                (":path", "/ws"),
            ],
        ),
    ];
    for (what, fields) in cases {
        let mut c = Client::new();
        c.headers(1, &fields, false);
        assert!(c.result.is_ok(), "{what}: not a connection error");
        assert_eq!(c.rst_code(1), Some(ErrorCode::ProtocolError), "{what}");
        assert!(c.events().is_empty(), "{what}");
    }
    // The client ends the request in its HEADERS: no tunnel to open.
    let mut c = Client::new();
    c.headers(1, &extended_connect("/ws", &[]), true);
    assert_eq!(c.rst_code(1), Some(ErrorCode::ProtocolError));
    // :protocol from a client we never offered the setting to.
    let mut c = Client::with_limits(Limits::default().h2_enable_connect_protocol(false));
    c.headers(1, &extended_connect("/ws", &[]), false);
    assert_eq!(c.rst_code(1), Some(ErrorCode::ProtocolError));
    assert!(c.events().is_empty());
    // A plain CONNECT is still the RFC 9113 kind.
    let mut c = Client::new();
    c.headers(1, &[(":method", "CONNECT"), (":authority", "x:443")], false);
    assert!(matches!(&c.events()[..], [Event::Request { .. }]));
}

#[test]
fn a_tunnel_takes_no_data_before_its_answer_and_no_headers_after() {
    let mut c = Client::new();
    c.headers(1, &extended_connect("/ws", &[]), false);
    assert_eq!(c.events().len(), 1);
    c.data(1, b"too early", false);
    assert!(c.result.is_ok());
    assert_eq!(c.rst_code(1), Some(ErrorCode::ProtocolError));
    assert!(matches!(
        &c.events()[..],
        [Event::Reset {
            stream_id: 1,
            code: ErrorCode::ProtocolError
        }]
    ));
    // The other streams go on; the connection window was given back.
    c.get(3, "/");
    assert!(matches!(
        &c.events()[..],
        [Event::Request { stream_id: 3, .. }]
    ));

    let mut c = Client::new();
    c.headers(1, &extended_connect("/ws", &[]), false);
    c.events();
    c.conn
        .send_response(1, StatusCode::OK, &HeaderMap::new(), false)
        .unwrap();
    c.output();
    c.headers(1, &[("x-trailer", "1")], true);
    assert!(c.result.is_ok());
    assert_eq!(c.rst_code(1), Some(ErrorCode::ProtocolError));
}

#[test]
fn a_tunnel_respects_the_stream_window_and_gives_it_back() {
    let mut c = Client::with_limits(Limits::default().h2_initial_window_size(65_535));
    c.headers(1, &extended_connect("/ws", &[]), false);
    c.events();
    c.conn
        .send_response(1, StatusCode::OK, &HeaderMap::new(), false)
        .unwrap();
    c.output();
    for _ in 0..4 {
        c.data(1, &[0u8; 16_383], false);
    }
    c.data(1, &[0u8; 3], false);
    assert!(c.result.is_ok());
    // One byte past the window is a stream error.
    c.data(1, &[0u8; 1], false);
    assert_eq!(c.rst_code(1), Some(ErrorCode::FlowControlError));

    let mut c = Client::with_limits(Limits::default().h2_initial_window_size(65_535));
    c.headers(1, &extended_connect("/ws", &[]), false);
    c.events();
    c.conn
        .send_response(1, StatusCode::OK, &HeaderMap::new(), false)
        .unwrap();
    c.output();
    for _ in 0..4 {
        c.data(1, &[0u8; 10_000], false);
    }
    c.conn.release(1, 40_000);
    let out = c.output();
    assert!(
        out.iter().any(
            |f| matches!(f, Frame::WindowUpdate(w) if w.stream_id == 1 && w.increment == 40_000)
        ),
        "{out:?}"
    );
}

#[test]
fn queued_chunks_go_out_joined_in_frames_the_windows_allow() {
    let mut c = Client::new();
    c.set_initial_window(5);
    c.get(1, "/");
    c.events();
    c.conn
        .send_response(1, StatusCode::OK, &HeaderMap::new(), false)
        .unwrap();
    for chunk in [&b"ab"[..], b"cde", b"f", b"ghij"] {
        c.conn
            .send_data(1, Bytes::from_static(chunk), false)
            .unwrap();
    }
    c.conn.send_data(1, Bytes::new(), true).unwrap();
    let data = |out: Vec<Frame>| -> Vec<(Vec<u8>, bool)> {
        out.into_iter()
            .filter_map(|f| match f {
                Frame::Data(d) => Some((d.data.to_vec(), d.end_stream)),
                _ => None,
            })
            .collect()
    };
    // Five bytes from two chunks, joined in one frame.
    assert_eq!(data(c.output()), [(b"abcde".to_vec(), false)]);
    let mut buf = BytesMut::new();
    frame::encode_window_update(1, 3, &mut buf);
    c.feed(buf);
    // A frame that ends inside a chunk: "f" + "gh", "ij" left queued.
    assert_eq!(data(c.output()), [(b"fgh".to_vec(), false)]);
    let mut buf = BytesMut::new();
    frame::encode_window_update(1, 100, &mut buf);
    c.feed(buf);
    // The rest, with END_STREAM on the frame that empties the queue.
    assert_eq!(data(c.output()), [(b"ij".to_vec(), true)]);
}

#[test]
fn a_half_closed_tunnel_still_delivers_until_let_go_then_drains() {
    use std::time::{Duration, Instant};
    let mut c = Client::new();
    c.headers(1, &extended_connect("/ws", &[]), false);
    c.events();
    c.conn
        .send_response(1, StatusCode::OK, &HeaderMap::new(), false)
        .unwrap();
    c.conn
        .send_data(1, Bytes::from_static(b"bye"), true)
        .unwrap();
    c.output();
    // Our side ended; the client's reply still reaches the tunnel.
    c.data(1, b"bye too", false);
    assert!(matches!(&c.events()[..], [Event::Data { data, .. }] if &data[..] == b"bye too"));
    assert_eq!(c.conn.expire_drains(Instant::now(), Duration::ZERO), None);
    // The tunnel's reader is gone: now it drains, and is reset in time.
    c.conn.end_tunnel(1);
    c.data(1, b"unread", false);
    assert!(c.events().is_empty());
    let now = Instant::now();
    c.conn.expire_drains(now, Duration::from_secs(1));
    assert!(c
        .conn
        .expire_drains(now + Duration::from_secs(2), Duration::from_secs(1))
        .is_some());
    assert_eq!(c.rst_code(1), Some(ErrorCode::NoError));
    assert_eq!(c.conn.active_streams(), 0);
}

#[test]
fn a_failed_connection_takes_no_more_frames() {
    let mut c = Client::new();
    let mut buf = BytesMut::new();
    frame::encode_window_update(5, 1, &mut buf);
    c.feed(buf);
    assert!(c.result.is_err());
    assert_eq!(c.goaway_code(), Some(ErrorCode::ProtocolError));
    // Frames after the connection error are not processed: no PING ACK,
    // no new stream.
    let mut buf = BytesMut::new();
    frame::encode_ping(*b"abcdefgh", &mut buf);
    c.feed(buf);
    assert!(c.result.is_err());
    c.get(1, "/");
    assert!(c.result.is_err());
    assert!(c.output().is_empty());
    assert!(c.events().is_empty());
}

#[test]
fn priority_frames_are_ignored_unless_self_dependent() {
    use crate::h2::frame::PrioritySpec;
    let mut c = Client::new();
    let spec = |dependency| PrioritySpec {
        exclusive: false,
        dependency,
        weight: 15,
    };
    let mut buf = BytesMut::new();
    frame::encode_priority(5, spec(0), &mut buf);
    frame::encode_priority(7, spec(5), &mut buf);
    c.feed(buf);
    assert!(c.result.is_ok());
    assert!(c.output().is_empty());
    let mut buf = BytesMut::new();
    frame::encode_priority(9, spec(9), &mut buf);
    c.feed(buf);
    assert!(c.result.is_ok(), "a stream error only");
    assert_eq!(c.rst_code(9), Some(ErrorCode::ProtocolError));
    // The connection goes on.
    c.get(11, "/");
    assert!(matches!(
        &c.events()[..],
        [Event::Request { stream_id: 11, .. }]
    ));
}

#[test]
fn a_reset_after_the_whole_answer_was_queued_is_not_a_rapid_reset() {
    let limits = Limits {
        h2_max_pending_resets: 0,
        ..Limits::default()
    };
    let mut c = Client::with_limits(limits);
    // END_STREAM queued with nothing before it, not yet written: the
    // answer is complete, the client's reset costs no credit.
    c.post(1, &[]);
    c.conn
        .send_response(1, StatusCode::OK, &HeaderMap::new(), false)
        .unwrap();
    c.conn.send_data(1, Bytes::new(), true).unwrap();
    rst(&mut c, 1, ErrorCode::Cancel);
    assert!(c.result.is_ok());
    assert_eq!(c.goaway_code(), None);
    // Data still queued before the END_STREAM: not answered yet.
    c.post(3, &[]);
    c.conn
        .send_response(3, StatusCode::OK, &HeaderMap::new(), false)
        .unwrap();
    c.conn
        .send_data(3, Bytes::from_static(b"body"), true)
        .unwrap();
    rst(&mut c, 3, ErrorCode::Cancel);
    assert_eq!(c.goaway_code(), Some(ErrorCode::EnhanceYourCalm));
}

/// Connected, but our SETTINGS not yet acknowledged by the client.
fn unacked(limits: Limits) -> Client {
    let mut c = Client::raw(limits);
    let mut buf = BytesMut::from(&frame::PREFACE[..]);
    frame::encode_settings(&Settings::default(), &mut buf);
    c.feed(buf);
    c.output();
    c
}

fn send_body(c: &mut Client, id: u32, mut len: usize) {
    let chunk = vec![0u8; 16_384];
    while len > 0 {
        let n = len.min(chunk.len());
        c.data(id, &chunk[..n], false);
        len -= n;
    }
}

#[test]
fn before_our_settings_are_acknowledged_the_default_window_holds() {
    // A window below the default: until the client has our SETTINGS it
    // may still send 65 535 bytes on a stream (RFC 9113 §6.9.3).
    let small = Limits {
        h2_initial_window_size: 1000,
        ..Limits::default()
    };
    let mut c = unacked(small.clone());
    c.post(1, &[]);
    send_body(&mut c, 1, 65_535);
    assert!(c.result.is_ok());
    assert_eq!(c.rst_code(1), None);
    c.data(1, b"x", false);
    assert_eq!(c.rst_code(1), Some(ErrorCode::FlowControlError));
    // Once acknowledged, the small window holds.
    let mut c = Client::with_limits(small);
    c.post(1, &[]);
    send_body(&mut c, 1, 1000);
    assert_eq!(c.rst_code(1), None);
    c.data(1, b"x", false);
    assert_eq!(c.rst_code(1), Some(ErrorCode::FlowControlError));
    // A window above the default is the limit from the start.
    let large = Limits {
        h2_initial_window_size: 100_000,
        ..Limits::default()
    };
    let mut c = unacked(large);
    c.post(1, &[]);
    send_body(&mut c, 1, 100_000);
    assert_eq!(c.rst_code(1), None);
    c.data(1, b"x", false);
    assert_eq!(c.rst_code(1), Some(ErrorCode::FlowControlError));
}

#[test]
fn only_empty_data_frames_count_as_empty() {
    let limits = Limits {
        h2_max_empty_data_frames: 1,
        ..Limits::default()
    };
    let mut c = Client::with_limits(limits);
    c.post(1, &[]);
    for _ in 0..5 {
        c.data(1, b"abc", false);
    }
    c.data(1, b"", true);
    assert!(c.result.is_ok());
    assert_eq!(c.goaway_code(), None);
    c.post(3, &[]);
    c.data(3, b"", false);
    c.data(3, b"", false);
    assert_eq!(c.goaway_code(), Some(ErrorCode::EnhanceYourCalm));
}

#[test]
fn padding_is_given_back_at_once() {
    let limits = Limits {
        h2_initial_window_size: 65_535,
        ..Limits::default()
    };
    let mut c = Client::with_limits(limits);
    c.post(1, &[]);
    // 128 DATA frames of one byte, each padded to 257 bytes of window:
    // the 128 * 256 bytes of padding (and its length octet) come back
    // with one WINDOW_UPDATE once they pass half the stream window.
    let mut buf = BytesMut::new();
    for _ in 0..128 {
        buf.extend_from_slice(&[0, 1, 1, 0x0, 0x8, 0, 0, 0, 1, 255, b'x']);
        buf.extend_from_slice(&[0; 255]);
    }
    c.feed(buf);
    assert!(c.result.is_ok());
    let out = c.output();
    assert!(
        out.iter().any(
            |f| matches!(f, Frame::WindowUpdate(w) if w.stream_id == 1 && w.increment == 128 * 256)
        ),
        "{out:?}"
    );
    assert_eq!(
        c.events().len(),
        1 + 128,
        "the request and 128 one-byte chunks"
    );
}

#[test]
fn early_answer_drain_of_exactly_the_limit_is_kept() {
    let limits = Limits {
        max_drain_size: 1000,
        ..Limits::default()
    };
    let mut c = answered_early(limits, &[]);
    c.data(1, &[0; 600], false);
    c.data(1, &[0; 400], false);
    assert!(c.rst_code(1).is_none(), "exactly max_drain_size drained");
    assert_eq!(c.conn.active_streams(), 1);
    c.data(1, b"x", false);
    assert_eq!(c.rst_code(1), Some(ErrorCode::NoError));
}

#[test]
fn queued_bytes_and_window_blocking_are_reported() {
    let mut c = Client::new();
    c.post(1, &[]);
    c.conn
        .send_response(1, StatusCode::OK, &HeaderMap::new(), false)
        .unwrap();
    assert_eq!(c.conn.queued(1), Some(0));
    assert_eq!(c.conn.queued(3), None, "no such stream");
    assert!(!c.conn.is_blocked_on_window(1));
    assert!(!c.conn.is_blocked_on_window(3));
    c.conn
        .send_data(1, Bytes::from_static(b"0123456789"), false)
        .unwrap();
    assert_eq!(c.conn.queued(1), Some(10));
    assert!(!c.conn.is_blocked_on_window(1), "the window is open");
    c.output();
    assert_eq!(c.conn.queued(1), Some(0));
    c.set_initial_window(0);
    c.conn
        .send_data(1, Bytes::from_static(b"abcde"), false)
        .unwrap();
    c.output();
    assert_eq!(c.conn.queued(1), Some(5));
    assert!(c.conn.is_blocked_on_window(1));
}

#[test]
fn poll_output_stops_once_max_is_reached() {
    let mut c = Client::new();
    for id in [1, 3] {
        c.post(id, &[]);
        c.conn
            .send_response(id, StatusCode::OK, &HeaderMap::new(), false)
            .unwrap();
    }
    c.output();
    for id in [1, 3] {
        c.conn
            .send_data(id, Bytes::from_static(b"0123456789"), false)
            .unwrap();
    }
    // One DATA frame is 19 bytes: with max 19 the second waits.
    let mut dst = BytesMut::new();
    c.conn.poll_output(&mut dst, 19);
    assert_eq!(dst.len(), 19);
    let mut more = BytesMut::new();
    c.conn.poll_output(&mut more, 19);
    assert_eq!(more.len(), 19);
    assert_ne!(dst[5..9], more[5..9], "one frame of each stream");
    assert!(!c.conn.has_output());
}

#[test]
fn has_output_only_when_something_can_be_written() {
    let mut c = Client::new();
    assert!(!c.conn.has_output());
    // A control frame owed.
    let mut buf = BytesMut::new();
    frame::encode_ping(*b"12345678", &mut buf);
    c.feed(buf);
    assert!(c.conn.has_output());
    c.output();
    assert!(!c.conn.has_output());
    // Data within the windows.
    c.post(1, &[]);
    c.conn
        .send_response(1, StatusCode::OK, &HeaderMap::new(), false)
        .unwrap();
    c.output();
    c.conn
        .send_data(1, Bytes::from_static(b"abc"), false)
        .unwrap();
    assert!(c.conn.has_output());
    c.output();
    assert!(!c.conn.has_output());
    // The stream window shut: queued data, or nothing, cannot go out.
    c.set_initial_window(0);
    c.output();
    c.conn.send_data(1, Bytes::new(), false).unwrap();
    assert!(!c.conn.has_output(), "nothing queued");
    c.conn
        .send_data(1, Bytes::from_static(b"def"), true)
        .unwrap();
    assert!(
        !c.conn.has_output(),
        "data and END_STREAM wait for the window"
    );
    // An END_STREAM or trailers with no data before them need no window.
    c.post(3, &[]);
    c.conn
        .send_response(3, StatusCode::OK, &HeaderMap::new(), false)
        .unwrap();
    c.output();
    assert!(!c.conn.has_output());
    c.conn.send_data(3, Bytes::new(), true).unwrap();
    assert!(c.conn.has_output());
    c.output();
    c.post(5, &[]);
    c.conn
        .send_response(5, StatusCode::OK, &HeaderMap::new(), false)
        .unwrap();
    c.output();
    c.conn.send_trailers(5, HeaderMap::new()).unwrap();
    assert!(c.conn.has_output());
}

#[test]
fn early_answer_content_length_of_exactly_the_drain_limit_is_drained() {
    let limits = Limits {
        max_drain_size: 1000,
        ..Limits::default()
    };
    // `answered_early` checks that the stream is not reset at once.
    let mut c = answered_early(limits.clone(), &[("content-length", "1000")]);
    c.data(1, &[0; 1000], true);
    assert!(c.result.is_ok());
    assert_eq!(c.rst_code(1), None);
    assert_eq!(c.conn.active_streams(), 0);
    // One byte more to come than may be drained: reset with the answer.
    let mut c = Client::with_limits(limits);
    c.post(1, &[("content-length", "1001")]);
    c.respond(1, b"done");
    assert_eq!(c.rst_code(1), Some(ErrorCode::NoError));
}

#[test]
fn chunks_queued_together_go_out_in_one_frame_in_order() {
    let mut c = Client::new();
    c.post(1, &[]);
    c.conn
        .send_response(1, StatusCode::OK, &HeaderMap::new(), false)
        .unwrap();
    c.output();
    for chunk in [&b"abc"[..], b"def", b"gh"] {
        c.conn
            .send_data(1, Bytes::copy_from_slice(chunk), false)
            .unwrap();
    }
    let out = c.output();
    assert!(
        matches!(&out[..], [Frame::Data(d)] if &d.data[..] == b"abcdefgh"),
        "{out:?}"
    );
    assert_eq!(c.conn.queued(1), Some(0));
}

#[test]
fn content_length_on_a_request_without_body() {
    let mut c = Client::new();
    let head = |cl| {
        [
            (":method", "POST"),
            (":scheme", "http"),
            (":authority", "x"),
            (":path", "/"),
            ("content-length", cl),
        ]
    };
    c.headers(1, &head("0"), true);
    assert!(matches!(
        &c.events()[..],
        [Event::Request {
            stream_id: 1,
            end_stream: true,
            ..
        }]
    ));
    assert_eq!(c.rst_code(1), None);
    c.headers(3, &head("5"), true);
    assert!(c.events().is_empty());
    assert_eq!(c.rst_code(3), Some(ErrorCode::ProtocolError));
}

#[test]
fn the_clients_goaway_refuses_its_later_streams() {
    let mut c = Client::new();
    c.post(1, &[]);
    assert_eq!(c.events().len(), 1);
    let mut buf = BytesMut::new();
    frame::encode_goaway(0, ErrorCode::NoError, b"", &mut buf);
    c.feed(buf);
    assert!(c.result.is_ok());
    // The open stream finishes; a new one is refused.
    c.data(1, b"abc", true);
    assert!(matches!(
        &c.events()[..],
        [Event::Data { stream_id: 1, .. }]
    ));
    c.get(3, "/");
    assert!(c.events().is_empty());
    assert_eq!(c.rst_code(3), Some(ErrorCode::RefusedStream));
    c.respond(1, b"done");
    c.output();
    assert!(c.conn.is_done());
}

#[test]
fn the_application_resets_a_stream() {
    let mut c = Client::new();
    c.post(1, &[]);
    c.events();
    c.conn.reset(1, ErrorCode::InternalError);
    assert_eq!(c.conn.active_streams(), 0);
    assert_eq!(c.rst_code(1), Some(ErrorCode::InternalError));
    // What the client sent before it saw the reset is ignored.
    c.data(1, b"late", false);
    assert!(c.result.is_ok());
    assert!(c.events().is_empty());
    assert_eq!(c.rst_code(1), None);
}
