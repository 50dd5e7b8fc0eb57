//! Response compression: gzip and brotli, chosen by the request's
//! `Accept-Encoding`, streamed chunk by chunk.

use std::io::{self, Write};
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use bytes::Bytes;
use http::header::{
    HeaderMap, HeaderValue, ACCEPT_ENCODING, CACHE_CONTROL, CONTENT_ENCODING, CONTENT_LENGTH,
    CONTENT_RANGE, CONTENT_TYPE, ETAG,
};
use http::{Method, StatusCode};
use percore_http::{Body, BodyStream};

use super::accept_encoding::{self, Coding};
use super::vary::add_vary;
use super::{App, IntoMiddleware, Next, Plugin, Request, Response};

/// Bodies in memory up to this size are compressed in one go (the answer
/// keeps a `Content-Length`); larger ones and streams in pieces.
const ONE_GO_MAX: usize = 256 * 1024;
/// Input given to the encoder per piece of a large in-memory body.
const PIECE: usize = 64 * 1024;
/// Brotli's window (2^18 = 256 KiB): bounds the encoder's memory per answer.
const BROTLI_WINDOW_BITS: u32 = 18;

/// Compresses answers with gzip or brotli when the client accepts them.
///
/// It leaves alone: `HEAD` requests; 1xx, 204, 206 and 304 answers (and any
/// with `Content-Range`); answers that already have a `Content-Encoding`,
/// that say `Cache-Control: no-transform`, that have no `Content-Type` or
/// one already compressed (images but SVG, audio, video, fonts, archives,
/// `application/octet-stream`), and bodies known to be shorter than
/// [`min_size`](Self::min_size). Answers it could compress get
/// `Vary: accept-encoding` whether or not this client accepted a coding.
///
/// A compressed answer loses its `Content-Length` (a strong `ETag` becomes
/// weak) and streams: each chunk the handler sends is compressed and
/// flushed at once, so a slow stream reaches the client as it is produced;
/// only bodies in memory of at most 64 KiB are compressed whole and keep a
/// (new) length.
///
/// ```
/// use percore::web::{App, Compression, Request, get};
/// let app = App::new()
///     .plugin(Compression::new().min_size(512))
///     .route("/", get(|_r: Request| async { "hello ".repeat(200) }));
/// percore::rt::Runtime::new().unwrap().block_on(async {
///     let req = http::Request::get("/").header("accept-encoding", "gzip").body("").unwrap();
///     let resp = app.oneshot(req).await;
///     assert_eq!(resp.headers()["content-encoding"], "gzip");
///     assert_eq!(resp.headers()["vary"], "accept-encoding");
/// });
/// ```
#[derive(Debug, Clone, Copy)]
pub struct Compression {
    min_size: u64,
    gzip_level: u32,
    brotli_quality: u32,
    gzip: bool,
    brotli: bool,
}

impl Default for Compression {
    fn default() -> Self {
        Compression::new()
    }
}

impl Compression {
    /// gzip (level 6) and brotli (quality 4), for bodies of 1 KiB or more.
    pub fn new() -> Compression {
        Compression {
            min_size: 1024,
            gzip_level: 6,
            brotli_quality: 4,
            gzip: true,
            brotli: true,
        }
    }

    /// Bodies known to be shorter than `bytes` are sent as they are
    /// (streams of unknown length are always compressed).
    pub fn min_size(mut self, bytes: u64) -> Compression {
        self.min_size = bytes;
        self
    }

    /// The gzip level, 0 (none) to 9 (smallest, slowest).
    pub fn gzip_level(mut self, level: u32) -> Compression {
        self.gzip_level = level.min(9);
        self
    }

    /// The brotli quality, 0 to 11 (smallest, far slower: for static files
    /// compressed ahead of time, not for answers on the fly).
    pub fn brotli_quality(mut self, quality: u32) -> Compression {
        self.brotli_quality = quality.min(11);
        self
    }

    /// Whether to offer gzip (on by default).
    pub fn gzip(mut self, on: bool) -> Compression {
        self.gzip = on;
        self
    }

