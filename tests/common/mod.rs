//! Shared helpers of the integration tests: a demo server on a background
//! thread (both drivers), and running real peers (curl, Python, wrk).
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Command, Output};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use percore::rt::sync::Shutdown;
use percore::web::{get, post, App, Request};
use percore::{DriverChoice, Limits, Server};

#[path = "../../examples/demo/app.rs"]
pub mod demo_app;
pub mod pki;

/// Declares `mod $name { #[test] fn uring(); #[test] fn epoll(); }`.
#[macro_export]
macro_rules! both_drivers {
    ($name:ident, $body:expr) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;
            #[test]
            fn uring() {
                ($body)(percore::DriverChoice::Uring)
            }
            #[test]
            fn epoll() {
                ($body)(percore::DriverChoice::Epoll)
            }
        }
    };
}

/// A handler that panics while making its future, not while running it.
fn panics_before_its_future(_r: Request) -> std::future::Ready<&'static str> {
    if true {
        panic!("handler exploded early");
    }
    std::future::ready("unreachable")
}

/// A file of this process's temporary directory (tests only: names from
/// `TempFile`, which all start with "percore-").
async fn serve_temp_file(req: Request) -> percore::web::Response {
    use percore::web::IntoResponse;
    let name = req.param("name").unwrap_or_default();
    if !name.starts_with("percore-") || name.contains('/') {
        return http::StatusCode::FORBIDDEN.into_response();
    }
    match percore::http::FileBody::open(std::env::temp_dir().join(name)).await {
        Ok(file) => file.into_response(),
        Err(_) => http::StatusCode::NOT_FOUND.into_response(),
    }
}

/// The demo app plus routes that only tests need.
pub fn test_app(room: &demo_app::ChatRoom) -> App {
    demo_app::app_with_room(room)
        .route(
            "/panic",
            get(|_r: Request| async {
                if true {
                    panic!("handler exploded");
                }
                "unreachable"
            }),
        )
        .route("/panic-sync", get(panics_before_its_future))
        .route("/file/{name}", get(serve_temp_file))
        .route(
            "/say/{word}",
            get(|r: Request| async move { r.param("word").unwrap_or_default().to_string() }),
        )
        .route(
            "/slow",
            get(|_r: Request| async {
                percore::rt::time::sleep(Duration::from_millis(300)).await;
                "slow done"
            }),
        )
        .route("/upgrade-echo", get(upgrade_echo))
        .route(
            "/ws-flood",
            // Sends 1 MiB messages until a send fails.
            get(|mut r: Request| async move {
                match r.websocket() {
                    Ok(up) => up.on_upgrade(|mut ws| async move {
                        let message = bytes::Bytes::from(vec![0u8; 1 << 20]);
                        while ws
                            .send(percore::ws::Message::Binary(message.clone()))
                            .await
                            .is_ok()
                        {}
                    }),
                    Err(refusal) => refusal.into_response(),
                }
            }),
        )
        .route(
            "/ws-takeover",
            // Echo with permessage-deflate keeping context both ways.
            get(|mut r: Request| async move {
                match r.websocket() {
                    Ok(up) => up
                        .deflate_config(percore::ws::DeflateConfig::context_takeover())
                        .on_upgrade(ws_echo_messages),
                    Err(refusal) => refusal.into_response(),
                }
            }),
        )
        .route("/ws-origin", get(ws_origin_checked))
        .route("/ws-protocol", get(ws_protocol))
        .route(
            "/ws-heartbeat",
            get(|mut r: Request| async move {
                match r.websocket() {
                    Ok(up) => {
                        up.heartbeat(Duration::from_millis(200))
                            .on_upgrade(|mut ws| async move {
                                while let Some(Ok(_)) = ws.recv().await {}
                            })
                    }
                    Err(refusal) => refusal.into_response(),
                }
            }),
        )
        .route(
            "/count",
            // A body error answers with its own status (408 for a slow body).
            post(|mut r: Request| async move { r.bytes().await.map(|b| b.len().to_string()) }),
        )
        .route(
            "/big/{mib}",
            // `mib` MiB of zeros in one in-memory body.
            get(|r: Request| async move {
                let mib: usize = r.param("mib").and_then(|m| m.parse().ok()).unwrap_or(1);
                vec![0u8; mib << 20]
            }),
        )
        .route(
            "/answer-then-read",
            // Answers at once and leaves a task reading the body behind;
            // `/left-behind` tells what that reader ended with.
            post(|mut r: Request| async move {
                let mut body = r.take_body();
                LEFT_BEHIND.with(|l| *l.borrow_mut() = "reading".into());
                percore::rt::spawn_local(async move {
                    let outcome = loop {
                        match body.chunk().await {
                            Some(Ok(_)) => continue,
                            Some(Err(e)) => break format!("error: {e}"),
                            None => break "ended".to_string(),
                        }
                    };
                    LEFT_BEHIND.with(|l| *l.borrow_mut() = outcome);
                });
                "answered"
            }),
        )
        .route(
            "/left-behind",
            get(|_r: Request| async { LEFT_BEHIND.with(|l| l.borrow().clone()) }),
        )
        .route(
            "/think-then-count",
            // Works for 800 ms before it reads its body.
            post(|mut r: Request| async move {
                percore::rt::time::sleep(Duration::from_millis(800)).await;
                r.bytes().await.map(|b| b.len().to_string())
            }),
        )
}

