//! The send path: one request over a pooled HTTP/1.1 connection (one
//! retry on a stale keep-alive connection) or over HTTP/2.

use super::{idempotent, Client, Prepared};
use std::borrow::Cow;
use std::time::Instant;

use http::header::{self, HeaderMap};
use percore_http::h1::{ResponseDecoder, ResponseFraming};
use percore_http::Body;
use percore_runtime::time::timeout_from_wait;
use url::{Position, Url};

use crate::alpn::{Proto, Route};
use crate::connect::connect;
use crate::decode::{Coding, Decoder};
use crate::error::{Error, ErrorKind, TimeoutKind};
use crate::h1::{exchange, BodyReader, Failure, Outgoing};
use crate::h2;
use crate::h2::AnyBody;
use crate::pool::{Acquired, Conn, Origin};
use crate::response::{Fields, Response};

impl Client {
    /// One request and its response head, retried once on a fresh
    /// connection when a reused one turns out closed and a retry is safe.
    pub(super) async fn send_once(
        &self,
        req: &mut Prepared,
        deadline: Option<Instant>,
    ) -> Result<Response, Error> {
        let cfg = &self.inner.cfg;
        let origin = self.origin_of(&req.url)?;
        let decode = cfg.decompress && !req.headers.contains_key(header::ACCEPT_ENCODING);
        let cookie = match cfg.cookies {
            true => self.inner.jar.borrow().header_for(&req.url),
            false => None,
        };
        // The client's default headers as they are when the request adds
        // none (no copy of the map per request), else a merged copy.
        let defaults = match decode {
            true => &self.inner.decoding,
            false => &self.inner.defaults,
        };
        let headers = if req.headers.is_empty() && cookie.is_none() {
            Cow::Borrowed(&defaults.headers)
        } else {
            // `defaults` carries `Accept-Encoding` when the response is
            // decoded (then the request names none of its own).
            let mut headers = defaults.headers.clone();
            for name in req.headers.keys() {
                headers.remove(name);
            }
            for (name, value) in &req.headers {
                headers.append(name.clone(), value.clone());
            }
            if let Some(cookie) = cookie {
                headers.insert(header::COOKIE, cookie);
            }
            Cow::Owned(headers)
        };
        if req.http2 || cfg.http2_prior_knowledge {
            return self.send_h2(&origin, req, &headers, decode, deadline).await;
        }
        // https: ALPN decides, once per origin (see `crate::alpn`).
        let mut _probe = None;
        if origin.is_tls() && self.inner.tls.offers_h2 {
            let wait_until = cfg.timeouts.pool_wait.map(|d| crate::now() + d);
            match self.inner.h2.alpn.route(&origin, wait_until).await? {
                Route::Known(Proto::H2) => {
                    return self.send_h2(&origin, req, &headers, decode, deadline).await
                }
                Route::Known(Proto::H1) => {}
                Route::Probe(guard) => _probe = Some(guard),
            }
        }
        // The client's defaults as they are: encoded once, their verdicts
        // known (no map walk, no lookups per request).
        let (fields, expect_continue, close_asked) = match &headers {
            Cow::Borrowed(_) => (
                Some(&defaults.fields),
                defaults.expect_continue,
                defaults.close,
            ),
            Cow::Owned(h) => (None, expects_continue(h), asks_close(h)),
        };
        let out = Outgoing {
            method: &req.method,
            target: request_target(&req.url),
            host: authority(&req.url),
            headers: &headers,
            fields,
            expect_continue,
            limits: &cfg.limits,
            read_timeout: cfg.timeouts.read,
            total: deadline,
            continue_timeout: cfg.continue_timeout,
        };
        let replayable = !req.streamed;
        let mut fresh_only = false;
        loop {
            let mut conn = match self.connection(&origin, fresh_only).await? {
                Some(conn) => conn,
                // ALPN chose HTTP/2: the connection went to the HTTP/2 pool.
                None => return self.send_h2(&origin, req, &headers, decode, deadline).await,
            };
            let reused = conn.reused;
            let mut body = match &req.body {
                Body::Full(b) => Body::Full(b.clone()),
                Body::Empty => Body::Empty,
                Body::Stream(_) => std::mem::take(&mut req.body),
            };
            match exchange(&mut conn, &out, &mut body).await {
                Ok(mut answer) => {
                    answer.must_close |= close_asked;
                    return Ok(self.response(conn, answer, decode, deadline));
                }
                Err(Failure::Stale { sent, err })
                    if reused
                        && !fresh_only
                        && (!sent || (idempotent(&req.method) && replayable)) =>
                {
                    tracing::debug!("stale pooled connection ({err}); retrying on a new one");
                    if let Body::Stream(_) = body {
                        req.body = body; // never polled: send it on the new connection
                    }
                    fresh_only = true;
                }
                Err(Failure::Stale { err, .. } | Failure::Fatal(err)) => return Err(err),
            }
        }
    }

