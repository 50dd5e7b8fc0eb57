//! The one error type of the client, with kinds a caller can match.

use std::fmt;
use std::io;

use url::Url;

/// Which timeout expired (more may be added: match with a wildcard arm).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum TimeoutKind {
    /// Resolving the name and opening the connection.
    Connect,
    /// The whole request: connection, sending, the response and its body.
    Total,
    /// Waiting for the next bytes of the response (head or body).
    Read,
    /// Waiting for a connection of the pool (its limits were reached).
    PoolWait,
    /// An HTTP/2 connection's keep-alive PING was not answered in time
    /// (see [`ClientBuilder::http2_keep_alive`](crate::ClientBuilder::http2_keep_alive)):
    /// the connection was closed under its requests.
    KeepAlive,
}

impl fmt::Display for TimeoutKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TimeoutKind::Connect => "connect",
            TimeoutKind::Total => "total",
            TimeoutKind::Read => "read",
            TimeoutKind::PoolWait => "pool wait",
            TimeoutKind::KeepAlive => "HTTP/2 keep-alive (PING)",
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
    /// TLS failed: the server's certificate was not trusted (unknown
    /// issuer, expired, not valid for the host name), the handshake broke
    /// down, or the server sent an alert (e.g. it wanted a client
    /// certificate). The detail says which; [`Error::tls`] gives the
    /// `rustls::Error` to match on when there is one.
    Tls,
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
            ErrorKind::Tls => f.write_str("TLS error"),
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

    /// An I/O failure; one that TLS reported (a rustls error inside the
    /// `io::Error`: an alert, a bad record) is of kind [`ErrorKind::Tls`].
    pub(crate) fn io(detail: &str, e: io::Error) -> Error {
        match tls_cause(&e) {
            Some(tls) => Error::with_source(ErrorKind::Tls, detail, tls),
            None => Error::with_source(ErrorKind::Io, detail, e),
        }
    }

    /// The error of a TLS handshake with `host` that did not complete:
    /// [`TimeoutKind::Connect`] when it ran out of time, else
    /// [`ErrorKind::Tls`].
    pub(crate) fn handshake(host: &str, e: io::Error) -> Error {
        if e.kind() == io::ErrorKind::TimedOut {
            return Error::timeout(TimeoutKind::Connect);
        }
        let detail = format!("TLS handshake with {host} failed");
        match tls_cause(&e) {
            Some(tls) => Error::with_source(ErrorKind::Tls, detail, tls),
            None => Error::with_source(ErrorKind::Tls, detail, e),
        }
    }

    /// A copy for each request of a failed connection: the same kind,
    /// detail and URL; the source as text, except a TLS one, which stays
    /// a `rustls::Error` for [`Error::tls`].
    pub(crate) fn copy(&self) -> Error {
        let e = &self.inner;
        let source: Option<Box<dyn std::error::Error + Send + Sync>> = match (self.tls(), &e.source)
        {
            (Some(tls), _) => Some(Box::new(tls.clone())),
            (None, Some(s)) => Some(s.to_string().into()),
            (None, None) => None,
        };
        Error {
            inner: Box::new(Inner {
                kind: e.kind,
                detail: e.detail.clone(),
                url: e.url.clone(),
                source,
            }),
        }
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

    /// The TLS error behind an [`ErrorKind::Tls`] error, when rustls gave
    /// one (not for a peer that closed mid-handshake): match on it for
    /// the exact cause.
    ///
    /// ```no_run
    /// use percore_client::{Client, ErrorKind};
    /// use percore_tls::rustls::{CertificateError, Error as TlsError};
    /// percore_runtime::Runtime::new().unwrap().block_on(async {
    ///     let err = Client::new().get("https://self-signed.badssl.com/").send().await.unwrap_err();
    ///     assert_eq!(err.kind(), ErrorKind::Tls);
    ///     assert!(matches!(
    ///         err.tls(),
    ///         Some(TlsError::InvalidCertificate(CertificateError::UnknownIssuer))
    ///     ));
    /// });
    /// ```
    pub fn tls(&self) -> Option<&percore_tls::rustls::Error> {
        self.inner.source.as_deref()?.downcast_ref()
    }

    /// The URL of the request that failed, when known.
    pub fn url(&self) -> Option<&Url> {
        self.inner.url.as_ref()
    }
}

/// The rustls error inside `e`, if TLS caused it.
fn tls_cause(e: &io::Error) -> Option<percore_tls::rustls::Error> {
    e.get_ref()?
        .downcast_ref::<percore_tls::rustls::Error>()
        .cloned()
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
