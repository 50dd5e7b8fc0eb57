//! percore's HTTP client against real servers, on both drivers: percore's
//! own server, Debian's nginx (keep-alive, a 10 MiB file, gzip'd chunked
//! bodies, 404) and Python aiohttp's server (compression, chunked streams,
//! redirects of every kind, cross-origin credentials, cookies); and a
//! Unix-socket service.

mod common;
#[path = "client_raw/mod.rs"]
mod raw;

use std::io::{BufRead, BufReader, Read, Write};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use bytes::Bytes;
use common::pki::Pki;
use common::{TempFile, TestServer};
use http::Version;
use percore::client::{Body, Client, ErrorKind, FileBody};
use raw::runtime;

/// A directory under the system's temporary one, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> TempDir {
        static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let dir =
            std::env::temp_dir().join(format!("percore-client-{tag}-{}-{n}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A child process stopped by its PID on drop.
struct Peer(Child);

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn wait_for_port(port: u16) {
    let t0 = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            t0.elapsed() < Duration::from_secs(10),
            "peer did not listen on {port}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// nginx on a free port, serving a temporary root: `big.bin` (10 MiB),
/// `text.txt` (gzip'd, hence chunked, for clients that accept it); over
/// TLS (HTTP/2 and HTTP/1.1 by ALPN) when started with a [`Pki`].
struct Nginx {
    port: u16,
    tls: bool,
    big: Vec<u8>,
    text: String,
    _peer: Peer,
    _dir: TempDir,
}

impl Nginx {
    fn start() -> Nginx {
        Nginx::start_with(None)
    }

    fn start_with(tls: Option<&Pki>) -> Nginx {
        let dir = TempDir::new("nginx");
        let root = dir.0.join("root");
        std::fs::create_dir_all(&root).unwrap();
        let big: Vec<u8> = (0..10 << 20).map(|i: u32| (i % 251) as u8).collect();
        std::fs::write(root.join("big.bin"), &big).unwrap();
        let text = "nginx says hello to percore\n".repeat(2000);
        std::fs::write(root.join("text.txt"), &text).unwrap();
        let port = free_port();
        let d = dir.0.display();
        // nginx 1.22 (Debian 12): `listen ... http2`, not `http2 on;`.
        let listen = match tls {
            None => format!("listen 127.0.0.1:{port};"),
            Some(pki) => format!(
                "listen 127.0.0.1:{port} ssl http2; ssl_certificate {}; ssl_certificate_key {}; \
                 keepalive_timeout 1s;",
                pki.path("cert.pem").display(),
                pki.path("key.pem").display()
            ),
        };
        let conf = format!(
            // One process: killing it by PID (the `Peer` guard) leaves no
            // orphaned worker behind, as a master's SIGKILL would.
            "master_process off;\n\
             pid {d}/nginx.pid;\n\
             error_log {d}/error.log;\n\
             user root;\n\
             events {{ worker_connections 256; }}\n\
             http {{\n\
               access_log off;\n\
               client_body_temp_path {d}/body; proxy_temp_path {d}/proxy;\n\
               fastcgi_temp_path {d}/fcgi; uwsgi_temp_path {d}/uwsgi; scgi_temp_path {d}/scgi;\n\
               keepalive_requests 1000;\n\
               types {{ text/plain txt; application/octet-stream bin; }}\n\
               gzip on; gzip_types text/plain; gzip_min_length 1;\n\
               server {{ {listen} root {root}; }}\n\
             }}\n",
            root = root.display()
        );
        let conf_path = dir.0.join("nginx.conf");
        std::fs::write(&conf_path, conf).unwrap();
        let child = Command::new("nginx")
            .arg("-c")
            .arg(&conf_path)
            .args(["-g", "daemon off;"])
            .stdout(Stdio::null())
            .spawn()
            .expect("nginx");
        let peer = Peer(child);
        wait_for_port(port);
        Nginx {
            port,
            tls: tls.is_some(),
            big,
            text,
            _peer: peer,
            _dir: dir,
        }
    }

    fn url(&self, path: &str) -> String {
        match self.tls {
            true => format!("https://localhost:{}{path}", self.port),
            false => format!("http://127.0.0.1:{}{path}", self.port),
        }
    }
}

/// Python aiohttp's server (tests/py/client_aiohttp_server.py).
fn aiohttp() -> (Peer, u16) {
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/py/client_aiohttp_server.py"
    );
    let mut child = Command::new("python3")
        .arg(script)
        .stdout(Stdio::piped())
        .spawn()
        .expect("python3");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let port: u16 = line.trim().parse().expect("aiohttp port");
    (Peer(child), port)
}

both_drivers!(percore_server_basics_and_reuse, |d| {
    let srv = TestServer::start(d);
    runtime(d).block_on(async {
        let client = Client::new();
        let resp = client.get(srv.url("/plaintext")).send().await.unwrap();
        assert_eq!(resp.status(), 200);
        assert_eq!(resp.version(), http::Version::HTTP_11);
        assert_eq!(resp.text().await.unwrap(), "Hello, World!");
        let v: serde_json::Value = client
            .get(srv.url("/json"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(v["message"], "Hello, World!");
        let resp = client.get(srv.url("/nope")).send().await.unwrap();
        assert_eq!(resp.status(), 404);
        resp.bytes().await.unwrap();
        let resp = client.head(srv.url("/plaintext")).send().await.unwrap();
        assert_eq!(resp.headers()["content-length"], "13");
        assert!(resp.bytes().await.unwrap().is_empty());
        let resp = client
            .get(srv.url("/say/hi"))
            .query(&[("a", "1 2")])
            .send()
            .await
            .unwrap();
        assert_eq!(resp.url().query(), Some("a=1+2"));
        assert_eq!(resp.text().await.unwrap(), "hi");
        assert_eq!(
            client.pool_stats().connections,
            1,
            "one keep-alive connection"
        );
    });
});

both_drivers!(percore_server_bodies_both_ways, |d| {
    let srv = TestServer::start(d);
    let file = TempFile::new("client-upload", &vec![7u8; 300_000]);
    runtime(d).block_on(async {
        let client = Client::new();
        // In memory, with its length.
        let resp = client
            .post(srv.url("/echo"))
            .json(&serde_json::json!({"k": [1, 2]}))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.headers()["content-type"], "application/json");
        assert_eq!(resp.text().await.unwrap(), r#"{"k":[1,2]}"#);
        // A form.
        let resp = client
            .post(srv.url("/echo"))
            .form(&[("name", "per core"), ("n", "1")])
            .send()
            .await
            .unwrap();
        assert_eq!(
            resp.headers()["content-type"],
            "application/x-www-form-urlencoded"
        );
        assert_eq!(resp.text().await.unwrap(), "name=per+core&n=1");
        // A file, streamed with its length.
        let body = FileBody::open(&file.0).await.unwrap();
        let resp = client
            .post(srv.url("/count"))
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.text().await.unwrap(), "300000");
        // A stream of unknown length goes chunked, with trailers, which
        // the echo sends back.
        let (tx, body) = Body::channel(2);
        percore::rt::spawn_local(async move {
            for i in 0..50 {
                tx.send(format!("piece {i};")).await.unwrap();
            }
            let mut t = http::HeaderMap::new();
            t.insert("x-checksum", "abc".parse().unwrap());
            tx.finish_with_trailers(t);
        });
        let mut resp = client
            .post(srv.url("/echo"))
            .body(body)
            .send()
            .await
            .unwrap();
        let mut got = Vec::new();
        while let Some(chunk) = resp.chunk().await.unwrap() {
            got.extend_from_slice(&chunk);
        }
        let want: String = (0..50).map(|i| format!("piece {i};")).collect();
        assert_eq!(got, want.as_bytes());
        assert_eq!(resp.trailers().unwrap()["x-checksum"], "abc");
        // Expect: 100-continue, answered by percore's server.
        let resp = client
            .post(srv.url("/echo"))
            .header("expect", "100-continue")
            .body(Bytes::from_static(b"after the 100"))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.text().await.unwrap(), "after the 100");
        // 20 MiB: over the default limit of 16 MiB, fine with a larger one.
        let resp = client.get(srv.url("/big/20")).send().await.unwrap();
        let err = resp.bytes().await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::BodyTooLarge);
        // HEAD: the length of the GET's body, but no body to refuse.
        let resp = client.head(srv.url("/big/20")).send().await.unwrap();
        assert_eq!(resp.headers()["content-length"], (20 << 20).to_string());
        assert!(resp.bytes().await.unwrap().is_empty());
        let mut resp = client.get(srv.url("/big/20")).send().await.unwrap();
        resp.set_max_body(32 << 20);
        assert_eq!(resp.bytes().await.unwrap().len(), 20 << 20);
    });
});

both_drivers!(nginx_keep_alive_file_gzip_404, |d| {
    let nginx = Nginx::start();
    runtime(d).block_on(async {
        let client = Client::new();
        for _ in 0..5 {
            let resp = client.get(nginx.url("/big.bin")).send().await.unwrap();
            assert_eq!(resp.status(), 200);
            assert_eq!(resp.headers()["content-length"], "10485760");
            let body = resp.bytes().await.unwrap();
            assert!(body == nginx.big, "10 MiB file differs");
        }
        assert_eq!(client.pool_stats().connections, 1, "keep-alive reuse");
        // gzip on: nginx compresses on the fly, so the body is chunked.
        let resp = client.get(nginx.url("/text.txt")).send().await.unwrap();
        assert_eq!(resp.headers()["transfer-encoding"], "chunked");
        assert!(resp.headers().get("content-encoding").is_none());
        assert_eq!(resp.text().await.unwrap(), nginx.text);
        // Without decoding, the coded bytes come through.
        let raw = Client::builder().decompress(false).build().unwrap();
        let resp = raw.get(nginx.url("/text.txt")).send().await.unwrap();
        assert!(resp.headers().get("content-encoding").is_none());
        let resp = raw
            .get(nginx.url("/text.txt"))
            .header("accept-encoding", "gzip")
            .send()
            .await
            .unwrap();
        assert_eq!(resp.headers()["content-encoding"], "gzip");
        let coded = resp.bytes().await.unwrap();
        let mut plain = String::new();
        flate2::read::GzDecoder::new(&coded[..])
            .read_to_string(&mut plain)
            .unwrap();
        assert_eq!(plain, nginx.text);
        let resp = client.get(nginx.url("/missing")).send().await.unwrap();
        assert_eq!(resp.status(), 404);
        assert!(resp.text().await.unwrap().contains("404"));
        assert_eq!(client.pool_stats().connections, 1);
    });
});

both_drivers!(nginx_over_tls_h2_and_http1, |d| {
    let pki = Pki::new();
    let nginx = Nginx::start_with(Some(&pki));
    runtime(d).block_on(async {
        let ca = pki.pem("ca.pem");
        // ALPN: h2 (one multiplexed connection), then HTTP/1.1 only
        // (keep-alive reuse): the 10 MiB file, gzip'd text, a 404.
        let h2 = Client::builder().add_root_certificate(&ca).build().unwrap();
        let h1 = Client::builder()
            .add_root_certificate(&ca)
            .http1_only()
            .build()
            .unwrap();
        for (client, version) in [(h2, Version::HTTP_2), (h1, Version::HTTP_11)] {
            for _ in 0..3 {
                let resp = client.get(nginx.url("/big.bin")).send().await.unwrap();
                assert_eq!((resp.status().as_u16(), resp.version()), (200, version));
                let body = resp.bytes().await.unwrap();
                assert!(body == nginx.big, "10 MiB file differs ({version:?})");
            }
            let resp = client.get(nginx.url("/text.txt")).send().await.unwrap();
            assert_eq!(resp.text().await.unwrap(), nginx.text);
            let resp = client.get(nginx.url("/missing")).send().await.unwrap();
            assert_eq!((resp.status().as_u16(), resp.version()), (404, version));
            assert!(resp.text().await.unwrap().contains("404"));
            let stats = client.pool_stats();
            assert_eq!(stats.connections, 1, "{version:?}: one connection reused");
            // nginx closes connections idle for 1 s; the pool does not
            // know yet: the next request still succeeds (HTTP/1.1: the
            // stale-connection retry; HTTP/2: GOAWAY, a new connection).
            percore::rt::time::sleep(Duration::from_millis(1500)).await;
            let resp = client.get(nginx.url("/text.txt")).send().await.unwrap();
            assert_eq!(resp.version(), version);
            assert_eq!(resp.text().await.unwrap(), nginx.text);
        }
        // nginx's certificate is for localhost: 127.0.0.1 is a mismatch.
        let client = Client::builder().add_root_certificate(&ca).build().unwrap();
        let url = format!("https://127.0.0.1:{}/big.bin", nginx.port);
        let err = client.get(url).send().await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Tls, "{err}");
    });
});

