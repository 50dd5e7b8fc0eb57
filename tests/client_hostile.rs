//! percore's HTTP client against hostile and broken servers (raw sockets in
//! the test), on both drivers: every failure is a clear error of the right
//! kind, never a panic, a hang or a short success.

mod common;
#[path = "client_raw/mod.rs"]
mod raw;
use raw::{runtime, RawServer};

use std::io::{Read, Write};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use percore::client::{Body, Client, ErrorKind, TimeoutKind};

fn quick_client() -> Client {
    Client::builder()
        .read_timeout(Duration::from_millis(500))
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap()
}

both_drivers!(stale_keep_alive_retried_for_get, |d| {
    // Answers with keep-alive, then closes the connection at once.
    let srv = RawServer::start(|c, _| {
        let _ = c.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok");
        false
    });
    runtime(d).block_on(async {
        let client = quick_client();
        for round in 0..5 {
            let resp = client.get(srv.url("/")).send().await.unwrap();
            assert_eq!(resp.text().await.unwrap(), "ok", "round {round}");
            // Let the server's FIN arrive while the connection sits idle.
            percore::rt::time::sleep(Duration::from_millis(30)).await;
        }
    });
    assert_eq!(srv.accepted.load(Ordering::SeqCst), 5);
});

both_drivers!(stale_keep_alive_reported_for_streamed_post, |d| {
    let srv = RawServer::start(|c, _| {
        let _ = c.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok");
        false
    });
    runtime(d).block_on(async {
        let client = quick_client();
        let resp = client.get(srv.url("/")).send().await.unwrap();
        assert_eq!(resp.text().await.unwrap(), "ok");
        percore::rt::time::sleep(Duration::from_millis(30)).await;
        let (tx, body) = Body::channel(4);
        percore::rt::spawn_local(async move {
            let _ = tx.send("not replayable").await;
        });
        let err = client
            .post(srv.url("/"))
            .body(body)
            .send()
            .await
            .unwrap_err();
        assert!(
            matches!(err.kind(), ErrorKind::Protocol | ErrorKind::Io),
            "{err}"
        );
    });
    // No second connection: the POST was not retried.
    assert_eq!(srv.accepted.load(Ordering::SeqCst), 1);
});

both_drivers!(malformed_status_line, |d| {
    let srv = RawServer::start(|c, _| {
        let _ = c.write_all(b"HTTP/1.1 OK 200\r\ncontent-length: 0\r\n\r\n");
        false
    });
    runtime(d).block_on(async {
        let err = quick_client().get(srv.url("/")).send().await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Protocol, "{err}");
    });
});

both_drivers!(too_many_header_lines, |d| {
    let srv = RawServer::start(|c, _| {
        let mut resp = b"HTTP/1.1 200 OK\r\n".to_vec();
        for i in 0..200 {
            resp.extend_from_slice(format!("x-{i}: v\r\n").as_bytes());
        }
        resp.extend_from_slice(b"content-length: 0\r\n\r\n");
        let _ = c.write_all(&resp);
        false
    });
    runtime(d).block_on(async {
        let err = quick_client().get(srv.url("/")).send().await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Protocol, "{err}");
        assert!(err.to_string().contains("max_headers"), "{err}");
    });
});

both_drivers!(short_body_then_close_is_an_error, |d| {
    let srv = RawServer::start(|c, _| {
        let _ = c.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\n0123456789");
        false
    });
    runtime(d).block_on(async {
        let resp = quick_client().get(srv.url("/")).send().await.unwrap();
        let err = resp.bytes().await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Protocol, "{err}");
        assert!(
            err.to_string().contains("before the end of the body"),
            "{err}"
        );
    });
});

both_drivers!(endless_chunked_body_hits_the_limit, |d| {
    let srv = RawServer::start(|c, _| {
        let _ = c.write_all(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n");
        let chunk = format!("4000\r\n{}\r\n", "x".repeat(0x4000));
        while c.write_all(chunk.as_bytes()).is_ok() {}
        false
    });
    runtime(d).block_on(async {
        let client = Client::builder().max_body(1 << 20).build().unwrap();
        let resp = client.get(srv.url("/")).send().await.unwrap();
        let err = resp.bytes().await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::BodyTooLarge, "{err}");
    });
});

