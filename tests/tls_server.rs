//! The HTTP server over TLS (`Server::tls`), with real peers on both
//! drivers: curl (HTTP/2 and HTTP/1.1 by ALPN), nghttp, h2load, Python
//! httpx and websockets; hostile handshakes (stalled, garbage), limits over
//! TLS, a certificate reload, and the demo's `--tls-*` flags.

mod common;

use std::io::Write;
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::Command;
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use common::pki::Pki;
use common::{demo_app, example_binary, read_to_eof, run, start_listening, stderr, stdout};
use percore::rt::sync::Shutdown;
use percore::tls::{TlsAcceptor, TlsConfig};
use percore::{DriverChoice, Limits, Server};

/// The CA and server certificate of these tests: for `localhost` and
/// 127.0.0.1.
fn pki() -> Pki {
    Pki::for_names(&["localhost", "127.0.0.1"])
}

/// The server side of `pki`.
fn tls_config(pki: &Pki) -> TlsConfig {
    TlsConfig::from_pem_files(pki.cert(), pki.key()).unwrap()
}

/// The test app served over TLS on one core of its own thread.
struct TlsServer {
    addr: SocketAddr,
    reloader: TlsAcceptor,
    shutdown: Shutdown,
    thread: Option<JoinHandle<std::io::Result<()>>>,
}

impl TlsServer {
    fn start(driver: DriverChoice, pki: &Pki, limits: Limits) -> TlsServer {
        let shutdown = Shutdown::new();
        let (tx, rx) = mpsc::channel();
        let s = shutdown.clone();
        let config = tls_config(pki);
        let thread = std::thread::spawn(move || {
            let room = demo_app::ChatRoom::new();
            let server = Server::new(move || demo_app::app_with_room(&room))
                .bind("127.0.0.1:0")?
                .cores(1)
                .driver(driver)
                .limits(limits)
                .handle_signals(false)
                .shutdown_signal(s)
                .shutdown_timeout(Duration::from_secs(2))
                .tls(config)?;
            let reloader = server.tls_reloader().expect("TLS is on");
            server
                .on_ready(move |info| {
                    let _ = tx.send((info.addr, reloader));
                })
                .run()
        });
        let (addr, reloader) = rx
            .recv_timeout(Duration::from_secs(10))
            .expect("server did not start");
        TlsServer {
            addr,
            reloader,
            shutdown,
            thread: Some(thread),
        }
    }

    fn url(&self, path: &str) -> String {
        format!("https://localhost:{}{path}", self.addr.port())
    }

    /// curl resolving `localhost` to the server, trusting `ca`.
    fn curl(&self, ca: &PathBuf) -> Command {
        let mut cmd = Command::new("curl");
        cmd.args(["-sS", "--max-time", "10", "--cacert"])
            .arg(ca)
            .arg("--resolve")
            .arg(format!("localhost:{}:127.0.0.1", self.addr.port()));
        cmd
    }
}

impl Drop for TlsServer {
    fn drop(&mut self) {
        self.shutdown.trigger();
        if let Some(t) = self.thread.take() {
            t.join()
                .expect("server thread panicked")
                .expect("server failed");
        }
    }
}

fn python(script: &str, args: &[&str]) -> String {
    stdout(&run(Command::new("python3")
        .arg("-c")
        .arg(script)
        .args(args)))
}

both_drivers!(curl_picks_http2_and_http1_by_alpn, |d| {
    let pki = pki();
    let server = TlsServer::start(d, &pki, Limits::default());
    let out = run(server
        .curl(&pki.ca())
        .args(["-v", "--http2"])
        .arg(server.url("/plaintext")));
    assert_eq!(stdout(&out), "Hello, World!");
    let log = stderr(&out);
    assert!(log.contains("ALPN: server accepted h2"), "{log}");
    assert!(log.contains("< HTTP/2 200"), "{log}");

    let out = run(server
        .curl(&pki.ca())
        .args(["-v", "--http1.1"])
        .arg(server.url("/plaintext")));
    assert_eq!(stdout(&out), "Hello, World!");
    let log = stderr(&out);
    assert!(log.contains("ALPN: server accepted http/1.1"), "{log}");
    assert!(log.contains("< HTTP/1.1 200"), "{log}");

    // A body both ways, over each protocol.
    for proto in ["--http2", "--http1.1"] {
        let body = "x".repeat(100_000);
        let out = run(server
            .curl(&pki.ca())
            .arg(proto)
            .args(["-H", "content-type: text/plain", "--data-binary", &body])
            .arg(server.url("/echo")));
        assert_eq!(stdout(&out), body, "{proto}");
    }
});

