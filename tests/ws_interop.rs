//! WebSocket against real clients (Python `websockets`, Node's `ws`) and
//! raw sockets, on both drivers.

mod common;
use common::*;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Command;
use std::time::{Duration, Instant};

use percore::{DriverChoice, Limits};

fn python_ws(srv: &TestServer, args: &[&str]) {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/py/ws_client.py");
    let url = srv.url("");
    let mut all = vec![script, url.as_str()];
    all.extend_from_slice(args);
    let out = run(Command::new("python3").args(&all));
    assert_eq!(stdout(&out).trim(), "ok");
}

fn node_ws(srv: &TestServer, args: &[&str]) {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/node");
    let url = srv.url("");
    let out = run(Command::new("node")
        .current_dir(dir)
        .args(["ws_client.js", url.as_str()])
        .args(args));
    assert_eq!(stdout(&out).trim(), "ok");
}

both_drivers!(python_websockets_echo_with_deflate, |d: DriverChoice| {
    let srv = TestServer::start(d);
    python_ws(&srv, &["echo", "compress"]);
});

both_drivers!(python_websockets_echo_without_deflate, |d: DriverChoice| {
    let srv = TestServer::start(d);
    python_ws(&srv, &["echo", "plain"]);
});

both_drivers!(node_ws_echo_with_deflate, |d: DriverChoice| {
    let srv = TestServer::start(d);
    node_ws(&srv, &["compress"]);
});

both_drivers!(node_ws_echo_without_deflate, |d: DriverChoice| {
    let srv = TestServer::start(d);
    node_ws(&srv, &["plain"]);
});

both_drivers!(
    python_websockets_echo_with_deflate_context_takeover,
    |d: DriverChoice| {
        let srv = TestServer::start(d);
        python_ws(&srv, &["echo", "compress", "/ws-takeover"]);
    }
);

both_drivers!(
    node_ws_echo_with_deflate_context_takeover,
    |d: DriverChoice| {
        let srv = TestServer::start(d);
        node_ws(&srv, &["compress", "/ws-takeover"]);
    }
);

both_drivers!(chat_room_spans_cores, |d: DriverChoice| {
    // Two workers, 12 members spread by SO_REUSEPORT's hash of their ports
    // (all on one worker has odds of 1 in 2048); every line reaches every
    // member. The deterministic cross-core check is the runtime's
    // `broadcast_reaches_subscribers_on_every_core`.
    let srv = TestServer::with_cores(d, 2);
    python_ws(&srv, &["chat", "12"]);
});

const KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";

/// Sends a WebSocket upgrade request for `path` with `extra` header lines
/// (each ending in CRLF); returns the stream and the response head.
fn ws_request(srv: &TestServer, path: &str, extra: &str) -> (TcpStream, String) {
    let mut s = TcpStream::connect(srv.addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: {KEY}\r\nSec-WebSocket-Version: 13\r\n{extra}\r\n"
    )
    .unwrap();
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        s.read_exact(&mut byte).unwrap();
        head.push(byte[0]);
    }
    (s, String::from_utf8(head).unwrap())
}

/// Opens a WebSocket by hand on `path` with `extra` header lines; returns
/// the stream and the 101's head.
fn raw_ws_with(srv: &TestServer, path: &str, extra: &str) -> (TcpStream, String) {
    let (s, head) = ws_request(srv, path, extra);
    assert!(head.starts_with("HTTP/1.1 101"), "{head}");
    assert!(head.contains("s3pPLMBiTxaQ9kYGzzhZRbK+xOo="), "{head}");
    (s, head)
}

/// Opens a WebSocket by hand on `path`; returns the stream after the 101.
fn raw_ws(srv: &TestServer, path: &str) -> TcpStream {
    raw_ws_with(srv, path, "").0
}

