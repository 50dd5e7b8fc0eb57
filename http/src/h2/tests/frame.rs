//! Frame layer: every frame type, every error rule, split independence,
//! header block splitting into CONTINUATION frames.

use bytes::{Bytes, BytesMut};

use super::Rng;
use crate::h2::frame::{self, flags, Frame, FrameDecoder, FrameType, PrioritySpec, Role, Settings};
use crate::h2::{hpack, ErrorCode, H2Error};
use crate::Limits;

/// A raw frame: header fields as given, then `payload`.
fn raw(kind: u8, fl: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
    let mut v = (payload.len() as u32).to_be_bytes()[1..].to_vec();
    v.push(kind);
    v.push(fl);
    v.extend_from_slice(&stream.to_be_bytes());
    v.extend_from_slice(payload);
    v
}

fn server() -> FrameDecoder {
    FrameDecoder::new(Role::Server, 16_384)
}

/// Decodes everything, all at once.
fn decode_all(dec: &mut FrameDecoder, bytes: &[u8]) -> Vec<Result<Frame, H2Error>> {
    let mut buf = BytesMut::from(bytes);
    let mut out = Vec::new();
    loop {
        match dec.decode(&mut buf) {
            Ok(Some(f)) => out.push(Ok(f)),
            Ok(None) => return out,
            Err(e) => {
                let fatal = e.is_connection();
                out.push(Err(e));
                if fatal {
                    return out;
                }
            }
        }
    }
}

fn one(bytes: &[u8]) -> Result<Frame, H2Error> {
    let mut dec = server();
    let mut r = decode_all(&mut dec, bytes);
    assert_eq!(r.len(), 1, "{r:?}");
    r.remove(0)
}

fn conn_err(bytes: &[u8], code: ErrorCode) {
    match one(bytes) {
        Err(H2Error::Connection { code: c, .. }) => assert_eq!(c, code, "{bytes:02x?}"),
        other => panic!("{bytes:02x?}: {other:?}"),
    }
}

fn stream_err(bytes: &[u8], id: u32, code: ErrorCode) {
    match one(bytes) {
        Err(H2Error::Stream {
            stream_id, code: c, ..
        }) => assert_eq!((stream_id, c), (id, code)),
        other => panic!("{bytes:02x?}: {other:?}"),
    }
}

#[test]
fn every_frame_type_round_trips() {
    let mut buf = BytesMut::new();
    frame::encode_data(1, b"body", false, &mut buf);
    frame::encode_headers(3, b"\x82\x84", true, 16_384, &mut buf);
    frame::encode_priority(
        5,
        PrioritySpec {
            exclusive: true,
            dependency: 3,
            weight: 15,
        },
        &mut buf,
    );
    frame::encode_rst_stream(1, ErrorCode::Cancel, &mut buf);
    let settings = Settings {
        header_table_size: Some(0),
        enable_push: Some(false),
        max_concurrent_streams: Some(100),
        initial_window_size: Some(65_535),
        max_frame_size: Some(16_777_215),
        max_header_list_size: Some(8192),
        enable_connect_protocol: Some(true),
    };
    frame::encode_settings(&settings, &mut buf);
    frame::encode_settings_ack(&mut buf);
    frame::encode_ping(*b"abcdefgh", &mut buf);
    frame::encode_ping_ack(*b"abcdefgh", &mut buf);
    frame::encode_goaway(7, ErrorCode::Unknown(0xff), b"bye", &mut buf);
    frame::encode_window_update(0, 0x7fff_ffff, &mut buf);
    frame::encode_window_update(1, 1, &mut buf);
    buf.extend_from_slice(&raw(0xfa, 0xff, 9, b"whatever")); // unknown type
    let mut dec = server();
    let got: Vec<Frame> = decode_all(&mut dec, &buf)
        .into_iter()
        .map(Result::unwrap)
        .collect();
    let want = vec![
        Frame::Data(frame::Data {
            stream_id: 1,
            end_stream: false,
            data: Bytes::from_static(b"body"),
            flow_len: 4,
        }),
        Frame::Headers(frame::Headers {
            stream_id: 3,
            end_stream: true,
            end_headers: true,
            priority: None,
            fragment: Bytes::from_static(b"\x82\x84"),
        }),
        Frame::Priority(frame::Priority {
            stream_id: 5,
            spec: PrioritySpec {
                exclusive: true,
                dependency: 3,
                weight: 15,
            },
        }),
        Frame::RstStream(frame::RstStream {
            stream_id: 1,
            code: ErrorCode::Cancel,
        }),
        Frame::Settings(frame::SettingsFrame {
            ack: false,
            settings,
        }),
        Frame::Settings(frame::SettingsFrame {
            ack: true,
            settings: Settings::default(),
        }),
        Frame::Ping(frame::Ping {
            ack: false,
            payload: *b"abcdefgh",
        }),
        Frame::Ping(frame::Ping {
            ack: true,
            payload: *b"abcdefgh",
        }),
        Frame::GoAway(frame::GoAway {
            last_stream_id: 7,
            code: ErrorCode::Unknown(0xff),
            debug_data: Bytes::from_static(b"bye"),
        }),
        Frame::WindowUpdate(frame::WindowUpdate {
            stream_id: 0,
            increment: 0x7fff_ffff,
        }),
        Frame::WindowUpdate(frame::WindowUpdate {
            stream_id: 1,
            increment: 1,
        }),
        Frame::Unknown(frame::FrameHeader {
            length: 8,
            kind: 0xfa,
            flags: 0xff,
            stream_id: 9,
        }),
    ];
    assert_eq!(got, want);
    assert_eq!(
        got.iter().map(Frame::stream_id).collect::<Vec<_>>(),
        [1, 3, 5, 1, 0, 0, 0, 0, 0, 0, 1, 9]
    );
}