    /// [`Origin::of`] `url`, the last one asked for shared when it is the
    /// same (requests go to one origin again and again: no copy of its
    /// host each time). A URL whose text up to its port is the last one's
    /// has its origin (scheme, host and port are read from that text):
    /// one comparison instead of taking the URL apart.
    pub(super) fn origin_of(&self, url: &Url) -> Result<Origin, Error> {
        let prefix = &url[..Position::AfterPort];
        let mut last = self.inner.last_origin.borrow_mut();
        if let Some((text, o)) = last.as_ref() {
            if **text == *prefix {
                return Ok(o.clone());
            }
        }
        let (scheme, host, port) = Origin::parts(url)?;
        let origin = match last.as_ref() {
            Some((_, o)) if o.port == port && o.scheme == scheme && *o.host == *host => o.clone(),
            _ => Origin {
                scheme,
                host: host.into(),
                port,
            },
        };
        *last = Some((prefix.into(), origin.clone()));
        Ok(origin)
    }

    /// One request over HTTP/2 (see [`crate::h2`]): its future itself,
    /// not one more `async fn` around it (each layer of the send path
    /// moves the response it returns).
    fn send_h2<'a>(
        &'a self,
        origin: &'a Origin,
        req: &'a mut Prepared,
        headers: &'a HeaderMap,
        decode: bool,
        deadline: Option<Instant>,
    ) -> impl std::future::Future<Output = Result<Response, Error>> + 'a {
        h2::send(
            &self.inner.h2,
            self.h2_ctx(),
            origin,
            req,
            headers,
            decode,
            deadline,
        )
    }

    /// What the HTTP/2 pool needs from the client.
    pub(crate) fn h2_ctx(&self) -> h2::Ctx<'_> {
        let cfg = &self.inner.cfg;
        h2::Ctx {
            pool: &self.inner.pool,
            limits: &cfg.limits,
            unix_socket: cfg.unix_socket.as_deref(),
            connect_timeout: cfg.timeouts.connect,
            read_timeout: cfg.timeouts.read,
            pool_wait: cfg.timeouts.pool_wait,
            idle_timeout: cfg.pool.idle_timeout,
            max_body: cfg.max_body,
            tls: &self.inner.tls.https,
            keep_alive: cfg.h2_keep_alive,
        }
    }

    /// A pooled HTTP/1.1 connection, or a new one; `None` when the new
    /// one is TLS and ALPN chose HTTP/2: it then joins the HTTP/2 pool
    /// (with its permit), and the origin's requests go there from now on.
    async fn connection(&self, origin: &Origin, fresh_only: bool) -> Result<Option<Conn>, Error> {
        let cfg = &self.inner.cfg;
        let pool = &self.inner.pool;
        // A connection at hand (the usual case) without the wait's future.
        let acquired = match pool.try_acquire(origin, fresh_only) {
            Some(got) => got,
            None => match cfg.timeouts.pool_wait {
                // The limit counts from when the pool first makes it wait.
                Some(d) => timeout_from_wait(d, pool.acquire(origin, fresh_only))
                    .await
                    .map_err(|_| Error::timeout(TimeoutKind::PoolWait))?,
                None => pool.acquire(origin, fresh_only).await,
            },
        };
        match acquired {
            Acquired::Reused(conn) => {
                if origin.is_tls() {
                    // A pooled TLS connection speaks HTTP/1.1: that answers
                    // a probe as well as a new connection would.
                    self.inner.h2.alpn.set(origin, Proto::H1);
                }
                Ok(Some(conn))
            }
            Acquired::Slot(permit) => {
                // Boxed: a connect (a TLS handshake's state included) is
                // rare and large; inline, every request's future would
                // carry its size and every move of it would copy that.
                let stream = Box::pin(connect(
                    origin,
                    cfg.unix_socket.as_deref(),
                    cfg.timeouts.connect,
                    &self.inner.tls.https,
                ))
                .await?;
                if stream.alpn_h2() {
                    self.inner.h2.adopt(&self.h2_ctx(), origin, stream, permit);
                    return Ok(None);
                }
                if origin.is_tls() {
                    self.inner.h2.alpn.set(origin, Proto::H1);
                }
                Ok(Some(Conn::new(stream, permit)))
            }
        }
    }

    /// The response to hand out, its body reader owning the connection.
    fn response(
        &self,
        conn: Conn,
        answer: crate::h1::Answer,
        decode: bool,
        deadline: Option<Instant>,
    ) -> Response {
        let cfg = &self.inner.cfg;
        let head = answer.head;
        let decoder = head
            .content_encoding()
            .filter(|_| decode && head.body != ResponseFraming::Empty)
            .and_then(Coding::from_header)
            .map(Decoder::new);
        // The declared length `Response::bytes` checks early: none once
        // the body is decoded (the header is removed then).
        let declared = match head.body {
            ResponseFraming::Length(n) if decoder.is_none() => Some(n),
            _ => None,
        };
        let keep_alive = head.keep_alive && !answer.must_close;
        let body = match declared {
            // The whole body came with the head (a small answer usually
            // does): take it now and give the connection back, no reader.
            Some(n) if conn.input.buffer().len() as u64 >= n => {
                ready_body(conn, n as usize, keep_alive, &self.inner.pool)
            }
            _ => {
                let limits = cfg.limits.clone().max_body_size(u64::MAX);
                BodyReader::new(
                    conn,
                    ResponseDecoder::new(head.body, &limits),
                    keep_alive,
                    self.inner.pool.clone(),
                    cfg.timeouts.read,
                    deadline,
                )
                .into()
            }
        };
        let (status, version) = (head.status, head.version);
        Response::new(
            status,
            version,
            Fields::Raw {
                head: head.into_bytes(),
                decoded: decoder.is_some(),
                declared,
            },
            Some(body),
            decoder,
            cfg.max_body,
        )
    }
}