both_drivers!(aiohttp_server_codings_streams_redirects_cookies, |d| {
    let (_peer, port) = aiohttp();
    let url = |p: &str| format!("http://127.0.0.1:{port}{p}");
    let text = "percore client ".repeat(4096);
    runtime(d).block_on(async {
        let client = Client::builder().cookie_store(true).build().unwrap();
        let resp = client.get(url("/hello")).send().await.unwrap();
        assert_eq!(resp.text().await.unwrap(), "hello");
        for coding in ["", "/gzip", "/deflate"] {
            let resp = client
                .get(url(&format!("/compressed{coding}")))
                .send()
                .await
                .unwrap();
            assert!(resp.headers().get("content-encoding").is_none());
            assert_eq!(resp.text().await.unwrap(), text, "coding {coding:?}");
        }
        let resp = client.get(url("/stream")).send().await.unwrap();
        assert_eq!(resp.headers()["transfer-encoding"], "chunked");
        let want: String = (0..100).map(|i| format!("{i:03}\n")).collect();
        assert_eq!(resp.text().await.unwrap(), want);
        // Redirects: the chain is on the response.
        let resp = client.get(url("/redirect/3")).send().await.unwrap();
        assert_eq!(resp.redirects().len(), 3);
        assert_eq!(resp.url().path(), "/redirect/0");
        assert_eq!(resp.text().await.unwrap(), "done");
        let err = client.get(url("/redirect/11")).send().await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::RedirectLoop);
        let resp = client.get(url("/redirect/10")).send().await.unwrap();
        assert_eq!(resp.text().await.unwrap(), "done");
        // 303: GET without the body; 307: same method and body.
        let resp = client
            .post(url("/see-other"))
            .body("abc")
            .send()
            .await
            .unwrap();
        assert_eq!(resp.text().await.unwrap(), "GET ");
        let resp = client
            .post(url("/temporary"))
            .body("abc")
            .send()
            .await
            .unwrap();
        assert_eq!(resp.text().await.unwrap(), "POST abc");
        // A streamed body is gone after the 303, the GET needs none.
        let (tx, body) = Body::channel(1);
        percore::rt::spawn_local(async move {
            let _ = tx.send("streamed").await;
        });
        let resp = client
            .post(url("/see-other"))
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.redirects().len(), 1);
        assert_eq!(resp.text().await.unwrap(), "GET ");
        // Credentials do not follow a redirect to another origin.
        let resp = client
            .get(url("/cross"))
            .header("authorization", "Bearer secret")
            .header("cookie", "mine=1")
            .header("x-keep", "yes")
            .send()
            .await
            .unwrap();
        assert_eq!(resp.url().host_str(), Some("localhost"));
        let seen: serde_json::Value = resp.json().await.unwrap();
        assert_eq!(seen["x-keep"], "yes");
        assert!(seen.get("authorization").is_none(), "{seen}");
        assert!(seen.get("cookie").is_none(), "{seen}");
        // The cookie jar sends back what the server set.
        let resp = client.get(url("/set-cookie")).send().await.unwrap();
        assert_eq!(resp.text().await.unwrap(), "set");
        let seen: serde_json::Value = client
            .get(url("/headers"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(seen["cookie"], "session=abc123");
    });
});