both_drivers!(a_body_that_came_with_its_head_meets_the_limit_too, |d| {
    // The body arrives whole with the head (taken at once, no reader):
    // `bytes` still applies `max_body`, one byte under and at the limit.
    let srv = RawServer::start(|c, _| {
        c.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nhello")
            .is_ok()
    });
    runtime(d).block_on(async {
        let client = Client::new();
        let mut resp = client.get(srv.url("/")).send().await.unwrap();
        resp.set_max_body(4);
        let err = resp.bytes().await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::BodyTooLarge, "{err}");
        let mut resp = client.get(srv.url("/")).send().await.unwrap();
        resp.set_max_body(5);
        assert_eq!(&resp.bytes().await.unwrap()[..], b"hello");
        let resp = client.get(srv.url("/")).send().await.unwrap();
        assert_eq!(resp.text().await.unwrap(), "hello");
    });
});

both_drivers!(silent_server_hits_the_read_timeout, |d| {
    let srv = RawServer::start(|_, _| {
        std::thread::sleep(Duration::from_secs(3));
        false
    });
    runtime(d).block_on(async {
        let t0 = Instant::now();
        let err = quick_client().get(srv.url("/")).send().await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Timeout(TimeoutKind::Read), "{err}");
        assert!(t0.elapsed() < Duration::from_secs(2));
    });
});

both_drivers!(trickling_body_hits_the_total_timeout, |d| {
    // A byte every 50 ms: the read timeout never expires, the total does.
    let srv = RawServer::start(|c, _| {
        let _ = c.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 1000\r\n\r\n");
        for _ in 0..100 {
            std::thread::sleep(Duration::from_millis(50));
            if c.write_all(b"x").is_err() {
                break;
            }
        }
        false
    });
    runtime(d).block_on(async {
        let client = Client::builder()
            .read_timeout(Duration::from_millis(1500))
            .build()
            .unwrap();
        let t0 = Instant::now();
        let resp = client
            .get(srv.url("/"))
            .timeout(Duration::from_millis(600))
            .send()
            .await
            .unwrap();
        let err = resp.bytes().await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Timeout(TimeoutKind::Total), "{err}");
        assert!(t0.elapsed() < Duration::from_secs(2));
    });
});

both_drivers!(
    silent_server_hits_the_total_timeout_before_the_read_one,
    |d| {
        // The head never comes: the read's timer (its deadline the earlier
        // total one) ends the wait, with the total's kind, and no timer of the
        // total's own was needed.
        let srv = RawServer::start(|_, _| {
            std::thread::sleep(Duration::from_secs(3));
            false
        });
        runtime(d).block_on(async {
            let client = Client::builder()
                .read_timeout(Duration::from_millis(1500))
                .timeout(Duration::from_millis(300))
                .build()
                .unwrap();
            let t0 = Instant::now();
            let err = client.get(srv.url("/")).send().await.unwrap_err();
            assert_eq!(err.kind(), ErrorKind::Timeout(TimeoutKind::Total), "{err}");
            let took = t0.elapsed();
            assert!(took >= Duration::from_millis(290), "{took:?}");
            assert!(took < Duration::from_millis(1200), "{took:?}");
        });
    }
);

both_drivers!(trickling_head_hits_the_total_timeout, |d| {
    // A head byte every 50 ms, never complete: each read is quick, the
    // total deadline (carried by every read's timer) still ends it.
    let srv = RawServer::start(|c, _| {
        let _ = c.write_all(b"HTTP/1.1 200 OK\r\nx-");
        for _ in 0..100 {
            std::thread::sleep(Duration::from_millis(50));
            if c.write_all(b"a").is_err() {
                break;
            }
        }
        false
    });
    runtime(d).block_on(async {
        let client = Client::builder()
            .read_timeout(Duration::from_millis(1500))
            .timeout(Duration::from_millis(500))
            .build()
            .unwrap();
        let t0 = Instant::now();
        let err = client.get(srv.url("/")).send().await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Timeout(TimeoutKind::Total), "{err}");
        assert!(t0.elapsed() < Duration::from_secs(2));
    });
});

/// A server answering `/fast` at once on a kept-alive connection and
/// never answering `/slow`.
fn fast_or_silent() -> RawServer {
    RawServer::start(|c, head| {
        if head.starts_with("GET /slow ") {
            std::thread::sleep(Duration::from_secs(3));
            return false;
        }
        let _ = c.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok");
        true
    })
}

