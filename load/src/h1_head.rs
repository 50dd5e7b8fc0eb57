//! Response heads for the HTTP/1.1 connections: the http crate's
//! [`frame_response_head`] — the one rule for response syntax, limits and
//! framing that percore's client also uses, with no header map and no
//! allocation — remembered per connection.
//!
//! A server answers the same request with the same head, byte for byte,
//! except when its `Date` changes (once a second). Framing a head is a
//! pure function of its bytes (the method and limits are fixed for the
//! run), and a head ends where its first empty line ends, whatever
//! follows; so when the buffer starts with the bytes of the last head
//! framed, the answer is that head's answer, found with one comparison.

use http::Method;
use percore_http::h1::{frame_response_head, ResponseError, ResponseFrame};
use percore_http::Limits;

/// The last head a connection framed, and what it said.
#[derive(Debug, Default)]
pub struct HeadMemo {
    bytes: Vec<u8>,
    frame: Option<ResponseFrame>,
}

impl HeadMemo {
    /// Frames the response head at the front of `buf` (not consumed), as
    /// [`frame_response_head`] does: `Ok(None)` until it is complete.
    pub fn frame(
        &mut self,
        buf: &[u8],
        method: &Method,
        limits: &Limits,
    ) -> Result<Option<ResponseFrame>, ResponseError> {
        // Nothing read yet (each response's first look): no head, without
        // the rule's call.
        if buf.is_empty() {
            return Ok(None);
        }
        if let Some(frame) = self.frame {
            if buf.starts_with(&self.bytes) {
                return Ok(Some(frame));
            }
        }
        let frame = frame_response_head(buf, method, limits)?;
        if let Some(f) = frame {
            self.bytes.clear();
            self.bytes.extend_from_slice(&buf[..f.len]);
            self.frame = frame;
        }
        Ok(frame)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use percore_http::h1::ResponseFraming;

    fn frame(memo: &mut HeadMemo, input: &[u8]) -> Result<Option<ResponseFrame>, ResponseError> {
        let limits = Limits::default();
        let got = memo.frame(input, &Method::GET, &limits);
        assert_eq!(got, frame_response_head(input, &Method::GET, &limits));
        got
    }

    #[test]
    fn same_answers_as_the_shared_rule() {
        let mut memo = HeadMemo::default();
        let a = b"HTTP/1.1 200 OK\r\nDate: 1\r\nContent-Length: 2\r\n\r\nhi";
        let f = frame(&mut memo, a).unwrap().unwrap();
        assert_eq!(f.body, ResponseFraming::Length(2));
        // The same head again, with other bytes after it.
        let again = b"HTTP/1.1 200 OK\r\nDate: 1\r\nContent-Length: 2\r\n\r\nHTTP/1.1";
        assert_eq!(frame(&mut memo, again).unwrap(), Some(f));
        // A new date: framed again (and remembered).
        let b = b"HTTP/1.1 200 OK\r\nDate: 2\r\nContent-Length: 3\r\n\r\nabc";
        let g = frame(&mut memo, b).unwrap().unwrap();
        assert_eq!(g.body, ResponseFraming::Length(3));
        // Heads that only start like the remembered one.
        for other in [
            &b"HTTP/1.1 200 OK\r\nDate: 2\r\nContent-Length: 3"[..],
            b"HTTP/1.1 200 OK\r\nDate: 2\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nDate: 2\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nDate: 2\r\nConnection: close\r\n\r\n",
            b"",
            b"HTTP/1.1 200 OK\r\nDate: 2\r\nContent-Length: 3\r\n\n",
        ] {
            let _ = frame(&mut memo, other);
        }
        assert!(frame(&mut memo, b"garbage\r\n\r\n").is_err());
        // Still right for the last head that framed.
        assert_eq!(frame(&mut memo, b).unwrap(), Some(g));
    }
}
