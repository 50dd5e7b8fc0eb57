//! The production kit's middleware (compression, CORS, request ids, the
//! access log, metrics): in memory through `App::oneshot`, and over sockets
//! on both drivers with curl, Python httpx and prometheus_client.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use percore::http::Body;
use percore::rt::Runtime;
use percore::test::{get, request, TestServer};
use percore::web::{
    self, AccessLog, App, Compression, Cors, IntoResponse, Method, Metrics, Request, RequestId,
    RequestIds, Response, StatusCode,
};
use percore::{DriverChoice, Server};

#[macro_use]
#[path = "common/mod.rs"]
mod common;

fn run<T>(f: impl std::future::Future<Output = T>) -> T {
    Runtime::new().unwrap().block_on(f)
}

async fn bytes(resp: Response) -> Vec<u8> {
    resp.into_body().collect().await.unwrap().to_vec()
}

fn header<'a>(resp: &'a Response, name: &str) -> Option<&'a str> {
    resp.headers().get(name).map(|v| v.to_str().unwrap())
}

/// Text that compresses well, `n` bytes long.
fn text_of(n: usize) -> String {
    "percore compresses answers; ".repeat(n / 28 + 1)[..n].to_string()
}

fn gunzip(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(data)
        .read_to_end(&mut out)
        .unwrap();
    out
}

fn unbrotli(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    brotli::Decompressor::new(data, 4096)
        .read_to_end(&mut out)
        .unwrap();
    out
}

/// Routes exercising the compression rules.
fn compress_app(cfg: Compression) -> App {
    fn typed(ct: &'static str, body: String) -> Response {
        let mut r = body.into_response();
        r.headers_mut().insert("content-type", ct.parse().unwrap());
        r
    }
    App::new()
        .plugin(cfg)
        .route("/text", web::get(|_r: Request| async { text_of(5000) }))
        .route("/big", web::get(|_r: Request| async { text_of(300_000) }))
        .route("/small", web::get(|_r: Request| async { text_of(100) }))
        .route(
            "/png",
            web::get(|_r: Request| async { typed("image/png", text_of(5000)) }),
        )
        .route(
            "/svg",
            web::get(|_r: Request| async { typed("image/svg+xml", text_of(5000)) }),
        )
        .route(
            "/encoded",
            web::get(|_r: Request| async {
                let mut r = text_of(5000).into_response();
                r.headers_mut()
                    .insert("content-encoding", "identity".parse().unwrap());
                r
            }),
        )
        .route(
            "/no-transform",
            web::get(|_r: Request| async {
                let mut r = text_of(5000).into_response();
                r.headers_mut()
                    .insert("cache-control", "public, no-transform".parse().unwrap());
                r
            }),
        )
        .route(
            "/untyped",
            web::get(|_r: Request| async { Response::new(Body::from(text_of(5000))) }),
        )
        .route(
            "/status/{code}",
            web::get(|req: Request| async move {
                let code: u16 = req.param("code").unwrap().parse().unwrap();
                let mut r = text_of(5000).into_response();
                *r.status_mut() = StatusCode::from_u16(code).unwrap();
                if code == 206 {
                    r.headers_mut()
                        .insert("content-range", "bytes 0-4999/9000".parse().unwrap());
                }
                r
            }),
        )
        .route(
            "/tagged",
            web::get(|_r: Request| async {
                let mut r = text_of(5000).into_response();
                r.headers_mut().insert("etag", "\"v1\"".parse().unwrap());
                r.headers_mut()
                    .insert("content-length", "5000".parse().unwrap());
                r
            }),
        )
        .route("/stream", web::get(stream_slowly))
}

/// Wait for this flag before the stream's last part (the socket test
/// raises it once it has read the first part).
static RELEASE: AtomicBool = AtomicBool::new(false);
/// Held by the tests that set RELEASE.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

/// A chunked body: a first part at once, the rest once released.
async fn stream_slowly(_req: Request) -> Response {
    let (tx, body) = Body::channel(4);
    percore::rt::spawn_local(async move {
        tx.send(text_of(2000)).await.unwrap();
        for _ in 0..3000 {
            if RELEASE.load(Ordering::SeqCst) {
                break;
            }
            percore::rt::time::sleep(Duration::from_millis(10)).await;
        }
        tx.send("the end").await.unwrap();
    });
    let mut r = body.into_response();
    r.headers_mut()
        .insert("content-type", "text/plain".parse().unwrap());
    r
}

async fn fetch(app: &App, path: &str, accept: &str) -> Response {
    let mut req = get(path);
    if !accept.is_empty() {
        req = req.header("accept-encoding", accept);
    }
    app.oneshot(req.empty()).await
}

#[test]
fn gzip_and_brotli_round_trip_chosen_by_q_values() {
    let app = compress_app(Compression::new());
    run(async {
        for (accept, coding) in [
            ("gzip", Some("gzip")),
            ("br", Some("br")),
            ("gzip, deflate, br", Some("br")),
            ("br;q=0.5, gzip", Some("gzip")),
            ("br;q=0, *;q=0.3", Some("gzip")),
            ("identity", None),
            ("", None),
        ] {
            let resp = fetch(&app, "/text", accept).await;
            assert_eq!(resp.status(), 200);
            assert_eq!(header(&resp, "content-encoding"), coding, "{accept}");
            assert_eq!(header(&resp, "vary"), Some("accept-encoding"), "{accept}");
            let body = bytes(resp).await;
            let plain = match coding {
                Some("gzip") => gunzip(&body),
                Some("br") => unbrotli(&body),
                _ => body.clone(),
            };
            assert_eq!(plain, text_of(5000).as_bytes(), "{accept}");
            if coding.is_some() {
                assert!(body.len() < 1000, "{accept}: {} bytes", body.len());
            }
        }
    });
}

