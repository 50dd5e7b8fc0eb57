//! HTTP/1.1 limits against hostile raw-socket clients, on both drivers: what
//! a client may trickle or pile up without holding a connection or server
//! memory forever.

mod common;
use common::*;

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use percore::{DriverChoice, Limits};

/// How soon a trickling client must be cut off (its limits are 500 ms).
const CUT_OFF_WITHIN: Duration = Duration::from_secs(3);

/// Sends `piece` again and again, in one write each, `gap` apart, until the
/// server answers (then only reads), and fails the test unless the server
/// closes the connection within [`CUT_OFF_WITHIN`]. Returns what it sent.
fn trickle_until_closed(s: &mut TcpStream, piece: &[u8], gap: Duration) -> String {
    let t0 = Instant::now();
    s.set_nodelay(true).unwrap();
    s.set_read_timeout(Some(gap)).unwrap();
    let mut got = Vec::new();
    loop {
        let text = String::from_utf8_lossy(&got).into_owned();
        assert!(
            t0.elapsed() < CUT_OFF_WITHIN,
            "still open after {:?}, having sent {text:?}",
            t0.elapsed()
        );
        if got.is_empty() {
            s.write_all(piece)
                .unwrap_or_else(|e| panic!("closed without an answer: {e}"));
        }
        let mut buf = [0u8; 512];
        match s.read(&mut buf) {
            Ok(0) => return text,
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(e) => panic!("reset instead of closed ({e}), having sent {text:?}"),
        }
    }
}

/// A body must average 1000 B/s once it has taken 500 ms.
fn slow_body_limits() -> Limits {
    Limits::default()
        .body_read_timeout(Duration::from_millis(500))
        .min_body_rate(1000)
}

both_drivers!(slowloris_head_is_cut_off_with_408, |d: DriverChoice| {
    let limits = Limits::default().header_read_timeout(Duration::from_millis(500));
    let srv = TestServer::with_limits(d, limits);
    let mut s = TcpStream::connect(srv.addr).unwrap();
    // A header value that grows a byte every 100 ms: the head never ends.
    s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\nX-Slow: ")
        .unwrap();
    let text = trickle_until_closed(&mut s, b"a", Duration::from_millis(100));
    assert!(text.starts_with("HTTP/1.1 408"), "{text:?}");
});

both_drivers!(empty_lines_do_not_hold_a_connection, |d: DriverChoice| {
    // RFC 9112 §2.2 lets a server skip empty lines before a request line;
    // they are bytes of the next request, so the header-read deadline runs,
    // not the (much longer) idle keep-alive one. Each empty line arrives
    // whole, so the parser discards it and the buffer is empty again.
    let limits = Limits::default()
        .header_read_timeout(Duration::from_millis(500))
        .keep_alive_timeout(Duration::from_secs(30));
    let srv = TestServer::with_limits(d, limits);
    let mut s = TcpStream::connect(srv.addr).unwrap();
    let text = trickle_until_closed(&mut s, b"\r\n", Duration::from_millis(100));
    // No request ever started (a stray CRLF after a body is legal): the close
    // is quiet, with no 408 a client could take for its next answer.
    assert!(text.is_empty(), "{text:?}");
});

both_drivers!(slow_body_is_cut_off, |d: DriverChoice| {
    let srv = TestServer::with_limits(d, slow_body_limits());
    let mut s = TcpStream::connect(srv.addr).unwrap();
    s.write_all(b"POST /count HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n")
        .unwrap();
    // One byte every 50 ms: well under 1000 B/s.
    let text = trickle_until_closed(&mut s, b"x", Duration::from_millis(50));
    assert!(text.starts_with("HTTP/1.1 408"), "{text:?}");
    assert!(text.ends_with("request body timed out\n"), "{text:?}");
    // The body failed before the answer: the answer says the connection ends.
    assert!(text.contains("\r\nconnection: close\r\n"), "{text:?}");
});

both_drivers!(
    a_handler_working_before_it_reads_is_not_a_slow_body,
    |d: DriverChoice| {
        // The handler works for 800 ms before reading; the client sends its body
        // 100 ms after the head, at once. The server waited on the client for
        // 100 ms at most, far under the 500 ms after which the rate counts.
        let srv = TestServer::with_limits(d, slow_body_limits());
        let mut s = TcpStream::connect(srv.addr).unwrap();
        s.set_nodelay(true).unwrap();
        s.write_all(b"POST /think-then-count HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: 10\r\n\r\n")
        .unwrap();
        std::thread::sleep(Duration::from_millis(100));
        s.write_all(b"0123456789").unwrap();
        let text = String::from_utf8_lossy(&read_to_eof(&mut s, CUT_OFF_WITHIN)).into_owned();
        assert!(text.starts_with("HTTP/1.1 200"), "{text:?}");
        assert!(text.ends_with("\r\n\r\n10"), "{text:?}");
    }
);

