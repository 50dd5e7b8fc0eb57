//! Static files (`App::static_dir`, `App::static_file`) against curl and raw
//! sockets, on both drivers: types, validators, HEAD, conditionals, ranges
//! (single, multipart, unsatisfiable, If-Range), precompressed siblings,
//! index files, listings, a table of traversal attempts (encoded, double
//! encoded, symlink escapes), and a 1 GiB file streamed in flat memory.

mod common;
use common::*;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use percore::test::TestServer;
use percore::web::{App, StaticDir};
use percore::{DriverChoice, Server};

/// What no answer may ever contain: the file beside the root.
const SECRET: &str = "TOP-SECRET-OUTSIDE-THE-ROOT";

/// A fixture: `base/root` is served, `base/secret.txt` lies outside it.
struct Fixture {
    base: PathBuf,
    root: PathBuf,
    /// `data.bin`: 200 000 bytes of a pattern (crosses 64 KiB reads).
    data: Vec<u8>,
    css: Vec<u8>,
}

impl Fixture {
    fn new(name: &str) -> Fixture {
        static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let base =
            std::env::temp_dir().join(format!("percore-static-{}-{n}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&base);
        let root = base.join("root");
        for dir in ["sub", "empty", "list/inner"] {
            std::fs::create_dir_all(root.join(dir)).unwrap();
        }
        std::fs::write(base.join("secret.txt"), SECRET).unwrap();
        std::fs::write(root.join("hello.txt"), "hello, static world\n").unwrap();
        let data: Vec<u8> = (0..200_000u32).map(|i| (i * 31 % 253) as u8).collect();
        std::fs::write(root.join("data.bin"), &data).unwrap();
        let css = "body { color: teal; }\n".repeat(50).into_bytes();
        std::fs::write(root.join("style.css"), &css).unwrap();
        let gz = run(Command::new("gzip")
            .args(["-c", "-n"])
            .arg(root.join("style.css")));
        std::fs::write(root.join("style.css.gz"), &gz.stdout).unwrap();
        std::fs::write(root.join("style.css.br"), b"pretend-brotli-bytes").unwrap();
        std::fs::write(root.join("sub/index.html"), "<p>sub index</p>").unwrap();
        std::fs::write(root.join("list/<i>x&'\".txt"), "x").unwrap();
        std::fs::write(root.join("list/plain.txt"), "p").unwrap();
        symlink(base.join("secret.txt"), root.join("out")).unwrap();
        symlink(base.join("secret.txt"), root.join("list/out-link")).unwrap();
        symlink("..", root.join("updir")).unwrap();
        symlink("hello.txt", root.join("in")).unwrap();
        symlink("sub", root.join("subdir-link")).unwrap();
        // An absolute target is refused even when it lies inside the root.
        symlink(root.join("hello.txt"), root.join("in-abs")).unwrap();
        Fixture {
            base,
            root,
            data,
            css,
        }
    }

    /// A server on one core serving this fixture under several options.
    fn serve(&self, driver: DriverChoice) -> TestServer {
        let root = self.root.clone();
        TestServer::start_server(Server::new(move || app(&root)).cores(1).driver(driver))
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.base);
    }
}

fn app(root: &Path) -> App {
    App::new()
        .static_dir("/static", root)
        .static_dir("/linked", StaticDir::new(root).follow_symlinks(true))
        .static_dir("/idx", StaticDir::new(root).index_file("index.html"))
        .static_dir("/list", StaticDir::new(root.join("list")).listing(true))
        .static_dir("/pre", StaticDir::new(root).precompressed(true))
        .static_file("/one", root.join("hello.txt"))
        .static_file("/one-link", root.join("in"))
        .static_file("/one-dir", root.join("sub"))
}

/// An answer: status, lower-cased header names with their values, body.
struct Answer {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Answer {
    fn parse(raw: &[u8]) -> Answer {
        let end = raw
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .unwrap_or_else(|| panic!("no head end in {:?}", String::from_utf8_lossy(raw)));
        let head = String::from_utf8_lossy(&raw[..end]).into_owned();
        let mut lines = head.split("\r\n");
        let status = lines
            .next()
            .unwrap()
            .split(' ')
            .nth(1)
            .unwrap()
            .parse()
            .unwrap();
        let headers = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
            .collect();
        Answer {
            status,
            headers,
            body: raw[end + 4..].to_vec(),
        }
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// curl with `args`, printing the last answer's head (`-i`).
fn curl(srv: &TestServer, path: &str, args: &[&str]) -> Answer {
    let out = run(Command::new("curl")
        .args(["-s", "-i", "--path-as-is"])
        .args(args)
        .arg(srv.url(path)));
    Answer::parse(&out.stdout)
}

/// One raw HTTP/1.1 request with extra header lines; reads to the close.
fn raw(addr: SocketAddr, method: &str, target: &[u8], extra: &str) -> Answer {
    let mut req = Vec::new();
    req.extend_from_slice(method.as_bytes());
    req.push(b' ');
    req.extend_from_slice(target);
    req.extend_from_slice(
        format!(" HTTP/1.1\r\nHost: x\r\n{extra}Connection: close\r\n\r\n").as_bytes(),
    );
    Answer::parse(&raw_exchange(addr, &req, Duration::from_secs(5)))
}

both_drivers!(get_and_head_with_type_and_validators, |d: DriverChoice| {
    let fx = Fixture::new("get");
    let srv = fx.serve(d);
    let a = curl(&srv, "/static/hello.txt", &[]);
    assert_eq!(a.status, 200);
    assert_eq!(a.text(), "hello, static world\n");
    assert_eq!(a.header("content-type"), Some("text/plain; charset=utf-8"));
    assert_eq!(a.header("content-length"), Some("20"));
    assert_eq!(a.header("accept-ranges"), Some("bytes"));
    let etag = a.header("etag").unwrap();
    assert!(etag.starts_with("\"14-") && etag.ends_with('"'), "{etag}");
    let modified = std::fs::metadata(fx.root.join("hello.txt"))
        .unwrap()
        .modified()
        .unwrap();
    assert_eq!(
        a.header("last-modified").unwrap(),
        httpdate::fmt_http_date(modified)
    );
    assert_eq!(a.header("vary"), None);

    let css = curl(&srv, "/static/style.css", &[]);
    assert_eq!(css.header("content-type"), Some("text/css; charset=utf-8"));
    assert_eq!(css.body, fx.css);
    let bin = curl(&srv, "/static/data.bin", &[]);
    assert_eq!(bin.header("content-type"), Some("application/octet-stream"));
    assert_eq!(bin.body, fx.data);

    let head = curl(&srv, "/static/data.bin", &["-I"]);
    assert_eq!(head.status, 200);
    assert_eq!(head.header("content-length"), Some("200000"));
    assert_eq!(head.header("etag"), bin.header("etag"));
    assert!(head.body.is_empty());
    // Nothing after the head on the wire either.
    let head = raw(
        srv.addr(),
        "HEAD",
        b"/static/hello.txt",
        "Range: bytes=0-1\r\n",
    );
    assert_eq!(head.status, 200, "HEAD ignores Range");
    assert_eq!(head.header("content-length"), Some("20"));
    assert!(head.body.is_empty());

    let one = curl(&srv, "/one", &[]);
    assert_eq!(
        (one.status, one.text().as_str()),
        (200, "hello, static world\n")
    );
    assert_eq!(
        curl(&srv, "/one", &["-I"]).header("content-length"),
        Some("20")
    );
    let post = curl(&srv, "/static/hello.txt", &["-X", "POST"]);
    assert_eq!(post.status, 405);
    assert_eq!(curl(&srv, "/static/missing.txt", &[]).status, 404);
});

both_drivers!(conditional_requests, |d: DriverChoice| {
    let fx = Fixture::new("cond");
    let srv = fx.serve(d);
    let first = curl(&srv, "/static/hello.txt", &[]);
    let etag = first.header("etag").unwrap().to_string();
    let modified = first.header("last-modified").unwrap().to_string();

    let inm = format!("If-None-Match: {etag}");
    let a = curl(&srv, "/static/hello.txt", &["-H", &inm]);
    assert_eq!(a.status, 304);
    assert!(a.body.is_empty());
    assert_eq!(a.header("etag"), Some(etag.as_str()));
    assert_eq!(a.header("content-length"), None);
    let a = curl(
        &srv,
        "/static/hello.txt",
        &["-H", "If-None-Match: \"stale\", W/\"x\""],
    );
    assert_eq!(a.status, 200);
    // curl -z sends If-Modified-Since.
    let a = curl(&srv, "/static/hello.txt", &["-z", &modified]);
    assert_eq!(a.status, 304);
    let a = curl(
        &srv,
        "/static/hello.txt",
        &["-z", "Sun, 06 Nov 1994 08:49:37 GMT"],
    );
    assert_eq!(a.status, 200);
    // A stale tag beats a current date.
    let a = curl(
        &srv,
        "/static/hello.txt",
        &["-H", "If-None-Match: \"stale\"", "-z", &modified],
    );
    assert_eq!(a.status, 200);
    let a = curl(&srv, "/static/hello.txt", &["-H", "If-Match: \"other\""]);
    assert_eq!(a.status, 412);
    let im = format!("If-Match: {etag}");
    assert_eq!(curl(&srv, "/static/hello.txt", &["-H", &im]).status, 200);

    // If-Range: the range applies only while the validator matches.
    let ir = format!("If-Range: {etag}");
    let a = curl(&srv, "/static/hello.txt", &["-r", "0-4", "-H", &ir]);
    assert_eq!((a.status, a.text().as_str()), (206, "hello"));
    let a = curl(
        &srv,
        "/static/hello.txt",
        &["-r", "0-4", "-H", "If-Range: \"old\""],
    );
    assert_eq!(
        (a.status, a.text().as_str()),
        (200, "hello, static world\n")
    );
    let ir_date = format!("If-Range: {modified}");
    assert_eq!(
        curl(&srv, "/static/hello.txt", &["-r", "0-4", "-H", &ir_date]).status,
        206
    );

    // Touching the file changes its validators.
    std::thread::sleep(Duration::from_millis(20));
    std::fs::write(fx.root.join("hello.txt"), "hello, static world\n").unwrap();
    assert_eq!(curl(&srv, "/static/hello.txt", &["-H", &inm]).status, 200);
});

/// The parts of a `multipart/byteranges` body: (Content-Range, data).
fn parts(a: &Answer) -> Vec<(String, Vec<u8>)> {
    let kind = a.header("content-type").unwrap();
    let boundary = kind
        .strip_prefix("multipart/byteranges; boundary=")
        .unwrap_or_else(|| panic!("{kind}"));
    let delimiter = format!("--{boundary}");
    let body = &a.body;
    let find = |from: usize, what: &[u8]| {
        body[from..]
            .windows(what.len())
            .position(|w| w == what)
            .map(|p| p + from)
    };
    let mut out = Vec::new();
    let mut at = find(0, delimiter.as_bytes()).unwrap();
    assert_eq!(at, 0, "the body starts with the first delimiter");
    loop {
        at += delimiter.len();
        if body[at..].starts_with(b"--\r\n") {
            assert_eq!(at + 4, body.len(), "nothing after the close delimiter");
            return out;
        }
        let head_end = find(at, b"\r\n\r\n").unwrap();
        let head = String::from_utf8_lossy(&body[at..head_end]).to_ascii_lowercase();
        let range = head
            .lines()
            .find_map(|l| l.strip_prefix("content-range: "))
            .unwrap()
            .to_string();
        let next = find(head_end, format!("\r\n{delimiter}").as_bytes()).unwrap();
        out.push((range, body[head_end + 4..next].to_vec()));
        at = next + 2;
    }
}

both_drivers!(ranges_single_multiple_unsatisfiable, |d: DriverChoice| {
    let fx = Fixture::new("ranges");
    let srv = fx.serve(d);
    let a = curl(&srv, "/static/data.bin", &["-r", "65530-65545"]);
    assert_eq!(a.status, 206);
    assert_eq!(a.header("content-range"), Some("bytes 65530-65545/200000"));
    assert_eq!(a.header("content-length"), Some("16"));
    assert_eq!(a.body, fx.data[65530..=65545]);
    let a = curl(&srv, "/static/data.bin", &["-r", "-100"]);
    assert_eq!(a.body, fx.data[199_900..]);
    let a = curl(&srv, "/static/data.bin", &["-r", "199990-"]);
    assert_eq!(
        a.header("content-range"),
        Some("bytes 199990-199999/200000")
    );

    let a = curl(&srv, "/static/data.bin", &["-r", "0-9,100000-100009,-5"]);
    assert_eq!(a.status, 206);
    assert_eq!(
        a.header("content-length").unwrap(),
        a.body.len().to_string()
    );
    let got = parts(&a);
    assert_eq!(
        got,
        vec![
            ("bytes 0-9/200000".to_string(), fx.data[..10].to_vec()),
            (
                "bytes 100000-100009/200000".to_string(),
                fx.data[100_000..100_010].to_vec()
            ),
            (
                "bytes 199995-199999/200000".to_string(),
                fx.data[199_995..].to_vec()
            ),
        ]
    );
    // Overlapping ranges merge: the file is never sent twice.
    let a = curl(&srv, "/static/data.bin", &["-r", "0-,0-,0-,10-20"]);
    assert_eq!((a.status, a.body.len()), (206, 200_000));
    assert_eq!(a.header("content-range"), Some("bytes 0-199999/200000"));
    // Thousands of ranges: ignored, the file once.
    let many: Vec<String> = (0..2000).map(|i| format!("{}-{}", i * 2, i * 2)).collect();
    let header = format!("Range: bytes={}", many.join(","));
    let a = raw(
        srv.addr(),
        "GET",
        b"/static/data.bin",
        &format!("{header}\r\n"),
    );
    assert_eq!((a.status, a.body.len()), (200, 200_000));

    let a = curl(&srv, "/static/data.bin", &["-r", "200000-"]);
    assert_eq!(a.status, 416);
    assert_eq!(a.header("content-range"), Some("bytes */200000"));
    assert!(a.body.is_empty());
    // Malformed: ignored.
    for bad in [
        "bytes=5-2",
        "bytes=abc",
        "pages=1-2",
        "bytes=99999999999999999999999-",
    ] {
        let a = raw(
            srv.addr(),
            "GET",
            b"/static/hello.txt",
            &format!("Range: {bad}\r\n"),
        );
        assert_eq!(
            (a.status, a.text().as_str()),
            (200, "hello, static world\n"),
            "{bad}"
        );
    }
});

both_drivers!(ranges_over_http2, |d: DriverChoice| {
    let fx = Fixture::new("h2");
    let srv = fx.serve(d);
    let a = curl(
        &srv,
        "/static/data.bin",
        &["--http2-prior-knowledge", "-r", "70000-70009"],
    );
    assert_eq!(a.status, 206);
    assert_eq!(a.body, fx.data[70_000..70_010]);
    let a = curl(
        &srv,
        "/static/data.bin",
        &["--http2-prior-knowledge", "-r", "1-2,150000-150001"],
    );
    assert_eq!(a.status, 206);
    let got = parts(&a);
    assert_eq!(
        got[1],
        (
            "bytes 150000-150001/200000".to_string(),
            fx.data[150_000..150_002].to_vec()
        )
    );
    let a = curl(&srv, "/static/data.bin", &["--http2-prior-knowledge"]);
    assert_eq!(a.body, fx.data);
    let a = curl(&srv, "/static/data.bin", &["--http2-prior-knowledge", "-I"]);
    assert_eq!(
        (a.status, a.header("content-length")),
        (200, Some("200000"))
    );
});

both_drivers!(
    precompressed_siblings_by_accept_encoding,
    |d: DriverChoice| {
        let fx = Fixture::new("pre");
        let srv = fx.serve(d);
        // curl decodes what it asked for: gzip here (the .gz is real).
        let a = curl(&srv, "/pre/style.css", &["-H", "Accept-Encoding: gzip"]);
        assert_eq!(a.header("content-encoding"), Some("gzip"));
        assert_eq!(a.header("vary"), Some("accept-encoding"));
        assert_eq!(a.header("content-type"), Some("text/css; charset=utf-8"));
        assert_eq!(a.body, std::fs::read(fx.root.join("style.css.gz")).unwrap());
        let decoded = curl(
            &srv,
            "/pre/style.css",
            &["--compressed", "-H", "Accept-Encoding: gzip"],
        );
        assert_eq!(decoded.body, fx.css);
        // br preferred when both are acceptable.
        let a = raw(
            srv.addr(),
            "GET",
            b"/pre/style.css",
            "Accept-Encoding: gzip, br\r\n",
        );
        assert_eq!(a.header("content-encoding"), Some("br"));
        assert_eq!(a.body, b"pretend-brotli-bytes");
        let br_etag = a.header("etag").unwrap().to_string();
        let a = raw(
            srv.addr(),
            "GET",
            b"/pre/style.css",
            "Accept-Encoding: br;q=0.1, gzip\r\n",
        );
        assert_eq!(a.header("content-encoding"), Some("gzip"));
        assert_ne!(a.header("etag").unwrap(), br_etag);
        // None acceptable, or none there: the file itself, still with Vary.
        let a = raw(
            srv.addr(),
            "GET",
            b"/pre/style.css",
            "Accept-Encoding: identity\r\n",
        );
        assert_eq!(
            (a.header("content-encoding"), a.header("vary")),
            (None, Some("accept-encoding"))
        );
        assert_eq!(a.body, fx.css);
        let a = raw(
            srv.addr(),
            "GET",
            b"/pre/hello.txt",
            "Accept-Encoding: br, gzip\r\n",
        );
        assert_eq!(a.header("content-encoding"), None);
        assert_eq!(a.text(), "hello, static world\n");
        // Off by default.
        let a = raw(
            srv.addr(),
            "GET",
            b"/static/style.css",
            "Accept-Encoding: gzip, br\r\n",
        );
        assert_eq!(
            (a.header("content-encoding"), a.header("vary")),
            (None, None)
        );
        // Ranges apply to the coded bytes.
        let a = raw(
            srv.addr(),
            "GET",
            b"/pre/style.css",
            "Accept-Encoding: br\r\nRange: bytes=0-6\r\n",
        );
        assert_eq!((a.status, a.text().as_str()), (206, "pretend"));
    }
);

both_drivers!(index_files_listings_and_redirects, |d: DriverChoice| {
    let fx = Fixture::new("index");
    let srv = fx.serve(d);
    let a = curl(&srv, "/idx/sub/", &[]);
    assert_eq!((a.status, a.text().as_str()), (200, "<p>sub index</p>"));
    assert_eq!(a.header("content-type"), Some("text/html; charset=utf-8"));
    let a = curl(&srv, "/idx/sub?x=1", &[]);
    assert_eq!(
        (a.status, a.header("location")),
        (301, Some("/idx/sub/?x=1"))
    );
    let followed = run(Command::new("curl").args(["-s", "-L", &srv.url("/idx/sub")]));
    assert_eq!(stdout(&followed), "<p>sub index</p>");
    // No index, no listing: 404.
    assert_eq!(curl(&srv, "/idx/empty/", &[]).status, 404);
    assert_eq!(curl(&srv, "/static/sub/", &[]).status, 404);
    assert_eq!(curl(&srv, "/static/", &[]).status, 404);
    assert_eq!(curl(&srv, "/static/hello.txt/", &[]).status, 404);

    let a = curl(&srv, "/list/", &[]);
    assert_eq!(a.status, 200);
    let page = a.text();
    assert!(page.contains("&lt;i&gt;x&amp;&#39;&quot;.txt"), "{page}");
    assert!(page.contains("href=\"%3Ci%3Ex%26%27%22.txt\""), "{page}");
    assert!(!page.contains("<i>"), "{page}");
    assert!(page.contains("<a href=\"inner/\">inner/</a>"), "{page}");
    assert!(page.contains("plain.txt"));
    assert!(
        !page.contains("out-link"),
        "links are not listed unless followed: {page}"
    );
    // The listed (encoded) link leads to the file.
    let a = curl(&srv, "/list/%3Ci%3Ex%26%27%22.txt", &[]);
    assert_eq!((a.status, a.text().as_str()), (200, "x"));
    let a = curl(&srv, "/list/plain.txt", &[]);
    assert_eq!(a.text(), "p");
});

/// Requests that try to leave the root: all must be refused with 404, none
/// may show the secret.
const ESCAPES: &[&[u8]] = &[
    b"/static/../secret.txt",
    b"/static/../root/hello.txt",
    b"/static/./hello.txt",
    b"/static/sub/../../secret.txt",
    b"/static/%2e%2e/secret.txt",
    b"/static/%2E%2E/secret.txt",
    b"/static/.%2e/secret.txt",
    b"/static/%2e./secret.txt",
    b"/static/..%2fsecret.txt",
    b"/static/..%2Fsecret.txt",
    b"/static/%2e%2e%2fsecret.txt",
    b"/static/sub%2f..%2f..%2fsecret.txt",
    b"/static/..%5csecret.txt",
    b"/static/..%5Csecret.txt",
    b"/static/..\\secret.txt",
    b"/static/sub\\..\\..\\secret.txt",
    b"/static/%252e%252e/secret.txt",
    b"/static/%252e%252e%252fsecret.txt",
    b"/static/%25%32%65%25%32%65/secret.txt",
    b"/static/%c0%ae%c0%ae/secret.txt",
    b"/static/%c0%ae%c0%ae%c0%afsecret.txt",
    b"/static/%e0%80%ae%e0%80%ae/secret.txt",
    b"/static/%c0%2e%c0%2e/secret.txt",
    b"/static//etc/passwd",
    b"/static/%2fetc%2fpasswd",
    b"/static/%2Fetc/passwd",
    b"/static///etc/passwd",
    b"/static/hello.txt%00.png",
    b"/static/%00",
    b"/static/updir/secret.txt",
    b"/static/out",
    b"/static/in",
    b"/static/subdir-link/index.html",
    b"/linked/out",
    b"/linked/in-abs",
    b"/linked/updir/secret.txt",
    b"/linked/../secret.txt",
    b"/linked/%2e%2e/secret.txt",
    b"/idx/../secret.txt",
    b"/list/../secret.txt",
    b"/list/out-link",
    b"/pre/../secret.txt",
    b"/pre/%2e%2e/secret.txt",
    b"http://x/static/../secret.txt",
    b"http://x/static/%2e%2e/secret.txt",
];

both_drivers!(traversal_attempts_are_refused, |d: DriverChoice| {
    let fx = Fixture::new("traversal");
    let srv = fx.serve(d);
    for target in ESCAPES {
        let shown = String::from_utf8_lossy(target);
        for method in ["GET", "HEAD"] {
            let a = raw(srv.addr(), method, target, "Accept-Encoding: gzip, br\r\n");
            assert_eq!(a.status, 404, "{method} {shown}: {}", a.text());
            assert!(
                !a.text().contains(SECRET),
                "{method} {shown} leaked the secret"
            );
        }
        // curl too (it sends the path as written).
        if target.starts_with(b"/") {
            let a = curl(&srv, &shown, &[]);
            assert_eq!(a.status, 404, "curl {shown}");
        }
    }
    // Symlinks inside the root: only where enabled.
    let a = curl(&srv, "/linked/in", &[]);
    assert_eq!(
        (a.status, a.text().as_str()),
        (200, "hello, static world\n")
    );
    assert_eq!(
        curl(&srv, "/linked/subdir-link/index.html", &[]).status,
        200
    );
    // A name that only looks encoded is an ordinary (missing) file.
    std::fs::write(fx.root.join("%2e%2e"), "literal").unwrap();
    let a = curl(&srv, "/static/%252e%252e", &[]);
    assert_eq!((a.status, a.text().as_str()), (200, "literal"));
});

/// This process's resident set, in KiB.
fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

both_drivers!(a_1_gib_file_streams_in_flat_memory, |d: DriverChoice| {
    const GIB: u64 = 1 << 30;
    let fx = Fixture::new("huge");
    let file = std::fs::File::create(fx.root.join("huge.bin")).unwrap();
    file.set_len(GIB).unwrap(); // sparse: no disk used
    drop(file);
    let srv = fx.serve(d);
    // Warm up: the server's buffers and pools exist before the baseline.
    assert_eq!(curl(&srv, "/static/data.bin", &[]).body.len(), 200_000);
    let before = rss_kib();
    let mut s = TcpStream::connect(srv.addr()).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    s.write_all(b"GET /static/huge.bin HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut buf = vec![0u8; 256 * 1024];
    let mut head = Vec::new();
    let mut body = 0u64;
    let mut peak = before;
    let mut next_sample = 0u64;
    loop {
        let n = s.read(&mut buf).unwrap();
        if n == 0 {
            break;
        }
        let mut chunk = &buf[..n];
        if head.len() < 4 || !head.ends_with(b"\r\n\r\n") {
            let end = chunk
                .windows(4)
                .position(|w| w == b"\r\n\r\n")
                .map(|p| p + 4);
            match end {
                Some(e) if head.is_empty() => {
                    head.extend_from_slice(&chunk[..e]);
                    chunk = &chunk[e..];
                }
                _ => panic!("head split across reads is not expected here"),
            }
        }
        assert!(
            chunk.iter().all(|&b| b == 0),
            "a sparse file reads as zeros"
        );
        body += chunk.len() as u64;
        if body >= next_sample {
            peak = peak.max(rss_kib());
            next_sample += 64 << 20;
        }
    }
    let head = String::from_utf8_lossy(&head).to_ascii_lowercase();
    assert!(head.starts_with("http/1.1 200"), "{head}");
    assert!(head.contains(&format!("content-length: {GIB}")), "{head}");
    assert_eq!(body, GIB);
    let after = rss_kib();
    peak = peak.max(after);
    eprintln!("RSS before {before} KiB, peak {peak} KiB, after {after} KiB ({d:?})");
    assert!(
        peak < before + 64 * 1024,
        "RSS grew from {before} KiB to {peak} KiB while streaming 1 GiB"
    );
});

// A symbolic link that appears after the server started (and after the
// file was served once, so the root is open and the path known): a
// directory on the way, or the file itself, replaced by a link out of the
// root. The open is the check (openat2 below the root's descriptor), so it
// is refused where links are off and where they are followed: 404, and
// the outside file's bytes never reach the answer.
both_drivers!(
    a_link_swapped_in_after_start_is_refused,
    |d: DriverChoice| {
        let fx = Fixture::new("swap");
        let outside = fx.base.join("outside");
        std::fs::create_dir_all(&outside).unwrap();
        std::fs::write(outside.join("index.html"), SECRET).unwrap();
        std::fs::write(outside.join("hello.txt"), SECRET).unwrap();
        let srv = fx.serve(d);
        for path in [
            "/static/sub/index.html",
            "/linked/sub/index.html",
            "/static/hello.txt",
        ] {
            assert_eq!(curl(&srv, path, &[]).status, 200, "{path}");
        }
        std::fs::rename(fx.root.join("sub"), fx.base.join("sub-was")).unwrap();
        symlink(&outside, fx.root.join("sub")).unwrap();
        std::fs::rename(fx.root.join("hello.txt"), fx.base.join("hello-was")).unwrap();
        symlink("../outside/hello.txt", fx.root.join("hello.txt")).unwrap();
        for path in [
            "/static/sub/index.html",
            "/linked/sub/index.html",
            "/idx/sub/",
            "/pre/sub/index.html",
            "/static/hello.txt",
            "/linked/hello.txt",
        ] {
            for method in ["GET", "HEAD"] {
                let a = raw(srv.addr(), method, path.as_bytes(), "");
                assert_eq!(a.status, 404, "{method} {path}: {}", a.text());
                assert!(!a.text().contains(SECRET), "{method} {path} leaked");
            }
        }
        // The same link, relative and inside the root, is followed where enabled.
        std::fs::remove_file(fx.root.join("sub")).unwrap();
        std::fs::rename(fx.base.join("sub-was"), fx.root.join("sub-real")).unwrap();
        symlink("sub-real", fx.root.join("sub")).unwrap();
        assert_eq!(curl(&srv, "/linked/sub/index.html", &[]).status, 200);
        assert_eq!(curl(&srv, "/static/sub/index.html", &[]).status, 404);
    }
);

// The race itself: while requests come in, another thread keeps swapping
// a directory of the root for a link to a directory outside it and back.
// A resolver that checks a path and then opens it by name can be caught
// between the two (the check sees the directory, the open follows the
// link); one that opens below the root's descriptor cannot. Every answer
// is the inside file or a 404, never the outside one.
both_drivers!(
    a_directory_swapped_for_a_link_mid_request_never_leaks,
    |d: DriverChoice| {
        let fx = Fixture::new("race");
        let outside = fx.base.join("outside");
        std::fs::create_dir_all(&outside).unwrap();
        std::fs::write(outside.join("index.html"), SECRET).unwrap();
        let srv = fx.serve(d);
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let swapper = {
            let (root, base, stop) = (fx.root.clone(), fx.base.clone(), stop.clone());
            std::thread::spawn(move || {
                let (dir, held, link) =
                    (root.join("sub"), base.join("sub-held"), base.join("link"));
                symlink(&outside, &link).unwrap();
                let mut swaps = 0u64;
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    std::fs::rename(&dir, &held).unwrap();
                    std::fs::rename(&link, &dir).unwrap(); // sub is now a link out
                    std::fs::rename(&dir, &link).unwrap();
                    std::fs::rename(&held, &dir).unwrap(); // sub is a directory again
                    swaps += 1;
                }
                swaps
            })
        };
        let (mut served, mut refused) = (0, 0);
        let until = std::time::Instant::now() + Duration::from_secs(2);
        while std::time::Instant::now() < until {
            for path in ["/static/sub/index.html", "/linked/sub/index.html"] {
                let a = raw(srv.addr(), "GET", path.as_bytes(), "");
                assert!(!a.text().contains(SECRET), "{path} leaked the outside file");
                match a.status {
                    200 => served += 1,
                    404 => refused += 1,
                    other => panic!("{path}: {other}"),
                }
            }
        }
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        let swaps = swapper.join().unwrap();
        assert!(
            swaps > 100 && served > 0 && refused > 0,
            "{swaps} swaps, {served} served, {refused} refused"
        );
    }
);
