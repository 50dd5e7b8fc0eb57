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
    /// The request's header block, by `encoder`; an extended CONNECT (a
    /// [`Protocol`] extension) gets `:protocol`.
    pub(super) fn encode<B>(
        &self,
        encoder: &mut Encoder,
        request: &Request<B>,
        dst: &mut BytesMut,
    ) {
        let headers = self.filtered.as_ref().unwrap_or(request.headers());
        match (request.extensions().get::<Protocol>(), self.authority) {
            (Some(protocol), Some(authority)) => encoder.encode_extended_connect(
                protocol.as_str(),
                self.scheme,
                authority,
                self.path,
                headers,
                dst,
            ),
            _ => encoder.encode_request(
                request.method(),
                self.scheme,
                self.authority,
                self.path,
                headers,
                dst,
            ),
        }
    }
}

pub(super) fn request_target<B>(request: &Request<B>) -> Result<RequestTarget<'_>, OpenError> {
    let extended = request.extensions().get::<Protocol>().is_some();
    if request.method() == Method::CONNECT && !extended {
        return Err(OpenError::InvalidRequest("CONNECT is not supported"));
    }
    if request.method() != Method::CONNECT && extended {
        return Err(OpenError::InvalidRequest(":protocol outside CONNECT"));
    }
    let uri = request.uri();
    let headers = request.headers();
    let host = headers.get(HOST);
    let authority = match uri.authority() {
        Some(a) => Some(a.as_str()),
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
        scheme: uri.scheme_str().unwrap_or("http"),
        authority,
        path: uri.path_and_query().map_or("/", |pq| pq.as_str()),
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
        target.encode(&mut Encoder::without_table(), request, &mut block);
        Ok(PreparedRequest {
            block: block.freeze(),
            method_is_head: request.method() == Method::HEAD,
        })
    }
}