/// Reads one server frame (unmasked): its first byte and its payload.
fn read_frame(s: &mut TcpStream) -> (u8, Vec<u8>) {
    let mut head = [0u8; 2];
    s.read_exact(&mut head).unwrap();
    assert_eq!(head[1] & 0x80, 0, "server frames are not masked");
    let len = match head[1] & 0x7f {
        126 => {
            let mut n = [0u8; 2];
            s.read_exact(&mut n).unwrap();
            u16::from_be_bytes(n) as usize
        }
        127 => {
            let mut n = [0u8; 8];
            s.read_exact(&mut n).unwrap();
            u64::from_be_bytes(n) as usize
        }
        n => n as usize,
    };
    let mut payload = vec![0u8; len];
    s.read_exact(&mut payload).unwrap();
    (head[0], payload)
}

/// The value of header `name` in a response head (case-insensitive name).
fn header<'h>(head: &'h str, name: &str) -> Option<&'h str> {
    head.lines().find_map(|line| {
        let (n, v) = line.split_once(':')?;
        n.trim().eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

/// A masked client frame.
fn frame(fin_op: u8, payload: &[u8]) -> Vec<u8> {
    let key = [0x12, 0x34, 0x56, 0x78];
    let mut f = vec![fin_op];
    match payload.len() {
        n if n < 126 => f.push(0x80 | n as u8),
        n if n < 65536 => {
            f.push(0x80 | 126);
            f.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            f.push(0x80 | 127);
            f.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    f.extend_from_slice(&key);
    f.extend(payload.iter().enumerate().map(|(i, b)| b ^ key[i % 4]));
    f
}

/// How soon the server must close TCP once it has said goodbye.
const TCP_CLOSE_WITHIN: Duration = Duration::from_secs(2);

/// Reads what the server sends until it closes TCP; returns the bytes.
/// Fails unless the connection reaches EOF within [`TCP_CLOSE_WITHIN`]
/// (a timeout or a reset is a failure).
fn read_to_close(s: &mut TcpStream) -> Vec<u8> {
    read_to_eof(s, TCP_CLOSE_WITHIN)
}

/// The close code in the first Close frame of `bytes` (server frames are unmasked).
fn close_code(bytes: &[u8]) -> Option<u16> {
    let mut i = 0;
    while i + 2 <= bytes.len() {
        let op = bytes[i] & 0x0f;
        let len = (bytes[i + 1] & 0x7f) as usize;
        let (start, len) = match len {
            126 => (
                i + 4,
                u16::from_be_bytes([bytes[i + 2], bytes[i + 3]]) as usize,
            ),
            127 => (
                i + 10,
                u64::from_be_bytes(bytes[i + 2..i + 10].try_into().ok()?) as usize,
            ),
            n => (i + 2, n),
        };
        if op == 0x8 {
            return Some(u16::from_be_bytes([bytes[start], bytes[start + 1]]));
        }
        i = start + len;
    }
    None
}

both_drivers!(handshake_refusals, |d: DriverChoice| {
    let srv = TestServer::start(d);
    let ask = |extra: &str| {
        let raw = raw_exchange(
            srv.addr,
            format!("GET /ws HTTP/1.1\r\nHost: x\r\nConnection: close\r\n{extra}\r\n").as_bytes(),
            Duration::from_secs(5),
        );
        String::from_utf8(raw).unwrap()
    };
    // Not an upgrade at all.
    assert!(ask("").starts_with("HTTP/1.1 400"));
    // Wrong version: 426 with the version we speak.
    let r = ask(&format!(
        "Upgrade: websocket\r\nConnection: close, Upgrade\r\nSec-WebSocket-Key: {KEY}\r\nSec-WebSocket-Version: 8\r\n"
    ));
    assert!(r.starts_with("HTTP/1.1 426"), "{r}");
    assert!(
        r.to_ascii_lowercase().contains("sec-websocket-version: 13"),
        "{r}"
    );
    // Bad key.
    let r = ask("Upgrade: websocket\r\nConnection: close, Upgrade\r\nSec-WebSocket-Key: short\r\nSec-WebSocket-Version: 13\r\n");
    assert!(r.starts_with("HTTP/1.1 400"), "{r}");
});

both_drivers!(
    protocol_violations_get_their_close_codes,
    |d: DriverChoice| {
        let srv = TestServer::start(d);
        // Unmasked frame from a client → 1002.
        let mut s = raw_ws(&srv, "/ws");
        s.write_all(&[0x81, 0x02, b'h', b'i']).unwrap();
        assert_eq!(close_code(&read_to_close(&mut s)), Some(1002));
        // Invalid UTF-8 in a text message → 1007.
        let mut s = raw_ws(&srv, "/ws");
        s.write_all(&frame(0x81, &[0xff, 0xfe])).unwrap();
        assert_eq!(close_code(&read_to_close(&mut s)), Some(1007));
        // Reserved opcode → 1002.
        let mut s = raw_ws(&srv, "/ws");
        s.write_all(&frame(0x83, b"x")).unwrap();
        assert_eq!(close_code(&read_to_close(&mut s)), Some(1002));
        // A chat line over the room's 4 KiB limit → 1009.
        let mut s = raw_ws(&srv, "/chat");
        s.write_all(&frame(0x81, &[b'a'; 5000])).unwrap();
        assert_eq!(close_code(&read_to_close(&mut s)), Some(1009));
        // A valid close code is echoed, then the server closes TCP.
        let mut s = raw_ws(&srv, "/ws");
        s.write_all(&frame(0x88, &4321u16.to_be_bytes())).unwrap();
        assert_eq!(close_code(&read_to_close(&mut s)), Some(4321));
        // An invalid close code → 1002.
        let mut s = raw_ws(&srv, "/ws");
        s.write_all(&frame(0x88, &1005u16.to_be_bytes())).unwrap();
        assert_eq!(close_code(&read_to_close(&mut s)), Some(1002));
    }
);

both_drivers!(
    bytes_pipelined_behind_the_handshake_are_kept,
    |d: DriverChoice| {
        let srv = TestServer::start(d);
        let mut s = TcpStream::connect(srv.addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut req = format!(
            "GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: {KEY}\r\nSec-WebSocket-Version: 13\r\n\r\n"
        )
        .into_bytes();
        req.extend(frame(0x81, b"early"));
        s.write_all(&req).unwrap();
        let mut got = Vec::new();
        let mut buf = [0u8; 1024];
        while !got.ends_with(b"\x81\x05early") {
            let n = s.read(&mut buf).unwrap();
            assert!(n > 0, "{:?}", String::from_utf8_lossy(&got));
            got.extend_from_slice(&buf[..n]);
        }
    }
);

both_drivers!(heartbeat_closes_a_silent_peer, |d: DriverChoice| {
    let srv = TestServer::start(d);
    let mut s = raw_ws(&srv, "/ws-heartbeat");
    let start = Instant::now();
    // We never answer: the server pings after 200 ms, then gives up.
    let bytes = read_to_close(&mut s);
    let waited = start.elapsed();
    assert!(
        bytes.starts_with(&[0x89, 0x00]),
        "expected a ping first: {bytes:?}"
    );
    assert!(waited >= Duration::from_millis(350), "{waited:?}");
    assert!(waited < Duration::from_secs(3), "{waited:?}");
});

both_drivers!(one_mebibyte_messages_echo_intact, |d: DriverChoice| {
    let srv = TestServer::start(d);
    let mut s = raw_ws(&srv, "/ws");
    for round in 0..3u8 {
        let data: Vec<u8> = (0..1usize << 20).map(|i| (i % 253) as u8 ^ round).collect();
        s.write_all(&frame(0x82, &data)).unwrap();
        let mut head = [0u8; 10];
        s.read_exact(&mut head).unwrap();
        assert_eq!(&head[..2], &[0x82, 0x7f]);
        assert_eq!(u64::from_be_bytes(head[2..].try_into().unwrap()), 1 << 20);
        let mut echoed = vec![0u8; 1 << 20];
        s.read_exact(&mut echoed).unwrap();
        assert!(echoed == data, "round {round}: echo differs");
    }
});

both_drivers!(server_shutdown_says_going_away, |d: DriverChoice| {
    let mut srv = TestServer::start(d);
    let mut s = raw_ws(&srv, "/ws");
    s.write_all(&frame(0x82, b"hi")).unwrap();
    let mut echo = [0u8; 4];
    s.read_exact(&mut echo).unwrap();
    assert_eq!(&echo, b"\x82\x02hi");
    let stopper = std::thread::spawn(move || {
        let started = Instant::now();
        srv.stop();
        started.elapsed()
    });
    // The server says goodbye with 1001 ...
    let mut close = [0u8; 4];
    s.read_exact(&mut close).unwrap();
    assert_eq!(close[0], 0x88, "{close:?}");
    let mut reason = vec![0u8; (close[1] & 0x7f) as usize - 2];
    s.read_exact(&mut reason).unwrap();
    assert_eq!(close_code(&[&close[..], &reason[..]].concat()), Some(1001));
    // ... we answer, it closes TCP, and the shutdown finishes well before its deadline.
    s.write_all(&frame(0x88, &1001u16.to_be_bytes())).unwrap();
    assert!(read_to_close(&mut s).is_empty());
    let took = stopper.join().unwrap();
    assert!(took < Duration::from_secs(3), "{took:?}");
});

both_drivers!(origin_check_refuses_other_origins, |d: DriverChoice| {
    let srv = TestServer::start(d);
    // Another site's page, and a client that sends no Origin: 403.
    for extra in ["Origin: https://evil.example\r\n", ""] {
        let (_s, head) = ws_request(&srv, "/ws-origin", extra);
        assert!(head.starts_with("HTTP/1.1 403"), "{extra:?}: {head}");
    }
    // The allowed origin gets its WebSocket, which works.
    let (mut s, _) = raw_ws_with(&srv, "/ws-origin", &format!("Origin: {ALLOWED_ORIGIN}\r\n"));
    s.write_all(&frame(0x81, b"hello")).unwrap();
    assert_eq!(read_frame(&mut s), (0x81, b"hello".to_vec()));
});

both_drivers!(subprotocol_is_negotiated, |d: DriverChoice| {
    let srv = TestServer::start(d);
    // (offered, the server's choice): the server prefers chat.v2 over chat.v1.
    let cases = [
        ("bogus, chat.v1", Some("chat.v1")),
        ("chat.v1, chat.v2", Some("chat.v2")),
        ("bogus", None),
    ];
    for (offered, chosen) in cases {
        let (mut s, head) = raw_ws_with(
            &srv,
            "/ws-protocol",
            &format!("Sec-WebSocket-Protocol: {offered}\r\n"),
        );
        assert_eq!(header(&head, "sec-websocket-protocol"), chosen, "{head}");
        // The handler sees the same choice, and what was offered.
        let (op, said) = read_frame(&mut s);
        assert_eq!(op, 0x81);
        let want = format!(
            "{} of {}",
            chosen.unwrap_or("none"),
            offered.replace(' ', "")
        );
        assert_eq!(String::from_utf8(said).unwrap(), want);
    }
});

both_drivers!(heartbeat_keeps_a_peer_that_answers, |d: DriverChoice| {
    let srv = TestServer::start(d);
    // The server's clock starts at the upgrade, before the 101 reaches us.
    let start = Instant::now();
    let mut s = raw_ws(&srv, "/ws-heartbeat");
    // The server pings after 200 ms without input and gives up 200 ms after
    // an unanswered ping; each pong counts as input. Answer four pings: that
    // takes at least 800 ms, twice as long as a silent peer lasts.
    for _ in 0..4 {
        let (op, payload) = read_frame(&mut s);
        assert_eq!(op, 0x89, "expected a ping, got {op:#x} {payload:?}");
        s.write_all(&frame(0x8a, &payload)).unwrap();
    }
    let alive = start.elapsed();
    assert!(alive >= Duration::from_millis(800), "{alive:?}");
    // Still open: the closing handshake completes normally.
    s.write_all(&frame(0x88, &1000u16.to_be_bytes())).unwrap();
    assert_eq!(close_code(&read_to_close(&mut s)), Some(1000));
});

/// Bytes that surely exceed what a connection's kernel buffers can hold:
/// the largest send buffer plus the largest receive buffer, and 1 MiB.
fn more_than_socket_buffers() -> usize {
    let max = |knob: &str| -> usize {
        std::fs::read_to_string(format!("/proc/sys/net/ipv4/{knob}"))
            .ok()
            .and_then(|v| v.split_whitespace().last()?.parse().ok())
            .unwrap_or(32 << 20)
    };
    max("tcp_wmem") + max("tcp_rmem") + (1 << 20)
}

both_drivers!(
    send_waits_while_the_peer_does_not_read,
    |d: DriverChoice| {
        use bytes::{Bytes, BytesMut};
        use percore::rt::net::TcpListener;
        use percore::rt::{spawn_local, time::sleep, Builder};
        use percore::ws::{Codec, Config, Message, Role, WebSocket};
        use std::rc::Rc;

        let rt = Builder::new().driver(d).build().unwrap();
        let want_kind = match d {
            DriverChoice::Uring => percore::rt::DriverKind::Uring,
            _ => percore::rt::DriverKind::Epoll,
        };
        assert_eq!(rt.driver().kind, want_kind);
        rt.block_on(async {
            let listener = TcpListener::bind("127.0.0.1:0").unwrap();
            // The peer connects (the backlog completes it) and reads nothing yet.
            let mut peer = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
            peer.set_read_timeout(Some(Duration::from_secs(10)))
                .unwrap();
            let (stream, _) = listener.accept().await.unwrap();
            let ws = WebSocket::new(
                Rc::new(percore::http::server::Conn::from(stream)),
                BytesMut::new(),
                Codec::new(Role::Server, Config::default()),
            );
            let (_reader, writer) = ws.split();
            let len = more_than_socket_buffers();
            let big = Bytes::from((0..len).map(|i| (i % 251) as u8).collect::<Vec<u8>>());
            let w = writer.clone();
            let data = big.clone();
            let big_send = spawn_local(async move { w.send(Message::Binary(data)).await });
            // A second sender queues behind the first.
            let small_send = spawn_local(async move { writer.send(Message::text("after")).await });
            sleep(Duration::from_millis(300)).await;
            assert!(
                !big_send.is_finished(),
                "send finished with the peer not reading"
            );
            assert!(!small_send.is_finished(), "queued send finished early");
            // The peer reads: both sends complete, the bytes arrive in order.
            let reader = std::thread::spawn(move || {
                let (op, payload) = read_frame(&mut peer);
                assert_eq!(op, 0x82);
                assert!(payload == big, "big message differs");
                assert_eq!(read_frame(&mut peer), (0x81, b"after".to_vec()));
            });
            let sent = (big_send.await.unwrap(), small_send.await.unwrap());
            // A failing reader drops its socket, which fails the sends: its
            // panic says more.
            if let Err(panic) = reader.join() {
                std::panic::resume_unwind(panic);
            }
            sent.0.unwrap();
            sent.1.unwrap();
        });
    }
);

both_drivers!(a_peer_that_stops_reading_is_cut_off, |d: DriverChoice| {
    // The server inherits its HTTP write timeout (500 ms here) for the
    // WebSocket. /ws-flood sends 1 MiB messages forever; the client reads
    // nothing for 2.5 s, then reads until the server ends the connection.
    let limits = Limits::default().write_timeout(Duration::from_millis(500));
    let srv = TestServer::with_limits(d, limits);
    let mut s = raw_ws(&srv, "/ws-flood");
    std::thread::sleep(Duration::from_millis(2500));
    s.set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let t0 = Instant::now();
    let mut buf = vec![0u8; 1 << 20];
    let mut got = 0usize;
    let ended = loop {
        if t0.elapsed() > Duration::from_secs(10) {
            break false;
        }
        match s.read(&mut buf) {
            Ok(0) => break true,
            Ok(n) => got += n,
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(_) => break true,
        }
    };
    assert!(ended, "still flooding after {got} bytes read");
});
