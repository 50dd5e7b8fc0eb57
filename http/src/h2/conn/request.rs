//! Request header lists → `http` requests, with the checks of RFC 9113 §8:
//! pseudo-headers (order, duplicates, missing, unknown), lowercase names,
//! no connection-specific fields, `te: trailers` only, and content-length;
//! RFC 8441's extended CONNECT (`:protocol`, with `:scheme` and `:path`).

use bytes::Bytes;
use http::header::HOST;
use http::uri::{Authority, PathAndQuery, Scheme};
use http::{HeaderMap, Method, Request, Uri, Version};

use super::fields::{self, join_cookies, regular_field, Malformed};
use crate::h2::hpack::HeaderField;

/// An HTTP/2 request head decoded from its header list: the request
/// (without body) and its declared length. (The HTTP/1.1 parser's head is
/// `h1::RequestHead`.)
#[derive(Debug)]
pub(crate) struct DecodedH2Request {
    pub request: Request<()>,
    /// The declared content-length, checked against the DATA received.
    pub content_length: Option<u64>,
    /// An extended CONNECT (RFC 8441): the request carries its
    /// `:protocol` as a [`Protocol`](crate::upgrade::Protocol) extension.
    pub extended_connect: bool,
}

/// Turns a decoded request header list into a request (RFC 9113 §8.3.1).
pub(crate) fn request_from_fields(fields: Vec<HeaderField>) -> Result<DecodedH2Request, Malformed> {
    let mut method: Option<Bytes> = None;
    let mut scheme: Option<Bytes> = None;
    let mut authority: Option<Bytes> = None;
    let mut path: Option<Bytes> = None;
    let mut protocol: Option<Bytes> = None;
    let mut headers = HeaderMap::with_capacity(fields.len());
    let mut cookies = Vec::new();
    let mut regular_seen = false;
    for field in fields {
        if field.name.first() == Some(&b':') {
            if regular_seen {
                return Err("pseudo-header after a regular field");
            }
            let slot = match &field.name[..] {
                b":method" => &mut method,
                b":scheme" => &mut scheme,
                b":authority" => &mut authority,
                b":path" => &mut path,
                b":protocol" => &mut protocol,
                _ => return Err("unknown or response pseudo-header"),
            };
            if slot.replace(field.value).is_some() {
                return Err("duplicate pseudo-header");
            }
            continue;
        }
        regular_seen = true;
        regular_field(&mut headers, &mut cookies, field)?;
    }
    join_cookies(&mut headers, cookies)?;
    let method =
        Method::from_bytes(&method.ok_or("missing :method")?).map_err(|_| "bad :method")?;
    let mut uri = Uri::builder();
    if protocol.is_some() && method != Method::CONNECT {
        return Err(":protocol outside CONNECT");
    }
    if protocol.as_ref().is_some_and(|p| p.is_empty()) {
        return Err("empty :protocol");
    }
    if method == Method::CONNECT && protocol.is_none() {
        // RFC 9113 §8.5: only :method and :authority.
        if scheme.is_some() || path.is_some() {
            return Err(":scheme or :path in CONNECT");
        }
        let authority = authority.ok_or("CONNECT without :authority")?;
        uri = uri.authority(Authority::from_maybe_shared(authority).map_err(|_| "bad :authority")?);
    } else {
        let scheme = scheme.ok_or("missing :scheme")?;
        let path = path.ok_or("missing :path")?;
        if path.is_empty() {
            return Err("empty :path");
        }
        if &path[..] != b"*" && path[0] != b'/' && !path.starts_with(b"http") {
            return Err("bad :path");
        }
        if &path[..] == b"*" && method != Method::OPTIONS {
            return Err(":path * outside OPTIONS");
        }
        let scheme = Scheme::try_from(&scheme[..]).map_err(|_| "bad :scheme")?;
        let authority = match authority {
            Some(a) => Some(a),
            // Without :authority, Host names the target (RFC 9113 §8.3.1).
            None => headers
                .get(HOST)
                .map(|h| Bytes::copy_from_slice(h.as_bytes())),
        };
        // A URI has a scheme only together with an authority; without
        // either it is origin-form, as HTTP/1.1 requests usually are.
        if protocol.is_some() && authority.is_none() {
            // RFC 8441 §4: the extended CONNECT names its target in full.
            return Err("extended CONNECT without :authority");
        }
        if let Some(a) = authority {
            uri = uri
                .scheme(scheme)
                .authority(Authority::from_maybe_shared(a).map_err(|_| "bad :authority")?);
        }
        let pq = if &path[..] == b"*" {
            PathAndQuery::from_static("*")
        } else {
            PathAndQuery::from_maybe_shared(path).map_err(|_| "bad :path")?
        };
        uri = uri.path_and_query(pq);
    }
    let uri = uri.build().map_err(|_| "bad request target")?;
    let content_length = fields::content_length(&headers)?;
    let mut request = Request::new(());
    *request.method_mut() = method;
    *request.uri_mut() = uri;
    *request.version_mut() = Version::HTTP_2;
    *request.headers_mut() = headers;
    let extended_connect = match protocol {
        Some(p) => {
            let p = std::str::from_utf8(&p).map_err(|_| "bad :protocol")?;
            request
                .extensions_mut()
                .insert(crate::upgrade::Protocol::new(p));
            true
        }
        None => false,
    };
    Ok(DecodedH2Request {
        request,
        content_length,
        extended_connect,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(list: &[(&'static str, &'static str)]) -> Vec<HeaderField> {
        list.iter()
            .map(|(n, v)| HeaderField {
                name: Bytes::from_static(n.as_bytes()),
                value: Bytes::from_static(v.as_bytes()),
                sensitive: false,
            })
            .collect()
    }

    #[test]
    fn path_forms() {
        let head = |method, path| {
            request_from_fields(fields(&[
                (":method", method),
                (":scheme", "https"),
                (":authority", "x"),
                (":path", path),
            ]))
        };
        assert_eq!(head("OPTIONS", "*").unwrap().request.uri().path(), "*");
        assert_eq!(head("GET", "*").unwrap_err(), ":path * outside OPTIONS");
        assert_eq!(head("GET", "/a?b").unwrap().request.uri(), "https://x/a?b");
        for bad in ["a", "?x", "x/"] {
            assert_eq!(head("GET", bad).unwrap_err(), "bad :path", "{bad:?}");
        }
        assert_eq!(head("GET", "").unwrap_err(), "empty :path");
    }

    #[test]
    fn connect_takes_only_method_and_authority() {
        let ok = request_from_fields(fields(&[(":method", "CONNECT"), (":authority", "x:443")]));
        assert_eq!(ok.unwrap().request.uri(), "x:443");
        for extra in [(":scheme", "https"), (":path", "/")] {
            let got = request_from_fields(fields(&[
                (":method", "CONNECT"),
                (":authority", "x:443"),
                extra,
            ]));
            assert_eq!(got.unwrap_err(), ":scheme or :path in CONNECT", "{extra:?}");
        }
        let got = request_from_fields(fields(&[(":method", "CONNECT")]));
        assert_eq!(got.unwrap_err(), "CONNECT without :authority");
    }
}
