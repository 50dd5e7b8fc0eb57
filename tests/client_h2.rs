//! The client's HTTP/2 (h2c prior knowledge) on both drivers: against
//! percore's own server (bodies both ways under flow control, 500
//! requests multiplexed over few connections), nghttpd (h2c, and TLS
//! with h2 chosen by ALPN), and scripted
//! servers built on the sans-IO `ServerConnection` or raw frames (GOAWAY
//! mid-flight, refused and reset streams, MAX_CONCURRENT_STREAMS=1, a
//! server that stops reading, a silent body, a response dropped mid-body).

mod common;
#[path = "client_h2_peers/mod.rs"]
mod peers;
#[path = "client_raw/mod.rs"]
mod raw;

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use common::TestServer;
use http::{HeaderMap, StatusCode, Version};
use peers::{deaf_server, Nghttpd, ScriptedServer};
use percore::client::{Body, Client, ErrorKind, TimeoutKind};
use percore::http::h2::conn::{Event, ServerConnection};
use percore::http::h2::frame::encode_goaway;
use percore::http::h2::ErrorCode;
use percore::rt::spawn_local;
use percore::{DriverChoice, Limits};
use raw::runtime;

fn h2_client() -> Client {
    Client::builder().http2_prior_knowledge().build().unwrap()
}

/// Answers `stream_id` with `text`.
fn answer(conn: &mut ServerConnection, stream_id: u32, text: &str) {
    let _ = conn.send_response(stream_id, StatusCode::OK, &HeaderMap::new(), false);
    let _ = conn.send_data(stream_id, Bytes::from(text.to_string()), true);
}

both_drivers!(percore_server_bodies_both_ways, |d| {
    let srv = TestServer::start(d);
    runtime(d).block_on(async {
        let client = h2_client();
        let resp = client.get(srv.url("/say/hello")).send().await.unwrap();
        assert_eq!(resp.status(), StatusCode::OK);
        assert_eq!(resp.version(), Version::HTTP_2);
        assert_eq!(resp.text().await.unwrap(), "hello");

        // 1 MiB up: far past the initial 64 KiB window.
        let body = vec![7u8; 1 << 20];
        let resp = client
            .post(srv.url("/count"))
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.text().await.unwrap(), "1048576");

        // A streamed body of unknown length.
        let (tx, body) = Body::channel(4);
        let sender = spawn_local(async move {
            for _ in 0..64 {
                tx.send(Bytes::from(vec![1u8; 10_000])).await.unwrap();
            }
        });
        let resp = client
            .post(srv.url("/count"))
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.text().await.unwrap(), "640000");
        sender.await.unwrap();

        // 4 MiB down in chunks; then the size limit of bytes().
        let mut resp = client.get(srv.url("/big/4")).send().await.unwrap();
        let mut total = 0;
        while let Some(chunk) = resp.chunk().await.unwrap() {
            total += chunk.len();
        }
        assert_eq!(total, 4 << 20);
        let mut resp = client.get(srv.url("/big/2")).send().await.unwrap();
        resp.set_max_body(1 << 20);
        let err = resp.bytes().await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::BodyTooLarge);

        // Everything above used one connection (the dropped body's
        // stream was reset, not its connection).
        assert_eq!(client.pool_stats().connections, 1);
    });
});

both_drivers!(per_request_prior_knowledge_beside_http1, |d| {
    let srv = TestServer::start(d);
    runtime(d).block_on(async {
        let client = Client::new();
        let h1 = client.get(srv.url("/say/one")).send().await.unwrap();
        assert_eq!(h1.version(), Version::HTTP_11);
        assert_eq!(h1.text().await.unwrap(), "one");
        let h2 = client
            .get(srv.url("/say/two"))
            .http2_prior_knowledge()
            .send()
            .await
            .unwrap();
        assert_eq!(h2.version(), Version::HTTP_2);
        assert_eq!(h2.text().await.unwrap(), "two");
    });
});

both_drivers!(five_hundred_requests_multiplex_over_few_connections, |d| {
    let srv = TestServer::start(d);
    runtime(d).block_on(async {
        let client = h2_client();
        let tasks: Vec<_> = (0..500)
            .map(|i| {
                let (client, url) = (client.clone(), srv.url(&format!("/say/w{i}")));
                spawn_local(async move { client.get(url).send().await?.text().await })
            })
            .collect();
        let mut max_conns = 0;
        for (i, t) in tasks.into_iter().enumerate() {
            assert_eq!(t.await.unwrap().unwrap(), format!("w{i}"));
            max_conns = max_conns.max(client.pool_stats().connections);
        }
        // The server takes 200 streams per connection.
        assert!((1..=3).contains(&max_conns), "{max_conns} connections");
    });
});