/// A body of `n` bytes already in `conn`'s buffer, split off; the
/// connection goes back to `pool` when it may be reused and nothing
/// follows the body (as [`BodyReader`] does at a body's end), else closes.
fn ready_body(mut conn: Conn, n: usize, keep_alive: bool, pool: &crate::pool::Pool) -> AnyBody {
    let buf = conn.buf();
    let data = buf.split_to(n).freeze();
    if keep_alive && buf.is_empty() {
        pool.release(conn);
    }
    AnyBody::Ready(Some(data))
}

/// Whether `headers` ask for `Expect: 100-continue`.
pub(crate) fn expects_continue(headers: &HeaderMap) -> bool {
    headers
        .get(header::EXPECT)
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"100-continue"))
}

/// Whether `headers` ask for `Connection: close`.
pub(crate) fn asks_close(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::CONNECTION)
        .iter()
        .any(|v| v.as_bytes().eq_ignore_ascii_case(b"close"))
}

/// The `Host` value for `url`: its host, and its port unless the default
/// (a slice of the URL's text: no allocation per request).
pub(crate) fn authority(url: &Url) -> &str {
    &url[Position::BeforeHost..Position::AfterPort]
}

/// [`authority`], owned.
pub(crate) fn host_header(url: &Url) -> String {
    authority(url).to_string()
}

/// The request target of `url`: its path and query (a slice of the URL's
/// text: no allocation per request).
pub(crate) fn request_target(url: &Url) -> &str {
    &url[Position::BeforePath..Position::AfterQuery]
}

impl Origin {
    /// The origin of an `http` or `https` URL.
    pub(crate) fn of(url: &Url) -> Result<Origin, Error> {
        let (scheme, host, port) = Origin::parts(url)?;
        Ok(Origin {
            scheme,
            host: host.into(),
            port,
        })
    }

    /// [`Origin::of`] without the copy of the host: scheme, host, port.
    fn parts(url: &Url) -> Result<(&'static str, &str, u16), Error> {
        let scheme = match url.scheme() {
            "http" => "http",
            "https" => "https",
            other => {
                return Err(Error::new(
                    ErrorKind::InvalidUrl,
                    format!("scheme {other:?} is not supported (http and https only)"),
                ))
            }
        };
        let host = url
            .host_str()
            .filter(|h| !h.is_empty())
            .ok_or_else(|| Error::new(ErrorKind::InvalidUrl, "no host"))?;
        Ok((scheme, host, url.port_or_known_default().unwrap_or(80)))
    }

    /// Whether connections to this origin are TLS (`https`).
    pub(crate) fn is_tls(&self) -> bool {
        self.scheme == "https"
    }
}