both_drivers!(unix_socket_service, |d| {
    let dir = TempDir::new("unix");
    let path = dir.0.join("svc.sock");
    let listener = std::os::unix::net::UnixListener::bind(&path).unwrap();
    let server = std::thread::spawn(move || {
        let (mut conn, _) = listener.accept().unwrap();
        let mut head = Vec::new();
        let mut byte = [0u8; 1];
        while !head.ends_with(b"\r\n\r\n") && conn.read(&mut byte).unwrap() == 1 {
            head.push(byte[0]);
        }
        let head = String::from_utf8(head).unwrap();
        let body = head.lines().next().unwrap().to_string();
        let resp = format!(
            "HTTP/1.1 200 OK\r\ncontent-length: {}\r\n\r\n{body}",
            body.len()
        );
        conn.write_all(resp.as_bytes()).unwrap();
        head
    });
    runtime(d).block_on(async {
        let client = Client::builder().unix_socket(&path).build().unwrap();
        let resp = client.get("http://svc.local/v1/info").send().await.unwrap();
        assert_eq!(resp.text().await.unwrap(), "GET /v1/info HTTP/1.1");
    });
    let head = server.join().unwrap();
    assert!(head.contains("host: svc.local\r\n"), "{head}");
});

both_drivers!(early_answer_to_a_refused_body, |d| {
    let limits = percore::Limits::default().max_body_size(1 << 20);
    let srv = TestServer::with_limits(d, limits);
    runtime(d).block_on(async {
        let client = Client::new();
        // Declared too large: the server answers 413 from the head and
        // closes while the body is still going out.
        let big = Bytes::from(vec![1u8; 20 << 20]);
        let resp = client
            .post(srv.url("/count"))
            .body(big)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 413);
        // Streamed, chunked: found too large while it arrives.
        let (tx, body) = Body::channel(2);
        percore::rt::spawn_local(async move {
            let chunk = Bytes::from(vec![2u8; 64 << 10]);
            for _ in 0..320 {
                if tx.send(chunk.clone()).await.is_err() {
                    return;
                }
            }
        });
        let resp = client
            .post(srv.url("/count"))
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 413);
        // The client goes on with a new connection.
        let resp = client.get(srv.url("/plaintext")).send().await.unwrap();
        assert_eq!(resp.text().await.unwrap(), "Hello, World!");
    });
});