both_drivers!(nghttpd_files_and_concurrency, |d| {
    let big: Vec<u8> = (0..(1 << 20)).map(|i| (i % 251) as u8).collect();
    let srv = Nghttpd::start(&[("a.txt", b"from nghttpd"), ("big.bin", &big)]);
    nghttpd_session(d, &srv, &big, h2_client);
});

both_drivers!(nghttpd_over_tls_by_alpn, |d| {
    let pki = common::pki::Pki::new();
    let big: Vec<u8> = (0..(1 << 20)).map(|i| (i % 251) as u8).collect();
    let files: [(&str, &[u8]); 2] = [("a.txt", b"from nghttpd"), ("big.bin", &big)];
    let srv = Nghttpd::start_tls(&files, pki.path("cert.pem"), pki.path("key.pem"));
    // No prior knowledge: ALPN chooses h2.
    let ca = pki.pem("ca.pem");
    nghttpd_session(d, &srv, &big, || {
        Client::builder().add_root_certificate(&ca).build().unwrap()
    });
});

/// A file, 20 concurrent 1 MiB downloads over one connection, a 404.
fn nghttpd_session(d: DriverChoice, srv: &Nghttpd, big: &[u8], make: impl FnOnce() -> Client) {
    runtime(d).block_on(async {
        let client = make();
        let resp = client.get(srv.url("/a.txt")).send().await.unwrap();
        assert_eq!(resp.version(), Version::HTTP_2);
        assert_eq!(resp.text().await.unwrap(), "from nghttpd");
        let tasks: Vec<_> = (0..20)
            .map(|_| {
                let (client, url) = (client.clone(), srv.url("/big.bin"));
                spawn_local(async move { client.get(url).send().await?.bytes().await })
            })
            .collect();
        for t in tasks {
            assert_eq!(&t.await.unwrap().unwrap()[..], big);
        }
        let missing = client.get(srv.url("/nope")).send().await.unwrap();
        assert_eq!(missing.status(), StatusCode::NOT_FOUND);
        assert_eq!(client.pool_stats().connections, 1);
    });
}

both_drivers!(goaway_mid_flight_retries_streams_above_last_id, |d| {
    // The first connection takes three requests, says GOAWAY(last = 3)
    // and answers streams 1 and 3; stream 5 is refused and must be sent
    // again on a new connection.
    let seen = Arc::new(Mutex::new(Vec::new()));
    let s = seen.clone();
    let srv = ScriptedServer::start(Limits::default(), move |conn, event, extra| {
        let Event::Request { stream_id, .. } = event else {
            return;
        };
        if extra.conn_index > 0 {
            return answer(conn, stream_id, "second");
        }
        let mut ids = s.lock().unwrap();
        ids.push(stream_id);
        if ids.len() == 3 {
            encode_goaway(3, ErrorCode::NoError, b"", &mut extra.raw);
            for &id in ids.iter().filter(|&&id| id <= 3) {
                answer(conn, id, "first");
            }
        }
    });
    runtime(d).block_on(async {
        let client = h2_client();
        let tasks: Vec<_> = (0..3)
            .map(|_| {
                let (client, url) = (client.clone(), srv.url("/"));
                spawn_local(async move { client.get(url).send().await?.text().await })
            })
            .collect();
        let mut answers = Vec::new();
        for t in tasks {
            answers.push(t.await.unwrap().unwrap());
        }
        answers.sort();
        assert_eq!(answers, ["first", "first", "second"]);
    });
    assert_eq!(*seen.lock().unwrap(), [1, 3, 5]);
    assert_eq!(srv.accepted.load(Ordering::SeqCst), 2);
});

both_drivers!(refused_stream_is_retried_once, |d| {
    // Refuses every odd-numbered request it sees, answers the others.
    let count = Arc::new(Mutex::new(0));
    let c = count.clone();
    let srv = ScriptedServer::start(Limits::default(), move |conn, event, _| {
        let Event::Request {
            stream_id, request, ..
        } = event
        else {
            return;
        };
        let mut n = c.lock().unwrap();
        *n += 1;
        if request.uri().path() == "/always" || *n % 2 == 1 {
            conn.reset(stream_id, ErrorCode::RefusedStream);
        } else {
            answer(conn, stream_id, "ok");
        }
    });
    runtime(d).block_on(async {
        let client = h2_client();
        let resp = client
            .post(srv.url("/once"))
            .body("data")
            .send()
            .await
            .unwrap();
        assert_eq!(resp.text().await.unwrap(), "ok");
        assert_eq!(*count.lock().unwrap(), 2);
        let err = client.get(srv.url("/always")).send().await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Protocol);
        assert!(err.to_string().contains("REFUSED_STREAM"), "{err}");
        assert_eq!(*count.lock().unwrap(), 4, "sent twice, not more");
    });
});

