//! HTTP/1.1 against real clients (curl, Python httpx, wrk) and raw sockets,
//! on both drivers.

mod common;
use common::*;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Command;
use std::time::Duration;

use percore::{DriverChoice, Limits};

/// How soon the server must close a connection it has answered for the last time.
const CLOSE_WITHIN: Duration = Duration::from_secs(2);

/// Runs a Python script with the server's host and port as arguments.
fn python_with_addr(script: &str, srv: &TestServer) -> std::process::Output {
    let port = srv.addr.port().to_string();
    run(Command::new("python3").args(["-c", script, "127.0.0.1", &port]))
}

both_drivers!(curl_routes_and_keep_alive, |d: DriverChoice| {
    let srv = TestServer::start(d);
    let out = run(Command::new("curl").args(["-sv", &srv.url("/plaintext"), &srv.url("/json")]));
    assert_eq!(stdout(&out), "Hello, World!{\"message\":\"Hello, World!\"}");
    let err = stderr(&out);
    assert!(
        err.contains("Re-using existing connection") || err.contains("Reusing existing"),
        "no keep-alive: {err}"
    );
    let page = stdout(&run(Command::new("curl").args(["-s", &srv.url("/")])));
    assert!(page.contains("percore demo server"));
    // The chat client: a WebSocket to /chat on this host, a form with the
    // name and line inputs, and the code that sends a line and shows what arrives.
    for part in [
        "new WebSocket(scheme + location.host + '/chat')",
        "ws.onmessage = ",
        r#"<form id="form">"#,
        r#"<input id="name""#,
        r#"<input id="line""#,
        r#"<input type="submit" value="Send">"#,
        "document.getElementById('form').onsubmit",
        "ws.send(name + ': ' + line.value)",
    ] {
        assert!(page.contains(part), "no {part:?} in the page");
    }
});

both_drivers!(curl_head_has_length_but_no_body, |d: DriverChoice| {
    let srv = TestServer::start(d);
    let out = run(Command::new("curl").args(["-sI", &srv.url("/plaintext")]));
    let text = stdout(&out).to_ascii_lowercase();
    assert!(text.starts_with("http/1.1 200"), "{text}");
    assert!(text.contains("content-length: 13"), "{text}");
    // Raw check: nothing after the head.
    let raw = raw_exchange(
        srv.addr,
        b"HEAD /plaintext HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        CLOSE_WITHIN,
    );
    let raw = String::from_utf8(raw).unwrap();
    assert!(
        raw.ends_with("\r\n\r\n"),
        "HEAD response carried a body: {raw:?}"
    );
});

both_drivers!(curl_chunked_upload_is_echoed, |d: DriverChoice| {
    let srv = TestServer::start(d);
    let data: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
    let file = TempFile::new("chunked-up", &data);
    let out = run(Command::new("curl").args([
        "-s",
        "-H",
        "Transfer-Encoding: chunked",
        "-H",
        "Content-Type: application/x-test",
        "--data-binary",
        &format!("@{}", file.0.display()),
        &srv.url("/echo"),
    ]));
    assert!(out.stdout == data, "chunked upload came back different");
});

both_drivers!(curl_expect_100_continue, |d: DriverChoice| {
    let srv = TestServer::start(d);
    let data = vec![b'x'; 2 * 1024 * 1024];
    let file = TempFile::new("expect", &data);
    let out = run(Command::new("curl").args([
        "-sv",
        "-H",
        "Expect: 100-continue",
        "--data-binary",
        &format!("@{}", file.0.display()),
        &srv.url("/count"),
    ]));
    assert_eq!(stdout(&out), (2 * 1024 * 1024).to_string());
    assert!(
        stderr(&out).contains("HTTP/1.1 100 Continue"),
        "{}",
        stderr(&out)
    );
});

