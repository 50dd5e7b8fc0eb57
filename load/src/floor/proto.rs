//! The canned protocols, sans-IO: what one connection sends and how it
//! counts what comes back, with no parsing beyond what counting needs.
//!
//! HTTP/1.1: the response's length is known (probed once at startup), so a
//! connection that sent `depth` requests owes `depth × length` bytes and
//! sends its next batch when they are all in. HTTP/2: requests are one
//! pre-encoded HEADERS frame each (only the stream id changes), responses
//! are counted by their END_STREAM flag; SETTINGS and PING are
//! acknowledged, the connection window topped up, nothing else decoded.

use std::fmt;

/// Why a connection stopped.
#[derive(Debug)]
pub enum Error {
    /// The server sent something other than the canned exchange.
    Protocol(&'static str),
    /// The server closed the connection.
    Closed,
    /// A socket call failed.
    Io(std::io::Error),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Protocol(what) => write!(f, "protocol: {what}"),
            Error::Closed => f.write_str("the server closed a connection"),
            Error::Io(e) => write!(f, "I/O: {e}"),
        }
    }
}

/// The run's request count: how many were sent and answered, and whether
/// more may be sent.
#[derive(Debug)]
pub struct Budget {
    /// Requests sent.
    pub issued: u64,
    /// Responses received whole.
    pub done: u64,
    /// Stop sending at this many requests (`-n`).
    pub limit: Option<u64>,
    /// The deadline passed: send nothing more.
    pub stopped: bool,
}

impl Budget {
    /// Takes up to `want` requests from the budget; how many may be sent.
    fn take(&mut self, want: u64) -> u64 {
        if self.stopped {
            return 0;
        }
        let n = match self.limit {
            Some(limit) => want.min(limit.saturating_sub(self.issued)),
            None => want,
        };
        self.issued += n;
        n
    }

    /// Whether the run is over: the deadline passed, or every request of
    /// `-n` was answered.
    pub fn over(&self) -> bool {
        self.stopped || self.limit.is_some_and(|l| self.done >= l)
    }
}

/// The bytes every connection shares.
pub struct Canned {
    /// HTTP/1.1: the request `depth` times over.
    pub h1_batch: Vec<u8>,
    /// HTTP/1.1: requests per batch.
    pub depth: u64,
    /// HTTP/1.1: the length of one response.
    pub response_len: usize,
    /// HTTP/2: one request's HEADERS frame (stream id 0, patched per use).
    pub h2_request: Vec<u8>,
    /// HTTP/2: streams per connection.
    pub streams: u64,
}

