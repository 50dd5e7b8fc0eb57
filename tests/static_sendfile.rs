//! Large static files on HTTP/1.1 over plain TCP, which go out with
//! `sendfile(2)` (issue 17), on both drivers: 1 and 10 MiB byte-exact
//! through curl (sha256), single / last-bytes / If-Range ranges, HEAD,
//! clients that close mid-file or stop reading (the server's descriptor
//! count returns to its baseline, others are still served), and a slow
//! Python reader (completes, server memory flat).
//!
//! The server runs in this process, so `/proc/self/fd` is its descriptor
//! table: the tests of this file take one lock, so that none opens
//! descriptors while another counts them.

mod common;
use common::*;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use percore::test::TestServer;
use percore::web::App;
use percore::{DriverChoice, Limits, Server};

static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

const MIB: usize = 1 << 20;

/// A directory with `one.bin` (1 MiB) and `ten.bin` (10 MiB) of a pattern
/// that never repeats at a 64 KiB period.
struct Fixture {
    root: PathBuf,
}

impl Fixture {
    fn new(name: &str) -> Fixture {
        let root =
            std::env::temp_dir().join(format!("percore-sendfile-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir_all(&root).unwrap();
        for (file, len) in [("one.bin", MIB), ("ten.bin", 10 * MIB)] {
            let data: Vec<u8> = (0..len as u64)
                .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
                .collect();
            std::fs::write(root.join(file), data).unwrap();
        }
        Fixture { root }
    }

    fn serve(&self, driver: DriverChoice, limits: Limits) -> TestServer {
        let root = self.root.clone();
        TestServer::start_server(
            Server::new(move || App::new().static_dir("/static", &root))
                .cores(1)
                .driver(driver)
                .limits(limits),
        )
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.root);
    }
}

fn sha256_of(path: &Path) -> String {
    let out = run(Command::new("sha256sum").arg(path));
    String::from_utf8_lossy(&out.stdout)[..64].to_string()
}

/// curl's answer to `path` with `args`: (status, body's sha256, body length).
fn curl_sha(srv: &TestServer, path: &str, args: &[&str], out: &Path) -> (u16, String, u64) {
    let res = run(Command::new("curl")
        .args(["-s", "-o"])
        .arg(out)
        .args(["-w", "%{http_code}"])
        .args(args)
        .arg(srv.url(path)));
    let status = String::from_utf8_lossy(&res.stdout).parse().unwrap();
    (
        status,
        sha256_of(out),
        std::fs::metadata(out).unwrap().len(),
    )
}

fn fd_count() -> usize {
    std::fs::read_dir("/proc/self/fd").unwrap().count()
}

/// Waits up to 10 s for the descriptor count to come back to `baseline`.
fn fds_return_to(baseline: usize) {
    let until = Instant::now() + Duration::from_secs(10);
    loop {
        let now = fd_count();
        if now <= baseline {
            return;
        }
        assert!(
            Instant::now() < until,
            "descriptors: {now}, baseline {baseline}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

both_drivers!(large_files_byte_exact_ranges_and_head, |d: DriverChoice| {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let fx = Fixture::new(&format!("exact-{d:?}"));
    let srv = fx.serve(d, Limits::default());
    let out = fx.root.join("got");
    for file in ["one.bin", "ten.bin"] {
        let want = sha256_of(&fx.root.join(file));
        let (status, got, len) = curl_sha(&srv, &format!("/static/{file}"), &[], &out);
        assert_eq!(status, 200, "{file}");
        assert_eq!(got, want, "{file}: bytes differ ({len} bytes)");
    }
    let ten = std::fs::read(fx.root.join("ten.bin")).unwrap();
    let sha = |bytes: &[u8]| {
        let p = fx.root.join("want");
        std::fs::write(&p, bytes).unwrap();
        sha256_of(&p)
    };
    // A single range across 64 KiB boundaries, deep in the file.
    let (status, got, len) = curl_sha(&srv, "/static/ten.bin", &["-r", "3000000-3300000"], &out);
    assert_eq!((status, len), (206, 300_001));
    assert_eq!(got, sha(&ten[3_000_000..=3_300_000]));
    // The last bytes.
    let (status, got, len) = curl_sha(&srv, "/static/ten.bin", &["-r", "-500000"], &out);
    assert_eq!((status, len), (206, 500_000));
    assert_eq!(got, sha(&ten[ten.len() - 500_000..]));
    // If-Range with the current validator: the range; with another: all.
    let head = run(Command::new("curl")
        .args(["-s", "-I"])
        .arg(srv.url("/static/ten.bin")));
    let head = String::from_utf8_lossy(&head.stdout).to_ascii_lowercase();
    assert!(
        head.contains(&format!("content-length: {}", 10 * MIB)),
        "{head}"
    );
    let etag = head
        .lines()
        .find_map(|l| l.strip_prefix("etag: "))
        .unwrap()
        .trim()
        .to_string();
    let if_range = format!("If-Range: {etag}");
    let (status, got, _) = curl_sha(
        &srv,
        "/static/ten.bin",
        &["-r", "100-199999", "-H", &if_range],
        &out,
    );
    assert_eq!(status, 206);
    assert_eq!(got, sha(&ten[100..200_000]));
    let (status, got, len) = curl_sha(
        &srv,
        "/static/ten.bin",
        &["-r", "100-199999", "-H", "If-Range: \"stale\""],
        &out,
    );
    assert_eq!((status, len), (200, ten.len() as u64));
    assert_eq!(got, sha(&ten));
    // HEAD has the length and no body; the connection goes on after it
    // (curl reuses it for the GET that follows on the same command line).
    let res = run(Command::new("curl")
        .args(["-s", "-i", "-I"])
        .arg(srv.url("/static/one.bin"))
        .args(["-o", "/dev/null", "-w", "%{num_connects}"])
        .arg(srv.url("/static/one.bin")));
    let printed = String::from_utf8_lossy(&res.stdout).to_ascii_lowercase();
    assert!(printed.contains("content-length: 1048576"), "{printed}");
    // The head ends the HEAD answer (no body bytes after it), and the
    // second transfer made no new connection.
    assert!(printed.ends_with("\r\n\r\n0"), "{printed}");
});

both_drivers!(clients_leaving_mid_file_leak_nothing, |d: DriverChoice| {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let fx = Fixture::new(&format!("leave-{d:?}"));
    let limits = Limits::default().write_timeout(Duration::from_millis(500));
    let srv = fx.serve(d, limits);
    let out = fx.root.join("got");
    let want = sha256_of(&fx.root.join("ten.bin"));
    // Warm up (the blocking pool, the root directory, buffers).
    assert_eq!(curl_sha(&srv, "/static/ten.bin", &[], &out).1, want);
    std::thread::sleep(Duration::from_millis(200));
    let baseline = fd_count();
    let request = b"GET /static/ten.bin HTTP/1.1\r\nHost: x\r\n\r\n";
    // Clients that read a little and close; clients that never read
    // (the server's sendfile waits for room until the write timeout).
    let mut stalled = Vec::new();
    for i in 0..6 {
        let mut s = TcpStream::connect(srv.addr()).unwrap();
        if i % 2 == 0 {
            s.write_all(request).unwrap();
            let mut buf = vec![0u8; 100_000];
            s.read_exact(&mut buf).unwrap();
            assert!(buf.starts_with(b"HTTP/1.1 200"));
            drop(s);
        } else {
            s.write_all(&[&request[..], &request[..]].concat()).unwrap();
            stalled.push(s);
        }
    }
    // Others are served meanwhile, byte-exact.
    assert_eq!(curl_sha(&srv, "/static/ten.bin", &[], &out).1, want);
    // The stalled ones (two pipelined requests: 20 MiB, more than the
    // socket buffers hold) are dropped by the write timeout while
    // still open here: the server's descriptors come back first (the
    // clients' own sockets, open in this process, are counted on top).
    fds_return_to(baseline + stalled.len());
    for mut s in stalled {
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let mut sink = vec![0u8; 1 << 20];
        let mut total = 0usize;
        loop {
            match s.read(&mut sink) {
                Ok(0) | Err(_) => break,
                Ok(n) => total += n,
            }
        }
        assert!(
            total < 20 * MIB,
            "a client that stopped reading got both answers ({total} bytes)"
        );
    }
    assert_eq!(curl_sha(&srv, "/static/one.bin", &[], &out).0, 200);
});

/// A Python client with a small receive buffer reading 10 MiB in 16 KiB
/// reads with pauses: the server waits for room again and again.
const SLOW_READER: &str = r#"
import hashlib, socket, sys, time
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 32768)
s.connect(("127.0.0.1", int(sys.argv[1])))
s.sendall(b"GET /static/ten.bin HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
data = b""
while b"\r\n\r\n" not in data:
    data += s.recv(4096)
head, body = data.split(b"\r\n\r\n", 1)
h = hashlib.sha256(body)
n = len(body)
reads = 0
while True:
    chunk = s.recv(16384)
    if not chunk:
        break
    h.update(chunk)
    n += len(chunk)
    reads += 1
    if reads % 16 == 0:
        time.sleep(0.01)
print(head.split(b"\r\n")[0].decode(), n, h.hexdigest())
"#;

both_drivers!(
    a_slow_reader_gets_everything_in_flat_memory,
    |d: DriverChoice| {
        let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
        let fx = Fixture::new(&format!("slow-{d:?}"));
        let srv = fx.serve(d, Limits::default());
        let out = fx.root.join("got");
        let want = sha256_of(&fx.root.join("ten.bin"));
        assert_eq!(curl_sha(&srv, "/static/ten.bin", &[], &out).1, want);
        let before = rss_kib();
        let mut child = Command::new("python3")
            .args(["-c", SLOW_READER, &srv.addr().port().to_string()])
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut peak = before;
        while child.try_wait().unwrap().is_none() {
            peak = peak.max(rss_kib());
            std::thread::sleep(Duration::from_millis(20));
        }
        let mut stdout = String::new();
        child
            .stdout
            .take()
            .unwrap()
            .read_to_string(&mut stdout)
            .unwrap();
        assert_eq!(
            stdout.trim(),
            format!("HTTP/1.1 200 OK {} {want}", 10 * MIB),
            "the slow reader's answer"
        );
        eprintln!("RSS before {before} KiB, peak {peak} KiB ({d:?})");
        assert!(
            peak < before + 4 * 1024,
            "RSS grew from {before} KiB to {peak} KiB for a slow 10 MiB reader"
        );
    }
);

both_drivers!(
    small_files_pipelined_around_sendfile_answers,
    |d: DriverChoice| {
        // Files from 4 KiB up go out with sendfile too: pipelined answers
        // copied next to their heads (1 KiB, and a 304 or 404 without a
        // body) and sendfile answers (4 KiB, 5000 bytes, a 4 KiB range)
        // interleave on one connection and each arrives whole, in order.
        let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
        let fx = Fixture::new(&format!("small-{d:?}"));
        let pattern = |len: usize, seed: u64| -> Vec<u8> {
            (0..len as u64)
                .map(|i| ((i + seed).wrapping_mul(2_654_435_761) >> 11) as u8)
                .collect()
        };
        let files = [
            ("k1.bin", pattern(1024, 1)),
            ("k4.bin", pattern(4096, 2)),
            ("odd.bin", pattern(5000, 3)),
        ];
        for (name, data) in &files {
            std::fs::write(fx.root.join(name), data).unwrap();
        }
        let srv = fx.serve(d, Limits::default());
        let requests: [(&str, &str, u16, Vec<u8>); 7] = [
            ("/static/k4.bin", "", 200, files[1].1.clone()),
            ("/static/k1.bin", "", 200, files[0].1.clone()),
            ("/static/odd.bin", "", 200, files[2].1.clone()),
            ("/static/missing.bin", "", 404, Vec::new()),
            (
                "/static/ten.bin",
                "range: bytes=8192-12287\r\n",
                206,
                std::fs::read(fx.root.join("ten.bin")).unwrap()[8192..12288].to_vec(),
            ),
            ("/static/k4.bin", "", 200, files[1].1.clone()),
            ("/static/k1.bin", "", 200, files[0].1.clone()),
        ];
        let mut wire = String::new();
        for (path, extra, _, _) in &requests {
            wire.push_str(&format!("GET {path} HTTP/1.1\r\nhost: x\r\n{extra}\r\n"));
        }
        let mut sock = TcpStream::connect(srv.addr()).unwrap();
        sock.set_read_timeout(Some(Duration::from_secs(20)))
            .unwrap();
        sock.write_all(wire.as_bytes()).unwrap();
        let mut got = Vec::new();
        let mut buf = [0u8; 16384];
        for (i, (path, _, status, body)) in requests.iter().enumerate() {
            // One response: its head, then exactly content-length bytes.
            let head_end = loop {
                if let Some(at) = got.windows(4).position(|w| w == b"\r\n\r\n") {
                    break at + 4;
                }
                let n = sock.read(&mut buf).unwrap();
                assert!(n > 0, "closed before answer {i} ({path})");
                got.extend_from_slice(&buf[..n]);
            };
            let head = String::from_utf8_lossy(&got[..head_end]).to_ascii_lowercase();
            assert!(
                head.starts_with(&format!("http/1.1 {status} ")),
                "{i} {path}: {head}"
            );
            let len: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length: "))
                .map_or(0, |v| v.trim().parse().unwrap());
            if *status != 404 {
                assert_eq!(len, body.len(), "{i} {path}: {head}");
            }
            while got.len() < head_end + len {
                let n = sock.read(&mut buf).unwrap();
                assert!(n > 0, "closed inside answer {i} ({path})");
                got.extend_from_slice(&buf[..n]);
            }
            if *status != 404 {
                assert!(
                    got[head_end..head_end + len] == body[..],
                    "{i} {path}: body differs"
                );
            }
            got.drain(..head_end + len);
        }
        assert!(got.is_empty(), "{} bytes after the last answer", got.len());
    }
);