thread_local! {
    /// What the body reader `/answer-then-read` left behind ended with.
    static LEFT_BEHIND: std::cell::RefCell<String> = const { std::cell::RefCell::new(String::new()) };
}

/// The only `Origin` that `/ws-origin` accepts.
pub const ALLOWED_ORIGIN: &str = "https://allowed.example";

/// Echoes every text and binary message.
async fn ws_echo_messages(mut ws: percore::ws::WebSocket) {
    use percore::ws::Message;
    while let Some(Ok(msg)) = ws.recv().await {
        if matches!(msg, Message::Text(_) | Message::Binary(_)) && ws.send(msg).await.is_err() {
            break;
        }
    }
}

/// A WebSocket echo for pages from [`ALLOWED_ORIGIN`] only: any other
/// `Origin`, or none, gets 403.
async fn ws_origin_checked(mut req: Request) -> percore::web::Response {
    let upgrade = match req.websocket() {
        Ok(up) => up,
        Err(refusal) => return refusal.into_response(),
    };
    match upgrade.check_origin(|origin| origin == Some(ALLOWED_ORIGIN)) {
        Ok(up) => up.on_upgrade(ws_echo_messages),
        Err(refusal) => refusal.into_response(),
    }
}

/// Speaks subprotocols `chat.v2` and `chat.v1` (preferring v2); the first
/// message says what the handler sees: "<chosen or none> of <offered>".
async fn ws_protocol(mut req: Request) -> percore::web::Response {
    use percore::ws::Message;
    let upgrade = match req.websocket() {
        Ok(up) => up,
        Err(refusal) => return refusal.into_response(),
    };
    let offered = upgrade.offered_protocols().join(",");
    upgrade
        .protocols(["chat.v2", "chat.v1"])
        .on_upgrade(move |mut ws| async move {
            let chosen = ws.protocol().unwrap_or_else(|| "none".into());
            if ws
                .send(Message::text(format!("{chosen} of {offered}")))
                .await
                .is_ok()
            {
                ws_echo_messages(ws).await;
            }
        })
}

/// Upgrades to a toy protocol that echoes every byte back, upper-cased.
async fn upgrade_echo(mut req: Request) -> percore::web::Response {
    use percore::web::IntoResponse;
    let Some(on_upgrade) = req
        .extensions_mut()
        .remove::<percore::http::upgrade::OnUpgrade>()
    else {
        return (http::StatusCode::BAD_REQUEST, "not an upgrade").into_response();
    };
    percore::rt::spawn_local(async move {
        let Ok(upgraded) = on_upgrade.await else {
            return;
        };
        let (stream, mut pending) = upgraded.into_parts();
        loop {
            if !pending.is_empty() {
                let out = pending.split().to_ascii_uppercase();
                if stream.write_all(out).await.0.is_err() {
                    return;
                }
            }
            let (res, buf) = stream.read(pending).await;
            pending = buf;
            if !matches!(res, Ok(n) if n > 0) {
                return;
            }
        }
    });
    let mut resp = percore::web::Response::new(percore::http::Body::empty());
    *resp.status_mut() = http::StatusCode::SWITCHING_PROTOCOLS;
    resp.headers_mut().insert(
        http::header::UPGRADE,
        http::HeaderValue::from_static("shout"),
    );
    resp.headers_mut().insert(
        http::header::CONNECTION,
        http::HeaderValue::from_static("upgrade"),
    );
    resp
}

