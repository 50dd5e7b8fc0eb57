//! Static files: a directory ([`StaticDir`]) or one file ([`StaticFile`])
//! served with GET and HEAD, `Content-Type` from the extension, validators
//! (`ETag`, `Last-Modified`) and the conditional requests they answer (304,
//! 412), byte ranges (206, `multipart/byteranges` for several, 416 with
//! `Content-Range: bytes */len`), `If-Range`, and precompressed `.br` /
//! `.gz` siblings chosen by `Accept-Encoding` (with `Vary`).
//!
//! Files stream through [`FileBody`]: positional reads on io_uring, the
//! blocking pool under epoll, one 64 KiB chunk at a time, so a 1 GiB file
//! costs no more memory than a small one.
//!
//! Nothing outside the root is ever opened: see `path` (what a request path
//! may say) and `resolve` (where it leads on disk). Refusals answer 404.
//!
//! ```
//! use percore::web::{App, StaticDir};
//! let app = App::new()
//!     .static_dir("/static", "./public")
//!     .static_dir("/docs", StaticDir::new("./docs").index_file("index.html").listing(true))
//!     .static_file("/favicon.ico", "./public/favicon.ico");
//! # let _ = app;
//! ```

mod conditional;
mod listing;
mod multipart;
mod path;
pub mod range;
mod resolve;

use std::borrow::Cow;
use std::cell::RefCell;
use std::ffi::OsString;
use std::fs::{Metadata, OpenOptions};
use std::io;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};

use bytes::Bytes;
use http::header::{
    ACCEPT_ENCODING, ACCEPT_RANGES, ALLOW, CONTENT_ENCODING, CONTENT_RANGE, CONTENT_TYPE, ETAG,
    LAST_MODIFIED, LOCATION, RANGE, VARY,
};
use http::{HeaderValue, Method, StatusCode};
use percore_http::{Body, BodyStream, FileBody};
use percore_runtime::fs::{File, Resolver, RootDir};
use percore_runtime::spawn_blocking;

use super::accept_encoding::{self as encoding, Coding};
use super::handler::BoxFuture;
use super::{Handler, Html, IntoResponse, Request, Response};
use conditional::{Precondition, Validators};
use multipart::MultipartBody;
use path::SafePath;
use range::{parse_range, RangeRequest};
use resolve::Found;

/// Serves the files below a directory: a [`Handler`] for a route ending in
/// a `{*tail}` segment, most simply through
/// [`App::static_dir`](super::App::static_dir).
///
/// Off by default: directory listings, an index file, symbolic links
/// (followed only when enabled, and never out of the root), precompressed
/// siblings.
///
/// ```
/// use percore::web::{get, App, StaticDir};
/// let assets = StaticDir::new("./public")
///     .index_file("index.html")
///     .precompressed(true)
///     .mount_at("/assets");
/// let app = App::new().route("/assets/{*path}", get(assets));
/// # let _ = app;
/// ```
#[derive(Debug, Clone)]
pub struct StaticDir {
    config: Arc<DirConfig>,
}

#[derive(Debug, Clone)]
struct DirConfig {
    root: PathBuf,
    /// `root` held open, once it has existed: opened on the first
    /// request, not again on every one (a root that is later replaced or
    /// re-linked is not followed). Every file is opened relative to it.
    root_dir: OnceLock<Arc<RootDir>>,
    mount: String,
    index: Option<String>,
    listing: bool,
    follow_symlinks: bool,
    precompressed: bool,
}

impl StaticDir {
    /// Serves `root`, with every option off, mounted at `/`.
    pub fn new(root: impl AsRef<Path>) -> StaticDir {
        StaticDir {
            config: Arc::new(DirConfig {
                root: root.as_ref().to_path_buf(),
                root_dir: OnceLock::new(),
                mount: String::new(),
                index: None,
                listing: false,
                follow_symlinks: false,
                precompressed: false,
            }),
        }
    }

    fn config(&mut self) -> &mut DirConfig {
        Arc::make_mut(&mut self.config)
    }

    /// The URL path the directory is served at (`/static`): the part of a
    /// request's path after it names the file. `App::static_dir` sets it.
    pub fn mount_at(mut self, prefix: &str) -> StaticDir {
        self.config().mount = prefix.trim_end_matches('/').to_string();
        self
    }

    /// The file a directory's URL serves (`index.html`), if it has one.
    pub fn index_file(mut self, name: &str) -> StaticDir {
        self.config().index = Some(name.to_string());
        self
    }

    /// Whether a directory without an index file gets an HTML listing
    /// (default: no, 404).
    pub fn listing(mut self, on: bool) -> StaticDir {
        self.config().listing = on;
        self
    }

    /// Whether symbolic links inside the root are followed (default: no).
    /// A link that leads out of the root is refused either way.
    pub fn follow_symlinks(mut self, on: bool) -> StaticDir {
        self.config().follow_symlinks = on;
        self
    }

