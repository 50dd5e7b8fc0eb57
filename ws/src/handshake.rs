//! The opening handshake (RFC 6455 §4): server validation and response,
//! client request and response verification.

use crate::deflate::{self, DeflateConfig, Offer};
use crate::rng;
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use http::header::{
    HeaderName, HeaderValue, CONNECTION, HOST, ORIGIN, SEC_WEBSOCKET_ACCEPT,
    SEC_WEBSOCKET_EXTENSIONS, SEC_WEBSOCKET_KEY, SEC_WEBSOCKET_PROTOCOL, SEC_WEBSOCKET_VERSION,
    UPGRADE,
};
use http::{HeaderMap, Method, StatusCode, Version};
use percore_http::field_list;
use sha1::{Digest, Sha1};
use std::fmt;

/// The GUID appended to the key before hashing (RFC 6455 §1.3).
pub const GUID: &str = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/// `Sec-WebSocket-Accept` for a `Sec-WebSocket-Key`: base64(SHA-1(key + GUID)).
///
/// ```
/// use percore_ws::handshake::accept_key;
/// assert_eq!(accept_key("dGhlIHNhbXBsZSBub25jZQ=="), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
/// ```
pub fn accept_key(client_key: &str) -> String {
    let mut h = Sha1::new();
    h.update(client_key.as_bytes());
    h.update(GUID.as_bytes());
    STANDARD.encode(h.finalize())
}

/// A failed handshake.
///
/// Server side: the HTTP status to answer with (400, or 426 for a missing or
/// unsupported `Sec-WebSocket-Version`, see
/// [`response_headers`](Self::response_headers)). Client side: the status the
/// server answered (or 400 for invalid local input).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HandshakeError {
    status: StatusCode,
    reason: &'static str,
}

impl HandshakeError {
    fn new(status: StatusCode, reason: &'static str) -> Self {
        HandshakeError { status, reason }
    }

    fn bad(reason: &'static str) -> Self {
        Self::new(StatusCode::BAD_REQUEST, reason)
    }

    /// HTTP status.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// Human-readable reason.
    pub fn reason(&self) -> &'static str {
        self.reason
    }

    /// Headers to send with the error response: `Sec-WebSocket-Version: 13`
    /// for 426 Upgrade Required, nothing otherwise.
    pub fn response_headers(&self) -> HeaderMap {
        let mut h = HeaderMap::new();
        if self.status == StatusCode::UPGRADE_REQUIRED {
            h.insert(SEC_WEBSOCKET_VERSION, HeaderValue::from_static("13"));
        }
        h
    }
}

impl fmt::Display for HandshakeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "websocket handshake failed ({}): {}",
            self.status, self.reason
        )
    }
}

impl std::error::Error for HandshakeError {}

/// Iterates the comma-separated tokens of every value of header `name`.
fn tokens<'a>(headers: &'a HeaderMap, name: &HeaderName) -> impl Iterator<Item = &'a str> {
    field_list::text_elements(headers, name.clone())
}

fn has_token(headers: &HeaderMap, name: &HeaderName, token: &str) -> bool {
    field_list::text_contains(headers, name, token)
}

/// A valid WebSocket upgrade request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpgradeRequest {
    /// `Sec-WebSocket-Key` (trimmed; decodes to 16 bytes). Empty for an
    /// HTTP/2 extended CONNECT ([`validate_h2_upgrade`]), which has no key
    /// and is answered 200 without `Sec-WebSocket-Accept`.
    pub key: String,
    /// `Sec-WebSocket-Protocol` tokens, in the client's order.
    pub protocols: Vec<String>,
    /// Valid permessage-deflate offers, in the client's order.
    pub deflate_offers: Vec<Offer>,
    /// `Origin`, if sent.
    pub origin: Option<String>,
}

