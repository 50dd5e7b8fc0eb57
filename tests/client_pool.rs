//! The client's connection pool, on both drivers: the per-host limit under
//! 1 000 concurrent requests, keep-alive reuse, waiters that time out,
//! idle connections closed after the idle timeout, and room made under the
//! total limit by closing another origin's idle connection.

mod common;
#[path = "client_raw/mod.rs"]
mod raw;

use std::io::Write;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use percore::client::{Client, ErrorKind, TimeoutKind};
use percore::rt::{spawn_local, time::sleep};
use raw::{runtime, RawServer};

fn ok_server() -> RawServer {
    RawServer::start(|c, head| {
        if head.starts_with("GET /slow ") {
            std::thread::sleep(Duration::from_millis(800));
        }
        c.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")
            .is_ok()
    })
}

both_drivers!(per_host_limit_holds_under_1000_concurrent_requests, |d| {
    let srv = ok_server();
    runtime(d).block_on(async {
        let client = Client::builder().limit_per_host(4).build().unwrap();
        let tasks: Vec<_> = (0..1000)
            .map(|_| {
                let (client, url) = (client.clone(), srv.url("/"));
                spawn_local(async move { client.get(url).send().await?.text().await })
            })
            .collect();
        let mut max_seen = 0;
        for t in tasks {
            assert_eq!(t.await.unwrap().unwrap(), "ok");
            max_seen = max_seen.max(client.pool_stats().connections);
        }
        assert!(max_seen <= 4, "{max_seen}");
        assert_eq!(client.pool_stats().waiting, 0);
    });
    assert!(srv.max_open.load(Ordering::SeqCst) <= 4);
    let accepted = srv.accepted.load(Ordering::SeqCst);
    assert!((1..=4).contains(&accepted), "{accepted} connections");
});

both_drivers!(keep_alive_reuses_one_connection, |d| {
    let srv = ok_server();
    runtime(d).block_on(async {
        let client = Client::new();
        for _ in 0..20 {
            let resp = client.get(srv.url("/")).send().await.unwrap();
            assert_eq!(resp.text().await.unwrap(), "ok");
        }
        let stats = client.pool_stats();
        assert_eq!((stats.connections, stats.idle), (1, 1));
    });
    assert_eq!(srv.accepted.load(Ordering::SeqCst), 1);
});

both_drivers!(waiters_time_out_with_the_pool_wait_error, |d| {
    let srv = ok_server();
    runtime(d).block_on(async {
        let client = Client::builder()
            .limit_per_host(1)
            .pool_wait_timeout(Duration::from_millis(200))
            .build()
            .unwrap();
        let slow = {
            let (client, url) = (client.clone(), srv.url("/slow"));
            spawn_local(async move { client.get(url).send().await?.text().await })
        };
        sleep(Duration::from_millis(50)).await;
        let t0 = Instant::now();
        let err = client.get(srv.url("/")).send().await.unwrap_err();
        assert_eq!(
            err.kind(),
            ErrorKind::Timeout(TimeoutKind::PoolWait),
            "{err}"
        );
        assert!(t0.elapsed() < Duration::from_millis(700));
        assert_eq!(client.pool_stats().waiting, 0);
        assert_eq!(slow.await.unwrap().unwrap(), "ok");
        // The slot is free again.
        let resp = client.get(srv.url("/")).send().await.unwrap();
        assert_eq!(resp.text().await.unwrap(), "ok");
    });
    assert_eq!(srv.accepted.load(Ordering::SeqCst), 1);
});