both_drivers!(trickled_chunk_framing_is_cut_off, |d: DriverChoice| {
    // A chunk-size line whose extension arrives a byte at a time carries no
    // data at all: it is still a body trickling below the minimum rate.
    let srv = TestServer::with_limits(d, slow_body_limits());
    let mut s = TcpStream::connect(srv.addr).unwrap();
    s.write_all(b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5;name=")
        .unwrap();
    let text = trickle_until_closed(&mut s, b"a", Duration::from_millis(100));
    // The echo's head may have gone out before the body failed; what follows
    // is never a complete response.
    assert!(text.starts_with("HTTP/1.1 "), "{text:?}");
    assert!(!text.ends_with("0\r\n\r\n"), "{text:?}");
});

/// Reads until the server ends the connection (EOF or reset) or `within`
/// passes; returns the bytes read and whether the connection ended.
fn read_until_closed(s: &mut TcpStream, within: Duration) -> (usize, bool) {
    let t0 = Instant::now();
    s.set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let mut total = 0;
    let mut buf = vec![0u8; 256 * 1024];
    while t0.elapsed() < within {
        match s.read(&mut buf) {
            Ok(0) => return (total, true),
            Ok(n) => total += n,
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(_) => return (total, true),
        }
    }
    (total, false)
}

/// A client must accept response bytes at least every 500 ms.
fn write_timeout_limits() -> Limits {
    Limits::default().write_timeout(Duration::from_millis(500))
}

both_drivers!(a_client_that_stops_reading_is_cut_off, |d: DriverChoice| {
    let srv = TestServer::with_limits(d, write_timeout_limits());
    let mut s = TcpStream::connect(srv.addr).unwrap();
    s.write_all(b"GET /big/32 HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    // Read nothing while the socket buffers fill and the server's write stalls.
    std::thread::sleep(Duration::from_millis(2500));
    let (got, ended) = read_until_closed(&mut s, Duration::from_secs(10));
    assert!(ended, "still open after the stall, {got} bytes read");
    assert!(
        got < 32 << 20,
        "the whole response came: the server never gave up"
    );
});

both_drivers!(
    a_slow_reader_that_keeps_reading_gets_everything,
    |d: DriverChoice| {
        // The kernel wakes a blocked writer only once a good part of the send
        // buffer (MiBs on loopback) has drained, so the timeout here is 2 s.
        let limits = Limits::default().write_timeout(Duration::from_secs(2));
        let srv = TestServer::with_limits(d, limits);
        let mut s = TcpStream::connect(srv.addr).unwrap();
        s.write_all(b"GET /big/8 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .unwrap();
        // 64 KiB every 20 ms (3.2 MB/s): the whole response takes seconds, far
        // longer than the timeout, and the server's writes keep progressing.
        let mut total = 0;
        let mut buf = vec![0u8; 64 * 1024];
        let t0 = Instant::now();
        loop {
            assert!(t0.elapsed() < Duration::from_secs(20), "too slow to finish");
            std::thread::sleep(Duration::from_millis(20));
            match s.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => total += n,
                Err(e) => panic!("cut off after {total} bytes: {e}"),
            }
        }
        assert!(total > 8 << 20, "{total} bytes");
    }
);

both_drivers!(
    chunk_extensions_do_not_count_as_body_data,
    |d: DriverChoice| {
        // 20 KiB/s on the wire, but each 1 KiB chunk carries one byte of data in
        // a kilobyte of extension: 20 B/s of body, far under the minimum rate.
        let srv = TestServer::with_limits(d, slow_body_limits());
        let mut s = TcpStream::connect(srv.addr).unwrap();
        s.write_all(b"POST /count HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n")
            .unwrap();
        let mut piece = b"1;pad=".to_vec();
        piece.extend(std::iter::repeat_n(b'e', 1000));
        piece.extend_from_slice(b"\r\nx\r\n");
        let text = trickle_until_closed(&mut s, &piece, Duration::from_millis(50));
        assert!(text.starts_with("HTTP/1.1 408"), "{text:?}");
    }
);

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