both_drivers!(
    a_reused_connection_times_a_later_read_from_its_own_start,
    |d| {
        // The connection's timer, armed for the first request's read, fires
        // during the second one's wait, before that read's own deadline: it
        // must be armed again for it, not end the wait early.
        let srv = fast_or_silent();
        runtime(d).block_on(async {
            let client = Client::builder()
                .read_timeout(Duration::from_millis(400))
                .build()
                .unwrap();
            let first = client.get(srv.url("/fast")).send().await.unwrap();
            assert_eq!(&first.bytes().await.unwrap()[..], b"ok");
            percore::rt::time::sleep(Duration::from_millis(250)).await;
            let t1 = Instant::now();
            let err = client.get(srv.url("/slow")).send().await.unwrap_err();
            assert_eq!(err.kind(), ErrorKind::Timeout(TimeoutKind::Read), "{err}");
            let took = t1.elapsed();
            assert!(took >= Duration::from_millis(390), "{took:?}");
            assert!(took < Duration::from_millis(1500), "{took:?}");
        });
        assert_eq!(srv.accepted.load(Ordering::SeqCst), 1, "one connection");
    }
);

both_drivers!(a_reused_connection_keeps_a_shorter_deadline, |d| {
    // The connection's timer is armed 5 s out by the first request; the
    // second one's total deadline is much earlier and must end its wait.
    let srv = fast_or_silent();
    runtime(d).block_on(async {
        let client = Client::builder()
            .read_timeout(Duration::from_secs(5))
            .build()
            .unwrap();
        let first = client.get(srv.url("/fast")).send().await.unwrap();
        assert_eq!(&first.bytes().await.unwrap()[..], b"ok");
        let t1 = Instant::now();
        let err = client
            .get(srv.url("/slow"))
            .timeout(Duration::from_millis(300))
            .send()
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Timeout(TimeoutKind::Total), "{err}");
        let took = t1.elapsed();
        assert!(took >= Duration::from_millis(290), "{took:?}");
        assert!(took < Duration::from_millis(2000), "{took:?}");
    });
    assert_eq!(srv.accepted.load(Ordering::SeqCst), 1, "one connection");
});

both_drivers!(stalled_request_body_hits_the_total_timeout, |d| {
    // The server accepts and never reads: the client's writes stall, no
    // read is waiting, and the total deadline's own timer ends the request.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        if let Ok((conn, _)) = listener.accept() {
            std::thread::sleep(Duration::from_secs(3));
            drop(conn);
        }
    });
    runtime(d).block_on(async {
        let client = Client::builder()
            .read_timeout(Duration::from_millis(200))
            .timeout(Duration::from_millis(600))
            .build()
            .unwrap();
        let t0 = Instant::now();
        let err = client
            .post(format!("http://{addr}/"))
            .body(vec![b'x'; 64 << 20])
            .send()
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Timeout(TimeoutKind::Total), "{err}");
        assert!(t0.elapsed() < Duration::from_secs(2));
    });
});

both_drivers!(redirect_loop_is_reported, |d| {
    let srv = RawServer::start(|c, head| {
        let next = if head.starts_with("GET /a ") {
            "/b"
        } else {
            "/a"
        };
        let resp = format!("HTTP/1.1 302 Found\r\nlocation: {next}\r\ncontent-length: 0\r\n\r\n");
        c.write_all(resp.as_bytes()).is_ok()
    });
    runtime(d).block_on(async {
        let client = quick_client();
        let err = client.get(srv.url("/a")).send().await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::RedirectLoop, "{err}");
        // The chain ran on one keep-alive connection.
        assert_eq!(client.pool_stats().connections, 1);
    });
    assert_eq!(srv.accepted.load(Ordering::SeqCst), 1);
});

both_drivers!(early_close_without_answer, |d| {
    // A fresh connection closed before any answer is reported, not retried.
    let srv = RawServer::start(|_, _| false);
    runtime(d).block_on(async {
        let err = quick_client().get(srv.url("/")).send().await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Protocol, "{err}");
    });
    assert_eq!(srv.accepted.load(Ordering::SeqCst), 1);
});

both_drivers!(bad_framing_and_lengths_are_refused, |d| {
    let answers: &[&[u8]] = &[
        b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\ntransfer-encoding: chunked\r\n\r\n",
        b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\ncontent-length: 6\r\n\r\nhello",
        b"HTTP/1.1 200 OK\ncontent-length: 0\n\n",
        b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\nzz\r\n",
        b"HTTP/2 200\r\n\r\n",
    ];
    for answer in answers {
        let srv = RawServer::start(move |c, _| {
            let _ = c.write_all(answer);
            false
        });
        runtime(d).block_on(async {
            let result = match quick_client().get(srv.url("/")).send().await {
                Ok(resp) => resp.bytes().await.map(|_| ()),
                Err(e) => Err(e),
            };
            let err = result.expect_err(&String::from_utf8_lossy(answer));
            assert_eq!(err.kind(), ErrorKind::Protocol, "{err}");
        });
    }
});

