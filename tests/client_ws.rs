//! percore's WebSocket client, on both drivers: against Python
//! `websockets` and Node `ws` servers (deflate on and off; `wss://` with
//! Python's TLS), percore's own server, and hostile raw servers (wrong answers, masked or oversized
//! frames, silence) that must end in clear errors, never a panic or hang.

mod common;
#[path = "client_raw/mod.rs"]
mod raw;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::Command;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use common::{listening_addr, start_listening, TestServer};
use percore::client::{Client, ErrorKind, TimeoutKind};
use percore::ws::{Message, ProtocolError, WsError};
use percore::DriverChoice;
use raw::ws::{close_from_client, echo_round_trips, next_data, session_at};
use raw::{read_head, runtime};

/// A session with a peer script (`tests/py/ws_server.py` or
/// `tests/node/ws_server.js`): subprotocol and deflate negotiated as
/// asked, echoes, the server's ping answered, the server's close, ours.
fn peer_session(d: DriverChoice, cmd: Command, deflate: bool) {
    session_at(d, cmd, deflate, Client::new, |addr| {
        format!("ws://{addr}/chat")
    })
}

fn python_server(mode: &str) -> Command {
    let mut cmd = Command::new("python3");
    cmd.args([
        concat!(env!("CARGO_MANIFEST_DIR"), "/tests/py/ws_server.py"),
        mode,
    ]);
    cmd
}

fn node_server(mode: &str) -> Command {
    let mut cmd = Command::new("node");
    cmd.current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/node"))
        .args(["ws_server.js", mode]);
    cmd
}

both_drivers!(python_websockets_with_deflate, |d| {
    peer_session(d, python_server("compress"), true)
});

both_drivers!(python_websockets_without_deflate, |d| {
    peer_session(d, python_server("plain"), false)
});

both_drivers!(python_websockets_over_tls, |d| {
    let pki = common::pki::Pki::new();
    for deflate in [false, true] {
        let mut cmd = python_server(if deflate { "compress" } else { "plain" });
        cmd.arg(pki.path("cert.pem")).arg(pki.path("key.pem"));
        let ca = pki.pem("ca.pem");
        let make = || Client::builder().add_root_certificate(&ca).build().unwrap();
        session_at(d, cmd, deflate, make, |addr| {
            format!("wss://localhost:{}/chat", addr.port())
        });
    }
    // Without the CA: a TLS error, before any upgrade.
    let mut cmd = python_server("plain");
    cmd.arg(pki.path("cert.pem")).arg(pki.path("key.pem"));
    let (_peer, line) = start_listening(&mut cmd);
    let port = listening_addr(&line).port();
    runtime(d).block_on(async move {
        let opened = Client::new()
            .ws(format!("wss://localhost:{port}/chat"))
            .connect()
            .await;
        let err = opened.map(|_| ()).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Tls, "{err}");
    });
});

both_drivers!(node_ws_with_deflate, |d| {
    peer_session(d, node_server("compress"), true)
});

both_drivers!(node_ws_without_deflate, |d| {
    peer_session(d, node_server("plain"), false)
});

/// percore's own server: the demo's `/ws` echo (it accepts deflate).
fn percore_session(d: DriverChoice, deflate: bool) {
    let srv = TestServer::start(d);
    let url = srv.url("/ws").replacen("http://", "ws://", 1);
    runtime(d).block_on(async move {
        let client = Client::new();
        let mut ws = client.ws(&url).deflate(deflate).connect().await.unwrap();
        echo_round_trips(&mut ws).await;
        close_from_client(ws).await;
    });
}

both_drivers!(percore_server_with_deflate, |d| percore_session(d, true));

both_drivers!(percore_server_without_deflate, |d| percore_session(
    d, false
));

both_drivers!(percore_server_chooses_a_subprotocol, |d: DriverChoice| {
    let srv = TestServer::start(d);
    let url = srv.url("/ws-protocol");
    runtime(d).block_on(async move {
        let mut ws = Client::new()
            .ws(&url)
            .protocols(["chat.v1", "other"])
            .connect()
            .await
            .unwrap();
        assert_eq!(ws.protocol().as_deref(), Some("chat.v1"));
        assert_eq!(
            next_data(&mut ws).await,
            Message::text("chat.v1 of chat.v1,other")
        );
        close_from_client(ws).await;
    });
});

// ---- hostile servers ----

