//! The response a client gets: status, headers, the redirect chain, and
//! the body — streamed with [`Response::chunk`] or collected under a size
//! limit with [`Response::bytes`], [`Response::text`], [`Response::json`].

use std::cell::OnceCell;

use bytes::{Bytes, BytesMut};
use http::{HeaderMap, StatusCode, Version};
use percore_http::h1::response_fields;
use serde::de::DeserializeOwned;
use url::Url;

use crate::decode::Decoder;
use crate::error::{Error, ErrorKind};
use crate::h2::AnyBody;

/// Bytes of an unwanted body (a redirect's) read so that its connection
/// can be reused; a longer one closes the connection instead.
const DISCARD_LIMIT: usize = 64 * 1024;

/// An HTTP response whose head has arrived; the body is read on demand.
///
/// Dropping a response before its body is read to the end closes its
/// connection (a connection is reused only after a complete body). An
/// HTTP/1.1 body that arrived whole with its head is taken off the
/// connection at once, and the connection goes back to the pool before
/// the body is read.
///
/// ```no_run
/// # async fn demo() -> Result<(), percore_client::Error> {
/// let client = percore_client::Client::new();
/// let mut resp = client.get("http://127.0.0.1:8080/big").send().await?;
/// while let Some(chunk) = resp.chunk().await? {
///     println!("{} bytes", chunk.len());
/// }
/// # Ok(()) }
/// ```
pub struct Response {
    status: StatusCode,
    version: Version,
    /// The header map, built from `head` on first use (HTTP/1.1); boxed:
    /// the response is moved on its way out of the send path, and most
    /// callers never ask for the map.
    headers: OnceCell<Box<HeaderMap>>,
    /// An HTTP/1.1 head's bytes (empty for HTTP/2: its map is built).
    head: Bytes,
    /// Whether the client decodes the body: `content-encoding` and
    /// `content-length` are left out of the map.
    decoded: bool,
    /// The body's declared length (none once decoded).
    declared: Option<u64>,
    /// Set by the redirect loop, which owns the request's URL (moved in,
    /// not copied); `None` only inside the send path.
    url: Option<Url>,
    redirects: Vec<Url>,
    body: Option<AnyBody>,
    decoder: Option<Decoder>,
    max_body: u64,
}

impl std::fmt::Debug for Response {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Response")
            .field("status", &self.status)
            .field("version", &self.version)
            .field("url", &self.url().as_str())
            .field("headers", self.headers())
            .finish_non_exhaustive()
    }
}

/// A response's header fields as the protocol gave them.
pub(crate) enum Fields {
    /// A built map (HTTP/2), `content-encoding` and `content-length`
    /// already removed when the body is decoded.
    Map(HeaderMap),
    /// An HTTP/1.1 head's bytes, as `parse_response_head_lazy` accepted
    /// them: the map is built when first asked for.
    Raw {
        head: Bytes,
        /// The body is decoded (two fields to leave out of the map).
        decoded: bool,
        /// The declared body length, `None` when decoded.
        declared: Option<u64>,
    },
}

impl Response {
    pub(crate) fn new(
        status: StatusCode,
        version: Version,
        fields: Fields,
        body: Option<AnyBody>,
        decoder: Option<Decoder>,
        max_body: u64,
    ) -> Response {
        let (headers, head, decoded, declared) = match fields {
            Fields::Map(map) => {
                let declared = map
                    .get(http::header::CONTENT_LENGTH)
                    .and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
                (OnceCell::from(Box::new(map)), Bytes::new(), false, declared)
            }
            Fields::Raw {
                head,
                decoded,
                declared,
            } => (OnceCell::new(), head, decoded, declared),
        };
        Response {
            status,
            version,
            headers,
            head,
            decoded,
            declared,
            url: None,
            redirects: Vec::new(),
            body,
            decoder,
            max_body,
        }
    }

    /// The status code.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The HTTP version the server answered with.
    pub fn version(&self) -> Version {
        self.version
    }

    /// The header fields. When the client decoded the body's content
    /// coding, `content-encoding` and `content-length` are removed.
    pub fn headers(&self) -> &HeaderMap {
        self.headers.get_or_init(|| {
            let mut map = response_fields(&self.head);
            if self.decoded {
                map.remove(http::header::CONTENT_ENCODING);
                map.remove(http::header::CONTENT_LENGTH);
            }
            Box::new(map)
        })
    }

    /// The URL this response came from (after redirects).
    pub fn url(&self) -> &Url {
        match &self.url {
            Some(url) => url,
            None => unset_url(),
        }
    }

    /// The URL the response came from, given by the redirect loop.
    pub(crate) fn set_url(&mut self, url: Url) {
        self.url = Some(url);
    }

    /// `e`, naming the response's URL.
    fn at(&self, e: Error) -> Error {
        match &self.url {
            Some(url) => e.at(url),
            None => e,
        }
    }

    /// The URLs that redirected, in order, before [`Response::url`].
    pub fn redirects(&self) -> &[Url] {
        &self.redirects
    }

