//! Tests of the client connection: against our [`ServerConnection`] with
//! the bytes pumped between them in memory (`Pair`), and against a
//! scripted server that writes frames with the codec's encoders — also
//! malformed ones — and reads the client's output with a server-role
//! decoder (`Scripted`).

use bytes::{Bytes, BytesMut};
use http::{HeaderMap, Method, Request, StatusCode};

use crate::h2::conn::{ClientConnection, ClientEvent, Event, OpenError, ServerConnection};
use crate::h2::frame::{self, Frame, FrameDecoder, Role, Settings};
use crate::h2::{hpack, ErrorCode, H2Error};
use crate::Limits;

fn get(uri: &str) -> Request<()> {
    Request::get(uri).body(()).unwrap()
}

/// A client and our server, connected in memory.
struct Pair {
    client: ClientConnection,
    server: ServerConnection,
}

impl Pair {
    fn new() -> Pair {
        Pair::with_limits(Limits::default(), Limits::default())
    }

    fn with_limits(client: Limits, server: Limits) -> Pair {
        Pair {
            client: ClientConnection::new(&client),
            server: ServerConnection::new(&server),
        }
    }

    /// Moves bytes both ways until neither end has anything to say.
    fn pump(&mut self) {
        for _ in 0..1000 {
            let mut to_server = BytesMut::new();
            self.client.poll_output(&mut to_server, usize::MAX);
            let mut to_client = BytesMut::new();
            self.server.poll_output(&mut to_client, usize::MAX);
            if to_server.is_empty() && to_client.is_empty() {
                return;
            }
            self.server
                .recv(&mut to_server)
                .expect("server accepts the client");
            self.client
                .recv(&mut to_client)
                .expect("client accepts the server");
            assert!(to_server.is_empty() && to_client.is_empty());
        }
        panic!("the ends keep talking");
    }

    fn server_events(&mut self) -> Vec<Event> {
        std::iter::from_fn(|| self.server.poll_event()).collect()
    }

    fn client_events(&mut self) -> Vec<ClientEvent> {
        std::iter::from_fn(|| self.client.poll_event()).collect()
    }

    /// The server answers every request seen so far with `status` and `body`.
    fn answer_all(&mut self, status: StatusCode, body: &'static [u8]) -> Vec<u32> {
        let mut ids = Vec::new();
        for event in self.server_events() {
            if let Event::Request { stream_id, .. } = event {
                self.server
                    .send_response(stream_id, status, &HeaderMap::new(), body.is_empty())
                    .unwrap();
                if !body.is_empty() {
                    self.server
                        .send_data(stream_id, Bytes::from_static(body), true)
                        .unwrap();
                }
                ids.push(stream_id);
            }
        }
        ids
    }
}

#[test]
fn get_round_trip() {
    let mut p = Pair::new();
    let request = Request::get("http://example.com/a?b=c")
        .header("accept", "text/plain")
        .header("connection", "keep-alive")
        .body(())
        .unwrap();
    let id = p.client.send_request(&request, true).unwrap();
    assert_eq!(id, 1);
    p.pump();
    let events = p.server_events();
    let [Event::Request {
        stream_id: 1,
        request,
        end_stream: true,
    }] = &events[..]
    else {
        panic!("{events:?}")
    };
    assert_eq!(request.method(), Method::GET);
    assert_eq!(request.uri(), "http://example.com/a?b=c");
    assert_eq!(request.headers()["accept"], "text/plain");
    assert!(request.headers().get("connection").is_none());
    p.server
        .send_response(1, StatusCode::OK, &HeaderMap::new(), false)
        .unwrap();
    p.server
        .send_data(1, Bytes::from_static(b"hello"), true)
        .unwrap();
    p.pump();
    let events = p.client_events();
    assert!(
        matches!(&events[..], [
            ClientEvent::Response { stream_id: 1, response, end_stream: false },
            ClientEvent::Data { stream_id: 1, data, end_stream: true },
        ] if response.status() == StatusCode::OK && &data[..] == b"hello"),
        "{events:?}"
    );
    assert_eq!(p.client.active_streams(), 0);
    assert_eq!(p.server.active_streams(), 0);
    assert_eq!(
        p.client.send_request(&get("http://example.com/"), true),
        Ok(3)
    );
}

#[test]
fn host_field_becomes_the_authority() {
    let mut p = Pair::new();
    let request = Request::get("/x")
        .header("host", "example.org")
        .header("te", "gzip")
        .body(())
        .unwrap();
    p.client.send_request(&request, true).unwrap();
    p.pump();
    let events = p.server_events();
    let [Event::Request { request, .. }] = &events[..] else {
        panic!("{events:?}")
    };
    assert_eq!(request.uri(), "http://example.org/x");
    assert!(request.headers().get("host").is_none());
    assert!(request.headers().get("te").is_none());
    let connect = Request::connect("example.org:443").body(()).unwrap();
    assert!(matches!(
        p.client.send_request(&connect, true),
        Err(OpenError::InvalidRequest(_))
    ));
}

