//! The notes_app example (the guide's complete app), run as a real program
//! on two cores and driven by Python's httpx and websockets: logins, JSON
//! CRUD across connections (and so cores), a 3 MiB upload streamed to
//! disk, a WebSocket; both drivers.

mod common;

use std::process::Command;

use common::{example_binary, listening_addr, run, start_listening, stdout};

fn notes_app(driver: &str) {
    let uploads =
        std::env::temp_dir().join(format!("percore-notes-{driver}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&uploads);
    let mut cmd = Command::new(example_binary("notes_app"));
    cmd.args([
        "--listen",
        "127.0.0.1:0",
        "--cores",
        "2",
        "--driver",
        driver,
    ])
    .arg("--uploads")
    .arg(&uploads);
    let (_app, line) = start_listening(&mut cmd);
    let shown = if driver == "uring" {
        "io_uring"
    } else {
        driver
    };
    assert!(line.contains(&format!("driver: {shown}")), "{line}");
    let base = format!("http://{}", listening_addr(&line));
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/py/notes_client.py");
    let out = run(Command::new("timeout")
        .args(["120", "python3", script, &base])
        .arg(&uploads));
    assert_eq!(stdout(&out).trim(), "ok");
    let _ = std::fs::remove_dir_all(&uploads);
}

#[test]
fn notes_app_uring() {
    notes_app("uring");
}

#[test]
fn notes_app_epoll() {
    notes_app("epoll");
}