    /// Whether to offer brotli (on by default).
    pub fn brotli(mut self, on: bool) -> Compression {
        self.brotli = on;
        self
    }

    /// The middleware itself, e.g. for one route
    /// (`get(h).middleware(Compression::new().middleware())`).
    pub fn middleware(self) -> impl IntoMiddleware {
        move |req: Request, next: Next| compress(self, req, next)
    }
}

impl Plugin for Compression {
    fn install(self, app: App) -> App {
        app.middleware(self.middleware())
    }
}

async fn compress(cfg: Compression, req: Request, next: Next) -> Response {
    let coding = match req.headers().get(ACCEPT_ENCODING) {
        Some(accept) if req.method() != Method::HEAD => accept
            .to_str()
            .ok()
            .and_then(|a| accept_encoding::preferred(a, cfg.brotli, cfg.gzip)),
        _ => None,
    };
    let mut resp = next.run(req).await;
    if !compressible(&resp, cfg.min_size) {
        return resp;
    }
    add_vary(resp.headers_mut(), "accept-encoding");
    let Some(coding) = coding else {
        return resp;
    };
    let size = resp.body().size_hint().unwrap_or(0) as usize;
    let encoder = match Encoder::new(coding, &cfg, size.min(ONE_GO_MAX)) {
        Ok(e) => e,
        Err(_) => return resp,
    };
    let headers = resp.headers_mut();
    headers.remove(CONTENT_LENGTH);
    headers.insert(CONTENT_ENCODING, HeaderValue::from_static(coding.token()));
    weaken_etag(headers);
    let body = std::mem::take(resp.body_mut());
    *resp.body_mut() = match body {
        Body::Full(bytes) if bytes.len() <= ONE_GO_MAX => match encoder.one_go(&bytes) {
            Ok(out) => Body::Full(out),
            Err(e) => Body::stream(Failed(Some(e))),
        },
        Body::Full(bytes) => Body::stream(Compressed::new(Source::Full(bytes), encoder)),
        Body::Stream(s) => Body::stream(Compressed::new(Source::Stream(s), encoder)),
        Body::Empty => Body::Empty,
    };
    resp
}

/// Whether the answer is one this middleware may compress.
fn compressible(resp: &Response, min_size: u64) -> bool {
    let status = resp.status();
    if status.is_informational()
        || matches!(
            status,
            StatusCode::NO_CONTENT | StatusCode::PARTIAL_CONTENT | StatusCode::NOT_MODIFIED
        )
    {
        return false;
    }
    let headers = resp.headers();
    if headers.contains_key(CONTENT_ENCODING) || headers.contains_key(CONTENT_RANGE) {
        return false;
    }
    if headers
        .get_all(CACHE_CONTROL)
        .iter()
        .any(|v| has_token(v, "no-transform"))
    {
        return false;
    }
    let Some(content_type) = headers.get(CONTENT_TYPE).and_then(|v| v.to_str().ok()) else {
        return false;
    };
    if already_compressed(content_type) {
        return false;
    }
    !matches!(resp.body().size_hint(), Some(n) if n == 0 || n < min_size)
}

/// Media types whose content is compressed already (or opaque).
fn already_compressed(content_type: &str) -> bool {
    let essence = content_type.split(';').next().unwrap_or("").trim();
    let (kind, sub) = essence.split_once('/').unwrap_or((essence, ""));
    let lower = |s: &str, t: &str| s.eq_ignore_ascii_case(t);
    match () {
        _ if lower(kind, "image") => !lower(sub, "svg+xml"),
        _ if lower(kind, "audio") || lower(kind, "video") || lower(kind, "font") => true,
        _ if lower(kind, "application") => [
            "octet-stream",
            "zip",
            "gzip",
            "x-gzip",
            "x-bzip2",
            "x-xz",
            "zstd",
            "x-7z-compressed",
            "x-rar-compressed",
            "vnd.rar",
            "pdf",
            "wasm",
            "font-woff",
        ]
        .iter()
        .any(|t| lower(sub, t)),
        _ => false,
    }
}