both_drivers!(h2c_upgrade_is_refused_over_tls, |d| {
    let pki = pki();
    let server = TlsServer::start(d, &pki, Limits::default());
    let out = run(server
        .curl(&pki.ca())
        .args(["-i", "--http1.1"])
        .args(["-H", "Upgrade: h2c"])
        .args(["-H", "Connection: Upgrade, HTTP2-Settings"])
        .args(["-H", "HTTP2-Settings: AAMAAABkAAQAAP__"])
        .arg(server.url("/plaintext")));
    let text = stdout(&out);
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    assert!(text.ends_with("Hello, World!"), "{text}");
});

both_drivers!(nghttp_and_h2load_over_tls, |d| {
    let pki = pki();
    let server = TlsServer::start(d, &pki, Limits::default());
    let url = format!("https://127.0.0.1:{}/plaintext", server.addr.port());
    let out = run(Command::new("nghttp").args(["-v", &url]));
    let text = stdout(&out);
    assert!(text.contains("The negotiated protocol: h2"), "{text}");
    assert!(text.contains("Hello, World!"), "{text}");

    let out = run(Command::new("h2load").args(["-n", "400", "-c", "4", "-m", "10", &url]));
    let text = stdout(&out);
    assert!(text.contains("Application protocol: h2"), "{text}");
    assert!(text.contains("400 succeeded, 0 failed"), "{text}");

    let out = run(Command::new("h2load").args(["--h1", "-n", "200", "-c", "4", &url]));
    let text = stdout(&out);
    assert!(text.contains("Application protocol: http/1.1"), "{text}");
    assert!(text.contains("200 succeeded, 0 failed"), "{text}");
});

both_drivers!(httpx_http2_with_a_custom_ca, |d| {
    let pki = pki();
    let server = TlsServer::start(d, &pki, Limits::default());
    let script = r#"
import sys, httpx
with httpx.Client(http2=True, verify=sys.argv[2]) as c:
    for _ in range(3):
        r = c.get(sys.argv[1])
        print(r.http_version, r.status_code, r.text)
"#;
    let ca = pki.ca().display().to_string();
    let out = python(script, &[&server.url("/plaintext"), &ca]);
    assert_eq!(out, "HTTP/2 200 Hello, World!\n".repeat(3));
});

both_drivers!(websocket_over_tls, |d| {
    let pki = pki();
    let server = TlsServer::start(d, &pki, Limits::default());
    let script = r#"
import asyncio, ssl, sys, websockets
async def main():
    ctx = ssl.create_default_context(cafile=sys.argv[2])
    async with websockets.connect(sys.argv[1], ssl=ctx) as ws:
        for msg in ["hello over tls", "x" * 70000]:
            await ws.send(msg)
            echoed = await ws.recv()
            print(len(echoed), echoed == msg)
        await ws.send(b"\x00\x01binary")
        print(await ws.recv())
asyncio.run(main())
"#;
    let url = format!("wss://localhost:{}/ws", server.addr.port());
    let ca = pki.ca().display().to_string();
    let out = python(script, &[&url, &ca]);
    assert_eq!(out, "14 True\n70000 True\nb'\\x00\\x01binary'\n");
});

both_drivers!(a_stalled_handshake_is_closed_by_the_header_timeout, |d| {
    let pki = pki();
    let limits = Limits::default().header_read_timeout(Duration::from_secs(1));
    let server = TlsServer::start(d, &pki, limits);
    // A TLS record header announcing a ClientHello, then nothing.
    let mut s = TcpStream::connect(server.addr).unwrap();
    s.write_all(&[0x16, 0x03, 0x01, 0x02, 0x00, 0x01]).unwrap();
    let start = Instant::now();
    let got = read_to_eof(&mut s, Duration::from_secs(5));
    let took = start.elapsed();
    assert!(took >= Duration::from_millis(900), "closed after {took:?}");
    assert!(got.is_empty(), "{got:?}");
    // A client that sends nothing at all is closed the same way.
    let mut silent = TcpStream::connect(server.addr).unwrap();
    let start = Instant::now();
    read_to_eof(&mut silent, Duration::from_secs(5));
    assert!(start.elapsed() >= Duration::from_millis(900));
});