/// POSTs the body "data" to `url` with `Expect: 100-continue`.
async fn post_expecting_continue(client: &Client, url: String) -> percore::client::Response {
    client
        .post(url)
        .header("expect", "100-continue")
        .body("data")
        .send()
        .await
        .unwrap()
}

both_drivers!(expect_continue_waits_then_sends, |d| {
    // The first server never sends 100: the body goes out after the
    // continue timeout. The second answers 417 at once: no body is sent.
    let srv = RawServer::start(|c, head| {
        if head.contains("/refuse") {
            let _ = c.write_all(b"HTTP/1.1 417 Expectation Failed\r\ncontent-length: 0\r\n\r\n");
            return false;
        }
        let mut body = [0u8; 4];
        if c.read_exact(&mut body).is_err() {
            return false;
        }
        let _ = c.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok");
        true
    });
    runtime(d).block_on(async {
        let client = Client::builder()
            .continue_timeout(Duration::from_millis(100))
            .build()
            .unwrap();
        let resp = post_expecting_continue(&client, srv.url("/")).await;
        assert_eq!(resp.text().await.unwrap(), "ok");
        let resp = post_expecting_continue(&client, srv.url("/refuse")).await;
        assert_eq!(resp.status(), 417);
    });
});

both_drivers!(expect_continue_head_split_around_the_timeout, |d| {
    // No 100: part of the final head comes before the body (read while
    // the client waits for a 100), the rest after the body, which the
    // client sends once its continue timeout passes with a read in
    // flight. Nothing read is lost or read twice, and the connection is
    // used again for the next request.
    let srv = RawServer::start(|c, head| {
        if head.starts_with("GET") {
            return c
                .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 3\r\n\r\nget")
                .is_ok();
        }
        if c.write_all(b"HTTP/1.1 201 Created\r\ncontent-").is_err() {
            return false;
        }
        let mut body = [0u8; 4];
        if c.read_exact(&mut body).is_err() || &body != b"data" {
            return false;
        }
        c.write_all(b"length: 4\r\n\r\ndone").is_ok()
    });
    runtime(d).block_on(async {
        let client = Client::builder()
            .continue_timeout(Duration::from_millis(100))
            .read_timeout(Duration::from_secs(5))
            .build()
            .unwrap();
        let resp = post_expecting_continue(&client, srv.url("/")).await;
        assert_eq!(resp.status(), 201);
        assert_eq!(resp.text().await.unwrap(), "done");
        let resp = client.get(srv.url("/again")).send().await.unwrap();
        assert_eq!(resp.text().await.unwrap(), "get");
    });
    assert_eq!(srv.accepted.load(Ordering::SeqCst), 1);
});

both_drivers!(request_head_on_the_wire, |d| {
    // Echoes the request head as the body; 307 for /again.
    let srv = RawServer::start(|c, head| {
        if head.starts_with("POST /again") || head.starts_with("PUT /again") {
            let resp =
                "HTTP/1.1 307 Temporary Redirect\r\nlocation: /\r\ncontent-length: 0\r\n\r\n";
            return c.write_all(resp.as_bytes()).is_ok();
        }
        let resp = format!(
            "HTTP/1.1 200 OK\r\ncontent-length: {}\r\n\r\n{head}",
            head.len()
        );
        c.write_all(resp.as_bytes()).is_ok()
    });
    runtime(d).block_on(async {
        let client = Client::builder()
            .default_header("x-default", "d")
            .build()
            .unwrap();
        let head = client
            .get(srv.url("/p?q=1"))
            .header("x-a", "1")
            .header("x-a", "2")
            .header("user-agent", "mine")
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let lines: Vec<&str> = head.lines().collect();
        assert_eq!(lines[0], "GET /p?q=1 HTTP/1.1");
        assert_eq!(lines[1], format!("host: {}", srv.addr));
        for want in ["x-a: 1", "x-a: 2", "user-agent: mine", "x-default: d"] {
            assert!(lines.contains(&want), "{want} missing in {head}");
        }
        assert_eq!(head.matches("user-agent").count(), 1, "{head}");
        assert!(
            lines.contains(&"accept-encoding: gzip, deflate, br"),
            "{head}"
        );
        // A request with no fields of its own takes the client's
        // defaults as encoded once (Accept-Encoding among them, since it
        // decodes); the second one the head the connection kept.
        for _ in 0..2 {
            let head = client.get(srv.url("/plain")).send().await.unwrap();
            let head = head.text().await.unwrap();
            assert!(head.starts_with("GET /plain HTTP/1.1\r\n"), "{head}");
            for want in ["x-default: d", "accept-encoding: gzip, deflate, br"] {
                assert_eq!(head.matches(want).count(), 1, "{want}: {head}");
            }
        }
        // A 307 keeps method and body: in memory it is sent again...
        let head = client
            .put(srv.url("/again"))
            .body("abc")
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(head.starts_with("PUT / HTTP/1.1\r\n"), "{head}");
        assert!(head.contains("content-length: 3\r\n"), "{head}");
        // ...a stream cannot be, so the 307 is the answer.
        let (tx, body) = Body::channel(1);
        percore::rt::spawn_local(async move {
            let _ = tx.send("once").await;
        });
        let resp = client
            .post(srv.url("/again"))
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 307);
        assert!(resp.redirects().is_empty());
    });
});