both_drivers!(
    declared_body_too_large_gets_413_before_upload,
    |d: DriverChoice| {
        let limits = Limits::default().max_body_size(1000);
        let srv = TestServer::with_limits(d, limits);
        let raw = raw_exchange(
        srv.addr,
        b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5000\r\nExpect: 100-continue\r\n\r\n",
        CLOSE_WITHIN,
    );
        let text = String::from_utf8_lossy(&raw);
        assert!(text.starts_with("HTTP/1.1 413"), "{text}");
        assert!(!text.contains("100 Continue"));
        assert!(
            text.to_ascii_lowercase().contains("connection: close"),
            "{text}"
        );
    }
);

both_drivers!(curl_8mib_echo_intact, |d: DriverChoice| {
    let srv = TestServer::start(d);
    let data: Vec<u8> = (0..8 * 1024 * 1024u32)
        .map(|i| (i.wrapping_mul(2654435761) >> 24) as u8)
        .collect();
    let file = TempFile::new("8mib", &data);
    let out = run(Command::new("curl").args([
        "-s",
        "--data-binary",
        &format!("@{}", file.0.display()),
        &srv.url("/echo"),
    ]));
    assert_eq!(out.stdout.len(), data.len());
    assert!(out.stdout == data, "8 MiB echo corrupted");
});

both_drivers!(python_httpx_client, |d: DriverChoice| {
    let srv = TestServer::start(d);
    let script = r#"
import sys, httpx
base = sys.argv[1]
with httpx.Client(base_url=base) as c:
    r = c.get("/json")
    assert r.status_code == 200 and r.json() == {"message": "Hello, World!"}, r.text
    assert r.headers["content-type"] == "application/json"
    r = c.post("/echo", content=b"abc" * 1000, headers={"content-type": "text/x"})
    assert r.status_code == 200 and r.content == b"abc" * 1000 and r.headers["content-type"] == "text/x"
    def gen():
        for i in range(50):
            yield b"%d," % i
    r = c.post("/echo", content=gen())
    assert r.content == b"".join(b"%d," % i for i in range(50)), r.content
    r = c.get("/missing")
    assert r.status_code == 404
    r = c.delete("/json")
    assert r.status_code == 405 and "GET" in r.headers["allow"]
print("ok")
"#;
    let out = run(Command::new("python3").args(["-c", script, &srv.url("")]));
    assert_eq!(stdout(&out).trim(), "ok");
});

both_drivers!(python_h11_http10_and_close, |d: DriverChoice| {
    let srv = TestServer::start(d);
    // HTTP/1.0 without keep-alive: the server answers and closes.
    let raw = raw_exchange(srv.addr, b"GET /plaintext HTTP/1.0\r\n\r\n", CLOSE_WITHIN);
    let text = String::from_utf8_lossy(&raw);
    assert!(text.starts_with("HTTP/1.0 200 OK"), "{text}");
    assert!(text.ends_with("Hello, World!"));
    assert!(text.to_ascii_lowercase().contains("connection: close"));
    // h11 as a strict client parser.
    let script = r#"
import socket, sys, h11
host, port = sys.argv[1], int(sys.argv[2])
s = socket.create_connection((host, port))
c = h11.Connection(h11.CLIENT)
for path in ["/plaintext", "/json"]:
    s.sendall(c.send(h11.Request(method="GET", target=path, headers=[("Host", "x")])))
    s.sendall(c.send(h11.EndOfMessage()))
    body = b""
    while True:
        e = c.next_event()
        if e is h11.NEED_DATA:
            c.receive_data(s.recv(65536))
            continue
        if isinstance(e, h11.Response):
            assert e.status_code == 200
        elif isinstance(e, h11.Data):
            body += e.data
        elif isinstance(e, h11.EndOfMessage):
            break
    c.start_next_cycle()
print("ok")
"#;
    let out = python_with_addr(script, &srv);
    assert_eq!(stdout(&out).trim(), "ok");
});

