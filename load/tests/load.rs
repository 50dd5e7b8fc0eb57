//! percore-load, run as users run it, against real servers on loopback:
//! percore's demo app (HTTP/1.1, pipelined, h2c, WebSocket echo, and all
//! of them over TLS) and Debian's nginx (HTTP/1.1 and pipelined, closing
//! connections every 100 requests; HTTPS HTTP/1.1 and h2). Counts match -n exactly, --json has its fields, a server
//! that is down gives connect errors, a silent one timeouts, a garbling
//! one protocol errors, 404s count as non-2xx, mistakes on the command
//! line exit with status 2. Every run is on both drivers.

#[path = "../../examples/demo/app.rs"]
#[allow(dead_code)]
mod demo_app;

use std::net::SocketAddr;
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use percore::rt::sync::Shutdown;
use percore::{DriverChoice, Server};
use serde_json::Value;

macro_rules! both_drivers {
    ($name:ident, $body:expr) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;
            #[test]
            fn uring() {
                ($body)("uring", DriverChoice::Uring)
            }
            #[test]
            fn epoll() {
                ($body)("epoll", DriverChoice::Epoll)
            }
        }
    };
}

/// percore's demo app on one core of its own thread.
struct Demo {
    addr: SocketAddr,
    shutdown: Shutdown,
    thread: Option<JoinHandle<std::io::Result<()>>>,
}

/// A self-signed certificate for 127.0.0.1: (certificate PEM, key PEM).
fn self_signed() -> (String, String) {
    let cert = rcgen::generate_simple_self_signed(vec!["127.0.0.1".into()]).unwrap();
    (cert.cert.pem(), cert.key_pair.serialize_pem())
}

impl Demo {
    fn start(driver: DriverChoice) -> Demo {
        Demo::start_with(driver, None)
    }

    /// The demo serving TLS with this certificate and key (PEM).
    fn start_tls(driver: DriverChoice, cert: &(String, String)) -> Demo {
        Demo::start_with(driver, Some(cert.clone()))
    }

    fn start_with(driver: DriverChoice, tls: Option<(String, String)>) -> Demo {
        let shutdown = Shutdown::new();
        let (tx, rx) = mpsc::channel();
        let s = shutdown.clone();
        let thread = std::thread::spawn(move || {
            let room = demo_app::ChatRoom::new();
            let mut server =
                Server::new(move || demo_app::app_with_room(&room)).bind("127.0.0.1:0")?;
            if let Some((cert, key)) = tls {
                server = server.tls(percore::tls::TlsConfig::from_pem(
                    cert.as_bytes(),
                    key.as_bytes(),
                )?)?;
            }
            server
                .cores(1)
                .driver(driver)
                .handle_signals(false)
                .shutdown_signal(s)
                .shutdown_timeout(Duration::from_secs(2))
                .on_ready(move |info| {
                    let _ = tx.send(info.addr);
                })
                .run()
        });
        let addr = rx
            .recv_timeout(Duration::from_secs(10))
            .expect("demo server did not start");
        Demo {
            addr,
            shutdown,
            thread: Some(thread),
        }
    }

    fn url(&self, scheme: &str, path: &str) -> String {
        format!("{scheme}://{}{path}", self.addr)
    }
}