/// A server running the test app on one core of its own thread:
/// `percore::test::TestServer`, with a bounded wait when it stops.
pub struct TestServer {
    pub addr: SocketAddr,
    shutdown: Shutdown,
    inner: Option<percore::test::TestServer>,
}

impl TestServer {
    pub fn start(driver: DriverChoice) -> TestServer {
        TestServer::with_limits(driver, Limits::default())
    }

    pub fn with_limits(driver: DriverChoice, limits: Limits) -> TestServer {
        TestServer::with_options(driver, limits, 1)
    }

    /// A server on `cores` worker threads, pinned as every `Server` is (worker
    /// i to the i-th allowed CPU), so the servers of tests running side by
    /// side share those CPUs.
    pub fn with_cores(driver: DriverChoice, cores: usize) -> TestServer {
        TestServer::with_options(driver, Limits::default(), cores)
    }

    fn with_options(driver: DriverChoice, limits: Limits, cores: usize) -> TestServer {
        TestServer::serve(driver, cores, limits, Duration::from_secs(5), || {
            let room = demo_app::ChatRoom::new();
            move || test_app(&room)
        })
    }

    /// A server on `cores` cores of its own thread, each core serving the
    /// app that the factory returned by `make` builds, with `grace` as its
    /// shutdown deadline.
    pub fn serve<M, F>(
        driver: DriverChoice,
        cores: usize,
        limits: Limits,
        grace: Duration,
        make: M,
    ) -> TestServer
    where
        M: FnOnce() -> F + Send + 'static,
        F: Fn() -> App + Send + Sync + 'static,
    {
        let server = Server::new(make())
            .cores(cores)
            .driver(driver)
            .limits(limits)
            .shutdown_timeout(grace);
        let inner = percore::test::TestServer::start_server(server);
        TestServer {
            addr: inner.addr(),
            shutdown: inner.shutdown_signal(),
            inner: Some(inner),
        }
    }

    /// Starts a graceful shutdown without waiting for it.
    pub fn trigger_shutdown(&self) {
        self.shutdown.trigger();
    }