#[test]
fn push_promise_client_only() {
    let mut buf = BytesMut::new();
    frame::encode_push_promise(1, 2, b"\x82", 16_384, &mut buf);
    let mut dec = FrameDecoder::new(Role::Client, 16_384);
    assert_eq!(
        dec.decode(&mut buf.clone()).unwrap().unwrap(),
        Frame::PushPromise(frame::PushPromise {
            stream_id: 1,
            promised_stream_id: 2,
            end_headers: true,
            fragment: Bytes::from_static(b"\x82")
        })
    );
    conn_err(&buf, ErrorCode::ProtocolError);
    // Padded, and too short.
    let mut dec = FrameDecoder::new(Role::Client, 16_384);
    let f = raw(
        FrameType::PUSH_PROMISE,
        flags::PADDED | flags::END_HEADERS,
        1,
        b"\x02\x00\x00\x00\x04\x82\x00\x00",
    );
    let Ok(Some(Frame::PushPromise(p))) = dec.decode(&mut BytesMut::from(&f[..])) else {
        panic!()
    };
    assert_eq!((p.promised_stream_id, &p.fragment[..]), (4, &b"\x82"[..]));
    let mut dec = FrameDecoder::new(Role::Client, 16_384);
    let f = raw(
        FrameType::PUSH_PROMISE,
        flags::END_HEADERS,
        1,
        b"\x00\x00\x04",
    );
    assert_eq!(
        dec.decode(&mut BytesMut::from(&f[..])).unwrap_err().code(),
        ErrorCode::FrameSizeError
    );
    let mut dec = FrameDecoder::new(Role::Client, 16_384);
    let f = raw(
        FrameType::PUSH_PROMISE,
        flags::PADDED | flags::END_HEADERS,
        1,
        b"\x02\x00\x00\x00\x04",
    );
    assert_eq!(
        dec.decode(&mut BytesMut::from(&f[..])).unwrap_err().code(),
        ErrorCode::ProtocolError
    );
}

#[test]
fn priority_not_exclusive_round_trips() {
    let spec = PrioritySpec {
        exclusive: false,
        dependency: 0x7fff_ffff,
        weight: 0,
    };
    let mut buf = BytesMut::new();
    frame::encode_priority(5, spec, &mut buf);
    assert_eq!(&buf[9..], b"\x7f\xff\xff\xff\x00");
    assert_eq!(
        one(&buf),
        Ok(Frame::Priority(frame::Priority { stream_id: 5, spec }))
    );
}