both_drivers!(other_resets_are_errors_not_retried, |d| {
    let count = Arc::new(Mutex::new(0));
    let c = count.clone();
    let srv = ScriptedServer::start(Limits::default(), move |conn, event, _| {
        if let Event::Request { stream_id, .. } = event {
            *c.lock().unwrap() += 1;
            conn.reset(stream_id, ErrorCode::InternalError);
        }
    });
    runtime(d).block_on(async {
        let client = h2_client();
        let err = client.get(srv.url("/")).send().await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Protocol);
        assert!(err.to_string().contains("InternalError"), "{err}");
    });
    assert_eq!(*count.lock().unwrap(), 1);
});

/// A server taking one stream per connection that answers `/slow` after
/// the next request arrives on any connection... kept simple: it answers
/// every request at once, except `/hang`, never answered.
fn one_stream_server() -> ScriptedServer {
    let limits = Limits::default().h2_max_concurrent_streams(1);
    ScriptedServer::start(limits, |conn, event, _| {
        if let Event::Request {
            stream_id, request, ..
        } = event
        {
            if request.uri().path() != "/hang" {
                answer(conn, stream_id, "ok");
            }
        }
    })
}

both_drivers!(max_concurrent_streams_one_opens_a_second_connection, |d| {
    let srv = one_stream_server();
    runtime(d).block_on(async {
        let client = h2_client();
        let hung = {
            let (client, url) = (client.clone(), srv.url("/hang"));
            spawn_local(async move { client.get(url).send().await.map(|_| ()) })
        };
        percore::rt::time::sleep(Duration::from_millis(100)).await;
        let resp = client.get(srv.url("/")).send().await.unwrap();
        assert_eq!(resp.text().await.unwrap(), "ok");
        assert_eq!(client.pool_stats().connections, 2);
        hung.abort();
    });
    assert_eq!(srv.accepted.load(Ordering::SeqCst), 2);
});

both_drivers!(max_concurrent_streams_one_queues_at_the_host_limit, |d| {
    let srv = one_stream_server();
    runtime(d).block_on(async {
        let client = Client::builder()
            .http2_prior_knowledge()
            .limit_per_host(1)
            .pool_wait_timeout(Duration::from_millis(300))
            .build()
            .unwrap();
        // Queued behind each other on the one connection.
        let tasks: Vec<_> = (0..10)
            .map(|_| {
                let (client, url) = (client.clone(), srv.url("/"));
                spawn_local(async move { client.get(url).send().await?.text().await })
            })
            .collect();
        for t in tasks {
            assert_eq!(t.await.unwrap().unwrap(), "ok");
        }
        // A stream that never ends: the next request waits and times out.
        let hung = {
            let (client, url) = (client.clone(), srv.url("/hang"));
            spawn_local(async move { client.get(url).send().await.map(|_| ()) })
        };
        percore::rt::time::sleep(Duration::from_millis(50)).await;
        let err = client.get(srv.url("/")).send().await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Timeout(TimeoutKind::PoolWait));
        hung.abort();
    });
    assert_eq!(srv.accepted.load(Ordering::SeqCst), 1);
});

both_drivers!(server_that_stops_reading_times_out, |d| {
    let addr = deaf_server(Duration::from_secs(5));
    runtime(d).block_on(async {
        let client = Client::builder()
            .http2_prior_knowledge()
            .read_timeout(Duration::from_millis(400))
            .build()
            .unwrap();
        let t0 = Instant::now();
        let err = client
            .post(format!("http://{addr}/upload"))
            .body(vec![0u8; 4 << 20])
            .send()
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Timeout(TimeoutKind::Read), "{err}");
        assert!(t0.elapsed() < Duration::from_secs(3));
    });
});

