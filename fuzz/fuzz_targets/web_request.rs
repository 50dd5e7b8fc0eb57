//! Arbitrary requests into an `App` whose handlers read everything a
//! request carries through the web layer's own parsers: cookies (plain,
//! signed, private, the cookie session), the query string, urlencoded
//! forms, JSON, path parameters and `url_for`, with response compression
//! negotiated from `Accept-Encoding`.
//!
//! Input: the first byte picks the method and route, then lines: the first
//! is the rest of the target (path and query), each further line up to an
//! empty one is a header field (its first byte picks the name, the rest is
//! the value), and what follows the empty line is the body.
//!
//! Checks: no panic (the app answers a handler's panic with 500, so no
//! answer may be 500); a compressed answer decodes to the body the handler
//! gave; the link `url_for` builds from a
//! route's parameters leads back to the same parameters.
#![no_main]
use std::collections::HashMap;
use std::io::Read;

use bytes::Bytes;
use http::{HeaderValue, Method, Request as HttpRequest, StatusCode};
use libfuzzer_sys::fuzz_target;
use percore::rt::Runtime;
use percore::web::{get, post, App, Compression, CookieStore, HttpError, Key, Request, Sessions};

const NAMES: [&str; 6] = [
    "cookie",
    "accept-encoding",
    "content-type",
    "content-length",
    "x-forwarded-for",
    "authorization",
];

const ROUTES: [(&str, &str); 7] = [
    ("GET", "/cookies"),
    ("GET", "/query"),
    ("POST", "/form"),
    ("POST", "/json"),
    ("GET", "/items/"),
    ("GET", "/big"),
    ("HEAD", "/big"),
];

/// The body `/big` answers: long and repetitive enough to be compressed.
fn big_body() -> String {
    "percore fuzzes its web layer; ".repeat(160)
}

async fn cookies(req: Request) -> Result<String, HttpError> {
    let mut out = String::new();
    for c in req.cookies().iter() {
        out.push_str(c.name());
        out.push('=');
        out.push_str(c.value());
        out.push(';');
    }
    out.extend(req.cookie("a"));
    out.extend(req.signed_cookie("s"));
    out.extend(req.private_cookie("p"));
    let session = req.session()?;
    if let Some(seen) = session.get::<String>("seen") {
        out.push_str(&seen);
    }
    session.insert("seen", out.len().to_string())?;
    Ok(out)
}

async fn query(req: Request) -> Result<String, HttpError> {
    let q: HashMap<String, String> = req.query()?;
    let list: Vec<(String, String)> = req.query()?;
    Ok(format!("{} {}", q.len(), list.len()))
}

async fn form(mut req: Request) -> Result<String, HttpError> {
    let f: Vec<(String, String)> = req.form().await?;
    Ok(f.len().to_string())
}

async fn json(mut req: Request) -> Result<String, HttpError> {
    let j: HashMap<String, Option<Vec<u32>>> = req.json().await?;
    Ok(j.len().to_string())
}

async fn item(req: Request) -> Result<String, HttpError> {
    let id = req.param("id").unwrap_or_default().to_string();
    let rest = req.param("rest").unwrap_or_default().to_string();
    // Every value a route matched fills the route's pattern back in.
    let link = req.url_for("item", [("id", id.as_str()), ("rest", rest.as_str())])?;
    Ok(link)
}

async fn big(_req: Request) -> String {
    big_body()
}

fn app() -> App {
    App::new()
        .cookie_key(Key::derive_from(&[7; 64]))
        .middleware(Sessions::new(CookieStore::new(Key::derive_from(&[9; 64]))))
        .plugin(Compression::new())
        .route("/cookies", get(cookies))
        .route("/query", get(query))
        .route("/form", post(form))
        .route("/json", post(json))
        .route("/items/{id}/{rest}", get(item).name("item"))
        .route("/big", get(big))
}

thread_local! {
    static RT: Runtime = Runtime::new().expect("a runtime");
    static APP: App = app();
}

/// The request the input describes, or `None` when `http` refuses it.
fn request(data: &[u8]) -> Option<HttpRequest<Bytes>> {
    let (&pick, rest) = data.split_first()?;
    let (method, path) = ROUTES[usize::from(pick) % ROUTES.len()];
    let (head, body) = match rest.windows(2).position(|w| w == b"\n\n") {
        Some(i) => (&rest[..i], &rest[i + 2..]),
        None => (rest, &[][..]),
    };
    let mut lines = head.split(|&b| b == b'\n');
    let target = format!(
        "{path}{}",
        String::from_utf8_lossy(lines.next().unwrap_or(b""))
    );
    let mut builder = HttpRequest::builder()
        .method(Method::from_bytes(method.as_bytes()).ok()?)
        .uri(target);
    for line in lines {
        let Some((&n, value)) = line.split_first() else {
            continue;
        };
        if let Ok(v) = HeaderValue::from_bytes(value) {
            builder = builder.header(NAMES[usize::from(n) % NAMES.len()], v);
        }
    }
    builder.body(Bytes::copy_from_slice(body)).ok()
}

/// The body as the handler gave it, undoing the answer's content coding.
fn decoded(encoding: Option<&str>, body: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    match encoding {
        None => out.extend_from_slice(body),
        Some("gzip") => {
            flate2::read::GzDecoder::new(body)
                .read_to_end(&mut out)
                .expect("a gzip body the compressor wrote decodes");
        }
        Some("br") => {
            brotli::Decompressor::new(body, 4096)
                .read_to_end(&mut out)
                .expect("a brotli body the compressor wrote decodes");
        }
        Some(other) => panic!("unexpected content-encoding {other:?}"),
    }
    out
}

fuzz_target!(|data: &[u8]| {
    let Some(req) = request(data) else {
        return;
    };
    let path = req.uri().path().to_string();
    let (status, encoding, body) = answer(req);
    assert_ne!(status, StatusCode::INTERNAL_SERVER_ERROR);
    if path == "/big" && status == StatusCode::OK {
        assert_eq!(decoded(encoding.as_deref(), &body), big_body().as_bytes());
    } else if path.starts_with("/items/") && status == StatusCode::OK {
        let link = decoded(encoding.as_deref(), &body);
        let link = std::str::from_utf8(&link).expect("a link is text");
        let again = HttpRequest::get(link)
            .body(Bytes::new())
            .expect("a link is a valid target");
        let (status, encoding, body_again) = answer(again);
        assert_eq!(status, StatusCode::OK, "{link}");
        let link_again = decoded(encoding.as_deref(), &body_again);
        assert_eq!(link_again, link.as_bytes(), "{path} -> {link}");
    }
});

/// The app's answer: status, content coding and the whole body.
fn answer(req: HttpRequest<Bytes>) -> (StatusCode, Option<String>, Bytes) {
    RT.with(|rt| {
        APP.with(|app| {
            rt.block_on(async {
                let resp = app.oneshot(req).await;
                let status = resp.status();
                let encoding = resp
                    .headers()
                    .get("content-encoding")
                    .map(|v| v.to_str().expect("ascii").to_string());
                let body = resp.into_body().collect().await.expect("an in-memory body");
                (status, encoding, body)
            })
        })
    })
}