    /// Whether `name.br` / `name.gz` beside a file are sent instead of it to
    /// clients that accept that coding (default: no).
    pub fn precompressed(mut self, on: bool) -> StaticDir {
        self.config().precompressed = on;
        self
    }
}

impl<P: AsRef<Path>> From<P> for StaticDir {
    fn from(root: P) -> StaticDir {
        StaticDir::new(root)
    }
}

impl Handler for StaticDir {
    fn call(&self, req: Request) -> BoxFuture {
        let config = self.config.clone();
        Box::pin(async move { serve_dir(config, req).await })
    }
}

/// Serves one file (its path is the app's, not the request's: symbolic
/// links are followed), most simply through
/// [`App::static_file`](super::App::static_file).
///
/// ```
/// use percore::web::{get, App, StaticFile};
/// let app = App::new().route("/robots.txt", get(StaticFile::new("./public/robots.txt")));
/// # let _ = app;
/// ```
#[derive(Debug, Clone)]
pub struct StaticFile {
    path: Arc<PathBuf>,
}

impl StaticFile {
    /// Serves the file at `path`.
    pub fn new(path: impl AsRef<Path>) -> StaticFile {
        StaticFile {
            path: Arc::new(path.as_ref().to_path_buf()),
        }
    }
}

impl Handler for StaticFile {
    fn call(&self, req: Request) -> BoxFuture {
        let path = self.path.clone();
        Box::pin(async move {
            if let Some(refusal) = refuse_method(&req) {
                return refusal;
            }
            let located = Located {
                content_type: content_type(&path),
                source: Source::Path(path.to_path_buf()),
                coding: None,
                vary: false,
            };
            serve_file(&req, located).await
        })
    }
}

/// A file chosen to answer a request.
struct Located {
    source: Source,
    /// The coding of a precompressed sibling, if one was chosen.
    coding: Option<Coding>,
    /// The type of the file asked for (not of its `.br` sibling).
    content_type: HeaderValue,
    /// Whether the answer depends on `Accept-Encoding`.
    vary: bool,
}

/// Where a located file's bytes come from.
enum Source {
    /// Opened below a root (see `resolve`): served from this descriptor,
    /// never looked up by name again.
    Opened(std::fs::File, Metadata),
    /// The app's own path ([`StaticFile`]): opened as it is.
    Path(PathBuf),
}

/// Where a request to a directory leads.
enum Target {
    File(Box<Located>),
    /// A directory asked for without its trailing `/`.
    AddSlash,
    Listing(String),
    NotFound,
    /// Only the kernel's caches were asked ([`Resolver::Cached`]) and they
    /// could not answer: ask again on the blocking pool.
    Blocked,
}

async fn serve_dir(config: Arc<DirConfig>, req: Request) -> Response {
    if let Some(refusal) = refuse_method(&req) {
        return refusal;
    }
    let rest = req
        .path()
        .strip_prefix(config.mount.as_str())
        .and_then(|rest| rest.strip_prefix('/'));
    let Some(path) = rest.and_then(SafePath::parse) else {
        return not_found();
    };
    let codings = match (config.precompressed, req.headers().get(ACCEPT_ENCODING)) {
        (true, Some(accept)) => encoding::acceptable(accept.to_str().unwrap_or("")),
        _ => Vec::new(),
    };
    // On this core's thread when the kernel's caches answer (the common
    // case: no hop to the blocking pool), else on the blocking pool.
    let target = match locate(&config, &path, &codings, req.path(), Resolver::Cached) {
        Target::Blocked => {
            let url_path = req.path().to_string();
            spawn_blocking(move || locate(&config, &path, &codings, &url_path, Resolver::Auto))
                .await
                .unwrap_or(Target::NotFound)
        }
        target => target,
    };
    match target {
        Target::File(located) => serve_file(&req, *located).await,
        Target::AddSlash => add_slash(&req),
        Target::Listing(page) => Html(page).into_response(),
        Target::NotFound | Target::Blocked => not_found(),
    }
}

/// The root held open, opened on the first request that finds it (a root
/// missing at start-up is looked for again on the next request).
fn root_dir(config: &DirConfig) -> Option<&RootDir> {
    if let Some(root) = config.root_dir.get() {
        return Some(root);
    }
    let root = Arc::new(resolve::open_root(&config.root).ok()?);
    Some(config.root_dir.get_or_init(|| root))
}