both_drivers!(connection_close_is_honoured, |d| {
    let srv = RawServer::start(|c, _| {
        let _ = c.write_all(b"HTTP/1.1 200 OK\r\nconnection: close\r\ncontent-length: 2\r\n\r\nok");
        true // the server would read on: only the client's close ends it
    });
    runtime(d).block_on(async {
        let client = quick_client();
        for _ in 0..3 {
            let resp = client.get(srv.url("/")).send().await.unwrap();
            assert_eq!(resp.text().await.unwrap(), "ok");
            assert_eq!(client.pool_stats().connections, 0);
        }
    });
    assert_eq!(srv.accepted.load(Ordering::SeqCst), 3);
});

both_drivers!(corrupt_gzip_body_is_a_decode_error, |d| {
    let srv = RawServer::start(|c, _| {
        let body = b"\x1f\x8b\x08\x00garbage that is not deflate";
        let head = format!(
            "HTTP/1.1 200 OK\r\ncontent-encoding: gzip\r\ncontent-length: {}\r\n\r\n",
            body.len()
        );
        let _ = c.write_all(head.as_bytes());
        let _ = c.write_all(body);
        true
    });
    runtime(d).block_on(async {
        let resp = quick_client().get(srv.url("/")).send().await.unwrap();
        assert!(resp.headers().get("content-encoding").is_none());
        let err = resp.bytes().await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Decode, "{err}");
    });
});

both_drivers!(interim_responses_skipped_but_bounded, |d| {
    let srv = RawServer::start(|c, head| {
        let endless = head.starts_with("GET /endless");
        let n = if endless { 10_000 } else { 3 };
        for _ in 0..n {
            if c.write_all(b"HTTP/1.1 102 Processing\r\nx: y\r\n\r\n")
                .is_err()
            {
                return false;
            }
        }
        c.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")
            .is_ok()
    });
    runtime(d).block_on(async {
        let client = quick_client();
        let resp = client.get(srv.url("/")).send().await.unwrap();
        assert_eq!(resp.text().await.unwrap(), "ok");
        let err = client.get(srv.url("/endless")).send().await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Protocol, "{err}");
        assert!(err.to_string().contains("interim"), "{err}");
    });
});

// 421 bytes of brotli that inflate to 256 MiB of zeros (made with Python's
// `brotli.compress(b"\0" * (256 << 20), quality=11)`).
const BROTLI_BOMB: &[u8] = include_bytes!("data/zeros-256mib.br");

both_drivers!(a_brotli_bomb_stops_at_the_limit, |d| {
    let srv = RawServer::start(|c, _| {
        let head = format!(
            "HTTP/1.1 200 OK\r\ncontent-encoding: br\r\ncontent-length: {}\r\n\r\n",
            BROTLI_BOMB.len()
        );
        let _ = c.write_all(head.as_bytes());
        let _ = c.write_all(BROTLI_BOMB);
        true
    });
    runtime(d).block_on(async {
        // The whole body: the limit's error after at most one piece more
        // than the limit was decoded, not 256 MiB.
        let client = Client::builder().max_body(1 << 20).build().unwrap();
        let err = client.get(srv.url("/")).send().await.unwrap().bytes().await;
        assert_eq!(err.unwrap_err().kind(), ErrorKind::BodyTooLarge);
        // Streamed: every piece is small, whatever one coded byte expands to.
        let mut resp = client.get(srv.url("/")).send().await.unwrap();
        let mut total = 0;
        while total < 8 << 20 {
            let piece = resp.chunk().await.unwrap().expect("more zeros");
            assert!(piece.len() <= 64 * 1024, "a piece of {} bytes", piece.len());
            assert!(piece.iter().all(|&b| b == 0));
            total += piece.len();
        }
    });
});