both_drivers!(
    streamed_body_to_a_server_that_stops_reading_times_out,
    |d| {
        let addr = deaf_server(Duration::from_secs(5));
        runtime(d).block_on(async {
            let client = Client::builder()
                .http2_prior_knowledge()
                .read_timeout(Duration::from_millis(400))
                .build()
                .unwrap();
            let (tx, body) = Body::channel(2);
            let sent = std::rc::Rc::new(std::cell::Cell::new(0usize));
            let count = sent.clone();
            let feeder = spawn_local(async move {
                while tx.send(Bytes::from(vec![0u8; 16 * 1024])).await.is_ok() {
                    count.set(count.get() + 1);
                }
            });
            let t0 = Instant::now();
            let err = client
                .post(format!("http://{addr}/upload"))
                .body(body)
                .send()
                .await
                .unwrap_err();
            assert_eq!(err.kind(), ErrorKind::Timeout(TimeoutKind::Read), "{err}");
            assert!(t0.elapsed() < Duration::from_secs(3));
            // Back-pressure held: the window (64 KiB) and the send queue
            // (64 KiB) took the stream's chunks, not all it could make.
            assert!(sent.get() < 16, "{} chunks taken", sent.get());
            feeder.await.unwrap();
        });
    }
);

both_drivers!(silent_body_hits_the_read_timeout, |d| {
    let srv = ScriptedServer::start(Limits::default(), |conn, event, _| {
        if let Event::Request { stream_id, .. } = event {
            let _ = conn.send_response(stream_id, StatusCode::OK, &HeaderMap::new(), false);
            let _ = conn.send_data(stream_id, Bytes::from_static(b"part"), false);
        }
    });
    runtime(d).block_on(async {
        let client = Client::builder()
            .http2_prior_knowledge()
            .read_timeout(Duration::from_millis(300))
            .build()
            .unwrap();
        let mut resp = client.get(srv.url("/")).send().await.unwrap();
        assert_eq!(&resp.chunk().await.unwrap().unwrap()[..], b"part");
        let err = resp.chunk().await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Timeout(TimeoutKind::Read));
    });
});

both_drivers!(dropped_response_cancels_its_stream_only, |d| {
    let resets = Arc::new(Mutex::new(Vec::new()));
    let r = resets.clone();
    let srv = ScriptedServer::start(Limits::default(), move |conn, event, _| match event {
        Event::Request {
            stream_id, request, ..
        } => {
            if request.uri().path() == "/endless" {
                let _ = conn.send_response(stream_id, StatusCode::OK, &HeaderMap::new(), false);
                let _ = conn.send_data(stream_id, Bytes::from(vec![b'x'; 60_000]), false);
            } else {
                let mut trailers = HeaderMap::new();
                trailers.insert("x-check", "42".parse().unwrap());
                let _ = conn.send_response(stream_id, StatusCode::OK, &HeaderMap::new(), false);
                let _ = conn.send_data(stream_id, Bytes::from_static(b"fine"), false);
                let _ = conn.send_trailers(stream_id, trailers);
            }
        }
        Event::Reset { stream_id, code } => r.lock().unwrap().push((stream_id, code)),
        _ => {}
    });
    runtime(d).block_on(async {
        let client = h2_client();
        for _ in 0..3 {
            let mut resp = client.get(srv.url("/endless")).send().await.unwrap();
            assert!(!resp.chunk().await.unwrap().unwrap().is_empty());
            drop(resp);
        }
        let mut resp = client.get(srv.url("/trailers")).send().await.unwrap();
        let mut body = BytesMut::new();
        while let Some(c) = resp.chunk().await.unwrap() {
            body.extend_from_slice(&c);
        }
        assert_eq!(&body[..], b"fine");
        assert_eq!(resp.trailers().unwrap()["x-check"], "42");
    });
    // Each dropped body was cancelled; its 60 000 unread bytes came back
    // to the connection window, or the fourth answer could not arrive.
    assert_eq!(
        *resets.lock().unwrap(),
        [
            (1, ErrorCode::Cancel),
            (3, ErrorCode::Cancel),
            (5, ErrorCode::Cancel)
        ]
    );
    assert_eq!(srv.accepted.load(Ordering::SeqCst), 1);
});

both_drivers!(connect_failure_is_a_connect_error, |d| {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    runtime(d).block_on(async {
        let client = h2_client();
        let tasks: Vec<_> = (0..3)
            .map(|_| {
                let (client, url) = (client.clone(), format!("http://127.0.0.1:{port}/"));
                spawn_local(async move { client.get(url).send().await.map(|_| ()) })
            })
            .collect();
        for t in tasks {
            assert_eq!(t.await.unwrap().unwrap_err().kind(), ErrorKind::Connect);
        }
        assert_eq!(client.pool_stats().connections, 0);
    });
});

#[test]
fn fetch_example_speaks_h2_with_the_flag() {
    let exe = std::env::current_exe().unwrap();
    let dir = exe.parent().and_then(|deps| deps.parent()).unwrap();
    let fetch = dir.join("examples").join("fetch");
    assert!(fetch.exists(), "{} not built", fetch.display());
    let srv = TestServer::start(percore::DriverChoice::Auto);
    let out = common::run(std::process::Command::new(&fetch).args([
        "--h2",
        "-X",
        "POST",
        "-d",
        "ping",
        &srv.url("/echo"),
    ]));
    assert!(out.status.success(), "{}", common::stderr(&out));
    assert_eq!(common::stdout(&out), "ping");
    let err = common::stderr(&out);
    assert!(err.starts_with("HTTP/2.0 200 OK\n"), "{err}");
}