thread_local! {
    /// The client of a handler's core.
    static HANDLER_CLIENT: Client = Client::new();
}

both_drivers!(client_inside_a_handler, |d| {
    // A handler (on the server's core) calls another server with the
    // client of its core: `!Send` tasks and all.
    let upstream = TestServer::start(d);
    let target = upstream.url("/json");
    let proxy = TestServer::serve(
        d,
        1,
        percore::Limits::default(),
        Duration::from_secs(5),
        move || {
            move || {
                let target = target.clone();
                percore::web::App::new().route(
                    "/proxy",
                    percore::web::get(move |_r: percore::web::Request| {
                        let target = target.clone();
                        async move {
                            let client = HANDLER_CLIENT.with(Client::clone);
                            match client.get(target).send().await {
                                Ok(resp) => resp.text().await.unwrap_or_else(|e| e.to_string()),
                                Err(e) => e.to_string(),
                            }
                        }
                    }),
                )
            }
        },
    );
    runtime(d).block_on(async {
        let client = Client::new();
        for _ in 0..3 {
            let resp = client.get(proxy.url("/proxy")).send().await.unwrap();
            assert_eq!(resp.text().await.unwrap(), r#"{"message":"Hello, World!"}"#);
        }
    });
});

/// The `fetch` example, which `cargo test` builds next to the tests.
fn fetch_example() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let dir = exe.parent().and_then(|deps| deps.parent()).unwrap();
    dir.join("examples").join("fetch")
}