/// Finds what `path` names below the root: blocking with
/// [`Resolver::Auto`]; with [`Resolver::Cached`] it never waits for a
/// disk and answers [`Target::Blocked`] when it would have to.
fn locate(
    config: &DirConfig,
    path: &SafePath,
    codings: &[Coding],
    url_path: &str,
    resolver: Resolver,
) -> Target {
    let cached = resolver == Resolver::Cached;
    let root = match (config.root_dir.get(), cached) {
        (Some(root), _) => &**root,
        (None, true) => return Target::Blocked,
        (None, false) => match root_dir(config) {
            Some(root) => root,
            None => return Target::NotFound,
        },
    };
    let blocked = |e: &io::Error| cached && e.kind() == io::ErrorKind::WouldBlock;
    let follow = config.follow_symlinks;
    let mut segments = Cow::Borrowed(&path.segments);
    let (file, meta) = match resolve::resolve(root, &segments, follow, resolver) {
        Ok(Found::File(..)) if path.wants_dir => return Target::NotFound,
        Ok(Found::File(file, meta)) => (file, meta),
        Ok(Found::Dir(_)) if !path.wants_dir => return Target::AddSlash,
        Ok(Found::Dir(dir)) => {
            let mut index = None;
            if let Some(name) = &config.index {
                let mut with_index = path.segments.clone();
                with_index.push(name.clone());
                match resolve::resolve(root, &with_index, follow, resolver) {
                    Ok(Found::File(file, meta)) => index = Some((file, meta, with_index)),
                    Err(e) if blocked(&e) => return Target::Blocked,
                    _ => {}
                }
            }
            match index {
                Some((file, meta, with_index)) => {
                    segments = Cow::Owned(with_index);
                    (file, meta)
                }
                // Reading a directory may wait for the disk.
                None if config.listing && cached => return Target::Blocked,
                None if config.listing => {
                    return match listing::read_entries(&dir, follow) {
                        Ok((entries, truncated)) => {
                            Target::Listing(listing::render(url_path, &entries, truncated))
                        }
                        Err(_) => Target::NotFound,
                    }
                }
                None => return Target::NotFound,
            }
        }
        Err(e) if blocked(&e) => return Target::Blocked,
        Err(_) => return Target::NotFound,
    };
    let mut chosen = None;
    for &coding in codings {
        match resolve::sibling(root, &segments, coding.suffix(), follow, resolver) {
            Ok(opened) => {
                chosen = Some((opened, coding));
                break;
            }
            Err(e) if blocked(&e) => return Target::Blocked,
            Err(_) => {}
        }
    }
    let name = segments.last().map_or("", String::as_str);
    let content_type = content_type(Path::new(name));
    let (source, coding) = match chosen {
        Some(((file, meta), coding)) => (Source::Opened(file, meta), Some(coding)),
        None => (Source::Opened(file, meta), None),
    };
    Target::File(Box::new(Located {
        source,
        coding,
        content_type,
        vary: config.precompressed,
    }))
}

/// Opens the located file and answers from it.
async fn serve_file(req: &Request, mut located: Located) -> Response {
    let path = match std::mem::replace(&mut located.source, Source::Path(PathBuf::new())) {
        Source::Opened(file, meta) => {
            return file_response(req, File::from_std(file), &meta, &located)
        }
        Source::Path(path) => path,
    };
    // O_NONBLOCK: a FIFO cannot stall the open.
    let mut options = OpenOptions::new();
    options.read(true).custom_flags(libc::O_NONBLOCK);
    let opened = async {
        let file = File::open_with(&path, options).await?;
        let meta = file.metadata().await?;
        if !meta.is_file() {
            return Err(io::Error::from(io::ErrorKind::NotFound));
        }
        Ok((file, meta))
    };
    match opened.await {
        Ok((file, meta)) => file_response(req, file, &meta, &located),
        Err(_) => not_found(),
    }
}