/// Request and response bodies several windows long: each side sends only
/// what the other's windows allow, and the windows reopen as the
/// receiver releases what it consumed.
#[test]
fn bodies_larger_than_the_windows_flow_both_ways() {
    let small = Limits {
        h2_initial_window_size: 65_535,
        ..Limits::default()
    };
    let mut p = Pair::with_limits(small.clone(), small);
    let upload: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
    let download: Vec<u8> = upload.iter().rev().copied().collect();
    let request = Request::post("http://x/echo").body(()).unwrap();
    let id = p.client.send_request(&request, false).unwrap();
    p.client
        .send_data(id, Bytes::from(upload.clone()), true)
        .unwrap();
    p.pump();
    assert!(
        p.client.queued(id).unwrap() > 0,
        "the upload waits on the server's window"
    );
    let (mut received, mut sent_response) = (Vec::new(), false);
    let mut response_body = Vec::new();
    let mut response_done = false;
    for _ in 0..200 {
        for event in p.server_events() {
            match event {
                Event::Request { stream_id, .. } => assert_eq!(stream_id, id),
                Event::Data {
                    data, end_stream, ..
                } => {
                    received.extend_from_slice(&data);
                    p.server.release(id, data.len());
                    if end_stream {
                        p.server
                            .send_response(id, StatusCode::OK, &HeaderMap::new(), false)
                            .unwrap();
                        p.server
                            .send_data(id, Bytes::from(download.clone()), true)
                            .unwrap();
                        sent_response = true;
                    }
                }
                other => panic!("{other:?}"),
            }
        }
        for event in p.client_events() {
            match event {
                ClientEvent::Response { response, .. } => assert_eq!(response.status(), 200),
                ClientEvent::Data {
                    data, end_stream, ..
                } => {
                    response_body.extend_from_slice(&data);
                    p.client.release(id, data.len());
                    response_done = end_stream;
                }
                other => panic!("{other:?}"),
            }
        }
        if response_done {
            break;
        }
        p.pump();
    }
    assert!(sent_response && response_done);
    assert!(received == upload, "upload arrives whole and in order");
    assert!(
        response_body == download,
        "download arrives whole and in order"
    );
    assert_eq!(p.client.active_streams(), 0);
}

#[test]
fn the_client_respects_the_servers_window_and_frame_size() {
    let mut s = Scripted::new(Settings {
        initial_window_size: Some(100),
        ..Settings::default()
    });
    let id = s
        .client
        .send_request(&Request::post("http://x/").body(()).unwrap(), false)
        .unwrap();
    s.client
        .send_data(id, Bytes::from(vec![7u8; 100_000]), true)
        .unwrap();
    let sent: usize = s.data_lengths(id).iter().sum();
    assert_eq!(sent, 100, "the stream window");
    assert!(s.client.is_blocked_on_window(id));
    let mut buf = BytesMut::new();
    frame::encode_window_update(id, 100_000, &mut buf);
    s.feed(buf);
    let lengths = s.data_lengths(id);
    assert!(lengths.iter().all(|&n| n <= 16_384), "{lengths:?}");
    // The connection window (65 535) is the limit now.
    assert_eq!(lengths.iter().sum::<usize>(), 65_535 - 100);
}

#[test]
fn trailers_both_ways() {
    let mut p = Pair::new();
    let request = Request::post("http://x/t").body(()).unwrap();
    let id = p.client.send_request(&request, false).unwrap();
    p.client
        .send_data(id, Bytes::from_static(b"body"), false)
        .unwrap();
    let mut trailers = HeaderMap::new();
    trailers.insert("x-checksum", "abc".parse().unwrap());
    p.client.send_trailers(id, trailers.clone()).unwrap();
    assert_eq!(
        p.client.send_data(id, Bytes::from_static(b"late"), true),
        Err(crate::h2::conn::StreamGone)
    );
    p.pump();
    let events = p.server_events();
    assert!(
        matches!(&events[..], [
            Event::Request { end_stream: false, .. },
            Event::Data { data, end_stream: false, .. },
            Event::Trailers { trailers: t, .. },
        ] if &data[..] == b"body" && t["x-checksum"] == "abc"),
        "{events:?}"
    );
    p.server
        .send_response(id, StatusCode::OK, &HeaderMap::new(), false)
        .unwrap();
    p.server
        .send_data(id, Bytes::from_static(b"r"), false)
        .unwrap();
    trailers.insert("grpc-status", "0".parse().unwrap());
    p.server.send_trailers(id, trailers).unwrap();
    p.pump();
    let events = p.client_events();
    assert!(
        matches!(&events[..], [
            ClientEvent::Response { end_stream: false, .. },
            ClientEvent::Data { end_stream: false, .. },
            ClientEvent::Trailers { stream_id, trailers: t },
        ] if *stream_id == id && t["grpc-status"] == "0"),
        "{events:?}"
    );
    assert_eq!(p.client.active_streams(), 0);
}

#[test]
fn concurrent_streams_up_to_the_servers_limit() {
    let server = Limits {
        h2_max_concurrent_streams: 3,
        ..Limits::default()
    };
    let mut p = Pair::with_limits(Limits::default(), server);
    p.pump();
    assert_eq!(p.client.max_concurrent_streams(), 3);
    let ids: Vec<u32> = (0..3)
        .map(|_| p.client.send_request(&get("http://x/"), true).unwrap())
        .collect();
    assert_eq!(ids, [1, 3, 5]);
    assert!(!p.client.can_open_stream());
    assert_eq!(
        p.client.send_request(&get("http://x/"), true),
        Err(OpenError::ConcurrencyLimit)
    );
    p.pump();
    p.answer_all(StatusCode::OK, b"");
    p.pump();
    let responses = p
        .client_events()
        .into_iter()
        .filter(|e| {
            matches!(
                e,
                ClientEvent::Response {
                    end_stream: true,
                    ..
                }
            )
        })
        .count();
    assert_eq!(responses, 3);
    assert!(p.client.can_open_stream());
    assert_eq!(p.client.send_request(&get("http://x/"), true), Ok(7));
}

