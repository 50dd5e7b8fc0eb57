//! A connection's request heads: encoded into a buffer the connection
//! keeps, and the last head made of the client's default fields sent
//! again for the same request.

use bytes::{Bytes, BytesMut};
use http::Method;
use percore_http::h1::{
    encode_request_head, encode_request_head_with, EncodedFields, RequestFraming,
};

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
    /// Which set of default fields the kept head carries (compared by
    /// address: a client's sets, with and without `Accept-Encoding`, live
    /// as long as the client and its connections).
    fields: Option<*const EncodedFields>,
}

impl Heads {
    /// The head of `req`, with `framing`: the kept one when it is made
    /// of the same parts, else encoded (and kept when it may be).
    pub(super) fn head(&mut self, req: &Outgoing<'_>, framing: RequestFraming) -> Bytes {
        let fields = req.fields.filter(|_| framing == RequestFraming::Empty);
        if fields.is_some_and(|f| self.fields == Some(f as *const EncodedFields))
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
        if let Some(f) = fields {
            // Only the client's defaults and no body: the head is made
            // of them, the method, target and host alone.
            self.fields = Some(f as *const EncodedFields);
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

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use http::{header, HeaderMap, HeaderValue, Method};
    use percore_http::h1::{EncodedFields, RequestFraming};
    use percore_http::Limits;

    use super::{Heads, Outgoing};

    fn outgoing<'a>(
        headers: &'a HeaderMap,
        fields: &'a EncodedFields,
        limits: &'a Limits,
    ) -> Outgoing<'a> {
        Outgoing {
            method: &Method::GET,
            target: "/poll",
            host: "example.com",
            headers,
            fields: Some(fields),
            expect_continue: false,
            limits,
            read_timeout: None,
            total: None,
            continue_timeout: Duration::from_secs(1),
        }
    }

    /// The same request with the same default fields sends the kept head
    /// again; with the other set (the decoding client's, with
    /// `Accept-Encoding`) it is encoded anew, and carries that set.
    #[test]
    fn a_head_is_sent_again_only_with_the_fields_it_was_made_of() {
        let limits = Limits::default();
        let plain = HeaderMap::new();
        let mut decoding = HeaderMap::new();
        decoding.insert(header::ACCEPT_ENCODING, HeaderValue::from_static("gzip"));
        let (plain_fields, decoding_fields) =
            (EncodedFields::new(&plain), EncodedFields::new(&decoding));
        let mut heads = Heads::default();
        let empty = RequestFraming::Empty;
        let first = heads.head(&outgoing(&plain, &plain_fields, &limits), empty);
        let again = heads.head(&outgoing(&plain, &plain_fields, &limits), empty);
        assert_eq!(first.as_ptr(), again.as_ptr(), "the kept head");
        let other = heads.head(&outgoing(&decoding, &decoding_fields, &limits), empty);
        let text = String::from_utf8_lossy(&other).to_ascii_lowercase();
        assert!(text.contains("accept-encoding: gzip"), "{text}");
        let back = heads.head(&outgoing(&plain, &plain_fields, &limits), empty);
        assert!(!String::from_utf8_lossy(&back)
            .to_ascii_lowercase()
            .contains("accept-encoding"));
    }
}
