//! The one error type of the client, with kinds a caller can match.

use std::fmt;
use std::io;

use url::Url;

/// Which timeout expired.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeoutKind {
    /// Resolving the name and opening the connection.
    Connect,
    /// The whole request: connection, sending, the response and its body.
    Total,
    /// Waiting for the next bytes of the response (head or body).
    Read,
    /// Waiting for a connection of the pool (its limits were reached).
    PoolWait,
}

impl fmt::Display for TimeoutKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TimeoutKind::Connect => "connect",
            TimeoutKind::Total => "total",
            TimeoutKind::Read => "read",
            TimeoutKind::PoolWait => "pool wait",
        })
    }
}

/// What went wrong.
///
/// ```
/// use percore_client::{ErrorKind, TimeoutKind};
/// let kind = ErrorKind::Timeout(TimeoutKind::Read);
/// assert!(matches!(kind, ErrorKind::Timeout(TimeoutKind::Read)));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The URL cannot be requested (not `http`, no host, unparsable).
    InvalidUrl,
    /// The request could not be built (a bad header, a body that failed to
    /// serialize).
    Builder,
    /// The name did not resolve or no address accepted the connection.
    Connect,
    /// A timeout expired; which one is said.
    Timeout(TimeoutKind),
    /// The server broke HTTP/1.1: a malformed head, bad framing, a body
    /// cut short, a connection closed before any answer.
    Protocol,
    /// The body is larger than the response's limit.
    BodyTooLarge,
    /// More redirects than allowed (a loop, most likely).
    RedirectLoop,
    /// The socket failed (or the request body's stream did).
    Io,
    /// The body could not be decoded (content coding, JSON).
    Decode,
    /// The server refused the WebSocket upgrade or answered it wrongly
    /// (a status other than 101, a wrong `Sec-WebSocket-Accept`, a
    /// subprotocol or extension that was not offered); the detail says.
    Handshake,
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ErrorKind::InvalidUrl => f.write_str("invalid URL"),
            ErrorKind::Builder => f.write_str("invalid request"),
            ErrorKind::Connect => f.write_str("connect error"),
            ErrorKind::Timeout(which) => write!(f, "{which} timeout"),
            ErrorKind::Protocol => f.write_str("protocol error"),
            ErrorKind::BodyTooLarge => f.write_str("body too large"),
            ErrorKind::RedirectLoop => f.write_str("too many redirects"),
            ErrorKind::Io => f.write_str("I/O error"),
            ErrorKind::Decode => f.write_str("decode error"),
            ErrorKind::Handshake => f.write_str("websocket handshake failed"),
        }
    }
}

/// A failed request or response body.
///
/// ```
/// use percore_client::{Error, ErrorKind};
/// percore_runtime::Runtime::new().unwrap().block_on(async {
///     let client = percore_client::Client::new();
///     let err: Error = client.get("ftp://example.com/").send().await.unwrap_err();
///     assert_eq!(err.kind(), ErrorKind::InvalidUrl);
///     assert!(err.to_string().starts_with("invalid URL"));
/// });
/// ```
#[derive(Debug)]
pub struct Error {
    inner: Box<Inner>,
}

#[derive(Debug)]
struct Inner {
    kind: ErrorKind,
    detail: String,
    url: Option<Url>,
    source: Option<Box<dyn std::error::Error + Send + Sync>>,
}

impl Error {
    pub(crate) fn new(kind: ErrorKind, detail: impl Into<String>) -> Error {
        Error {
            inner: Box::new(Inner {
                kind,
                detail: detail.into(),
                url: None,
                source: None,
            }),
        }
    }

    pub(crate) fn with_source(
        kind: ErrorKind,
        detail: impl Into<String>,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> Error {
        let mut e = Error::new(kind, detail);
        e.inner.source = Some(Box::new(source));
        e
    }

    pub(crate) fn timeout(which: TimeoutKind) -> Error {
        Error::new(ErrorKind::Timeout(which), "")
    }

    pub(crate) fn io(detail: &str, e: io::Error) -> Error {
        Error::with_source(ErrorKind::Io, detail, e)
    }

    pub(crate) fn at(mut self, url: &Url) -> Error {
        if self.inner.url.is_none() {
            self.inner.url = Some(url.clone());
        }
        self
    }

    /// What went wrong.
    pub fn kind(&self) -> ErrorKind {
        self.inner.kind
    }

    /// Whether a timeout expired (any of them).
    pub fn is_timeout(&self) -> bool {
        matches!(self.inner.kind, ErrorKind::Timeout(_))
    }

    /// The URL of the request that failed, when known.
    pub fn url(&self) -> Option<&Url> {
        self.inner.url.as_ref()
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let e = &self.inner;
        write!(f, "{}", e.kind)?;
        if !e.detail.is_empty() {
            write!(f, ": {}", e.detail)?;
        }
        if let Some(source) = &e.source {
            write!(f, ": {source}")?;
        }
        if let Some(url) = &e.url {
            write!(f, " ({url})")?;
        }
        Ok(())
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.inner
            .source
            .as_deref()
            .map(|s| s as &(dyn std::error::Error + 'static))
    }
}