/// Whether a comma-separated field value lists `token`.
fn has_token(value: &HeaderValue, token: &str) -> bool {
    value
        .to_str()
        .is_ok_and(|v| v.split(',').any(|t| t.trim().eq_ignore_ascii_case(token)))
}

/// A strong `ETag` names the identity bytes; the compressed ones get a
/// weak one (RFC 9110 §8.8.3).
fn weaken_etag(headers: &mut HeaderMap) {
    if let Some(tag) = headers.get(ETAG) {
        if !tag.as_bytes().starts_with(b"W/") {
            let mut weak = b"W/".to_vec();
            weak.extend_from_slice(tag.as_bytes());
            if let Ok(weak) = HeaderValue::from_bytes(&weak) {
                headers.insert(ETAG, weak);
            }
        }
    }
}

/// A gzip or brotli encoder writing into a buffer drained after each chunk.
enum Encoder {
    Gzip(flate2::write::GzEncoder<Vec<u8>>),
    Brotli(Box<brotli::CompressorWriter<Vec<u8>>>),
}

impl Encoder {
    /// An encoder whose output buffer starts with room for what `input`
    /// bytes likely compress to (a quarter: text and JSON do better).
    fn new(coding: Coding, cfg: &Compression, input: usize) -> io::Result<Encoder> {
        Ok(match coding {
            Coding::Gzip => Encoder::Gzip(flate2::write::GzEncoder::new(
                Vec::with_capacity(input / 4 + 64),
                flate2::Compression::new(cfg.gzip_level),
            )),
            Coding::Brotli => Encoder::Brotli(Box::new(brotli::CompressorWriter::new(
                Vec::new(),
                16 * 1024,
                cfg.brotli_quality,
                BROTLI_WINDOW_BITS,
            ))),
        })
    }

    /// Compresses `data` and returns what came out; with `flush`, all of
    /// it (a sync flush: what a stream has sent so far decodes at once,
    /// at some cost in speed and size), else what the encoder let go.
    fn chunk(&mut self, data: &[u8], flush: bool) -> io::Result<Bytes> {
        let out = match self {
            Encoder::Gzip(e) => {
                e.write_all(data)?;
                if flush {
                    e.flush()?;
                }
                e.get_mut()
            }
            Encoder::Brotli(e) => {
                e.write_all(data)?;
                if flush {
                    e.flush()?;
                }
                e.get_mut()
            }
        };
        Ok(Bytes::from(std::mem::take(out)))
    }

    /// Ends the stream; what is left to send.
    fn finish(self) -> io::Result<Bytes> {
        let out = match self {
            Encoder::Gzip(e) => e.finish()?,
            Encoder::Brotli(e) => e.into_inner(),
        };
        Ok(Bytes::from(out))
    }

    /// A whole body at once.
    fn one_go(mut self, data: &[u8]) -> io::Result<Bytes> {
        match &mut self {
            Encoder::Gzip(e) => e.write_all(data)?,
            Encoder::Brotli(e) => e.write_all(data)?,
        }
        self.finish()
    }
}

/// What a compressed stream reads from.
enum Source {
    Full(Bytes),
    Stream(Pin<Box<dyn BodyStream>>),
}

/// A body compressed as it streams: one input chunk in, its compressed
/// bytes (flushed) out.
struct Compressed {
    source: Source,
    encoder: Option<Encoder>,
}

impl Compressed {
    fn new(source: Source, encoder: Encoder) -> Compressed {
        Compressed {
            source,
            encoder: Some(encoder),
        }
    }

    fn next_input(&mut self, cx: &mut Context<'_>) -> Poll<Option<io::Result<Bytes>>> {
        match &mut self.source {
            Source::Full(rest) if rest.is_empty() => Poll::Ready(None),
            Source::Full(rest) => {
                let n = rest.len().min(PIECE);
                Poll::Ready(Some(Ok(rest.split_to(n))))
            }
            Source::Stream(s) => s.as_mut().poll_next(cx),
        }
    }
}

