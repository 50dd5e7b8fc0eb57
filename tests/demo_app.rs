//! The demo binary's sessions, static files and metrics, driven by curl
//! (with its cookie jar) and Python's `prometheus_client`, on both drivers;
//! and two demo processes sharing logins through one `--secret`.

mod common;

use std::path::Path;
use std::process::{Command, Output};

use common::{example_binary, start_demo};

const SECRET: &str = "a demo secret of more than thirty-two bytes";

fn curl(args: &[&str]) -> Output {
    let out = Command::new("curl")
        .args(["-s", "--max-time", "10"])
        .args(args)
        .output()
        .expect("curl runs");
    assert!(out.status.success(), "curl {args:?}: {out:?}");
    out
}

/// `curl -w '%{http_code}'` over the body: (status, body).
fn status_and_body(args: &[&str]) -> (u16, String) {
    let mut all = vec!["-w", "\n%{http_code}"];
    all.extend_from_slice(args);
    let out = String::from_utf8(curl(&all).stdout).unwrap();
    let (body, code) = out.rsplit_once('\n').unwrap();
    (code.parse().unwrap(), body.to_string())
}

fn jar(dir: &Path, name: &str) -> String {
    dir.join(name).to_str().unwrap().to_string()
}

fn temp_dir(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("percore-demo-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn sessions_log_in_and_out(driver: &str) {
    let (_demo, addr) = start_demo(driver, &["--secret", SECRET]);
    let dir = temp_dir(&format!("session-{driver}"));
    let jar = jar(&dir, "jar");
    let url = |path: &str| format!("http://{addr}{path}");

    let (code, body) = status_and_body(&["-b", &jar, &url("/whoami")]);
    assert_eq!((code, body.as_str()), (401, "not logged in\n"));

    let (code, body) = status_and_body(&["-c", &jar, "-d", "user=ada", &url("/login")]);
    assert_eq!((code, body.as_str()), (200, "logged in as ada\n"));
    let cookies = std::fs::read_to_string(&jar).unwrap();
    assert!(cookies.contains("#HttpOnly_127.0.0.1"), "{cookies}");

    // Over HTTP/1.1 and HTTP/2, on whichever core the connection lands.
    for proto in ["--http1.1", "--http2-prior-knowledge"] {
        for _ in 0..4 {
            let (code, body) = status_and_body(&[proto, "-b", &jar, &url("/whoami")]);
            assert_eq!((code, body.as_str()), (200, "ada"), "{proto}");
        }
    }

    // A tampered cookie is a stranger, not an error.
    let tampered = cookies.replace("percore.session\t", "percore.session\tX");
    let bad = jar.clone() + ".bad";
    std::fs::write(&bad, tampered).unwrap();
    assert_eq!(status_and_body(&["-b", &bad, &url("/whoami")]).0, 401);

    // A bad name is refused with a reason.
    let (code, body) = status_and_body(&["-d", "user=", &url("/login")]);
    assert_eq!(code, 400, "{body}");
    let (code, _) = status_and_body(&["-d", &format!("user={}", "x".repeat(65)), &url("/login")]);
    assert_eq!(code, 400);

    let (code, _) = status_and_body(&["-b", &jar, "-c", &jar, "-X", "POST", &url("/logout")]);
    assert_eq!(code, 200);
    assert_eq!(status_and_body(&["-b", &jar, &url("/whoami")]).0, 401);
    let _ = std::fs::remove_dir_all(&dir);
}

fn static_files_and_metrics(driver: &str) {
    let (_demo, addr) = start_demo(driver, &["--metrics"]);
    let url = |path: &str| format!("http://{addr}{path}");
    let css = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/examples/demo/static/style.css"
    ))
    .unwrap();

    let whole = curl(&[&url("/static/style.css")]).stdout;
    assert_eq!(whole, css);
    let head = String::from_utf8(curl(&["-I", &url("/static/style.css")]).stdout).unwrap();
    assert!(head.contains("content-type: text/css"), "{head}");
    assert!(head.contains("etag: "), "{head}");
    let part = curl(&["-H", "range: bytes=3-12", &url("/static/style.css")]).stdout;
    assert_eq!(part, css[3..=12]);
    let gz = curl(&["--compressed", "-D", "-", &url("/static/style.css")]).stdout;
    let gz = String::from_utf8(gz).unwrap();
    assert!(gz.contains("content-encoding: gzip"), "{gz}");
    assert!(gz.ends_with(std::str::from_utf8(&css).unwrap()), "{gz}");
    let (code, _) = status_and_body(&["--path-as-is", &url("/static/../app.rs")]);
    assert_eq!(code, 404);
    let page = String::from_utf8(curl(&[&url("/")]).stdout).unwrap();
    assert!(page.contains("/static/logo.svg") && page.contains("id=\"login\""));

    for _ in 0..3 {
        curl(&[&url("/plaintext")]);
    }
    // The benchmark answer: what TechEmpower's plaintext test names and the
    // peers send (no charset), with the date RFC 9110 §6.6.1 asks for.
    let plain = String::from_utf8(curl(&["-i", &url("/plaintext")]).stdout).unwrap();
    assert!(plain.contains("content-type: text/plain\r\n"), "{plain}");
    assert!(plain.contains("date: "), "{plain}");
    assert!(plain.ends_with("\r\n\r\nHello, World!"), "{plain}");
    curl(&["--http2-prior-knowledge", &url("/json")]);
    let metrics = curl(&[&url("/metrics")]).stdout;
    let script = r#"
