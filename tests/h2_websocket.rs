//! WebSocket over HTTP/2 (RFC 8441) against Python `h2` doing the extended
//! CONNECT by hand (tests/py/h2_ws.py): the demo's `/ws` echo and `/chat`,
//! deflate on and off, WebSocket streams and a GET multiplexed on one
//! connection, a message larger than the windows, the stream ended by
//! END_STREAM and by RST_STREAM, malformed CONNECTs reset with
//! PROTOCOL_ERROR; over h2c and over TLS (the demo with
//! `--tls-self-signed`, ALPN h2), on both drivers.

mod common;
use common::*;

use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use percore::web::{get, Request, Response};
use percore::ws::WebSocket;
use percore::{DriverChoice, Limits};

/// The modes of tests/py/h2_ws.py a server with the demo's routes passes.
const MODES: [&str; 7] = [
    "echo",
    "deflate",
    "multiplex",
    "chat",
    "big",
    "reset",
    "malformed",
];

fn python_ws(base: &str, mode: &str, extra: &[&str]) {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/py/h2_ws.py");
    let out = run(Command::new("timeout")
        .args(["90", "python3", script, base, mode])
        .args(extra));
    assert!(
        stdout(&out).trim_end().ends_with("ok"),
        "{mode}: {}",
        stderr(&out)
    );
}

fn driver_name(d: DriverChoice) -> &'static str {
    match d {
        DriverChoice::Uring => "uring",
        _ => "epoll",
    }
}

both_drivers!(h2c_websockets_by_hand, |d: DriverChoice| {
    let srv = TestServer::start(d);
    for mode in MODES {
        python_ws(&srv.url(""), mode, &[]);
    }
});

both_drivers!(tls_h2_websockets_by_hand, |d: DriverChoice| {
    let (_demo, addr) = start_demo(driver_name(d), &["--tls-self-signed"]);
    for mode in MODES {
        python_ws(&format!("https://{addr}"), mode, &[]);
    }
});

both_drivers!(no_setting_no_extended_connect, |d: DriverChoice| {
    let srv = TestServer::with_limits(d, Limits::default().h2_enable_connect_protocol(false));
    python_ws(&srv.url(""), "unoffered", &[]);
});

/// An echo that counts, in `ended`, the WebSockets whose handler saw the
/// end (`recv` gave `None` or an error).
async fn counted_echo(mut req: Request, ended: Arc<AtomicUsize>) -> Response {
    match req.websocket() {
        Ok(upgrade) => upgrade.on_upgrade(|mut ws: WebSocket| async move {
            while let Some(Ok(msg)) = ws.recv().await {
                if ws.send(msg).await.is_err() {
                    break;
                }
            }
            ended.fetch_add(1, Ordering::SeqCst);
        }),
        Err(refusal) => refusal.into_response(),
    }
}

both_drivers!(a_reset_stream_ends_the_websocket, |d: DriverChoice| {
    let ended = Arc::new(AtomicUsize::new(0));
    let counter = ended.clone();
    let srv = TestServer::serve(d, 1, Limits::default(), Duration::from_secs(5), move || {
        move || {
            let room = demo_app::ChatRoom::new();
            let counter = counter.clone();
            test_app(&room).route(
                "/counted",
                get(move |req: Request| counted_echo(req, counter.clone())),
            )
        }
    });
    // The client keeps its connection open after the reset (HOLD), so only
    // the RST_STREAM can have ended the handler's WebSocket.
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/py/h2_ws.py");
    let mut child = Command::new("python3")
        .args([script, &srv.url(""), "reset", "/counted"])
        .env("HOLD", "3")
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(2);
    while ended.load(Ordering::SeqCst) == 0 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    let seen = ended.load(Ordering::SeqCst);
    let status = child.wait().unwrap();
    assert!(status.success(), "the python client failed");
    assert_eq!(seen, 1, "the WebSocket did not see the reset");
});

both_drivers!(
    websocket_streams_count_against_the_stream_limit,
    |d: DriverChoice| {
        let srv = TestServer::with_limits(d, Limits::default().h2_max_concurrent_streams(2));
        python_ws(&srv.url(""), "limit", &[]);
    }
);

both_drivers!(
    shutdown_says_going_away_on_h2_websockets,
    |d: DriverChoice| {
        use std::io::BufRead;
        let mut srv = TestServer::start(d);
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/py/h2_ws.py");
        let mut child = Command::new("timeout")
            .args(["30", "python3", script, &srv.url(""), "going_away"])
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut lines = std::io::BufReader::new(child.stdout.take().unwrap()).lines();
        assert_eq!(lines.next().unwrap().unwrap(), "open");
        let start = Instant::now();
        srv.trigger_shutdown();
        assert_eq!(lines.next().unwrap().unwrap(), "ok");
        assert!(child.wait().unwrap().success());
        // The WebSocket let go of the connection at once: no wait for the deadline.
        srv.join(Duration::from_secs(4));
        assert!(start.elapsed() < Duration::from_secs(4));
    }
);