/// A raw server for one connection: reads the upgrade request head, then
/// `answer(stream, head, key)` does the rest; its result comes back on
/// join.
fn one_shot<T, F>(answer: F) -> (SocketAddr, JoinHandle<T>)
where
    T: Send + 'static,
    F: FnOnce(&mut TcpStream, &str, &str) -> T + Send + 'static,
{
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let thread = std::thread::spawn(move || {
        let (mut conn, _) = listener.accept().unwrap();
        conn.set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let head = read_head(&mut conn).expect("an upgrade request");
        let key = head
            .lines()
            .find_map(|l| {
                let (name, value) = l.split_once(':')?;
                name.eq_ignore_ascii_case("sec-websocket-key")
                    .then(|| value.trim().to_string())
            })
            .unwrap_or_default();
        answer(&mut conn, &head, &key)
    });
    (addr, thread)
}

/// A correct 101 for `key`, with `extra` header lines (each ending in CRLF).
fn switching(key: &str, extra: &str) -> String {
    format!(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Accept: {}\r\n{extra}\r\n",
        percore::ws::handshake::accept_key(key)
    )
}

/// Reads one client frame: it must be masked; returns opcode byte and the
/// unmasked payload.
fn read_client_frame(conn: &mut TcpStream) -> (u8, Vec<u8>) {
    let mut head = [0u8; 2];
    conn.read_exact(&mut head).unwrap();
    assert_eq!(head[1] & 0x80, 0x80, "client frames are masked");
    let len = match head[1] & 0x7f {
        126 => {
            let mut n = [0u8; 2];
            conn.read_exact(&mut n).unwrap();
            u16::from_be_bytes(n) as usize
        }
        127 => {
            let mut n = [0u8; 8];
            conn.read_exact(&mut n).unwrap();
            u64::from_be_bytes(n) as usize
        }
        n => n as usize,
    };
    let mut mask = [0u8; 4];
    conn.read_exact(&mut mask).unwrap();
    let mut payload = vec![0u8; len];
    conn.read_exact(&mut payload).unwrap();
    for (i, b) in payload.iter_mut().enumerate() {
        *b ^= mask[i % 4];
    }
    (head[0], payload)
}

/// The close code of the client's next frame, which must be a Close.
fn client_close_code(conn: &mut TcpStream) -> u16 {
    let (op, payload) = read_client_frame(conn);
    assert_eq!(op, 0x88, "a final Close frame");
    u16::from_be_bytes([payload[0], payload[1]])
}

/// Opens a WebSocket to a hostile server; the handshake error.
fn handshake_error(
    d: DriverChoice,
    addr: SocketAddr,
    build: fn(Client, String) -> percore::client::WsBuilder,
) -> percore::client::Error {
    runtime(d).block_on(async move {
        let t0 = Instant::now();
        let err = build(Client::new(), format!("ws://{addr}/"))
            .timeout(Duration::from_secs(10))
            .connect()
            .await
            .map(|_| ())
            .expect_err("the handshake must fail");
        assert!(t0.elapsed() < Duration::from_secs(5), "{err}");
        err
    })
}

fn plain(client: Client, url: String) -> percore::client::WsBuilder {
    client.ws(url)
}

both_drivers!(wrong_accept_key_is_refused, |d: DriverChoice| {
    let (addr, server) = one_shot(|conn, _, _| {
        let answer = switching("not the key", "");
        conn.write_all(answer.as_bytes()).unwrap();
    });
    let err = handshake_error(d, addr, plain);
    assert_eq!(err.kind(), ErrorKind::Handshake, "{err}");
    assert!(err.to_string().contains("Sec-WebSocket-Accept"), "{err}");
    server.join().unwrap();
});

both_drivers!(ok_instead_of_101_is_refused, |d: DriverChoice| {
    let (addr, server) = one_shot(|conn, _, _| {
        conn.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi")
            .unwrap();
    });
    let err = handshake_error(d, addr, plain);
    assert_eq!(err.kind(), ErrorKind::Handshake, "{err}");
    assert!(err.to_string().contains("200 OK instead of 101"), "{err}");
    server.join().unwrap();
});

both_drivers!(extension_not_offered_is_refused, |d: DriverChoice| {
    let (addr, server) = one_shot(|conn, head: &str, key: &str| {
        assert!(!head
            .to_ascii_lowercase()
            .contains("sec-websocket-extensions"));
        let answer = switching(key, "Sec-WebSocket-Extensions: permessage-deflate\r\n");
        conn.write_all(answer.as_bytes()).unwrap();
    });
    let err = handshake_error(d, addr, plain);
    assert_eq!(err.kind(), ErrorKind::Handshake, "{err}");
    assert!(err.to_string().contains("extension"), "{err}");
    server.join().unwrap();
});