#[test]
fn bodies_are_compressed_whole_only_when_small() {
    let app = compress_app(Compression::new());
    run(async {
        // 5000 bytes in memory: compressed at once, with its new length.
        let resp = fetch(&app, "/tagged", "gzip").await;
        assert!(resp.headers().get("content-length").is_none());
        assert_eq!(header(&resp, "etag"), Some("W/\"v1\""));
        let len = resp.body().size_hint().unwrap();
        assert_eq!(len as usize, bytes(resp).await.len());
        // 300 kB: streamed in pieces, no length.
        for coding in ["gzip", "br"] {
            let resp = fetch(&app, "/big", coding).await;
            assert_eq!(resp.body().size_hint(), None, "{coding}");
            let body = bytes(resp).await;
            let plain = if coding == "gzip" {
                gunzip(&body)
            } else {
                unbrotli(&body)
            };
            assert_eq!(plain, text_of(300_000).as_bytes());
        }
    });
}

#[test]
fn compression_skips_what_it_must_not_touch() {
    let app = compress_app(Compression::new().min_size(1024));
    run(async {
        for (path, vary) in [
            ("/small", false),
            ("/png", false),
            ("/encoded", false),
            ("/no-transform", false),
            ("/untyped", false),
            ("/status/204", false),
            ("/status/304", false),
            ("/status/206", false),
        ] {
            let resp = fetch(&app, path, "gzip, br").await;
            assert!(resp.headers().get("content-encoding").is_none() || path == "/encoded");
            if path == "/encoded" {
                assert_eq!(header(&resp, "content-encoding"), Some("identity"));
            }
            assert_eq!(resp.headers().contains_key("vary"), vary, "{path}");
        }
        let head = app
            .oneshot(
                request(Method::HEAD, "/text")
                    .header("accept-encoding", "gzip")
                    .empty(),
            )
            .await;
        assert!(head.headers().get("content-encoding").is_none());
        // SVG is text; a 404 with a text body is compressed too.
        assert_eq!(
            header(&fetch(&app, "/svg", "gzip").await, "content-encoding"),
            Some("gzip")
        );
        assert_eq!(
            header(
                &fetch(&app, "/status/404", "gzip").await,
                "content-encoding"
            ),
            Some("gzip")
        );
        // Codings turned off are not offered.
        let gzip_only = compress_app(Compression::new().brotli(false));
        assert_eq!(
            header(&fetch(&gzip_only, "/text", "br").await, "content-encoding"),
            None
        );
    });
}

#[test]
fn a_streamed_body_is_compressed_chunk_by_chunk() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    RELEASE.store(true, Ordering::SeqCst);
    let app = compress_app(Compression::new());
    run(async {
        let resp = fetch(&app, "/stream", "gzip").await;
        assert_eq!(header(&resp, "content-encoding"), Some("gzip"));
        assert_eq!(resp.body().size_hint(), None);
        let mut expected = text_of(2000);
        expected.push_str("the end");
        assert_eq!(gunzip(&bytes(resp).await), expected.as_bytes());
    });
}

/// Reads an HTTP/1.1 chunked answer's head and then its chunks' data as
/// they come: (head, data so far).
fn read_head_and_some(s: &mut TcpStream, want_data: usize) -> (String, Vec<u8>) {
    let mut raw = Vec::new();
    let mut buf = [0u8; 8192];
    loop {
        let n = s.read(&mut buf).unwrap();
        assert!(n > 0, "closed early: {}", String::from_utf8_lossy(&raw));
        raw.extend_from_slice(&buf[..n]);
        if let Some(end) = raw.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&raw[..end]).into_owned();
            let data = dechunk(&raw[end + 4..]);
            if data.len() >= want_data {
                return (head, data);
            }
        }
    }
}

/// The data of the complete chunks in `raw`.
fn dechunk(mut raw: &[u8]) -> Vec<u8> {
    let mut data = Vec::new();
    while let Some(eol) = raw.windows(2).position(|w| w == b"\r\n") {
        let size = usize::from_str_radix(std::str::from_utf8(&raw[..eol]).unwrap(), 16).unwrap();
        if raw.len() < eol + 2 + size + 2 {
            break;
        }
        data.extend_from_slice(&raw[eol + 2..eol + 2 + size]);
        raw = &raw[eol + 2 + size + 2..];
        if size == 0 {
            break;
        }
    }
    data
}