/// Server side: checks an upgrade request (RFC 6455 §4.2.1).
///
/// 400 for: a method other than GET, HTTP older than 1.1 or not HTTP/1.1,
/// no `websocket` token in `Upgrade`, no `upgrade` token in `Connection`, a
/// missing, repeated or invalid `Sec-WebSocket-Key` (must be base64 of 16
/// bytes). 426 (with `Sec-WebSocket-Version: 13`) for a missing or other
/// `Sec-WebSocket-Version`. `Host` is left to the HTTP layer.
///
/// ```
/// use http::{HeaderMap, Method, Version};
/// use percore_ws::handshake::validate_upgrade;
/// let mut h = HeaderMap::new();
/// h.insert("upgrade", "websocket".parse().unwrap());
/// h.insert("connection", "keep-alive, Upgrade".parse().unwrap());
/// h.insert("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ==".parse().unwrap());
/// h.insert("sec-websocket-version", "13".parse().unwrap());
/// h.insert("sec-websocket-protocol", "chat, superchat".parse().unwrap());
/// let req = validate_upgrade(&Method::GET, Version::HTTP_11, &h).unwrap();
/// assert_eq!(req.protocols, ["chat", "superchat"]);
/// ```
pub fn validate_upgrade(
    method: &Method,
    version: Version,
    headers: &HeaderMap,
) -> Result<UpgradeRequest, HandshakeError> {
    if method != Method::GET {
        return Err(HandshakeError::bad("method is not GET"));
    }
    if version != Version::HTTP_11 {
        return Err(HandshakeError::bad("HTTP version is not 1.1"));
    }
    if !has_token(headers, &UPGRADE, "websocket") {
        return Err(HandshakeError::bad("no `Upgrade: websocket`"));
    }
    if !has_token(headers, &CONNECTION, "upgrade") {
        return Err(HandshakeError::bad("no `Connection: upgrade`"));
    }
    let mut keys = headers.get_all(SEC_WEBSOCKET_KEY).iter();
    let key = match (keys.next(), keys.next()) {
        (Some(k), None) => k.to_str().map(str::trim).unwrap_or(""),
        _ => return Err(HandshakeError::bad("missing or repeated Sec-WebSocket-Key")),
    };
    if key.len() != 24 || STANDARD.decode(key).map(|k| k.len()) != Ok(16) {
        return Err(HandshakeError::bad("invalid Sec-WebSocket-Key"));
    }
    offer(key.to_string(), headers)
}

/// Server side: checks a WebSocket request over HTTP/2, an extended
/// CONNECT (RFC 8441 §4–5): method CONNECT, `:protocol` (`protocol`, from
/// the request's [`Protocol`](percore_http::upgrade::Protocol) extension)
/// `websocket`, `Sec-WebSocket-Version: 13`. 400 for the first two, 426
/// (with `Sec-WebSocket-Version: 13`) for the version. The HTTP/2 layer
/// has checked `:scheme`, `:path` and `:authority`. The result's `key` is
/// empty: the answer is a 200 without `Sec-WebSocket-Accept`.
///
/// ```
/// use http::{HeaderMap, Method};
/// use percore_ws::handshake::validate_h2_upgrade;
/// let mut h = HeaderMap::new();
/// h.insert("sec-websocket-version", "13".parse().unwrap());
/// h.insert("sec-websocket-extensions", "permessage-deflate".parse().unwrap());
/// let req = validate_h2_upgrade(&Method::CONNECT, Some("websocket"), &h).unwrap();
/// assert!(req.key.is_empty());
/// assert_eq!(req.deflate_offers.len(), 1);
/// assert!(validate_h2_upgrade(&Method::CONNECT, None, &h).is_err());
/// ```
pub fn validate_h2_upgrade(
    method: &Method,
    protocol: Option<&str>,
    headers: &HeaderMap,
) -> Result<UpgradeRequest, HandshakeError> {
    if method != Method::CONNECT {
        return Err(HandshakeError::bad("method is not CONNECT"));
    }
    if !protocol.is_some_and(|p| p.eq_ignore_ascii_case("websocket")) {
        return Err(HandshakeError::bad("no `:protocol: websocket`"));
    }
    offer(String::new(), headers)
}

/// What both kinds of upgrade request carry after their own checks: the
/// version, subprotocols, deflate offers and origin.
fn offer(key: String, headers: &HeaderMap) -> Result<UpgradeRequest, HandshakeError> {
    let mut versions = headers.get_all(SEC_WEBSOCKET_VERSION).iter();
    match (versions.next(), versions.next()) {
        (Some(v), None) if v.as_bytes().trim_ascii() == b"13" => {}
        _ => {
            return Err(HandshakeError::new(
                StatusCode::UPGRADE_REQUIRED,
                "unsupported Sec-WebSocket-Version",
            ))
        }
    }
    let protocols = tokens(headers, &SEC_WEBSOCKET_PROTOCOL)
        .map(str::to_string)
        .collect();
    let deflate_offers = deflate::parse_offers(
        headers
            .get_all(SEC_WEBSOCKET_EXTENSIONS)
            .iter()
            .filter_map(|v| v.to_str().ok()),
    );
    let origin = headers
        .get(ORIGIN)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    Ok(UpgradeRequest {
        key,
        protocols,
        deflate_offers,
        origin,
    })
}