both_drivers!(subprotocol_not_offered_is_refused, |d: DriverChoice| {
    let (addr, server) = one_shot(|conn, head: &str, key: &str| {
        assert!(head.contains("sec-websocket-protocol: a, b"), "{head}");
        let answer = switching(key, "Sec-WebSocket-Protocol: c\r\n");
        conn.write_all(answer.as_bytes()).unwrap();
    });
    let err = handshake_error(d, addr, |c, u| c.ws(u).protocols(["a", "b"]));
    assert_eq!(err.kind(), ErrorKind::Handshake, "{err}");
    assert!(err.to_string().contains("subprotocol"), "{err}");
    server.join().unwrap();
});

both_drivers!(malformed_answer_is_a_protocol_error, |d: DriverChoice| {
    let (addr, server) = one_shot(|conn, _, _| {
        conn.write_all(b"SSH-2.0-OpenSSH\r\n\r\n").unwrap();
    });
    let err = handshake_error(d, addr, plain);
    assert_eq!(err.kind(), ErrorKind::Protocol, "{err}");
    server.join().unwrap();
});

both_drivers!(close_before_answering_is_an_error, |d: DriverChoice| {
    let (addr, server) = one_shot(|_, _, _| {});
    let err = handshake_error(d, addr, plain);
    assert_eq!(err.kind(), ErrorKind::Handshake, "{err}");
    assert!(err.to_string().contains("closed"), "{err}");
    server.join().unwrap();
});

both_drivers!(silent_server_times_out, |d: DriverChoice| {
    let (addr, server) = one_shot(|conn, _, _| {
        // Holds the connection, answering nothing, until the client gives up.
        let mut byte = [0u8; 1];
        let _ = conn.read(&mut byte);
    });
    runtime(d).block_on(async move {
        let t0 = Instant::now();
        let err = Client::new()
            .ws(format!("ws://{addr}/"))
            .timeout(Duration::from_millis(300))
            .connect()
            .await
            .map(|_| ())
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Timeout(TimeoutKind::Total), "{err}");
        assert!(t0.elapsed() < Duration::from_secs(3));
    });
    server.join().unwrap();
    let (addr, server) = one_shot(|conn, _, _| {
        let mut byte = [0u8; 1];
        let _ = conn.read(&mut byte);
    });
    runtime(d).block_on(async move {
        let client = Client::builder()
            .read_timeout(Duration::from_millis(300))
            .build()
            .unwrap();
        let err = client
            .ws(format!("ws://{addr}/"))
            .connect()
            .await
            .map(|_| ())
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Timeout(TimeoutKind::Read), "{err}");
    });
    server.join().unwrap();
});

both_drivers!(
    bytes_after_the_101_are_the_first_input,
    |d: DriverChoice| {
        let (addr, server) = one_shot(|conn, head: &str, key: &str| {
            let lower = head.to_ascii_lowercase();
            assert!(head.starts_with("GET /room?id=7 HTTP/1.1\r\n"), "{head}");
            for line in [
                "upgrade: websocket",
                "sec-websocket-version: 13",
                "x-token: abc",
                "sec-websocket-extensions: permessage-deflate",
            ] {
                assert!(lower.contains(line), "{line} missing in {head}");
            }
            // The 101 and a first frame in one write.
            let mut answer = switching(key, "").into_bytes();
            answer.extend_from_slice(b"\x81\x05early");
            conn.write_all(&answer).unwrap();
            let (op, payload) = read_client_frame(conn);
            assert_eq!((op, payload.as_slice()), (0x81, &b"reply"[..]));
            conn.write_all(b"\x88\x02\x03\xe8").unwrap(); // Close 1000
            client_close_code(conn)
        });
        runtime(d).block_on(async move {
            let mut ws = Client::new()
                .ws(format!("ws://{addr}/room?id=7"))
                .header("x-token", "abc")
                .deflate(true)
                .connect()
                .await
                .unwrap();
            assert_eq!(next_data(&mut ws).await, Message::text("early"));
            ws.send(Message::text("reply")).await.unwrap();
            match ws.recv().await {
                Some(Ok(Message::Close(Some(frame)))) => assert_eq!(frame.code, 1000),
                other => panic!("expected the server's Close, got {other:?}"),
            }
            assert!(ws.recv().await.is_none());
        });
        assert_eq!(
            server.join().unwrap(),
            1000,
            "our Close answers the server's"
        );
    }
);