both_drivers!(
    a_slow_stream_arrives_compressed_as_it_is_made,
    |d: DriverChoice| {
        let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
        RELEASE.store(false, Ordering::SeqCst);
        let srv = TestServer::start_server(
            Server::new(|| compress_app(Compression::new()))
                .cores(1)
                .driver(d),
        );
        let mut s = TcpStream::connect(srv.addr()).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        s.write_all(b"GET /stream HTTP/1.1\r\nHost: t\r\nAccept-Encoding: gzip\r\n\r\n")
            .unwrap();
        let (head, first) = read_head_and_some(&mut s, 1);
        assert!(head.contains("content-encoding: gzip"), "{head}");
        assert!(head.contains("transfer-encoding: chunked"), "{head}");
        // The handler is still waiting: what came so far decodes to its first part.
        let mut decoder = flate2::write::GzDecoder::new(Vec::new());
        decoder.write_all(&first).unwrap();
        decoder.flush().unwrap();
        assert_eq!(decoder.get_ref().as_slice(), text_of(2000).as_bytes());
        RELEASE.store(true, Ordering::SeqCst);
        let mut rest = Vec::new();
        let mut buf = [0u8; 8192];
        while !rest.ends_with(b"0\r\n\r\n") {
            let n = s.read(&mut buf).unwrap();
            assert!(n > 0);
            rest.extend_from_slice(&buf[..n]);
        }
        decoder.write_all(&dechunk(&rest)).unwrap();
        let all = decoder.finish().unwrap();
        let mut expected = text_of(2000);
        expected.push_str("the end");
        assert_eq!(all, expected.as_bytes());
    }
);

/// Python httpx fetching `path` with `accept`: (content-encoding, decoded body length, matches).
const HTTPX_FETCH: &str = r#"
import sys, httpx
url, accept, expected_len = sys.argv[1], sys.argv[2], int(sys.argv[3])
r = httpx.get(url, headers={"accept-encoding": accept}, timeout=20)
assert r.status_code == 200, r.status_code
assert len(r.content) == expected_len, (len(r.content), expected_len)
assert r.text.startswith("percore compresses answers; "), r.text[:40]
print(r.headers.get("content-encoding", "none"), r.headers.get("vary"))
"#;

both_drivers!(httpx_and_curl_decode_what_is_sent, |d: DriverChoice| {
    let srv = TestServer::start_server(
        Server::new(|| compress_app(Compression::new()))
            .cores(1)
            .driver(d),
    );
    for (path, len) in [("/text", 5000), ("/big", 300_000)] {
        for accept in ["gzip", "br", "br;q=0.1, gzip", "identity"] {
            let out = common::run(Command::new("python3").args([
                "-c",
                HTTPX_FETCH,
                &srv.url(path),
                accept,
                &len.to_string(),
            ]));
            let want = match accept {
                "identity" => "none",
                "br" => "br",
                _ => "gzip",
            };
            assert_eq!(
                common::stdout(&out).trim(),
                format!("{want} accept-encoding"),
                "{path} {accept}"
            );
        }
    }
    for proto in ["--http1.1", "--http2-prior-knowledge"] {
        let out = common::run(Command::new("curl").args([
            "-s",
            "--max-time",
            "20",
            proto,
            "--compressed",
            "-D",
            "/dev/stderr",
            &srv.url("/big"),
        ]));
        let head = common::stderr(&out).to_ascii_lowercase();
        assert!(head.contains("content-encoding: "), "{proto}: {head}");
        assert_eq!(out.stdout, text_of(300_000).as_bytes(), "{proto}");
    }
});

fn cors_app(cors: Cors, hits: Arc<AtomicUsize>) -> App {
    App::new().plugin(cors).route(
        "/api",
        web::any(move |_r: Request| {
            hits.fetch_add(1, Ordering::SeqCst);
            async {
                let mut r = "data".into_response();
                r.headers_mut().insert("x-total", "3".parse().unwrap());
                r
            }
        }),
    )
}

fn strict_cors() -> Cors {
    Cors::origins(["https://app.example", "http://localhost:3000"])
        .methods([Method::GET, Method::POST, Method::DELETE])
        .headers(["content-type", "x-token"])
        .expose_headers(["x-total"])
        .credentials(true)
        .max_age(Duration::from_secs(600))
}

fn preflight(origin: &str, method: &str, headers: Option<&str>) -> http::Request<bytes::Bytes> {
    let mut req = request(Method::OPTIONS, "/api")
        .header("origin", origin)
        .header("access-control-request-method", method);
    if let Some(h) = headers {
        req = req.header("access-control-request-headers", h);
    }
    req.empty()
}

