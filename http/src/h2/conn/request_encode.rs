//! Encoding a client request's head for HTTP/2: the pseudo-header values
//! (`RequestTarget`) and heads encoded once for any connection
//! (`PreparedRequest`).

use bytes::{Bytes, BytesMut};
use http::header::{HOST, TE};
use http::{HeaderMap, Method, Request};

use super::client::OpenError;
use crate::h2::hpack::Encoder;
use crate::upgrade::Protocol;

/// The pseudo-header values of a request: `:scheme`, `:authority` (the
/// URI's, else the Host field's) and `:path`; and the fields to send
/// when some must be left out (Host once it became `:authority`, `te`
/// other than `trailers`).
pub(super) struct RequestTarget<'a> {
    scheme: &'a str,
    pub(super) authority: Option<&'a str>,
    path: &'a str,
    filtered: Option<HeaderMap>,
}

impl RequestTarget<'_> {
    /// The request's header block, by `encoder`, into `dst`; with a
    /// `protocol` (an extended CONNECT) it gets `:protocol`.
    pub(super) fn encode(
        &self,
        encoder: &mut Encoder,
        method: &Method,
        protocol: Option<&Protocol>,
        headers: &HeaderMap,
        dst: &mut BytesMut,
    ) {
        let headers = self.filtered.as_ref().unwrap_or(headers);
        match (protocol, self.authority) {
            (Some(protocol), Some(authority)) => encoder.encode_extended_connect(
                protocol.as_str(),
                self.scheme,
                authority,
                self.path,
                headers,
                dst,
            ),
            _ => {
                encoder.encode_request(method, self.scheme, self.authority, self.path, headers, dst)
            }
        }
    }
}

/// A request head given as borrowed parts, for
/// [`ClientConnection::send_head`](super::ClientConnection::send_head):
/// no `http::Request` (nor its `Uri`, nor a copy of the header map) to
/// build per request. The same rules as for a `Request` apply: `:authority`
/// is `authority`, else the `Host` field; `Host` and a `te` other than
/// `trailers` are left out. The values go out as given: `scheme`,
/// `authority` and `path` must be valid URI parts (as `http::Uri`'s are);
/// an empty `path` is sent as `/`.
#[derive(Debug, Clone, Copy)]
pub struct RequestHead<'a> {
    /// The method (not CONNECT: an extended CONNECT goes through
    /// `send_request` with a [`Protocol`] extension).
    pub method: &'a Method,
    /// `:scheme`, e.g. `http`.
    pub scheme: &'a str,
    /// `:authority` (host and port), when known.
    pub authority: Option<&'a str>,
    /// `:path`: path and query.
    pub path: &'a str,
    /// The regular header fields.
    pub headers: &'a HeaderMap,
}

pub(super) fn request_target<B>(request: &Request<B>) -> Result<RequestTarget<'_>, OpenError> {
    let extended = request.extensions().get::<Protocol>().is_some();
    let uri = request.uri();
    target_of(
        request.method(),
        extended,
        uri.scheme_str().unwrap_or("http"),
        uri.authority().map(|a| a.as_str()),
        uri.path_and_query().map_or("/", |pq| pq.as_str()),
        request.headers(),
    )
}

/// [`request_target`] of a [`RequestHead`].
pub(super) fn head_target<'a>(head: &RequestHead<'a>) -> Result<RequestTarget<'a>, OpenError> {
    let path = if head.path.is_empty() { "/" } else { head.path };
    target_of(
        head.method,
        false,
        head.scheme,
        head.authority,
        path,
        head.headers,
    )
}

fn target_of<'a>(
    method: &Method,
    extended: bool,
    scheme: &'a str,
    authority: Option<&'a str>,
    path: &'a str,
    headers: &'a HeaderMap,
) -> Result<RequestTarget<'a>, OpenError> {
    if method == Method::CONNECT && !extended {
        return Err(OpenError::InvalidRequest("CONNECT is not supported"));
    }
    if method != Method::CONNECT && extended {
        return Err(OpenError::InvalidRequest(":protocol outside CONNECT"));
    }
    let host = headers.get(HOST);
    let authority = match authority {
        Some(a) => Some(a),
        None => match host {
            Some(h) => Some(
                h.to_str()
                    .map_err(|_| OpenError::InvalidRequest("bad Host"))?,
            ),
            None => None,
        },
    };
    let bad_te = headers.get_all(TE).iter().any(|v| v != "trailers");
    let filtered = (host.is_some() || bad_te).then(|| {
        let mut h = headers.clone();
        h.remove(HOST);
        if bad_te {
            h.remove(TE);
        }
        h
    });
    Ok(RequestTarget {
        scheme,
        authority,
        path,
        filtered,
    })
}

/// A request head (method, URI, headers) encoded once, for
/// [`ClientConnection::send_prepared`] on any connection, any number of
/// times. Its header block refers only to HPACK's static table and
/// indexes nothing, so it never depends on, nor changes, a connection's
/// dynamic tables.
///
/// ```
/// use percore_http::h2::conn::{ClientConnection, PreparedRequest};
/// use percore_http::Limits;
/// let request = http::Request::get("http://example.com/").body(()).unwrap();
/// let prepared = PreparedRequest::new(&request).unwrap();
/// let mut conn = ClientConnection::new(&Limits::default());
/// assert_eq!(conn.send_prepared(&prepared, true).unwrap(), 1);
/// assert_eq!(conn.send_prepared(&prepared, true).unwrap(), 3);
/// ```
#[derive(Debug, Clone)]
pub struct PreparedRequest {
    pub(super) block: Bytes,
    pub(super) method_is_head: bool,
}

impl PreparedRequest {
    /// Encodes `request`'s head as [`ClientConnection::send_request`]
    /// would (same pseudo-headers, same fields left out).
    pub fn new<B>(request: &Request<B>) -> Result<PreparedRequest, OpenError> {
        if request.extensions().get::<Protocol>().is_some() {
            // send_prepared opens plain streams only.
            return Err(OpenError::InvalidRequest(
                "an extended CONNECT cannot be prepared",
            ));
        }
        let target = request_target(request)?;
        let mut block = BytesMut::new();
        target.encode(
            &mut Encoder::without_table(),
            request.method(),
            None,
            request.headers(),
            &mut block,
        );
        Ok(PreparedRequest {
            block: block.freeze(),
            method_is_head: request.method() == Method::HEAD,
        })
    }
}
