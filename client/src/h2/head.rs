//! The request head as HTTP/2 sends it, and the request URI cache.

use http::header::{self, HeaderMap, HeaderValue};
use http::Version;
use percore_http::Body;
use url::{Position, Url};

use super::H2Pool;
use crate::client::{authority, request_target, Prepared};
use crate::error::{Error, ErrorKind};

impl H2Pool {
    /// The request URI of `url`: scheme, authority and path with query
    /// (no credentials), from the one-entry cache when the URL repeats.
    fn uri(&self, url: &Url) -> Result<http::Uri, Error> {
        let plain = url.username().is_empty() && url.password().is_none();
        let text = &url[..Position::AfterQuery];
        if plain {
            if let Some((last, uri)) = &*self.last_uri.borrow() {
                if last == text {
                    return Ok(uri.clone());
                }
            }
        }
        let uri = if plain {
            // scheme://authority/path?query, as written in the URL.
            http::Uri::try_from(text)
        } else {
            let (authority, path) = (authority(url), request_target(url));
            http::Uri::try_from(format!("{}://{authority}{path}", url.scheme()))
        };
        let uri = uri.map_err(|e| Error::with_source(ErrorKind::InvalidUrl, "", e))?;
        if plain {
            let mut last = self.last_uri.borrow_mut();
            match &mut *last {
                Some((s, u)) => {
                    s.clear();
                    s.push_str(text);
                    *u = uri.clone();
                }
                None => *last = Some((text.to_owned(), uri.clone())),
            }
        }
        Ok(uri)
    }
}

/// The request head as HTTP/2 sees it: the URL's scheme, authority and
/// path, the headers and the body's length when known.
pub(super) fn request_head(
    pool: &H2Pool,
    req: &Prepared,
    headers: &HeaderMap,
    body: &Body,
) -> Result<http::Request<()>, Error> {
    let uri = pool.uri(&req.url)?;
    let mut request = http::Request::builder()
        .method(req.method.clone())
        .uri(uri)
        .version(Version::HTTP_2)
        .body(())
        .map_err(|e| Error::with_source(ErrorKind::InvalidUrl, "", e))?;
    *request.headers_mut() = headers.clone();
    let length = match body {
        Body::Empty => None,
        Body::Full(b) => Some(b.len() as u64),
        Body::Stream(s) => s.size_hint(),
    };
    if let Some(n) = length.filter(|&n| n > 0 || !matches!(body, Body::Empty)) {
        request
            .headers_mut()
            .insert(header::CONTENT_LENGTH, HeaderValue::from(n));
    }
    Ok(request)
}