#[test]
fn headers_with_priority_and_an_empty_fragment() {
    // Length 5 (the priority fields only), then the block in CONTINUATION.
    let mut bytes = raw(FrameType::HEADERS, flags::PRIORITY, 3, b"\0\0\0\x01\x10");
    bytes.extend_from_slice(&raw(
        FrameType::CONTINUATION,
        flags::END_HEADERS,
        3,
        b"\x82",
    ));
    let got = decode_all(&mut server(), &bytes);
    let want = vec![
        Ok(Frame::Headers(frame::Headers {
            stream_id: 3,
            end_stream: false,
            end_headers: false,
            priority: Some(PrioritySpec {
                exclusive: false,
                dependency: 1,
                weight: 16,
            }),
            fragment: Bytes::new(),
        })),
        Ok(Frame::Continuation(frame::Continuation {
            stream_id: 3,
            end_headers: true,
            fragment: Bytes::from_static(b"\x82"),
        })),
    ];
    assert_eq!(got, want);
    // With padding too: pad length 0, priority, nothing else (length 6).
    let f = raw(
        FrameType::HEADERS,
        flags::PADDED | flags::PRIORITY | flags::END_HEADERS,
        3,
        b"\0\0\0\0\x01\x10",
    );
    assert!(matches!(one(&f), Ok(Frame::Headers(h)) if h.fragment.is_empty()));
}

#[test]
fn push_promise_edges() {
    let client = || FrameDecoder::new(Role::Client, 16_384);
    // Padded, length 4: no room for pad length + promised id.
    let f = raw(FrameType::PUSH_PROMISE, flags::PADDED, 1, b"\0\0\0\x02");
    assert_eq!(
        client()
            .decode(&mut BytesMut::from(&f[..]))
            .unwrap_err()
            .code(),
        ErrorCode::FrameSizeError
    );
    // Padded, length 5: pad length 0 + promised id, empty fragment.
    let f = raw(
        FrameType::PUSH_PROMISE,
        flags::PADDED | flags::END_HEADERS,
        1,
        b"\0\0\0\0\x02",
    );
    assert!(matches!(
        client().decode(&mut BytesMut::from(&f[..])),
        Ok(Some(Frame::PushPromise(p))) if p.promised_stream_id == 2 && p.fragment.is_empty()
    ));
    // Length 4 (promised id only), the block in CONTINUATION.
    let mut bytes = raw(FrameType::PUSH_PROMISE, 0, 1, b"\x80\0\0\x02");
    bytes.extend_from_slice(&raw(
        FrameType::CONTINUATION,
        flags::END_HEADERS,
        1,
        b"\x82",
    ));
    let got = decode_all(&mut client(), &bytes);
    let want = vec![
        Ok(Frame::PushPromise(frame::PushPromise {
            stream_id: 1,
            promised_stream_id: 2,
            end_headers: false,
            fragment: Bytes::new(),
        })),
        Ok(Frame::Continuation(frame::Continuation {
            stream_id: 1,
            end_headers: true,
            fragment: Bytes::from_static(b"\x82"),
        })),
    ];
    assert_eq!(got, want);
}