/// Runs `cmd` to its end, whatever its exit status.
fn output(cmd: &mut Command) -> std::process::Output {
    cmd.output().expect("spawn")
}

#[test]
fn fetch_example_prints_and_fails_clearly() {
    let fetch = fetch_example();
    if !fetch.exists() {
        panic!("{} not built (cargo test builds examples)", fetch.display());
    }
    let srv = TestServer::start(percore::DriverChoice::Auto);
    let out = common::run(Command::new(&fetch).args([
        "-X",
        "POST",
        "-d",
        "ping",
        "-H",
        "content-type: text/x-test",
        &srv.url("/echo"),
    ]));
    assert!(out.status.success(), "{}", common::stderr(&out));
    assert_eq!(common::stdout(&out), "ping");
    let err = common::stderr(&out);
    assert!(err.starts_with("HTTP/1.1 200 OK\n"), "{err}");
    assert!(err.contains("content-type: text/x-test\n"), "{err}");
    // Too large a body: one line naming the kind, exit 1.
    let out = output(Command::new(&fetch).args(["--max-body", "5", &srv.url("/big/1")]));
    assert_eq!(out.status.code(), Some(1));
    let last = common::stderr(&out)
        .lines()
        .last()
        .unwrap_or_default()
        .to_string();
    assert!(last.starts_with("error: body too large"), "{last}");
    // A server that never answers: the timeout, not a hang.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/", silent.local_addr().unwrap());
    let t0 = Instant::now();
    let out = output(Command::new(&fetch).args(["--timeout", "0.5", &url]));
    assert!(t0.elapsed() < Duration::from_secs(5));
    assert_eq!(out.status.code(), Some(1));
    let err = common::stderr(&out);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.starts_with("error: total timeout"), "{err}");
    // Not a URL this client takes.
    let out = output(Command::new(&fetch).arg("ftp://example.com/"));
    assert_eq!(out.status.code(), Some(1));
    assert!(common::stderr(&out).starts_with("error: invalid URL"));
}
