//! The demo's threads and signals on both drivers: `--cores 1` is a
//! process of one thread (its core on the main thread, SIGINT/SIGTERM
//! relayed by a task of that core); `--cores 2` has its two workers and the
//! signal thread. Either way SIGINT stops it gracefully (exit 0), and a
//! second one while a request is still in flight ends it at once (130).

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::Command;
use std::time::{Duration, Instant};

use common::{example_binary, listening_addr, start_listening, Running};

fn start(driver: &str, cores: &str) -> (Running, SocketAddr) {
    let mut cmd = Command::new(example_binary("demo"));
    cmd.args([
        "--listen",
        "127.0.0.1:0",
        "--cores",
        cores,
        "--driver",
        driver,
    ]);
    let (running, line) = start_listening(&mut cmd);
    (running, listening_addr(&line))
}

/// The names of the process's threads.
fn threads(running: &Running) -> Vec<String> {
    let dir = format!("/proc/{}/task", running.0.id());
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|t| std::fs::read_to_string(t.unwrap().path().join("comm")).unwrap())
        .map(|n| n.trim().to_string())
        // io_uring's kernel workers (`iou-*`) are the kernel's, not ours.
        .filter(|n| !n.starts_with("iou-"))
        .collect();
    names.sort();
    names
}

fn plaintext(addr: SocketAddr) -> String {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(b"GET /plaintext HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut answer = String::new();
    s.read_to_string(&mut answer).unwrap();
    answer
}

fn signal(running: &Running, sig: libc::c_int) {
    // SAFETY: sends a signal to our own child process.
    let rc = unsafe { libc::kill(running.0.id() as libc::pid_t, sig) };
    assert_eq!(rc, 0);
}

/// The exit code once the process ends (within 15 s).
fn exit_code(running: &mut Running) -> Option<i32> {
    let t0 = Instant::now();
    while t0.elapsed() < Duration::from_secs(15) {
        if let Some(status) = running.0.try_wait().unwrap() {
            return status.code();
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("the demo did not exit");
}

/// A request whose body never comes in full: it keeps the server's
/// graceful shutdown waiting. Returned once the handler reads its body
/// (the server's `100 Continue` says so), so a signal sent next finds it
/// in flight.
fn request_in_flight(addr: SocketAddr) -> TcpStream {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(
        b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 100\r\nExpect: 100-continue\r\n\r\n",
    )
    .unwrap();
    let mut got = Vec::new();
    let mut byte = [0u8; 1];
    while !got.ends_with(b"\r\n\r\n") {
        assert_eq!(s.read(&mut byte).unwrap(), 1, "{got:?}");
        got.push(byte[0]);
    }
    assert!(got.starts_with(b"HTTP/1.1 100"), "{got:?}");
    s.write_all(b"abc").unwrap();
    s
}

fn one_core(driver: &str) {
    let (mut demo, addr) = start(driver, "1");
    assert_eq!(threads(&demo).len(), 1, "{driver}: {:?}", threads(&demo));
    assert!(plaintext(addr).ends_with("Hello, World!"));
    assert_eq!(threads(&demo).len(), 1, "{driver}: {:?}", threads(&demo));
    signal(&demo, libc::SIGINT);
    assert_eq!(exit_code(&mut demo), Some(0), "{driver}");

    let (mut demo, addr) = start(driver, "1");
    let _slow = request_in_flight(addr);
    signal(&demo, libc::SIGTERM);
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        demo.0.try_wait().unwrap().is_none(),
        "{driver}: the request in flight keeps the demo running"
    );
    signal(&demo, libc::SIGTERM);
    assert_eq!(exit_code(&mut demo), Some(128 + libc::SIGTERM), "{driver}");
}

fn two_cores(driver: &str) {
    let (mut demo, addr) = start(driver, "2");
    let names = threads(&demo);
    let workers = names
        .iter()
        .filter(|n| n.starts_with("percore-worker"))
        .count();
    assert_eq!(workers, 2, "{driver}: {names:?}");
    assert!(names.iter().any(|n| n == "percore-signals"), "{names:?}");
    assert!(plaintext(addr).ends_with("Hello, World!"));
    let _slow = request_in_flight(addr);
    signal(&demo, libc::SIGINT);
    std::thread::sleep(Duration::from_millis(300));
    assert!(demo.0.try_wait().unwrap().is_none(), "{driver}");
    signal(&demo, libc::SIGINT);
    assert_eq!(exit_code(&mut demo), Some(128 + libc::SIGINT), "{driver}");

    let (mut demo, _) = start(driver, "2");
    signal(&demo, libc::SIGINT);
    assert_eq!(exit_code(&mut demo), Some(0), "{driver}");
}

#[test]
fn one_core_is_one_thread_and_stops_on_signals_uring() {
    one_core("uring");
}

#[test]
fn one_core_is_one_thread_and_stops_on_signals_epoll() {
    one_core("epoll");
}

#[test]
fn two_cores_keep_their_workers_and_signal_thread_uring() {
    two_cores("uring");
}

#[test]
fn two_cores_keep_their_workers_and_signal_thread_epoll() {
    two_cores("epoll");
}
