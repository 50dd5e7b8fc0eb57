//! `percore_open_connections{protocol}` of the metrics plugin, read by
//! Python's `prometheus_client` parser while an HTTP/1.1, an HTTP/2 (prior
//! knowledge), an h2c-upgraded and a WebSocket connection are held open to
//! the demo (`--metrics`, two cores: the gauges are summed across them);
//! then each is closed and the gauges must fall. Both drivers.

mod common;

use std::process::Command;

use common::{run, start_demo, stdout};

fn gauges_follow_connections(driver: &str) {
    let (_demo, addr) = start_demo(driver, &["--metrics"]);
    let out = run(Command::new("timeout").args([
        "60",
        "python3",
        concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/py/metrics_connections.py"
        ),
        &format!("http://{addr}"),
    ]));
    assert_eq!(stdout(&out).trim(), "ok");
}

#[test]
fn gauges_follow_connections_uring() {
    gauges_follow_connections("uring");
}

#[test]
fn gauges_follow_connections_epoll() {
    gauges_follow_connections("epoll");
}