impl BodyStream for Compressed {
    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<io::Result<Bytes>>> {
        let this = self.get_mut();
        loop {
            if this.encoder.is_none() {
                return Poll::Ready(None);
            }
            let input = ready!(this.next_input(cx));
            // A body in memory needs no flush between its pieces; a stream
            // does (its next chunk may be long in coming).
            let flush = matches!(this.source, Source::Stream(_));
            let encoder = this.encoder.as_mut().expect("checked above");
            match input {
                Some(Ok(chunk)) if chunk.is_empty() => continue,
                Some(Ok(chunk)) => match encoder.chunk(&chunk, flush) {
                    Ok(out) if out.is_empty() => continue,
                    Ok(out) => return Poll::Ready(Some(Ok(out))),
                    Err(e) => {
                        this.encoder = None;
                        return Poll::Ready(Some(Err(e)));
                    }
                },
                Some(Err(e)) => {
                    this.encoder = None;
                    return Poll::Ready(Some(Err(e)));
                }
                None => {
                    let encoder = this.encoder.take().expect("checked above");
                    return Poll::Ready(match encoder.finish() {
                        Ok(out) if out.is_empty() => None,
                        Ok(out) => Some(Ok(out)),
                        Err(e) => Some(Err(e)),
                    });
                }
            }
        }
    }

    fn take_trailers(self: Pin<&mut Self>) -> Option<HeaderMap> {
        match &mut self.get_mut().source {
            Source::Stream(s) => s.as_mut().take_trailers(),
            Source::Full(_) => None,
        }
    }
}

/// A body whose compression failed: the error, once.
struct Failed(Option<io::Error>);

impl BodyStream for Failed {
    fn poll_next(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<Option<io::Result<Bytes>>> {
        Poll::Ready(self.get_mut().0.take().map(Err))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compressed_media_types_are_recognised() {
        for t in [
            "image/png",
            "IMAGE/JPEG",
            "video/mp4",
            "audio/ogg",
            "font/woff2",
            "application/zip",
            "application/gzip; foo=bar",
            "application/octet-stream",
            "application/zstd",
        ] {
            assert!(already_compressed(t), "{t}");
        }
        for t in [
            "text/html; charset=utf-8",
            "text/plain",
            "image/svg+xml",
            "application/json",
            "application/javascript",
            "text/event-stream",
            "",
        ] {
            assert!(!already_compressed(t), "{t}");
        }
    }

    #[test]
    fn empty_bodies_are_never_compressed() {
        let mut resp = Response::new(Body::Empty);
        resp.headers_mut()
            .insert(CONTENT_TYPE, HeaderValue::from_static("text/plain"));
        assert!(!compressible(&resp, 0));
        *resp.body_mut() = Body::from("x");
        assert!(compressible(&resp, 0));
        assert!(!compressible(&resp, 2));
    }

    #[test]
    fn stream_errors_end_the_compressed_body() {
        struct Broken(u8);
        impl BodyStream for Broken {
            fn poll_next(
                self: Pin<&mut Self>,
                _cx: &mut Context<'_>,
            ) -> Poll<Option<io::Result<Bytes>>> {
                let this = self.get_mut();
                this.0 += 1;
                Poll::Ready(Some(match this.0 {
                    1 => Ok(Bytes::from_static(b"some data")),
                    _ => Err(io::Error::other("disk gone")),
                }))
            }
        }
        let encoder = Encoder::new(Coding::Gzip, &Compression::new(), 0).unwrap();
        let body = Body::stream(Compressed::new(
            Source::Stream(Box::pin(Broken(0))),
            encoder,
        ));
        let Body::Stream(mut s) = body else {
            unreachable!()
        };
        let waker = std::task::Waker::noop();
        let mut cx = Context::from_waker(waker);
        assert!(matches!(s.as_mut().poll_next(&mut cx), Poll::Ready(Some(Ok(b))) if !b.is_empty()));
        assert!(matches!(
            s.as_mut().poll_next(&mut cx),
            Poll::Ready(Some(Err(_)))
        ));
        assert!(matches!(s.as_mut().poll_next(&mut cx), Poll::Ready(None)));
    }
}