#[test]
fn push_promise_block_split_at_the_max_frame_size() {
    // The promised stream id takes 4 octets of the first frame's 16384.
    let block = vec![0x82; 16_384];
    let mut buf = BytesMut::new();
    frame::encode_push_promise(1, 2, &block, 16_384, &mut buf);
    assert_eq!(buf.len(), 9 + 16_384 + 9 + 4);
    let mut dec = FrameDecoder::new(Role::Client, 16_384);
    let got = decode_all(&mut dec, &buf);
    let sizes: Vec<_> = got
        .iter()
        .map(|f| match f {
            Ok(Frame::PushPromise(p)) => (p.fragment.len(), p.end_headers),
            Ok(Frame::Continuation(c)) => (c.fragment.len(), c.end_headers),
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(sizes, [(16_380, false), (4, true)]);
}

#[test]
fn header_fields_of_the_frame_header() {
    // Reserved bit ignored; unknown flags ignored.
    let f = raw(FrameType::DATA, 0xf6, 0x8000_0001, b"x");
    let Ok(Frame::Data(d)) = one(&f) else {
        panic!()
    };
    assert_eq!(
        (d.stream_id, d.end_stream, &d.data[..]),
        (1, false, &b"x"[..])
    );
    let f = raw(FrameType::PING, 0xfe, 0x8000_0000, b"12345678");
    assert!(matches!(one(&f), Ok(Frame::Ping(p)) if !p.ack));
}

#[test]
fn padding() {
    // DATA: pad length 2 of a 5-octet payload → 2 octets of data.
    let f = raw(
        FrameType::DATA,
        flags::PADDED | flags::END_STREAM,
        1,
        b"\x02ab\0\0",
    );
    let Ok(Frame::Data(d)) = one(&f) else {
        panic!()
    };
    assert_eq!(
        (&d.data[..], d.flow_len, d.end_stream),
        (&b"ab"[..], 5, true)
    );
    // Pad length = payload length - 1: empty data, fine.
    let f = raw(FrameType::DATA, flags::PADDED, 1, b"\x02\0\0");
    assert!(matches!(one(&f), Ok(Frame::Data(d)) if d.data.is_empty() && d.flow_len == 3));
    // Pad length ≥ payload length.
    conn_err(
        &raw(FrameType::DATA, flags::PADDED, 1, b"\x03\0\0"),
        ErrorCode::ProtocolError,
    );
    conn_err(
        &raw(FrameType::DATA, flags::PADDED, 1, b"\xff"),
        ErrorCode::ProtocolError,
    );
    conn_err(
        &raw(FrameType::DATA, flags::PADDED, 1, b""),
        ErrorCode::FrameSizeError,
    );
    // HEADERS with padding and priority.
    let f = raw(
        FrameType::HEADERS,
        flags::PADDED | flags::PRIORITY | flags::END_HEADERS,
        3,
        b"\x01\x80\x00\x00\x01\x10\x82\x00",
    );
    let Ok(Frame::Headers(h)) = one(&f) else {
        panic!()
    };
    assert_eq!(
        h.priority,
        Some(PrioritySpec {
            exclusive: true,
            dependency: 1,
            weight: 16
        })
    );
    assert_eq!(&h.fragment[..], b"\x82");
    // Padding eating into the priority fields.
    let f = raw(
        FrameType::HEADERS,
        flags::PADDED | flags::PRIORITY,
        3,
        b"\x02\0\0\0\x01\x10\0",
    );
    conn_err(&f, ErrorCode::ProtocolError);
    conn_err(
        &raw(FrameType::HEADERS, flags::PADDED, 3, b"\x01"),
        ErrorCode::ProtocolError,
    );
    conn_err(
        &raw(FrameType::HEADERS, flags::PRIORITY, 3, b"\0\0\0"),
        ErrorCode::FrameSizeError,
    );
    conn_err(
        &raw(FrameType::HEADERS, flags::PADDED, 3, b""),
        ErrorCode::FrameSizeError,
    );
}

#[test]
fn stream_zero_rules() {
    for kind in [
        FrameType::DATA,
        FrameType::HEADERS,
        FrameType::PRIORITY,
        FrameType::RST_STREAM,
        FrameType::CONTINUATION,
    ] {
        let payload: &[u8] = match kind {
            FrameType::PRIORITY => b"\0\0\0\x01\x10",
            FrameType::RST_STREAM => b"\0\0\0\0",
            _ => b"",
        };
        conn_err(
            &raw(kind, flags::END_HEADERS, 0, payload),
            ErrorCode::ProtocolError,
        );
    }
    let mut dec = FrameDecoder::new(Role::Client, 16_384);
    let f = raw(FrameType::PUSH_PROMISE, 0, 0, b"\0\0\0\x02");
    assert_eq!(
        dec.decode(&mut BytesMut::from(&f[..])).unwrap_err().code(),
        ErrorCode::ProtocolError
    );
    conn_err(
        &raw(FrameType::SETTINGS, 0, 1, b""),
        ErrorCode::ProtocolError,
    );
    conn_err(
        &raw(FrameType::PING, 0, 1, b"12345678"),
        ErrorCode::ProtocolError,
    );
    conn_err(
        &raw(FrameType::GOAWAY, 0, 1, b"\0\0\0\0\0\0\0\0"),
        ErrorCode::ProtocolError,
    );
}

#[test]
fn length_rules() {
    conn_err(
        &raw(FrameType::PING, 0, 0, b"1234567"),
        ErrorCode::FrameSizeError,
    );
    conn_err(
        &raw(FrameType::PING, 0, 0, b"123456789"),
        ErrorCode::FrameSizeError,
    );
    conn_err(
        &raw(FrameType::GOAWAY, 0, 0, b"\0\0\0\0\0\0\0"),
        ErrorCode::FrameSizeError,
    );
    conn_err(
        &raw(FrameType::RST_STREAM, 0, 1, b"\0\0\0"),
        ErrorCode::FrameSizeError,
    );
    conn_err(
        &raw(FrameType::WINDOW_UPDATE, 0, 1, b"\0\0\0\x01\0"),
        ErrorCode::FrameSizeError,
    );
    conn_err(
        &raw(FrameType::SETTINGS, 0, 0, b"\0\x01\0\0\0"),
        ErrorCode::FrameSizeError,
    );
    conn_err(
        &raw(FrameType::SETTINGS, flags::ACK, 0, b"\0\x01\0\0\0\0"),
        ErrorCode::FrameSizeError,
    );
    stream_err(
        &raw(FrameType::PRIORITY, 0, 3, b"\0\0\0\x01"),
        3,
        ErrorCode::FrameSizeError,
    );
    stream_err(
        &raw(FrameType::PRIORITY, 0, 3, b"\0\0\0\x03\x10"),
        3,
        ErrorCode::ProtocolError,
    );
    // Larger than our max frame size: refused on the header alone.
    let mut dec = server();
    let mut buf = BytesMut::from(&[0, 0x40, 0x01, 0, 0, 0, 0, 0, 1][..]);
    assert_eq!(
        dec.decode(&mut buf).unwrap_err().code(),
        ErrorCode::FrameSizeError
    );
    // ... and accepted once the limit is raised.
    let mut dec = server();
    dec.set_max_frame_size(1 << 20);
    assert_eq!(dec.max_frame_size(), 1 << 20);
    let mut buf = BytesMut::from(&raw(FrameType::DATA, 0, 1, &[7u8; 16_385])[..]);
    assert!(matches!(dec.decode(&mut buf), Ok(Some(Frame::Data(d))) if d.data.len() == 16_385));
    // Exactly 16384 is fine with the default.
    let f = raw(FrameType::DATA, 0, 1, &[7u8; 16_384]);
    assert!(one(&f).is_ok());
}

#[test]
fn length_rules_apply_on_the_frame_header_alone() {
    // The 9 header octets decide: no waiting for a payload to refuse it.
    let cases = [
        raw(FrameType::SETTINGS, 0, 0, b"\0\x01\0\0\0"),
        raw(FrameType::SETTINGS, flags::ACK, 0, b"\0\x01\0\0\0\0"),
        raw(FrameType::PING, 0, 0, b"1234567"),
        raw(FrameType::GOAWAY, 0, 0, b"\0\0\0\0\0\0\0"),
        raw(FrameType::RST_STREAM, 0, 1, b"\0\0\0"),
        raw(FrameType::WINDOW_UPDATE, 0, 1, b"\0\0\0\x01\0"),
        raw(FrameType::HEADERS, flags::PRIORITY, 3, b"\0\0\0"),
    ];
    for f in cases {
        let mut head = BytesMut::from(&f[..9]);
        assert_eq!(
            server().decode(&mut head).unwrap_err().code(),
            ErrorCode::FrameSizeError,
            "{f:02x?}"
        );
    }
}

#[test]
fn shortest_legal_frames() {
    // GOAWAY without debug data (length 8).
    let f = raw(FrameType::GOAWAY, 0, 0, b"\0\0\0\x05\0\0\0\x02");
    assert_eq!(
        one(&f),
        Ok(Frame::GoAway(frame::GoAway {
            last_stream_id: 5,
            code: ErrorCode::InternalError,
            debug_data: Bytes::new(),
        }))
    );
    // Padded DATA holding only its pad length (length 1), and empty DATA.
    for (fl, payload, flow_len) in [(flags::PADDED, &b"\0"[..], 1), (0, b"", 0)] {
        let f = raw(FrameType::DATA, fl, 1, payload);
        assert!(
            matches!(one(&f), Ok(Frame::Data(d)) if d.data.is_empty() && d.flow_len == flow_len),
            "{f:02x?}"
        );
    }
}

#[test]
fn settings_validation() {
    let s = |id: u16, v: u32| {
        let mut p = id.to_be_bytes().to_vec();
        p.extend_from_slice(&v.to_be_bytes());
        raw(FrameType::SETTINGS, 0, 0, &p)
    };
    conn_err(&s(2, 2), ErrorCode::ProtocolError);
    conn_err(&s(4, 0x8000_0000), ErrorCode::FlowControlError);
    conn_err(&s(5, 16_383), ErrorCode::ProtocolError);
    conn_err(&s(5, 16_777_216), ErrorCode::ProtocolError);
    // RFC 8441 §3: SETTINGS_ENABLE_CONNECT_PROTOCOL is 0 or 1.
    conn_err(&s(8, 2), ErrorCode::ProtocolError);
    for (id, v) in [
        (8, 0),
        (8, 1),
        (2, 0),
        (2, 1),
        (4, 0x7fff_ffff),
        (5, 16_384),
        (5, 16_777_215),
        (1, u32::MAX),
        (3, 0),
        (6, 1),
    ] {
        assert!(one(&s(id, v)).is_ok(), "{id} {v}");
    }
    // Unknown ids are ignored; the last value of a repeated id wins.
    let mut p = Vec::new();
    for (id, v) in [(0x99u16, 5u32), (3, 10), (3, 20), (8, 1), (7, 1)] {
        p.extend_from_slice(&id.to_be_bytes());
        p.extend_from_slice(&v.to_be_bytes());
    }
    let Ok(Frame::Settings(f)) = one(&raw(FrameType::SETTINGS, 0, 0, &p)) else {
        panic!()
    };
    assert_eq!(
        f.settings,
        Settings {
            max_concurrent_streams: Some(20),
            enable_connect_protocol: Some(true),
            ..Settings::default()
        }
    );
}

#[test]
fn window_update_zero() {
    conn_err(
        &raw(FrameType::WINDOW_UPDATE, 0, 0, b"\0\0\0\0"),
        ErrorCode::ProtocolError,
    );
    stream_err(
        &raw(FrameType::WINDOW_UPDATE, 0, 5, b"\0\0\0\0"),
        5,
        ErrorCode::ProtocolError,
    );
    // Reserved bit of the increment is ignored: 0x80000000 is an increment of 0.
    stream_err(
        &raw(FrameType::WINDOW_UPDATE, 0, 5, b"\x80\0\0\0"),
        5,
        ErrorCode::ProtocolError,
    );
}

#[test]
fn stream_errors_consume_the_frame_connection_errors_stick() {
    let mut bytes = raw(FrameType::WINDOW_UPDATE, 0, 5, b"\0\0\0\0");
    bytes.extend(raw(FrameType::PRIORITY, 0, 3, b"\0\0"));
    bytes.extend(raw(FrameType::PING, 0, 0, b"12345678"));
    bytes.extend(raw(FrameType::PING, 0, 0, b"1234567"));
    bytes.extend(raw(FrameType::PING, 0, 0, b"12345678"));
    let mut dec = server();
    let r = decode_all(&mut dec, &bytes);
    assert_eq!(r.len(), 4);
    assert_eq!(r[0].as_ref().unwrap_err().stream_id(), Some(5));
    assert_eq!(r[1].as_ref().unwrap_err().stream_id(), Some(3));
    assert!(matches!(r[2], Ok(Frame::Ping(_))));
    let e = r[3].clone().unwrap_err();
    assert!(e.is_connection());
    // The decoder keeps failing.
    assert_eq!(
        dec.decode(&mut BytesMut::from(
            &raw(FrameType::PING, 0, 0, b"12345678")[..]
        )),
        Err(e)
    );
}

#[test]
fn header_block_sequencing() {
    let open = raw(FrameType::HEADERS, 0, 1, b"\x82");
    let cont = |id: u32, end: bool| {
        raw(
            FrameType::CONTINUATION,
            if end { flags::END_HEADERS } else { 0 },
            id,
            b"\x84",
        )
    };
    // Fine: HEADERS, CONTINUATION, CONTINUATION + END_HEADERS, then anything.
    let mut ok = open.clone();
    ok.extend(cont(1, false));
    ok.extend(cont(1, true));
    ok.extend(raw(FrameType::PING, 0, 0, b"12345678"));
    let mut dec = server();
    let r = decode_all(&mut dec, &ok);
    assert!(r.iter().all(Result::is_ok), "{r:?}");
    assert_eq!(dec.open_header_block(), None);
    // Anything else inside the block is a connection PROTOCOL_ERROR.
    for intruder in [
        raw(FrameType::PING, 0, 0, b"12345678"),
        raw(FrameType::DATA, 0, 1, b"x"),
        raw(FrameType::HEADERS, flags::END_HEADERS, 3, b"\x82"),
        cont(3, true),
        raw(0xfa, 0, 1, b""),
    ] {
        let mut bytes = open.clone();
        bytes.extend(intruder);
        let mut dec = server();
        let r = decode_all(&mut dec, &bytes);
        assert!(r[0].is_ok());
        assert_eq!(dec.open_header_block(), Some(1));
        assert_eq!(r[1].as_ref().unwrap_err().code(), ErrorCode::ProtocolError);
        assert!(r[1].as_ref().unwrap_err().is_connection());
    }
    // CONTINUATION with no open block.
    conn_err(&cont(1, true), ErrorCode::ProtocolError);
    // Too many CONTINUATION frames.
    let limits = Limits {
        h2_max_continuation_frames: 2,
        ..Limits::default()
    };
    let mut bytes = open.clone();
    for _ in 0..3 {
        bytes.extend(cont(1, false));
    }
    let mut dec = FrameDecoder::with_limits(Role::Server, &limits);
    let r = decode_all(&mut dec, &bytes);
    assert_eq!(r.len(), 4);
    assert_eq!(
        r[3].as_ref().unwrap_err().code(),
        ErrorCode::EnhanceYourCalm
    );
}

/// A stream of frames (valid, then a stream error, then valid, then a
/// connection error) to check split independence on.
fn sample_stream() -> Vec<u8> {
    let mut buf = BytesMut::new();
    buf.extend_from_slice(frame::PREFACE);
    frame::encode_settings(
        &Settings {
            max_concurrent_streams: Some(10),
            ..Settings::default()
        },
        &mut buf,
    );
    frame::encode_headers(1, &[0x82; 40], false, 16_384, &mut buf);
    buf.extend_from_slice(&raw(FrameType::DATA, flags::PADDED, 1, b"\x03abc\0\0\0"));
    frame::encode_data(1, b"", true, &mut buf);
    buf.extend_from_slice(&raw(FrameType::WINDOW_UPDATE, 0, 1, b"\0\0\0\0"));
    frame::encode_ping(*b"pingpong", &mut buf);
    buf.extend_from_slice(&raw(0x20, 0, 0, b"ext"));
    frame::encode_goaway(1, ErrorCode::NoError, b"", &mut buf);
    buf.extend_from_slice(&raw(FrameType::DATA, flags::PADDED, 1, b"\x09abc"));
    buf.to_vec()
}

/// Decodes `input` fed in the pieces given by `cuts`.
fn decode_in_pieces(input: &[u8], cuts: &[usize]) -> Vec<Result<Frame, H2Error>> {
    let mut dec = server();
    let mut buf = BytesMut::new();
    let mut out = Vec::new();
    let mut preface = false;
    let mut start = 0;
    for &end in cuts.iter().chain([&input.len()]) {
        buf.extend_from_slice(&input[start..end]);
        start = end;
        if !preface {
            match frame::decode_preface(&mut buf) {
                Ok(true) => preface = true,
                Ok(false) => continue,
                Err(e) => {
                    out.push(Err(e));
                    return out;
                }
            }
        }
        loop {
            match dec.decode(&mut buf) {
                Ok(Some(f)) => out.push(Ok(f)),
                Ok(None) => break,
                Err(e) => {
                    let fatal = e.is_connection();
                    out.push(Err(e));
                    if fatal {
                        return out;
                    }
                }
            }
        }
    }
    out
}

#[test]
fn split_at_every_position_and_byte_by_byte() {
    let input = sample_stream();
    let whole = decode_in_pieces(&input, &[]);
    assert_eq!(whole.len(), 9);
    assert!(whole[8].as_ref().unwrap_err().is_connection());
    for cut in 0..=input.len() {
        assert_eq!(decode_in_pieces(&input, &[cut]), whole, "cut at {cut}");
    }
    let every: Vec<usize> = (1..input.len()).collect();
    assert_eq!(decode_in_pieces(&input, &every), whole);
    let mut rng = Rng(7);
    for _ in 0..200 {
        let mut cuts: Vec<usize> = (0..rng.below(8)).map(|_| rng.below(input.len())).collect();
        cuts.sort_unstable();
        assert_eq!(decode_in_pieces(&input, &cuts), whole);
    }
    // A bad preface.
    let r = decode_in_pieces(b"PRI * HTTP/1.1\r\n", &[3]);
    assert_eq!(r[0].as_ref().unwrap_err().code(), ErrorCode::ProtocolError);
}

#[test]
fn continuation_split_round_trip() {
    for (len, max) in [
        (0usize, 16_384u32),
        (16_384, 16_384),
        (16_385, 16_384),
        (40_000, 16_384),
        (40_000, 0),
        (70_000, 20_000),
    ] {
        let block: Vec<u8> = (0..len).map(|i| i as u8).collect();
        let mut buf = BytesMut::new();
        frame::encode_headers(7, &block, true, max, &mut buf);
        let mut dec = FrameDecoder::new(Role::Server, max.max(16_384));
        let frames: Vec<Frame> = decode_all(&mut dec, &buf)
            .into_iter()
            .map(Result::unwrap)
            .collect();
        let max = max.max(16_384) as usize;
        assert_eq!(frames.len(), 1 + len.saturating_sub(1) / max);
        let mut joined = Vec::new();
        for (i, f) in frames.iter().enumerate() {
            let last = i + 1 == frames.len();
            match f {
                Frame::Headers(h) => {
                    assert_eq!(i, 0);
                    assert!(h.end_stream);
                    assert_eq!(h.end_headers, last);
                    joined.extend_from_slice(&h.fragment);
                }
                Frame::Continuation(c) => {
                    assert_eq!((c.stream_id, c.end_headers), (7, last));
                    joined.extend_from_slice(&c.fragment);
                }
                other => panic!("{other:?}"),
            }
            assert!(frame_payload_len(f) <= max);
        }
        assert_eq!(joined, block);
    }
}

fn frame_payload_len(f: &Frame) -> usize {
    match f {
        Frame::Headers(h) => h.fragment.len(),
        Frame::Continuation(c) => c.fragment.len(),
        _ => 0,
    }
}

#[test]
fn big_header_block_through_hpack_and_frames() {
    let mut enc = hpack::Encoder::new(4096);
    let mut headers = http::HeaderMap::new();
    for i in 0..40 {
        let name = http::HeaderName::from_bytes(format!("x-big-{i}").as_bytes()).unwrap();
        headers.insert(
            name,
            http::HeaderValue::from_str(&"v".repeat(1000)).unwrap(),
        );
    }
    let mut block = BytesMut::new();
    enc.encode_response(http::StatusCode::OK, &headers, &mut block);
    assert!(block.len() > 16_384);
    let mut wire = BytesMut::new();
    frame::encode_headers(1, &block, false, 16_384, &mut wire);
    let mut dec = FrameDecoder::new(Role::Client, 16_384);
    let mut joined = BytesMut::new();
    while let Some(f) = dec.decode(&mut wire).unwrap() {
        match f {
            Frame::Headers(h) => joined.extend_from_slice(&h.fragment),
            Frame::Continuation(c) => joined.extend_from_slice(&c.fragment),
            other => panic!("{other:?}"),
        }
    }
    let fields = hpack::Decoder::new(4096)
        .decode(&joined.freeze(), 1 << 20)
        .unwrap();
    assert_eq!(fields.len(), 41);
    assert_eq!(&fields[40].value[..], "v".repeat(1000).as_bytes());
}

#[test]
fn error_code_values() {
    for v in 0..=0xe_u32 {
        assert_eq!(u32::from(ErrorCode::from(v)), v);
    }
    assert_eq!(ErrorCode::from(0xe), ErrorCode::Unknown(0xe));
    assert_eq!(ErrorCode::Http11Required.to_string(), "HTTP_1_1_REQUIRED");
    assert_eq!(
        H2Error::connection(ErrorCode::NoError, "x").to_string(),
        "connection error NO_ERROR: x"
    );
}