impl Drop for Demo {
    fn drop(&mut self) {
        self.shutdown.trigger();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// A port nothing listens on (bound, then released).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// nginx on a free port: `/` answers `hello`, every connection closes
/// after 100 requests (so the load generator must reconnect and resend).
struct Nginx {
    port: u16,
    child: Child,
    dir: std::path::PathBuf,
}

impl Nginx {
    fn start() -> Nginx {
        Nginx::start_with(None)
    }

    /// nginx serving HTTPS (HTTP/1.1 and h2 by ALPN) with this certificate
    /// and key (PEM).
    fn start_tls(cert: &(String, String)) -> Nginx {
        Nginx::start_with(Some(cert))
    }

    fn start_with(tls: Option<&(String, String)>) -> Nginx {
        let port = free_port();
        let dir = std::env::temp_dir().join(format!("percore-load-nginx-{port}"));
        std::fs::create_dir_all(&dir).unwrap();
        let d = dir.display();
        let listen = match tls {
            None => format!("listen 127.0.0.1:{port};"),
            Some((cert, key)) => {
                std::fs::write(dir.join("cert.pem"), cert).unwrap();
                std::fs::write(dir.join("key.pem"), key).unwrap();
                format!(
                    "listen 127.0.0.1:{port} ssl http2; ssl_certificate {d}/cert.pem; \
                     ssl_certificate_key {d}/key.pem;"
                )
            }
        };
        let conf = format!(
            // One process: killing it by PID leaves no orphaned worker.
            "master_process off;\n\
             pid {d}/nginx.pid;\n\
             error_log {d}/error.log;\n\
             user root;\n\
             events {{ worker_connections 256; }}\n\
             http {{\n\
               access_log off;\n\
               client_body_temp_path {d}/body; proxy_temp_path {d}/proxy;\n\
               fastcgi_temp_path {d}/fcgi; uwsgi_temp_path {d}/uwsgi; scgi_temp_path {d}/scgi;\n\
               keepalive_requests 100;\n\
               server {{ {listen} location / {{ return 200 \"hello\\n\"; }} }}\n\
             }}\n"
        );
        let conf_path = dir.join("nginx.conf");
        std::fs::write(&conf_path, conf).unwrap();
        let child = Command::new("nginx")
            .arg("-c")
            .arg(&conf_path)
            .args(["-g", "daemon off;"])
            .stdout(Stdio::null())
            .spawn()
            .expect("nginx");
        let t0 = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                t0.elapsed() < Duration::from_secs(10),
                "nginx did not listen"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        Nginx { port, child, dir }
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Starts percore-load with `args`, its output piped.
fn spawn_load(args: &[&str]) -> Child {
    Command::new(env!("CARGO_BIN_EXE_percore-load"))
        .args(args)
        .env_remove("PERCORE_DRIVER")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("percore-load")
}

/// Runs percore-load with `args` (60 s at most) and returns its output.
fn load(args: &[&str]) -> Output {
    let mut child = spawn_load(args);
    let deadline = Instant::now() + Duration::from_secs(60);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("percore-load {args:?} still runs after 60 s");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    child.wait_with_output().unwrap()
}

/// Runs percore-load with `args` plus `--json FILE` on `driver`, checks
/// that it succeeded, and returns the JSON summary.
fn load_json(driver: &str, args: &[&str]) -> Value {
    let file = std::env::temp_dir().join(format!(
        "percore-load-{}-{}.json",
        std::process::id(),
        free_port()
    ));
    let path = file.to_str().unwrap();
    let mut all = args.to_vec();
    all.extend(["--driver", driver, "--cores", "1", "--json", path]);
    let out = load(&all);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{all:?}: {:?}\n{stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("requests/s:"), "{stdout}");
    assert!(stdout.contains("latency ms: p50"), "{stdout}");
    let text = std::fs::read_to_string(&file).unwrap();
    let _ = std::fs::remove_file(&file);
    let json: Value = serde_json::from_str(&text).unwrap();
    for field in ["requests", "errors", "duration_s", "rps"] {
        assert!(json[field].is_number(), "no {field} in {json}");
    }
    for field in ["p50", "p90", "p99", "p999", "max"] {
        assert!(
            json["latency_ms"][field].is_number(),
            "no latency_ms.{field} in {json}"
        );
    }
    json
}

/// `json` reports exactly `n` responses and no errors, with latencies.
fn assert_all_answered(json: &Value, n: u64) {
    assert_eq!(json["requests"], n, "{json}");
    assert_eq!(json["errors"], 0, "{json}");
    assert!(json["rps"].as_f64().unwrap() > 0.0, "{json}");
    let p50 = json["latency_ms"]["p50"].as_f64().unwrap();
    let max = json["latency_ms"]["max"].as_f64().unwrap();
    assert!(p50 > 0.0 && p50 <= max, "{json}");
}

both_drivers!(h1_counts_match_n, |driver, server_driver| {
    let demo = Demo::start(server_driver);
    let url = demo.url("http", "/plaintext");
    let json = load_json(driver, &[&url, "-c", "3", "-n", "500"]);
    assert_all_answered(&json, 500);
});

both_drivers!(h1_post_with_body_and_header, |driver, server_driver| {
    let demo = Demo::start(server_driver);
    let url = demo.url("http", "/echo");
    let args = [
        &url[..],
        "-c",
        "2",
        "-n",
        "50",
        "-X",
        "POST",
        "-b",
        "ping",
        "-H",
        "x-test: 1",
    ];
    let json = load_json(driver, &args);
    assert_all_answered(&json, 50);
});

both_drivers!(sigint_ends_a_run_early, |driver, server_driver| {
    let demo = Demo::start(server_driver);
    let url = demo.url("http", "/plaintext");
    // One core runs on the calling thread, the runtime's signal relay a
    // task on it; more cores on worker threads with the runtime's signal
    // thread.
    for cores in ["1", "2"] {
        let args = [
            &url[..],
            "-c",
            "4",
            "-d",
            "30",
            "--driver",
            driver,
            "--cores",
            cores,
        ];
        let child = spawn_load(&args);
        std::thread::sleep(Duration::from_millis(500));
        let started = Instant::now();
        // SAFETY: signals the child we started, by its PID.
        assert_eq!(unsafe { libc::kill(child.id() as i32, libc::SIGINT) }, 0);
        let out = child.wait_with_output().unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "--cores {cores}: SIGINT took {:?}",
            started.elapsed()
        );
        assert!(
            out.status.success(),
            "--cores {cores}: {:?}\n{stdout}",
            out.status
        );
        assert!(stdout.contains("requests/s:"), "--cores {cores}: {stdout}");
        assert!(
            !stdout.starts_with("0 requests"),
            "--cores {cores}: {stdout}"
        );
    }
});

both_drivers!(
    one_core_on_a_terminal_is_one_thread,
    |driver, server_driver| {
        // stderr on a terminal (a pty of `script`) shows the progress line;
        // with one core it is a task of the run, not a second thread.
        let demo = Demo::start(server_driver);
        let url = demo.url("http", "/plaintext");
        let command = format!(
            "exec {} {url} -c 2 -d 4 --cores 1 --driver {driver}",
            env!("CARGO_BIN_EXE_percore-load")
        );
        let script = Command::new("script")
            .args(["-qec", &command, "/dev/null"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("script (util-linux)");
        // percore-load once `script`'s shell has exec'd it (polled: a busy
        // machine may take a while), then its threads a moment into the
        // run; io_uring's own kernel workers (`iou-*`) are not ours.
        let children = format!("/proc/{0}/task/{0}/children", script.id());
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        let load_pid = loop {
            let found = std::fs::read_to_string(&children).unwrap_or_default();
            let pid = found.split_whitespace().next().map(str::to_string);
            let comm = |pid: &str| std::fs::read_to_string(format!("/proc/{pid}/comm"));
            if let Some(pid) = pid.filter(|p| comm(p).is_ok_and(|c| c.trim() == "percore-load")) {
                break pid;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "percore-load did not start"
            );
            std::thread::sleep(Duration::from_millis(20));
        };
        std::thread::sleep(Duration::from_millis(1200));
        let threads: Vec<String> = std::fs::read_dir(format!("/proc/{load_pid}/task"))
            .unwrap()
            .filter_map(|t| std::fs::read_to_string(t.ok()?.path().join("comm")).ok())
            .map(|name| name.trim().to_string())
            .filter(|name| !name.starts_with("iou-"))
            .collect();
        let out = script.wait_with_output().unwrap();
        let text = String::from_utf8_lossy(&out.stdout).replace('\r', "");
        assert!(out.status.success(), "{:?}\n{text}", out.status);
        assert_eq!(threads.len(), 1, "{threads:?}\n{text}");
        assert!(text.contains("   1s  "), "no progress line: {text}");
        assert!(text.contains("requests/s:"), "{text}");
    }
);

both_drivers!(pipelined_counts_match_n, |driver, server_driver| {
    let demo = Demo::start(server_driver);
    let url = demo.url("http", "/plaintext");
    // 503 is no multiple of the depth: the last batch is shorter.
    let json = load_json(driver, &[&url, "-c", "2", "-n", "503", "--pipeline", "8"]);
    assert_all_answered(&json, 503);
});

both_drivers!(h2_counts_match_n, |driver, server_driver| {
    let demo = Demo::start(server_driver);
    let url = demo.url("http", "/plaintext");
    let json = load_json(driver, &[&url, "-c", "2", "-n", "501", "--h2", "-m", "8"]);
    assert_all_answered(&json, 501);
});

both_drivers!(ws_echo_counts_match_n, |driver, server_driver| {
    let demo = Demo::start(server_driver);
    let url = demo.url("ws", "/ws");
    // A ws:// URL implies --ws.
    let json = load_json(driver, &[&url, "-c", "2", "-n", "300", "--msg-size", "100"]);
    assert_all_answered(&json, 300);
    let url = demo.url("http", "/ws");
    let json = load_json(driver, &[&url, "-c", "1", "-n", "50", "--ws"]);
    assert_all_answered(&json, 50);
});

both_drivers!(nginx_h1_and_pipelined, |driver, _server_driver| {
    let nginx = Nginx::start();
    let url = format!("http://127.0.0.1:{}/", nginx.port);
    // 100 requests per connection: 1000 need reconnects, and pipelined
    // batches cut by the close are sent again.
    let json = load_json(driver, &[&url, "-c", "2", "-n", "1000"]);
    assert_all_answered(&json, 1000);
    let json = load_json(driver, &[&url, "-c", "2", "-n", "1000", "--pipeline", "16"]);
    assert_all_answered(&json, 1000);
});

both_drivers!(
    server_down_counts_connect_errors,
    |driver, _server_driver| {
        let url = format!("http://127.0.0.1:{}/", free_port());
        let json = load_json(driver, &[&url, "-c", "2", "-n", "7"]);
        assert_eq!(json["requests"], 0, "{json}");
        assert_eq!(json["errors"], 7, "{json}");
        assert_eq!(json["errors_by_kind"]["connect"], 7, "{json}");
    }
);

both_drivers!(not_found_counts_non2xx, |driver, server_driver| {
    let demo = Demo::start(server_driver);
    let url = demo.url("http", "/missing");
    let json = load_json(driver, &[&url, "-c", "2", "-n", "20"]);
    assert_eq!(json["requests"], 20, "{json}");
    assert_eq!(json["errors_by_kind"]["non2xx"], 20, "{json}");
    assert_eq!(json["errors"], 20, "{json}");
});

both_drivers!(duration_run_stops_in_time, |driver, server_driver| {
    let demo = Demo::start(server_driver);
    let url = demo.url("http", "/plaintext");
    let json = load_json(driver, &[&url, "-c", "2", "-d", "0.5"]);
    assert!(json["requests"].as_u64().unwrap() > 0, "{json}");
    let secs = json["duration_s"].as_f64().unwrap();
    assert!((0.4..5.0).contains(&secs), "{json}");
});

both_drivers!(
    https_h1_h2_and_wss_against_the_demo,
    |driver, server_driver| {
        let cert = self_signed();
        let demo = Demo::start_tls(server_driver, &cert);
        let url = demo.url("https", "/plaintext");
        let json = load_json(driver, &[&url, "-c", "3", "-n", "500", "-k"]);
        assert_all_answered(&json, 500);
        let json = load_json(
            driver,
            &[&url, "-c", "2", "-n", "203", "--pipeline", "8", "-k"],
        );
        assert_all_answered(&json, 203);
        // The CA given by file: the certificate is verified (its name is the
        // URL's IP address).
        let ca = std::env::temp_dir().join(format!("percore-load-ca-{}.pem", free_port()));
        std::fs::write(&ca, &cert.0).unwrap();
        let ca_arg = ca.to_str().unwrap();
        let json = load_json(
            driver,
            &[
                &url, "-c", "2", "-n", "501", "--h2", "-m", "8", "--cacert", ca_arg,
            ],
        );
        assert_all_answered(&json, 501);
        let _ = std::fs::remove_file(&ca);
        let url = demo.url("wss", "/ws");
        let json = load_json(driver, &[&url, "-c", "2", "-n", "300", "-k"]);
        assert_all_answered(&json, 300);
    }
);

both_drivers!(
    an_unverified_certificate_fails_the_connects,
    |driver, server_driver| {
        // Verification is on by default: a self-signed certificate no
        // root vouches for fails every handshake, counted as connect errors.
        let demo = Demo::start_tls(server_driver, &self_signed());
        let url = demo.url("https", "/plaintext");
        let json = load_json(driver, &[&url, "-c", "2", "-n", "6"]);
        assert_eq!(json["requests"], 0, "{json}");
        assert_eq!(json["errors_by_kind"]["connect"], 6, "{json}");
    }
);

both_drivers!(nginx_https_h1_and_h2, |driver, _server_driver| {
    let nginx = Nginx::start_tls(&self_signed());
    let url = format!("https://127.0.0.1:{}/", nginx.port);
    // Reconnects every 100 requests: a new handshake each time.
    let json = load_json(driver, &[&url, "-c", "2", "-n", "1000", "-k"]);
    assert_all_answered(&json, 1000);
    let json = load_json(
        driver,
        &[&url, "-c", "2", "-n", "1000", "--h2", "-m", "10", "-k"],
    );
    assert_all_answered(&json, 1000);
});

#[test]
fn command_line_mistakes_exit_2() {
    for args in [
        &["http://127.0.0.1:1/", "--bogus"][..],
        &["http://127.0.0.1:1/", "-c"],
        &["http://127.0.0.1:1/", "-d", "later"],
        &["ftp://127.0.0.1:1/", "-n", "1"],
        &["http://127.0.0.1:1/", "-k"],
        &["http://127.0.0.1:1/", "--msg-size", "4"],
        &["ws://127.0.0.1:1/", "--h2"],
        &[],
    ] {
        let out = load(args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.starts_with("error:"), "{args:?}: {stderr}");
        assert!(stderr.contains("Usage: percore-load"), "{args:?}: {stderr}");
        assert!(out.stdout.is_empty(), "{args:?}");
    }
}

#[test]
fn help_documents_duration_and_body() {
    let out = load(&["--help"]);
    assert!(out.status.success());
    let help = String::from_utf8_lossy(&out.stdout);
    for flag in [
        "-d, --duration <SECS>",
        "-b, --body <BODY>",
        "--pipeline",
        "--h2",
        "--ws",
        "--json",
    ] {
        assert!(help.contains(flag), "{flag} missing from --help:\n{help}");
    }
}

/// A raw server that answers every read with `reply` (nothing when empty)
/// and keeps the connection open; it stops accepting after 20 s.
fn raw_server(reply: &'static [u8]) -> SocketAddr {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    listener.set_nonblocking(true).unwrap();
    std::thread::spawn(move || {
        let until = Instant::now() + Duration::from_secs(20);
        while Instant::now() < until {
            let Ok((mut s, _)) = listener.accept() else {
                std::thread::sleep(Duration::from_millis(5));
                continue;
            };
            s.set_nonblocking(false).unwrap();
            std::thread::spawn(move || {
                let mut buf = [0u8; 4096];
                while let Ok(1..) = s.read(&mut buf) {
                    if !reply.is_empty() && s.write_all(reply).is_err() {
                        break;
                    }
                }
            });
        }
    });
    addr
}

both_drivers!(silent_server_counts_timeouts, |driver, _server_driver| {
    let addr = raw_server(b"");
    let url = format!("http://{addr}/");
    let json = load_json(driver, &[&url, "-c", "1", "-n", "2", "--timeout", "0.2"]);
    assert_eq!(json["requests"], 0, "{json}");
    assert_eq!(json["errors_by_kind"]["timeout"], 2, "{json}");
    assert_eq!(json["errors"], 2, "{json}");
});

both_drivers!(garbage_counts_protocol_errors, |driver, _server_driver| {
    let addr = raw_server(b"HELLO THERE\r\n\r\n");
    let url = format!("http://{addr}/");
    let json = load_json(driver, &[&url, "-c", "2", "-n", "6"]);
    assert_eq!(json["requests"], 0, "{json}");
    assert_eq!(json["errors_by_kind"]["protocol"], 6, "{json}");
    assert_eq!(json["errors"], 6, "{json}");
});

both_drivers!(
    endless_interim_heads_are_protocol_errors,
    |driver, _server_driver| {
        // Forty 103s per request and never a final answer: without the cap the
        // request would wait for a final head until --timeout (a timeout error).
        let reply: &'static [u8] = "HTTP/1.1 103 Early Hints\r\n\r\n"
            .repeat(40)
            .into_bytes()
            .leak();
        let addr = raw_server(reply);
        let url = format!("http://{addr}/");
        let json = load_json(driver, &[&url, "-c", "1", "-n", "3", "--timeout", "5"]);
        assert_eq!(json["requests"], 0, "{json}");
        assert_eq!(json["errors_by_kind"]["protocol"], 3, "{json}");
        assert_eq!(json["errors_by_kind"]["timeout"], 0, "{json}");
    }
);

/// Runs percore-load-floor with `args` plus `--json FILE`; its exit status
/// and JSON summary.
fn floor_json(args: &[&str]) -> (std::process::ExitStatus, Value) {
    let file = std::env::temp_dir().join(format!(
        "percore-load-floor-{}-{}.json",
        std::process::id(),
        free_port()
    ));
    let mut all = args.to_vec();
    all.extend(["--json", file.to_str().unwrap()]);
    let mut child = Command::new(env!("CARGO_BIN_EXE_percore-load-floor"))
        .args(&all)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("percore-load-floor");
    let deadline = Instant::now() + Duration::from_secs(60);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("percore-load-floor {all:?} still runs after 60 s");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let status = child.wait().unwrap();
    let text = std::fs::read_to_string(&file).unwrap_or_default();
    let _ = std::fs::remove_file(&file);
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

both_drivers!(floor_counts_match_n, |driver, server_driver| {
    let demo = Demo::start(server_driver);
    let url = demo.url("http", "/plaintext");
    let mut shapes: Vec<Vec<&str>> = vec![
        vec!["-c", "3", "-n", "500"],
        // 503 is no multiple of the depth: the last batch is shorter.
        vec!["-c", "2", "-n", "503", "--pipeline", "8"],
        vec!["-c", "2", "-n", "500", "--h2", "-m", "10"],
    ];
    if driver == "uring" {
        for s in shapes.clone() {
            shapes.push([s.clone(), vec!["--multishot"]].concat());
            shapes.push([s, vec!["--multishot", "--fixed"]].concat());
        }
        shapes.push(vec!["-c", "3", "-n", "500", "--fixed"]);
    }
    shapes.push(vec!["-c", "3", "-n", "500", "--nagle"]);
    for shape in shapes {
        let mut args = vec![&url[..], "--driver", driver];
        args.extend(&shape);
        let n: u64 = shape[shape.iter().position(|a| *a == "-n").unwrap() + 1]
            .parse()
            .unwrap();
        let (status, json) = floor_json(&args);
        assert!(status.success(), "{args:?}: {status:?} {json}");
        assert_eq!(json["requests"], n, "{args:?}: {json}");
        assert_eq!(json["errors"], 0, "{args:?}: {json}");
    }
});

both_drivers!(floor_fails_on_other_responses, |driver, _server_driver| {
    // Two bytes more than the Content-Length on every answer after the probe.
    let extra = raw_server(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nhixx");
    let url = format!("http://{extra}/");
    let (status, json) = floor_json(&[&url, "-c", "2", "-n", "100", "--driver", driver]);
    assert!(!status.success(), "{json}");
    assert_eq!(json["errors"], 1, "{json}");
    // Not a 200: refused at the probe.
    let missing = raw_server(b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n");
    let url = format!("http://{missing}/");
    let (status, _) = floor_json(&[&url, "-c", "1", "-n", "10", "--driver", driver]);
    assert!(!status.success());
});