both_drivers!(http1_only_server_fails_fast_without_reconnecting, |d| {
    // Answers the preface's "PRI * HTTP/2.0" head with an HTTP/1.1 400.
    let srv = raw::RawServer::start(|c, _head| {
        use std::io::Write;
        let _ = c.write_all(b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n\r\n");
        false
    });
    runtime(d).block_on(async {
        let client = h2_client();
        let t0 = Instant::now();
        let tasks: Vec<_> = (0..3)
            .map(|_| {
                let (client, url) = (client.clone(), srv.url("/"));
                spawn_local(async move { client.get(url).send().await.map(|_| ()) })
            })
            .collect();
        for t in tasks {
            assert_eq!(t.await.unwrap().unwrap_err().kind(), ErrorKind::Protocol);
        }
        assert!(t0.elapsed() < Duration::from_secs(2));
    });
    assert_eq!(srv.accepted.load(Ordering::SeqCst), 1);
});

both_drivers!(
    connection_closed_under_a_request_is_retried_once_when_idempotent,
    |d| {
        // Connection 0 closes (no GOAWAY) under its second stream; connection
        // 1 closes under any POST. A GET is sent again on a new connection,
        // a POST is reported.
        let srv = ScriptedServer::start(Limits::default(), |conn, event, extra| {
            if let Event::Request {
                stream_id, request, ..
            } = event
            {
                extra.close = match extra.conn_index {
                    0 => stream_id > 1,
                    _ => request.method() == http::Method::POST,
                };
                if !extra.close {
                    answer(conn, stream_id, "ok");
                }
            }
        });
        runtime(d).block_on(async {
            let client = h2_client();
            for _ in 0..2 {
                let resp = client.get(srv.url("/")).send().await.unwrap();
                assert_eq!(resp.text().await.unwrap(), "ok");
            }
            assert_eq!(srv.accepted.load(Ordering::SeqCst), 2);
            let err = client
                .post(srv.url("/"))
                .body("x")
                .send()
                .await
                .unwrap_err();
            assert!(
                matches!(err.kind(), ErrorKind::Protocol | ErrorKind::Io),
                "{err}"
            );
        });
        assert_eq!(srv.accepted.load(Ordering::SeqCst), 2);
    }
);

both_drivers!(keep_alive_ping_unanswered_closes_the_connection, |d| {
    // SETTINGS, then nothing: no answer to the request, none to PINGs.
    let addr = deaf_server(Duration::from_secs(10));
    runtime(d).block_on(async {
        let client = Client::builder()
            .http2_prior_knowledge()
            .read_timeout(Duration::from_secs(8))
            .http2_keep_alive(Duration::from_millis(100), Duration::from_millis(300))
            .build()
            .unwrap();
        let t0 = Instant::now();
        // Idempotent, yet not retried: the peer was found dead.
        let err = client
            .get(format!("http://{addr}/"))
            .send()
            .await
            .unwrap_err();
        assert_eq!(
            err.kind(),
            ErrorKind::Timeout(TimeoutKind::KeepAlive),
            "{err}"
        );
        assert!(err.to_string().contains("PING"), "{err}");
        assert!(t0.elapsed() < Duration::from_secs(3), "{:?}", t0.elapsed());
        percore::rt::time::sleep(Duration::from_millis(50)).await;
        assert_eq!(
            client.pool_stats().connections,
            0,
            "the connection is closed"
        );
    });
});

both_drivers!(keep_alive_pings_answered_keep_the_connection, |d| {
    let srv = TestServer::start(d);
    runtime(d).block_on(async {
        let client = Client::builder()
            .http2_prior_knowledge()
            // Answers must come within 250 ms: the test lasts 1.5 s.
            .http2_keep_alive(Duration::from_millis(50), Duration::from_millis(250))
            .build()
            .unwrap();
        for _ in 0..3 {
            // /slow answers after 300 ms: several PINGs meanwhile.
            let resp = client.get(srv.url("/slow")).send().await.unwrap();
            assert_eq!(resp.status(), StatusCode::OK);
            resp.bytes().await.unwrap();
            percore::rt::time::sleep(Duration::from_millis(200)).await;
        }
        assert_eq!(client.pool_stats().connections, 1);
    });
});
