//! The demo page in a real browser: Debian's headless `chromium`, driven
//! through its DevTools protocol by `tests/browser/cdp.py` (Python
//! `websockets`). Two tabs, a login through the page's form, a chat line
//! from one tab seen in the other, the page's image decoded, its video
//! loaded with a range request (206), an explicit `Range: bytes=0-99`
//! fetch, and a screenshot saved under `target/test-artifacts/`. Both
//! drivers. The script kills chromium by PID when it ends, even on failure,
//! and this test kills the script if it overstays. `ws_deflate_test.py`
//! checks the permessage-deflate chromium negotiates, with and without
//! context takeover.

mod common;

use std::io::Read;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{start_demo, Running};

/// Where tests leave files for people to look at: `target/test-artifacts/`.
fn artifacts_dir() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .expect("target dir")
        .join("test-artifacts");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Runs `cmd` to its end, killing it (by PID) if it takes longer than
/// `limit`; fails the test with its output unless it succeeds.
fn run_within(cmd: &mut Command, limit: Duration) -> String {
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e} (run .ci/run to install the peers)"));
    let read_all = |mut pipe: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut text = String::new();
            let _ = pipe.read_to_string(&mut text);
            text
        })
    };
    let stdout = read_all(Box::new(child.stdout.take().unwrap()));
    let stderr = read_all(Box::new(child.stderr.take().unwrap()));
    let mut guard = Running(child);
    let deadline = Instant::now() + limit;
    let status = loop {
        if let Some(status) = guard.0.try_wait().unwrap() {
            break Some(status);
        }
        if Instant::now() > deadline {
            break None;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    drop(guard); // kills it by PID if it still runs
    let (stdout, stderr) = (stdout.join().unwrap(), stderr.join().unwrap());
    match status {
        Some(s) if s.success() => stdout,
        Some(s) => panic!("{cmd:?} failed ({s}):\nstdout: {stdout}\nstderr: {stderr}"),
        None => {
            panic!("{cmd:?} still ran after {limit:?}: killed\nstdout: {stdout}\nstderr: {stderr}")
        }
    }
}

fn demo_in_chromium(driver: &str) {
    let static_dir = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/demo/static");
    let (_demo, addr) = start_demo(driver, &[]);
    let shot = artifacts_dir().join(format!("browser-demo-{driver}.png"));
    let _ = std::fs::remove_file(&shot);
    let out = run_within(
        Command::new("python3")
            .arg(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/tests/browser/demo_test.py"
            ))
            .arg(format!("http://{addr}"))
            .arg(static_dir)
            .arg(&shot),
        Duration::from_secs(120),
    );
    println!("{out}");
    let png = std::fs::read(&shot).expect("the screenshot was saved");
    assert!(png.starts_with(b"\x89PNG"), "{}", shot.display());
    eprintln!("screenshot: {}", shot.display());
}

#[test]
fn demo_in_chromium_uring() {
    demo_in_chromium("uring");
}

#[test]
fn demo_in_chromium_epoll() {
    demo_in_chromium("epoll");
}

/// The demo over TLS (`--tls-self-signed`) in chromium: the page over h2,
/// the chat working across two tabs, and its WebSocket on an HTTP/2 stream
/// (RFC 8441: chromium reports the handshake as 200, not 101).
fn demo_chat_over_h2_in_chromium(driver: &str) {
    let (_demo, addr) = common::start_demo(driver, &["--tls-self-signed"]);
    let out = run_within(
        Command::new("python3")
            .arg(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/tests/browser/h2_chat_test.py"
            ))
            .arg(format!("https://{addr}")),
        Duration::from_secs(120),
    );
    assert!(
        out.contains("ok: chat across two tabs over TLS HTTP/2"),
        "{out}"
    );
}

#[test]
fn demo_chat_over_h2_in_chromium_uring() {
    demo_chat_over_h2_in_chromium("uring");
}

#[test]
fn demo_chat_over_h2_in_chromium_epoll() {
    demo_chat_over_h2_in_chromium("epoll");
}

/// permessage-deflate as chromium negotiates it with the demo: `/ws` (no
/// context takeover, the default) and `/ws-takeover` (context takeover
/// kept). `ws.extensions` in the page must be what the server answered,
/// `server_no_context_takeover` present on `/ws` only, and a run of
/// compressible messages must come back unchanged on each socket. Over
/// HTTP/1.1, or over TLS HTTP/2 (RFC 8441) with `tls`.
fn deflate_in_chromium(driver: &str, tls: bool) {
    let args: &[&str] = if tls { &["--tls-self-signed"] } else { &[] };
    let (_demo, addr) = start_demo(driver, args);
    let scheme = if tls { "https" } else { "http" };
    let out = run_within(
        Command::new("python3")
            .arg(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/tests/browser/ws_deflate_test.py"
            ))
            .arg(format!("{scheme}://{addr}")),
        Duration::from_secs(120),
    );
    println!("{out}");
    assert!(
        out.contains(
            "ok: chromium negotiated permessage-deflate with and without context takeover"
        ),
        "{out}"
    );
    assert!(
        out.contains("/ws: ws.extensions = 'permessage-deflate; server_no_context_takeover"),
        "{out}"
    );
}

#[test]
fn deflate_with_and_without_context_takeover_in_chromium_uring() {
    deflate_in_chromium("uring", false);
}

#[test]
fn deflate_with_and_without_context_takeover_in_chromium_epoll() {
    deflate_in_chromium("epoll", false);
}

#[test]
fn deflate_over_h2_with_and_without_context_takeover_in_chromium_uring() {
    deflate_in_chromium("uring", true);
}

#[test]
fn deflate_over_h2_with_and_without_context_takeover_in_chromium_epoll() {
    deflate_in_chromium("epoll", true);
}