#[test]
fn cors_preflights_are_answered_or_refused_without_the_handler() {
    let hits = Arc::new(AtomicUsize::new(0));
    let app = cors_app(strict_cors(), hits.clone());
    run(async {
        let ok = app
            .oneshot(preflight(
                "https://app.example",
                "DELETE",
                Some("Content-Type, x-token"),
            ))
            .await;
        assert_eq!(ok.status(), 204);
        assert_eq!(
            header(&ok, "access-control-allow-origin"),
            Some("https://app.example")
        );
        assert_eq!(
            header(&ok, "access-control-allow-methods"),
            Some("GET, POST, DELETE")
        );
        assert_eq!(
            header(&ok, "access-control-allow-headers"),
            Some("content-type, x-token")
        );
        assert_eq!(header(&ok, "access-control-max-age"), Some("600"));
        assert_eq!(
            header(&ok, "access-control-allow-credentials"),
            Some("true")
        );
        let vary: Vec<_> = ok.headers().get_all("vary").iter().collect();
        assert!(vary.iter().any(|v| *v == "origin"), "{vary:?}");
        for (origin, method, headers) in [
            ("https://evil.example", "GET", None),
            ("https://app.example.evil", "GET", None),
            ("http://app.example", "GET", None),
            ("https://app.example", "PUT", None),
            ("https://app.example", "POST", Some("x-other")),
            (
                "https://app.example",
                "POST",
                Some("x-token, authorization"),
            ),
        ] {
            let refused = app.oneshot(preflight(origin, method, headers)).await;
            assert_eq!(refused.status(), 403, "{origin} {method} {headers:?}");
            assert!(
                !refused
                    .headers()
                    .keys()
                    .any(|k| k.as_str().starts_with("access-control-")),
                "{origin} {method} {headers:?}"
            );
        }
        assert_eq!(hits.load(Ordering::SeqCst), 0);
    });
}

#[test]
fn cors_marks_allowed_answers_only() {
    let hits = Arc::new(AtomicUsize::new(0));
    let app = cors_app(strict_cors(), hits.clone());
    run(async {
        let req = || request(Method::GET, "/api");
        let ok = app
            .oneshot(req().header("origin", "http://localhost:3000").empty())
            .await;
        assert_eq!(
            header(&ok, "access-control-allow-origin"),
            Some("http://localhost:3000")
        );
        assert_eq!(
            header(&ok, "access-control-expose-headers"),
            Some("x-total")
        );
        assert_eq!(header(&ok, "vary"), Some("origin"));
        let foreign = app
            .oneshot(req().header("origin", "https://evil.example").empty())
            .await;
        assert_eq!(
            foreign.status(),
            200,
            "the browser, not the server, blocks it"
        );
        assert!(foreign
            .headers()
            .get("access-control-allow-origin")
            .is_none());
        assert_eq!(header(&foreign, "vary"), Some("origin"));
        let same_origin = app.oneshot(req().empty()).await;
        assert!(same_origin
            .headers()
            .get("access-control-allow-origin")
            .is_none());
        assert_eq!(header(&same_origin, "vary"), Some("origin"));
        // A plain OPTIONS (no Access-Control-Request-Method) reaches the handler.
        let options = app
            .oneshot(
                request(Method::OPTIONS, "/api")
                    .header("origin", "https://app.example")
                    .empty(),
            )
            .await;
        assert_eq!(bytes(options).await, b"data");
        assert_eq!(hits.load(Ordering::SeqCst), 4);
    });
    let any = cors_app(Cors::any_origin(), Arc::default());
    run(async {
        let resp = any
            .oneshot(get("/api").header("origin", "https://x.example").empty())
            .await;
        assert_eq!(header(&resp, "access-control-allow-origin"), Some("*"));
        assert!(resp
            .headers()
            .get("access-control-allow-credentials")
            .is_none());
        assert!(resp.headers().get("vary").is_none());
    });
}

#[test]
#[should_panic(expected = "CORS credentials with any origin")]
fn cors_refuses_credentials_for_any_origin() {
    let _ = Cors::any_origin().credentials(true);
}

/// curl's answer head (lowercase) and status.
fn curl_head(args: &[&str]) -> (u16, String) {
    let out = common::run(
        Command::new("curl")
            .args(["-s", "--max-time", "20", "-o", "/dev/null", "-D", "-"])
            .args(args),
    );
    let head = common::stdout(&out).to_ascii_lowercase();
    let status = head.split(' ').nth(1).unwrap().parse().unwrap();
    (status, head)
}

both_drivers!(curl_preflights_over_both_protocols, |d: DriverChoice| {
    let srv = TestServer::start_server(
        Server::new(|| cors_app(strict_cors(), Arc::default()))
            .cores(1)
            .driver(d),
    );
    let url = srv.url("/api");
    for proto in ["--http1.1", "--http2-prior-knowledge"] {
        let (status, head) = curl_head(&[
            proto,
            "-X",
            "OPTIONS",
            "-H",
            "Origin: https://app.example",
            "-H",
            "Access-Control-Request-Method: POST",
            "-H",
            "Access-Control-Request-Headers: content-type",
            &url,
        ]);
        assert_eq!(status, 204, "{proto}: {head}");
        for field in [
            "access-control-allow-origin: https://app.example",
            "access-control-allow-methods: get, post, delete",
            "access-control-allow-headers: content-type, x-token",
            "access-control-max-age: 600",
            "access-control-allow-credentials: true",
        ] {
            assert!(head.contains(field), "{proto}: {field} in {head}");
        }
        let (status, head) = curl_head(&[
            proto,
            "-X",
            "OPTIONS",
            "-H",
            "Origin: https://evil.example",
            "-H",
            "Access-Control-Request-Method: POST",
            &url,
        ]);
        assert_eq!(status, 403, "{proto}: {head}");
        assert!(!head.contains("access-control-"), "{proto}: {head}");
    }
});

async fn echo_id(req: Request) -> String {
    req.extensions()
        .get::<RequestId>()
        .map(|id| id.as_str().to_string())
        .unwrap_or_default()
}