both_drivers!(curl_downloads_a_file_body, |d: DriverChoice| {
    let srv = TestServer::start(d);
    let data: Vec<u8> = (0..3_000_000u32).map(|i| (i % 253) as u8).collect();
    let file = TempFile::new("download.bin", &data);
    let name = file.0.file_name().unwrap().to_str().unwrap().to_string();
    let url = srv.url(&format!("/file/{name}"));
    for http in ["--http1.1", "--http2-prior-knowledge"] {
        let out = run(Command::new("curl").args(["-s", "-D", "/dev/stderr", http, &url]));
        assert!(out.stdout == data, "{http}: {} bytes", out.stdout.len());
        let head = stderr(&out).to_ascii_lowercase();
        assert!(head.contains("content-length: 3000000"), "{http}: {head}");
        assert!(
            head.contains("content-type: application/octet-stream"),
            "{head}"
        );
    }
    let head = run(Command::new("curl").args(["-s", "-I", &url]));
    let head = stdout(&head).to_ascii_lowercase();
    assert!(head.contains("content-length: 3000000"), "{head}");
    let missing = run(Command::new("curl").args([
        "-s",
        "-o",
        "/dev/null",
        "-w",
        "%{http_code}",
        &srv.url("/file/percore-no-such-file"),
    ]));
    assert_eq!(stdout(&missing), "404");
});

both_drivers!(python_h11_trailers_both_ways, |d: DriverChoice| {
    let srv = TestServer::start(d);
    // A chunked upload ending in trailers; /echo streams the body back and
    // forwards the trailers, which h11 reads from the response's last chunk.
    let script = r#"
import socket, sys, h11
host, port = sys.argv[1], int(sys.argv[2])
s = socket.create_connection((host, port))
s.settimeout(5)
c = h11.Connection(h11.CLIENT)
s.sendall(c.send(h11.Request(method="POST", target="/echo", headers=[
    ("Host", "x"), ("Transfer-Encoding", "chunked"), ("Content-Type", "text/plain")])))
s.sendall(c.send(h11.Data(data=b"hello ")))
s.sendall(c.send(h11.Data(data=b"trailers")))
s.sendall(c.send(h11.EndOfMessage(headers=[("X-Checksum", "abc"), ("X-Count", "2")])))
body, trailers = b"", None
while trailers is None:
    e = c.next_event()
    if e is h11.NEED_DATA:
        c.receive_data(s.recv(65536))
    elif isinstance(e, h11.Response):
        assert e.status_code == 200, e
    elif isinstance(e, h11.Data):
        body += e.data
    elif isinstance(e, h11.EndOfMessage):
        trailers = [(bytes(k), bytes(v)) for k, v in e.headers]
assert body == b"hello trailers", body
assert trailers == [(b"x-checksum", b"abc"), (b"x-count", b"2")], trailers
print("ok")
"#;
    let out = python_with_addr(script, &srv);
    assert_eq!(stdout(&out).trim(), "ok", "{}", stderr(&out));
});