    /// Waits for the server to stop, failing the test unless it does within
    /// `within`.
    pub fn join(&mut self, within: Duration) {
        let inner = self.inner.take().expect("joined twice");
        let t = std::thread::spawn(move || inner.stop());
        assert!(
            ends_within(&t, within),
            "server still running after {within:?}"
        );
        t.join()
            .expect("server thread panicked")
            .expect("server failed");
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    /// Stops the server gracefully and waits for it.
    pub fn stop(&mut self) {
        if let Some(inner) = self.inner.take() {
            inner.stop().expect("server failed");
        }
    }
}

impl Drop for TestServer {
    /// Stops the server; one that does not stop in time is left behind
    /// rather than hanging the test.
    fn drop(&mut self) {
        self.shutdown.trigger();
        if let Some(inner) = self.inner.take() {
            let t = std::thread::spawn(move || {
                let _ = inner.stop();
            });
            if ends_within(&t, Duration::from_secs(10)) {
                let _ = t.join();
            }
        }
    }
}

/// Whether the thread `t` ends within `within`.
fn ends_within<T>(t: &JoinHandle<T>, within: Duration) -> bool {
    let t0 = Instant::now();
    while !t.is_finished() {
        if t0.elapsed() >= within {
            return false;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    true
}

/// Runs a command and fails the test, with its output, if it fails.
pub fn run(cmd: &mut Command) -> Output {
    let out = cmd.output().unwrap_or_else(|e| {
        panic!("cannot run {cmd:?}: {e} (run .ci/run to install the test peers)")
    });
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}\nstdout: {}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

pub fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Sends raw bytes and reads everything up to the server's close, failing
/// the test unless the server closes within `close_within`: for requests
/// whose last answer must end the connection.
pub fn raw_exchange(addr: SocketAddr, request: &[u8], close_within: Duration) -> Vec<u8> {
    let mut s = TcpStream::connect(addr).unwrap();
    s.write_all(request).unwrap();
    read_to_eof(&mut s, close_within)
}

/// Reads what `s` still brings up to EOF, failing the test unless the peer
/// closes within `within`.
pub fn read_to_eof(s: &mut TcpStream, within: Duration) -> Vec<u8> {
    let start = Instant::now();
    s.set_read_timeout(Some(within)).unwrap();
    let mut out = Vec::new();
    if let Err(e) = s.read_to_end(&mut out) {
        panic!(
            "no close after {:?} ({e}); got {:?}",
            start.elapsed(),
            String::from_utf8_lossy(&out)
        );
    }
    let took = start.elapsed();
    assert!(took < within, "closed only after {took:?}");
    out
}

/// A temporary file with `data`, removed on drop.
pub struct TempFile(pub std::path::PathBuf);

impl TempFile {
    pub fn new(name: &str, data: &[u8]) -> TempFile {
        static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let path = std::env::temp_dir().join(format!("percore-{}-{n}-{name}", std::process::id()));
        std::fs::write(&path, data).unwrap();
        TempFile(path)
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// An example program (`examples/NAME.rs` or `examples/NAME/main.rs`), as
/// `cargo test` builds it next to the test binaries.
pub fn example_binary(name: &str) -> std::path::PathBuf {
    let exe = std::env::current_exe().unwrap();
    // target/<profile>/deps/<this test> → target/<profile>/examples/<name>
    let profile_dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("test binary outside target/<profile>/deps");
    let binary = profile_dir.join("examples").join(name);
    assert!(
        binary.is_file(),
        "{} is missing: run `cargo test` (which builds the examples) or \
         `cargo build --example {name}` first",
        binary.display()
    );
    binary
}

/// A running program, killed on drop.
pub struct Running(pub std::process::Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `cmd` and waits (10 s at most) for its `listening on` line; returns
/// the running program and that line. Its later output is read and dropped.
pub fn start_listening(cmd: &mut Command) -> (Running, String) {
    use std::io::BufRead;
    let mut child = cmd
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {cmd:?}: {e}"));
    let stdout = child.stdout.take().unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let running = Running(child);
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(line) if line.contains("listening on") => return (running, line),
            Ok(_) => {}
            Err(e) => {
                drop(running);
                let mut err = String::new();
                let _ = stderr.read_to_string(&mut err);
                panic!("no `listening on` line from {cmd:?} ({e}); stderr: {err}");
            }
        }
    }
}

/// The address of a `listening on ADDR` or `listening on http(s)://ADDR` line.
pub fn listening_addr(line: &str) -> SocketAddr {
    let word = line
        .split_once("listening on ")
        .and_then(|(_, rest)| rest.split_whitespace().next())
        .unwrap_or_else(|| panic!("no address in {line:?}"));
    let addr = word
        .strip_prefix("http://")
        .or_else(|| word.strip_prefix("https://"))
        .unwrap_or(word);
    addr.trim_end_matches('/')
        .parse()
        .unwrap_or_else(|e| panic!("{e}: {line:?}"))
}

/// Starts the demo binary on a free port with two cores on `driver`, plus
/// `extra` flags; returns it (killed on drop) and its address.
pub fn start_demo(driver: &str, extra: &[&str]) -> (Running, SocketAddr) {
    let mut cmd = Command::new(example_binary("demo"));
    cmd.args([
        "--listen",
        "127.0.0.1:0",
        "--cores",
        "2",
        "--driver",
        driver,
    ]);
    cmd.args(extra);
    let (running, line) = start_listening(&mut cmd);
    (running, listening_addr(&line))
}