both_drivers!(idle_connections_close_after_the_idle_timeout, |d| {
    let srv = ok_server();
    runtime(d).block_on(async {
        let client = Client::builder()
            .idle_timeout(Duration::from_millis(200))
            .build()
            .unwrap();
        let resp = client.get(srv.url("/")).send().await.unwrap();
        assert_eq!(resp.text().await.unwrap(), "ok");
        assert_eq!(client.pool_stats().idle, 1);
        sleep(Duration::from_millis(100)).await;
        assert_eq!(client.pool_stats().idle, 1);
        sleep(Duration::from_millis(300)).await;
        assert_eq!(client.pool_stats().connections, 0);
    });
    // The server saw the connection end.
    let t0 = Instant::now();
    while srv.closed.load(Ordering::SeqCst) == 0 && t0.elapsed() < Duration::from_secs(2) {
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(srv.closed.load(Ordering::SeqCst), 1);
});

both_drivers!(total_limit_closes_another_origins_idle_connection, |d| {
    let (a, b) = (ok_server(), ok_server());
    runtime(d).block_on(async {
        let client = Client::builder()
            .limit(1)
            .pool_wait_timeout(Duration::from_millis(500))
            .build()
            .unwrap();
        for srv in [&a, &b, &a] {
            let resp = client.get(srv.url("/")).send().await.unwrap();
            assert_eq!(resp.text().await.unwrap(), "ok");
            assert_eq!(client.pool_stats().connections, 1);
        }
    });
    assert_eq!(a.accepted.load(Ordering::SeqCst), 2);
    assert_eq!(b.accepted.load(Ordering::SeqCst), 1);
});

both_drivers!(max_idle_per_host_closes_the_surplus, |d| {
    let srv = ok_server();
    runtime(d).block_on(async {
        let client = Client::builder().max_idle_per_host(1).build().unwrap();
        let tasks: Vec<_> = (0..3)
            .map(|_| {
                let (client, url) = (client.clone(), srv.url("/slow"));
                spawn_local(async move { client.get(url).send().await?.text().await })
            })
            .collect();
        for t in tasks {
            assert_eq!(t.await.unwrap().unwrap(), "ok");
        }
        let stats = client.pool_stats();
        assert_eq!((stats.connections, stats.idle), (1, 1));
    });
    assert_eq!(srv.accepted.load(Ordering::SeqCst), 3);
});

both_drivers!(connect_timeout_on_a_full_backlog, |d| {
    // A listener that never accepts, its backlog full: SYNs go unanswered.
    let opts = percore::rt::net::ListenOptions {
        backlog: 0,
        ..Default::default()
    };
    let listener =
        percore::rt::net::TcpListener::bind_std("127.0.0.1:0".parse().unwrap(), opts).unwrap();
    let addr = listener.local_addr().unwrap();
    let mut fillers = Vec::new();
    for _ in 0..4 {
        if let Ok(s) = std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(100)) {
            fillers.push(s);
        }
    }
    runtime(d).block_on(async {
        let client = Client::builder()
            .connect_timeout(Duration::from_millis(300))
            .build()
            .unwrap();
        let t0 = Instant::now();
        let err = client
            .get(format!("http://{addr}/"))
            .send()
            .await
            .unwrap_err();
        assert_eq!(
            err.kind(),
            ErrorKind::Timeout(TimeoutKind::Connect),
            "{err}"
        );
        assert!(t0.elapsed() < Duration::from_secs(2));
        assert_eq!(client.pool_stats().connections, 0);
    });
    drop(listener);
});

both_drivers!(waiters_are_served_in_arrival_order, |d| {
    let srv = RawServer::start(|c, head| {
        if head.starts_with("GET /slow ") {
            std::thread::sleep(Duration::from_millis(200));
        }
        let path = head.split(' ').nth(1).unwrap_or("").to_string();
        let resp = format!(
            "HTTP/1.1 200 OK\r\ncontent-length: {}\r\n\r\n{path}",
            path.len()
        );
        c.write_all(resp.as_bytes()).is_ok()
    });
    runtime(d).block_on(async {
        let client = Client::builder().limit_per_host(1).build().unwrap();
        let order = std::rc::Rc::new(std::cell::RefCell::new(Vec::new()));
        let mut tasks = Vec::new();
        for i in 0..6 {
            let (client, order) = (client.clone(), order.clone());
            let url = if i == 0 {
                srv.url("/slow")
            } else {
                srv.url(&format!("/{i}"))
            };
            tasks.push(spawn_local(async move {
                let body = client.get(url).send().await.unwrap().text().await.unwrap();
                order.borrow_mut().push(body);
            }));
            // Each request joins the line after the one before it.
            sleep(Duration::from_millis(10)).await;
        }
        for t in tasks {
            t.await.unwrap();
        }
        assert_eq!(*order.borrow(), ["/slow", "/1", "/2", "/3", "/4", "/5"]);
    });
    assert_eq!(srv.accepted.load(Ordering::SeqCst), 1);
});