both_drivers!(pipelining_100_requests_in_one_write, |d: DriverChoice| {
    let srv = TestServer::start(d);
    let mut s = TcpStream::connect(srv.addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    // GETs and POSTs alternate; each answer's body names its request.
    let names: Vec<String> = (0..100)
        .map(|i| match i % 2 {
            0 => format!("get-{i:02}"),
            _ => format!("post-{i:02}"),
        })
        .collect();
    let mut batch = Vec::new();
    for name in &names {
        if name.starts_with("get") {
            write!(batch, "GET /say/{name} HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
        } else {
            let len = name.len();
            write!(
                batch,
                "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: {len}\r\n\r\n{name}"
            )
            .unwrap();
        }
    }
    s.write_all(&batch).unwrap();
    let got = read_until(&mut s, names.last().unwrap().as_bytes());
    // 100 answers back to back, each a 200 whose body is its request's name.
    let mut rest = got.as_slice();
    for (i, name) in names.iter().enumerate() {
        let body_at = find(rest, b"\r\n\r\n").map(|end| end + 4);
        assert!(
            rest.starts_with(b"HTTP/1.1 200 OK\r\n")
                && body_at.is_some_and(|at| rest[at..].starts_with(name.as_bytes())),
            "answer {i} is not a 200 to {name}: {}",
            String::from_utf8_lossy(rest)
        );
        rest = &rest[body_at.unwrap() + name.len()..];
    }
    assert!(rest.is_empty(), "{}", String::from_utf8_lossy(rest));
});

/// Where `needle` first occurs in `hay`.
fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

both_drivers!(malformed_requests_get_400_and_close, |d: DriverChoice| {
    let srv = TestServer::start(d);
    let cases: &[(&[u8], &str)] = &[
        (
            b"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n",
            "400",
        ),
        (b"GET / HTTP/1.1\r\n\r\n", "400"),
        (b"GET / HTTP/2.0\r\nHost: x\r\n\r\n", "505"),
        (
            b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
            "400",
        ),
    ];
    for (req, status) in cases {
        let raw = raw_exchange(srv.addr, req, CLOSE_WITHIN);
        let text = String::from_utf8_lossy(&raw);
        assert!(
            text.starts_with(&format!("HTTP/1.1 {status}")),
            "{:?} → {text}",
            String::from_utf8_lossy(req)
        );
    }
});

both_drivers!(
    handler_panic_is_500_and_server_survives,
    |d: DriverChoice| {
        let srv = TestServer::start(d);
        let out = run(Command::new("curl").args([
            "-s",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            &srv.url("/panic"),
        ]));
        assert_eq!(stdout(&out), "500");
        for http2 in [false, true] {
            let mut curl = Command::new("curl");
            curl.args(["-s", "-o", "/dev/null", "-w", "%{http_code}"]);
            if http2 {
                curl.arg("--http2-prior-knowledge");
            }
            let out = run(curl.arg(srv.url("/panic-sync")));
            assert_eq!(stdout(&out), "500", "http2: {http2}");
        }
        let out = run(Command::new("curl").args(["-s", &srv.url("/plaintext")]));
        assert_eq!(stdout(&out), "Hello, World!");
    }
);

// Each way a request reaches a handler over HTTP/1.1 (its raw head, or
// built into a request because it may switch protocols), each kind of
// panic (while polled, before the future exists): the same 500, its body
// and content-type, then the connection closes (a second request
// pipelined behind it gets no answer).
both_drivers!(
    handler_panic_500_closes_the_connection,
    |d: DriverChoice| {
        let srv = TestServer::start(d);
        for path in ["/panic", "/panic-sync"] {
            for upgrade in ["", "Connection: upgrade\r\nUpgrade: foo\r\n"] {
                let req = format!(
                "GET {path} HTTP/1.1\r\nHost: x\r\n{upgrade}\r\nGET /plaintext HTTP/1.1\r\nHost: x\r\n\r\n"
            );
                let raw = raw_exchange(srv.addr, req.as_bytes(), CLOSE_WITHIN);
                let text = String::from_utf8_lossy(&raw);
                let (head, body) = text.split_once("\r\n\r\n").expect("a whole answer");
                assert!(
                    head.starts_with("HTTP/1.1 500 "),
                    "{path} {upgrade:?}: {text}"
                );
                assert!(
                    head.to_ascii_lowercase()
                        .contains("content-type: text/plain; charset=utf-8"),
                    "{head}"
                );
                assert_eq!(body, "500 Internal Server Error\n", "{path} {upgrade:?}");
            }
        }
    }
);

both_drivers!(two_thousand_concurrent_connections, |d: DriverChoice| {
    let srv = TestServer::start(d);
    let addr = srv.addr;
    let rt = percore::rt::Builder::new().driver(d).build().unwrap();
    rt.block_on(async move {
        let tasks: Vec<_> = (0..2000)
            .map(|_| {
                percore::rt::spawn_local(async move {
                    let s = percore::rt::net::TcpStream::connect(addr).await.unwrap();
                    let req = b"GET /plaintext HTTP/1.1\r\nHost: x\r\n\r\n".to_vec();
                    s.write_all(req).await.0.unwrap();
                    let mut got = Vec::with_capacity(1024);
                    while !got.ends_with(b"Hello, World!") {
                        let (res, b) = s.read(got).await;
                        assert!(res.unwrap() > 0);
                        got = b;
                    }
                    s
                })
            })
            .collect();
        let mut open = Vec::new();
        for t in tasks {
            open.push(t.await.unwrap());
        }
        assert_eq!(open.len(), 2000);
    });
});

both_drivers!(wrk_smoke, |d: DriverChoice| {
    let srv = TestServer::start(d);
    let out = run(Command::new("wrk").args(["-t1", "-c20", "-d1s", &srv.url("/plaintext")]));
    let text = stdout(&out);
    assert!(!text.contains("Socket errors"), "{text}");
    assert!(!text.contains("Non-2xx"), "{text}");
    let rate: f64 = text
        .lines()
        .find_map(|l| l.strip_prefix("Requests/sec:"))
        .and_then(|v| v.trim().parse().ok())
        .expect("no rate in wrk output");
    assert!(rate > 100.0, "{text}");
});

both_drivers!(
    graceful_shutdown_finishes_in_flight_requests,
    |d: DriverChoice| {
        let mut srv = TestServer::start(d);
        let url = srv.url("/slow");
        let client = std::thread::spawn(move || run(Command::new("curl").args(["-s", &url])));
        std::thread::sleep(Duration::from_millis(100));
        srv.stop();
        let out = client.join().unwrap();
        assert_eq!(stdout(&out), "slow done");
    }
);

/// Reads from `s` until `want` has been seen at the end of what arrived.
fn read_until(s: &mut TcpStream, want: &[u8]) -> Vec<u8> {
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    while !got.ends_with(want) {
        let n = s.read(&mut buf).unwrap_or_else(|e| {
            panic!(
                "{e} before {:?}; got {:?}",
                String::from_utf8_lossy(want),
                String::from_utf8_lossy(&got)
            )
        });
        assert!(
            n > 0,
            "closed early; got {:?}",
            String::from_utf8_lossy(&got)
        );
        got.extend_from_slice(&buf[..n]);
    }
    got
}

both_drivers!(
    upgrade_hands_over_the_connection_with_early_bytes,
    |d: DriverChoice| {
        let srv = TestServer::start(d);
        let mut s = TcpStream::connect(srv.addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        // A pipelined plain request first, then the upgrade with bytes right behind its head.
        s.write_all(
        b"GET /plaintext HTTP/1.1\r\nHost: x\r\n\r\n\
          GET /upgrade-echo HTTP/1.1\r\nHost: x\r\nConnection: keep-alive, Upgrade\r\nUpgrade: shout\r\n\r\nhello",
    )
    .unwrap();
        let got = String::from_utf8(read_until(&mut s, b"HELLO")).unwrap();
        let first = got.find("Hello, World!").expect("pipelined response first");
        let switch = got
            .find("HTTP/1.1 101 Switching Protocols\r\n")
            .expect(&got);
        assert!(first < switch, "{got}");
        let head = &got[switch..];
        assert!(
            head.to_ascii_lowercase().contains("upgrade: shout"),
            "{got}"
        );
        assert!(
            !head.to_ascii_lowercase().contains("content-length"),
            "{got}"
        );
        s.write_all(b"more").unwrap();
        read_until(&mut s, b"MORE");
    }
);

both_drivers!(upgrade_refused_keeps_http1, |d: DriverChoice| {
    let srv = TestServer::start(d);
    // No Connection: upgrade → the handler sees no OnUpgrade and answers 400,
    // and the connection goes on serving HTTP/1.1.
    let raw = raw_exchange(
        srv.addr,
        b"GET /upgrade-echo HTTP/1.1\r\nHost: x\r\nUpgrade: shout\r\n\r\n\
          GET /plaintext HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        CLOSE_WITHIN,
    );
    let raw = String::from_utf8(raw).unwrap();
    assert!(raw.starts_with("HTTP/1.1 400"), "{raw}");
    assert!(raw.ends_with("Hello, World!"), "{raw}");
});