#[test]
fn request_ids_are_kept_when_sane_and_made_otherwise() {
    let app = App::new()
        .plugin(RequestIds::new())
        .route("/", web::get(echo_id));
    run(async {
        let kept = app
            .oneshot(get("/").header("x-request-id", "req-42").empty())
            .await;
        assert_eq!(header(&kept, "x-request-id"), Some("req-42"));
        assert_eq!(bytes(kept).await, b"req-42");
        let mut seen = std::collections::HashSet::new();
        for incoming in [None, Some("has space"), Some(&*"x".repeat(200)), Some("")] {
            let mut req = get("/");
            if let Some(id) = incoming {
                req = req.header("x-request-id", id);
            }
            let resp = app.oneshot(req.empty()).await;
            let id = header(&resp, "x-request-id").unwrap().to_string();
            assert_ne!(Some(id.as_str()), incoming);
            assert!(
                id.len() > 16 && id.bytes().all(|b| b.is_ascii_graphic()),
                "{id}"
            );
            assert_eq!(bytes(resp).await, id.as_bytes(), "the handler sees it");
            assert!(seen.insert(id), "ids are unique");
        }
    });
}

/// A writer of the captured log lines.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Captured {
    fn lines_with(&self, needle: &str) -> Vec<String> {
        String::from_utf8_lossy(&self.0.lock().unwrap())
            .lines()
            .filter(|l| l.contains(needle))
            .map(str::to_string)
            .collect()
    }
}

fn subscriber(out: Captured, level: tracing::Level) -> impl tracing::Subscriber + Send + Sync {
    tracing_subscriber::fmt()
        .with_writer(move || out.clone())
        .with_max_level(level)
        .with_ansi(false)
        .finish()
}

/// Every thread's events (the server's cores included) go to one buffer.
fn global_log() -> &'static Captured {
    static LOG: OnceLock<Captured> = OnceLock::new();
    LOG.get_or_init(|| {
        let out = Captured::default();
        tracing::subscriber::set_global_default(subscriber(out.clone(), tracing::Level::INFO))
            .expect("the only global subscriber of this test binary");
        out
    })
}

fn logged_app() -> App {
    App::new()
        .plugin(RequestIds::new())
        .plugin(AccessLog::combined())
        .route("/", web::get(echo_id))
        .route(
            "/missing",
            web::get(|_r: Request| async { StatusCode::NOT_FOUND }),
        )
}

#[test]
fn the_access_log_writes_combined_lines_with_fields() {
    let out = Captured::default();
    let _guard = tracing::subscriber::set_default(subscriber(out.clone(), tracing::Level::INFO));
    let app = logged_app();
    run(async {
        let req = get("/missing?x=1")
            .header("x-request-id", "log-test-1")
            .header("referer", "https://r.example/")
            .header("user-agent", "tester/1.0 \"quoted\"")
            .empty();
        assert_eq!(app.oneshot(req).await.status(), 404);
    });
    let lines = out.lines_with("percore::access");
    assert_eq!(lines.len(), 1, "{lines:?}");
    let line = &lines[0];
    for part in [
        "- - - [",
        " +0000] \"GET /missing?x=1 HTTP/1.1\" 404 14 \"https://r.example/\" \"tester/1.0 \\\"quoted\\\"\"",
        "method=GET",
        "status=404",
        "bytes=14",
        "protocol=\"HTTP/1.1\"",
        "request_id=log-test-1",
        "duration_us=",
        "core=-1",
    ] {
        assert!(line.contains(part), "{part} in {line}");
    }
}

/// `hello` as an in-memory answer (which an app with no middleware hands
/// to the server as a `Plain` reply), or as a response with the same
/// status and body (and `id` as its `x-request-id`, if any), with the
/// metrics and the access log on.
fn hello_app(metrics: &Metrics, plain: bool, id: Option<&'static str>) -> App {
    let app = App::new()
        .plugin(metrics.clone())
        .plugin(AccessLog::common());
    if plain {
        return app.route("/x", web::get(|_r: Request| async { "hello" }));
    }
    app.route(
        "/x",
        web::get(move |_r: Request| async move {
            let mut resp = "hello".into_response();
            if let Some(id) = id {
                resp.headers_mut()
                    .insert("x-request-id", http::HeaderValue::from_static(id));
            }
            resp
        }),
    )
}

/// `app`'s answers to `GET /x` as the HTTP/1.1 server asks for them (a
/// raw head, without and with the connection's state): whether each was
/// a `Plain` reply.
async fn hello_answers(app: &App) -> [bool; 2] {
    use percore::http::{ConnState, Reply, RequestBody, Service};
    let head = || {
        let mut buf = bytes::BytesMut::from(&b"GET /x HTTP/1.1\r\nHost: x\r\n\r\n"[..]);
        let parsed = percore::http::h1::parse_raw_head(&mut buf, &Default::default());
        parsed.unwrap().unwrap()
    };
    let reply = app.call_head(head(), RequestBody::empty()).await;
    let mut conn = ConnState::default();
    let kept = app
        .call_head_in(&mut conn, head(), RequestBody::empty())
        .await;
    [reply, kept].map(|r| {
        assert_eq!(r.status(), 200);
        matches!(r, Reply::Plain(_))
    })
}