both_drivers!(garbage_instead_of_a_client_hello_closes_at_once, |d| {
    let pki = pki();
    let server = TlsServer::start(d, &pki, Limits::default());
    let mut s = TcpStream::connect(server.addr).unwrap();
    s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    // The default header timeout is 10 s: this must be much sooner.
    let got = read_to_eof(&mut s, Duration::from_secs(2));
    assert!(!got.starts_with(b"HTTP/"), "{got:?}");
});

both_drivers!(limits_hold_over_tls, |d| {
    let pki = pki();
    let limits = Limits::default()
        .max_head_size(8 * 1024)
        .max_body_size(1000);
    let server = TlsServer::start(d, &pki, limits);
    let huge = format!("x-big: {}", "a".repeat(16 * 1024));
    let out = run(server
        .curl(&pki.ca())
        .args([
            "--http1.1",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            "-H",
            &huge,
        ])
        .arg(server.url("/plaintext")));
    assert_eq!(stdout(&out), "431");
    for proto in ["--http1.1", "--http2"] {
        let out = run(server
            .curl(&pki.ca())
            .args([proto, "-o", "/dev/null", "-w", "%{http_code}"])
            .args(["--data-binary", &"b".repeat(5000)])
            .arg(server.url("/echo")));
        assert_eq!(stdout(&out), "413", "{proto}");
    }
});

both_drivers!(a_reload_is_seen_by_new_connections, |d| {
    let (first, second) = (pki(), pki());
    let server = TlsServer::start(d, &first, Limits::default());
    let get = |ca: &PathBuf| {
        server
            .curl(ca)
            .arg(server.url("/plaintext"))
            .output()
            .unwrap()
            .status
            .success()
    };
    assert!(get(&first.ca()));
    assert!(!get(&second.ca()), "trusted by the wrong CA");
    server
        .reloader
        .reload_from_pem_files(second.cert(), second.key())
        .unwrap();
    assert!(get(&second.ca()), "the reload is not seen");
    assert!(!get(&first.ca()), "the old certificate is still served");
});

/// The port of a `listening on https://ADDR` line.
fn https_port(line: &str) -> u16 {
    let url = line
        .split_once("listening on https://")
        .unwrap_or_else(|| panic!("no https:// in {line:?}"))
        .1;
    let addr: SocketAddr = url.split_whitespace().next().unwrap().parse().unwrap();
    addr.port()
}

both_drivers!(demo_with_a_self_signed_certificate, |d| {
    let driver = match d {
        DriverChoice::Uring => "uring",
        _ => "epoll",
    };
    let (_demo, line) = start_listening(Command::new(example_binary("demo")).args([
        "--listen",
        "127.0.0.1:0",
        "--cores",
        "1",
        "--driver",
        driver,
        "--tls-self-signed",
    ]));
    let port = https_port(&line);
    for (proto, version) in [("--http2", "2"), ("--http1.1", "1.1")] {
        let out = run(Command::new("curl")
            .args(["-sS", "-k", proto, "-w", " %{http_version}"])
            .arg(format!("https://127.0.0.1:{port}/plaintext")));
        assert_eq!(stdout(&out), format!("Hello, World! {version}"));
    }
});

both_drivers!(demo_with_certificate_files, |d| {
    let pki = pki();
    let driver = match d {
        DriverChoice::Uring => "uring",
        _ => "epoll",
    };
    let (_demo, line) = start_listening(
        Command::new(example_binary("demo"))
            .args([
                "--listen",
                "127.0.0.1:0",
                "--cores",
                "1",
                "--driver",
                driver,
            ])
            .arg("--tls-cert")
            .arg(pki.cert())
            .arg("--tls-key")
            .arg(pki.key()),
    );
    let port = https_port(&line);
    let out = run(Command::new("curl")
        .args(["-sS", "--http2", "--cacert"])
        .arg(pki.ca())
        .arg(format!("https://127.0.0.1:{port}/json")));
    assert_eq!(stdout(&out), r#"{"message":"Hello, World!"}"#);
});

#[test]
fn the_demo_without_tls_flags_serves_plain_http() {
    let (_demo, line) = start_listening(Command::new(example_binary("demo")).args([
        "--listen",
        "127.0.0.1:0",
        "--cores",
        "1",
    ]));
    assert!(line.contains("listening on http://"), "{line}");
}