/// The connection preface, SETTINGS (no push, 16 MiB stream windows) and a
/// connection window of 1 GiB.
fn h2_preface(out: &mut Vec<u8>) {
    out.extend_from_slice(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");
    frame_head(out, 12, 4, 0, 0);
    out.extend_from_slice(&[0, 2, 0, 0, 0, 0]);
    out.extend_from_slice(&[0, 4]);
    out.extend_from_slice(&(1u32 << 24).to_be_bytes());
    window_update(out, H2_WINDOW_TOP_UP - 65_535);
}

/// Connection-window bytes granted whenever this many were consumed.
const H2_WINDOW_TOP_UP: u32 = 1 << 30;

fn frame_head(out: &mut Vec<u8>, len: usize, kind: u8, flags: u8, stream: u32) {
    out.extend_from_slice(&(len as u32).to_be_bytes()[1..]);
    out.push(kind);
    out.push(flags);
    out.extend_from_slice(&stream.to_be_bytes());
}

fn window_update(out: &mut Vec<u8>, increment: u32) {
    frame_head(out, 4, 8, 0, 0);
    out.extend_from_slice(&increment.to_be_bytes());
}

/// One HEADERS frame for `GET path` (END_STREAM | END_HEADERS), stream id
/// 0: `:method GET` and `:scheme http` indexed, `:path` and `:authority`
/// literals without indexing (so the encoding never changes).
pub fn h2_request(path: &str, authority: &str) -> Vec<u8> {
    assert!(
        path.len() < 127 && authority.len() < 127,
        "path or host too long for the canned request"
    );
    let mut block = vec![0x82, 0x86, 0x04, path.len() as u8];
    block.extend_from_slice(path.as_bytes());
    block.extend_from_slice(&[0x01, authority.len() as u8]);
    block.extend_from_slice(authority.as_bytes());
    let mut frame = Vec::with_capacity(9 + block.len());
    frame_head(&mut frame, block.len(), 1, 0x5, 0);
    frame.extend_from_slice(&block);
    frame
}

/// One connection's protocol state.
pub enum Conn {
    /// HTTP/1.1: bytes still owed for the batch in flight, and its size
    /// (`depth`, less for the last batch of `-n`).
    H1 { owed: usize, batch: u64 },
    /// HTTP/2.
    H2(H2),
}

/// An HTTP/2 connection's state.
pub struct H2 {
    /// Bytes of a frame not yet whole.
    partial: Vec<u8>,
    next_stream: u32,
    in_flight: u64,
    /// DATA bytes since the last WINDOW_UPDATE.
    consumed: u32,
}

impl Conn {
    /// A new connection's state; its first bytes go to `out`.
    pub fn start(canned: &Canned, h2: bool, budget: &mut Budget, out: &mut Vec<u8>) -> Conn {
        if h2 {
            h2_preface(out);
            let mut state = H2 {
                partial: Vec::new(),
                next_stream: 1,
                in_flight: 0,
                consumed: 0,
            };
            state.request(canned, budget, out, canned.streams);
            Conn::H2(state)
        } else {
            let mut conn = Conn::H1 { owed: 0, batch: 0 };
            conn.h1_batch(canned, budget, out);
            conn
        }
    }

    fn h1_batch(&mut self, canned: &Canned, budget: &mut Budget, out: &mut Vec<u8>) {
        let Conn::H1 { owed, batch } = self else {
            return;
        };
        *batch = budget.take(canned.depth);
        let one = canned.h1_batch.len() / canned.depth as usize;
        out.extend_from_slice(&canned.h1_batch[..*batch as usize * one]);
        *owed = *batch as usize * canned.response_len;
    }

    /// Counts `bytes` read from the server; what to send next goes to `out`.
    pub fn received(
        &mut self,
        bytes: &[u8],
        canned: &Canned,
        budget: &mut Budget,
        out: &mut Vec<u8>,
    ) -> Result<(), Error> {
        match self {
            Conn::H1 { owed, batch } => {
                if bytes.len() > *owed {
                    return Err(Error::Protocol("more bytes than the canned responses"));
                }
                // Every response that starts inside `bytes` with its status
                // line whole is checked to be a 200.
                let len = canned.response_len;
                let into = (len - *owed % len) % len;
                let mut at = (len - into) % len;
                while at + 12 <= bytes.len() {
                    if &bytes[at..at + 12] != b"HTTP/1.1 200" {
                        return Err(Error::Protocol("a response other than the canned 200"));
                    }
                    at += len;
                }
                *owed -= bytes.len();
                if *owed == 0 {
                    budget.done += *batch;
                    self.h1_batch(canned, budget, out);
                }
                Ok(())
            }
            Conn::H2(h2) => h2.received(bytes, canned, budget, out),
        }
    }

    /// Whether nothing is in flight (the connection is finished once the
    /// budget sends nothing more).
    pub fn idle(&self) -> bool {
        match self {
            Conn::H1 { owed, .. } => *owed == 0,
            Conn::H2(h2) => h2.in_flight == 0,
        }
    }
}

impl H2 {
    fn request(&mut self, canned: &Canned, budget: &mut Budget, out: &mut Vec<u8>, want: u64) {
        for _ in 0..budget.take(want) {
            let at = out.len();
            out.extend_from_slice(&canned.h2_request);
            out[at + 5..at + 9].copy_from_slice(&self.next_stream.to_be_bytes());
            self.next_stream += 2;
            self.in_flight += 1;
        }
    }

    fn received(
        &mut self,
        bytes: &[u8],
        canned: &Canned,
        budget: &mut Budget,
        out: &mut Vec<u8>,
    ) -> Result<(), Error> {
        let mut partial = std::mem::take(&mut self.partial);
        let data: &[u8] = if partial.is_empty() {
            bytes
        } else {
            partial.extend_from_slice(bytes);
            &partial
        };
        let mut at = 0;
        let mut finished = 0;
        while data.len() - at >= 9 {
            let len = u32::from_be_bytes([0, data[at], data[at + 1], data[at + 2]]) as usize;
            if data.len() - at - 9 < len {
                break;
            }
            let (kind, flags) = (data[at + 3], data[at + 4]);
            let payload = &data[at + 9..at + 9 + len];
            match kind {
                0 => {
                    self.consumed += len as u32;
                    finished += u64::from(flags & 1);
                }
                1 => {
                    // No PADDED or PRIORITY: the block starts the payload,
                    // and a 200 is the static table's index 8.
                    if flags & 0x28 == 0 && payload.first() != Some(&0x88) {
                        return Err(Error::Protocol("a response other than :status 200"));
                    }
                    finished += u64::from(flags & 1);
                }
                3 => return Err(Error::Protocol("RST_STREAM")),
                4 if flags & 1 == 0 => frame_head(out, 0, 4, 1, 0),
                6 if flags & 1 == 0 => {
                    frame_head(out, 8, 6, 1, 0);
                    out.extend_from_slice(payload);
                }
                7 => return Err(Error::Protocol("GOAWAY")),
                _ => {}
            }
            at += 9 + len;
        }
        if at < data.len() {
            self.partial = data[at..].to_vec();
        }
        if self.consumed >= H2_WINDOW_TOP_UP / 2 {
            window_update(out, self.consumed);
            self.consumed = 0;
        }
        if finished > self.in_flight {
            return Err(Error::Protocol("more responses than requests"));
        }
        self.in_flight -= finished;
        budget.done += finished;
        self.request(canned, budget, out, finished);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn canned(depth: u64, response_len: usize) -> Canned {
        Canned {
            h1_batch: b"GET / HTTP/1.1\r\n\r\n".repeat(depth as usize),
            depth,
            response_len,
            h2_request: h2_request("/", "a:1"),
            streams: 2,
        }
    }

    fn budget(limit: Option<u64>) -> Budget {
        Budget {
            issued: 0,
            done: 0,
            limit,
            stopped: false,
        }
    }

    #[test]
    fn h1_counts_a_batch_across_reads_and_sends_the_next() {
        let resp = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nhi";
        let c = canned(2, resp.len());
        let mut b = budget(Some(5));
        let mut out = Vec::new();
        let mut conn = Conn::start(&c, false, &mut b, &mut out);
        assert_eq!(out, c.h1_batch);
        out.clear();
        let two = [&resp[..], &resp[..]].concat();
        conn.received(&two[..20], &c, &mut b, &mut out).unwrap();
        assert!(out.is_empty() && !conn.idle());
        conn.received(&two[20..], &c, &mut b, &mut out).unwrap();
        assert_eq!((b.done, out.len()), (2, c.h1_batch.len()));
        out.clear();
        conn.received(&two, &c, &mut b, &mut out).unwrap();
        // The last batch of -n 5 is one request.
        assert_eq!((b.done, out.len()), (4, c.h1_batch.len() / 2));
        out.clear();
        assert!(conn.received(&two, &c, &mut b, &mut out).is_err());
        conn.received(resp, &c, &mut b, &mut out).unwrap();
        assert!(b.over() && conn.idle() && out.is_empty());
    }

    #[test]
    fn h1_rejects_extra_bytes_and_other_statuses() {
        let resp = b"HTTP/1.1 200 OK\r\n\r\n";
        let c = canned(1, resp.len());
        let (mut b, mut out) = (budget(None), Vec::new());
        let mut conn = Conn::start(&c, false, &mut b, &mut out);
        assert!(conn
            .received(&[resp.as_slice(), b"x"].concat(), &c, &mut b, &mut out)
            .is_err());
        let mut conn = Conn::start(&c, false, &mut b, &mut out);
        assert!(conn
            .received(b"HTTP/1.1 404 No\r\n\r\n", &c, &mut b, &mut out)
            .is_err());
    }

    #[test]
    fn h2_counts_end_stream_and_answers_settings_and_ping() {
        let c = canned(1, 0);
        let (mut b, mut out) = (budget(Some(3)), Vec::new());
        let mut conn = Conn::start(&c, true, &mut b, &mut out);
        assert_eq!(b.issued, 2);
        out.clear();
        let mut from = Vec::new();
        frame_head(&mut from, 0, 4, 0, 0); // SETTINGS
        frame_head(&mut from, 8, 6, 0, 0); // PING
        from.extend_from_slice(&[7; 8]);
        frame_head(&mut from, 1, 1, 4, 1); // HEADERS :status 200
        from.push(0x88);
        frame_head(&mut from, 2, 0, 1, 1); // DATA, END_STREAM
        from.extend_from_slice(b"hi");
        conn.received(&from[..15], &c, &mut b, &mut out).unwrap();
        conn.received(&from[15..], &c, &mut b, &mut out).unwrap();
        assert_eq!((b.done, b.issued), (1, 3));
        // SETTINGS ack, PING ack, then stream 5.
        assert_eq!(&out[..9], &[0, 0, 0, 4, 1, 0, 0, 0, 0]);
        assert_eq!(&out[9..18], &[0, 0, 8, 6, 1, 0, 0, 0, 0]);
        assert_eq!(
            &out[26..35],
            &[0, 0, c.h2_request.len() as u8 - 9, 1, 5, 0, 0, 0, 5]
        );
        let mut bad = Vec::new();
        frame_head(&mut bad, 1, 1, 5, 3);
        bad.push(0x8d); // :status 404
        assert!(conn.received(&bad, &c, &mut b, &mut out).is_err());
    }
}
