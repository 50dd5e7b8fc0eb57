//! The access log: one `tracing` event per answer, in the Common or
//! Combined Log Format.

use std::fmt::Write as _;
use std::time::{Instant, SystemTime};

use http::header::{REFERER, USER_AGENT};
use http::{HeaderValue, Version};
use tracing::Level;

use super::dispatch::Outcome;
use super::request_id::RequestId;
use super::{App, IntoMiddleware, Next, Plugin, Request, Response};

/// The target of access-log events: filter on it
/// (`RUST_LOG=percore::access=info`).
pub const ACCESS_LOG_TARGET: &str = "percore::access";

/// The line's layout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// `host ident user [time] "request line" status bytes`.
    Common,
    /// Common, then `"referer" "user-agent"`.
    Combined,
}

/// Middleware logging each answer at `INFO` under the target
/// [`ACCESS_LOG_TARGET`]: the message is the Common (or Combined) Log
/// Format line, and the event carries fields for machines: `method`,
/// `path`, `status`, `bytes` (the body's length when known), `duration_us`
/// (until the handler returned its answer; a streamed body may go on),
/// `protocol`, `core` (the worker's index) and `request_id` (from
/// [`RequestIds`](super::RequestIds), when it runs outside this one, or
/// from the answer's `x-request-id`).
///
/// The client's address is `-`: the connection drivers do not hand it to
/// the app yet. When no subscriber wants the target at `INFO`, a request
/// costs one cached interest check: no clock read, no formatting.
///
/// ```
/// use percore::web::{AccessLog, App, Request, RequestIds, get};
/// let app = App::new()
///     .plugin(RequestIds::new())
///     .plugin(AccessLog::combined())
///     .route("/", get(|_r: Request| async { "hi" }));
/// # let _ = app;
/// ```
#[derive(Debug, Clone, Copy)]
pub struct AccessLog {
    format: LogFormat,
}

impl AccessLog {
    /// Common Log Format lines.
    pub fn common() -> AccessLog {
        AccessLog {
            format: LogFormat::Common,
        }
    }

    /// Combined Log Format lines (with referer and user agent).
    pub fn combined() -> AccessLog {
        AccessLog {
            format: LogFormat::Combined,
        }
    }

    /// The middleware itself.
    pub fn middleware(self) -> impl IntoMiddleware {
        move |req: Request, next: Next| log(self.format, req, next)
    }
}

impl Plugin for AccessLog {
    /// Logs around the app's whole dispatch (every middleware included)
    /// without a middleware of its own: when disabled, a request costs
    /// the one interest check.
    fn install(self, app: App) -> App {
        app.access_log(self.format)
    }
}

/// What is read from the request before it moves on.
pub(crate) struct Seen {
    method: http::Method,
    target: String,
    version: Version,
    referer: Option<HeaderValue>,
    user_agent: Option<HeaderValue>,
    request_id: Option<RequestId>,
    combined: bool,
    start: Instant,
}

async fn log(format: LogFormat, req: Request, next: Next) -> Response {
    let seen = arrival(format, &req);
    let resp = next.run(req).await;
    if let Some(seen) = seen {
        departure(*seen, Outcome::of_response(&resp));
    }
    resp
}

/// What the log line needs from the request, if the log is enabled now
/// (one cached interest check when it is not).
#[inline]
pub(crate) fn arrival(format: LogFormat, req: &Request) -> Option<Box<Seen>> {
    if !tracing::enabled!(target: ACCESS_LOG_TARGET, Level::INFO) {
        return None;
    }
    let start = Instant::now();
    let combined = format == LogFormat::Combined;
    let seen = Seen {
        method: req.method().clone(),
        target: req
            .uri()
            .path_and_query()
            .map_or_else(|| req.path().to_string(), |p| p.as_str().to_string()),
        version: req.version(),
        referer: combined
            .then(|| req.headers().get(REFERER).cloned())
            .flatten(),
        user_agent: combined
            .then(|| req.headers().get(USER_AGENT).cloned())
            .flatten(),
        request_id: req.extensions().get::<RequestId>().cloned(),
        combined,
        start,
    };
    Some(Box::new(seen))
}

/// Logs the answer to the request `seen` describes.
pub(crate) fn departure(seen: Seen, answer: Outcome<'_>) {
    let elapsed = seen.start.elapsed();
    let combined = seen.combined;
    let bytes = answer.body_len;
    let status = answer.status.as_u16();
    let request_id = match &seen.request_id {
        Some(id) => id.as_str(),
        None => answer.request_id().unwrap_or("-"),
    };
    let line = format_line(&seen, status, bytes, SystemTime::now(), combined);
    tracing::info!(
        target: ACCESS_LOG_TARGET,
        method = %seen.method,
        path = %seen.target,
        status,
        bytes = bytes.map_or(-1, |b| b as i64),
        duration_us = elapsed.as_micros() as u64,
        protocol = protocol(seen.version),
        core = core_index(),
        request_id = %request_id,
        "{line}"
    );
}

fn protocol(v: Version) -> &'static str {
    match v {
        Version::HTTP_09 => "HTTP/0.9",
        Version::HTTP_10 => "HTTP/1.0",
        Version::HTTP_11 => "HTTP/1.1",
        Version::HTTP_2 => "HTTP/2.0",
        Version::HTTP_3 => "HTTP/3.0",
        _ => "HTTP/?",
    }
}

