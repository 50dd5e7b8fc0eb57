//! Where a connection starts: protocol detection picks the driver. An
//! HTTP/2 client preface starts the HTTP/2 driver at once; anything else is
//! HTTP/1.1, which hands over to HTTP/2 when a request asks for
//! `Upgrade: h2c`. Over TLS (`serve_tls`, feature `tls`) the handshake
//! comes first and ALPN picks the driver; h2c is never offered there.
//!
//! The HTTP/2 driver's future is boxed (one allocation per HTTP/2
//! connection): inline, it would size every connection's task, and an idle
//! HTTP/1.1 connection would carry the HTTP/2 driver's state.

use std::rc::Rc;
use std::time::Instant;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use bytes::BytesMut;
use http::{HeaderMap, Version};
use percore_runtime::future::{race, Either};
use percore_runtime::io::ReadBuffer;
#[cfg(feature = "tls")]
use percore_runtime::net::TcpStream;
use percore_runtime::time::coarse_now;

use super::h1::{self, Handoff, RequestInput, READ_CHUNK};
use super::h2::serve_h2;
use super::{Conn, ConnConfig, ConnGuard, ConnProtocol};
use crate::h2::conn::ServerConnection;
use crate::h2::frame::PREFACE;
use crate::service::Service;
use crate::{field_list, upgrade};

/// Serves one accepted connection: HTTP/1.1 (and 1.0), and with
/// [`ConnConfig::http2`] also h2c, by prior knowledge (the client preface)
/// or by `Upgrade: h2c`, until the client leaves, an error closes the
/// connection, or the server shuts down.
pub async fn serve<S: Service>(stream: impl Into<Conn>, service: Rc<S>, cfg: ConnConfig) {
    let mut counted = cfg.connections.enter();
    // No `Conn` local: a moved-from local keeps its place in the future's
    // layout until its scope ends, for as long as the connection lives.
    let stream: Rc<Conn> = Rc::new(stream.into());
    let _ = stream.set_nodelay(true);
    serve_counted(stream, &service, &cfg, &mut counted).await;
}

/// Serves one accepted TCP connection over TLS: the handshake first
/// (bounded by [`Limits::header_read_timeout`](crate::Limits); bytes that
/// are no ClientHello end it at once), then HTTP/2 if ALPN chose `h2` and
/// [`ConnConfig::http2`] is on, else HTTP/1.1 (without h2c: RFC 9113 §3.2).
#[cfg(feature = "tls")]
pub async fn serve_tls<S: Service>(
    tcp: TcpStream,
    acceptor: percore_tls::TlsAcceptor,
    service: Rc<S>,
    cfg: ConnConfig,
) {
    let mut counted = cfg.connections.enter();
    let _ = tcp.set_nodelay(true);
    let handshake = acceptor.accept(tcp, cfg.limits.header_read_timeout);
    let tls = match race(handshake, cfg.shutdown.wait()).await {
        Either::Left(Ok(tls)) => tls,
        Either::Left(Err(e)) => {
            tracing::debug!("TLS handshake failed: {e}");
            return;
        }
        Either::Right(()) => return,
    };
    let h2 = tls.negotiated_alpn().as_deref() == Some(b"h2");
    let stream = Rc::new(Conn::from(tls));
    if h2 && cfg.http2 {
        counted.set_protocol(ConnProtocol::Http2);
        let h2 = ServerConnection::new(&cfg.limits);
        Box::pin(serve_h2(stream, BytesMut::new(), service, cfg, h2, None)).await;
    } else {
        let input = ReadBuffer::new(stream.clone(), BytesMut::new(), READ_CHUNK);
        let input = RequestInput::new(input, cfg.limits.clone());
        serve_http1(stream, input, None, &service, &cfg, &mut counted).await;
    }
}