import sys
from prometheus_client.parser import text_string_to_metric_families
seen = {}
for family in text_string_to_metric_families(sys.stdin.read()):
    for sample in family.samples:
        if sample.name == "percore_requests_total":
            key = (sample.labels["protocol"], sample.labels["status"])
            seen[key] = seen.get(key, 0) + sample.value
assert seen.get(("HTTP/1.1", "2xx"), 0) >= 5, seen
assert seen.get(("HTTP/2", "2xx"), 0) >= 1, seen
print("ok")
"#;
    let mut py = Command::new("python3")
        .args(["-c", script])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    py.stdin.take().unwrap().write_all(&metrics).unwrap();
    let out = py.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(&metrics)
    );
}

#[test]
fn sessions_uring() {
    sessions_log_in_and_out("uring");
}

#[test]
fn sessions_epoll() {
    sessions_log_in_and_out("epoll");
}

#[test]
fn static_files_and_metrics_uring() {
    static_files_and_metrics("uring");
}

#[test]
fn static_files_and_metrics_epoll() {
    static_files_and_metrics("epoll");
}

/// Two processes given the same secret accept each other's logins; a
/// process with another secret does not.
#[test]
fn one_secret_shares_logins_across_processes() {
    let (_a, a) = start_demo("auto", &["--secret", SECRET]);
    let (_b, b) = start_demo("auto", &["--secret", SECRET]);
    let other_secret = "another secret that is long enough, too";
    let (_c, c) = start_demo("auto", &["--secret", other_secret]);
    let dir = temp_dir("shared");
    let jar = jar(&dir, "jar");
    curl(&["-c", &jar, "-d", "user=grace", &format!("http://{a}/login")]);
    let (code, body) = status_and_body(&["-b", &jar, &format!("http://{b}/whoami")]);
    assert_eq!((code, body.as_str()), (200, "grace"));
    assert_eq!(
        status_and_body(&["-b", &jar, &format!("http://{c}/whoami")]).0,
        401
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// A short secret or a missing static directory is refused before binding.
#[test]
fn bad_secret_and_static_dir_exit_2() {
    for args in [
        vec!["--secret", "short"],
        vec!["--static", "/nonexistent/percore-demo-dir"],
    ] {
        let out = Command::new(example_binary("demo"))
            .args(["--listen", "127.0.0.1:0"])
            .args(&args)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}: {out:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.starts_with("error:"), "{err}");
        assert!(out.stdout.is_empty(), "{out:?}");
    }
}

/// Without `--metrics` there is no /metrics route.
#[test]
fn metrics_are_opt_in() {
    let (_demo, addr) = start_demo("auto", &[]);
    assert_eq!(status_and_body(&[&format!("http://{addr}/metrics")]).0, 404);
}

/// `--static DIR` serves that directory instead of the demo's assets.
#[test]
fn static_flag_mounts_a_directory() {
    let dir = temp_dir("static");
    std::fs::write(dir.join("hello.txt"), "from the flag\n").unwrap();
    let (_demo, addr) = start_demo("auto", &["--static", dir.to_str().unwrap()]);
    let (code, body) = status_and_body(&[&format!("http://{addr}/static/hello.txt")]);
    assert_eq!((code, body.as_str()), (200, "from the flag\n"));
    assert_eq!(
        status_and_body(&[&format!("http://{addr}/static/style.css")]).0,
        404
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// `GET /bytes/{kib}`: in-memory bodies of 1 KiB to 1 MiB arrive whole
/// (with zero-copy sends switched on or off on io_uring, and on epoll);
/// a size past 4 MiB or not a number is a 404.
fn large_bodies(driver: &str, zerocopy: &str) {
    let mut cmd = Command::new(example_binary("demo"));
    cmd.args([
        "--listen",
        "127.0.0.1:0",
        "--cores",
        "1",
        "--driver",
        driver,
    ])
    .env("PERCORE_ZEROCOPY_SEND", zerocopy);
    let (_demo, line) = common::start_listening(&mut cmd);
    let addr = common::listening_addr(&line);
    for kib in [1usize, 32, 1024] {
        let body = curl(&[&format!("http://{addr}/bytes/{kib}")]).stdout;
        assert_eq!(body.len(), kib * 1024, "{driver} zc={zerocopy}");
        assert!(
            body.iter().enumerate().all(|(i, &b)| b == (i % 251) as u8),
            "{driver} zc={zerocopy}: {kib} KiB corrupted"
        );
    }
    for bad in ["4097", "x"] {
        let (code, _) = status_and_body(&[&format!("http://{addr}/bytes/{bad}")]);
        assert_eq!(code, 404, "/bytes/{bad}");
    }
}

#[test]
fn large_bodies_uring_zerocopy() {
    large_bodies("uring", "1");
}

#[test]
fn large_bodies_uring_plain() {
    large_bodies("uring", "0");
}

#[test]
fn large_bodies_epoll() {
    large_bodies("epoll", "1");
}