/// The index of the core serving the request (the runtime's
/// [`current_core`](percore_runtime::current_core)); -1 off the workers
/// (tests, `App::oneshot`).
fn core_index() -> i64 {
    percore_runtime::current_core().map_or(-1, |i| i as i64)
}

/// The Common/Combined Log Format line.
fn format_line(
    seen: &Seen,
    status: u16,
    bytes: Option<u64>,
    now: SystemTime,
    combined: bool,
) -> String {
    #[cfg(test)]
    tests::LINES_MADE.with(|n| n.set(n.get() + 1));
    let mut line = String::with_capacity(128);
    line.push_str("- - - [");
    clf_time(&mut line, now);
    line.push_str("] \"");
    escape_into(&mut line, seen.method.as_str().as_bytes());
    line.push(' ');
    escape_into(&mut line, seen.target.as_bytes());
    let _ = write!(line, " {}\" {status} ", protocol(seen.version));
    match bytes {
        Some(b) => {
            let _ = write!(line, "{b}");
        }
        None => line.push('-'),
    }
    if combined {
        for field in [&seen.referer, &seen.user_agent] {
            line.push_str(" \"");
            match field {
                Some(v) => escape_into(&mut line, v.as_bytes()),
                None => line.push('-'),
            }
            line.push('"');
        }
    }
    line
}

/// Appends `bytes` with `"`, `\` and anything not visible ASCII escaped, so
/// a client cannot forge a line or a field.
fn escape_into(out: &mut String, bytes: &[u8]) {
    for &b in bytes {
        match b {
            b'"' => out.push_str("\\\""),
            b'\\' => out.push_str("\\\\"),
            b' '..=b'~' => out.push(b as char),
            _ => {
                let _ = write!(out, "\\x{b:02x}");
            }
        }
    }
}

/// `10/Oct/2000:13:55:36 +0000` (UTC), rearranged from the IMF-fixdate
/// `httpdate` formats (`Tue, 10 Oct 2000 13:55:36 GMT`).
fn clf_time(out: &mut String, now: SystemTime) {
    let imf = httpdate::fmt_http_date(now);
    let _ = write!(
        out,
        "{}/{}/{}:{} +0000",
        &imf[5..7],
        &imf[8..11],
        &imf[12..16],
        &imf[17..25]
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;
    use std::time::{Duration, UNIX_EPOCH};

    thread_local! {
        /// Access-log lines formatted on this thread.
        pub(super) static LINES_MADE: Cell<usize> = const { Cell::new(0) };
    }

    /// Serves `requests` requests through `AccessLog` under a subscriber of
    /// `level`; the lines formatted meanwhile.
    fn lines_made_at(level: Level, requests: usize) -> usize {
        let subscriber = tracing_subscriber::fmt()
            .with_writer(std::io::sink)
            .with_max_level(level)
            .finish();
        let _guard = tracing::subscriber::set_default(subscriber);
        let app = App::new()
            .plugin(AccessLog::combined())
            .route("/", super::super::get(|_r: Request| async { "hi" }));
        let before = LINES_MADE.with(Cell::get);
        percore_runtime::Runtime::new().unwrap().block_on(async {
            for _ in 0..requests {
                let resp = app.oneshot(http::Request::get("/").body("").unwrap()).await;
                assert_eq!(resp.status(), 200);
            }
        });
        LINES_MADE.with(Cell::get) - before
    }

    #[test]
    fn nothing_is_formatted_when_the_level_is_off() {
        assert_eq!(lines_made_at(Level::WARN, 3), 0);
        assert_eq!(lines_made_at(Level::INFO, 3), 3);
    }

    fn at(secs: u64) -> String {
        let mut s = String::new();
        clf_time(&mut s, UNIX_EPOCH + Duration::from_secs(secs));
        s
    }

    #[test]
    fn times_are_clf_utc() {
        assert_eq!(at(0), "01/Jan/1970:00:00:00 +0000");
        assert_eq!(at(971_211_336), "10/Oct/2000:20:55:36 +0000");
        assert_eq!(at(951_782_400), "29/Feb/2000:00:00:00 +0000");
        assert_eq!(at(4_102_444_799), "31/Dec/2099:23:59:59 +0000");
    }

    #[test]
    fn lines_escape_what_a_client_controls() {
        let seen = Seen {
            method: http::Method::GET,
            target: "/a?q=1".into(),
            version: Version::HTTP_11,
            referer: None,
            user_agent: Some(HeaderValue::from_bytes(b"evil\" \\ \t\xff").unwrap()),
            request_id: None,
            combined: true,
            start: Instant::now(),
        };
        let line = format_line(&seen, 200, Some(5), UNIX_EPOCH, true);
        assert_eq!(
            line,
            "- - - [01/Jan/1970:00:00:00 +0000] \"GET /a?q=1 HTTP/1.1\" 200 5 \"-\" \"evil\\\" \\\\ \\x09\\xff\""
        );
        let line = format_line(&seen, 404, None, UNIX_EPOCH, false);
        assert!(line.ends_with("\"GET /a?q=1 HTTP/1.1\" 404 -"), "{line}");
    }
}
