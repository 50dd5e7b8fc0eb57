//! The fast path for response heads: httparse into a stack array, then
//! only what the load generator needs (status, framing, keep-alive), with
//! no header map and no allocation. Anything unusual — interim or
//! HTTP/1.0 responses, repeated or odd framing fields, a bare LF, too many
//! fields, a syntax error, a head over the size limit — is left to
//! percore's full `parse_response_head`, which applies every rule and
//! gives the error.

use std::mem::MaybeUninit;

use percore_http::h1::ResponseFraming;

/// Fields the fast path looks at; a head with more goes to the full parser.
const MAX_FIELDS: usize = 32;

/// What the fast path made of a response head.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FastHead {
    /// The head's length in bytes (the body starts there).
    pub len: usize,
    /// The status code.
    pub status: u16,
    /// How the body is framed.
    pub framing: ResponseFraming,
    /// Whether the connection carries another response after this one.
    pub keep_alive: bool,
}

/// The outcome of [`scan`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scan {
    /// A plain final HTTP/1.1 response head.
    Head(FastHead),
    /// The head is not complete yet (and under `max_head_size`).
    Partial,
    /// Use the full parser.
    Unusual,
}

/// Scans the response head at the front of `buf`, for a request whose
/// method was HEAD when `head_request`.
pub fn scan(buf: &[u8], head_request: bool, max_head_size: usize) -> Scan {
    if buf.first().is_some_and(|b| *b == b'\r' || *b == b'\n') {
        return Scan::Unusual;
    }
    let window = &buf[..buf.len().min(max_head_size)];
    // Uninitialised slots: httparse writes the ones it returns.
    let mut fields = [const { MaybeUninit::<httparse::Header<'_>>::uninit() }; MAX_FIELDS];
    let mut res = httparse::Response::new(&mut []);
    let parsed = httparse::ParserConfig::default().parse_response_with_uninit_headers(
        &mut res,
        window,
        &mut fields,
    );
    let len = match parsed {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) if buf.len() < max_head_size => return Scan::Partial,
        _ => return Scan::Unusual,
    };
    let (Some(1), Some(status)) = (res.version, res.code) else {
        return Scan::Unusual;
    };
    if !(200..=999).contains(&status)
        || !window[..len].ends_with(b"\r\n\r\n")
        || !ends_in_crlf(window, res.reason.unwrap_or("").as_bytes())
    {
        return Scan::Unusual;
    }
    let mut content_length = None;
    let mut chunked = false;
    let mut keep_alive = true;
    for field in res.headers.iter() {
        if !ends_in_crlf(window, field.value) {
            return Scan::Unusual;
        }
        let name = field.name.as_bytes();
        if name.eq_ignore_ascii_case(b"content-length") {
            match (content_length, parse_length(field.value)) {
                (None, Some(n)) => content_length = Some(n),
                _ => return Scan::Unusual,
            }
        } else if name.eq_ignore_ascii_case(b"transfer-encoding") {
            if chunked || !field.value.eq_ignore_ascii_case(b"chunked") {
                return Scan::Unusual;
            }
            chunked = true;
        } else if name.eq_ignore_ascii_case(b"connection") {
            for token in field.value.split(|b| *b == b',') {
                if token.trim_ascii().eq_ignore_ascii_case(b"close") {
                    keep_alive = false;
                }
            }
        }
    }
    if chunked && content_length.is_some() {
        return Scan::Unusual;
    }
    let framing = if head_request || status == 204 || status == 304 {
        ResponseFraming::Empty
    } else if chunked {
        ResponseFraming::Chunked
    } else {
        match content_length {
            Some(0) => ResponseFraming::Empty,
            Some(n) => ResponseFraming::Length(n),
            None => ResponseFraming::UntilClose,
        }
    };
    Scan::Head(FastHead {
        len,
        status,
        framing,
        keep_alive: keep_alive && framing != ResponseFraming::UntilClose,
    })
}

/// Whether the line whose last part is `part` (a sub-slice of `whole`)
/// ends in CRLF, after any trailing blanks httparse trimmed.
fn ends_in_crlf(whole: &[u8], part: &[u8]) -> bool {
    let end = (part.as_ptr() as usize).wrapping_sub(whole.as_ptr() as usize) + part.len();
    let rest = whole.get(end..).unwrap_or_default();
    let blanks = rest
        .iter()
        .take_while(|b| **b == b' ' || **b == b'\t')
        .count();
    rest.get(blanks..blanks + 2) == Some(b"\r\n")
}

/// A Content-Length value: 1 to 19 ASCII digits, nothing else.
fn parse_length(value: &[u8]) -> Option<u64> {
    if value.is_empty() || value.len() > 19 || !value.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(value.iter().fold(0, |n, d| n * 10 + u64::from(d - b'0')))
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::BytesMut;
    use http::Method;
    use percore_http::h1::parse_response_head;
    use percore_http::Limits;

    const HEADS: [&[u8]; 8] = [
        b"HTTP/1.1 200 OK\r\nServer: nginx\r\nContent-Length: 6\r\nConnection: keep-alive\r\n\r\nhello\n",
        b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nhi",
        b"HTTP/1.1 200 OK\r\nDate: x\r\n\r\nuntil close",
        b"HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\n",
        b"HTTP/1.1 101 Switching\r\nUpgrade: websocket\r\n\r\n",
        b"HTTP/1.0 200 OK\r\nContent-Length: 1\r\n\r\nx",
    ];

    /// When the fast path answers, the full parser agrees; when it does
    /// not, it says why it cannot.
    fn agrees(input: &[u8]) {
        let limits = Limits::default();
        let scanned = scan(input, false, limits.max_head_size);
        let mut buf = BytesMut::from(input);
        let full = parse_response_head(&mut buf, &Method::GET, &limits);
        match scanned {
            Scan::Head(h) => {
                let head = full
                    .unwrap_or_else(|e| panic!("{e} for {:?}", String::from_utf8_lossy(input)))
                    .expect("complete");
                assert_eq!(h.status, head.status.as_u16());
                assert_eq!(h.framing, head.body, "{:?}", String::from_utf8_lossy(input));
                assert_eq!(h.keep_alive, head.keep_alive);
                assert_eq!(h.len, input.len() - buf.len());
            }
            Scan::Partial => assert!(
                matches!(full, Ok(None)),
                "{:?}",
                String::from_utf8_lossy(input)
            ),
            Scan::Unusual => {}
        }
    }

    #[test]
    fn plain_heads_take_the_fast_path() {
        for head in &HEADS[..6] {
            assert!(matches!(scan(head, false, 8192), Scan::Head(_)), "{head:?}");
            agrees(head);
        }
        let Scan::Head(h) = scan(HEADS[0], false, 8192) else {
            panic!()
        };
        assert_eq!(
            (h.status, h.framing, h.keep_alive),
            (200, ResponseFraming::Length(6), true)
        );
        let Scan::Head(h) = scan(HEADS[0], true, 8192) else {
            panic!()
        };
        assert_eq!(h.framing, ResponseFraming::Empty);
    }

    #[test]
    fn unusual_heads_go_to_the_full_parser() {
        for bad in [
            HEADS[6],
            HEADS[7],
            &b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\n"[..],
            b"HTTP/1.1 200 OK\r\nContent-Length: +1\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n",
            b"HTTP/1.1 200 OK\nContent-Length: 1\n\n",
            b"HTTP/1.1 200 OK\r\nContent-Length: 1\n\r\n",
            b"\r\nHTTP/1.1 200 OK\r\n\r\n",
            b"HTTP/1.1 2000 OK\r\n\r\n",
            b"HTTP/2 200 OK\r\n\r\n",
            b"garbage\r\n\r\n",
        ] {
            assert_eq!(
                scan(bad, false, 8192),
                Scan::Unusual,
                "{:?}",
                String::from_utf8_lossy(bad)
            );
            agrees(bad);
        }
    }

    #[test]
    fn partial_and_oversized_heads() {
        let head = HEADS[0];
        for cut in 1..head.len() - 7 {
            let s = scan(&head[..cut], false, 8192);
            assert_eq!(s, Scan::Partial, "cut at {cut}");
            agrees(&head[..cut]);
        }
        assert_eq!(scan(&[b'H'; 100], false, 64), Scan::Unusual);
    }

    /// Random byte changes to every sample head: no panic, and the fast
    /// path never disagrees with the full parser.
    #[test]
    fn mutated_heads_agree_with_the_full_parser() {
        let mut state = 0x9e37_79b9_7f4a_7c15_u64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let alphabet = b"\r\n :,0123456789-abcdeklnorstuCHTP/\t\x00\x7f";
        for _ in 0..20_000 {
            let mut input = HEADS[(next() % HEADS.len() as u64) as usize].to_vec();
            for _ in 0..1 + next() % 3 {
                let at = (next() % input.len() as u64) as usize;
                let byte = alphabet[(next() % alphabet.len() as u64) as usize];
                match next() % 3 {
                    0 => input[at] = byte,
                    1 => input.insert(at, byte),
                    _ => {
                        input.remove(at);
                    }
                }
            }
            agrees(&input);
        }
    }
}
