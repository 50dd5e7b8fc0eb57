//! HTTP/1.1 limits against hostile raw-socket clients, on both drivers: what
//! a client may trickle or pile up without holding a connection or server
//! memory forever.

mod common;
use common::*;

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use percore::{DriverChoice, Limits};

/// Sends `piece` again and again, in one write each, `gap` apart, reading
/// whatever the server sends meanwhile, until the server closes the
/// connection or `give_up` passes. Returns what the server sent and when it
/// closed (`None`: it never did).
fn trickle_until_closed(
    s: &mut TcpStream,
    piece: &[u8],
    gap: Duration,
    give_up: Duration,
) -> (Vec<u8>, Option<Duration>) {
    let t0 = Instant::now();
    s.set_nodelay(true).unwrap();
    s.set_read_timeout(Some(gap)).unwrap();
    let mut got = Vec::new();
    while t0.elapsed() < give_up {
        // A write may fail once the server has closed: the read says so.
        let _ = s.write_all(piece);
        let mut buf = [0u8; 512];
        match s.read(&mut buf) {
            Ok(0) => return (got, Some(t0.elapsed())),
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(_) => return (got, Some(t0.elapsed())),
        }
    }
    (got, None)
}

both_drivers!(empty_lines_do_not_hold_a_connection, |d: DriverChoice| {
    // RFC 9112 §2.2 lets a server skip empty lines before a request line;
    // they are bytes of the next request, so the header-read deadline runs,
    // not the (much longer) idle keep-alive one. Each empty line arrives
    // whole, so the parser discards it and the buffer is empty again.
    let limits = Limits {
        header_read_timeout: Duration::from_millis(500),
        keep_alive_timeout: Duration::from_secs(30),
        ..Limits::default()
    };
    let srv = TestServer::with_limits(d, limits);
    let mut s = TcpStream::connect(srv.addr).unwrap();
    let (got, closed) = trickle_until_closed(
        &mut s,
        b"\r\n",
        Duration::from_millis(100),
        Duration::from_secs(5),
    );
    let text = String::from_utf8_lossy(&got);
    let closed = closed.unwrap_or_else(|| panic!("empty lines held the connection: {text:?}"));
    assert!(
        closed < Duration::from_secs(3),
        "closed only after {closed:?}"
    );
    // No request ever started (a stray CRLF after a body is legal): the close
    // is quiet, with no 408 a client could take for its next answer.
    assert!(got.is_empty(), "{text:?}");
});

both_drivers!(trickled_chunk_framing_is_cut_off, |d: DriverChoice| {
    // A chunk-size line whose extension arrives a byte at a time carries no
    // data at all: it is still a body trickling below the minimum rate.
    let limits = Limits {
        body_read_timeout: Duration::from_millis(500),
        min_body_rate: 1000,
        ..Limits::default()
    };
    let srv = TestServer::with_limits(d, limits);
    let mut s = TcpStream::connect(srv.addr).unwrap();
    s.write_all(b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5;name=")
        .unwrap();
    let (got, closed) = trickle_until_closed(
        &mut s,
        b"a",
        Duration::from_millis(100),
        Duration::from_secs(5),
    );
    let text = String::from_utf8_lossy(&got);
    let closed = closed.unwrap_or_else(|| panic!("trickled framing held the connection: {text:?}"));
    assert!(
        closed < Duration::from_secs(3),
        "closed only after {closed:?}"
    );
    // Either 408 before the echo started, or an echo cut short: never a
    // response that looks complete.
    assert!(
        text.starts_with("HTTP/1.1 408") || !text.ends_with("0\r\n\r\n"),
        "{text:?}"
    );
});

both_drivers!(pipelining_without_reading_is_bounded, |d: DriverChoice| {
    // The client writes requests and never reads a response. Once the
    // server's responses fill the sockets, the server must stop reading, so
    // the client's writes stall long before it has sent everything.
    let srv = TestServer::start(d);
    let mut s = TcpStream::connect(srv.addr).unwrap();
    s.set_write_timeout(Some(Duration::from_secs(2))).unwrap();
    let batch = b"GET /plaintext HTTP/1.1\r\nHost: x\r\n\r\n".repeat(1000);
    let give_up_after: usize = 256 << 20;
    let mut sent = 0usize;
    while sent < give_up_after {
        match s.write(&batch) {
            Ok(n) => sent += n,
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => break,
            Err(e) => panic!("write failed after {sent} bytes: {e}"),
        }
    }
    assert!(
        sent < give_up_after / 4,
        "the server kept reading: {} MiB of requests accepted without a response read",
        sent >> 20
    );
    // The connection still works once the client reads: the responses come.
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut first = [0u8; 64];
    s.read_exact(&mut first).unwrap();
    assert!(first.starts_with(b"HTTP/1.1 200"));
});