/// Requests sent before the server's SETTINGS arrived may exceed its
/// limit: the server refuses the extra one with REFUSED_STREAM, which the
/// client reports so the caller can send it again.
#[test]
fn refused_stream_reaches_the_caller() {
    let server = Limits {
        h2_max_concurrent_streams: 2,
        ..Limits::default()
    };
    let mut p = Pair::with_limits(Limits::default(), server);
    for _ in 0..3 {
        p.client.send_request(&get("http://x/"), true).unwrap();
    }
    p.pump();
    let events = p.client_events();
    assert!(
        matches!(
            &events[..],
            [ClientEvent::Reset {
                stream_id: 5,
                code: ErrorCode::RefusedStream
            }]
        ),
        "{events:?}"
    );
    assert_eq!(p.answer_all(StatusCode::OK, b"ok"), [1, 3]);
    p.pump();
    assert_eq!(p.client_events().len(), 4);
    assert_eq!(p.client.active_streams(), 0);
}

#[test]
fn goaway_from_our_server_refuses_the_stream_it_did_not_see() {
    let mut p = Pair::new();
    p.client.send_request(&get("http://x/1"), true).unwrap();
    p.pump();
    p.server.go_away();
    // Sent before the GOAWAY arrives.
    p.client.send_request(&get("http://x/3"), true).unwrap();
    p.pump();
    let events = p.client_events();
    assert!(
        matches!(
            &events[..],
            [
                ClientEvent::GoAway {
                    last_stream_id: 1,
                    code: ErrorCode::NoError,
                    ..
                },
                ClientEvent::Reset {
                    stream_id: 3,
                    code: ErrorCode::RefusedStream
                },
            ]
        ),
        "{events:?}"
    );
    assert_eq!(
        p.client.send_request(&get("http://x/"), true),
        Err(OpenError::GoingAway)
    );
    assert!(!p.client.is_done(), "stream 1 still completes");
    assert_eq!(p.answer_all(StatusCode::OK, b"done"), [1]);
    p.pump();
    let events = p.client_events();
    assert!(matches!(
        &events[..],
        [
            ClientEvent::Response { stream_id: 1, .. },
            ClientEvent::Data {
                end_stream: true,
                ..
            }
        ]
    ));
    assert!(p.client.is_done() && p.server.is_done());
}

#[test]
fn ping_both_ways() {
    let mut p = Pair::new();
    p.client.send_ping(*b"12345678");
    p.pump();
    let events = p.client_events();
    assert!(
        matches!(&events[..], [ClientEvent::PingAck { payload }] if payload == b"12345678"),
        "{events:?}"
    );
    let mut s = Scripted::new(Settings::default());
    let mut buf = BytesMut::new();
    frame::encode_ping(*b"abcdefgh", &mut buf);
    s.feed(buf);
    let out = s.output();
    assert!(
        out.iter()
            .any(|f| matches!(f, Frame::Ping(p) if p.ack && &p.payload == b"abcdefgh")),
        "{out:?}"
    );
}

