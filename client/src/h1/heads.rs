//! A connection's request heads: encoded into a buffer the connection
//! keeps, and the last head made of the client's default fields sent
//! again for the same request.

use bytes::{Bytes, BytesMut};
use http::Method;
use percore_http::h1::{encode_request_head, encode_request_head_with, RequestFraming};

use super::Outgoing;

/// A connection's request heads: the buffer they are encoded in (its
/// room kept from one request to the next), and the last head encoded
/// with the client's default fields and no body, with what it was made
/// of. The same request again on the connection (a client polling one
/// URL) sends those bytes again instead of encoding them anew.
#[derive(Default)]
pub(crate) struct Heads {
    buf: BytesMut,
    last: Bytes,
    /// `None`: no head kept.
    method: Option<Method>,
    target: String,
    host: String,
}

impl Heads {
    /// The head of `req`, with `framing`: the kept one when it is made
    /// of the same parts, else encoded (and kept when it may be).
    pub(super) fn head(&mut self, req: &Outgoing<'_>, framing: RequestFraming) -> Bytes {
        let fields = req.fields.filter(|_| framing == RequestFraming::Empty);
        if fields.is_some()
            && self.method.as_ref() == Some(req.method)
            && self.target == req.target
            && self.host == req.host
        {
            return self.last.clone();
        }
        if self.buf.capacity() < HEAD_ROOM / 4 {
            self.buf.reserve(HEAD_ROOM);
        }
        match req.fields {
            Some(f) => encode_request_head_with(
                &mut self.buf,
                req.method,
                req.target,
                req.host,
                f,
                framing,
            ),
            None => encode_request_head(
                &mut self.buf,
                req.method,
                req.target,
                req.host,
                req.headers,
                framing,
            ),
        }
        let head = self.buf.split().freeze();
        if fields.is_some() {
            // Only the client's defaults and no body: the head is made
            // of the method, target and host alone.
            self.last = head.clone();
            self.method = Some(req.method.clone());
            self.target.clear();
            self.target.push_str(req.target);
            self.host.clear();
            self.host.push_str(req.host);
        }
        head
    }
}

/// Room the head buffer takes at a time (several heads; a head taken
/// from it shares it until sent).
const HEAD_ROOM: usize = 1024;