/// The access log's fields `status`, `bytes` and `request_id` (as
/// `name=value`), and its line from the request line on, for each line.
fn hello_logged(out: &Captured) -> Vec<String> {
    let lines = out.lines_with("percore::access");
    out.0.lock().unwrap().clear();
    lines
        .iter()
        .map(|line| {
            let field = |name: &str| {
                let at = line.find(&format!(" {name}=")).expect(name) + 1;
                line[at..].split(' ').next().unwrap().to_string()
            };
            let clf = &line[line.find("\"GET").expect("a request line")..];
            let clf = clf.split(" method=").next().unwrap();
            [
                field("status"),
                field("bytes"),
                field("request_id"),
                clf.into(),
            ]
            .join(" ")
        })
        .collect()
}

// The metrics and the access log read an in-memory answer as they read
// the response it stands for, and leave it `Plain` for the server.
#[test]
fn plain_and_full_answers_are_counted_and_logged_alike_and_plain_stays_plain() {
    let out = Captured::default();
    let _guard = tracing::subscriber::set_default(subscriber(out.clone(), tracing::Level::INFO));
    let (plain_metrics, full_metrics) = (Metrics::new(), Metrics::new());
    let plain = hello_app(&plain_metrics, true, None);
    let full = hello_app(&full_metrics, false, None);
    let with_id = hello_app(&Metrics::new(), false, Some("rid-7"));
    run(async {
        assert_eq!(hello_answers(&plain).await, [true, true], "left plain");
        let want = "status=200 bytes=5 request_id=- \"GET /x HTTP/1.1\" 200 5";
        assert_eq!(hello_logged(&out), [want, want]);
        assert_eq!(hello_answers(&full).await, [false, false]);
        assert_eq!(hello_logged(&out), [want, want]);
        assert_eq!(plain_metrics.render(), full_metrics.render());
        assert!(plain_metrics
            .render()
            .contains("percore_response_body_bytes_total 10\n"));
        // A response's own `x-request-id` is logged.
        hello_answers(&with_id).await;
        let want = "status=200 bytes=5 request_id=rid-7 \"GET /x HTTP/1.1\" 200 5";
        assert_eq!(hello_logged(&out), [want, want]);
    });
}

both_drivers!(
    access_log_and_request_ids_over_sockets,
    |d: DriverChoice| {
        let log = global_log();
        let srv = TestServer::start_server(Server::new(logged_app).cores(2).driver(d));
        let tag = format!("sock-{d:?}-{}", std::process::id());
        for (i, proto) in ["--http1.1", "--http2-prior-knowledge"].iter().enumerate() {
            let id = format!("{tag}-{i}");
            let out = common::run(Command::new("curl").args([
                "-s",
                "--max-time",
                "20",
                proto,
                "-H",
                &format!("x-request-id: {id}"),
                "-A",
                "curl-prodkit",
                &srv.url("/"),
            ]));
            assert_eq!(common::stdout(&out), id);
        }
        // A request without an id gets a fresh one, logged too.
        let out = common::run(Command::new("curl").args([
            "-s",
            "--max-time",
            "20",
            "-D",
            "-",
            "-o",
            "/dev/null",
            &srv.url("/missing"),
        ]));
        let head = common::stdout(&out).to_ascii_lowercase();
        let made = head
            .lines()
            .find_map(|l| l.strip_prefix("x-request-id: "))
            .unwrap()
            .trim()
            .to_string();
        drop(srv);
        let h1 = log.lines_with(&format!("request_id={tag}-0"));
        assert_eq!(h1.len(), 1, "{h1:?}");
        assert!(h1[0].contains("\"GET / HTTP/1.1\" 200 "), "{}", h1[0]);
        assert!(h1[0].contains("\"curl-prodkit\""), "{}", h1[0]);
        assert!(h1[0].contains("protocol=\"HTTP/1.1\""), "{}", h1[0]);
        assert!(
            h1[0].contains("core=0") || h1[0].contains("core=1"),
            "{}",
            h1[0]
        );
        let h2 = log.lines_with(&format!("request_id={tag}-1"));
        assert_eq!(h2.len(), 1, "{h2:?}");
        assert!(h2[0].contains("\"GET / HTTP/2.0\" 200 "), "{}", h2[0]);
        let fresh = log.lines_with(&format!("request_id={made}"));
        assert_eq!(fresh.len(), 1, "{made}: {fresh:?}");
        assert!(
            fresh[0].contains("\"GET /missing HTTP/1.1\" 404 "),
            "{}",
            fresh[0]
        );
    }
);

// A one-core server runs its core on the thread that called `run` (no
// worker thread named after its core): the log still says core 0, from
// the runtime's core index.
both_drivers!(
    access_log_names_the_core_of_a_one_core_server,
    |d: DriverChoice| {
        let log = global_log();
        let tag = format!("one-core-{d:?}-{}", std::process::id());
        let srv = TestServer::start_server(Server::new(logged_app).cores(1).driver(d));
        let out = common::run(Command::new("curl").args([
            "-s",
            "--max-time",
            "20",
            "-H",
            &format!("x-request-id: {tag}"),
            &srv.url("/"),
        ]));
        assert_eq!(common::stdout(&out), tag);
        drop(srv);
        let lines = log.lines_with(&format!("request_id={tag}"));
        assert_eq!(lines.len(), 1, "{lines:?}");
        assert!(lines[0].contains("core=0"), "{}", lines[0]);
    }
);