both_drivers!(
    a_body_that_came_with_its_head_frees_the_connection_at_once,
    |d| {
        let srv = ok_server();
        runtime(d).block_on(async {
            let client = Client::new();
            // The two body bytes arrive with the head: the connection is idle
            // again before the body is read, and a response dropped unread
            // does not close it.
            let resp = client.get(srv.url("/")).send().await.unwrap();
            assert_eq!(client.pool_stats().idle, 1);
            drop(resp);
            let resp = client.get(srv.url("/")).send().await.unwrap();
            assert_eq!(resp.trailers(), None);
            assert_eq!(resp.text().await.unwrap(), "ok");
            let stats = client.pool_stats();
            assert_eq!((stats.connections, stats.idle), (1, 1));
        });
        assert_eq!(srv.accepted.load(Ordering::SeqCst), 1);
    }
);

both_drivers!(bytes_after_a_whole_body_close_the_connection, |d| {
    // Bytes the server sends past the declared body (no request asked
    // for them) make the connection unfit for reuse.
    let srv = RawServer::start(|c, _| {
        c.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nokJUNK")
            .is_ok()
    });
    runtime(d).block_on(async {
        let client = Client::new();
        for _ in 0..2 {
            let resp = client.get(srv.url("/")).send().await.unwrap();
            assert_eq!(resp.text().await.unwrap(), "ok");
            assert_eq!(client.pool_stats().idle, 0);
        }
    });
    assert_eq!(srv.accepted.load(Ordering::SeqCst), 2);
});

both_drivers!(a_connection_sends_each_request_s_own_head, |d| {
    // One connection: a head kept for the same request again (method,
    // target, host, the client's fields, no body) is sent only for it;
    // any other request on the connection gets its own head.
    let heads = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let seen = heads.clone();
    let srv = RawServer::start(move |c, head| {
        seen.lock().unwrap().push(head.to_string());
        let answer: &[u8] = if head.starts_with("HEAD ") {
            b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n"
        } else {
            b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok"
        };
        c.write_all(answer).is_ok()
    });
    runtime(d).block_on(async {
        // (No decoding: the client's default fields as they are, the
        // heads that may be kept.)
        let client = Client::builder()
            .limit_per_host(1)
            .decompress(false)
            .build()
            .unwrap();
        let sent = [
            ("GET", srv.url("/a"), None),
            ("GET", srv.url("/a"), None),
            ("GET", srv.url("/b"), None),
            ("GET", srv.url("/a"), Some("x-one: 1")),
            ("GET", srv.url("/a"), None),
            ("HEAD", srv.url("/a"), None),
            ("POST", srv.url("/a"), None),
            ("GET", srv.url("/a?q=1"), None),
            ("GET", srv.url("/a"), None),
        ];
        for (method, url, field) in &sent {
            let mut req = client.request(method.parse().unwrap(), url.as_str());
            if let Some(field) = field {
                let (name, value) = field.split_once(": ").unwrap();
                req = req.header(name, value);
            }
            let resp = req.send().await.unwrap();
            assert_eq!(resp.status(), 200);
            let _ = resp.bytes().await.unwrap();
        }
        let got = heads.lock().unwrap().clone();
        assert_eq!(got.len(), sent.len());
        for ((method, url, field), head) in sent.iter().zip(&got) {
            let target = &url[url.find("/a").or(url.find("/b")).unwrap()..];
            let line = format!("{method} {target} HTTP/1.1\r\n");
            assert!(head.starts_with(&line), "{head:?} for {line:?}");
            assert_eq!(head.contains("x-one: 1"), field.is_some(), "{head:?}");
            assert_eq!(
                head.contains("content-length: 0"),
                *method == "POST",
                "{head:?}"
            );
        }
        assert_eq!(srv.accepted.load(Ordering::SeqCst), 1);
    });
});