/// The first of our `supported` subprotocols (our preference order) that the
/// client offered.
///
/// ```
/// use percore_ws::handshake::select_protocol;
/// let offered = vec!["v2".to_string(), "v1".to_string()];
/// assert_eq!(select_protocol(&offered, &["v1", "v2"]), Some("v1"));
/// assert_eq!(select_protocol(&offered, &["v3"]), None);
/// ```
pub fn select_protocol<'s>(offered: &[String], supported: &[&'s str]) -> Option<&'s str> {
    supported
        .iter()
        .find(|s| offered.iter().any(|o| o == *s))
        .copied()
}

/// Headers of the `101 Switching Protocols` answer to `req`.
///
/// `protocol` is the selected subprotocol ([`select_protocol`]) and
/// `extensions` the `Sec-WebSocket-Extensions` value (from
/// [`deflate::negotiate`]). A value that is not a valid header value is
/// left out.
///
/// ```
/// # use http::{HeaderMap, Method, Version};
/// use percore_ws::handshake::{response_headers, UpgradeRequest};
/// let req = UpgradeRequest { key: "dGhlIHNhbXBsZSBub25jZQ==".into(), protocols: vec![],
///     deflate_offers: vec![], origin: None };
/// let h = response_headers(&req, None, None);
/// assert_eq!(h["sec-websocket-accept"], "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
/// assert_eq!(h["upgrade"], "websocket");
/// ```
pub fn response_headers(
    req: &UpgradeRequest,
    protocol: Option<&str>,
    extensions: Option<&str>,
) -> HeaderMap {
    let mut h = HeaderMap::new();
    // Over HTTP/2 (no key) the 200 carries neither (RFC 8441 §5).
    if !req.key.is_empty() {
        h.insert(UPGRADE, HeaderValue::from_static("websocket"));
        h.insert(CONNECTION, HeaderValue::from_static("Upgrade"));
        if let Ok(v) = HeaderValue::from_str(&accept_key(&req.key)) {
            h.insert(SEC_WEBSOCKET_ACCEPT, v);
        }
    }
    if let Some(Ok(v)) = protocol.map(HeaderValue::from_str) {
        h.insert(SEC_WEBSOCKET_PROTOCOL, v);
    }
    if let Some(Ok(v)) = extensions.map(HeaderValue::from_str) {
        h.insert(SEC_WEBSOCKET_EXTENSIONS, v);
    }
    h
}

/// Result of [`accept`]: what to answer and what was negotiated.
#[derive(Debug, Clone)]
pub struct Accepted {
    /// Headers of the 101 response.
    pub headers: HeaderMap,
    /// Selected subprotocol.
    pub protocol: Option<String>,
    /// Negotiated permessage-deflate (put it into [`Config::deflate`](crate::Config)).
    pub deflate: Option<DeflateConfig>,
}

/// Server convenience: selects the subprotocol, negotiates deflate (when
/// `deflate` preferences are given) and builds the 101 headers.
///
/// ```
/// use http::{HeaderMap, Method, Version};
/// use percore_ws::handshake::{accept, validate_upgrade};
/// use percore_ws::DeflateConfig;
/// let mut h = HeaderMap::new();
/// h.insert("upgrade", "WebSocket".parse().unwrap());
/// h.insert("connection", "Upgrade".parse().unwrap());
/// h.insert("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ==".parse().unwrap());
/// h.insert("sec-websocket-version", "13".parse().unwrap());
/// h.insert("sec-websocket-extensions", "permessage-deflate; client_max_window_bits".parse().unwrap());
/// let req = validate_upgrade(&Method::GET, Version::HTTP_11, &h).unwrap();
/// let acc = accept(&req, &[], Some(&DeflateConfig::context_takeover()));
/// assert_eq!(acc.headers["sec-websocket-extensions"], "permessage-deflate");
/// assert!(acc.deflate.is_some());
/// ```
pub fn accept(
    req: &UpgradeRequest,
    protocols: &[&str],
    deflate: Option<&DeflateConfig>,
) -> Accepted {
    let protocol = select_protocol(&req.protocols, protocols);
    let negotiated = deflate.and_then(|p| deflate::negotiate(p, &req.deflate_offers));
    let headers = response_headers(req, protocol, negotiated.as_ref().map(|n| n.1.as_str()));
    Accepted {
        headers,
        protocol: protocol.map(str::to_string),
        deflate: negotiated.map(|n| n.0),
    }
}