fn metrics_app(metrics: Metrics) -> App {
    App::new()
        .plugin(metrics)
        .route("/", web::get(|_r: Request| async { "hello" }))
        .route(
            "/echo",
            web::post(|mut r: Request| async move { r.bytes().await }),
        )
        .route(
            "/slow",
            web::get(|_r: Request| async {
                percore::rt::time::sleep(Duration::from_millis(30)).await;
                "slow"
            }),
        )
        .route(
            "/fail",
            web::get(|_r: Request| async { StatusCode::SERVICE_UNAVAILABLE }),
        )
}

/// The value of the sample line `name` in Prometheus text.
fn sample(text: &str, name: &str) -> u64 {
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' '))
        .unwrap_or_else(|| panic!("{name} in {text}"))
        .parse::<f64>()
        .unwrap() as u64
}

#[test]
fn metrics_count_on_each_core_and_sum_on_demand() {
    let metrics = Metrics::new();
    // Two cores: two threads, each with its own app and counters.
    let cores: Vec<_> = (0..2)
        .map(|core| {
            let metrics = metrics.clone();
            std::thread::spawn(move || {
                let app = metrics_app(metrics);
                run(async {
                    for _ in 0..3 + core {
                        app.oneshot(get("/").empty()).await;
                    }
                    app.oneshot(get("/nowhere").empty()).await;
                    let h2 = http::Request::get("/fail")
                        .version(http::Version::HTTP_2)
                        .body("")
                        .unwrap();
                    app.oneshot(h2).await;
                    app.oneshot(request(Method::POST, "/echo").body("0123456789"))
                        .await;
                    app.oneshot(get("/slow").empty()).await;
                });
            })
        })
        .collect();
    for c in cores {
        c.join().unwrap();
    }
    let text = metrics.render();
    let requests = "percore_requests_total{protocol=";
    assert_eq!(
        sample(&text, &format!("{requests}\"HTTP/1.1\",status=\"2xx\"}}")),
        11
    );
    assert_eq!(
        sample(&text, &format!("{requests}\"HTTP/1.1\",status=\"4xx\"}}")),
        2
    );
    assert_eq!(
        sample(&text, &format!("{requests}\"HTTP/2\",status=\"5xx\"}}")),
        2
    );
    assert_eq!(
        sample(&text, &format!("{requests}\"HTTP/2\",status=\"2xx\"}}")),
        0
    );
    assert_eq!(sample(&text, "percore_request_body_bytes_total"), 20);
    // 7 "hello", 2 "not found", 2 "503 Service Unavailable\n", 2 echoes, 2 "slow".
    assert_eq!(
        sample(&text, "percore_response_body_bytes_total"),
        7 * 5 + 2 * 10 + 2 * 24 + 2 * 10 + 2 * 4
    );
    assert_eq!(sample(&text, "percore_handler_duration_seconds_count"), 15);
    assert_eq!(
        sample(
            &text,
            "percore_handler_duration_seconds_bucket{le=\"+Inf\"}"
        ),
        15
    );
    // The two 30 ms requests are above 25 ms.
    assert!(
        sample(
            &text,
            "percore_handler_duration_seconds_bucket{le=\"0.025\"}"
        ) <= 13
    );
    assert!(sample(&text, "percore_handler_duration_seconds_bucket{le=\"10\"}") == 15);
    assert_eq!(sample(&text, "percore_metrics_cores"), 2);
}

/// Runs curl and gives how long the exchange took, seconds (`time_total`).
fn curl_seconds(proto: &str, url: &str) -> f64 {
    let out = common::run(Command::new("curl").args([
        "-s",
        "--max-time",
        "20",
        "-o",
        "/dev/null",
        "-w",
        "%{time_total}",
        proto,
        url,
    ]));
    common::stdout(&out).trim().parse().unwrap()
}