/// [`serve`] once the connection is counted (by `counted`, which learns
/// when it turns into HTTP/2).
///
/// `service` and `cfg` by reference: an async fn keeps its arguments
/// twice in its layout (as captured and as locals), for the whole life of
/// the connection.
async fn serve_counted<S: Service>(
    stream: Rc<Conn>,
    service: &Rc<S>,
    cfg: &ConnConfig,
    counted: &mut ConnGuard,
) {
    // The first read happens in a future of its own, awaited as a
    // temporary: a `ReadBuffer` local here would keep its place in this
    // future's layout (a moved-from local stays until its scope ends)
    // for as long as the connection lives.
    match first_read(&stream, cfg).await {
        Started::Http1(input, head_deadline) => {
            serve_http1(stream, input, head_deadline, service, cfg, counted).await;
        }
        Started::Http2(read_buf) => {
            counted.set_protocol(ConnProtocol::Http2);
            let h2 = ServerConnection::new(&cfg.limits);
            let (service, cfg) = (service.clone(), cfg.clone());
            Box::pin(serve_h2(stream, read_buf, service, cfg, h2, None)).await;
        }
        Started::Gone => {}
    }
}

/// How a connection's first read ([`first_read`]) ended.
enum Started {
    /// HTTP/1.1: its read side, and the deadline of the first head once
    /// bytes of it came.
    Http1(Rc<RequestInput>, Option<Instant>),
    /// The HTTP/2 client preface, with the bytes read.
    Http2(BytesMut),
    /// The client left, was too slow, or the server shuts down.
    Gone,
}

/// Reads until the first bytes tell HTTP/2 from HTTP/1.1 (only with
/// [`ConnConfig::http2`]; otherwise it is HTTP/1.1 at once).
async fn first_read(stream: &Rc<Conn>, cfg: &ConnConfig) -> Started {
    // No buffer of its own to start with: a plain socket's first read goes
    // into the core's scratch buffer (epoll) or a provided buffer
    // (io_uring), and any other stream's reader makes room as it reads.
    let mut input = ReadBuffer::new(stream.clone(), BytesMut::new(), READ_CHUNK);
    let mut head_deadline = None;
    if cfg.http2 {
        match sniff_preface(&mut input, cfg, &mut head_deadline).await {
            Sniffed::Http2 => return Started::Http2(input.take_buffer()),
            Sniffed::Http1 => {}
            Sniffed::Gone => return Started::Gone,
        }
    }
    // The read side goes behind an `Rc` here: a `ReadBuffer` passed by
    // value would keep its size in `serve_http1`'s future (an async fn's
    // arguments stay in its layout) for as long as the connection lives.
    let input = RequestInput::new(input, cfg.limits.clone());
    Started::Http1(input, head_deadline)
}

/// Serves HTTP/1.1 on `stream` from `input` (with what was read while
/// looking for the HTTP/2 preface, and then `head_deadline` is the
/// deadline of the first head); hands over to HTTP/2 on `Upgrade: h2c`.
async fn serve_http1<S: Service>(
    stream: Rc<Conn>,
    input: Rc<RequestInput>,
    head_deadline: Option<Instant>,
    service: &Rc<S>,
    cfg: &ConnConfig,
    counted: &mut ConnGuard,
) {
    match h1::serve(input, service, cfg, head_deadline).await {
        Handoff::Closed => {}
        Handoff::H2c {
            mut request,
            settings,
            read_buf,
        } => {
            // RFC 7540 §3.2: after the 101, HTTP/2 with this request as stream 1.
            let Ok(h2) = ServerConnection::new_upgraded(&cfg.limits, &settings) else {
                return;
            };
            *request.version_mut() = Version::HTTP_2;
            counted.set_protocol(ConnProtocol::Http2);
            let (service, cfg) = (service.clone(), cfg.clone());
            Box::pin(serve_h2(stream, read_buf, service, cfg, h2, Some(*request))).await;
        }
    }
}

/// What the first bytes of a connection say.
#[derive(Debug)]
enum Sniffed {
    /// The HTTP/2 client preface.
    Http2,
    /// Anything else: HTTP/1.1.
    Http1,
    /// The client left, was too slow, or the server shuts down.
    Gone,
}