both_drivers!(masked_server_frame_fails_with_1002, |d: DriverChoice| {
    let (addr, server) = one_shot(|conn, _, key: &str| {
        let mut answer = switching(key, "").into_bytes();
        // A masked text frame "Hello" (RFC 6455 §5.7): servers must not mask.
        answer.extend_from_slice(&[
            0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58,
        ]);
        conn.write_all(&answer).unwrap();
        client_close_code(conn)
    });
    runtime(d).block_on(async move {
        let mut ws = Client::new()
            .ws(format!("ws://{addr}/"))
            .connect()
            .await
            .unwrap();
        match ws.recv().await {
            Some(Err(WsError::Protocol(ProtocolError::Protocol(why)))) => {
                assert!(why.contains("mask"), "{why}")
            }
            other => panic!("expected a protocol error, got {other:?}"),
        }
        assert!(ws.recv().await.is_none());
    });
    assert_eq!(server.join().unwrap(), 1002);
});

both_drivers!(oversized_server_frame_fails_with_1009, |d: DriverChoice| {
    let (addr, server) = one_shot(|conn, _, key: &str| {
        let mut answer = switching(key, "").into_bytes();
        answer.extend_from_slice(&[0x82, 126, 0x08, 0x00]); // 2048 bytes
        answer.extend_from_slice(&[7u8; 2048]);
        conn.write_all(&answer).unwrap();
        client_close_code(conn)
    });
    runtime(d).block_on(async move {
        let mut ws = Client::new()
            .ws(format!("ws://{addr}/"))
            .max_message_size(1024, 1024)
            .connect()
            .await
            .unwrap();
        match ws.recv().await {
            Some(Err(WsError::Protocol(ProtocolError::TooBig(_)))) => {}
            other => panic!("expected a too-big error, got {other:?}"),
        }
        assert!(ws.recv().await.is_none());
    });
    assert_eq!(server.join().unwrap(), 1009);
});

both_drivers!(unusable_urls_fail_before_connecting, |d: DriverChoice| {
    runtime(d).block_on(async {
        let client = Client::new();
        for (url, kind) in [
            ("ftp://127.0.0.1:1/", ErrorKind::InvalidUrl),
            ("not a url", ErrorKind::InvalidUrl),
        ] {
            let err = client.ws(url).connect().await.map(|_| ()).unwrap_err();
            assert_eq!(err.kind(), kind, "{url}: {err}");
        }
        let err = client
            .ws("ws://127.0.0.1:1/")
            .header("bad\nname", "v")
            .connect()
            .await
            .map(|_| ())
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Builder, "{err}");
        // Nobody listens: a connect error (wss:// too, before any TLS).
        let err = client
            .ws("wss://127.0.0.1:1/")
            .connect()
            .await
            .map(|_| ())
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Connect, "{err}");
        let port = {
            let l = TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let err = client
            .ws(format!("ws://127.0.0.1:{port}/"))
            .connect()
            .await
            .map(|_| ())
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Connect, "{err}");
    });
});

both_drivers!(
    heartbeat_gives_up_on_a_server_without_pongs,
    |d: DriverChoice| {
        let (addr, server) = one_shot(|conn, _, key: &str| {
            conn.write_all(switching(key, "").as_bytes()).unwrap();
            // Takes the ping, never answers it.
            let (op, _) = read_client_frame(conn);
            let mut rest = Vec::new();
            let _ = conn.read_to_end(&mut rest); // until the client gives up
            op
        });
        runtime(d).block_on(async move {
            let t0 = Instant::now();
            let mut ws = Client::new()
                .ws(format!("ws://{addr}/"))
                .heartbeat(Duration::from_millis(150))
                .connect()
                .await
                .unwrap();
            match ws.recv().await {
                Some(Err(WsError::HeartbeatTimeout)) => {}
                other => panic!("expected the heartbeat to give up, got {other:?}"),
            }
            assert!(t0.elapsed() >= Duration::from_millis(300));
            assert!(t0.elapsed() < Duration::from_secs(5));
            assert!(ws.recv().await.is_none());
        });
        assert_eq!(server.join().unwrap(), 0x89, "a ping went out first");
    }
);

both_drivers!(endless_answer_head_is_cut_off, |d: DriverChoice| {
    let (addr, server) = one_shot(|conn, _, _| {
        let mut endless = b"HTTP/1.1 101 Switching Protocols\r\nX-Pad: ".to_vec();
        endless.resize(1 << 20, b'a');
        let _ = conn.write_all(&endless); // the client stops reading
    });
    let err = handshake_error(d, addr, plain);
    assert_eq!(err.kind(), ErrorKind::Protocol, "{err}");
    assert!(err.to_string().contains("max_head_size"), "{err}");
    server.join().unwrap();
});