// The latency histogram on the event loop's clock, over a real server:
// answers ready at once count as zero (the first bucket), a handler that
// sleeps 50 ms lands above the 0.05 bound and, whenever the client saw
// the whole exchange take under 100 ms, at or below the 0.1 one.
both_drivers!(
    metrics_histogram_buckets_over_the_server,
    |d: DriverChoice| {
        let metrics = Metrics::new();
        let m = metrics.clone();
        let srv = TestServer::start_server(
            Server::new(move || {
                App::new()
                    .plugin(m.clone())
                    .route("/fast", web::get(|_r: Request| async { "fast" }))
                    .route(
                        "/sleep50",
                        web::get(|_r: Request| async {
                            percore::rt::time::sleep(Duration::from_millis(50)).await;
                            "slept"
                        }),
                    )
            })
            .cores(1)
            .driver(d),
        );
        let mut under_100ms = 0;
        for proto in ["--http1.1", "--http1.1", "--http2-prior-knowledge"] {
            curl_seconds(proto, &srv.url("/fast"));
            let took = curl_seconds(proto, &srv.url("/sleep50"));
            assert!(took >= 0.05, "the client waited {took} s");
            if took < 0.1 {
                under_100ms += 1;
            }
        }
        let scrape = common::run(Command::new("curl").args([
            "-s",
            "--max-time",
            "20",
            &srv.url("/metrics"),
        ]));
        let samples = python_with_stdin(PROM_SAMPLES, &scrape.stdout);
        let value = |name: &str| -> f64 {
            samples
                .lines()
                .find_map(|l| l.strip_prefix(name)?.strip_prefix(' '))
                .unwrap_or_else(|| panic!("{name} in\n{samples}"))
                .parse()
                .unwrap()
        };
        let bucket = |le: &str| {
            value(&format!(
                "percore_handler_duration_seconds_bucket{{le={le}}}"
            ))
        };
        // The three fast answers, and nothing else, are in the first bucket
        // and below 50 ms; every sleeper is above.
        assert_eq!(bucket("0.0001"), 3.0, "{samples}");
        assert_eq!(bucket("0.05"), 3.0, "{samples}");
        assert!(bucket("0.1") >= 3.0 + f64::from(under_100ms), "{samples}");
        assert_eq!(bucket("+Inf"), 6.0, "{samples}");
        assert_eq!(value("percore_handler_duration_seconds_count{}"), 6.0);
        let sum = value("percore_handler_duration_seconds_sum{}");
        assert!(sum > 0.15 && sum < 20.0, "sum {sum}");
        drop(srv);
    }
);

/// Parses Prometheus text with prometheus_client and prints its families' names and types.
const PROM_PARSE: &str = r#"
import sys
from prometheus_client.parser import text_string_to_metric_families
families = {f.name: f.type for f in text_string_to_metric_families(sys.stdin.read())}
print("families", sorted(families.items()))
"#;

/// Parses Prometheus text with prometheus_client and prints `name{labels} value` lines.
const PROM_SAMPLES: &str = r#"
import sys
from prometheus_client.parser import text_string_to_metric_families
for f in text_string_to_metric_families(sys.stdin.read()):
    for s in f.samples:
        labels = ",".join(f'{k}={v}' for k, v in sorted(s.labels.items()))
        print(f"{s.name}{{{labels}}} {float(s.value):g}")
"#;

fn python_with_stdin(script: &str, input: &[u8]) -> String {
    let mut child = Command::new("python3")
        .args(["-c", script])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("python3 runs");
    child.stdin.take().unwrap().write_all(input).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "python failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

both_drivers!(metrics_scraped_by_prometheus_client, |d: DriverChoice| {
    let metrics = Metrics::new();
    let m = metrics.clone();
    let srv = TestServer::start_server(
        Server::new(move || metrics_app(m.clone()))
            .cores(2)
            .driver(d),
    );
    for proto in ["--http1.1", "--http2-prior-knowledge"] {
        for path in ["/", "/", "/fail", "/nowhere"] {
            common::run(Command::new("curl").args([
                "-s",
                "--max-time",
                "20",
                "-o",
                "/dev/null",
                proto,
                &srv.url(path),
            ]));
        }
        common::run(Command::new("curl").args([
            "-s",
            "--max-time",
            "20",
            "-o",
            "/dev/null",
            proto,
            "-d",
            "twelve bytes",
            &srv.url("/echo"),
        ]));
    }
    let scrape = common::run(Command::new("curl").args([
        "-s",
        "--max-time",
        "20",
        "-D",
        "/dev/stderr",
        &srv.url("/metrics"),
    ]));
    assert!(common::stderr(&scrape)
        .to_ascii_lowercase()
        .contains("content-type: text/plain; version=0.0.4"));
    let families = python_with_stdin(PROM_PARSE, &scrape.stdout);
    for family in [
        "('percore_requests', 'counter')",
        "('percore_request_body_bytes', 'counter')",
        "('percore_response_body_bytes', 'counter')",
        "('percore_handler_duration_seconds', 'histogram')",
        "('percore_metrics_cores', 'gauge')",
    ] {
        assert!(families.contains(family), "{family} in {families}");
    }
    let samples = python_with_stdin(PROM_SAMPLES, &scrape.stdout);
    for line in [
        "percore_requests_total{protocol=HTTP/1.1,status=2xx} 3",
        "percore_requests_total{protocol=HTTP/1.1,status=4xx} 1",
        "percore_requests_total{protocol=HTTP/1.1,status=5xx} 1",
        "percore_requests_total{protocol=HTTP/2,status=2xx} 3",
        "percore_requests_total{protocol=HTTP/2,status=4xx} 1",
        "percore_requests_total{protocol=HTTP/2,status=5xx} 1",
        "percore_request_body_bytes_total{} 24",
        "percore_handler_duration_seconds_count{} 10",
        "percore_metrics_cores{} 2",
    ] {
        assert!(samples.lines().any(|l| l == line), "{line} in\n{samples}");
    }
    // The scrape itself is counted once it is answered.
    let again =
        common::run(Command::new("curl").args(["-s", "--max-time", "20", &srv.url("/metrics")]));
    let text = common::stdout(&again);
    assert_eq!(
        sample(
            &text,
            "percore_requests_total{protocol=\"HTTP/1.1\",status=\"2xx\"}"
        ),
        4
    );
    drop(srv);
    assert_eq!(
        sample(&metrics.render(), "percore_handler_duration_seconds_count"),
        12
    );
});