#[test]
fn interim_responses_come_before_the_final_one() {
    let mut s = Scripted::new(Settings::default());
    let id = s.client.send_request(&get("http://x/"), true).unwrap();
    s.headers(id, &[(":status", "100")], false);
    s.headers(id, &[(":status", "103"), ("link", "</a.css>")], false);
    s.headers(id, &[(":status", "200"), ("content-length", "2")], false);
    s.data(id, b"ok", true);
    s.result.clone().unwrap();
    let statuses: Vec<String> = s
        .events()
        .into_iter()
        .map(|e| match e {
            ClientEvent::Informational { response, .. } => {
                format!("i{}", response.status().as_u16())
            }
            ClientEvent::Response { response, .. } => format!("r{}", response.status().as_u16()),
            ClientEvent::Data { data, .. } => format!("d{}", data.len()),
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(statuses, ["i100", "i103", "r200", "d2"]);
}

#[test]
fn responses_without_a_body_ignore_their_content_length() {
    let mut s = Scripted::new(Settings::default());
    let head = Request::head("http://x/").body(()).unwrap();
    let id = s.client.send_request(&head, true).unwrap();
    s.headers(id, &[(":status", "200"), ("content-length", "1000")], true);
    let id2 = s.client.send_request(&get("http://x/"), true).unwrap();
    s.headers(id2, &[(":status", "304"), ("content-length", "10")], true);
    s.result.clone().unwrap();
    let events = s.events();
    assert!(
        events.iter().all(|e| matches!(
            e,
            ClientEvent::Response {
                end_stream: true,
                ..
            }
        )),
        "{events:?}"
    );
    assert_eq!(events.len(), 2);
    // A body on a 204 is malformed.
    let id3 = s.client.send_request(&get("http://x/"), true).unwrap();
    s.headers(id3, &[(":status", "204")], false);
    s.data(id3, b"x", true);
    assert_eq!(s.rst_code(id3), Some(ErrorCode::ProtocolError));
}

/// Malformed response heads are stream errors: the stream is reset with
/// PROTOCOL_ERROR, the caller sees the reset, the connection lives on.
#[test]
fn malformed_response_heads_reset_the_stream() {
    let cases: &[(&[(&str, &str)], bool)] = &[
        (&[(":status", "20")], true),
        (&[(":status", "abc")], true),
        (&[(":status", "600")], true),
        (&[("server", "x")], true),
        (&[(":status", "200"), (":status", "200")], true),
        (&[(":status", "200"), (":path", "/")], true),
        (&[(":status", "200"), ("Upper", "x")], true),
        (&[(":status", "200"), ("connection", "close")], true),
        (&[(":status", "101")], false),
        (&[(":status", "100")], true),
        (&[(":status", "200"), ("content-length", "3")], true),
    ];
    let mut s = Scripted::new(Settings::default());
    for (fields, end_stream) in cases {
        let id = s.client.send_request(&get("http://x/"), true).unwrap();
        s.headers(id, fields, *end_stream);
        assert!(s.result.is_ok(), "{fields:?}: {:?}", s.result);
        assert_eq!(s.rst_code(id), Some(ErrorCode::ProtocolError), "{fields:?}");
        let events = s.events();
        assert!(
            matches!(
                &events[..],
                [ClientEvent::Reset {
                    code: ErrorCode::ProtocolError,
                    ..
                }]
            ),
            "{fields:?}: {events:?}"
        );
    }
    // Still usable.
    let id = s.client.send_request(&get("http://x/"), true).unwrap();
    s.headers(id, &[(":status", "200")], true);
    assert!(matches!(&s.events()[..], [ClientEvent::Response { .. }]));
}

#[test]
fn content_length_is_checked_against_the_body() {
    let mut s = Scripted::new(Settings::default());
    let id = s.client.send_request(&get("http://x/"), true).unwrap();
    s.headers(id, &[(":status", "200"), ("content-length", "5")], false);
    s.data(id, b"abc", true);
    assert_eq!(s.rst_code(id), Some(ErrorCode::ProtocolError));
    let id = s.client.send_request(&get("http://x/"), true).unwrap();
    s.headers(id, &[(":status", "200"), ("content-length", "2")], false);
    s.data(id, b"abc", false);
    assert_eq!(s.rst_code(id), Some(ErrorCode::ProtocolError));
    let id = s.client.send_request(&get("http://x/"), true).unwrap();
    s.headers(id, &[(":status", "200"), ("content-length", "3")], false);
    s.data(id, b"ab", false);
    s.headers(id, &[("x-t", "1")], true);
    assert_eq!(s.rst_code(id), Some(ErrorCode::ProtocolError));
    assert!(s.result.is_ok());
}

#[test]
fn oversized_response_header_list_resets_the_stream() {
    let limits = Limits {
        h2_max_header_list_size: 1024,
        ..Limits::default()
    };
    let mut s = Scripted::with_limits(limits, Settings::default());
    let id = s.client.send_request(&get("http://x/"), true).unwrap();
    let value = "v".repeat(200);
    let mut fields = vec![(":status", "200")];
    fields.extend(std::iter::repeat_n(("x-big", value.as_str()), 8));
    s.headers(id, &fields, true);
    assert!(s.result.is_ok());
    assert_eq!(s.rst_code(id), Some(ErrorCode::ProtocolError));
    // The HPACK state stayed in step: the next response decodes.
    let id = s.client.send_request(&get("http://x/"), true).unwrap();
    s.headers(id, &[(":status", "200"), ("x-small", "s")], true);
    assert!(matches!(&s.events()[..], [_, ClientEvent::Response { .. }]));
}

#[test]
fn frames_on_streams_we_never_opened_are_connection_errors() {
    let frames: [fn(&mut Scripted); 6] = [
        |s| s.data(5, b"x", true),
        |s| s.data(2, b"x", true),
        |s| s.headers(3, &[(":status", "200")], true),
        |s| s.headers(2, &[(":status", "200")], true),
        |s| {
            let mut buf = BytesMut::new();
            frame::encode_rst_stream(7, ErrorCode::Cancel, &mut buf);
            s.feed(buf);
        },
        |s| {
            let mut buf = BytesMut::new();
            frame::encode_window_update(9, 1, &mut buf);
            s.feed(buf);
        },
    ];
    for (i, send) in frames.iter().enumerate() {
        let mut s = Scripted::new(Settings::default());
        s.client.send_request(&get("http://x/"), true).unwrap();
        send(&mut s);
        assert!(
            matches!(s.result, Err(ref e) if e.is_connection()),
            "case {i}"
        );
        assert_eq!(s.goaway_code(), Some(ErrorCode::ProtocolError), "case {i}");
        let events = s.events();
        assert!(
            matches!(
                &events[..],
                [ClientEvent::Reset {
                    stream_id: 1,
                    code: ErrorCode::Cancel
                }]
            ),
            "case {i}: {events:?}"
        );
        assert!(s.client.is_done());
        assert_eq!(
            s.client.send_request(&get("http://x/"), true),
            Err(OpenError::GoingAway)
        );
    }
}

#[test]
fn data_before_the_response_head_is_a_stream_error() {
    let mut s = Scripted::new(Settings::default());
    let id = s.client.send_request(&get("http://x/"), true).unwrap();
    s.data(id, b"early", true);
    assert!(s.result.is_ok());
    assert_eq!(s.rst_code(id), Some(ErrorCode::ProtocolError));
}

#[test]
fn trailers_without_end_stream_fail_the_connection() {
    let mut s = Scripted::new(Settings::default());
    let id = s.client.send_request(&get("http://x/"), true).unwrap();
    s.headers(id, &[(":status", "200")], false);
    s.headers(id, &[("x-t", "1")], false);
    assert_eq!(s.goaway_code(), Some(ErrorCode::ProtocolError));
}

#[test]
fn push_is_refused() {
    let mut s = Scripted::new(Settings::default());
    let id = s.client.send_request(&get("http://x/"), true).unwrap();
    let block = s.block(&[(":method", "GET"), (":scheme", "http"), (":path", "/p")]);
    let mut buf = BytesMut::new();
    frame::encode_push_promise(id, 2, &block, 16_384, &mut buf);
    s.feed(buf);
    assert_eq!(s.goaway_code(), Some(ErrorCode::ProtocolError));

    let mut s = Scripted::new(Settings {
        enable_push: Some(true),
        ..Settings::default()
    });
    assert!(s.result.is_err());
    assert_eq!(s.goaway_code(), Some(ErrorCode::ProtocolError));
}

#[test]
fn the_servers_first_frame_must_be_settings() {
    let mut client = ClientConnection::new(&Limits::default());
    let mut buf = BytesMut::new();
    frame::encode_ping(*b"12345678", &mut buf);
    assert!(client.recv(&mut buf).is_err());
    assert!(client.is_done());
}

#[test]
fn our_settings_disable_push_and_follow_the_limits() {
    let s = Scripted::new(Settings::default());
    let Frame::Settings(ours) = &s.first_output[0] else {
        panic!("{:?}", s.first_output)
    };
    assert_eq!(ours.settings.enable_push, Some(false));
    assert_eq!(
        ours.settings.initial_window_size,
        Some(Limits::default().h2_initial_window_size)
    );
    assert_eq!(
        ours.settings.max_header_list_size,
        Some(Limits::default().h2_max_header_list_size)
    );
}

#[test]
fn goaway_with_streams_above_and_below_the_last_id() {
    let mut s = Scripted::new(Settings::default());
    let ids: Vec<u32> = (0..4)
        .map(|_| s.client.send_request(&get("http://x/"), true).unwrap())
        .collect();
    let mut buf = BytesMut::new();
    frame::encode_goaway(3, ErrorCode::NoError, b"bye", &mut buf);
    s.feed(buf);
    let events = s.events();
    assert!(
        matches!(&events[..], [
            ClientEvent::GoAway { last_stream_id: 3, debug_data, .. },
            ClientEvent::Reset { stream_id: 5, code: ErrorCode::RefusedStream },
            ClientEvent::Reset { stream_id: 7, code: ErrorCode::RefusedStream },
        ] if &debug_data[..] == b"bye"),
        "{events:?}"
    );
    // Late frames of the refused streams are ignored.
    s.headers(ids[2], &[(":status", "200")], true);
    assert!(s.result.is_ok());
    s.headers(ids[0], &[(":status", "200")], true);
    s.headers(ids[1], &[(":status", "200")], true);
    assert_eq!(s.events().len(), 2);
    assert!(s.client.is_done());
}

#[test]
fn server_reset_after_the_response_ends_the_upload() {
    let mut s = Scripted::new(Settings::default());
    let id = s
        .client
        .send_request(&Request::post("http://x/").body(()).unwrap(), false)
        .unwrap();
    s.headers(id, &[(":status", "413")], true);
    let mut buf = BytesMut::new();
    frame::encode_rst_stream(id, ErrorCode::NoError, &mut buf);
    s.feed(buf);
    let events = s.events();
    assert!(
        matches!(
            &events[..],
            [
                ClientEvent::Response {
                    end_stream: true,
                    ..
                },
                ClientEvent::Reset {
                    code: ErrorCode::NoError,
                    ..
                },
            ]
        ),
        "{events:?}"
    );
    assert_eq!(
        s.client.send_data(id, Bytes::from_static(b"x"), true),
        Err(crate::h2::conn::StreamGone)
    );
    assert_eq!(s.client.active_streams(), 0);
}

#[test]
fn response_window_is_returned_as_the_body_is_released() {
    let limits = Limits {
        h2_initial_window_size: 65_535,
        ..Limits::default()
    };
    let mut s = Scripted::with_limits(limits, Settings::default());
    let id = s.client.send_request(&get("http://x/"), true).unwrap();
    s.headers(id, &[(":status", "200")], false);
    s.data(id, &[0; 16_384], false);
    s.data(id, &[0; 16_384], false);
    s.client.release(id, 32_768);
    let out = s.output();
    assert!(
        out.iter().any(
            |f| matches!(f, Frame::WindowUpdate(w) if w.stream_id == id && w.increment == 32_768)
        ),
        "{out:?}"
    );
    // A server overrunning the stream window (65 535 again) gets a
    // stream error.
    for _ in 0..4 {
        s.data(id, &[0; 16_384], false);
    }
    assert_eq!(s.rst_code(id), Some(ErrorCode::FlowControlError));
}

/// A scripted server: its frames are encoded by hand, the client's output
/// is decoded with a server-role decoder.
struct Scripted {
    client: ClientConnection,
    enc: hpack::Encoder,
    frames: FrameDecoder,
    result: Result<(), H2Error>,
    /// What the client wrote before the server said anything.
    first_output: Vec<Frame>,
}

impl Scripted {
    /// Connected: the client's preface read, our `settings` and an ACK
    /// of the client's sent.
    fn new(settings: Settings) -> Scripted {
        Scripted::with_limits(Limits::default(), settings)
    }

    fn with_limits(limits: Limits, settings: Settings) -> Scripted {
        let mut s = Scripted {
            client: ClientConnection::new(&limits),
            enc: hpack::Encoder::new(4096),
            frames: FrameDecoder::new(Role::Server, frame::MAX_MAX_FRAME_SIZE),
            result: Ok(()),
            first_output: Vec::new(),
        };
        let mut out = BytesMut::new();
        s.client.poll_output(&mut out, usize::MAX);
        assert_eq!(frame::decode_preface(&mut out), Ok(true));
        while let Some(f) = s.frames.decode(&mut out).unwrap() {
            s.first_output.push(f);
        }
        let mut buf = BytesMut::new();
        frame::encode_settings(&settings, &mut buf);
        frame::encode_settings_ack(&mut buf);
        s.feed(buf);
        s
    }

    fn feed(&mut self, mut buf: BytesMut) {
        let result = self.client.recv(&mut buf);
        if self.result.is_ok() {
            self.result = result;
        }
    }

    fn output(&mut self) -> Vec<Frame> {
        let mut out = BytesMut::new();
        self.client.poll_output(&mut out, usize::MAX);
        let mut frames = Vec::new();
        while let Some(f) = self.frames.decode(&mut out).expect("client output decodes") {
            frames.push(f);
        }
        assert!(out.is_empty());
        frames
    }

    fn events(&mut self) -> Vec<ClientEvent> {
        std::iter::from_fn(|| self.client.poll_event()).collect()
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

    fn data(&mut self, id: u32, data: &[u8], end_stream: bool) {
        let mut buf = BytesMut::new();
        frame::encode_data(id, data, end_stream, &mut buf);
        self.feed(buf);
    }

    /// Lengths of the DATA frames of `id` in the client's output.
    fn data_lengths(&mut self, id: u32) -> Vec<usize> {
        self.output()
            .into_iter()
            .filter_map(|f| match f {
                Frame::Data(d) if d.stream_id == id => Some(d.data.len()),
                _ => None,
            })
            .collect()
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
}

/// The same server bytes, fed whole or in pieces of any size, give the
/// same events.
#[test]
fn input_split_anywhere_gives_the_same_events() {
    let mut enc = hpack::Encoder::new(4096);
    let mut wire = BytesMut::new();
    frame::encode_settings(&Settings::default(), &mut wire);
    let mut block = BytesMut::new();
    enc.encode_fields([(&b":status"[..], &b"103"[..])], &mut block);
    frame::encode_headers(1, &block, false, 16_384, &mut wire);
    block.clear();
    let long = "x".repeat(40);
    enc.encode_fields(
        [(&b":status"[..], &b"200"[..]), (b"x-long", long.as_bytes())],
        &mut block,
    );
    // Small frames: the head arrives in CONTINUATION frames.
    let (first, rest) = block.split_at(10);
    let mut headers = BytesMut::new();
    frame::encode_headers(1, first, false, 16_384, &mut headers);
    // Clear END_HEADERS (flags byte 4 of the header): CONTINUATION follows.
    headers[4] &= !frame::flags::END_HEADERS;
    wire.extend_from_slice(&headers);
    frame::encode_continuation(1, rest, true, &mut wire);
    frame::encode_data(1, b"hello ", false, &mut wire);
    frame::encode_data(1, b"world", false, &mut wire);
    block.clear();
    enc.encode_fields([(&b"x-trailer"[..], &b"t"[..])], &mut block);
    frame::encode_headers(1, &block, true, 16_384, &mut wire);
    frame::encode_ping(*b"pingpong", &mut wire);

    let run = |step: usize| -> String {
        let mut client = ClientConnection::new(&Limits::default());
        client.send_request(&get("http://x/"), true).unwrap();
        let mut buf = BytesMut::new();
        for piece in wire.chunks(step) {
            buf.extend_from_slice(piece);
            client.recv(&mut buf).unwrap();
        }
        assert!(buf.is_empty());
        format!(
            "{:?}",
            std::iter::from_fn(|| client.poll_event()).collect::<Vec<_>>()
        )
    };
    let whole = run(wire.len());
    assert!(
        whole.contains("Informational") && whole.contains("Trailers"),
        "{whole}"
    );
    for step in 1..40 {
        assert_eq!(run(step), whole, "pieces of {step}");
    }
}

/// An RFC 8441 extended CONNECT for `uri`.
fn websocket_connect(uri: &str) -> Request<()> {
    let mut request = Request::connect(uri)
        .header("sec-websocket-version", "13")
        .body(())
        .unwrap();
    request
        .extensions_mut()
        .insert(crate::upgrade::Protocol::new("websocket"));
    request
}

#[test]
fn extended_connect_round_trip() {
    let mut p = Pair::new();
    let request = websocket_connect("https://example.com/chat?room=1");
    // Not before the server's SETTINGS said it takes them.
    assert!(!p.client.extended_connect_allowed());
    assert!(matches!(
        p.client.send_request(&request, false),
        Err(OpenError::InvalidRequest(_))
    ));
    p.pump();
    assert!(p.client.extended_connect_allowed());
    // Never with END_STREAM: the tunnel stays open.
    assert!(p.client.send_request(&request, true).is_err());
    let id = p.client.send_request(&request, false).unwrap();
    p.pump();
    let events = p.server_events();
    let [Event::Request {
        stream_id,
        request,
        end_stream: false,
    }] = &events[..]
    else {
        panic!("{events:?}")
    };
    assert_eq!(*stream_id, id);
    assert_eq!(request.method(), Method::CONNECT);
    assert_eq!(request.uri(), "https://example.com/chat?room=1");
    assert!(request
        .extensions()
        .get::<crate::upgrade::Protocol>()
        .is_some_and(|p| p.is("websocket")));
    p.server
        .send_response(id, StatusCode::OK, &HeaderMap::new(), false)
        .unwrap();
    p.pump();
    assert!(matches!(
        &p.client_events()[..],
        [ClientEvent::Response {
            end_stream: false,
            ..
        }]
    ));
    // Both ways, then both ends close.
    p.client
        .send_data(id, Bytes::from_static(b"up"), false)
        .unwrap();
    p.server
        .send_data(id, Bytes::from_static(b"down"), true)
        .unwrap();
    p.pump();
    assert!(matches!(
        &p.server_events()[..],
        [Event::Data { data, end_stream: false, .. }] if &data[..] == b"up"
    ));
    assert!(matches!(
        &p.client_events()[..],
        [ClientEvent::Data { data, end_stream: true, .. }] if &data[..] == b"down"
    ));
    p.client.send_data(id, Bytes::new(), true).unwrap();
    p.pump();
    assert_eq!(p.client.active_streams(), 0);
    assert_eq!(p.server.active_streams(), 0);
}

#[test]
fn a_protocol_is_only_sent_on_connect_and_not_withdrawn() {
    let mut p = Pair::new();
    p.pump();
    let mut get = get("https://example.com/");
    get.extensions_mut()
        .insert(crate::upgrade::Protocol::new("websocket"));
    assert!(matches!(
        p.client.send_request(&get, true),
        Err(OpenError::InvalidRequest(_))
    ));
    // RFC 8441 §3: a server that offered it may not take it back.
    let mut buf = BytesMut::new();
    frame::encode_settings(
        &Settings {
            enable_connect_protocol: Some(false),
            ..Settings::default()
        },
        &mut buf,
    );
    let err = p.client.recv(&mut buf).unwrap_err();
    assert_eq!(err.code(), ErrorCode::ProtocolError);
}

#[test]
fn connect_protocol_may_be_repeated_or_never_offered() {
    let settings = |on| {
        let mut buf = BytesMut::new();
        frame::encode_settings(
            &Settings {
                enable_connect_protocol: Some(on),
                ..Settings::default()
            },
            &mut buf,
        );
        buf
    };
    // A server that offered it may say so again.
    let mut p = Pair::new();
    p.pump();
    p.client.recv(&mut settings(true)).unwrap();
    // One that never offered it may say 0 (RFC 8441 §3 forbids only 1 → 0).
    let off = Limits::default().h2_enable_connect_protocol(false);
    let mut p = Pair::with_limits(Limits::default(), off);
    p.pump();
    p.client.recv(&mut settings(false)).unwrap();
    p.client.recv(&mut settings(false)).unwrap();
}

#[test]
fn prepared_requests_mix_with_encoded_ones() {
    use crate::h2::conn::PreparedRequest;
    let mut p = Pair::new();
    let request = Request::get("http://example.com/p?q=1")
        .header("accept", "text/plain")
        .header("x-custom", "indexed by send_request")
        .body(())
        .unwrap();
    let prepared = PreparedRequest::new(&request).unwrap();
    // send_request indexes fields in the server's dynamic table; the
    // prepared block refers to none of them, before or after.
    let mut ids = Vec::new();
    for i in 0..6 {
        let id = if i % 2 == 0 {
            p.client.send_prepared(&prepared, true).unwrap()
        } else {
            p.client.send_request(&request, true).unwrap()
        };
        ids.push(id);
        // A smaller table from the server: the next block must start with
        // the size update, prepared or not.
        if i == 3 {
            let mut settings = BytesMut::new();
            frame::encode_settings(
                &Settings {
                    header_table_size: Some(64),
                    ..Settings::default()
                },
                &mut settings,
            );
            p.client.recv(&mut settings).unwrap();
        }
    }
    assert_eq!(ids, [1, 3, 5, 7, 9, 11]);
    p.pump();
    let events = p.server_events();
    assert_eq!(events.len(), 6, "{events:?}");
    for event in &events {
        let Event::Request { request: got, .. } = event else {
            panic!("{event:?}")
        };
        assert_eq!(got.uri(), "http://example.com/p?q=1");
        assert_eq!(got.headers()["accept"], "text/plain");
        assert_eq!(got.headers()["x-custom"], "indexed by send_request");
    }
}

#[test]
fn responses_without_their_fields_are_checked_the_same() {
    let mut p = Pair::new();
    p.client.keep_response_fields(false);
    let id = p
        .client
        .send_request(&get("http://example.com/"), true)
        .unwrap();
    p.pump();
    p.server_events();
    let mut headers = HeaderMap::new();
    headers.insert("content-length", "5".parse().unwrap());
    headers.insert("x-kept", "no".parse().unwrap());
    p.server
        .send_response(id, StatusCode::CREATED, &headers, false)
        .unwrap();
    // One byte more than the content-length: still a stream error.
    p.server
        .send_data(id, Bytes::from_static(b"sixsix"), true)
        .unwrap();
    p.pump();
    let events = p.client_events();
    assert!(
        matches!(&events[..], [
            ClientEvent::Response { response, end_stream: false, .. },
            ClientEvent::Reset { code: ErrorCode::ProtocolError, .. },
        ] if response.status() == StatusCode::CREATED && response.headers().is_empty()),
        "{events:?}"
    );
}

#[test]
fn open_errors_name_their_reason() {
    assert_eq!(
        OpenError::ConcurrencyLimit.to_string(),
        "too many concurrent streams"
    );
    assert_eq!(OpenError::GoingAway.to_string(), "connection is going away");
    assert_eq!(
        OpenError::StreamIdsExhausted.to_string(),
        "stream ids exhausted"
    );
    assert_eq!(
        OpenError::InvalidRequest("x").to_string(),
        "invalid request: x"
    );
}

#[test]
fn client_stream_state_is_reported() {
    let server = Limits {
        h2_max_concurrent_streams: 7,
        ..Limits::default()
    };
    let mut p = Pair::with_limits(Limits::default(), server);
    assert_eq!(p.client.max_concurrent_streams(), u32::MAX, "not yet known");
    p.pump();
    assert_eq!(p.client.max_concurrent_streams(), 7);
    assert!(!p.client.has_output());
    let post = Request::post("http://x/up").body(()).unwrap();
    let id = p.client.send_request(&post, false).unwrap();
    assert_eq!(p.client.active_streams(), 1);
    assert_eq!(p.client.queued(id), Some(0));
    p.client
        .send_data(id, Bytes::from_static(b"abc"), false)
        .unwrap();
    assert_eq!(p.client.queued(id), Some(3));
    assert_eq!(p.client.queued(id + 2), None);
    assert!(!p.client.is_blocked_on_window(id));
    assert!(p.client.has_output());
    p.pump();
    assert_eq!(p.client.queued(id), Some(0));
    assert!(!p.client.has_output());
    p.client.reset(id, ErrorCode::Cancel);
    assert_eq!(p.client.active_streams(), 0);
    p.pump();
    let events = p.server_events();
    assert!(
        events.iter().any(
            |e| matches!(e, Event::Reset { stream_id, code: ErrorCode::Cancel } if *stream_id == id)
        ),
        "{events:?}"
    );
}

#[test]
fn host_alone_or_te_alone_is_filtered_too() {
    let mut p = Pair::new();
    let with_host = Request::get("/h")
        .header("host", "example.org")
        .header("te", "trailers")
        .body(())
        .unwrap();
    let with_te = Request::get("http://example.org/t")
        .header("te", "gzip")
        .body(())
        .unwrap();
    p.client.send_request(&with_host, true).unwrap();
    p.client.send_request(&with_te, true).unwrap();
    p.pump();
    let events = p.server_events();
    let [Event::Request { request: h, .. }, Event::Request { request: t, .. }] = &events[..] else {
        panic!("{events:?}")
    };
    assert_eq!(h.uri(), "http://example.org/h");
    assert!(h.headers().get("host").is_none());
    assert_eq!(h.headers()["te"], "trailers");
    assert_eq!(t.uri(), "http://example.org/t");
    assert!(t.headers().get("te").is_none());
}

#[test]
fn a_request_body_stalled_on_the_window_expires() {
    use std::time::{Duration, Instant};
    let server = Limits {
        h2_initial_window_size: 10,
        ..Limits::default()
    };
    let mut p = Pair::with_limits(Limits::default(), server);
    p.pump();
    let post = Request::post("http://x/up").body(()).unwrap();
    let id = p.client.send_request(&post, false).unwrap();
    p.client
        .send_data(id, Bytes::from_static(&[0; 30]), false)
        .unwrap();
    p.pump();
    assert!(p.client.is_blocked_on_window(id));
    assert_eq!(p.client.queued(id), Some(20));
    let now = Instant::now();
    let timeout = Duration::from_secs(5);
    assert_eq!(
        p.client.expire_window_stalls(now, timeout),
        Some(now + timeout)
    );
    assert_eq!(p.client.active_streams(), 1);
    assert_eq!(p.client.expire_window_stalls(now + timeout, timeout), None);
    assert_eq!(p.client.active_streams(), 0, "reset with CANCEL");
}

#[test]
fn the_client_goes_away() {
    let mut p = Pair::new();
    let id = p.client.send_request(&get("http://x/"), true).unwrap();
    p.pump();
    p.client.go_away();
    assert!(!p.client.can_open_stream());
    assert_eq!(
        p.client.send_request(&get("http://x/"), true),
        Err(OpenError::GoingAway)
    );
    // Its open stream still gets its answer.
    assert_eq!(p.answer_all(StatusCode::OK, b""), [id]);
    p.pump();
    assert!(matches!(
        &p.client_events()[..],
        [ClientEvent::Response {
            end_stream: true,
            ..
        }]
    ));
    assert!(p.client.is_done());
}

/// `send_head` writes the same bytes as `send_request` of the same head
/// (Host and a `te` other than `trailers` left out, `:authority` from the
/// URI or else Host), on connections whose encoders stay in step, and
/// refuses CONNECT as it does.
#[test]
fn send_head_writes_what_send_request_writes() {
    let mut by_request = ClientConnection::new(&Limits::default());
    let mut by_head = ClientConnection::new(&Limits::default());
    let mut headers = HeaderMap::new();
    headers.insert(http::header::USER_AGENT, "t".parse().unwrap());
    headers.insert(http::header::HOST, "h.example".parse().unwrap());
    headers.insert(http::header::TE, "gzip".parse().unwrap());
    let cases: [(Option<&str>, &str); 4] = [
        (Some("example.com:81"), "/a?b"),
        (Some("example.com:81"), "/a?b"),
        (None, "/c"),
        (Some("example.com:81"), "/d"),
    ];
    for (authority, path) in cases {
        let uri = match authority {
            Some(a) => format!("http://{a}{path}"),
            None => path.to_string(),
        };
        let mut request = Request::get(uri).body(()).unwrap();
        *request.headers_mut() = headers.clone();
        let head = crate::h2::conn::RequestHead {
            method: &Method::GET,
            scheme: "http",
            authority,
            path,
            headers: &headers,
        };
        let a = by_request.send_request(&request, true).unwrap();
        let b = by_head.send_head(&head, true).unwrap();
        assert_eq!(a, b);
        let (mut out_a, mut out_b) = (BytesMut::new(), BytesMut::new());
        by_request.poll_output(&mut out_a, usize::MAX);
        by_head.poll_output(&mut out_b, usize::MAX);
        assert_eq!(out_a, out_b, "{authority:?} {path}");
    }
    let connect = crate::h2::conn::RequestHead {
        method: &Method::CONNECT,
        scheme: "http",
        authority: Some("x"),
        path: "/",
        headers: &HeaderMap::new(),
    };
    assert!(matches!(
        by_head.send_head(&connect, true),
        Err(OpenError::InvalidRequest(_))
    ));
}