/// Reads until the first bytes tell HTTP/2's client preface from an
/// HTTP/1.1 request. Waiting for the first byte is idle time (the
/// keep-alive timeout, ended by a shutdown); once bytes came, the rest of
/// the head must come by `head_deadline`.
async fn sniff_preface(
    input: &mut ReadBuffer<Conn>,
    cfg: &ConnConfig,
    head_deadline: &mut Option<Instant>,
) -> Sniffed {
    let limits = &cfg.limits;
    loop {
        let filled = match h2_preface(input.buffer()) {
            Preface::Complete => return Sniffed::Http2,
            Preface::No => return Sniffed::Http1,
            // Wait for the rest of the preface (the parser would call it HTTP/2.0).
            Preface::Partial => {
                let deadline =
                    *head_deadline.get_or_insert_with(|| coarse_now() + limits.header_read_timeout);
                input.fill(Some(deadline)).await
            }
            Preface::Empty => {
                if cfg.shutdown.is_triggered() {
                    return Sniffed::Gone;
                }
                let deadline = coarse_now() + limits.keep_alive_timeout;
                match race(input.fill(Some(deadline)), cfg.shutdown.wait()).await {
                    Either::Left(filled) => filled,
                    Either::Right(()) => return Sniffed::Gone,
                }
            }
        };
        match filled {
            Ok(n) if n > 0 => {
                head_deadline.get_or_insert_with(|| coarse_now() + limits.header_read_timeout);
            }
            _ => return Sniffed::Gone,
        }
    }
}

#[derive(Debug, PartialEq)]
enum Preface {
    Empty,
    Complete,
    Partial,
    No,
}

/// Whether `buf` starts with (a prefix of) the HTTP/2 client preface.
fn h2_preface(buf: &[u8]) -> Preface {
    let n = buf.len().min(PREFACE.len());
    if n == 0 {
        Preface::Empty
    } else if buf[..n] != PREFACE[..n] {
        Preface::No
    } else if n == PREFACE.len() {
        Preface::Complete
    } else {
        Preface::Partial
    }
}

/// The decoded `HTTP2-Settings` of an `Upgrade: h2c` request (RFC 7540
/// §3.2), if the request asks for h2c properly.
pub(super) fn h2c_upgrade_settings(headers: &HeaderMap) -> Option<Vec<u8>> {
    let upgrade = headers.get(http::header::UPGRADE)?.to_str().ok()?;
    if !field_list::contains(upgrade.as_bytes(), "h2c") {
        return None;
    }
    if !upgrade::connection_has(headers, "upgrade")
        || !upgrade::connection_has(headers, "http2-settings")
    {
        return None;
    }
    let mut values = headers.get_all("http2-settings").iter();
    let (Some(value), None) = (values.next(), values.next()) else {
        return None;
    };
    URL_SAFE_NO_PAD
        .decode(
            value
                .as_bytes()
                .trim_ascii_end()
                .strip_suffix(b"=")
                .unwrap_or(value.as_bytes()),
        )
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_preface_is_told_from_http1_by_its_first_bytes() {
        assert_eq!(h2_preface(b""), Preface::Empty);
        assert_eq!(h2_preface(b"PRI * HT"), Preface::Partial);
        assert_eq!(h2_preface(PREFACE), Preface::Complete);
        assert_eq!(
            h2_preface(&[&PREFACE[..], b"more"].concat()),
            Preface::Complete
        );
        assert_eq!(h2_preface(b"GET / HTTP/1.1\r\n"), Preface::No);
        assert_eq!(h2_preface(b"PRI * HTTP/1.1\r\n"), Preface::No);
    }

    #[test]
    fn h2c_upgrade_needs_the_whole_handshake() {
        let mut headers = HeaderMap::new();
        headers.insert("upgrade", "websocket, h2c".parse().unwrap());
        headers.insert("connection", "Upgrade, HTTP2-Settings".parse().unwrap());
        headers.insert("http2-settings", "AAMAAABkAAQAAP__".parse().unwrap());
        assert_eq!(
            h2c_upgrade_settings(&headers).unwrap(),
            [0, 3, 0, 0, 0, 100, 0, 4, 0, 0, 255, 255]
        );
        let mut no_connection_token = headers.clone();
        no_connection_token.insert("connection", "Upgrade".parse().unwrap());
        assert!(h2c_upgrade_settings(&no_connection_token).is_none());
        let mut twice = headers.clone();
        twice.append("http2-settings", "AAMAAABk".parse().unwrap());
        assert!(h2c_upgrade_settings(&twice).is_none());
        let mut other = headers;
        other.insert("upgrade", "websocket".parse().unwrap());
        assert!(h2c_upgrade_settings(&other).is_none());
    }
}