    pub(crate) fn set_redirects(&mut self, chain: Vec<Url>) {
        self.redirects = chain;
    }

    /// The limit [`Response::bytes`], [`Response::text`] and
    /// [`Response::json`] apply (the client's `max_body`, 16 MiB by
    /// default).
    pub fn max_body(&self) -> u64 {
        self.max_body
    }

    /// Changes the limit of [`Response::bytes`] and friends.
    pub fn set_max_body(&mut self, limit: u64) {
        self.max_body = limit;
    }

    /// The trailer fields of a chunked body, once it has been read to its
    /// end.
    pub fn trailers(&self) -> Option<&HeaderMap> {
        self.body.as_ref().and_then(AnyBody::trailers)
    }

    /// The next piece of the body (decoded), `None` at its end. Not
    /// limited by `max_body`: a stream's reader decides how much it takes.
    pub async fn chunk(&mut self) -> Result<Option<Bytes>, Error> {
        loop {
            // A coded body: what the decoder still holds comes first, at
            // most `OUT_MAX` bytes at a time, before more is read.
            if let Some(decoder) = self.decoder.as_mut() {
                match decoder.pull() {
                    Ok(Some(out)) => return Ok(Some(out)),
                    Ok(None) if decoder.is_ended() => self.decoder = None,
                    Ok(None) => {}
                    Err(e) => {
                        let e = Error::with_source(ErrorKind::Decode, "content coding", e);
                        return Err(self.at(e));
                    }
                }
            }
            let Some(body) = self.body.as_mut() else {
                return Ok(None);
            };
            let raw = match body.next().await {
                Ok(raw) => raw,
                Err(e) => return Err(self.at(e)),
            };
            let Some(decoder) = self.decoder.as_mut() else {
                return Ok(raw);
            };
            match raw {
                Some(raw) => decoder.push(raw),
                None => decoder.end(),
            }
        }
    }

    /// The whole body, failing with [`ErrorKind::BodyTooLarge`] beyond
    /// [`Response::max_body`] bytes.
    pub async fn bytes(mut self) -> Result<Bytes, Error> {
        let limit = self.max_body;
        let declared = self.declared;
        let too_large = || {
            Error::new(
                ErrorKind::BodyTooLarge,
                format!("response body larger than {limit} bytes"),
            )
        };
        let unread = self.body.as_ref().is_some_and(|b| !b.is_finished());
        if unread && declared.is_some_and(|n| n > limit) {
            return Err(self.at(too_large()));
        }
        if let (Some(AnyBody::Ready(ready)), None) = (&mut self.body, &self.decoder) {
            // The whole body came with the head and is not decoded: it is
            // the answer, without the chunk loop below.
            // Its length is the declared one, checked against `limit` above.
            let all = ready.take().unwrap_or_default();
            debug_assert!(all.len() as u64 <= limit);
            return Ok(all);
        }
        let (mut first, mut all, mut total) = (None::<Bytes>, BytesMut::new(), 0u64);
        while let Some(chunk) = self.chunk().await? {
            total += chunk.len() as u64;
            if total > limit {
                return Err(self.at(too_large()));
            }
            match first.take() {
                None if all.is_empty() => first = Some(chunk), // maybe the only one: no copy
                Some(f) => {
                    all.extend_from_slice(&f);
                    all.extend_from_slice(&chunk);
                }
                None => all.extend_from_slice(&chunk),
            }
        }
        Ok(first.unwrap_or_else(|| all.freeze()))
    }

    /// The whole body as text (UTF-8; invalid sequences replaced).
    pub async fn text(self) -> Result<String, Error> {
        let bytes = self.bytes().await?;
        Ok(String::from_utf8_lossy(&bytes).into_owned())
    }

    /// The whole body parsed as JSON.
    pub async fn json<T: DeserializeOwned>(self) -> Result<T, Error> {
        let url = self.url.clone();
        let bytes = self.bytes().await?;
        serde_json::from_slice(&bytes).map_err(|e| {
            let e = Error::with_source(ErrorKind::Decode, "JSON body", e);
            match &url {
                Some(url) => e.at(url),
                None => e,
            }
        })
    }

    /// Reads a small unwanted body so the connection can be reused; a
    /// larger one, or one that fails, just closes the connection.
    pub(crate) async fn discard(mut self) {
        let mut read = 0usize;
        while read <= DISCARD_LIMIT {
            match self.body.as_mut() {
                Some(body) => match body.next().await {
                    Ok(Some(b)) => read += b.len(),
                    _ => return,
                },
                None => return,
            }
        }
    }
}

/// What [`Response::url`] shows for a response the redirect loop has not
/// handed out yet (no caller sees one): `about:blank`.
fn unset_url() -> &'static Url {
    static BLANK: std::sync::OnceLock<Url> = std::sync::OnceLock::new();
    BLANK.get_or_init(|| Url::parse("about:blank").expect("about:blank is a URL"))
}
