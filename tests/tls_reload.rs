//! Certificate reload without a restart: the demo with `--tls-cert` and
//! `--tls-key` reloads both files on SIGHUP. `openssl s_client` sees the
//! new certificate on a new connection while a connection opened before
//! the reload keeps the old one and still answers; a reload that fails
//! (a broken file) keeps the certificate in use. Both drivers.

mod common;
use common::*;

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use percore::DriverChoice;
use rcgen::{CertificateParams, DnType, KeyPair};

/// A self-signed certificate for localhost named `cn`, written over
/// `dir/cert.pem` and `dir/key.pem`.
fn write_certificate(dir: &Path, cn: &str) {
    let mut params =
        CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()]).unwrap();
    params.distinguished_name.push(DnType::CommonName, cn);
    let key = KeyPair::generate().unwrap();
    let cert = params.self_signed(&key).unwrap();
    std::fs::write(dir.join("key.pem"), key.serialize_pem()).unwrap();
    std::fs::write(dir.join("cert.pem"), cert.pem()).unwrap();
}

fn temp_dir() -> PathBuf {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let dir = std::env::temp_dir().join(format!(
        "percore-tlsreload-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::SeqCst)
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The subject line `openssl s_client` prints for a new connection.
fn subject_of_new_connection(port: u16) -> String {
    let out = run(Command::new("timeout")
        .args([
            "10",
            "openssl",
            "s_client",
            "-connect",
            &format!("127.0.0.1:{port}"),
            "-servername",
            "localhost",
        ])
        .stdin(Stdio::null()));
    stdout(&out)
        .lines()
        .find(|l| l.starts_with("subject="))
        .unwrap_or_else(|| panic!("no subject in {}", stdout(&out)))
        .to_string()
}

/// A connection held open: `openssl s_client`, its stdin, and its output lines.
struct Held {
    child: Child,
    stdin: ChildStdin,
    lines: mpsc::Receiver<String>,
}

impl Held {
    fn open(port: u16) -> Held {
        let mut child = Command::new("openssl")
            .args([
                "s_client",
                "-connect",
                &format!("127.0.0.1:{port}"),
                "-servername",
                "localhost",
                "-alpn",
                "http/1.1",
                "-ign_eof",
            ])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdin = child.stdin.take().unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Held {
            child,
            stdin,
            lines,
        }
    }

    /// Output lines until one contains `what` (10 s at most).
    fn wait_for(&self, what: &str) -> Vec<String> {
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut seen = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    let found = line.contains(what);
                    seen.push(line);
                    if found {
                        return seen;
                    }
                }
                Err(_) => panic!("no {what:?} from the held connection: {seen:?}"),
            }
        }
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn sighup(demo: &Running) {
    let pid = demo.0.id().to_string();
    assert!(Command::new("kill")
        .args(["-HUP", &pid])
        .status()
        .unwrap()
        .success());
}

/// Waits (5 s at most) until new connections see a certificate named `cn`.
fn wait_for_subject(port: u16, cn: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let subject = subject_of_new_connection(port);
        if subject.contains(cn) || Instant::now() > deadline {
            return subject;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

both_drivers!(sighup_reloads_the_certificate_for_new_connections, |d| {
    let driver = match d {
        DriverChoice::Uring => "uring",
        _ => "epoll",
    };
    let dir = temp_dir();
    write_certificate(&dir, "percore-first");
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    let (demo, addr) = start_demo(
        driver,
        &[
            "--tls-cert",
            cert.to_str().unwrap(),
            "--tls-key",
            key.to_str().unwrap(),
        ],
    );
    let port = addr.port();
    assert!(subject_of_new_connection(port).contains("percore-first"));

    // A connection opened before the reload.
    let mut old = Held::open(port);
    let handshake = old.wait_for("subject=");
    assert!(
        handshake.last().unwrap().contains("percore-first"),
        "{handshake:?}"
    );

    write_certificate(&dir, "percore-second");
    sighup(&demo);
    let subject = wait_for_subject(port, "percore-second");
    assert!(
        subject.contains("percore-second"),
        "not reloaded: {subject}"
    );

    // The old connection keeps its certificate and still answers (the
    // answer ends with the connection: its body has no newline).
    old.stdin
        .write_all(b"GET /plaintext HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .unwrap();
    old.stdin.flush().unwrap();
    let answer = old.wait_for("Hello, World!");
    assert!(
        answer.iter().any(|l| l.starts_with("HTTP/1.1 200")),
        "{answer:?}"
    );
    assert!(
        !answer.iter().any(|l| l.contains("percore-second")),
        "{answer:?}"
    );

    // A broken file: the reload fails and the certificate in use stays.
    std::fs::write(dir.join("cert.pem"), "not a certificate").unwrap();
    sighup(&demo);
    std::thread::sleep(Duration::from_millis(300));
    assert!(subject_of_new_connection(port).contains("percore-second"));
    // The server is still there after both signals (SIGHUP did not end it).
    let _ = std::fs::remove_dir_all(&dir);
});