/// Client side: a fresh `Sec-WebSocket-Key` and the upgrade request headers
/// (`Host`, `Upgrade`, `Connection`, `Sec-WebSocket-Key`,
/// `Sec-WebSocket-Version`, and `Sec-WebSocket-Protocol` /
/// `Sec-WebSocket-Extensions` when asked). The caller writes the request line
/// `GET <path> HTTP/1.1`. The key comes from the same non-cryptographic PRNG
/// as the masking keys. Fails (400) if `host` or a protocol is not a valid
/// header value.
///
/// ```
/// use percore_ws::handshake::client_request_headers;
/// let (key, h) = client_request_headers("example.com", &["chat"], None).unwrap();
/// assert_eq!(h["sec-websocket-key"], key.as_str());
/// assert_eq!(h["sec-websocket-protocol"], "chat");
/// ```
pub fn client_request_headers(
    host: &str,
    protocols: &[&str],
    deflate: Option<&DeflateConfig>,
) -> Result<(String, HeaderMap), HandshakeError> {
    let mut state = rng::seed();
    let mut raw = [0u8; 16];
    raw[..8].copy_from_slice(&rng::splitmix(&mut state).to_ne_bytes());
    raw[8..].copy_from_slice(&rng::splitmix(&mut state).to_ne_bytes());
    let key = STANDARD.encode(raw);
    let bad = |_| HandshakeError::bad("invalid header value");
    let mut h = client_h2_request_headers(protocols, deflate)?;
    h.insert(HOST, HeaderValue::from_str(host).map_err(bad)?);
    h.insert(UPGRADE, HeaderValue::from_static("websocket"));
    h.insert(CONNECTION, HeaderValue::from_static("Upgrade"));
    h.insert(SEC_WEBSOCKET_KEY, HeaderValue::from_str(&key).map_err(bad)?);
    Ok((key, h))
}

/// Client side: the header fields of an HTTP/2 extended CONNECT opening a
/// WebSocket (RFC 8441 §5): `Sec-WebSocket-Version`, and the offered
/// subprotocols and permessage-deflate; no key, no `Upgrade` (the
/// request's `:protocol websocket` says it). Fails (400) if a protocol is
/// not a valid header value.
///
/// ```
/// use percore_ws::handshake::client_h2_request_headers;
/// let h = client_h2_request_headers(&["chat"], None).unwrap();
/// assert_eq!(h["sec-websocket-version"], "13");
/// assert_eq!(h["sec-websocket-protocol"], "chat");
/// assert!(!h.contains_key("sec-websocket-key"));
/// ```
pub fn client_h2_request_headers(
    protocols: &[&str],
    deflate: Option<&DeflateConfig>,
) -> Result<HeaderMap, HandshakeError> {
    let bad = |_| HandshakeError::bad("invalid header value");
    let mut h = HeaderMap::new();
    h.insert(SEC_WEBSOCKET_VERSION, HeaderValue::from_static("13"));
    if !protocols.is_empty() {
        let v = protocols.join(", ");
        h.insert(
            SEC_WEBSOCKET_PROTOCOL,
            HeaderValue::from_str(&v).map_err(bad)?,
        );
    }
    if let Some(d) = deflate {
        let v = deflate::client_offer(d);
        h.insert(
            SEC_WEBSOCKET_EXTENSIONS,
            HeaderValue::from_str(&v).map_err(bad)?,
        );
    }
    Ok(h)
}

/// What the server agreed to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NegotiatedClient {
    /// Subprotocol chosen by the server.
    pub protocol: Option<String>,
    /// permessage-deflate parameters, if accepted.
    pub deflate: Option<DeflateConfig>,
}

