//! Redirects: the loop that follows them and the rules for the next hop.

use super::{Client, Prepared};

use http::header;
use http::{Method, StatusCode};
use percore_http::Body;
use url::Url;

use crate::error::{Error, ErrorKind, TimeoutKind};
use crate::pool::Origin;
use crate::response::Response;
use crate::within::within;

impl Client {
    /// Sends a request, following redirects, each hop (and the body of
    /// a redirect, read to reuse its connection) within what is left of
    /// the total timeout. An error names the URL of the hop that failed
    /// (the request's own unless a redirect was followed).
    /// (Takes the client and the request, or why it could not be built,
    /// by value: it is the future [`RequestBuilder::send`] returns, the
    /// redirect loop in it, no future in between: each layer moves the
    /// response it returns.)
    ///
    /// [`RequestBuilder::send`]: crate::RequestBuilder::send
    #[allow(clippy::manual_async_fn)] // on purpose: see the block's comment
    pub(crate) fn execute(
        client: Client,
        mut args: Result<Prepared, Error>,
    ) -> impl std::future::Future<Output = Result<Response, Error>> {
        // An `async` block, not an `async fn`: an `async fn` moves its
        // arguments into locals of its own, and the request would take
        // its room in the future twice; the block uses them in place.
        async move {
            let req = match args {
                Ok(ref mut req) => req,
                Err(e) => return Err(e),
            };
            let total = req.timeout.or(client.inner.cfg.timeouts.total);
            let deadline = total.map(|d| crate::now() + d);
            let elapsed = |url: &Url| Error::timeout(TimeoutKind::Total).at(url);
            let mut chain = Vec::new();
            loop {
                let mut resp = match within(deadline, client.send_once(req, deadline)).await {
                    Ok(Ok(resp)) => resp,
                    Ok(Err(e)) => return Err(e.at(&req.url)),
                    Err(_) => return Err(elapsed(&req.url)),
                };
                if client.inner.cfg.cookies {
                    // (Not asked otherwise: an HTTP/1.1 head's map is built
                    // only when someone reads it.)
                    client.store_cookies(&req.url, resp.headers());
                }
                let Some(next) = client.redirect(req, &resp).map_err(|e| e.at(&req.url))? else {
                    resp.set_redirects(chain);
                    if let Ok(done) = args {
                        resp.set_url(done.url); // moved, not copied: the request ends here
                    }
                    return Ok(resp);
                };
                if chain.len() >= client.inner.cfg.max_redirects {
                    let max = client.inner.cfg.max_redirects;
                    return Err(Error::new(
                        ErrorKind::RedirectLoop,
                        format!("more than {max} redirects"),
                    )
                    .at(&req.url));
                }
                if within(deadline, resp.discard()).await.is_err() {
                    return Err(elapsed(&req.url));
                }
                chain.push(std::mem::replace(&mut req.url, next));
            }
        }
    }

    /// Where a redirect response sends the request next, adjusting the
    /// request (method, body, credentials) for it; `None` when `resp` is
    /// the answer.
    fn redirect(&self, req: &mut Prepared, resp: &Response) -> Result<Option<Url>, Error> {
        let status = resp.status();
        let keeps_method = match status {
            StatusCode::MOVED_PERMANENTLY | StatusCode::FOUND | StatusCode::SEE_OTHER => false,
            StatusCode::TEMPORARY_REDIRECT | StatusCode::PERMANENT_REDIRECT => true,
            _ => return Ok(None),
        };
        if self.inner.cfg.max_redirects == 0 {
            return Ok(None);
        }
        let Some(location) = resp.headers().get(header::LOCATION) else {
            return Ok(None);
        };
        let location = std::str::from_utf8(location.as_bytes())
            .map_err(|_| Error::new(ErrorKind::Protocol, "Location is not UTF-8"))?;
        let next = req
            .url
            .join(location)
            .map_err(|e| Error::with_source(ErrorKind::Protocol, "invalid Location", e))?;
        let to_get = !keeps_method
            && req.method != Method::HEAD
            && (status == StatusCode::SEE_OTHER || req.method == Method::POST);
        if !to_get && req.streamed {
            return Ok(None); // a streamed body cannot be sent again
        }
        if to_get {
            req.method = Method::GET;
            req.body = Body::Empty;
            req.streamed = false;
            for name in [
                header::CONTENT_TYPE,
                header::CONTENT_LENGTH,
                header::CONTENT_ENCODING,
                header::TRANSFER_ENCODING,
            ] {
                req.headers.remove(name);
            }
        }
        if Origin::of(&next).ok() != Origin::of(&req.url).ok() {
            for name in [
                header::AUTHORIZATION,
                header::COOKIE,
                header::PROXY_AUTHORIZATION,
            ] {
                req.headers.remove(name);
            }
        }
        Ok(Some(next))
    }
}