/// The answer from an open file: 200, 206, 304, 412 or 416.
fn file_response(req: &Request, file: File, meta: &Metadata, located: &Located) -> Response {
    let len = meta.len();
    let coding = located.coding.map_or("", Coding::token);
    let validators = Validators::new(len, meta.modified().ok(), coding);
    let mut resp = Response::new(Body::Empty);
    let headers = resp.headers_mut();
    headers.insert(ETAG, header(&validators.etag));
    if let Some(date) = validators.last_modified_value() {
        headers.insert(LAST_MODIFIED, date);
    }
    if located.vary {
        headers.insert(VARY, HeaderValue::from_static("accept-encoding"));
    }
    match conditional::evaluate(req.headers(), &validators) {
        Precondition::Proceed => {}
        Precondition::NotModified => {
            *resp.status_mut() = StatusCode::NOT_MODIFIED;
            return resp;
        }
        Precondition::Failed => {
            *resp.status_mut() = StatusCode::PRECONDITION_FAILED;
            return resp;
        }
    }
    let headers = resp.headers_mut();
    headers.insert(ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    if !coding.is_empty() {
        headers.insert(CONTENT_ENCODING, HeaderValue::from_static(coding));
    }
    // Ranges apply to GET only (RFC 9110 §14.2); HEAD describes the whole.
    let range = match req.headers().get(RANGE) {
        Some(range) if req.method() == Method::GET => {
            if conditional::if_range_allows(req.headers(), &validators) {
                parse_range(range.to_str().unwrap_or(""), len)
            } else {
                RangeRequest::Full
            }
        }
        _ => RangeRequest::Full,
    };
    let content_type = located.content_type.clone();
    let (status, body) = match range {
        RangeRequest::Full => {
            headers.insert(CONTENT_TYPE, content_type);
            let body = if req.method() == Method::HEAD {
                Body::stream(LengthOnly(len))
            } else {
                FileBody::new(file, 0, len).into()
            };
            (StatusCode::OK, body)
        }
        RangeRequest::Unsatisfiable => {
            headers.insert(CONTENT_RANGE, header(&format!("bytes */{len}")));
            (StatusCode::RANGE_NOT_SATISFIABLE, Body::Empty)
        }
        RangeRequest::Partial(ranges) => match ranges.as_slice() {
            [one] => {
                headers.insert(CONTENT_TYPE, content_type);
                let value = format!("bytes {}-{}/{len}", one.start, one.end);
                headers.insert(CONTENT_RANGE, header(&value));
                let body = FileBody::new(file, one.start, one.len()).into();
                (StatusCode::PARTIAL_CONTENT, body)
            }
            many => {
                let boundary = multipart::boundary();
                let kind = format!("multipart/byteranges; boundary={boundary}");
                headers.insert(CONTENT_TYPE, header(&kind));
                let part_type = content_type.to_str().unwrap_or("application/octet-stream");
                let body = MultipartBody::new(file, len, many, part_type, &boundary);
                (StatusCode::PARTIAL_CONTENT, Body::stream(body))
            }
        },
    };
    *resp.status_mut() = status;
    *resp.body_mut() = body;
    resp
}

/// The body of a HEAD answer: no bytes, but the length a GET would send.
struct LengthOnly(u64);

impl BodyStream for LengthOnly {
    fn poll_next(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<Option<io::Result<Bytes>>> {
        Poll::Ready(None)
    }

    fn size_hint(&self) -> Option<u64> {
        Some(self.0)
    }
}

/// Most extensions whose `Content-Type` one thread keeps.
const TYPES_KEPT: usize = 32;

/// `Content-Type` from the extension; text types say they are UTF-8. The
/// values are kept per thread by extension (the guess, its parse and its
/// formatting cost as much as the rest of a file's headers).
fn content_type(path: &Path) -> HeaderValue {
    thread_local! {
        static TYPES: RefCell<Vec<(OsString, HeaderValue)>> = const { RefCell::new(Vec::new()) };
    }
    let Some(ext) = path.extension() else {
        return guess_content_type(path);
    };
    TYPES.with(|types| {
        let mut types = types.borrow_mut();
        if let Some((_, value)) = types.iter().find(|(e, _)| e == ext) {
            return value.clone();
        }
        let value = guess_content_type(path);
        if types.len() >= TYPES_KEPT {
            types.clear();
        }
        types.push((ext.to_os_string(), value.clone()));
        value
    })
}

fn guess_content_type(path: &Path) -> HeaderValue {
    let mime = mime_guess::from_path(path).first_or_octet_stream();
    let text =
        mime.type_() == mime_guess::mime::TEXT || mime.essence_str() == "application/javascript";
    let value = if text && mime.get_param("charset").is_none() {
        format!("{}; charset=utf-8", mime.essence_str())
    } else {
        mime.to_string()
    };
    header(&value)
}

/// A header value from text this module built (always valid).
fn header(value: &str) -> HeaderValue {
    HeaderValue::from_str(value).unwrap_or(HeaderValue::from_static("invalid"))
}

fn not_found() -> Response {
    StatusCode::NOT_FOUND.into_response()
}

/// 405 for anything but GET and HEAD (for routes that take every method).
fn refuse_method(req: &Request) -> Option<Response> {
    if matches!(*req.method(), Method::GET | Method::HEAD) {
        return None;
    }
    let mut resp = StatusCode::METHOD_NOT_ALLOWED.into_response();
    resp.headers_mut()
        .insert(ALLOW, HeaderValue::from_static("GET, HEAD"));
    Some(resp)
}

/// 301 to the directory's URL with its trailing slash (relative links in
/// its index page resolve against it).
fn add_slash(req: &Request) -> Response {
    let location = match req.query_string() {
        Some(query) => format!("{}/?{query}", req.path()),
        None => format!("{}/", req.path()),
    };
    match HeaderValue::from_str(&location) {
        Ok(location) => {
            let mut resp = StatusCode::MOVED_PERMANENTLY.into_response();
            resp.headers_mut().insert(LOCATION, location);
            resp
        }
        Err(_) => not_found(),
    }
}