/// Client side: checks the server's response (RFC 6455 §4.1).
///
/// `key` is the key from [`client_request_headers`], `protocols` and
/// `deflate` what was offered. Fails if the status is not 101, `Upgrade` /
/// `Connection` are wrong, `Sec-WebSocket-Accept` does not match, or the
/// server selected a subprotocol or extension we did not offer.
///
/// ```
/// use http::StatusCode;
/// use percore_ws::handshake::{accept_key, verify_response};
/// let mut h = http::HeaderMap::new();
/// h.insert("upgrade", "websocket".parse().unwrap());
/// h.insert("connection", "Upgrade".parse().unwrap());
/// h.insert("sec-websocket-accept", accept_key("dGhlIHNhbXBsZSBub25jZQ==").parse().unwrap());
/// let n = verify_response(StatusCode::SWITCHING_PROTOCOLS, &h, "dGhlIHNhbXBsZSBub25jZQ==", &[], None).unwrap();
/// assert_eq!(n.protocol, None);
/// ```
pub fn verify_response(
    status: StatusCode,
    headers: &HeaderMap,
    key: &str,
    protocols: &[&str],
    deflate: Option<&DeflateConfig>,
) -> Result<NegotiatedClient, HandshakeError> {
    let fail = |reason| HandshakeError::new(status, reason);
    if status != StatusCode::SWITCHING_PROTOCOLS {
        return Err(fail("status is not 101"));
    }
    if !has_token(headers, &UPGRADE, "websocket") {
        return Err(fail("no `Upgrade: websocket`"));
    }
    if !has_token(headers, &CONNECTION, "upgrade") {
        return Err(fail("no `Connection: upgrade`"));
    }
    let mut accepts = headers.get_all(SEC_WEBSOCKET_ACCEPT).iter();
    match (accepts.next(), accepts.next()) {
        (Some(v), None) if v.as_bytes().trim_ascii() == accept_key(key).as_bytes() => {}
        _ => return Err(fail("Sec-WebSocket-Accept mismatch")),
    }
    negotiated(status, headers, protocols, deflate)
}

/// Client side: checks the server's answer to an HTTP/2 extended CONNECT
/// (RFC 8441 §5): a 2xx status, and a subprotocol and extension among those
/// offered. There is no key to check over HTTP/2.
///
/// ```
/// use http::StatusCode;
/// use percore_ws::handshake::verify_h2_response;
/// let mut h = http::HeaderMap::new();
/// h.insert("sec-websocket-protocol", "chat".parse().unwrap());
/// let n = verify_h2_response(StatusCode::OK, &h, &["chat"], None).unwrap();
/// assert_eq!(n.protocol.as_deref(), Some("chat"));
/// assert!(verify_h2_response(StatusCode::NOT_FOUND, &h, &["chat"], None).is_err());
/// ```
pub fn verify_h2_response(
    status: StatusCode,
    headers: &HeaderMap,
    protocols: &[&str],
    deflate: Option<&DeflateConfig>,
) -> Result<NegotiatedClient, HandshakeError> {
    if !status.is_success() {
        return Err(HandshakeError::new(status, "status is not 2xx"));
    }
    negotiated(status, headers, protocols, deflate)
}

/// The subprotocol and extension the server chose, each among those offered.
fn negotiated(
    status: StatusCode,
    headers: &HeaderMap,
    protocols: &[&str],
    deflate: Option<&DeflateConfig>,
) -> Result<NegotiatedClient, HandshakeError> {
    let fail = |reason| HandshakeError::new(status, reason);
    let mut chosen = tokens(headers, &SEC_WEBSOCKET_PROTOCOL);
    let protocol = match (chosen.next(), chosen.next()) {
        (None, _) => None,
        (Some(p), None) if protocols.contains(&p) => Some(p.to_string()),
        _ => return Err(fail("server selected a subprotocol we did not offer")),
    };
    let ext: Vec<&str> = headers
        .get_all(SEC_WEBSOCKET_EXTENSIONS)
        .iter()
        .map(|v| v.to_str().unwrap_or("\u{0}"))
        .collect();
    let deflate = match (ext.is_empty(), deflate) {
        (true, _) => None,
        (false, None) => return Err(fail("server selected an extension we did not offer")),
        (false, Some(prefs)) => match deflate::parse_response(&ext.join(","), prefs) {
            Some(c) => Some(c),
            None => return Err(fail("invalid permessage-deflate response")),
        },
    };
    Ok(NegotiatedClient { protocol, deflate })
}

#[cfg(test)]
mod tests;
